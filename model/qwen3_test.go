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

// TestQwen3AgainstFloat64: there is no llama.cpp reference for qwen3 here,
// so the qwen2 conformance model is re-expressed as a qwen3 one (its
// biases dropped, per-head q and k norm weights added) and s4c's forward
// pass is held to a plain float64 implementation of Qwen3's published
// definition written in this test: last-position logits within 1e-3 of
// their range on every prompt.
func TestQwen3AgainstFloat64(t *testing.T) {
	src, err := gguf.Open(shared.Path(t, "conformance/archs/qwen2/model.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w := gguf.NewWriter()
	w.CopyKV(src, func(k string) bool { return strings.HasPrefix(k, "qwen2.") })
	for _, kv := range src.KV {
		if rest, ok := strings.CutPrefix(kv.Key, "qwen2."); ok {
			if err := w.Set("qwen3."+rest, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Set("general.architecture", "qwen3")
	hd := 32
	rng := rand.New(rand.NewSource(3))
	for i := range src.Tensors {
		ti := &src.Tensors[i]
		if strings.HasSuffix(ti.Name, ".bias") {
			continue
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, src.TensorData(ti))
		if strings.HasSuffix(ti.Name, ".attn_norm.weight") {
			layer := strings.TrimSuffix(ti.Name, ".attn_norm.weight")
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
	path := filepath.Join(t.TempDir(), "qwen3.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch != "qwen3" || m.Layers[0].QNorm == nil || m.Layers[0].Bq != nil || m.HeadDim != hd {
		t.Fatalf("loaded as %s, q norm %v, q bias %v, head dim %d", m.Arch, m.Layers[0].QNorm != nil, m.Layers[0].Bq != nil, m.HeadDim)
	}
	for _, prompt := range [][]int32{{1, 403, 407, 261, 378}, {1, 306, 329, 261, 282, 415, 302, 261, 287, 268, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309}} {
		s := m.NewState(64, 2)
		if err := s.UseKVF32(); err != nil {
			t.Fatal(err)
		}
		out, err := s.Forward(&Batch{Tokens: prompt})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Row(0)
		want := qwen3Reference(t, m, prompt)
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
}

// qwen3Reference is Qwen3's forward pass in float64, written from its
// definition: RMSNorm, Q/K/V without bias, per-head RMSNorm of q and k,
// Neox RoPE, causal grouped-query attention, SwiGLU, tied output.
func qwen3Reference(t *testing.T, m *Model, prompt []int32) []float64 {
	f := m.File
	get := func(name string) ([]float64, []uint64) {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		v := make([]float32, ti.Elements())
		tensor.Dequantize(ti.Type, f.TensorData(ti), v)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, ti.Dims
	}
	matvec := func(w []float64, dims []uint64, x []float64) []float64 {
		cols, rows := int(dims[0]), int(dims[1])
		y := make([]float64, rows)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				y[r] += w[r*cols+c] * x[c]
			}
		}
		return y
	}
	eps := float64(m.NormEps)
	rms := func(x, w []float64) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		sc := 1 / math.Sqrt(ss/float64(len(x))+eps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * sc * w[i]
		}
		return y
	}
	hd, H, KVH, n := m.HeadDim, m.Heads, m.KVHeads, len(prompt)
	embd, _ := get("token_embd.weight")
	xs := make([][]float64, n)
	for i, id := range prompt {
		xs[i] = append([]float64(nil), embd[int(id)*m.Dim:(int(id)+1)*m.Dim]...)
	}
	rope := func(v []float64, pos int) {
		for j := 0; j < hd/2; j++ {
			th := float64(pos) * math.Pow(m.Rope.Base, -2*float64(j)/float64(hd))
			a, b := v[j], v[j+hd/2]
			v[j], v[j+hd/2] = a*math.Cos(th)-b*math.Sin(th), a*math.Sin(th)+b*math.Cos(th)
		}
	}
	for l := 0; l < m.NLayers; l++ {
		p := "blk." + itoa(l) + "."
		an, _ := get(p + "attn_norm.weight")
		wq, dq := get(p + "attn_q.weight")
		wk, dk := get(p + "attn_k.weight")
		wv, dv := get(p + "attn_v.weight")
		wo, do := get(p + "attn_output.weight")
		qn, _ := get(p + "attn_q_norm.weight")
		kn, _ := get(p + "attn_k_norm.weight")
		fn, _ := get(p + "ffn_norm.weight")
		wg, dg := get(p + "ffn_gate.weight")
		wu, du := get(p + "ffn_up.weight")
		wd, dd := get(p + "ffn_down.weight")
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range xs {
			h := rms(xs[i], an)
			qs[i], ks[i], vs[i] = matvec(wq, dq, h), matvec(wk, dk, h), matvec(wv, dv, h)
			for hh := 0; hh < H; hh++ {
				copy(qs[i][hh*hd:], rms(qs[i][hh*hd:(hh+1)*hd], qn))
				rope(qs[i][hh*hd:(hh+1)*hd], i)
			}
			for hh := 0; hh < KVH; hh++ {
				copy(ks[i][hh*hd:], rms(ks[i][hh*hd:(hh+1)*hd], kn))
				rope(ks[i][hh*hd:(hh+1)*hd], i)
			}
		}
		for i := range xs {
			att := make([]float64, H*hd)
			for hh := 0; hh < H; hh++ {
				g := hh / (H / KVH)
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					for e := 0; e < hd; e++ {
						sc[j] += qs[i][hh*hd+e] * ks[j][g*hd+e]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				sum := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for e := 0; e < hd; e++ {
						att[hh*hd+e] += sc[j] / sum * vs[j][g*hd+e]
					}
				}
			}
			o := matvec(wo, do, att)
			for e := range xs[i] {
				xs[i][e] += o[e]
			}
			h := rms(xs[i], fn)
			gt, up := matvec(wg, dg, h), matvec(wu, du, h)
			for e := range gt {
				gt[e] = gt[e] / (1 + math.Exp(-gt[e])) * up[e]
			}
			dn := matvec(wd, dd, gt)
			for e := range xs[i] {
				xs[i][e] += dn[e]
			}
		}
	}
	on, _ := get("output_norm.weight")
	out, dims := get("token_embd.weight")
	if _, ok := f.Tensor("output.weight"); ok {
		out, dims = get("output.weight")
	}
	return matvec(out, dims, rms(xs[n-1], on))
}
