package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// A pre-tokenizer is a list of splitting steps applied in turn: each step
// splits every piece of the previous one into its matches and the text
// between them (which is kept as pieces too), like the "isolated" Split of
// Hugging Face tokenizers and llama.cpp's unicode_regex_split.
type preTokenizer struct {
	steps        []func(s string) []int // returns match boundaries [start0, end0, start1, end1, ...]
	ignoreMerges bool                   // a word that is itself a token is not merged (llama3)
}

func (p preTokenizer) split(text string) []string {
	pieces := []string{text}
	for _, step := range p.steps {
		var next []string
		for _, s := range pieces {
			at := 0
			b := step(s)
			for k := 0; k < len(b); k += 2 {
				if b[k] > at {
					next = append(next, s[at:b[k]])
				}
				if b[k+1] > b[k] {
					next = append(next, s[b[k]:b[k+1]])
				}
				at = b[k+1]
			}
			if at < len(s) {
				next = append(next, s[at:])
			}
		}
		pieces = next
	}
	return pieces
}

// ws is Unicode's White_Space property as a character-class body: what \s
// means in the tokenizers' own (Unicode-aware) regex engines. Go's \s is
// ASCII-only, so patterns below spell it out.
const ws = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) }

// regexStep compiles a pattern written with \s meaning Unicode white space.
func regexStep(pattern string) func(string) []int {
	p := strings.ReplaceAll(pattern, `[\s`, `[`+ws)
	p = strings.ReplaceAll(p, `[^\s`, `[^`+ws)
	p = strings.ReplaceAll(p, `\s`, `[`+ws+`]`)
	re := regexp.MustCompile(p)
	return func(s string) []int {
		var b []int
		for _, m := range re.FindAllStringIndex(s, -1) {
			b = append(b, m[0], m[1])
		}
		return b
	}
}

