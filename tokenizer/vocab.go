// Package tokenizer turns text into token ids and back, from the vocabulary
// stored in a GGUF file's metadata (tokenizer.ggml.*). Two families are
// supported, as llama.cpp does:
//
//   - "llama": SentencePiece-style. Text gets a leading space, spaces become
//     "▁", and adjacent pieces are merged by highest score; characters with
//     no piece fall back to byte tokens <0xXX>.
//   - "gpt2": byte-level BPE. A pre-tokenizer (named by tokenizer.ggml.pre)
//     splits text into words, each word's bytes are mapped to printable
//     characters, then merged by the rank of tokenizer.ggml.merges.
//
// Added (user-defined) tokens are matched verbatim in the text before either
// algorithm runs; control tokens such as <s> only when asked to.
package tokenizer

import (
	"fmt"
	"strings"

	"s4c/gguf"
)

// Token types (tokenizer.ggml.token_type), as in llama.cpp.
const (
	TypeUndefined   = 0
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3
	TypeUserDefined = 4
	TypeUnused      = 5
	TypeByte        = 6
)

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	Model  string // "llama" or "gpt2"
	Pre    string // pre-tokenizer name (gpt2 family)
	Tokens []string
	Scores []float32
	Types  []int32

	BOS, EOS, UNK, EOT int32 // -1 when absent
	AddBOS, AddEOS     bool
	AddSpacePrefix     bool

	toID     map[string]int32
	ranks    map[string]int // "left right" -> merge rank
	byteTok  [256]int32     // SPM: <0xXX> tokens; -1 if absent
	special  []int32        // tokens matched verbatim in text, longest first
	pre      preTokenizer
	eogs     map[int32]bool
	ChatTmpl string
}

// FromGGUF builds the tokenizer described by a GGUF file's metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, ok := f.String("tokenizer.ggml.model")
	if !ok {
		return nil, fmt.Errorf("metadata key tokenizer.ggml.model is missing: the file has no vocabulary")
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) == 0 {
		return nil, fmt.Errorf("metadata key tokenizer.ggml.tokens is missing or empty")
	}
	t := &Tokenizer{Model: model, Tokens: toks, BOS: -1, EOS: -1, UNK: -1, EOT: -1, toID: make(map[string]int32, len(toks))}
	n := len(toks)
	if a, ok := f.Array("tokenizer.ggml.scores"); ok {
		s, ok := a.Values.([]float32)
		if !ok || len(s) != n {
			return nil, fmt.Errorf("tokenizer.ggml.scores has %d %s entries, want %d f32", a.Len(), a.Elem, n)
		}
		t.Scores = s
	}
	if a, ok := f.Array("tokenizer.ggml.token_type"); ok {
		s, ok := a.Values.([]int32)
		if !ok || len(s) != n {
			return nil, fmt.Errorf("tokenizer.ggml.token_type has %d %s entries, want %d i32", a.Len(), a.Elem, n)
		}
		t.Types = s
	} else {
		t.Types = make([]int32, n)
		for i := range t.Types {
			t.Types[i] = TypeNormal
		}
	}
	for i := n - 1; i >= 0; i-- { // first occurrence wins
		t.toID[toks[i]] = int32(i)
	}
	id := func(key string, dst *int32) {
		if v, ok := f.Uint(key); ok && v < uint64(n) {
			*dst = int32(v)
		}
	}
	id("tokenizer.ggml.bos_token_id", &t.BOS)
	id("tokenizer.ggml.eos_token_id", &t.EOS)
	id("tokenizer.ggml.unknown_token_id", &t.UNK)
	id("tokenizer.ggml.eot_token_id", &t.EOT)
	t.ChatTmpl, _ = f.String("tokenizer.chat_template")
	t.Pre, _ = f.String("tokenizer.ggml.pre")
	switch model {
	case "llama":
		if t.Scores == nil {
			return nil, fmt.Errorf("SentencePiece vocabulary without tokenizer.ggml.scores")
		}
		t.AddBOS, t.AddSpacePrefix = true, true
		for b := 0; b < 256; b++ {
			t.byteTok[b] = -1
			if i, ok := t.toID[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteTok[b] = i
			}
		}
		if t.UNK < 0 {
			t.UNK = 0
		}
	case "gpt2":
		merges, ok := f.Strings("tokenizer.ggml.merges")
		if !ok {
			return nil, fmt.Errorf("BPE vocabulary without tokenizer.ggml.merges")
		}
		t.ranks = make(map[string]int, len(merges))
		for i, m := range merges {
			if _, dup := t.ranks[m]; !dup {
				t.ranks[m] = i
			}
		}
		pre, err := preTokenizerFor(t.Pre)
		if err != nil {
			return nil, err
		}
		t.pre = pre
		// Byte-level BPE adds no BOS unless the file says so, except for
		// the pre-tokenizers whose models were trained with one (Llama 3
		// and its kin): llama.cpp adds BOS for them when the key
		// tokenizer.ggml.add_bos_token is absent, as GGUFs converted from
		// their tokenizer.json files leave it.
		t.AddBOS = bosByDefault[t.Pre]
	default:
		return nil, fmt.Errorf("tokenizer model %q is not supported (supported: llama = SentencePiece, gpt2 = byte-level BPE)", model)
	}
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.AddBOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_eos_token"); ok {
		t.AddEOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_space_prefix"); ok {
		t.AddSpacePrefix = v
	}
	for i, ty := range t.Types {
		if ty == TypeControl || ty == TypeUserDefined {
			if toks[i] != "" {
				t.special = append(t.special, int32(i))
			}
		}
	}
	// Longest first, so that "<|im_start|>" wins over "<".
	sortByLenDesc(t.special, toks)
	t.eogs = map[int32]bool{}
	for _, e := range []int32{t.EOS, t.EOT} {
		if e >= 0 {
			t.eogs[e] = true
		}
	}
	for _, name := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<end_of_turn>", "<|end_of_text|>"} {
		if i, ok := t.toID[name]; ok && t.Types[i] == TypeControl {
			t.eogs[i] = true
		}
	}
	return t, nil
}

