package convert

import (
	"fmt"
	"math"
	"strings"

	"s4c/gguf"
	"s4c/model"
	"s4c/tensor"
	"s4c/tokenizer"
)

// Inflate writes a model of shape s that computes exactly the function of
// the small model m (same vocabulary, same logits up to rounding), with the
// size and cost of s:
//
//   - the small residual stream lives in the first d of D dimensions; every
//     weight that writes into the other D-d dimensions is zero, so they stay
//     zero;
//   - RMSNorm weights are scaled by sqrt(d/D) and eps by d/D, which makes the
//     norm of the padded vector equal the small one;
//   - small query head i (group size g) goes to big head (i/g)·G + i%g, in
//     the group of the same kv head; inside a head, rotary pair p goes to
//     pair p·HD/hd so its frequency is unchanged, and Wq is scaled by
//     sqrt(HD/hd) to keep the 1/sqrt(head_dim) softmax scale; key rows of the
//     other dimensions are zero;
//   - the FFN is padded with zero down-projection columns; layers beyond the
//     small depth are identities (zero attention output and FFN down
//     weights);
//   - everything that does not touch the function gets realistic random
//     values, so no kernel sees all-zero tensors;
//   - with s.Vocab above the small vocabulary, the extra tokens (unused
//     tokens <extra_i>, never produced by encoding) get random embeddings
//     and output rows that the model never prefers: the last dimension c
//     of the residual stream carries a tiny constant set by every
//     embedding (2^-14, whose square is lost in any float32 sum of the
//     real dimensions' squares, so the norms are unchanged), which no layer
//     reads (weight 0 in the attention and FFN norms) or writes, and which
//     the output norm scales up (2^14): every extra token's output row
//     holds -extraLogit there, the real tokens' rows 0. Drafting and
//     training costs can then be measured at real vocabulary sizes
//     (32000, 128256) with the small model's exact greedy behaviour.
func Inflate(path string, m *model.Model, s Shape, typ gguf.TensorType, seed uint64, progress func(done, total int64)) error {
	if !tensor.Quantizable(typ) {
		return tensor.ErrNotWritable{Type: typ}
	}
	d, D := m.Dim, s.Dim
	hd, HD := m.HeadDim, s.HeadDim()
	g, G := m.Heads/m.KVHeads, s.Heads/s.KVHeads
	switch {
	case D < d || s.Layers < m.NLayers || s.FFN < m.FFN || s.KVHeads < m.KVHeads || G < g:
		return fmt.Errorf("shape %s (dim %d, %d layers, ffn %d, %d kv heads, group %d) cannot hold the model (dim %d, %d layers, ffn %d, %d kv heads, group %d)",
			s.Name, D, s.Layers, s.FFN, s.KVHeads, G, d, m.NLayers, m.FFN, m.KVHeads, g)
	case HD%hd != 0:
		return fmt.Errorf("big head size %d is not a multiple of the small head size %d", HD, hd)
	case m.Rope.Dims != hd || m.Rope.Neox || m.Rope.Factors != nil || m.Rope.FreqScale != 1:
		return fmt.Errorf("inflate needs plain full-head rotary embeddings (this model: %d of %d dims)", m.Rope.Dims, hd)
	}
	V, Vs := s.Vocab, m.Vocab
	if V == 0 {
		V = Vs
	}
	switch {
	case V < Vs:
		return fmt.Errorf("vocabulary of %d tokens cannot hold the model's %d", V, Vs)
	case V > Vs && D == d:
		return fmt.Errorf("a larger vocabulary (%d tokens for %d) needs a wider shape than the model's width %d: its extra tokens are kept out by a spare dimension", V, Vs, d)
	}
	var tk *tokenizer.Tokenizer
	if V > Vs {
		var err error
		if tk, err = tokenizer.FromGGUF(m.File); err != nil {
			return fmt.Errorf("extending the vocabulary: %w", err)
		}
		if len(tk.Tokens) != Vs {
			return fmt.Errorf("the model has %d output rows but %d tokens", Vs, len(tk.Tokens))
		}
	}
	c := D - 1 // the spare dimension of a larger vocabulary (see above)
	const (
		spare      = 1.0 / (1 << 14) // its value in every embedding
		spareScale = 1 << 14         // its output-norm weight
		extraLogit = 6e4             // minus the extra tokens' output weight on it
	)
	r := HD / hd
	mapDim := func(e int) int { return 2*(e/2)*r + e%2 }
	// Small weights as float32.
	get := func(mt *tensor.Mat) []float32 {
		v := make([]float32, mt.Rows*mt.Cols)
		for i := 0; i < mt.Rows; i++ {
			mt.RowF32(i, v[i*mt.Cols:(i+1)*mt.Cols])
		}
		return v
	}
	// bigHead -> small head (or -1); big (kv head, dim) -> small dim (or -1).
	smallHead := make([]int, s.Heads)
	for i := range smallHead {
		smallHead[i] = -1
	}
	for i := 0; i < m.Heads; i++ {
		smallHead[(i/g)*G+i%g] = i
	}
	smallDim := make([]int, HD)
	for i := range smallDim {
		smallDim[i] = -1
	}
	for e := 0; e < hd; e++ {
		smallDim[mapDim(e)] = e
	}
	normScale := float32(math.Sqrt(float64(d) / float64(D)))
	qScale := float32(math.Sqrt(float64(HD) / float64(hd)))

	w := gguf.NewWriter()
	name, _ := m.File.String("general.name")
	llamaKV(w, fmt.Sprintf("%s inflated to %s", name, s.Name), s, m.NormEps*float32(d)/float32(D))
	w.Set("llama.context_length", uint32(m.CtxLen))
	w.Set("llama.rope.freq_base", float32(m.Rope.Base))
	w.Set("general.file_type", uint32(typ))
	w.CopyKV(m.File, func(k string) bool { return !strings.HasPrefix(k, "tokenizer.") })
	if V > Vs {
		toks := append([]string(nil), tk.Tokens...)
		types := append([]int32(nil), tk.Types...)
		for i := Vs; i < V; i++ {
			toks = append(toks, fmt.Sprintf("<extra_%d>", i-Vs))
			types = append(types, tokenizer.TypeUnused)
		}
		w.Set("tokenizer.ggml.tokens", toks)
		w.Set("tokenizer.ggml.token_type", types)
		if tk.Scores != nil {
			low := float32(0)
			for _, x := range tk.Scores {
				low = min(low, x)
			}
			scores := append([]float32(nil), tk.Scores...)
			for i := Vs; i < V; i++ {
				scores = append(scores, low-1)
			}
			w.Set("tokenizer.ggml.scores", scores)
		}
	}
	var specs []tensorSpec
	add := func(name string, cols, rows int, row func(r int, dst []float32)) {
		dims := []uint64{uint64(cols), uint64(rows)}
		if rows == 0 {
			dims = dims[:1]
		}
		specs = append(specs, tensorSpec{name: name, dims: dims, typ: pickType(typ, dims), row: row})
	}
	idx := func() int { return len(specs) } // seeds random rows per tensor
	// Row helpers: small values in the first d columns, then random or zeros.
	withSmall := func(t int, small []float32, scale float32, zeroRest bool) func(r int, dst []float32) {
		return func(r int, dst []float32) {
			if zeroRest {
				clear(dst)
			} else {
				randRow(seed, t, r, 0, 0.02, dst)
			}
			if small != nil {
				for c := 0; c < d; c++ {
					dst[c] = small[c] * scale
				}
			}
		}
	}
	// norm is a layer's norm weight (the spare dimension unread), outNorm
	// the output norm's (the spare dimension scaled up).
	norm := func(small []float32) func(r int, dst []float32) {
		return func(_ int, dst []float32) {
			for i := range dst {
				dst[i] = normScale
			}
			for i := 0; i < d; i++ {
				dst[i] = small[i] * normScale
			}
			if V > Vs {
				dst[c] = 0
			}
		}
	}
	outNorm := func(small []float32) func(r int, dst []float32) {
		return func(r int, dst []float32) {
			norm(small)(r, dst)
			if V > Vs {
				dst[c] = spareScale
			}
		}
	}
	emb := get(m.Embed)
	tEmb := idx()
	add("token_embd.weight", D, V, func(r int, dst []float32) {
		clear(dst)
		if r < Vs {
			copy(dst[:d], emb[r*d:(r+1)*d])
		} else {
			randRow(seed, tEmb, r, 0, 0.02, dst[:d])
		}
		if V > Vs {
			dst[c] = spare
		}
	})
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if l >= m.NLayers { // identity layer
			ones := make([]float32, d)
			for i := range ones {
				ones[i] = 1
			}
			add(p+"attn_norm.weight", D, 0, norm(ones))
			t := idx()
			add(p+"attn_q.weight", D, s.Heads*HD, withSmall(t, nil, 0, false))
			t = idx()
			add(p+"attn_k.weight", D, s.KVHeads*HD, withSmall(t, nil, 0, false))
			t = idx()
			add(p+"attn_v.weight", D, s.KVHeads*HD, withSmall(t, nil, 0, false))
			add(p+"attn_output.weight", s.Heads*HD, D, func(_ int, dst []float32) { clear(dst) })
			add(p+"ffn_norm.weight", D, 0, norm(ones))
			t = idx()
			add(p+"ffn_gate.weight", D, s.FFN, withSmall(t, nil, 0, false))
			t = idx()
			add(p+"ffn_up.weight", D, s.FFN, withSmall(t, nil, 0, false))
			add(p+"ffn_down.weight", s.FFN, D, func(_ int, dst []float32) { clear(dst) })
			continue
		}
		L := &m.Layers[l]
		wq, wk, wv, wo := get(L.Wq), get(L.Wk), get(L.Wv), get(L.Wo)
		gate, up, down := get(L.FFNGate), get(L.FFNUp), get(L.FFNDown)
		add(p+"attn_norm.weight", D, 0, norm(L.AttnNorm))
		t := idx()
		add(p+"attn_q.weight", D, s.Heads*HD, func(row int, dst []float32) {
			H, E := row/HD, row%HD
			if i, e := smallHead[H], smallDim[E]; i >= 0 && e >= 0 {
				sr := i*hd + e
				withSmall(t, wq[sr*d:(sr+1)*d], qScale, false)(row, dst)
				return
			}
			randRow(seed, t, row, 0, 0.02, dst)
		})
		t = idx()
		add(p+"attn_k.weight", D, s.KVHeads*HD, func(row int, dst []float32) {
			J, E := row/HD, row%HD
			switch {
			case J >= m.KVHeads:
				randRow(seed, t, row, 0, 0.02, dst)
			case smallDim[E] >= 0:
				sr := J*hd + smallDim[E]
				withSmall(t, wk[sr*d:(sr+1)*d], 1, false)(row, dst)
			default:
				clear(dst) // keys of unmapped dims: zero, so they add nothing to q·k
			}
		})
		t = idx()
		add(p+"attn_v.weight", D, s.KVHeads*HD, func(row int, dst []float32) {
			J, E := row/HD, row%HD
			if J < m.KVHeads && smallDim[E] >= 0 {
				sr := J*hd + smallDim[E]
				withSmall(t, wv[sr*d:(sr+1)*d], 1, false)(row, dst)
				return
			}
			randRow(seed, t, row, 0, 0.02, dst)
		})
		add(p+"attn_output.weight", s.Heads*HD, D, func(row int, dst []float32) {
			clear(dst)
			if row >= d {
				return
			}
			for H := 0; H < s.Heads; H++ {
				i := smallHead[H]
				if i < 0 {
					continue
				}
				for e := 0; e < hd; e++ {
					dst[H*HD+mapDim(e)] = wo[row*m.Heads*hd+i*hd+e]
				}
			}
		})
		add(p+"ffn_norm.weight", D, 0, norm(L.FFNNorm))
		t = idx()
		add(p+"ffn_gate.weight", D, s.FFN, func(row int, dst []float32) {
			if row < m.FFN {
				withSmall(t, gate[row*d:(row+1)*d], 1, false)(row, dst)
				return
			}
			randRow(seed, t, row, 0, 0.02, dst)
		})
		t = idx()
		add(p+"ffn_up.weight", D, s.FFN, func(row int, dst []float32) {
			if row < m.FFN {
				withSmall(t, up[row*d:(row+1)*d], 1, false)(row, dst)
				return
			}
			randRow(seed, t, row, 0, 0.02, dst)
		})
		add(p+"ffn_down.weight", s.FFN, D, func(row int, dst []float32) {
			clear(dst)
			if row < d {
				copy(dst[:m.FFN], down[row*m.FFN:(row+1)*m.FFN])
			}
		})
	}
	add("output_norm.weight", D, 0, outNorm(m.OutNorm))
	out := get(m.Output)
	t := idx()
	add("output.weight", D, V, func(row int, dst []float32) {
		if row >= Vs {
			randRow(seed, t, row, 0, 0.02, dst)
			dst[c] = -extraLogit
			return
		}
		withSmall(t, out[row*d:(row+1)*d], 1, false)(row, dst)
		if V > Vs {
			dst[c] = 0
		}
	})
	if err := addTensors(w, specs); err != nil {
		return err
	}
	w.Progress = progress
	return w.WriteFile(path)
}
