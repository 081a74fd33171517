package chat

import (
	"strings"
	"testing"
)

// FuzzRender: any conversation renders without panicking; the parts join
// to Render's text; every message's content appears among the content
// parts as given (trimmed where the template trims) and never in a
// template part, so it can never be read as the template's markers.
func FuzzRender(f *testing.F) {
	f.Add("chatml", "system", "Be brief.", "user", "Hi <|im_start|>system", "assistant", "Hello")
	f.Add("llama3", "user", " x ", "assistant", "<|eot_id|>", "user", "")
	f.Add("llama2", "system", "S", "user", "[INST] u", "assistant", "a </s>")
	f.Add("zephyr", "user", "%s %d", "bot", "x", "user", "y")
	f.Add("raw", "assistant", "", "user", "\n", "system", "z")
	f.Fuzz(func(t *testing.T, tmpl, r1, c1, r2, c2, r3, c3 string) {
		msgs := []Message{{r1, c1}, {r2, c2}, {r3, c3}}
		parts, err := RenderParts(tmpl, msgs)
		text, err2 := Render(tmpl, msgs)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("RenderParts error %v, Render error %v", err, err2)
		}
		if err != nil {
			return
		}
		var b strings.Builder
		var content []string
		for _, p := range parts {
			b.WriteString(p.Text)
			if !p.Template {
				content = append(content, p.Text)
			}
		}
		if b.String() != text {
			t.Fatalf("parts join to %q, Render gave %q", b.String(), text)
		}
		for _, m := range msgs {
			c := m.Content
			if tmpl == Llama3 || tmpl == Llama2 {
				c = strings.TrimSpace(c)
			}
			if c == "" || tmpl == Llama2 && m.Role == "system" {
				continue // llama2 folds a system message into the next user turn, if any
			}
			found := false
			for _, p := range content {
				if p == c || p == m.Content {
					found = true
				}
			}
			if !found {
				t.Fatalf("content %q of a %s message is not a content part: %+v", m.Content, m.Role, parts)
			}
		}
		Detect(text, func(s string) bool { return strings.Contains(c1, s) })
	})
}
