package heads

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"s4c/gguf"
	"s4c/model"
	"s4c/tensor"
)

// TrainConfig sets up self-distillation of the heads from the target.
type TrainConfig struct {
	Epochs      int
	LR          float64 // peak learning rate
	WeightDecay float64
	Batch       int     // examples per optimiser step
	HoldOut     float64 // fraction of sequences kept for evaluation
	Seed        uint64
	Threads     int
	TopK        int // for top-k accuracy (the tree's children per node)
	// Checkpoint, if set, is written every CheckpointEvery optimiser steps
	// (after the step's batch is consumed, so a run killed at any moment
	// resumes exactly from the last one). A failed write stops training.
	Checkpoint      string
	CheckpointEvery int
	Progress        func(Progress)
	Stop            func() bool
}

// Progress is reported after every optimiser step.
type Progress struct {
	Epoch, Epochs int
	Step, Steps   int // within the whole run
	Loss          float64
	Acc           []float64 // running top-1 accuracy per head
	ExamplesPerS  float64
	ETA           time.Duration
}

// Eval is the held-out quality of the heads (teacher forced: each head sees
// the true preceding tokens).
type Eval struct {
	Examples int
	Top1     []float64 // head k's argmax equals the target's
	TopK     []float64 // the target's argmax is among head k's top-k
	Loss     []float64
	// Rank[k][r]: the target's argmax is head k's rank-r proposal (r <
	// TopK), the acceptance a static tree is built from (RankAccept).
	Rank [][]float64
}

// Trainer holds the optimiser state.
type Trainer struct {
	H        *Heads
	M        *model.Model
	Cfg      TrainConfig
	Step     int
	Pos      int // examples consumed in the current epoch
	Ep       int
	mom, vel [][][]float32 // Adam moments per head, per parameter tensor
	// lmRows is the heads' LM head decoded to float32 once, row after
	// row, for the backward pass, which reads every row for every
	// example (nil: the head is float32 already, or too large to copy).
	// Decoding a float16 row per use took a third of the training time
	// on the 1.1B twin.
	lmRows []float32
}

// lmCopyMax bounds the float32 copy of the LM head (bytes).
const lmCopyMax = 512 << 20

// prepareLM makes the float32 copy of the LM head where it pays.
func (t *Trainer) prepareLM() {
	lm := t.H.LMHead(t.M)
	if lm.Type == gguf.F32 || int64(lm.Rows)*int64(lm.Cols)*4 > lmCopyMax {
		t.lmRows = nil
		return
	}
	t.lmRows = make([]float32, lm.Rows*lm.Cols)
	for v := 0; v < lm.Rows; v++ {
		lm.RowF32(v, t.lmRows[v*lm.Cols:(v+1)*lm.Cols])
	}
}

// NewTrainer prepares training of h for m.
func NewTrainer(h *Heads, m *model.Model, cfg TrainConfig) *Trainer {
	t := &Trainer{H: h, M: m, Cfg: cfg}
	t.mom, t.vel = zerosLike(h), zerosLike(h)
	return t
}

type example struct{ seq, t int }

func zerosLike(h *Heads) [][][]float32 {
	out := make([][][]float32, h.K)
	for k := range h.H {
		for _, p := range h.H[k].Params() {
			out[k] = append(out[k], make([]float32, len(p)))
		}
	}
	return out
}

type grads struct {
	P    [][][]float32 // per head, per parameter tensor
	loss []float64
	hit  []int
	n    int
}

func newGrads(h *Heads) *grads {
	return &grads{P: zerosLike(h), loss: make([]float64, h.K), hit: make([]int, h.K)}
}

func (g *grads) zero() {
	for k := range g.P {
		for _, p := range g.P[k] {
			clear(p)
		}
		g.loss[k] = 0
		g.hit[k] = 0
	}
	g.n = 0
}

// Defaults are training settings chosen from the target model's size.
type Defaults struct {
	Hidden, Tokens, Epochs, DraftVocab int
}

