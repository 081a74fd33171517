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
//	s_k = s_{k-1} + V_k·SiLU(W_k [s_{k-1}; E(x_k)] + c_k)
//	p_k = softmax(LMHead(RMSNorm(s_k)))       distribution of the token after x_k
//
// x_1 is the token the target chose after h; x_k (k > 1) is the token drafted
// from p_{k-1}. E, RMSNorm's weight and LMHead are the target's own frozen
// embedding, output norm and output layer. W_k maps the 2·Dim input to a
// hidden layer of Hidden units and V_k back to the residual stream (with
// Hidden = Dim and V_k = I this is the one-layer form s + SiLU(W[s; E(x)] + c)).
// The hidden width is independent of Dim, so heads trained on a small model
// embed exactly into its inflated twin.
//
// Independent heads (Medusa's, the paper's coherence ablation) have the
// same shape but see neither the chain nor any token: head k computes
// s_k = h + V_k·SiLU(W_k [h; 0] + c_k) from the target's state alone, so
// its guess for position k cannot depend on what heads 1..k-1 drafted.
package heads

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"s4c/gguf"
	"s4c/model"
	"s4c/tensor"
)

// Arch is the general.architecture of a heads file.
const Arch = "s4c-heads"

// Head is one draft head's weights (row-major float32).
type Head struct {
	W1 []float32 // Hidden × 2·Dim
	B1 []float32 // Hidden
	W2 []float32 // Dim × Hidden
}

// Params lists the head's parameter tensors (for the optimiser).
func (h *Head) Params() [][]float32 { return [][]float32{h.W1, h.B1, h.W2} }

// Heads is a set of K draft heads for one target model.
type Heads struct {
	K, Dim, Hidden int
	H              []Head
	Base           string // fingerprint of the target model
	Report         map[string]string
	// Independent marks Medusa-style heads: each reads the target's state
	// h alone (no drafted tokens, no chain), so all K run once per round.
	Independent bool
	// DraftVocab, if set, are the only tokens the heads propose (ascending
	// ids): the most frequent of the training data. The heads' LM head is
	// then those rows of the target's output layer, so a draft step costs
	// V_d rows instead of the whole vocabulary (128256 for Llama 3:
	// 525 MB of F16 per step). Verification is unchanged, so decoding is as
	// lossless as with the whole vocabulary.
	DraftVocab []int32
	// Type is how W1 and W2 are stored in the file and multiplied when
	// drafting: F32 (what training writes; the compute form views the
	// weights in place) or F16, which halves the bytes a draft step reads
	// (the 1.1B twin's heads of 512 units: 50 MB a round in F32). H keeps
	// float32 values either way (F16 heads: the float16 values widened).
	Type gguf.TensorType

	w1, w2 []*tensor.Mat
	lm     *tensor.Mat // the draft vocabulary's output rows (nil: m.Output)
	lmOf   *tensor.Mat // the output layer lm was taken from
	index  []int32     // token id -> row of lm, -1 outside (nil: identity)
}

// stepBufs are the inputs and hidden activations of one Step (or the
// normed states of one Logits), reused (stepPool): fresh ones per call
// cost page faults and zeroing on every draft (a sixth of the drafting
// time on the 1.1B Q8_0 twin; Logits of 8 rows on the F16 twin took 340
// µs instead of 75).
type stepBufs struct{ in, u []float32 }

var stepPool sync.Pool // *stepBufs

// stepBuffers takes buffers from stepPool (give them back with Put).
func stepBuffers() *stepBufs {
	if b, ok := stepPool.Get().(*stepBufs); ok {
		return b
	}
	return &stepBufs{}
}

// PathFor is where a model's heads are looked for by default:
// MODEL.s4c.gguf beside MODEL.gguf.
func PathFor(modelPath string) string {
	return strings.TrimSuffix(modelPath, ".gguf") + ".s4c.gguf"
}

// IndependentPathFor is where a model's independent (Medusa-style) heads
// are looked for by default: MODEL.medusa.s4c.gguf beside MODEL.gguf.
func IndependentPathFor(modelPath string) string {
	return strings.TrimSuffix(modelPath, ".gguf") + ".medusa.s4c.gguf"
}

// DefaultHidden is the hidden width of new heads.
const DefaultHidden = 256

// MaxK and MaxHidden bound the head count and hidden width of a heads file
// (written or read).
const (
	MaxK      = 16
	MaxHidden = 1 << 16
)