// runes decodes s keeping each rune's byte offset (offs has len(rs)+1 entries).
func runes(s string) (rs []rune, offs []int) {
	for i, r := range s {
		rs = append(rs, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	return rs, offs
}

// gpt2Step is GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand: Go's regexp has no look-ahead.
func gpt2Step(s string) []int {
	rs, offs := runes(s)
	n := len(rs)
	other := func(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }
	var b []int
	for i := 0; i < n; {
		end := -1
		r := rs[i]
		if r == '\'' && i+1 < n {
			switch c := rs[i+1]; {
			case c == 's' || c == 't' || c == 'm' || c == 'd':
				end = i + 2
			case i+2 < n && (c == 'r' && rs[i+2] == 'e' || c == 'v' && rs[i+2] == 'e' || c == 'l' && rs[i+2] == 'l'):
				end = i + 3
			}
		}
		if end < 0 {
			j := i
			if r == ' ' && i+1 < n {
				j = i + 1
			}
			for _, class := range []func(rune) bool{isLetter, isNumber, other} {
				if class(rs[j]) {
					k := j
					for k < n && class(rs[k]) {
						k++
					}
					end = k
					break
				}
			}
		}
		if end < 0 && isSpace(r) {
			k := i
			for k < n && isSpace(rs[k]) {
				k++
			}
			if k < n && k-i > 1 {
				k-- // leave the last space to the word that follows
			}
			end = k
		}
		if end < 0 {
			end = i + 1 // unreachable: every rune is space, letter, number or other
		}
		b = append(b, offs[i], offs[end])
		i = end
	}
	return b
}

// llama3Step is the pattern of Llama 3 (maxDigits 3) and Qwen 2 (maxDigits 1):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func llama3Step(maxDigits int) func(string) []int {
	return func(s string) []int {
		rs, offs := runes(s)
		n := len(rs)
		nl := func(r rune) bool { return r == '\r' || r == '\n' }
		other := func(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }
		var b []int
		for i := 0; i < n; {
			end := -1
			r := rs[i]
			if r == '\'' && i+1 < n {
				c := unicode.ToLower(rs[i+1])
				switch {
				case c == 's' || c == 't' || c == 'm' || c == 'd':
					end = i + 2
				case i+2 < n && (c == 'r' && unicode.ToLower(rs[i+2]) == 'e' || c == 'v' && unicode.ToLower(rs[i+2]) == 'e' || c == 'l' && unicode.ToLower(rs[i+2]) == 'l'):
					end = i + 3
				}
			}
			if end < 0 {
				j := i
				if !nl(r) && !isLetter(r) && !isNumber(r) && i+1 < n && isLetter(rs[i+1]) {
					j = i + 1
				}
				if isLetter(rs[j]) {
					for j < n && isLetter(rs[j]) {
						j++
					}
					end = j
				}
			}
			if end < 0 && isNumber(r) {
				j := i
				for j < n && j-i < maxDigits && isNumber(rs[j]) {
					j++
				}
				end = j
			}
			if end < 0 {
				j := i
				if r == ' ' && i+1 < n && other(rs[i+1]) {
					j = i + 1
				}
				if other(rs[j]) {
					for j < n && other(rs[j]) {
						j++
					}
					for j < n && nl(rs[j]) {
						j++
					}
					end = j
				}
			}
			if end < 0 && isSpace(r) {
				k := i
				for k < n && isSpace(rs[k]) {
					k++
				}
				last := -1 // \s*[\r\n]+: up to the last newline of the run
				for j := i; j < k; j++ {
					if nl(rs[j]) {
						last = j
					}
				}
				switch {
				case last >= 0:
					end = last + 1
				case k < n && k-i > 1:
					end = k - 1
				default:
					end = k
				}
			}
			if end < 0 {
				end = i + 1
			}
			b = append(b, offs[i], offs[end])
			i = end
		}
		return b
	}
}

// preTokenizerFor returns the splitting steps llama.cpp uses for a
// tokenizer.ggml.pre name. Non-ASCII characters in the patterns are
// written as \x{...} so that no editor's Unicode normalisation can change them.
func preTokenizerFor(name string) (preTokenizer, error) {
	switch name {
	case "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion":
		return preTokenizer{steps: []func(string) []int{gpt2Step}}, nil
	case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b":
		return preTokenizer{steps: []func(string) []int{regexStep(`\p{N}`), gpt2Step}}, nil
	case "falcon":
		return preTokenizer{steps: []func(string) []int{
			regexStep("[\\p{P}\\$\\+<=>\\^~\\|`]+"), gpt2Step, regexStep(`[0-9][0-9][0-9]`)}}, nil
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "pixtral", "llama4":
		return preTokenizer{steps: []func(string) []int{llama3Step(3)}, ignoreMerges: name != "dbrx" && name != "smaug-bpe"}, nil
	case "qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan":
		return preTokenizer{steps: []func(string) []int{llama3Step(1)}}, nil
	case "deepseek-llm":
		return preTokenizer{steps: []func(string) []int{
			regexStep(`[\r\n]`),
			regexStep(`\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+`),
			regexStep(`\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+`),
			regexStep(`\s+$`),
			regexStep(`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`),
			regexStep(`\p{N}+`),
		}}, nil
	case "deepseek-coder":
		return preTokenizer{steps: []func(string) []int{
			regexStep(`[\r\n]`),
			regexStep(`\s?\p{L}+`),
			regexStep(`\s?\p{P}+`),
			regexStep(`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`),
			regexStep(`\p{N}`),
		}}, nil
	case "", "default":
		// llama.cpp's default for BPE vocabularies without a known name.
		return preTokenizer{steps: []func(string) []int{
			regexStep("[\\p{P}\\$\\+<=>\\^~\\|]+"), gpt2Step, regexStep(`\p{N}+`), regexStep(`[0-9][0-9][0-9]`)}}, nil
	}
	return preTokenizer{}, fmt.Errorf("BPE pre-tokenizer %q (tokenizer.ggml.pre) is not supported; supported: gpt-2, mpt, olmo, starcoder, refact, smollm, falcon, llama3/llama-bpe, qwen2, deepseek-llm, deepseek-coder, default", name)
}
