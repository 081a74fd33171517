package heads_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"s4c/gguf"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/model"
)

// TestF16Heads: heads stored as float16 load as F16, draft what the float32
// heads draft from a story prompt, step within float16 rounding of them,
// take half the file, and go back to float32 for training.
func TestF16Heads(t *testing.T) {
	m, err := model.Load(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f32, err := heads.Load("../models/stories260K.s4c.gguf", m)
	if err != nil {
		t.Fatal(err)
	}
	if f32.Type != gguf.F32 {
		t.Fatalf("shipped heads load as %s, want F32", f32.Type)
	}
	h, _ := heads.Load("../models/stories260K.s4c.gguf", m)
	if err := h.SetType(gguf.F16); err != nil {
		t.Fatal(err)
	}
	if err := h.SetType(gguf.Q8_0); err == nil {
		t.Error("SetType(Q8_0) was accepted")
	}
	dir := t.TempDir()
	p32, p16 := filepath.Join(dir, "h32.gguf"), filepath.Join(dir, "h16.gguf")
	if err := f32.Save(p32); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(p16); err != nil {
		t.Fatal(err)
	}
	back, err := heads.Load(p16, m)
	if err != nil {
		t.Fatal(err)
	}
	if back.Type != gguf.F16 {
		t.Fatalf("F16 heads load as %s", back.Type)
	}
	for k := range h.H {
		for j, p := range h.H[k].Params() {
			for i := range p {
				if back.H[k].Params()[j][i] != p[i] {
					t.Fatalf("head %d tensor %d element %d: %v after a round trip, was %v", k, j, i, back.H[k].Params()[j][i], p[i])
				}
			}
		}
	}
	s32, _ := os.Stat(p32)
	s16, _ := os.Stat(p16)
	if s16.Size()*10 > s32.Size()*6 {
		t.Errorf("F16 heads file is %d bytes, F32 %d: want about half", s16.Size(), s32.Size())
	}
	prompt := []int32{1, 403, 407, 261, 378, 275}
	a, b := draftChain(t, m, f32, prompt), draftChain(t, m, back, prompt)
	if len(a) != len(b) {
		t.Fatalf("drafts %v and %v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("F16 heads draft %v, F32 heads %v", b, a)
			break
		}
	}
	// One step of head 1 from the same state: within float16 rounding.
	s := make([]float32, m.Dim)
	for i := range s {
		s[i] = float32(math.Sin(float64(i)))
	}
	o32, o16 := make([]float32, m.Dim), make([]float32, m.Dim)
	f32.Step(m, 0, s, []int32{42}, o32, nil)
	back.Step(m, 0, s, []int32{42}, o16, nil)
	var num, den float64
	for i := range o32 {
		num += float64((o32[i] - o16[i]) * (o32[i] - o16[i]))
		den += float64(o32[i] * o32[i])
	}
	if rel := math.Sqrt(num / den); rel > 2e-3 || rel == 0 {
		t.Errorf("F16 step differs from F32 by %.2g (relative): want float16 rounding, nonzero and under 2e-3", rel)
	}
	heads.NewTrainer(back, m, heads.TrainConfig{})
	if back.Type != gguf.F32 {
		t.Errorf("heads being trained are %s, want F32", back.Type)
	}
}