// New makes K heads for m with seeded random input weights and zero output
// weights (so an untrained head leaves the state as it is). Untrained heads
// draft poorly but decoding with them is still exact.
func New(m *model.Model, k, hidden int, seed uint64) *Heads {
	h := &Heads{K: k, Dim: m.Dim, Hidden: hidden, Base: m.Fingerprint(), Report: map[string]string{}}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	scale := 1 / math.Sqrt(float64(2*m.Dim))
	for i := 0; i < k; i++ {
		hd := Head{W1: make([]float32, hidden*2*m.Dim), B1: make([]float32, hidden), W2: make([]float32, m.Dim*hidden)}
		for j := range hd.W1 {
			hd.W1[j] = float32(rng.NormFloat64() * scale)
		}
		h.H = append(h.H, hd)
	}
	h.build()
	return h
}

// Randomize gives the output weights small random values too (for tests
// of untrained heads that still change the state).
func (h *Heads) Randomize(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xa11))
	scale := 1 / math.Sqrt(float64(h.Hidden))
	for k := range h.H {
		for j := range h.H[k].W2 {
			h.H[k].W2[j] = float32(rng.NormFloat64() * scale)
		}
	}
	h.build()
}

// build makes the compute form: float32 matrices that view the heads'
// weights in place (no copy; float32 matrices keep no derived form), so
// weights changed in place are seen at once. Copying them after every
// optimiser step took half the training time on the 1.1B twin.
//
// F16 heads get float16 copies instead (their values are float16 already,
// so the copies are exact).
func (h *Heads) build() {
	h.w1, h.w2 = h.w1[:0], h.w2[:0]
	mat := func(rows, cols int, w []float32) *tensor.Mat {
		data := f32Bytes(w)
		if h.Type == gguf.F16 {
			data, _ = tensor.Quantize(gguf.F16, w)
		}
		m, _ := tensor.NewMat(h.weightType(), rows, cols, data)
		return m
	}
	for _, hd := range h.H {
		h.w1 = append(h.w1, mat(h.Hidden, 2*h.Dim, hd.W1))
		h.w2 = append(h.w2, mat(h.Dim, h.Hidden, hd.W2))
	}
}

// weightType is Type, F32 where unset.
func (h *Heads) weightType() gguf.TensorType {
	if h.Type == gguf.F16 {
		return gguf.F16
	}
	return gguf.F32
}

// SetType stores and multiplies W1 and W2 as t (F32 or F16); to F16, the
// weights are rounded to float16 in place.
func (h *Heads) SetType(t gguf.TensorType) error {
	if t != gguf.F32 && t != gguf.F16 {
		return fmt.Errorf("heads weights can be f32 or f16, not %s", t)
	}
	h.Type = t
	if t == gguf.F16 {
		for k := range h.H {
			for _, w := range [][]float32{h.H[k].W1, h.H[k].W2} {
				for i, x := range w {
					w[i] = tensor.F16ToF32(tensor.F32ToF16(x))
				}
			}
		}
	}
	h.build()
	return nil
}

// f32Bytes views float32s as the bytes of a GGUF F32 tensor (the engine
// reads GGUF data in place the same way: little-endian machines only).
func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// Step applies head k (0-based) to n (state, token) pairs: for each i,
// out_i = s_i + V_k·SiLU(W_k [s_i; E(x_i)] + c_k). s and out are n×Dim.
// Independent heads ignore the tokens (E(x_i) is replaced by zeros).
func (h *Heads) Step(m *model.Model, k int, s []float32, toks []int32, out []float32, p *tensor.Pool) {
	d, hid := h.Dim, h.Hidden
	n := len(toks)
	bufs := stepBuffers()
	defer stepPool.Put(bufs)
	if cap(bufs.in) < n*2*d || cap(bufs.u) < n*hid {
		bufs.in, bufs.u = make([]float32, n*2*d), make([]float32, n*hid)
	}
	in, u := bufs.in[:n*2*d], bufs.u[:n*hid]
	for i, t := range toks {
		h.input(m, s[i*d:(i+1)*d], t, in[i*2*d:(i+1)*2*d])
	}
	h.w1[k].Mul(u, in, n, p)
	b := h.H[k].B1
	for i := 0; i < n; i++ {
		tensor.Add(u[i*hid:(i+1)*hid], b)
	}
	tensor.SiLUs(u)
	h.w2[k].Mul(out, u, n, p)
	tensor.Add(out[:n*d], s[:n*d])
}

