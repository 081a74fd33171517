package heads_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"s4c/convert"
	"s4c/gguf"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/model"
	"s4c/sample"
)

// draftChain runs the heads greedily from the model's hidden state after
// prompt: the K tokens the heads would draft along the most likely path.
func draftChain(t *testing.T, m *model.Model, h *heads.Heads, prompt []int32) []int32 {
	s := m.NewState(64, 1)
	if err := s.UseKVF32(); err != nil {
		t.Fatal(err)
	}
	out, err := s.Forward(&model.Batch{Tokens: prompt, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	state := append([]float32(nil), out.Hidden[(len(prompt)-1)*m.Dim:]...)
	tok := sample.Argmax(out.Row(0))
	drafts := []int32{tok}
	logits := make([]float32, m.Vocab)
	for k := 0; k < h.K; k++ {
		next := make([]float32, m.Dim)
		h.Step(m, k, state, []int32{tok}, next, nil)
		h.Logits(m, next, 1, logits, nil)
		tok = sample.Argmax(logits)
		drafts = append(drafts, tok)
		state = next
	}
	return drafts
}

// TestInflatedHeadsDraftTheSame: heads carried over to the inflated twin
// draft the same tokens as on the small model.
func TestInflatedHeadsDraftTheSame(t *testing.T) {
	small, err := model.Load(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	h := heads.New(small, 4, 32, 7)
	h.Randomize(7)
	shape := convert.Shape{Name: "test", Dim: 256, Layers: 7, Heads: 16, KVHeads: 4, FFN: 512, Vocab: 512, Ctx: 2048, RopeBase: 10000}
	p := filepath.Join(t.TempDir(), "big.gguf")
	if err := convert.Inflate(p, small, shape, gguf.F32, 1, nil); err != nil {
		t.Fatal(err)
	}
	big, err := model.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	bh, err := h.Inflate(big)
	if err != nil {
		t.Fatal(err)
	}
	// The inflated heads are tied to the big model.
	hp := filepath.Join(t.TempDir(), "big.s4c.gguf")
	if err := bh.Save(hp); err != nil {
		t.Fatal(err)
	}
	if _, err := heads.Load(hp, small); err == nil {
		t.Fatal("inflated heads loaded against the small model")
	}
	if bh, err = heads.Load(hp, big); err != nil {
		t.Fatal(err)
	}
	for _, prompt := range [][]int32{{1, 403, 407, 261, 378}, {1, 274, 287, 381, 261, 370, 352}, {1, 367, 261, 283}} {
		a, b := draftChain(t, small, h, prompt), draftChain(t, big, bh, prompt)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("prompt %v: small drafts %v, inflated %v", prompt, a, b)
		}
	}
}
