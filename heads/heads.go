// Package heads holds S^4C's draft heads: K small residual blocks on the
// target model's last hidden state that draft K future tokens as one
// coherent phrase.
//
// Head k reads the state left by head k-1 and the embedding of the token
// drafted just before it, so every draft is conditioned on the target's own
// features (semantic coherence) and on the draft tokens before it
// (syntactic coherence):
//
//	s_0 = h                                   target's final hidden state at the last accepted token
//	s_k = s_{k-1} + SiLU(W_k [s_{k-1}; E(x_k)] + c_k)
//	p_k = softmax(LMHead(RMSNorm(s_k)))       distribution of the token after x_k
//
// x_1 is the token the target chose after h; x_k (k > 1) is the token drafted
// from p_{k-1}. E, RMSNorm's weight and LMHead are the target's own frozen
// embedding, output norm and output layer. Medusa's heads, by contrast, are
// independent guesses from h alone.
package heads

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"s4c/gguf"
	"s4c/model"
	"s4c/tensor"
)

// Arch is the general.architecture of a heads file.
const Arch = "s4c-heads"

// Heads is a set of K draft heads for one target model.
type Heads struct {
	K, Dim int
	W      [][]float32 // per head: Dim rows × 2·Dim columns, row-major
	B      [][]float32 // per head: Dim
	Base   string      // fingerprint of the target model
	Report map[string]string

	mats []*tensor.Mat
}

// New makes K heads for m with small random weights (seeded). Untrained
// heads draft poorly but decoding with them is still exact.
func New(m *model.Model, k int, seed uint64) *Heads {
	h := &Heads{K: k, Dim: m.Dim, Base: m.Fingerprint(), Report: map[string]string{}}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	scale := 0.5 / math.Sqrt(float64(2*m.Dim))
	for i := 0; i < k; i++ {
		w := make([]float32, m.Dim*2*m.Dim)
		for j := range w {
			w[j] = float32(rng.NormFloat64() * scale)
		}
		h.W = append(h.W, w)
		h.B = append(h.B, make([]float32, m.Dim))
	}
	h.build()
	return h
}

func (h *Heads) build() {
	h.mats = h.mats[:0]
	for _, w := range h.W {
		data, _ := tensor.Quantize(gguf.F32, w)
		m, _ := tensor.NewMat(gguf.F32, h.Dim, 2*h.Dim, data)
		h.mats = append(h.mats, m)
	}
}

// Rebuild refreshes the compute form after W was changed in place (training).
func (h *Heads) Rebuild() { h.build() }

// Step applies head k (0-based) to n (state, token) pairs: for each i,
// out_i = s_i + SiLU(W_k [s_i; E(x_i)] + c_k). s and out are n×Dim.
func (h *Heads) Step(m *model.Model, k int, s []float32, toks []int32, out []float32, p *tensor.Pool) {
	d := h.Dim
	n := len(toks)
	in := make([]float32, n*2*d)
	for i, t := range toks {
		copy(in[i*2*d:], s[i*d:(i+1)*d])
		m.Embed.RowF32(int(t), in[i*2*d+d:(i+1)*2*d])
	}
	u := make([]float32, n*d)
	h.mats[k].Mul(u, in, n, p)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			out[i*d+j] = s[i*d+j] + tensor.SiLU(u[i*d+j]+h.B[k][j])
		}
	}
}

// Logits computes LMHead(RMSNorm(s)) for n states (n×Vocab out).
func Logits(m *model.Model, s []float32, n int, out []float32, p *tensor.Pool) {
	normed := make([]float32, n*m.Dim)
	for i := 0; i < n; i++ {
		tensor.RMSNorm(normed[i*m.Dim:(i+1)*m.Dim], s[i*m.Dim:(i+1)*m.Dim], m.OutNorm, m.NormEps)
	}
	m.Output.Mul(out, normed, n, p)
}

// Save writes the heads as a GGUF file of architecture s4c-heads.
func (h *Heads) Save(path string) error {
	w := gguf.NewWriter()
	w.Set("general.architecture", Arch)
	w.Set("general.name", "S^4C draft heads")
	w.Set("s4c-heads.count", uint32(h.K))
	w.Set("s4c-heads.embedding_length", uint32(h.Dim))
	w.Set("s4c-heads.base_fingerprint", h.Base)
	for k, v := range h.Report {
		w.Set("s4c-heads.report."+k, v)
	}
	for k := 0; k < h.K; k++ {
		wd, _ := tensor.Quantize(gguf.F32, h.W[k])
		if err := w.AddTensor(fmt.Sprintf("head.%d.weight", k), gguf.F32, []uint64{uint64(2 * h.Dim), uint64(h.Dim)}, wd); err != nil {
			return err
		}
		bd, _ := tensor.Quantize(gguf.F32, h.B[k])
		if err := w.AddTensor(fmt.Sprintf("head.%d.bias", k), gguf.F32, []uint64{uint64(h.Dim)}, bd); err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

// Load reads a heads file and checks it belongs to model m.
func Load(path string, m *model.Model) (*Heads, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if a, _ := f.String("general.architecture"); a != Arch {
		return nil, fmt.Errorf("%s: architecture %q, want %q (not a draft-heads file; make one with 's4c heads train')", path, a, Arch)
	}
	k, ok1 := f.Uint("s4c-heads.count")
	d, ok2 := f.Uint("s4c-heads.embedding_length")
	base, ok3 := f.String("s4c-heads.base_fingerprint")
	if !ok1 || !ok2 || !ok3 || k == 0 || k > 64 {
		return nil, fmt.Errorf("%s: missing or bad s4c-heads.count / embedding_length / base_fingerprint", path)
	}
	if int(d) != m.Dim {
		return nil, fmt.Errorf("%s: heads are for a model of width %d, this model has %d", path, d, m.Dim)
	}
	if fp := m.Fingerprint(); fp != base {
		return nil, fmt.Errorf("%s: these heads were trained for another model (fingerprint %.12s…, this model is %.12s…); train heads for it with 's4c heads train'", path, base, fp)
	}
	h := &Heads{K: int(k), Dim: int(d), Base: base, Report: map[string]string{}}
	for _, kv := range f.KV {
		if s, ok := kv.Value.(string); ok && len(kv.Key) > len("s4c-heads.report.") && kv.Key[:len("s4c-heads.report.")] == "s4c-heads.report." {
			h.Report[kv.Key[len("s4c-heads.report."):]] = s
		}
	}
	for i := 0; i < h.K; i++ {
		wt, ok := f.Tensor("head." + strconv.Itoa(i) + ".weight")
		bt, ok2 := f.Tensor("head." + strconv.Itoa(i) + ".bias")
		if !ok || !ok2 || wt.Elements() != uint64(2*h.Dim*h.Dim) || bt.Elements() != uint64(h.Dim) || !tensor.Supported(wt.Type) || !tensor.Supported(bt.Type) {
			return nil, fmt.Errorf("%s: head %d tensors missing or of the wrong shape", path, i)
		}
		w := make([]float32, wt.Elements())
		tensor.Dequantize(wt.Type, f.TensorData(wt), w)
		b := make([]float32, bt.Elements())
		tensor.Dequantize(bt.Type, f.TensorData(bt), b)
		h.W = append(h.W, w)
		h.B = append(h.B, b)
	}
	h.build()
	return h, nil
}
