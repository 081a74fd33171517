package model

import (
	"fmt"
	"sort"
	"strings"

	"s4c/gguf"
	"s4c/tensor"
)

// An architecture is how a family of models differs from llama, in two
// hooks: config reads the family's own metadata into a Config whose common
// keys (sizes, norm epsilon, RoPE) are already read, and layer loads block
// i's own tensors before the common ones (attn_norm, attn_q/k/v unless
// the hook set Wq, attn_output, ffn_norm, ffn_gate/up unless it set
// FFNGate, ffn_down). Each family lives in a file of its own (llama.go,
// qwen2.go, …) and registers itself by the name in general.architecture.
type architecture struct {
	config func(f *gguf.File, c *Config) error
	layer  func(ld *loader, i int, l *Layer)
}

var archs = map[string]architecture{}

func register(name string, a architecture) {
	if a.config == nil {
		a.config = func(*gguf.File, *Config) error { return nil }
	}
	if a.layer == nil {
		a.layer = func(*loader, int, *Layer) {}
	}
	archs[name] = a
}

// archNames lists the registered architectures for error messages.
func archNames() string {
	var names []string
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// loader reads tensors of one file, keeping the first error: the hooks
// read several tensors in a row and the caller checks once.
type loader struct {
	f   *gguf.File
	c   *Config
	err error
}

// mat loads a rows × cols matrix.
func (ld *loader) mat(name string, rows, cols int) *tensor.Mat {
	if ld.err != nil {
		return nil
	}
	var t *tensor.Mat
	t, ld.err = loadMat(ld.f, name, rows, cols)
	return t
}

// split loads a fused tensor (phi3's attn_qkv, ffn_up) as the matrices of
// its consecutive row ranges.
func (ld *loader) split(name string, cols int, rows ...int) []*tensor.Mat {
	if ld.err != nil {
		return make([]*tensor.Mat, len(rows))
	}
	var ms []*tensor.Mat
	ms, ld.err = loadSplit(ld.f, name, cols, rows...)
	return ms
}

// vec loads a vector of n values (norm weights, biases).
func (ld *loader) vec(name string, n int) []float32 {
	if ld.err != nil {
		return nil
	}
	var v []float32
	v, ld.err = loadVec(ld.f, name, n)
	return v
}

// has reports whether the file holds tensor name.
func (ld *loader) has(name string) bool {
	_, ok := ld.f.Tensor(name)
	return ok
}

// slidingWindow reads arch.attention.sliding_window into c.SlidingWindow
// (absent or 0: none).
func slidingWindow(f *gguf.File, c *Config) error {
	w, ok := f.Uint(c.Arch + ".attention.sliding_window")
	if !ok || w == 0 {
		return nil
	}
	if w >= 1<<24 {
		return fmt.Errorf("metadata %s.attention.sliding_window = %d is out of range", c.Arch, w)
	}
	c.SlidingWindow = int(w)
	return nil
}

// softcaps reads gemma's attention and final logit soft-capping values.
func softcaps(f *gguf.File, c *Config) error {
	for key, dst := range map[string]*float32{"attn_logit_softcapping": &c.AttnSoftcap, "final_logit_softcapping": &c.FinalSoftcap} {
		if v, ok := f.Float(c.Arch + "." + key); ok {
			if !(v > 0 && v < 1e6) {
				return fmt.Errorf("metadata %s.%s = %v: want a positive cap", c.Arch, key, v)
			}
			*dst = float32(v)
		}
	}
	return nil
}