// DefaultsFor picks training settings for a model of width dim, vocab
// tokens and params parameters, from what was measured on 2 cores:
//   - Small models (under 100M parameters) generate data fast, so they get
//     the shipped heads' recipe: 700k tokens, 5 epochs, 512 hidden units
//     (the 260K story model: 31 minutes, τ 4.7).
//   - Larger ones: 150k tokens and 4 epochs with 256 hidden units, since
//     data costs a forward pass per token (about 100 tokens/s batched on
//     the 1.1B F16 twin) and an example of a width-2048 model about 3 ms
//     of training (about 300 examples/s): about an hour and a half.
//   - Vocabularies over 32768 tokens get a draft vocabulary of 16384, so a
//     draft step does not pay for the whole output layer (128k vocabulary:
//     draft share 37 % -> 9 % of a round).
func DefaultsFor(dim, vocab int, params int64) Defaults {
	d := Defaults{Hidden: 256, Tokens: 150000, Epochs: 4}
	if params < 100e6 {
		d = Defaults{Hidden: 512, Tokens: 700000, Epochs: 5}
	}
	if vocab > 32768 {
		d.DraftVocab = 16384
	}
	return d
}

// TrainBytes estimates the memory training K heads of hidden units takes
// for a model of width dim and vocabulary vocab on threads threads: the
// weights and their two Adam moments, one gradient per thread, and each
// thread's scratch.
func TrainBytes(K, dim, hidden, vocab, threads int) int64 {
	params := int64(K) * (3*int64(dim)*int64(hidden) + int64(hidden))
	scratch := int64(K)*(4*int64(dim)+2*int64(hidden)+int64(vocab)) + int64(vocab) + 4*int64(dim) + int64(hidden)
	var lm int64 // Trainer.lmRows: made only up to lmCopyMax (none for a float32 head, counted anyway)
	if b := int64(vocab) * int64(dim) * 4; b <= lmCopyMax {
		lm = b
	}
	return 4*(params*int64(3+threads)+int64(threads)*scratch) + lm
}

// work is per-thread scratch.
type work struct {
	s, pre, act, in, nrm, z, dz, dn, ds, da, din []float32
	row, rms                                     []float32
	ids                                          [][]int32   // each head's target indices (forward, for backward)
	q                                            [][]float32 // and their probabilities
}

func newWork(K, D, H, V int) *work {
	return &work{
		s: make([]float32, (K+1)*D), pre: make([]float32, K*H), act: make([]float32, K*H), in: make([]float32, K*2*D),
		nrm: make([]float32, K*D), z: make([]float32, K*V), dz: make([]float32, V), dn: make([]float32, D),
		ds: make([]float32, D), da: make([]float32, H), din: make([]float32, 2*D), row: make([]float32, D), rms: make([]float32, K),
		ids: make([][]int32, K), q: make([][]float32, K),
	}
}

// target returns the (renormalised) top-N distribution recorded at
// position p, as score indices of the heads (see Heads.Index): with a
// draft vocabulary, tokens outside it are dropped and the rest
// renormalised (the heads learn the target's choice among the tokens they
// can propose); none left gives no ids.
func (t *Trainer) target(s *Seq, p int) ([]int32, []float32) {
	ids := make([]int32, 0, TopN)
	ps := make([]float32, 0, TopN)
	var sum float32
	for i := 0; i < TopN; i++ {
		j := t.H.Index(t.M, s.TopIDs[p*TopN+i])
		q := tensor.F16ToF32(s.TopP[p*TopN+i])
		if j < 0 || q <= 0 {
			continue
		}
		ids = append(ids, int32(j))
		ps = append(ps, q)
		sum += q
	}
	for i := range ps {
		ps[i] /= sum
	}
	return ids, ps
}