// bosByDefault lists the BPE pre-tokenizers that add BOS when the GGUF does
// not say (llama.cpp's defaults).
var bosByDefault = map[string]bool{"llama3": true, "llama-v3": true, "llama-bpe": true, "falcon3": true, "tekken": true, "chameleon": true}

func sortByLenDesc(ids []int32, toks []string) {
	// insertion sort is fine: special token lists are short
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && len(toks[ids[j]]) > len(toks[ids[j-1]]); j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

// Len is the vocabulary size.
func (t *Tokenizer) Len() int { return len(t.Tokens) }

// ID returns the id of a token's text.
func (t *Tokenizer) ID(text string) (int32, bool) { i, ok := t.toID[text]; return i, ok }

// IsEOG reports whether id ends generation (end of sequence or of turn).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eogs[id] }

// IsControl reports whether id is a control token (not rendered as text).
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.Types) && t.Types[id] == TypeControl
}

// Encode tokenizes text. addSpecial adds BOS (and EOS) as the vocabulary
// asks; parseSpecial lets control-token texts such as "<|im_start|>" in the
// input become those tokens (user-defined added tokens always do).
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	return t.EncodeParts([]Part{{Text: text, ParseSpecial: parseSpecial}}, addSpecial)
}

// Part is a piece of text to tokenize, with or without control-token
// texts parsed as those tokens.
type Part struct {
	Text         string
	ParseSpecial bool
}

// EncodeParts tokenizes the concatenation of parts, parsing control-token
// texts only in the parts that ask for it (a chat template's own text, not
// the user's message inside it). Text between special tokens is encoded as
// one run across part boundaries, so the ids equal Encode's of the joined
// text wherever the unparsed parts hold no control-token text.
func (t *Tokenizer) EncodeParts(parts []Part, addSpecial bool) []int32 {
	var out []int32
	if addSpecial && t.AddBOS && t.BOS >= 0 {
		out = append(out, t.BOS)
	}
	var frags []fragment
	for _, p := range parts {
		for _, fr := range t.partition(p.Text, p.ParseSpecial) {
			if n := len(frags); n > 0 && fr.token < 0 && frags[n-1].token < 0 {
				frags[n-1].text += fr.text
				continue
			}
			frags = append(frags, fr)
		}
	}
	prevSpecial := true
	for _, fr := range frags {
		if fr.token >= 0 {
			out = append(out, fr.token)
			prevSpecial = true
			continue
		}
		switch t.Model {
		case "llama":
			s := fr.text
			if t.AddSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = t.encodeSPM(strings.ReplaceAll(s, " ", "▁"), out)
		case "gpt2":
			out = t.encodeBPE(fr.text, out)
		}
		prevSpecial = false
	}
	if addSpecial && t.AddEOS && t.EOS >= 0 {
		out = append(out, t.EOS)
	}
	return out
}

type fragment struct {
	text  string
	token int32 // >= 0: a special token
}

// partition splits text around verbatim occurrences of special tokens.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, token: -1}}
	for _, id := range t.special {
		if !parseSpecial && t.Types[id] == TypeControl {
			continue
		}
		sp := t.Tokens[id]
		var next []fragment
		for _, fr := range frags {
			if fr.token >= 0 || !strings.Contains(fr.text, sp) {
				next = append(next, fr)
				continue
			}
			rest := fr.text
			for {
				i := strings.Index(rest, sp)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], token: -1})
				}
				next = append(next, fragment{token: id})
				rest = rest[i+len(sp):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, token: -1})
			}
		}
		frags = next
	}
	return frags
}
