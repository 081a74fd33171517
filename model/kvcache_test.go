package model

import (
	"math/rand"
	"path/filepath"
	"testing"

	"s4c/internal/shared"
)

// TestFloat16Cache: the float16 cache (the default) gives bitwise the
// logits and hidden states of a float32 cache holding the same rows
// rounded to float16 (what the engine computed before it stored float16),
// through a 300-token prompt in two passes, a draft tree verified in one
// pass, a kept path and further decoding; and takes half the memory. Head
// widths 8 (stories260K: the portable widening), 32
// (qwen2: the vector widening, grouped heads) and 16 with a sliding
// window (gemma2).
func TestFloat16Cache(t *testing.T) {
	archs := filepath.Dir(shared.Path(t, "conformance/archs/index.json"))
	for _, tc := range []struct{ name, path string }{
		{"stories260K", shared.Path(t, "models/stories260K.gguf")},
		{"qwen2", filepath.Join(archs, "qwen2", "model.gguf")},
		{"gemma2", filepath.Join(archs, "gemma2", "model.gguf")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const capacity = 400
			f16 := m.NewState(capacity, 2)
			ref := m.NewState(capacity, 2)
			ref.Cache = m.NewKVCacheF32(capacity)
			ref.Cache.roundF16 = true
			if !f16.Cache.F16() || 2*f16.Cache.Bytes() != ref.Cache.Bytes() || f16.Cache.Bytes() != m.KVCacheBytes(capacity) {
				t.Fatalf("float16 cache: %d bytes (F16 %v), float32 %d, KVCacheBytes %d", f16.Cache.Bytes(), f16.Cache.F16(), ref.Cache.Bytes(), m.KVCacheBytes(capacity))
			}
			rng := rand.New(rand.NewSource(5))
			prompt := make([]int32, 300)
			for i := range prompt {
				prompt[i] = int32(rng.Intn(m.Vocab))
			}
			tree := []int32{7, 8, 9, 10, 11, 12, 13}
			parent := []int32{-1, 0, 0, 1, 1, 2, 3}
			pos := make([]int32, len(tree))
			for i, d := range []int32{0, 1, 1, 2, 2, 2, 3} {
				pos[i] = int32(len(prompt)) + d
			}
			steps := []*Batch{
				{Tokens: prompt[:200], Hidden: true},
				{Tokens: prompt[200:], Hidden: true},
				{Tokens: tree, Pos: pos, Parent: parent, Logits: allRows(len(tree)), Hidden: true},
				{Tokens: []int32{14}, Hidden: true},
				{Tokens: []int32{15}, Hidden: true},
			}
			for k, b := range steps {
				var outs [2]*Output
				for i, s := range []*State{f16, ref} {
					if outs[i], err = s.Forward(b); err != nil {
						t.Fatal(err)
					}
					if b.Parent != nil {
						if err := s.Cache.Keep([]int{0, 1, 3, 6}); err != nil {
							t.Fatal(err)
						}
					} else {
						s.Commit(len(b.Tokens))
					}
				}
				if !bitsEqual(outs[0].Logits, outs[1].Logits) || !bitsEqual(outs[0].Hidden, outs[1].Hidden) {
					t.Fatalf("step %d: the float16 cache's results differ from the rounded float32 cache's", k)
				}
			}
		})
	}
}
