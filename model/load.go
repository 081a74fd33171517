// Package model runs Llama-family transformers (llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3) from
// GGUF files: the weights, the hyper-parameters read from metadata, a KV
// cache and a batched forward pass with explicit positions and an attention
// mask (causal or tree).
package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"s4c/gguf"
	"s4c/tensor"
)

// Config holds the hyper-parameters of a model, all read from metadata.
type Config struct {
	Arch      string
	Dim       int // embedding_length
	NLayers   int // block_count
	Heads     int // attention.head_count
	KVHeads   int // attention.head_count_kv
	HeadDim   int // attention.key_length (default Dim/Heads)
	FFN       int // feed_forward_length
	Vocab     int
	CtxLen    int // context_length
	NormEps   float32
	Rope      tensor.Rope
	QKVBias   bool
	TiedEmbed bool // output weights are the token embeddings
	// SlidingWindow, if > 0, limits the attention of the layers marked
	// Windowed to the keys at most SlidingWindow-1 positions back
	// (attention.sliding_window: phi3 all layers, gemma2 every other one,
	// gemma3 all but every SWAPattern-th).
	SlidingWindow int
	SWAPattern    int
	// RopeSWA, if set, is the RoPE of the Windowed layers (gemma3's local
	// layers: their own base, no scaling); Rope is the others'.
	RopeSWA *tensor.Rope

	// Gemma (zero for the others): the embeddings are scaled by
	// EmbedScale, attention scores and final logits soft-capped
	// (c·tanh(x/c), gemma2), the FFN is GeGLU instead of SwiGLU, and each
	// block's attention and FFN outputs are RMS-normalised again
	// (Layer.PostAttnNorm, PostFFNNorm) before the residual add.
	EmbedScale   float32
	AttnSoftcap  float32
	FinalSoftcap float32
	GELU         bool
	// QueryScale multiplies query·key (0: 1/sqrt(HeadDim)).
	QueryScale float32
}

// KVDim is the width of one key (or value) row: KVHeads × HeadDim.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Layer is one transformer block.
type Layer struct {
	AttnNorm                []float32
	Wq, Wk, Wv, Wo          *tensor.Mat
	Bq, Bk, Bv              []float32
	FFNNorm                 []float32
	FFNGate, FFNUp, FFNDown *tensor.Mat

	Windowed                  bool      // attention within Config.SlidingWindow
	PostAttnNorm, PostFFNNorm []float32 // gemma; nil elsewhere
	QNorm, KNorm              []float32 // qwen3, gemma3: per-head RMSNorm of q and k before RoPE
}

// Model is a loaded transformer. Its weights point into the memory-mapped
// GGUF file, which stays open until Close.
type Model struct {
	Config
	File    *gguf.File
	Embed   *tensor.Mat
	Layers  []Layer
	OutNorm []float32
	Output  *tensor.Mat

	fingerprint func() string // computed once (sync.OnceValue)
}

