package convert

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"s4c/gguf"
	"s4c/internal/shared"
	"s4c/model"
	"s4c/tokenizer"
)

func loadSmall(t *testing.T) *model.Model {
	m, err := model.Load(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func greedyRun(t *testing.T, m *model.Model, prompt []int32, n int, kvf32 bool) ([]int32, [][]float32) {
	s := m.NewState(len(prompt)+n+1, 2)
	if kvf32 {
		if err := s.UseKVF32(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Forward(&model.Batch{Tokens: prompt})
	if err != nil {
		t.Fatal(err)
	}
	s.Commit(len(prompt))
	var ids []int32
	var logits [][]float32
	for len(ids) < n {
		l := append([]float32(nil), out.Row(0)...)
		logits = append(logits, l)
		best := 0
		for i, v := range l {
			if v > l[best] {
				best = i
			}
		}
		ids = append(ids, int32(best))
		if out, err = s.Forward(&model.Batch{Tokens: []int32{int32(best)}}); err != nil {
			t.Fatal(err)
		}
		s.Commit(1)
	}
	return ids, logits
}

// testShape is small enough for a unit test but exercises every mapping:
// wider residual, more layers, larger heads (4 rotary pairs per small one),
// larger GQA groups and a wider FFN.
var testShape = Shape{Name: "test", Dim: 256, Layers: 7, Heads: 16, KVHeads: 4, FFN: 512, Vocab: 512, Ctx: 2048, RopeBase: 10000}

// TestInflateSameFunction: the inflated model's greedy output equals the
// small model's, with the default float16 KV cache and with a float32 one;
// with float32 attention its logits agree within 1e-3 (F32 weights) — the
// float16 cache rounds values the two models compute a few ulps apart to
// neighbouring halves, so there only the greedy text is compared. As F16 the
// greedy output still agrees.
func TestInflateSameFunction(t *testing.T) {
	small := loadSmall(t)
	prompt := []int32{1, 403, 407, 261, 378}
	want, _ := greedyRun(t, small, prompt, 60, false)
	want32, wl := greedyRun(t, small, prompt, 60, true)
	for _, c := range []struct {
		typ gguf.TensorType
		tol float64
	}{{gguf.F32, 1e-3}, {gguf.F16, 2e-2}} {
		p := filepath.Join(t.TempDir(), "big.gguf")
		if err := Inflate(p, small, testShape, c.typ, 1, nil); err != nil {
			t.Fatal(err)
		}
		big, err := model.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if big.Dim != 256 || big.NLayers != 7 || big.HeadDim != 16 {
			t.Fatalf("inflated config %+v", big.Config)
		}
		got, _ := greedyRun(t, big, prompt, 60, false)
		got32, gl := greedyRun(t, big, prompt, 60, true)
		worst := 0.0
		for i := range wl {
			for j := range wl[i] {
				worst = math.Max(worst, math.Abs(float64(gl[i][j]-wl[i][j])))
			}
		}
		t.Logf("%s: largest logit difference over 60 steps %.2e", c.typ, worst)
		for i := range want {
			if got[i] != want[i] || got32[i] != want32[i] {
				t.Fatalf("%s: step %d token %d/%d, small model %d/%d (f16/f32 cache)", c.typ, i, got[i], got32[i], want[i], want32[i])
			}
		}
		if worst > c.tol {
			t.Fatalf("%s: logits differ by %v > %v", c.typ, worst, c.tol)
		}
		big.Close()
	}
}

// TestInflateVocab: a twin with a larger vocabulary (the extra tokens
// unused, kept out by the spare dimension) keeps the small model's greedy
// output and logits, every extra token's logit far below the real ones;
// its tokenizer encodes text as the small one does and names the extras.
func TestInflateVocab(t *testing.T) {
	small := loadSmall(t)
	prompt := []int32{1, 403, 407, 261, 378}
	want, wl := greedyRun(t, small, prompt, 60, true)
	sh := testShape
	sh.Vocab = 3000
	for _, c := range []struct {
		typ gguf.TensorType
		tol float64
	}{{gguf.F32, 1e-3}, {gguf.F16, 2e-2}} {
		p := filepath.Join(t.TempDir(), "big.gguf")
		if err := Inflate(p, small, sh, c.typ, 1, nil); err != nil {
			t.Fatal(err)
		}
		big, err := model.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if big.Vocab != 3000 {
			t.Fatalf("vocabulary %d, want 3000", big.Vocab)
		}
		got, gl := greedyRun(t, big, prompt, 60, true)
		worst, margin := 0.0, math.Inf(1)
		for i := range wl {
			lowReal, highExtra := math.Inf(1), math.Inf(-1)
			for j := range gl[i] {
				if j < small.Vocab {
					worst = math.Max(worst, math.Abs(float64(gl[i][j]-wl[i][j])))
					lowReal = math.Min(lowReal, float64(gl[i][j]))
				} else {
					highExtra = math.Max(highExtra, float64(gl[i][j]))
				}
			}
			margin = math.Min(margin, lowReal-highExtra)
		}
		t.Logf("%s: largest logit difference %.2e; extra tokens at least %.0f below every real token", c.typ, worst, margin)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: greedy output %v, small model %v", c.typ, got, want)
		}
		if worst > c.tol || margin < 100 {
			t.Fatalf("%s: logits differ by %v (> %v) or extra tokens only %.1f below the real ones", c.typ, worst, c.tol, margin)
		}
		tk, err := tokenizer.FromGGUF(big.File)
		if err != nil {
			t.Fatal(err)
		}
		tks, err := tokenizer.FromGGUF(small.File)
		if err != nil {
			t.Fatal(err)
		}
		text := "Once upon a time, <extra_3> a little dog ran."
		if a, b := tk.Encode(text, true, true), tks.Encode(text, true, true); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("encodings differ: %v, small %v", a, b)
		}
		if tk.Tokens[small.Vocab+3] != "<extra_3>" || tk.Types[small.Vocab] != tokenizer.TypeUnused {
			t.Fatalf("extra token %q type %d", tk.Tokens[small.Vocab+3], tk.Types[small.Vocab])
		}
		big.Close()
	}
	sh.Dim = small.Dim
	sh.Heads, sh.KVHeads = small.Heads, small.KVHeads
	if err := Inflate(filepath.Join(t.TempDir(), "x.gguf"), small, sh, gguf.F32, 1, nil); err == nil {
		t.Fatal("a larger vocabulary at the model's own width: want an error")
	}
	sh = testShape
	sh.Vocab = 100
	if err := Inflate(filepath.Join(t.TempDir(), "x.gguf"), small, sh, gguf.F32, 1, nil); err == nil {
		t.Fatal("a smaller vocabulary: want an error")
	}
}

func TestSynth(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.gguf")
	sh := Shape{Name: "tiny", Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFN: 256, Vocab: 600, Ctx: 256, RopeBase: 10000}
	for _, typ := range []gguf.TensorType{gguf.Q8_0, gguf.Q4_0, gguf.F16} {
		if err := Synth(p, sh, typ, 3, nil); err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Layers[1].FFNDown.Type != typ || m.Vocab != 600 {
			t.Fatalf("%s: got %s", typ, m.Layers[1].FFNDown.Type)
		}
		s := m.NewState(16, 1)
		if _, err := s.Forward(&model.Batch{Tokens: []int32{1, 300, 301}}); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	if _, err := ParseShape("nope"); err == nil {
		t.Fatal("unknown shape accepted")
	}
}
