package heads

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"s4c/gguf"
	"s4c/internal/shared"
	"s4c/model"
	"s4c/sample"
	"s4c/tensor"
)

func loadModel(t testing.TB) *model.Model {
	m, err := model.Load(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func smallData(t *testing.T, m *model.Model, tokens int) (*Dataset, string) {
	p := filepath.Join(t.TempDir(), "d.s4cdata")
	cfg := GenConfig{BOS: 1, SeqLen: 40, Greedy: 0.5, Temp: 0.8, Seed: 1, Threads: 1}
	if err := Generate(p, m, tokens, cfg); err != nil {
		t.Fatal(err)
	}
	ds, _, err := OpenDataset(p, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds, p
}

// TestGradientFiniteDifferences checks backpropagation through the chain of
// heads against central differences of the loss.
func TestGradientFiniteDifferences(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 80)
	for _, independent := range []bool{false, true} {
		t.Run(kind(independent), func(t *testing.T) { checkGradients(t, m, ds, independent) })
	}
}

func checkGradients(t *testing.T, m *model.Model, ds *Dataset, independent bool) {
	h := New(m, 3, 48, 4)
	h.Independent = independent
	h.Randomize(5)
	for k := range h.H {
		for j := range h.H[k].B1 {
			h.H[k].B1[j] = 0.1 * float32(math.Sin(float64(j+k)))
		}
	}
	tr := NewTrainer(h, m, TrainConfig{TopK: 8})
	// Three examples in one micro-batch: the gradient is their summed
	// loss's, which exercises the batched products.
	exs := []example{{0, 5}, {0, 9}, {1, 3}}
	w := newWork(h.K, h.Dim, h.Hidden, m.Vocab, len(exs))
	g := newGrads(h)
	tr.forwardBackward(ds, exs, w, g)
	lossAt := func() float64 {
		w := newWork(h.K, h.Dim, h.Hidden, m.Vocab, len(exs))
		tr.forwardBackward(ds, exs, w, nil)
		s := 0.0
		for _, x := range w.loss {
			s += x
		}
		return s
	}
	checked := 0
	for k := 0; k < h.K; k++ {
		for j, p := range h.H[k].Params() {
			for _, idx := range []int{3, 41, len(p) / 2, len(p) - 1} {
				const eps = 1e-2
				old := p[idx]
				p[idx] = old + eps
				lp := lossAt()
				p[idx] = old - eps
				lm := lossAt()
				p[idx] = old
				num := (lp - lm) / (2 * eps)
				ana := float64(g.P[k][j][idx])
				if math.Abs(num-ana) > 2e-3+0.03*math.Abs(num) {
					t.Errorf("head %d tensor %d element %d: analytic %.6f, numeric %.6f", k, j, idx, ana, num)
				}
				checked++
			}
		}
	}
	t.Logf("checked %d gradients", checked)
}

// TestTrainLossFallsAndRoundTrips trains tiny heads for a few steps: the
// loss falls, checkpoints resume, and the heads file round-trips.
func TestTrainLossFallsAndRoundTrips(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 1500)
	h := New(m, 2, 64, 5)
	cfg := TrainConfig{Epochs: 3, LR: 3e-3, WeightDecay: 0, Batch: 32, HoldOut: 0.2, Seed: 1, Threads: 2, TopK: 8}
	tr := NewTrainer(h, m, cfg)
	before := tr.Evaluate(ds)
	var losses []float64
	tr.Cfg.Progress = func(p Progress) { losses = append(losses, p.Loss) }
	if err := tr.Train(ds); err != nil {
		t.Fatal(err)
	}
	after := tr.Evaluate(ds)
	t.Logf("held-out loss per head %v -> %v; top-1 %v", before.Loss, after.Loss, after.Top1)
	for k := range before.Loss {
		if after.Loss[k] >= before.Loss[k] {
			t.Errorf("head %d: held-out loss did not fall (%v -> %v)", k, before.Loss[k], after.Loss[k])
		}
	}
	if losses[len(losses)-1] >= losses[0] {
		t.Errorf("training loss did not fall: %v -> %v", losses[0], losses[len(losses)-1])
	}
	// File round trip.
	p := filepath.Join(t.TempDir(), "h.gguf")
	h.Report["top1"] = "x"
	if err := h.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p, m)
	if err != nil {
		t.Fatal(err)
	}
	for k := range h.H {
		for j, p := range h.H[k].Params() {
			for i := range p {
				if back.H[k].Params()[j][i] != p[i] {
					t.Fatal("weights differ after a round trip")
				}
			}
		}
	}
	// Checkpoint round trip resumes the same state.
	cp := filepath.Join(t.TempDir(), "c.gguf")
	if err := tr.SaveCheckpoint(cp); err != nil {
		t.Fatal(err)
	}
	tr2 := NewTrainer(New(m, 2, 64, 99), m, cfg)
	if err := tr2.LoadCheckpoint(cp); err != nil {
		t.Fatal(err)
	}
	if tr2.Step != tr.Step || tr2.H.H[1].W2[5] != h.H[1].W2[5] || tr2.vel[0][0][3] != tr.vel[0][0][3] {
		t.Fatal("checkpoint did not restore the trainer")
	}
}

