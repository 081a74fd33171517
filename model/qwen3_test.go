package model

import (
	"math"
	"strings"
	"testing"
)

// TestQwen3AgainstFloat64: there is no llama.cpp reference for qwen3 here,
// so the qwen2 conformance model is re-expressed as a qwen3 one (its
// biases dropped, per-head q and k norm weights added) and s4c's forward
// pass is held to a plain float64 implementation of Qwen3's published
// definition written in this test: last-position logits within 1e-3 of
// their range on every prompt.
func TestQwen3AgainstFloat64(t *testing.T) {
	hd := 32
	path := reexpress(t, "qwen2", "qwen3", func(string) bool { return true }, nil,
		func(name string) bool { return !strings.HasSuffix(name, ".bias") }, hd, 3)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch != "qwen3" || m.Layers[0].QNorm == nil || m.Layers[0].Bq != nil || m.HeadDim != hd {
		t.Fatalf("loaded as %s, q norm %v, q bias %v, head dim %d", m.Arch, m.Layers[0].QNorm != nil, m.Layers[0].Bq != nil, m.HeadDim)
	}
	for _, prompt := range [][]int32{{1, 403, 407, 261, 378}, {1, 306, 329, 261, 282, 415, 302, 261, 287, 268, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309}} {
		checkAgainstFloat64(t, m, prompt, qwen3Reference(t, m, prompt))
	}
}

// qwen3Reference is Qwen3's forward pass in float64, written from its
// definition: RMSNorm, Q/K/V without bias, per-head RMSNorm of q and k,
// Neox RoPE, causal grouped-query attention, SwiGLU, tied output.
func qwen3Reference(t *testing.T, m *Model, prompt []int32) []float64 {
	r := ref64{t, m, float64(m.NormEps)}
	get, rms := r.get, r.rms
	hd, H, KVH, n := m.HeadDim, m.Heads, m.KVHeads, len(prompt)
	embd, _ := get("token_embd.weight")
	xs := make([][]float64, n)
	for i, id := range prompt {
		xs[i] = append([]float64(nil), embd[int(id)*m.Dim:(int(id)+1)*m.Dim]...)
	}
	rope := func(v []float64, pos int) { ropeNeox(v, pos, m.Rope.Base, 1) }
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
	return r.output(xs[n-1])
}
