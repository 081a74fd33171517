package model

import (
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"s4c/gguf"
	"s4c/internal/shared"
	"s4c/tensor"
)

// ref64 reads a model's tensors as float64 for the reference
// implementations the architecture tests hold s4c to (qwen3, gemma3).
type ref64 struct {
	t   *testing.T
	m   *Model
	eps float64
}

// get is tensor name, dequantized, and its dimensions.
func (r ref64) get(name string) ([]float64, []uint64) {
	f := r.m.File
	ti, ok := f.Tensor(name)
	if !ok {
		r.t.Fatalf("no tensor %s", name)
	}
	v := make([]float32, ti.Elements())
	tensor.Dequantize(ti.Type, f.TensorData(ti), v)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, ti.Dims
}

// matvec is w·x for w of dims [cols, rows].
func matvec(w []float64, dims []uint64, x []float64) []float64 {
	cols, rows := int(dims[0]), int(dims[1])
	y := make([]float64, rows)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			y[r] += w[r*cols+c] * x[c]
		}
	}
	return y
}

// rms is RMSNorm(x)·w.
func (r ref64) rms(x, w []float64) []float64 {
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	sc := 1 / math.Sqrt(ss/float64(len(x))+r.eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * sc * w[i]
	}
	return y
}

// ropeNeox rotates a head's split halves by position pos: angle
// pos·scale·base^(-2j/len(v)) for pair j.
func ropeNeox(v []float64, pos int, base, scale float64) {
	hd := len(v)
	for j := 0; j < hd/2; j++ {
		th := float64(pos) * scale * math.Pow(base, -2*float64(j)/float64(hd))
		a, b := v[j], v[j+hd/2]
		v[j], v[j+hd/2] = a*math.Cos(th)-b*math.Sin(th), a*math.Sin(th)+b*math.Cos(th)
	}
}

// output is the logits of the last position: final RMSNorm and the output
// matrix (the embeddings where it is tied).
func (r ref64) output(x []float64) []float64 {
	on, _ := r.get("output_norm.weight")
	out, dims := r.get("token_embd.weight")
	if _, ok := r.m.File.Tensor("output.weight"); ok {
		out, dims = r.get("output.weight")
	}
	return matvec(out, dims, r.rms(x, on))
}

// checkAgainstFloat64 runs prompt through m (float32 KV cache, as the
// reference keeps everything unrounded) and requires its last-position
// logits within 1e-3 of want's range.
func checkAgainstFloat64(t *testing.T, m *Model, prompt []int32, want []float64) {
	t.Helper()
	s := m.NewState(64, 2)
	if err := s.UseKVF32(); err != nil {
		t.Fatal(err)
	}
	out, err := s.Forward(&Batch{Tokens: prompt})
	if err != nil {
		t.Fatal(err)
	}
	got := out.Row(0)
	lo, hi, worst := want[0], want[0], 0.0
	for j := range want {
		lo, hi = math.Min(lo, want[j]), math.Max(hi, want[j])
		worst = math.Max(worst, math.Abs(float64(got[j])-want[j]))
	}
	t.Logf("%d tokens: max |Δlogit| %.2g of range %.3g", len(prompt), worst, hi-lo)
	if worst > 1e-3*(hi-lo) {
		t.Errorf("%d tokens: logits differ from the float64 reference by %.3g (range %.3g)", len(prompt), worst, hi-lo)
	}
}

// reexpress writes the conformance model of architecture from as one of
// architecture to and returns its path: metadata keys renamed (those keep
// refuses dropped, then set's added), tensors copied (those keepTensor
// refuses dropped), and each block given per-head q and k RMSNorm weights
// of hd values near 1 (seeded) after its attn_norm.
func reexpress(t *testing.T, from, to string, keep func(key string) bool, set map[string]any, keepTensor func(name string) bool, hd int, seed int64) string {
	src, err := gguf.Open(shared.Path(t, "conformance/archs/"+from+"/model.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w := gguf.NewWriter()
	w.CopyKV(src, func(k string) bool { return strings.HasPrefix(k, from+".") })
	for _, kv := range src.KV {
		if rest, ok := strings.CutPrefix(kv.Key, from+"."); ok && keep(rest) {
			if err := w.Set(to+"."+rest, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Set("general.architecture", to)
	for k, v := range set {
		if err := w.Set(to+"."+k, v); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	for i := range src.Tensors {
		ti := &src.Tensors[i]
		if !keepTensor(ti.Name) {
			continue
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, src.TensorData(ti))
		if layer, ok := strings.CutSuffix(ti.Name, ".attn_norm.weight"); ok {
			for _, n := range []string{"attn_q_norm", "attn_k_norm"} {
				v := make([]float32, hd)
				for j := range v {
					v[j] = 1 + 0.3*float32(rng.NormFloat64())
				}
				data, _ := tensor.Quantize(gguf.F32, v)
				w.AddTensor(layer+"."+n+".weight", gguf.F32, []uint64{uint64(hd)}, data)
			}
		}
	}
	path := filepath.Join(t.TempDir(), to+".gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}