// forwardBackward runs the K heads on one example and, if g is not nil,
// adds the gradient of the summed distillation loss. It returns per-head
// loss, whether the head's argmax is the target's, and the rank of the
// target's argmax among the head's proposals (0: its argmax).
func (t *Trainer) forwardBackward(ds *Dataset, ex example, w *work, g *grads) (loss []float64, top1 []bool, rank []int) {
	h, m := t.H, t.M
	D, V, K, H := h.Dim, h.Vocab(m), h.K, h.Hidden
	lm := h.LMHead(m)
	seq := &ds.Seqs[ex.seq]
	for j := 0; j < D; j++ {
		w.s[j] = tensor.F16ToF32(seq.Hidden[ex.t*D+j])
	}
	loss = make([]float64, K)
	top1 = make([]bool, K)
	rank = make([]int, K)
	for i := 0; i < K; i++ {
		s, s1 := w.s[i*D:(i+1)*D], w.s[(i+1)*D:(i+2)*D]
		if h.Independent {
			s = w.s[:D] // every head reads h itself
		}
		in := w.in[i*2*D : (i+1)*2*D]
		h.input(m, s, seq.Tokens[ex.t+1+i], in)
		hd := &h.H[i]
		pre, act := w.pre[i*H:(i+1)*H], w.act[i*H:(i+1)*H]
		for r := 0; r < H; r++ {
			pre[r] = tensor.Dot(hd.W1[r*2*D:(r+1)*2*D], in) + hd.B1[r]
		}
		copy(act, pre)
		tensor.SiLUs(act)
		for r := 0; r < D; r++ {
			s1[r] = s[r] + tensor.Dot(hd.W2[r*H:(r+1)*H], act)
		}
		nrm := w.nrm[i*D : (i+1)*D]
		w.rms[i] = rmsScale(s1, m.NormEps)
		for r := range nrm {
			nrm[r] = s1[r] * w.rms[i] * m.OutNorm[r]
		}
		z := w.z[i*V : (i+1)*V]
		lm.Mul(z, nrm, 1, nil)
		ids, q := t.target(seq, ex.t+1+i)
		w.ids[i], w.q[i] = ids, q
		// log-softmax
		mx := z[0]
		best := 0
		for v, x := range z {
			if x > mx {
				mx, best = x, v
			}
		}
		var sum float64
		for _, x := range z {
			sum += math.Exp(float64(x - mx))
		}
		lse := float64(mx) + math.Log(sum)
		for k, id := range ids {
			if q[k] > 0 {
				loss[i] -= float64(q[k]) * (float64(z[id]) - lse)
			}
		}
		if len(ids) == 0 { // the target's choices are all outside the draft vocabulary
			rank[i] = V
			continue
		}
		top1[i] = int32(best) == ids[0]
		rank[i] = rankOf(z, ids[0])
	}
	if g == nil {
		return
	}
	// Backward, from the last head to the first: the state chain carries
	// every later head's gradient back to the earlier ones (independent
	// heads have no chain: each head's gradient is its own loss's).
	clear(w.ds)
	for i := K - 1; i >= 0; i-- {
		if h.Independent {
			clear(w.ds)
		}
		s1 := w.s[(i+1)*D : (i+2)*D]
		z := w.z[i*V : (i+1)*V]
		ids, q := w.ids[i], w.q[i] // the forward's targets
		// dz = softmax(z) - q
		mx := z[0]
		for _, x := range z {
			mx = max(mx, x)
		}
		var sum float64
		for v, x := range z {
			e := math.Exp(float64(x - mx))
			w.dz[v] = float32(e)
			sum += e
		}
		for v := range w.dz {
			w.dz[v] = float32(float64(w.dz[v]) / sum)
		}
		for k, id := range ids {
			w.dz[id] -= q[k]
		}
		if len(ids) == 0 { // no loss at this head (see Trainer.target)
			clear(w.dz)
		}
		// dn = Woutᵀ dz
		clear(w.dn)
		for v, d := range w.dz {
			if d == 0 {
				continue
			}
			row := w.row
			switch {
			case lm.Type == gguf.F32:
				row = lm.F32Row(v)
			case t.lmRows != nil:
				row = t.lmRows[v*D : (v+1)*D]
			default:
				lm.RowF32(v, row)
			}
			tensor.FMARow(w.dn, d, row)
		}
		// RMSNorm backward: y = x·r·g  ⇒  dx = r·(g⊙dy) − r³/D · x · Σ x⊙g⊙dy
		r := w.rms[i]
		var dot float64
		for j := 0; j < D; j++ {
			dot += float64(s1[j] * m.OutNorm[j] * w.dn[j])
		}
		c := float32(dot) * r * r * r / float32(D)
		for j := 0; j < D; j++ {
			w.ds[j] += r*m.OutNorm[j]*w.dn[j] - c*s1[j]
		}
		// s1 = s + W2·SiLU(W1·in + b1)
		hd := &h.H[i]
		gW1, gB1, gW2 := g.P[i][0], g.P[i][1], g.P[i][2]
		pre, act := w.pre[i*H:(i+1)*H], w.act[i*H:(i+1)*H]
		in := w.in[i*2*D : (i+1)*2*D]
		clear(w.da)
		for r := 0; r < D; r++ {
			if d := w.ds[r]; d != 0 {
				tensor.FMARow(gW2[r*H:(r+1)*H], d, act)
				tensor.FMARow(w.da, d, hd.W2[r*H:(r+1)*H])
			}
		}
		clear(w.din)
		for r := 0; r < H; r++ {
			sg := 1 / (1 + math.Exp(-float64(pre[r])))
			du := w.da[r] * float32(sg*(1+float64(pre[r])*(1-sg)))
			if du == 0 {
				continue
			}
			gB1[r] += du
			tensor.FMARow(gW1[r*2*D:(r+1)*2*D], du, in)
			tensor.FMARow(w.din, du, hd.W1[r*2*D:(r+1)*2*D])
		}
		if !h.Independent {
			tensor.Add(w.ds, w.din[:D]) // ds_i = ds_{i+1} + ∂/∂s of the head input
		}
	}
	for i := range loss {
		g.loss[i] += loss[i]
		if top1[i] {
			g.hit[i]++
		}
	}
	g.n++
	return
}

