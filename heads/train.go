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
	"s4c/sample"
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
	if h.Type != gguf.F32 { // training updates float32 weights that the products view in place
		h.SetType(gguf.F32)
	}
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
	Type                               gguf.TensorType // of the written heads' weights
}

// DefaultsFor picks training settings for a model of width dim, vocab
// tokens and params parameters, from what was measured on 2 cores:
//   - Small models (under 100M parameters) generate data fast, so they get
//     the shipped heads' recipe: 700k tokens, 5 epochs, 512 hidden units
//     (the 260K story model: about 10 minutes, τ 4.7).
//   - Larger ones: 150k tokens and 4 epochs with 256 hidden units, since
//     data cost a forward pass per token (about 100 tokens/s batched on
//     the 1.1B F16 twin: 25 minutes) while training a width-2048 model
//     runs at about 1100 examples/s (256 units; 800 with 512): about 35
//     minutes in all. Their heads are written as float16, which halves
//     what a draft step reads (the twin's heads of 512 units: 2.29x
//     against 2.23x as float32, one run).
//   - Vocabularies over 32768 tokens get a draft vocabulary of 16384, so a
//     draft step does not pay for the whole output layer (128k vocabulary:
//     draft share 37 % -> 9 % of a round).
func DefaultsFor(dim, vocab int, params int64) Defaults {
	d := Defaults{Hidden: 256, Tokens: 150000, Epochs: 4, Type: gguf.F16}
	if params < 100e6 {
		d = Defaults{Hidden: 512, Tokens: 700000, Epochs: 5, Type: gguf.F32}
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
	scratch := int64(workFloats(K, dim, hidden, vocab, microBatch(K, dim, hidden, vocab)))
	var lm int64 // Trainer.lmRows: made only up to lmCopyMax (none for a float32 head, counted anyway)
	if b := int64(vocab) * int64(dim) * 4; b <= lmCopyMax {
		lm = b
	}
	return 4*(params*int64(3+threads)+int64(threads)*scratch) + lm
}

// work is one thread's scratch for a micro-batch of up to B examples.
// Vectors of one head for all the examples lie next to each other (B rows),
// so every weight matrix is read once per micro-batch instead of once per
// example: per example, the twin's four heads read 24 MB of weights and
// read-modify-wrote 24 MB of gradients, which bound training by memory
// bandwidth (about 240-380 examples/s on two cores).
type work struct {
	B                  int
	st                 []float32   // (K+1) × B × D: the states s_0..s_K
	in                 []float32   // K × B × 2D: each head's input [s; E(x)]
	pre, act           []float32   // K × B × H
	nrm, z             []float32   // K × B × D, K × B × V
	tmp                []float32   // B × D
	dz, dn, ds, da, du []float32   // B × V, B × D, B × D, B × H, B × H
	din                []float32   // B × 2D
	rms                []float32   // K × B
	p                  []float32   // gemmAcc's scratch
	ids                [][]int32   // K × B: each head's target indices (forward, for backward)
	q                  [][]float32 // and their probabilities
	loss               []float64   // B × K: per example and head
	top1               []bool
	rank               []int
}

// workFloats is the float32 count of a work for B examples.
func workFloats(K, D, H, V, B int) int {
	return B * ((K+1)*D + K*2*D + 2*K*H + K*D + K*V + D + V + 2*D + 2*H + 2*D + K)
}

// microBatch is the examples one thread runs together: up to 32, fewer
// where their scratch would pass 64 MB (large vocabularies without a draft
// vocabulary).
func microBatch(K, D, H, V int) int {
	per := workFloats(K, D, H, V, 1) * 4
	return max(1, min(32, (64<<20)/per))
}

func (t *Trainer) microBatch() int {
	return microBatch(t.H.K, t.H.Dim, t.H.Hidden, t.H.Vocab(t.M))
}

func newWork(K, D, H, V, B int) *work {
	f := func(n int) []float32 { return make([]float32, n) }
	return &work{
		B: B, st: f((K + 1) * B * D), in: f(K * B * 2 * D), pre: f(K * B * H), act: f(K * B * H),
		nrm: f(K * B * D), z: f(K * B * V), tmp: f(B * D), dz: f(B * V), dn: f(B * D), ds: f(B * D),
		da: f(B * H), du: f(B * H), din: f(B * 2 * D), rms: f(K * B), p: f(128),
		ids: make([][]int32, K*B), q: make([][]float32, K*B),
		loss: make([]float64, B*K), top1: make([]bool, B*K), rank: make([]int, B*K),
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

// forwardBackward runs the K heads on the examples exs (at most w.B) and,
// if g is not nil, adds the gradient of the summed distillation loss. Per
// example b and head k it leaves in w the loss (w.loss[b*K+k]), whether the
// head's argmax is the target's (w.top1) and the rank of the target's
// argmax among the head's proposals (w.rank; 0: its argmax). Each gradient
// element sums the examples in their order, so a thread's gradient is
// bitwise the same whatever micro-batches its examples come in.
func (t *Trainer) forwardBackward(ds *Dataset, exs []example, w *work, g *grads) {
	h, m := t.H, t.M
	D, V, K, H := h.Dim, h.Vocab(m), h.K, h.Hidden
	B := len(exs)
	lm := h.LMHead(m)
	state := func(i int) []float32 { return w.st[i*w.B*D : i*w.B*D+B*D] } // s_i of all examples
	for b, ex := range exs {
		tensor.F16ToF32Rows(w.st[b*D:(b+1)*D], ds.Seqs[ex.seq].Hidden[ex.t*D:], D, D, 1)
	}
	for i := 0; i < K; i++ {
		s, s1 := state(i), state(i+1)
		if h.Independent {
			s = state(0) // every head reads h itself
		}
		in := w.in[i*w.B*2*D : i*w.B*2*D+B*2*D]
		for b, ex := range exs {
			h.input(m, s[b*D:(b+1)*D], ds.Seqs[ex.seq].Tokens[ex.t+1+i], in[b*2*D:(b+1)*2*D])
		}
		pre, act := w.pre[i*w.B*H:i*w.B*H+B*H], w.act[i*w.B*H:i*w.B*H+B*H]
		h.w1[i].Mul(pre, in, B, nil)
		for b := 0; b < B; b++ {
			tensor.Add(pre[b*H:(b+1)*H], h.H[i].B1)
		}
		copy(act, pre)
		tensor.SiLUs(act)
		h.w2[i].Mul(s1, act, B, nil)
		tensor.Add(s1, s)
		nrm := w.nrm[i*w.B*D : i*w.B*D+B*D]
		for b := 0; b < B; b++ {
			r := rmsScale(s1[b*D:(b+1)*D], m.NormEps)
			w.rms[i*w.B+b] = r
			for j := 0; j < D; j++ {
				nrm[b*D+j] = s1[b*D+j] * r * m.OutNorm[j]
			}
		}
		z := w.z[i*w.B*V : i*w.B*V+B*V]
		lm.Mul(z, nrm, B, nil)
		for b, ex := range exs {
			zb := z[b*V : (b+1)*V]
			ids, q := t.target(&ds.Seqs[ex.seq], ex.t+1+i)
			w.ids[i*w.B+b], w.q[i*w.B+b] = ids, q
			lse := tensor.LogSumExp(zb)
			loss := 0.0
			for k, id := range ids {
				if q[k] > 0 {
					loss -= float64(q[k]) * (float64(zb[id]) - lse)
				}
			}
			w.loss[b*K+i] = loss
			if len(ids) == 0 { // the target's choices are all outside the draft vocabulary
				w.top1[b*K+i], w.rank[b*K+i] = false, V
				continue
			}
			w.top1[b*K+i] = sample.Argmax(zb) == ids[0]
			w.rank[b*K+i] = rankOf(zb, ids[0])
		}
	}
	if g == nil {
		return
	}
	// Backward, from the last head to the first: the state chain carries
	// every later head's gradient back to the earlier ones (independent
	// heads have no chain: each head's gradient is its own loss's).
	dz, dn, dState, da, du, din := w.dz[:B*V], w.dn[:B*D], w.ds[:B*D], w.da[:B*H], w.du[:B*H], w.din[:B*2*D]
	clear(dState)
	for i := K - 1; i >= 0; i-- {
		if h.Independent {
			clear(dState)
		}
		s1 := state(i + 1)
		z := w.z[i*w.B*V : i*w.B*V+B*V]
		// dz = softmax(z) - q
		for b := 0; b < B; b++ {
			zb, dzb := z[b*V:(b+1)*V], dz[b*V:(b+1)*V]
			lse := tensor.LogSumExp(zb)
			for v, x := range zb {
				dzb[v] = float32(math.Exp(float64(x) - lse))
			}
			ids, q := w.ids[i*w.B+b], w.q[i*w.B+b] // the forward's targets
			for k, id := range ids {
				dzb[id] -= q[k]
			}
			if len(ids) == 0 { // no loss at this head (see Trainer.target)
				clear(dzb)
			}
		}
		// dn = dz·LM (each example's Woutᵀ dz)
		clear(dn)
		switch {
		case lm.Type == gguf.F32:
			gemmAcc(dn, D, dz, V, 1, lm.F32Data(), D, B, V, D, w.p)
		case t.lmRows != nil:
			gemmAcc(dn, D, dz, V, 1, t.lmRows, D, B, V, D, w.p)
		default: // decode each row once
			row := w.tmp[:D]
			for v := 0; v < V; v++ {
				lm.RowF32(v, row)
				for b := 0; b < B; b++ {
					if d := dz[b*V+v]; d != 0 {
						tensor.FMARow(dn[b*D:(b+1)*D], d, row)
					}
				}
			}
		}
		// RMSNorm backward: y = x·r·g  ⇒  dx = r·(g⊙dy) − r³/D · x · Σ x⊙g⊙dy
		for b := 0; b < B; b++ {
			r := w.rms[i*w.B+b]
			x, dy, dx := s1[b*D:(b+1)*D], dn[b*D:(b+1)*D], dState[b*D:(b+1)*D]
			var dot float64
			for j := 0; j < D; j++ {
				dot += float64(x[j] * m.OutNorm[j] * dy[j])
			}
			c := float32(dot) * r * r * r / float32(D)
			for j := 0; j < D; j++ {
				dx[j] += r*m.OutNorm[j]*dy[j] - c*x[j]
			}
		}
		// s1 = s + W2·SiLU(W1·in + b1)
		hd := &h.H[i]
		gW1, gB1, gW2 := g.P[i][0], g.P[i][1], g.P[i][2]
		pre, act := w.pre[i*w.B*H:i*w.B*H+B*H], w.act[i*w.B*H:i*w.B*H+B*H]
		in := w.in[i*w.B*2*D : i*w.B*2*D+B*2*D]
		// gW2 += dsᵀ·act; da = ds·W2
		gemmAcc(gW2, H, dState, 1, D, act, H, D, B, H, w.p)
		clear(da)
		gemmAcc(da, H, dState, D, 1, hd.W2, H, B, D, H, w.p)
		for b := 0; b < B; b++ {
			for r := 0; r < H; r++ {
				p := float64(pre[b*H+r])
				sg := 1 / (1 + math.Exp(-p))
				du[b*H+r] = da[b*H+r] * float32(sg*(1+p*(1-sg)))
			}
		}
		for r := 0; r < H; r++ {
			for b := 0; b < B; b++ {
				gB1[r] += du[b*H+r]
			}
		}
		// gW1 += duᵀ·in; din = du·W1
		gemmAcc(gW1, 2*D, du, 1, H, in, 2*D, H, B, 2*D, w.p)
		if !h.Independent {
			clear(din)
			gemmAcc(din, 2*D, du, H, 1, hd.W1, 2*D, B, H, 2*D, w.p)
			for b := 0; b < B; b++ {
				tensor.Add(dState[b*D:(b+1)*D], din[b*2*D:b*2*D+D]) // dState_i = dState_{i+1} + ∂/∂s of the head input
			}
		}
	}
	for b := 0; b < B; b++ {
		for i := 0; i < K; i++ {
			g.loss[i] += w.loss[b*K+i]
			if w.top1[b*K+i] {
				g.hit[i]++
			}
		}
	}
	g.n += B
}

// gemmAcc adds A·Bm to C: C is M×N (row stride ldc), A is M×Kd with element
// (m, k) at a[m*am+k*ak], Bm is Kd×N at row stride ldb. Each element of C
// adds its Kd terms in the order of k with the fused multiply-adds of
// tensor.FMARow (tensor.FMARows holds them in registers): the sums one
// example at a time would make. Blocks of columns and of k keep the part
// of Bm in use (128 rows × 256 columns) in the L2 cache while every row of
// C passes over it. p is scratch for A's rows when they are strided
// (Kd floats).
func gemmAcc(c []float32, ldc int, a []float32, am, ak int, bm []float32, ldb int, M, Kd, N int, p []float32) {
	const cols, rows = 256, 128
	for n0 := 0; n0 < N; n0 += cols {
		n1 := min(n0+cols, N)
		for k0 := 0; k0 < Kd; k0 += rows {
			k1 := min(k0+rows, Kd)
			for mi := 0; mi < M; mi++ {
				var pr []float32
				if ak == 1 {
					pr = a[mi*am+k0 : mi*am+k1]
				} else {
					pr = p[:k1-k0]
					for k := k0; k < k1; k++ {
						pr[k-k0] = a[mi*am+k*ak]
					}
				}
				tensor.FMARows(c[mi*ldc+n0:mi*ldc+n1], pr, bm[k0*ldb+n0:], ldb)
			}
		}
	}
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
		ws[i] = newWork(t.H.K, t.H.Dim, t.H.Hidden, t.H.Vocab(t.M), t.microBatch())
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
					var mine []example
					for i := th; i < len(batch); i += threads {
						mine = append(mine, batch[i])
					}
					for len(mine) > 0 {
						n := min(len(mine), ws[th].B)
						t.forwardBackward(ds, mine[:n], ws[th], gs[th])
						mine = mine[n:]
					}
				}(th)
			}
			wg.Wait()
			t.adamStep(gs, total)
			g := gs[0] // the step's loss and hits, summed in thread order
			for th := 1; th < threads; th++ {
				for k := range g.P {
					g.loss[k] += gs[th].loss[k]
					g.hit[k] += gs[th].hit[k]
				}
				g.n += gs[th].n
			}
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

// adamStep sums the threads' gradients (in thread order, so the result
// is deterministic for a thread count) and applies AdamW with linear
// warm-up and cosine decay to 10%, every tensor split among the threads.
func (t *Trainer) adamStep(gs []*grads, total int) {
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
	n := 0
	for _, g := range gs {
		n += g.n
	}
	c := tensor.AdamW{Inv: float32(1 / float64(n)), B1: b1, NB1: 1 - b1, B2: b2, NB2: 1 - b2,
		IC1: float32(1 / c1), IC2: float32(1 / c2), Eps: eps, LR: float32(lr), LRWD: float32(lr * cfg.WeightDecay)}
	noDecay := c
	noDecay.LRWD = 0
	upd := func(k, j, lo, hi int) {
		gr := gs[0].P[k][j][lo:hi]
		for _, g := range gs[1:] {
			tensor.Add(gr, g.P[k][j][lo:hi])
		}
		cj := &c
		if j == 1 { // no decay on the bias
			cj = &noDecay
		}
		tensor.AdamWStep(t.H.H[k].Params()[j][lo:hi], t.mom[k][j][lo:hi], t.vel[k][j][lo:hi], gr, cj)
	}
	threads := len(gs)
	var wg sync.WaitGroup
	for th := 0; th < threads; th++ {
		wg.Add(1)
		go func(th int) {
			defer wg.Done()
			for k := range t.H.H {
				for j, p := range t.H.H[k].Params() {
					lo, hi := len(p)*th/threads, len(p)*(th+1)/threads
					upd(k, j, lo, hi)
				}
			}
		}(th)
	}
	wg.Wait()
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
	w := newWork(K, t.H.Dim, t.H.Hidden, t.H.Vocab(t.M), t.microBatch())
	for len(ex) > 0 {
		n := min(len(ex), w.B)
		t.forwardBackward(ds, ex[:n], w, nil)
		ex = ex[n:]
		for b := 0; b < n; b++ {
			for k := 0; k < K; k++ {
				e.Loss[k] += w.loss[b*K+k]
				if w.top1[b*K+k] {
					e.Top1[k]++
				}
				if rk := w.rank[b*K+k]; rk < t.Cfg.TopK {
					e.TopK[k]++
					e.Rank[k][rk]++
				}
			}
		}
	}
	for k := 0; k < K; k++ {
		n := float64(max(1, e.Examples))
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
		tensor.Dequantize(gguf.F32, f.TensorData(ti), c.v) // in place: the products see it
	}
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