// input writes a head's input [s; E(x)] to in (2·Dim): the state and the
// embedding of the token before it, or zeros in its place for
// independent heads, which see no token.
func (h *Heads) input(m *model.Model, s []float32, x int32, in []float32) {
	copy(in, s)
	if h.Independent {
		clear(in[h.Dim:])
	} else {
		m.Embed.RowF32(int(x), in[h.Dim:])
	}
}

// rankOf is the rank of token id in logits z: how many tokens score
// strictly higher (0: the argmax).
func rankOf(z []float32, id int32) int {
	higher := 0
	for _, x := range z {
		if x > z[id] {
			higher++
		}
	}
	return higher
}

// Logits computes LMHead(RMSNorm(s)) for n states: n×Vocab(m) scores, of
// the draft vocabulary's tokens if the heads have one (Token maps a
// score's index to its token).
func (h *Heads) Logits(m *model.Model, s []float32, n int, out []float32, p *tensor.Pool) {
	bufs := stepBuffers()
	defer stepPool.Put(bufs)
	if cap(bufs.in) < n*m.Dim {
		bufs.in = make([]float32, n*m.Dim)
	}
	normed := bufs.in[:n*m.Dim]
	for i := 0; i < n; i++ {
		tensor.RMSNorm(normed[i*m.Dim:(i+1)*m.Dim], s[i*m.Dim:(i+1)*m.Dim], m.OutNorm, m.NormEps)
	}
	h.LMHead(m).Mul(out, normed, n, p)
}

// Vocab is the number of tokens the heads score: the draft vocabulary's,
// or the model's.
func (h *Heads) Vocab(m *model.Model) int {
	if h.DraftVocab != nil {
		return len(h.DraftVocab)
	}
	return m.Vocab
}

// Token is the token of score index i (see Logits).
func (h *Heads) Token(i int) int32 {
	if h.DraftVocab != nil {
		return h.DraftVocab[i]
	}
	return int32(i)
}

// Index is the score index of token id, or -1 if the heads never propose
// it (outside the draft vocabulary).
func (h *Heads) Index(m *model.Model, id int32) int {
	if h.DraftVocab == nil {
		return int(id)
	}
	if id < 0 || int(id) >= len(h.index) {
		return -1
	}
	return int(h.index[id])
}

// LMHead is the heads' output layer: m's, or its draft vocabulary's rows
// (gathered by SetDraftVocab, in the output layer's own tensor type, so
// they are multiplied by the same kernels; gathered anew, not kept, for
// another instance of the model).
func (h *Heads) LMHead(m *model.Model) *tensor.Mat {
	if h.DraftVocab == nil {
		return m.Output
	}
	if h.lmOf == m.Output {
		return h.lm
	}
	return gatherRows(m.Output, h.DraftVocab)
}

// gatherRows is the matrix of rows ids of o. Float rows (F32, F16, BF16)
// are stored as Q8_0: drafting reads the draft vocabulary's rows at every
// step, and at half the bytes of F16 (with the integer kernels) a draft
// of 8192 rows of width 2048 costs about half as much; what the heads
// propose only steers drafting, never what is emitted.
func gatherRows(o *tensor.Mat, ids []int32) *tensor.Mat {
	typ := o.Type
	if (typ == gguf.F32 || typ == gguf.F16 || typ == gguf.BF16) && o.Cols%32 == 0 {
		rows := make([]float32, len(ids)*o.Cols)
		for i, id := range ids {
			o.RowF32(int(id), rows[i*o.Cols:(i+1)*o.Cols])
		}
		data, err := tensor.Quantize(gguf.Q8_0, rows)
		if err == nil {
			if lm, err := tensor.NewMat(gguf.Q8_0, len(ids), o.Cols, data); err == nil {
				return lm
			}
		}
	}
	rb := len(o.Row(0))
	data := make([]byte, 0, len(ids)*rb)
	for _, id := range ids {
		data = append(data, o.Row(int(id))...)
	}
	lm, err := tensor.NewMat(typ, len(ids), o.Cols, data)
	if err != nil {
		panic(fmt.Sprintf("heads: draft vocabulary rows: %v", err)) // rows of a valid matrix
	}
	return lm
}