func rmsScale(x []float32, eps float32) float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v * v)
	}
	mean := float32(ss / float64(len(x)))
	return 1 / float32(math.Sqrt(float64(mean+eps)))
}

// examples lists the training positions of sequences [from, to).
func (t *Trainer) examples(ds *Dataset, from, to int) []example {
	var ex []example
	for si := from; si < to; si++ {
		n := len(ds.Seqs[si].Tokens)
		for p := 0; p+t.H.K+1 < n; p++ {
			ex = append(ex, example{si, p})
		}
	}
	return ex
}

// Split returns the index of the first held-out sequence.
func (t *Trainer) Split(ds *Dataset) int {
	n := len(ds.Seqs)
	hold := int(math.Ceil(float64(n) * t.Cfg.HoldOut))
	if hold >= n {
		hold = n / 2
	}
	return n - hold
}

// Train runs the optimiser over the data set for the configured epochs,
// resuming where the trainer's Step/Ep/Pos say.
func (t *Trainer) Train(ds *Dataset) error {
	cfg := t.Cfg
	split := t.Split(ds)
	train := t.examples(ds, 0, split)
	if len(train) == 0 {
		return fmt.Errorf("no training examples: sequences must be longer than %d tokens", t.H.K+1)
	}
	threads := max(1, cfg.Threads)
	t.prepareLM()
	defer func() { t.lmRows = nil }()
	gs := make([]*grads, threads)
	ws := make([]*work, threads)
	for i := range gs {
		gs[i] = newGrads(t.H)
		ws[i] = newWork(t.H.K, t.H.Dim, t.H.Hidden, t.H.Vocab(t.M))
	}
	stepsPerEpoch := (len(train) + cfg.Batch - 1) / cfg.Batch
	total := stepsPerEpoch * cfg.Epochs
	start := time.Now()
	startStep := t.Step
	runAcc := make([]float64, t.H.K)
	runLoss := 0.0
	for ; t.Ep < cfg.Epochs; t.Ep++ {
		order := make([]example, len(train))
		copy(order, train)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(t.Ep)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for t.Pos < len(order) {
			if cfg.Stop != nil && cfg.Stop() {
				return ErrInterrupted
			}
			end := min(t.Pos+cfg.Batch, len(order))
			batch := order[t.Pos:end]
			var wg sync.WaitGroup
			for th := 0; th < threads; th++ {
				gs[th].zero()
				wg.Add(1)
				go func(th int) {
					defer wg.Done()
					for i := th; i < len(batch); i += threads {
						t.forwardBackward(ds, batch[i], ws[th], gs[th])
					}
				}(th)
			}
			wg.Wait()
			// Sum thread gradients in a fixed order: deterministic for a
			// given thread count.
			g := gs[0]
			for th := 1; th < threads; th++ {
				for k := range g.P {
					for j := range g.P[k] {
						tensor.Add(g.P[k][j], gs[th].P[k][j])
					}
					g.loss[k] += gs[th].loss[k]
					g.hit[k] += gs[th].hit[k]
				}
				g.n += gs[th].n
			}
			t.adamStep(g, total)
			t.Pos = end // the batch is applied: a checkpoint from here on must not apply it again
			if !finite(g.loss) {
				return fmt.Errorf("training diverged at step %d (loss is not finite): lower --lr (now %g)", t.Step, cfg.LR)
			}
			loss := 0.0
			for k := range g.loss {
				loss += g.loss[k] / float64(g.n)
				runAcc[k] = 0.98*runAcc[k] + 0.02*float64(g.hit[k])/float64(g.n)
			}
			runLoss = 0.98*runLoss + 0.02*loss
			if t.Step == 1 {
				runLoss = loss
			}
			if cfg.Progress != nil {
				done := t.Step - startStep
				el := time.Since(start)
				eta := time.Duration(float64(el) / float64(max(done, 1)) * float64(total-t.Step))
				cfg.Progress(Progress{Epoch: t.Ep + 1, Epochs: cfg.Epochs, Step: t.Step, Steps: total, Loss: runLoss,
					Acc: append([]float64(nil), runAcc...), ExamplesPerS: float64(done*cfg.Batch) / el.Seconds(), ETA: eta})
			}
			if cfg.Checkpoint != "" && cfg.CheckpointEvery > 0 && t.Step%cfg.CheckpointEvery == 0 {
				if err := t.SaveCheckpoint(cfg.Checkpoint); err != nil {
					return fmt.Errorf("writing checkpoint at step %d: %w", t.Step, err)
				}
			}
		}
		t.Pos = 0
	}
	return nil
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// adamStep applies AdamW with linear warm-up and cosine decay to 10%.
func (t *Trainer) adamStep(g *grads, total int) {
	t.Step++
	cfg := t.Cfg
	lr := cfg.LR
	warm := min(100, total/10+1)
	if t.Step < warm {
		lr *= float64(t.Step) / float64(warm)
	} else {
		p := float64(t.Step-warm) / float64(max(1, total-warm))
		lr *= 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*min(p, 1)))
	}
	const b1, b2, eps = 0.9, 0.999, 1e-8
	c1 := 1 - math.Pow(b1, float64(t.Step))
	c2 := 1 - math.Pow(b2, float64(t.Step))
	inv := 1 / float64(g.n)
	upd := func(p, gr, m, v []float32, decay bool) {
		for i := range p {
			gi := float64(gr[i]) * inv
			m[i] = float32(b1*float64(m[i]) + (1-b1)*gi)
			v[i] = float32(b2*float64(v[i]) + (1-b2)*gi*gi)
			step := lr * (float64(m[i]) / c1) / (math.Sqrt(float64(v[i])/c2) + eps)
			if decay {
				step += lr * cfg.WeightDecay * float64(p[i])
			}
			p[i] -= float32(step)
		}
	}
	for k := range t.H.H {
		for j, p := range t.H.H[k].Params() {
			upd(p, g.P[k][j], t.mom[k][j], t.vel[k][j], j != 1) // no decay on the bias
		}
	}
	t.H.Rebuild()
}

