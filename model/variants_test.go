package model

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"s4c/gguf"
	"s4c/internal/shared"
	"s4c/tensor"
)

// rewrite copies the shared model into a new GGUF file, letting edit change
// each tensor (name, type, values) or drop it (return false), and kv
// rename metadata keys.
func rewrite(t *testing.T, edit func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool), kv func(w *gguf.Writer, f *gguf.File)) *Model {
	t.Helper()
	m, err := Load(rewriteFile(t, edit, kv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// rewriteFile is rewrite without loading: it returns the new file's path.
func rewriteFile(t *testing.T, edit func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool), kv func(w *gguf.Writer, f *gguf.File)) string {
	t.Helper()
	return rewriteFrom(t, "models/stories260K.gguf", edit, kv)
}

// rewriteFrom is rewriteFile from another shared model.
func rewriteFrom(t *testing.T, rel string, edit func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool), kv func(w *gguf.Writer, f *gguf.File)) string {
	t.Helper()
	f, err := gguf.Open(shared.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	kv(w, f)
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		v := make([]float32, ti.Elements())
		tensor.Dequantize(ti.Type, f.TensorData(ti), v)
		name, typ, nv, keep := edit(ti.Name, ti.Dims, v)
		if !keep {
			continue
		}
		data, err := tensor.Quantize(typ, nv)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(name, typ, ti.Dims, data); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyKV(w *gguf.Writer, f *gguf.File) { w.CopyKV(f, nil) }

func greedy(t *testing.T, m *Model, prompt []int32, n int) ([]int32, [][]float32) {
	s := m.NewState(0, 2)
	out, err := s.Forward(&Batch{Tokens: prompt})
	if err != nil {
		t.Fatal(err)
	}
	s.Commit(len(prompt))
	var ids []int32
	var logits [][]float32
	for len(ids) < n {
		l := out.Row(0)
		logits = append(logits, append([]float32(nil), l...))
		id := argmax(l)
		ids = append(ids, id)
		if out, err = s.Forward(&Batch{Tokens: []int32{id}}); err != nil {
			t.Fatal(err)
		}
		s.Commit(1)
	}
	return ids, logits
}

var storyPrompt = []int32{1, 403, 407, 261, 378}

// TestTiedOutput: without output.weight the embeddings serve as the output
// layer; for this model they are equal, so the logits are bitwise the same.
func TestTiedOutput(t *testing.T) {
	base := loadStories(t)
	tied := rewrite(t, func(name string, _ []uint64, v []float32) (string, gguf.TensorType, []float32, bool) {
		return name, gguf.F32, v, name != "output.weight"
	}, copyKV)
	if !tied.TiedEmbed || base.TiedEmbed {
		t.Fatal("tied flag")
	}
	_, a := greedy(t, base, storyPrompt, 20)
	_, b := greedy(t, tied, storyPrompt, 20)
	for i := range a {
		if !bitsEqual(a[i], b[i]) {
			t.Fatalf("step %d differs", i)
		}
	}
}

// TestQuantizedModels: the same model stored as F16, BF16, Q8_0, Q6_K… runs,
// and its greedy text stays close to the F32 model's.
func TestQuantizedModels(t *testing.T) {
	base := loadStories(t)
	want, wl := greedy(t, base, storyPrompt, 40)
	for _, c := range []struct {
		typ      gguf.TensorType
		minMatch int
		maxDiff  float64
	}{
		// K-quants need rows of 256: this model has none (they are held to the
		// dequantized result by the tensor package tests).
		{gguf.F16, 40, 0.05}, {gguf.BF16, 10, 0.5}, {gguf.Q8_0, 20, 0.3}, {gguf.Q5_1, 10, 2}, {gguf.Q5_0, 5, 3}, {gguf.Q4_1, 5, 3}, {gguf.Q4_0, 5, 4}, {gguf.IQ4_NL, 5, 4},
	} {
		m := rewrite(t, func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool) {
			if len(dims) == 2 && dims[0]%uint64(c.typ.BlockSize()) == 0 {
				return name, c.typ, v, true
			}
			return name, gguf.F32, v, true
		}, copyKV)
		got, gl := greedy(t, m, storyPrompt, 40)
		match := 0
		for match < len(got) && got[match] == want[match] {
			match++
		}
		d := 0.0
		for i := range wl[0] {
			d = math.Max(d, math.Abs(float64(gl[0][i]-wl[0][i])))
		}
		t.Logf("%s: %d/40 greedy tokens as F32, first-step logit difference %.4f", c.typ, match, d)
		if match < c.minMatch || d > c.maxDiff {
			t.Errorf("%s: %d tokens match (want >= %d), logit difference %.4f (want <= %v)", c.typ, match, c.minMatch, d, c.maxDiff)
		}
	}
}

// TestQwen2: the llama model re-expressed as qwen2 (NEOX rotary layout, zero
// QKV biases) computes the same function.
func TestQwen2(t *testing.T) {
	base := loadStories(t)
	hd := base.HeadDim
	unpermute := func(v []float32, heads, cols int) []float32 {
		out := make([]float32, len(v))
		for h := 0; h < heads; h++ {
			for i := 0; i < hd/2; i++ {
				for j := 0; j < 2; j++ {
					src := (h*hd + 2*i + j) * cols
					dst := (h*hd + j*hd/2 + i) * cols
					copy(out[dst:dst+cols], v[src:src+cols])
				}
			}
		}
		return out
	}
	var biasVal float32
	build := func() *Model {
		return rewrite(t, func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool) {
			switch {
			case strings.HasSuffix(name, "attn_q.weight"):
				v = unpermute(v, base.Heads, base.Dim)
			case strings.HasSuffix(name, "attn_k.weight"):
				v = unpermute(v, base.KVHeads, base.Dim)
			}
			return name, gguf.F32, v, true
		}, func(w *gguf.Writer, f *gguf.File) {
			for _, kv := range f.KV {
				k := kv.Key
				if strings.HasPrefix(k, "llama.") {
					k = "qwen2." + strings.TrimPrefix(k, "llama.")
				}
				if k == "general.architecture" {
					w.Set(k, "qwen2")
					continue
				}
				w.Set(k, kv.Value)
			}
			for l := 0; l < base.NLayers; l++ {
				for _, b := range []struct {
					n string
					d int
				}{{"q", base.Heads * hd}, {"k", base.KVDim()}, {"v", base.KVDim()}} {
					v := make([]float32, b.d)
					for i := range v {
						v[i] = biasVal
					}
					data, _ := tensor.Quantize(gguf.F32, v)
					w.AddTensor("blk."+itoa(l)+".attn_"+b.n+".bias", gguf.F32, []uint64{uint64(b.d)}, data)
				}
			}
		})
	}
	q := build()
	if q.Arch != "qwen2" || !q.Rope.Neox || !q.QKVBias {
		t.Fatalf("loaded as %+v", q.Config)
	}
	want, wl := greedy(t, base, storyPrompt, 30)
	got, gl := greedy(t, q, storyPrompt, 30)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: token %d, llama form gives %d", i, got[i], want[i])
		}
		for j := range wl[i] {
			if d := math.Abs(float64(gl[i][j] - wl[i][j])); d > 1e-3 {
				t.Fatalf("step %d token %d: logit differs by %v", i, j, d)
			}
		}
	}
	biasVal = 0.5
	_, bl := greedy(t, build(), storyPrompt, 1)
	if bitsEqual(bl[0], wl[0]) {
		t.Fatal("a non-zero QKV bias changed nothing: biases are not applied")
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestLoadErrors(t *testing.T) {
	// A vocabulary of another architecture.
	if _, err := Load(shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf")); !errors.Is(err, ErrArch) || !strings.Contains(err.Error(), `"gpt2"`) {
		t.Errorf("gpt2 vocab: %v", err)
	}
	// A llama vocabulary with no weights.
	if _, err := Load(shared.Path(t, "vocab/ggml-vocab-llama-spm.gguf")); err == nil || !strings.Contains(err.Error(), "token_embd.weight is missing") {
		t.Errorf("weightless file: %v", err)
	}
	// A truncated model file.
	b, err := os.ReadFile(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut.gguf")
	os.WriteFile(p, b[:len(b)/2], 0o644)
	var fe *gguf.FormatError
	if _, err := Load(p); !errors.As(err, &fe) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
	// Metadata claiming far more layers than the file holds (8388608 in a
	// 1 MB file once cost 51 s and 4 GB before an error): rejected at once,
	// naming the key and the first missing tensor.
	keep := func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool) {
		return name, gguf.F32, v, true
	}
	huge := rewriteFile(t, keep, func(w *gguf.Writer, f *gguf.File) {
		w.CopyKV(f, nil)
		w.Set("llama.block_count", uint32(8388608))
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Load(huge); err == nil || !strings.Contains(err.Error(), "block_count = 8388608") || !strings.Contains(err.Error(), "blk.5.attn_norm.weight is missing") {
		t.Errorf("8388608 layers: %v", err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("rejecting 8388608 layers allocated %d MB", grew>>20)
	}
	// A layer's tensor missing: the first one missing is named.
	gap := rewriteFile(t, func(name string, dims []uint64, v []float32) (string, gguf.TensorType, []float32, bool) {
		return name, gguf.F32, v, name != "blk.2.ffn_up.weight" && name != "blk.3.attn_q.weight"
	}, copyKV)
	if _, err := Load(gap); err == nil || !strings.Contains(err.Error(), "blk.2.ffn_up.weight is missing") {
		t.Errorf("missing layer tensor: %v", err)
	}
	// More heads than dimensions.
	heads := rewriteFile(t, keep, func(w *gguf.Writer, f *gguf.File) {
		w.CopyKV(f, nil)
		w.Set("llama.attention.head_count", uint32(128))
		w.Set("llama.attention.head_count_kv", uint32(128))
	})
	if _, err := Load(heads); err == nil || !strings.Contains(err.Error(), "head_count 128 exceeds embedding_length 64") {
		t.Errorf("128 heads of dim 64: %v", err)
	}
	// Not a GGUF file at all.
	os.WriteFile(p, []byte("PK\x03\x04 this is a zip"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "not a GGUF file") {
		t.Errorf("zip file: %v", err)
	}
}