// TestDataResume: a data file grows across calls and keeps whole sequences.
func TestDataResume(t *testing.T) {
	m := loadModel(t)
	_, p := smallData(t, m, 50)
	ds, _, _ := OpenDataset(p, m)
	n1 := ds.Tokens()
	ds.Close()
	if err := Generate(p, m, 130, GenConfig{BOS: 1, SeqLen: 40, Greedy: 0.5, Temp: 0.8, Seed: 1, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	ds2, _, _ := OpenDataset(p, m)
	defer ds2.Close()
	if ds2.Tokens() < 130 || ds2.Tokens() <= n1 {
		t.Fatalf("tokens %d -> %d", n1, ds2.Tokens())
	}
}

func sameHeads(t *testing.T, what string, a, b *Heads) {
	t.Helper()
	for k := range a.H {
		for j, p := range a.H[k].Params() {
			q := b.H[k].Params()[j]
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(q[i]) {
					t.Fatalf("%s: head %d tensor %d element %d: %v vs %v", what, k, j, i, p[i], q[i])
				}
			}
		}
	}
}

// TestResumeExact: training resumed from a checkpoint ends with bitwise the
// heads of an uninterrupted run, both when the process was killed (SIGKILL:
// only the last periodic checkpoint exists, written mid-epoch) and when it
// was interrupted (Ctrl-C: a checkpoint is written at the stop). The
// periodic checkpoint used to be written before the batch position
// advanced, so a resumed run applied that batch twice.
func TestResumeExact(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 900)
	cfg := TrainConfig{Epochs: 2, LR: 3e-3, Batch: 16, HoldOut: 0.2, Seed: 3, Threads: 2, TopK: 8}
	whole := New(m, 2, 32, 11)
	if err := NewTrainer(whole, m, cfg).Train(ds); err != nil {
		t.Fatal(err)
	}
	for _, kill := range []bool{true, false} {
		ckpt := filepath.Join(t.TempDir(), "h.ckpt")
		c := cfg
		c.Checkpoint, c.CheckpointEvery = ckpt, 7
		tr := NewTrainer(New(m, 2, 32, 11), m, c)
		steps := 0
		c.Stop = func() bool { return tr.Step >= 11 } // mid-epoch, 4 steps past the last periodic checkpoint
		tr.Cfg = c
		if err := tr.Train(ds); err != ErrInterrupted {
			t.Fatalf("interrupted run: %v", err)
		}
		if !kill {
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				t.Fatal(err)
			}
		}
		c.Stop = nil
		resumed := NewTrainer(New(m, 2, 32, 99), m, c)
		if err := resumed.LoadCheckpoint(ckpt); err != nil {
			t.Fatal(err)
		}
		steps = resumed.Step
		if want := map[bool]int{true: 7, false: 11}[kill]; steps != want {
			t.Fatalf("kill=%v: checkpoint at step %d, want %d", kill, steps, want)
		}
		if err := resumed.Train(ds); err != nil {
			t.Fatal(err)
		}
		sameHeads(t, map[bool]string{true: "resumed after SIGKILL", false: "resumed after Ctrl-C"}[kill], whole, resumed.H)
	}
}

// TestCheckpointWriteFails: a checkpoint that cannot be written stops
// training with the error instead of being ignored.
func TestCheckpointWriteFails(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 600)
	cfg := TrainConfig{Epochs: 1, LR: 3e-3, Batch: 16, HoldOut: 0.2, Seed: 3, Threads: 1, TopK: 8,
		Checkpoint: filepath.Join(t.TempDir(), "no", "such", "dir", "h.ckpt"), CheckpointEvery: 2}
	tr := NewTrainer(New(m, 2, 32, 11), m, cfg)
	if err := tr.Train(ds); err == nil || !strings.Contains(err.Error(), "writing checkpoint at step 2") {
		t.Fatalf("got %v", err)
	}
}

// TestNonFiniteRefused: a diverged run stops with an error, and heads with
// NaN weights are neither saved nor loaded.
func TestNonFiniteRefused(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 600)
	h := New(m, 2, 32, 11)
	tr := NewTrainer(h, m, TrainConfig{Epochs: 1, LR: math.NaN(), Batch: 16, HoldOut: 0.2, Seed: 3, Threads: 1, TopK: 8})
	if err := tr.Train(ds); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("NaN learning rate: %v", err)
	}
	p := filepath.Join(t.TempDir(), "h.gguf")
	if err := h.Save(p); err == nil || !strings.Contains(err.Error(), "is NaN") {
		t.Fatalf("saving NaN heads: %v", err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("a NaN heads file was written")
	}
	// A file with a NaN weight (written around Save's check) is refused on load.
	h2 := New(m, 2, 32, 11)
	if err := h2.Save(p); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	w.CopyKV(f, nil)
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		d := append([]byte(nil), f.TensorData(ti)...)
		if ti.Name == "head.1.b1" {
			binary.LittleEndian.PutUint32(d[8:], math.Float32bits(float32(math.Inf(-1))))
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, d)
	}
	f.Close()
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	if err := w.WriteFile(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, m); err == nil || !strings.Contains(err.Error(), "head 1's b1[2] is -Inf") {
		t.Fatalf("loading heads with an infinite weight: %v", err)
	}
	// Sizes a file cannot hold are refused before writing.
	h2.Hidden = MaxHidden + 1
	if err := h2.Save(p); err == nil || !strings.Contains(err.Error(), "cannot be saved") {
		t.Fatalf("hidden %d: %v", h2.Hidden, err)
	}
}

