package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"s4c/gguf"
	"s4c/internal/shared"
)

func load(t testing.TB, path string) *Tokenizer {
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestVocabVectors runs llama.cpp's tokenizer test vectors: every
// ggml-vocab-*.gguf in ../shared/vocab with its .inp texts and .out ids.
func TestVocabVectors(t *testing.T) {
	dir := filepath.Dir(shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf"))
	files, _ := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	if len(files) < 9 {
		t.Fatalf("found %d vocab files, want 9", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) {
			tk := load(t, f)
			inp, err := os.ReadFile(f + ".inp")
			if err != nil {
				t.Fatal(err)
			}
			outp, err := os.ReadFile(f + ".out")
			if err != nil {
				t.Fatal(err)
			}
			texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
			wants := strings.Split(string(outp), "\n")
			if texts[len(texts)-1] == "" {
				texts = texts[:len(texts)-1]
			}
			if wants[len(wants)-1] == "" {
				wants = wants[:len(wants)-1]
			}
			if len(texts) != len(wants) {
				t.Fatalf("%d texts, %d expected lines", len(texts), len(wants))
			}
			fails := 0
			for i, text := range texts {
				var want []int32
				for _, w := range strings.Fields(wants[i]) {
					v, err := strconv.Atoi(w)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, int32(v))
				}
				got := tk.Encode(text, false, false)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					fails++
					t.Errorf("case %d %q:\n got %v\nwant %v", i, text, got, want)
				}
				// Decoding the expected ids gives the text back (SentencePiece
				// vocabularies may lose nothing; byte-level BPE neither).
				if dec := tk.Decode(want); dec != text && !(tk.Model == "llama" && strings.HasPrefix(text, " ") && dec == text[1:]) {
					t.Errorf("case %d: Decode(%v) = %q, want %q", i, want, dec, text)
				}
			}
			t.Logf("%d/%d cases pass", len(texts)-fails, len(texts))
		})
	}
}

// TestStoriesPromptIDs: the shared model's tokenizer reproduces the
// reference engine's prompt ids (with BOS) for every reference prompt.
func TestStoriesPromptIDs(t *testing.T) {
	tk := load(t, shared.Path(t, "models/stories260K.gguf"))
	b, err := os.ReadFile(shared.Path(t, "models/stories260K.ref.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rc struct {
			Prompt     string  `json:"prompt"`
			PromptIDs  []int32 `json:"prompt_ids"`
			GreedyIDs  []int32 `json:"greedy_ids"`
			GreedyText string  `json:"greedy_text"`
		}
		if err := json.Unmarshal([]byte(line), &rc); err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode(rc.Prompt, true, false); fmt.Sprint(got) != fmt.Sprint(rc.PromptIDs) {
			t.Errorf("%q: got %v want %v", rc.Prompt, got, rc.PromptIDs)
		}
		// The continuation decodes to the reference text (streamed).
		d := tk.NewDecoder()
		var sb strings.Builder
		sb.WriteString(d.Next(rc.PromptIDs[len(rc.PromptIDs)-1])) // starts the stream mid-text
		start := sb.Len()
		for _, id := range rc.GreedyIDs {
			sb.WriteString(d.Next(id))
		}
		sb.WriteString(d.Flush())
		if got := sb.String()[start:]; got != rc.GreedyText {
			t.Errorf("%q: decoded %q\nwant %q", rc.Prompt, got, rc.GreedyText)
		}
	}
}

// TestStreamSplitsUTF8: a character whose bytes come in separate byte
// tokens is emitted whole, once its last byte arrives.
func TestStreamSplitsUTF8(t *testing.T) {
	tk := load(t, shared.Path(t, "vocab/ggml-vocab-llama-spm.gguf"))
	ids := tk.Encode("a 🦙 b", false, false) // the llama emoji is byte-fallback in Llama's vocabulary
	d := tk.NewDecoder()
	var parts []string
	for _, id := range ids {
		parts = append(parts, d.Next(id))
	}
	parts = append(parts, d.Flush())
	joined := strings.Join(parts, "")
	if joined != "a 🦙 b" {
		t.Fatalf("stream gave %q", joined)
	}
	for _, p := range parts {
		if !utf8.ValidString(p) {
			t.Fatalf("stream emitted a partial character: %q in %q", p, parts)
		}
	}
	if len(ids) < 6 {
		t.Fatalf("expected byte tokens for the emoji, got %v", ids)
	}
}

func TestPreTokenizerSplits(t *testing.T) {
	cases := []struct {
		pre, text string
		want      []string
	}{
		{"gpt-2", "Hello world  !", []string{"Hello", " world", " ", " !"}},
		{"gpt-2", "it's 2024\n\n", []string{"it", "'s", " 2024", "\n\n"}},
		{"llama3", "Hello, WORLD's 12345 x\n\n  y", []string{"Hello", ",", " WORLD", "'s", " ", "123", "45", " x", "\n\n", " ", " y"}},
		{"llama3", "a\t\nb", []string{"a", "\t\n", "b"}},
		{"qwen2", "ab 123", []string{"ab", " ", "1", "2", "3"}},
	}
	for _, c := range cases {
		p, err := preTokenizerFor(c.pre)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.split(c.text); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("%s %q: got %q want %q", c.pre, c.text, got, c.want)
		}
	}
	if _, err := preTokenizerFor("no-such-pre"); err == nil || !strings.Contains(err.Error(), "no-such-pre") {
		t.Errorf("unknown pre-tokenizer: %v", err)
	}
}
