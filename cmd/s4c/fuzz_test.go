package main

import (
	"os"
	"path/filepath"
	"testing"

	"s4c/engine"
	"s4c/internal/shared"
)

// FuzzReadPrompts: any prompts file gives a clear error or prompts, each of
// tokens inside the model's vocabulary, and checking the file alone (no
// model) agrees with reading it for the model on whether it is valid and
// how many prompts it holds.
func FuzzReadPrompts(f *testing.F) {
	e, err := engine.Load(shared.Path(f, "models/stories260K.gguf"), 1)
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	if b, err := os.ReadFile(shared.Path(f, "models/stories-prompts.jsonl")); err == nil {
		f.Add(b[:min(len(b), 600)])
	}
	f.Add([]byte(`{"question_id": 81, "category": "writing", "turns": ["Compose a blog post.", "Rewrite it."]}` + "\n"))
	f.Add([]byte(`{"prompt": ""}` + "\n\n" + `{"prompt": "</s><s>"}`))
	f.Add([]byte(`{"turns": []}`))
	f.Add([]byte(`{"prompt": 5}`))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "p.jsonl")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		checked, err1 := readPrompts(p, nil)
		prompts, err2 := readPrompts(p, e)
		if (err1 == nil) != (err2 == nil) || len(checked) != len(prompts) {
			t.Fatalf("checking alone: %d prompts, %v; for the model: %d prompts, %v", len(checked), err1, len(prompts), err2)
		}
		for _, ids := range prompts {
			for _, id := range ids {
				if id < 0 || int(id) >= e.Model.Vocab {
					t.Fatalf("token id %d outside the vocabulary", id)
				}
			}
		}
	})
}
