package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Piece returns the bytes a token stands for. Control and unused tokens
// (e.g. Qwen's padding "[PAD151796]") give nothing unless special is set
// (then their text, e.g. "</s>").
func (t *Tokenizer) Piece(id int32, special bool) []byte {
	if id < 0 || int(id) >= len(t.Tokens) {
		return nil
	}
	text := t.Tokens[id]
	switch t.Types[id] {
	case TypeControl, TypeUnused:
		if !special {
			return nil
		}
		return []byte(text)
	case TypeUnknown:
		return []byte("\u2047") // what llama.cpp shows for <unk>
	case TypeUserDefined:
		return []byte(text)
	}
	switch t.Model {
	case "llama":
		if t.Types[id] == TypeByte || len(text) == 6 && strings.HasPrefix(text, "<0x") && text[5] == '>' {
			if b, ok := parseHexByte(text); ok {
				return []byte{b}
			}
		}
		return []byte(strings.ReplaceAll(text, "▁", " "))
	default:
		out := make([]byte, 0, len(text))
		for _, r := range text {
			if b, ok := runeToByte[r]; ok {
				out = append(out, b)
			} else {
				out = utf8.AppendRune(out, r)
			}
		}
		return out
	}
}

func parseHexByte(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range s[3:5] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | byte(c-'0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | byte(c-'A'+10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | byte(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// Decode turns ids into text. The space SentencePiece adds in front of the
// text is removed, so Decode(Encode(s)) == s.
func (t *Tokenizer) Decode(ids []int32) string {
	d := t.NewDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Next(id))
	}
	b.WriteString(d.Flush())
	return b.String()
}

// Decoder turns a stream of ids into text, holding back bytes until they
// form whole UTF-8 characters (a character may be split across tokens).
type Decoder struct {
	t       *Tokenizer
	pending []byte
	started bool
	Special bool // render control tokens
}

// NewDecoder starts a stream.
func (t *Tokenizer) NewDecoder() *Decoder { return &Decoder{t: t} }

// Next adds one token and returns the text that is now complete.
func (d *Decoder) Next(id int32) string {
	p := d.t.Piece(id, d.Special)
	if !d.started && len(p) > 0 {
		d.started = true
		if d.t.Model == "llama" && d.t.AddSpacePrefix && p[0] == ' ' && !d.t.IsControl(id) {
			p = p[1:]
		}
	}
	d.pending = append(d.pending, p...)
	// Emit everything up to the last complete character.
	cut := len(d.pending)
	for k := 1; k <= 3 && k <= len(d.pending); k++ {
		c := d.pending[len(d.pending)-k]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 { // a lead byte: is its sequence complete?
			if utf8Len(c) > k {
				cut = len(d.pending) - k
			}
			break
		}
	}
	out := string(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns whatever is held back (an incomplete character, as is).
func (d *Decoder) Flush() string {
	out := string(d.pending)
	d.pending = d.pending[:0]
	return out
}