// SetDraftVocab makes the heads propose only the tokens ids (any order,
// no repeats, each below m's vocabulary size); nil restores the whole
// vocabulary.
func (h *Heads) SetDraftVocab(m *model.Model, ids []int32) error {
	if ids == nil {
		h.DraftVocab, h.lm, h.lmOf, h.index = nil, nil, nil, nil
		return nil
	}
	v := append([]int32(nil), ids...)
	slices.Sort(v)
	for i, id := range v {
		if id < 0 || int(id) >= m.Vocab {
			return fmt.Errorf("draft vocabulary: token %d is outside the model's %d", id, m.Vocab)
		}
		if i > 0 && v[i-1] == id {
			return fmt.Errorf("draft vocabulary: token %d twice", id)
		}
	}
	if len(v) == 0 {
		return fmt.Errorf("draft vocabulary: no tokens")
	}
	index := make([]int32, m.Vocab)
	for i := range index {
		index[i] = -1
	}
	for i, id := range v {
		index[id] = int32(i)
	}
	h.DraftVocab, h.index, h.lm, h.lmOf = v, index, gatherRows(m.Output, v), m.Output
	return nil
}

// FrequentTokens are the n tokens that occur most often in texts (ties by
// lower id), with always the ones in keep (end-of-generation tokens): a
// draft vocabulary.
func FrequentTokens(texts [][]int32, vocab, n int, keep []int32) []int32 {
	count := make([]int, vocab)
	for _, t := range texts {
		for _, id := range t {
			if id >= 0 && int(id) < vocab {
				count[id]++
			}
		}
	}
	ids := make([]int32, vocab)
	for i := range ids {
		ids[i] = int32(i)
	}
	slices.SortStableFunc(ids, func(a, b int32) int { return count[b] - count[a] })
	out := map[int32]bool{}
	for _, id := range keep {
		if id >= 0 && int(id) < vocab {
			out[id] = true
		}
	}
	for _, id := range ids {
		if len(out) >= n {
			break
		}
		out[id] = true
	}
	v := make([]int32, 0, len(out))
	for id := range out {
		v = append(v, id)
	}
	slices.Sort(v)
	return v
}

