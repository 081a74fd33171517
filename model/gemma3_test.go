package model

import (
	"math"
	"strings"
	"testing"
)

// TestGemma3AgainstFloat64: there is no llama.cpp reference for gemma3
// here, so the gemma2 conformance model (26 layers) is re-expressed as a
// gemma3 one: soft-capping dropped, per-head q and k norm weights added, a
// sliding window of 4 on all layers but every sixth (5, 11, 17, 23), the
// global layers' RoPE with base 1e6 and linear scaling by 8, the local
// ones' at the default base 10000 unscaled. s4c's forward pass is held to
// a plain float64 implementation of Gemma 3's published definition
// written in this test: last-position logits within 1e-3 of their range,
// for prompts shorter and longer than the window. The test also fails if
// the local and global layers' RoPE are swapped or the window ignored.
func TestGemma3AgainstFloat64(t *testing.T) {
	path := reexpress(t, "gemma2", "gemma3",
		func(key string) bool {
			return !strings.HasSuffix(key, "softcapping") && key != "attention.sliding_window" && key != "rope.freq_base"
		},
		map[string]any{"attention.sliding_window": uint32(4), "rope.freq_base": float32(1e6), "rope.scaling.type": "linear", "rope.scaling.factor": float32(8)},
		func(string) bool { return true }, 32, 9)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch != "gemma3" || m.AttnSoftcap != 0 || m.FinalSoftcap != 0 || m.RopeSWA == nil || m.Layers[0].QNorm == nil ||
		!m.Layers[4].Windowed || m.Layers[5].Windowed || !m.Layers[6].Windowed || m.Layers[23].Windowed {
		t.Fatalf("loaded as %s: softcaps %v %v, local RoPE %v, q norm %v, windowed 4/5/6/23: %v %v %v %v", m.Arch, m.AttnSoftcap, m.FinalSoftcap,
			m.RopeSWA != nil, m.Layers[0].QNorm != nil, m.Layers[4].Windowed, m.Layers[5].Windowed, m.Layers[6].Windowed, m.Layers[23].Windowed)
	}
	for _, prompt := range [][]int32{{2, 403, 407}, {2, 306, 329, 261, 282, 415, 302, 261, 287, 268, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309}} {
		checkAgainstFloat64(t, m, prompt, gemma3Reference(t, m, prompt))
	}
}

// gemma3Reference is Gemma 3's forward pass in float64, written from its
// definition: embeddings times sqrt(dim); per block RMSNorm, Q/K/V, per-head
// RMSNorm of q and k, Neox RoPE (local layers base 10000 unscaled, global
// ones the model's base and linear scaling), q·k/sqrt(head_dim), a causal
// mask and on local layers a window, attention output RMS-normalised
// before the residual add; RMSNorm, GeGLU with the tanh GELU, the FFN
// output RMS-normalised before the residual add; final RMSNorm and the
// (tied) output.
func gemma3Reference(t *testing.T, m *Model, prompt []int32) []float64 {
	r := ref64{t, m, float64(m.NormEps)}
	get, rms := r.get, r.rms
	const window, pattern = 4, 6
	hd, H, KVH, n := m.HeadDim, m.Heads, m.KVHeads, len(prompt)
	embd, _ := get("token_embd.weight")
	xs := make([][]float64, n)
	for i, id := range prompt {
		xs[i] = append([]float64(nil), embd[int(id)*m.Dim:(int(id)+1)*m.Dim]...)
		for e := range xs[i] {
			xs[i][e] *= math.Sqrt(float64(m.Dim))
		}
	}
	rope := ropeNeox
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	for l := 0; l < m.NLayers; l++ {
		local := l%pattern < pattern-1
		base, scale := 1e6, 1.0/8
		if local {
			base, scale = 10000, 1
		}
		p := "blk." + itoa(l) + "."
		an, _ := get(p + "attn_norm.weight")
		wq, dq := get(p + "attn_q.weight")
		wk, dk := get(p + "attn_k.weight")
		wv, dv := get(p + "attn_v.weight")
		wo, do := get(p + "attn_output.weight")
		qn, _ := get(p + "attn_q_norm.weight")
		kn, _ := get(p + "attn_k_norm.weight")
		pan, _ := get(p + "post_attention_norm.weight")
		fn, _ := get(p + "ffn_norm.weight")
		wg, dg := get(p + "ffn_gate.weight")
		wu, du := get(p + "ffn_up.weight")
		wd, dd := get(p + "ffn_down.weight")
		pfn, _ := get(p + "post_ffw_norm.weight")
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range xs {
			h := rms(xs[i], an)
			qs[i], ks[i], vs[i] = matvec(wq, dq, h), matvec(wk, dk, h), matvec(wv, dv, h)
			for hh := 0; hh < H; hh++ {
				copy(qs[i][hh*hd:], rms(qs[i][hh*hd:(hh+1)*hd], qn))
				rope(qs[i][hh*hd:(hh+1)*hd], i, base, scale)
			}
			for hh := 0; hh < KVH; hh++ {
				copy(ks[i][hh*hd:], rms(ks[i][hh*hd:(hh+1)*hd], kn))
				rope(ks[i][hh*hd:(hh+1)*hd], i, base, scale)
			}
		}
		for i := range xs {
			att := make([]float64, H*hd)
			first := 0
			if local {
				first = max(0, i-window+1)
			}
			for hh := 0; hh < H; hh++ {
				g := hh / (H / KVH)
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := first; j <= i; j++ {
					for e := 0; e < hd; e++ {
						sc[j] += qs[i][hh*hd+e] * ks[j][g*hd+e]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				sum := 0.0
				for j := first; j <= i; j++ {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := first; j <= i; j++ {
					for e := 0; e < hd; e++ {
						att[hh*hd+e] += sc[j] / sum * vs[j][g*hd+e]
					}
				}
			}
			o := rms(matvec(wo, do, att), pan)
			for e := range xs[i] {
				xs[i][e] += o[e]
			}
			h := rms(xs[i], fn)
			gt, up := matvec(wg, dg, h), matvec(wu, du, h)
			for e := range gt {
				gt[e] = gelu(gt[e]) * up[e]
			}
			dn := rms(matvec(wd, dd, gt), pfn)
			for e := range xs[i] {
				xs[i][e] += dn[e]
			}
		}
	}
	return r.output(xs[n-1])
}