// Evaluate measures the heads on the held-out sequences.
func (t *Trainer) Evaluate(ds *Dataset) Eval {
	split := t.Split(ds)
	ex := t.examples(ds, split, len(ds.Seqs))
	if len(ex) > 4000 {
		ex = ex[:4000]
	}
	K := t.H.K
	e := Eval{Examples: len(ex), Top1: make([]float64, K), TopK: make([]float64, K), Loss: make([]float64, K), Rank: make([][]float64, K)}
	for k := range e.Rank {
		e.Rank[k] = make([]float64, t.Cfg.TopK)
	}
	w := newWork(K, t.H.Dim, t.H.Hidden, t.H.Vocab(t.M))
	for _, x := range ex {
		loss, t1, rk := t.forwardBackward(ds, x, w, nil)
		for k := 0; k < K; k++ {
			e.Loss[k] += loss[k]
			if t1[k] {
				e.Top1[k]++
			}
			if rk[k] < t.Cfg.TopK {
				e.TopK[k]++
				e.Rank[k][rk[k]]++
			}
		}
	}
	for k := 0; k < K; k++ {
		n := float64(max(1, len(ex)))
		e.Top1[k] /= n
		e.TopK[k] /= n
		e.Loss[k] /= n
		for r := range e.Rank[k] {
			e.Rank[k][r] /= n
		}
	}
	return e
}