// Save writes the heads as a GGUF file of architecture s4c-heads.
func (h *Heads) Save(path string) error {
	if h.K < 1 || h.K > MaxK || h.Hidden < 1 || h.Hidden > MaxHidden {
		return fmt.Errorf("heads: %d heads of %d hidden units cannot be saved (want 1..%d heads, 1..%d units)", h.K, h.Hidden, MaxK, MaxHidden)
	}
	if err := h.checkFinite(); err != nil {
		return fmt.Errorf("heads not saved to %s: %w", path, err)
	}
	w := gguf.NewWriter()
	w.Set("general.architecture", Arch)
	w.Set("general.name", "S^4C draft heads")
	w.Set("s4c-heads.count", uint32(h.K))
	w.Set("s4c-heads.embedding_length", uint32(h.Dim))
	w.Set("s4c-heads.base_fingerprint", h.Base)
	for k, v := range h.Report {
		w.Set("s4c-heads.report."+k, v)
	}
	w.Set("s4c-heads.hidden_length", uint32(h.Hidden))
	if h.Independent {
		w.Set("s4c-heads.independent", true)
	}
	if h.DraftVocab != nil {
		w.Set("s4c-heads.draft_vocab", h.DraftVocab)
	}
	for k, hd := range h.H {
		for _, t := range []struct {
			name string
			v    []float32
			dims []uint64
		}{
			{"w1", hd.W1, []uint64{uint64(2 * h.Dim), uint64(h.Hidden)}},
			{"b1", hd.B1, []uint64{uint64(h.Hidden)}},
			{"w2", hd.W2, []uint64{uint64(h.Hidden), uint64(h.Dim)}},
		} {
			typ := h.weightType()
			if t.name == "b1" {
				typ = gguf.F32
			}
			data, _ := tensor.Quantize(typ, t.v)
			if err := w.AddTensor(fmt.Sprintf("head.%d.%s", k, t.name), typ, t.dims, data); err != nil {
				return err
			}
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
	if !ok1 || !ok2 || !ok3 || k == 0 || k > MaxK {
		return nil, fmt.Errorf("%s: missing or bad s4c-heads.count / embedding_length / base_fingerprint", path)
	}
	if int(d) != m.Dim {
		return nil, fmt.Errorf("%s: heads are for a model of width %d, this model has %d", path, d, m.Dim)
	}
	if fp := m.Fingerprint(); fp != base {
		return nil, fmt.Errorf("%s: these heads were trained for another model (fingerprint %.12s…, this model is %.12s…); train heads for it with 's4c heads train'", path, base, fp)
	}
	hid, ok := f.Uint("s4c-heads.hidden_length")
	if !ok || hid == 0 || hid > MaxHidden {
		return nil, fmt.Errorf("%s: missing or bad s4c-heads.hidden_length", path)
	}
	h := &Heads{K: int(k), Dim: int(d), Hidden: int(hid), Base: base, Report: map[string]string{}}
	h.Independent, _ = f.Bool("s4c-heads.independent")
	const rp = "s4c-heads.report."
	for _, kv := range f.KV {
		if s, ok := kv.Value.(string); ok && strings.HasPrefix(kv.Key, rp) {
			h.Report[kv.Key[len(rp):]] = s
		}
	}
	allF16 := true
	for i := 0; i < h.K; i++ {
		var hd Head
		for _, t := range []struct {
			name string
			dst  *[]float32
			n    int
		}{{"w1", &hd.W1, h.Hidden * 2 * h.Dim}, {"b1", &hd.B1, h.Hidden}, {"w2", &hd.W2, h.Dim * h.Hidden}} {
			ti, ok := f.Tensor("head." + strconv.Itoa(i) + "." + t.name)
			if !ok || ti.Elements() != uint64(t.n) || !tensor.Supported(ti.Type) {
				return nil, fmt.Errorf("%s: tensor head.%d.%s missing or of the wrong shape", path, i, t.name)
			}
			*t.dst = make([]float32, t.n)
			tensor.Dequantize(ti.Type, f.TensorData(ti), *t.dst)
			if t.name != "b1" && ti.Type != gguf.F16 {
				allF16 = false
			}
		}
		h.H = append(h.H, hd)
	}
	if allF16 {
		h.Type = gguf.F16 // drafts multiply float16 weights, as stored
	}
	if err := h.checkFinite(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a, ok := f.Array("s4c-heads.draft_vocab"); ok {
		ids, ok := a.Values.([]int32)
		if !ok {
			return nil, fmt.Errorf("%s: s4c-heads.draft_vocab holds %s values, want i32 token ids", path, a.Elem)
		}
		if err := h.SetDraftVocab(m, ids); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	h.build()
	return h, nil
}

// checkFinite reports the first weight that is NaN or infinite (training
// that diverged): such heads draft nothing useful and must not be kept.
func (h *Heads) checkFinite() error {
	for k, hd := range h.H {
		for j, v := range hd.Params() {
			for i, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("head %d's %s[%d] is %v: training diverged (lower --lr)", k, [...]string{"w1", "b1", "w2"}[j], i, x)
				}
			}
		}
	}
	return nil
}

// Inflate embeds heads trained on a small model into its inflated twin big
// (see convert.Inflate): the small residual stream is the first Dim
// dimensions of big's, so W1's state and embedding columns move to the first
// Dim columns of each half, W2's rows to the first Dim rows, and every other
// weight is zero (nothing is written into the padded dimensions). The hidden
// width is unchanged, so the inflated heads compute exactly the same drafts.
func (h *Heads) Inflate(big *model.Model) (*Heads, error) {
	d, D := h.Dim, big.Dim
	if D < d {
		return nil, fmt.Errorf("cannot inflate heads of width %d into a model of width %d", d, D)
	}
	out := &Heads{K: h.K, Dim: D, Hidden: h.Hidden, Base: big.Fingerprint(), Report: map[string]string{}, Independent: h.Independent, Type: h.Type}
	for k, v := range h.Report {
		out.Report[k] = v
	}
	out.Report["inflated_from"] = h.Base
	if h.DraftVocab != nil {
		if err := out.SetDraftVocab(big, h.DraftVocab); err != nil {
			return nil, err
		}
	}
	for _, hd := range h.H {
		nh := Head{W1: make([]float32, h.Hidden*2*D), B1: append([]float32(nil), hd.B1...), W2: make([]float32, D*h.Hidden)}
		for r := 0; r < h.Hidden; r++ {
			copy(nh.W1[r*2*D:r*2*D+d], hd.W1[r*2*d:r*2*d+d])
			copy(nh.W1[r*2*D+D:r*2*D+D+d], hd.W1[r*2*d+d:(r+1)*2*d])
		}
		copy(nh.W2[:d*h.Hidden], hd.W2)
		out.H = append(out.H, nh)
	}
	out.build()
	return out, nil
}