// Load opens and loads a model file.
func Load(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := FromFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Close releases the model file. The weights repacked or copied at load
// live outside the Go heap (tensor.WeightBytes), as does every KV cache
// (tensor.OffHeap); they are given back by garbage collection once
// unreachable (weights with the last piece of the mapping they share).
func (m *Model) Close() error { return m.File.Close() }

// ErrArch is returned for a model whose architecture this engine does not run.
var ErrArch = errors.New("unsupported architecture")

// FromFile loads a model from a parsed GGUF file.
func FromFile(f *gguf.File) (*Model, error) {
	arch, ok := f.String("general.architecture")
	if !ok {
		return nil, fmt.Errorf("metadata key general.architecture is missing: not a model file (a vocabulary-only or adapter file?)")
	}
	a, ok := archs[arch]
	if !ok {
		return nil, fmt.Errorf("%w %q: this engine runs %s models", ErrArch, arch, archNames())
	}
	c := Config{Arch: arch}
	u := func(key string, dst *int, def int) error {
		v, ok := f.Uint(arch + "." + key)
		if !ok {
			if def >= 0 {
				*dst = def
				return nil
			}
			return fmt.Errorf("metadata key %s.%s is missing or not an integer", arch, key)
		}
		if v == 0 || v > 1<<24 {
			return fmt.Errorf("metadata %s.%s = %d is out of range", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for _, e := range []error{
		u("embedding_length", &c.Dim, -1),
		u("block_count", &c.NLayers, -1),
		u("attention.head_count", &c.Heads, -1),
		u("feed_forward_length", &c.FFN, -1),
		u("context_length", &c.CtxLen, 2048),
	} {
		if e != nil {
			return nil, e
		}
	}
	if err := u("attention.head_count_kv", &c.KVHeads, c.Heads); err != nil {
		return nil, err
	}
	if err := u("attention.key_length", &c.HeadDim, c.Dim/c.Heads); err != nil {
		return nil, err
	}
	if c.Heads > c.Dim {
		return nil, fmt.Errorf("attention.head_count %d exceeds embedding_length %d (file metadata inconsistent)", c.Heads, c.Dim)
	}
	if c.Heads%c.KVHeads != 0 {
		return nil, fmt.Errorf("head_count %d is not a multiple of head_count_kv %d", c.Heads, c.KVHeads)
	}
	if vl, ok := f.Uint(arch + ".attention.value_length"); ok && int(vl) != c.HeadDim {
		return nil, fmt.Errorf("attention.value_length %d differs from key_length %d: not supported", vl, c.HeadDim)
	}
	eps, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon")
	if !ok {
		return nil, fmt.Errorf("metadata key %s.attention.layer_norm_rms_epsilon is missing", arch)
	}
	c.NormEps = float32(eps)
	if err := u("rope.dimension_count", &c.Rope.Dims, c.HeadDim); err != nil {
		return nil, err
	}
	if c.Rope.Dims > c.HeadDim || c.Rope.Dims%2 != 0 {
		return nil, fmt.Errorf("rope.dimension_count %d must be even and at most the head size %d", c.Rope.Dims, c.HeadDim)
	}
	c.Rope.Base = 10000
	if b, ok := f.Float(arch + ".rope.freq_base"); ok {
		c.Rope.Base = b
	}
	c.Rope.FreqScale = 1
	st, _ := f.String(arch + ".rope.scaling.type")
	factor, hasFactor := f.Float(arch + ".rope.scaling.factor")
	if !hasFactor {
		factor, hasFactor = f.Float(arch + ".rope.scale_linear")
		if hasFactor && st == "" {
			st = "linear"
		}
	}
	switch st {
	case "", "none":
	case "linear":
		if hasFactor && factor > 0 {
			c.Rope.FreqScale = 1 / factor
		}
	default:
		return nil, fmt.Errorf("rope scaling type %q is not supported (supported: none, linear, and llama3 via rope_freqs.weight)", st)
	}
	if err := a.config(f, &c); err != nil {
		return nil, err
	}

	m := &Model{Config: c, File: f}
	// Heads, data files and cost tables ask for it again and again; the
	// file's pages it samples may have been dropped after repacking.
	m.fingerprint = sync.OnceValue(m.computeFingerprint)
	ld := &loader{f: f, c: &m.Config}
	embInfo, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("tensor token_embd.weight is missing")
	}
	if len(embInfo.Dims) != 2 {
		return nil, fmt.Errorf("tensor token_embd.weight has shape %v, want [%d, vocab]", embInfo.Dims, c.Dim)
	}
	m.Vocab = int(embInfo.Dims[1])
	// A block_count beyond the blocks the file holds is a broken file: say so
	// before anything is allocated per layer (a 1 MB file claiming 8M layers
	// must not cost gigabytes and a minute to reject).
	if have := blocksPresent(f); c.NLayers > have {
		return nil, fmt.Errorf("metadata %s.block_count = %d, but the file holds tensors for %d blocks (tensor blk.%d.attn_norm.weight is missing): file inconsistent with its metadata", arch, c.NLayers, have, have)
	}
	m.Embed = ld.mat("token_embd.weight", m.Vocab, c.Dim)
	kvd := c.KVDim()
	qd := c.Heads * c.HeadDim
	for i := 0; i < c.NLayers; i++ {
		var l Layer
		a.layer(ld, i, &l)
		p := blk(i)
		l.AttnNorm = ld.vec(p+"attn_norm.weight", c.Dim)
		if l.Wq == nil {
			l.Wq = ld.mat(p+"attn_q.weight", qd, c.Dim)
			l.Wk = ld.mat(p+"attn_k.weight", kvd, c.Dim)
			l.Wv = ld.mat(p+"attn_v.weight", kvd, c.Dim)
		}
		l.Wo = ld.mat(p+"attn_output.weight", c.Dim, qd)
		l.FFNNorm = ld.vec(p+"ffn_norm.weight", c.Dim)
		if l.FFNGate == nil {
			l.FFNGate = ld.mat(p+"ffn_gate.weight", c.FFN, c.Dim)
			l.FFNUp = ld.mat(p+"ffn_up.weight", c.FFN, c.Dim)
		}
		l.FFNDown = ld.mat(p+"ffn_down.weight", c.Dim, c.FFN)
		if ld.err != nil {
			return nil, ld.err // stop at the first missing or malformed tensor
		}
		m.Layers = append(m.Layers, l)
	}
	m.OutNorm = ld.vec("output_norm.weight", c.Dim)
	if ld.has("output.weight") {
		m.Output = ld.mat("output.weight", m.Vocab, c.Dim)
	} else {
		m.Output = m.Embed
		m.TiedEmbed = true
	}
	if ld.has("rope_freqs.weight") {
		m.Rope.Factors = ld.vec("rope_freqs.weight", c.Rope.Dims/2)
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return m, nil
}

// blk is the name prefix of block i's tensors.
func blk(i int) string { return "blk." + strconv.Itoa(i) + "." }

// blocksPresent is the number of consecutive layers blk.0, blk.1, … that
// have an attn_norm tensor in f.
func blocksPresent(f *gguf.File) int {
	seen := map[int]bool{}
	for i := range f.Tensors {
		rest, ok := strings.CutPrefix(f.Tensors[i].Name, "blk.")
		if num, ok2 := strings.CutSuffix(rest, ".attn_norm.weight"); ok && ok2 {
			if n, err := strconv.Atoi(num); err == nil && n >= 0 {
				seen[n] = true
			}
		}
	}
	n := 0
	for seen[n] {
		n++
	}
	return n
}

func loadMat(f *gguf.File, name string, rows, cols int) (*tensor.Mat, error) {
	ms, err := loadSplit(f, name, cols, rows)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// loadSplit loads tensor name, of cols columns and sum(rows) rows, as one
// matrix per consecutive range of rows (several for a fused tensor).
func loadSplit(f *gguf.File, name string, cols int, rows ...int) ([]*tensor.Mat, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	total := 0
	for _, r := range rows {
		total += r
	}
	if len(t.Dims) != 2 || int(t.Dims[0]) != cols || int(t.Dims[1]) != total {
		return nil, fmt.Errorf("tensor %s has shape %v, want [%d %d] (file inconsistent with its metadata)", name, t.Dims, cols, total)
	}
	if !tensor.Supported(t.Type) {
		return nil, fmt.Errorf("tensor %s: %w", name, tensor.ErrUnsupported{Type: t.Type})
	}
	data := f.TensorData(t)
	rb := t.Type.RowBytes(cols)
	var ms []*tensor.Mat
	for _, r := range rows {
		mt, err := tensor.NewMat(t.Type, r, cols, data[:r*rb])
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		data = data[r*rb:]
		resident(f, mt)
		ms = append(ms, mt)
	}
	return ms, nil
}

// resident prepares a matrix for the forward pass and lets the file's copy
// of its weights go where the pass does not read it.
func resident(f *gguf.File, mt *tensor.Mat) {
	if mt.Prepare() {
		// Repacked for the integer kernels: the file's copy is not read
		// by the forward pass, so it need not stay resident.
		f.DropPages(mt.Data)
	} else if len(mt.Data) >= 4<<20 {
		// Float weights are read in place: from anonymous huge-page
		// memory, not through the mapping (see tensor.Mat.OwnData).
		orig := mt.Data
		mt.OwnData()
		f.DropPages(orig)
	}
}

// loadVec decodes a 1-D tensor (norm weights, biases) into float32.
func loadVec(f *gguf.File, name string, n int) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	if t.Elements() != uint64(n) {
		return nil, fmt.Errorf("tensor %s has shape %v, want %d elements", name, t.Dims, n)
	}
	if !tensor.Supported(t.Type) {
		return nil, fmt.Errorf("tensor %s: %w", name, tensor.ErrUnsupported{Type: t.Type})
	}
	v := make([]float32, n)
	tensor.Dequantize(t.Type, f.TensorData(t), v)
	return v, nil
}

// WeightBytes is what one decoding step reads of the weights: every
// tensor, but of the token embedding table only one row, unless it is
// also the output layer (tied embeddings). With a 128256-token vocabulary
// the table is a fifth of a 1B model's file and never read whole.
func (m *Model) WeightBytes() int64 {
	var n int64
	for i := range m.File.Tensors {
		t := &m.File.Tensors[i]
		if t.Name == "token_embd.weight" && m.Embed != nil && m.Output != m.Embed && m.Vocab > 0 {
			n += int64(t.Size) / int64(m.Vocab)
			continue
		}
		n += int64(t.Size)
	}
	return n
}

// Params is the number of parameters: every tensor's elements.
func (m *Model) Params() int64 {
	var n int64
	for i := range m.File.Tensors {
		n += int64(m.File.Tensors[i].Elements())
	}
	return n
}

// Describe is a one-line summary of the model.
func (m *Model) Describe() string {
	var b strings.Builder
	name, _ := m.File.String("general.name")
	fmt.Fprintf(&b, "%s %q: %d layers, dim %d, %d heads (%d kv), ffn %d, vocab %d, ctx %d, weights %s",
		m.Arch, name, m.NLayers, m.Dim, m.Heads, m.KVHeads, m.FFN, m.Vocab, m.CtxLen, m.Layers[0].Wq.Type)
	return b.String()
}

// Fingerprint identifies the model's weights: a SHA-256 over every tensor's
// name, type and shape and a strided sample of its data (4 KiB in every
// MiB, plus the first and last bytes). It is quick on a multi-GiB file and
// tells apart any two real models; draft heads record it.
func (m *Model) Fingerprint() string {
	if m.fingerprint == nil { // a Model not made by FromFile
		return m.computeFingerprint()
	}
	return m.fingerprint()
}

func (m *Model) computeFingerprint() string {
	h := sha256.New()
	var buf [8]byte
	for i := range m.File.Tensors {
		t := &m.File.Tensors[i]
		h.Write([]byte(t.Name))
		binary.LittleEndian.PutUint64(buf[:], uint64(t.Type))
		h.Write(buf[:])
		for _, d := range t.Dims {
			binary.LittleEndian.PutUint64(buf[:], d)
			h.Write(buf[:])
		}
		data := m.File.TensorData(t)
		const stride, chunk = 1 << 20, 4 << 10
		for off := 0; off < len(data); off += stride {
			h.Write(data[off:min(off+chunk, len(data))])
		}
		h.Write(data[max(0, len(data)-chunk):])
	}
	return hex.EncodeToString(h.Sum(nil))
}