type ckptTensor struct {
	name string
	v    []float32
}

// ckptTensors lists what a checkpoint holds besides its counters: every
// parameter tensor with its two Adam moments.
func (t *Trainer) ckptTensors() []ckptTensor {
	var out []ckptTensor
	for k := range t.H.H {
		for j, p := range t.H.H[k].Params() {
			out = append(out,
				ckptTensor{fmt.Sprintf("%d.%d.p", k, j), p},
				ckptTensor{fmt.Sprintf("%d.%d.m", k, j), t.mom[k][j]},
				ckptTensor{fmt.Sprintf("%d.%d.v", k, j), t.vel[k][j]})
		}
	}
	return out
}

// SaveCheckpoint writes the heads, the optimiser moments and the position
// in the run, so that training resumes exactly.
func (t *Trainer) SaveCheckpoint(path string) error {
	w := gguf.NewWriter()
	w.Set("general.architecture", "s4c-heads-checkpoint")
	w.Set("ckpt.step", uint64(t.Step))
	w.Set("ckpt.epoch", uint64(t.Ep))
	w.Set("ckpt.pos", uint64(t.Pos))
	w.Set("ckpt.base", t.H.Base)
	w.Set("ckpt.count", uint32(t.H.K))
	w.Set("ckpt.independent", t.H.Independent)
	for _, c := range t.ckptTensors() {
		d, _ := tensor.Quantize(gguf.F32, c.v)
		if err := w.AddTensor(c.name, gguf.F32, []uint64{uint64(len(c.v))}, d); err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint.
func (t *Trainer) LoadCheckpoint(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if a, _ := f.String("general.architecture"); a != "s4c-heads-checkpoint" {
		return fmt.Errorf("%s: not a heads training checkpoint", path)
	}
	if b, _ := f.String("ckpt.base"); b != t.H.Base {
		return fmt.Errorf("%s: checkpoint belongs to another model", path)
	}
	if k, _ := f.Uint("ckpt.count"); int(k) != t.H.K {
		return fmt.Errorf("%s: checkpoint has %d heads, this run %d (use the same --heads-count)", path, k, t.H.K)
	}
	if ind, _ := f.Bool("ckpt.independent"); ind != t.H.Independent {
		return fmt.Errorf("%s: checkpoint is of %s heads, this run trains %s heads (use the same --independent)", path, kind(ind), kind(t.H.Independent))
	}
	step, _ := f.Uint("ckpt.step")
	ep, _ := f.Uint("ckpt.epoch")
	pos, _ := f.Uint("ckpt.pos")
	t.Step, t.Ep, t.Pos = int(step), int(ep), int(pos)
	for _, c := range t.ckptTensors() {
		ti, ok := f.Tensor(c.name)
		if !ok || int(ti.Elements()) != len(c.v) {
			return fmt.Errorf("%s: tensor %s missing or of the wrong size (was the checkpoint made with other --heads-count/--hidden?)", path, c.name)
		}
		tensor.Dequantize(gguf.F32, f.TensorData(ti), c.v)
	}
	t.H.Rebuild()
	return nil
}

// Exists reports whether a file exists.
func Exists(path string) bool { _, err := os.Stat(path); return err == nil }

func kind(independent bool) string {
	if independent {
		return "independent"
	}
	return "coherent"
}