// TestTrainDeterministic: the same seed and thread count give bitwise the
// same heads.
func TestTrainDeterministic(t *testing.T) {
	m := loadModel(t)
	ds, _ := smallData(t, m, 600)
	run := func() *Heads {
		h := New(m, 2, 32, 11)
		tr := NewTrainer(h, m, TrainConfig{Epochs: 1, LR: 3e-3, Batch: 16, HoldOut: 0.2, Seed: 3, Threads: 2, TopK: 8})
		if err := tr.Train(ds); err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, b := run(), run()
	for k := range a.H {
		for j, p := range a.H[k].Params() {
			q := b.H[k].Params()[j]
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(q[i]) {
					t.Fatalf("head %d tensor %d element %d: %v vs %v", k, j, i, p[i], q[i])
				}
			}
		}
	}
}

// TestTrainOnOtherArchitectures: heads are trained from the target's own
// hidden states whatever its architecture: on the gemma2 conformance model
// (soft-capped logits, sliding window) and phi3 (fused tensors) the
// held-out loss falls.
func TestTrainOnOtherArchitectures(t *testing.T) {
	for _, arch := range []string{"gemma2", "phi3"} {
		m, err := model.Load(shared.Path(t, "conformance/archs/"+arch+"/model.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "d.s4cdata")
		if err := Generate(p, m, 1200, GenConfig{BOS: 1, SeqLen: 40, Greedy: 0.5, Temp: 0.8, Seed: 1, Threads: 1}); err != nil {
			t.Fatal(err)
		}
		ds, _, err := OpenDataset(p, m)
		if err != nil {
			t.Fatal(err)
		}
		tr := NewTrainer(New(m, 2, 64, 5), m, TrainConfig{Epochs: 3, LR: 3e-3, Batch: 32, HoldOut: 0.2, Seed: 1, Threads: 2, TopK: 8})
		before := tr.Evaluate(ds)
		if err := tr.Train(ds); err != nil {
			t.Fatal(err)
		}
		after := tr.Evaluate(ds)
		t.Logf("%s: held-out loss %v -> %v, top-1 %v", arch, before.Loss, after.Loss, after.Top1)
		for k := range before.Loss {
			if after.Loss[k] >= before.Loss[k] {
				t.Errorf("%s head %d: held-out loss did not fall (%v -> %v)", arch, k, before.Loss[k], after.Loss[k])
			}
		}
		ds.Close()
		m.Close()
	}
}

// TestRankCounts: the batched teacher-forced ranks equal a position-by-
// position computation (one head step and one LM-head row at a time), for
// coherent and independent heads, on the model's own greedy text.
func TestRankCounts(t *testing.T) {
	m := loadModel(t)
	p := tensor.NewPool(2)
	s := m.NewState(64, 2)
	toks := []int32{1}
	var hidden []float32
	for len(toks) < 40 {
		o, err := s.Forward(&model.Batch{Tokens: toks[len(toks)-1:], Hidden: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Commit(1)
		hidden = append(hidden, o.Hidden...)
		toks = append(toks, sample.Argmax(o.Row(0)))
	}
	toks = toks[:len(hidden)/m.Dim]
	for _, independent := range []bool{false, true} {
		h := New(m, 3, 32, 9)
		h.Independent = independent
		h.Randomize(9)
		const ranks = 6
		counts, n := h.RankCounts(m, hidden, toks, ranks, p)
		want := make([][]int, h.K)
		wantN := make([]int, h.K)
		logits := make([]float32, m.Vocab)
		for k := range want {
			want[k] = make([]int, ranks)
		}
		for pos := 0; pos+2 < len(toks); pos++ {
			st := append([]float32(nil), hidden[pos*m.Dim:(pos+1)*m.Dim]...)
			for k := 0; k < h.K && pos+2+k < len(toks); k++ {
				in := st
				if independent {
					in = hidden[pos*m.Dim : (pos+1)*m.Dim]
				}
				out := make([]float32, m.Dim)
				h.Step(m, k, in, []int32{toks[pos+1+k]}, out, p)
				h.Logits(m, out, 1, logits, p)
				higher := 0
				for _, x := range logits {
					if x > logits[toks[pos+2+k]] {
						higher++
					}
				}
				if higher < ranks {
					want[k][higher]++
				}
				wantN[k]++
				st = out
			}
		}
		if fmt.Sprint(counts, n) != fmt.Sprint(want, wantN) {
			t.Errorf("%s: batched %v %v, one by one %v %v", kind(independent), counts, n, want, wantN)
		}
	}
}
