package tokenizer

import (
	"bytes"
	"strings"
	"testing"

	"s4c/gguf"
)

// FuzzFromGGUF builds vocabularies from arbitrary metadata (tokens, types,
// scores, merges, special ids, pre-tokenizer) and holds the loader to its
// promise: an error, or a tokenizer that encodes any text to ids inside the
// vocabulary and decodes any ids, valid or not, without panicking.
func FuzzFromGGUF(f *testing.F) {
	f.Add("llama", "<unk>\x00<s>\x00</s>\x00▁a\x00b\x00▁ab\x00<0x41>", []byte{2, 3, 3, 1, 1, 1, 6}, "", "default", uint32(1), uint32(2), "ab a", true)
	f.Add("gpt2", "a\x00b\x00ab\x00Ġ\x00Ġa\x00<|endoftext|>", []byte{1, 1, 1, 1, 1, 3}, "a b\x00Ġ a", "gpt-2", uint32(5), uint32(5), "ab a <|endoftext|>", false)
	f.Add("gpt2", "x\x00<|begin_of_text|>", []byte{1, 3}, "x x", "llama-bpe", uint32(1), uint32(9), "xx", true)
	f.Add("gpt2", "[PAD0]\x00q", []byte{5, 1}, "", "qwen2", uint32(7), uint32(0), "q", false)
	f.Add("bert", "a", []byte{1}, "", "", uint32(0), uint32(0), "a", false)
	f.Fuzz(func(t *testing.T, model, toks string, types []byte, merges, pre string, bos, eos uint32, text string, withScores bool) {
		tokens := strings.Split(toks, "\x00")
		if len(tokens) > 4096 {
			return
		}
		w := gguf.NewWriter()
		w.Set("general.architecture", "llama")
		w.Set("tokenizer.ggml.model", model)
		w.Set("tokenizer.ggml.tokens", tokens)
		if len(types) > 0 {
			tt := make([]int32, len(tokens))
			for i := range tt {
				tt[i] = int32(types[i%len(types)] % 8)
			}
			w.Set("tokenizer.ggml.token_type", tt)
		}
		if withScores {
			sc := make([]float32, len(tokens))
			for i := range sc {
				sc[i] = -float32(i)
			}
			w.Set("tokenizer.ggml.scores", sc)
		}
		if merges != "" {
			w.Set("tokenizer.ggml.merges", strings.Split(merges, "\x00"))
		}
		w.Set("tokenizer.ggml.pre", pre)
		w.Set("tokenizer.ggml.bos_token_id", bos)
		w.Set("tokenizer.ggml.eos_token_id", eos)
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			return // e.g. a string the writer refuses
		}
		gf, err := gguf.Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("the writer's own output does not parse: %v", err)
		}
		tk, err := FromGGUF(gf)
		if err != nil {
			return
		}
		for _, special := range []bool{false, true} {
			ids := tk.Encode(text, true, special)
			for _, id := range ids {
				if id < 0 || int(id) >= tk.Len() {
					t.Fatalf("Encode(%q) gave id %d outside the vocabulary of %d", text, id, tk.Len())
				}
			}
			tk.Decode(ids)
		}
		// Arbitrary ids, some out of range.
		tk.Decode([]int32{-1, 0, int32(tk.Len()), int32(tk.Len() - 1), 1 << 30})
	})
}
