package heads

import (
	"math"
	"path/filepath"
	"testing"

	"s4c/internal/shared"
	"s4c/model"
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
	h := New(m, 3, 48, 4)
	h.Randomize(5)
	for k := range h.H {
		for j := range h.H[k].B1 {
			h.H[k].B1[j] = 0.1 * float32(math.Sin(float64(j+k)))
		}
	}
	h.Rebuild()
	tr := NewTrainer(h, m, TrainConfig{TopK: 8})
	ex := example{0, 5}
	w := newWork(h.K, h.Dim, h.Hidden, m.Vocab)
	g := newGrads(h)
	tr.forwardBackward(ds, ex, w, g, 8)
	lossAt := func() float64 {
		l, _, _ := tr.forwardBackward(ds, ex, newWork(h.K, h.Dim, h.Hidden, m.Vocab), nil, 8)
		s := 0.0
		for _, x := range l {
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
				h.Rebuild()
				lp := lossAt()
				p[idx] = old - eps
				h.Rebuild()
				lm := lossAt()
				p[idx] = old
				h.Rebuild()
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
