// Package chat renders a conversation into the prompt text a chat model was
// trained on. The template family is recognised from the model's
// tokenizer.chat_template (a Jinja text we do not execute) or its special
// tokens; the common families are written out here.
package chat

import (
	"fmt"
	"strings"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// Template names.
const (
	Llama2 = "llama2"
	Llama3 = "llama3"
	ChatML = "chatml" // Qwen, SmolLM, many others
	Zephyr = "zephyr" // TinyLlama-Chat
	Phi3   = "phi3"
	Gemma  = "gemma" // Gemma 1-3
	Raw    = "raw"   // no template: contents joined by newlines
)

// Detect picks the template family for a model from its Jinja chat
// template text and whether its vocabulary has a token.
func Detect(jinja string, hasToken func(string) bool) string {
	switch {
	case strings.Contains(jinja, "<|start_header_id|>") || hasToken("<|start_header_id|>"):
		return Llama3
	case strings.Contains(jinja, "<|im_start|>") || hasToken("<|im_start|>"):
		return ChatML
	case strings.Contains(jinja, "<|assistant|>") && strings.Contains(jinja, "<|end|>"):
		return Phi3
	case strings.Contains(jinja, "<|assistant|>") || strings.Contains(jinja, "<|user|>"):
		return Zephyr
	case strings.Contains(jinja, "[INST]"):
		return Llama2
	case strings.Contains(jinja, "<start_of_turn>") || hasToken("<start_of_turn>"):
		return Gemma
	}
	return Raw
}

// Part is a piece of a rendered prompt: the template's own text (Template
// set: its special-token texts such as "<|im_start|>" are meant as those
// tokens) or a message's content (plain text: a user who writes
// "<|im_start|>system" must not forge a turn).
type Part struct {
	Text     string
	Template bool
}

// Render turns messages into a prompt that ends where the assistant's next
// reply begins. BOS is not included for templates whose tokenizer adds it.
func Render(tmpl string, msgs []Message) (string, error) {
	parts, err := RenderParts(tmpl, msgs)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// RenderParts is Render with the template's text and the messages'
// contents kept apart, for tokenizing them differently.
func RenderParts(tmpl string, msgs []Message) ([]Part, error) {
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return nil, fmt.Errorf("message %d: role %q, want system, user or assistant", i, m.Role)
		}
	}
	var parts []Part
	t := func(format string, a ...any) { // template text
		parts = append(parts, Part{Text: fmt.Sprintf(format, a...), Template: true})
	}
	c := func(content string) { // message content
		if content != "" {
			parts = append(parts, Part{Text: content})
		}
	}
	switch tmpl {
	case Llama3:
		for _, m := range msgs {
			t("<|start_header_id|>%s<|end_header_id|>\n\n", m.Role)
			c(strings.TrimSpace(m.Content))
			t("<|eot_id|>")
		}
		t("<|start_header_id|>assistant<|end_header_id|>\n\n")
	case ChatML:
		for _, m := range msgs {
			t("<|im_start|>%s\n", m.Role)
			c(m.Content)
			t("<|im_end|>\n")
		}
		t("<|im_start|>assistant\n")
	case Zephyr:
		for _, m := range msgs {
			t("<|%s|>\n", m.Role)
			c(m.Content)
			t("</s>\n")
		}
		t("<|assistant|>\n")
	case Phi3:
		for _, m := range msgs {
			t("<|%s|>\n", m.Role)
			c(m.Content)
			t("<|end|>\n")
		}
		t("<|assistant|>\n")
	case Gemma:
		// <start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n…
		// Gemma has no system turn: its text opens the first user turn,
		// followed by a blank line (as Gemma 3's own template does).
		sys := ""
		for _, m := range msgs {
			switch m.Role {
			case "system":
				sys = m.Content
			case "user", "assistant":
				role := "user"
				if m.Role == "assistant" {
					role = "model"
				}
				t("<start_of_turn>%s\n", role)
				if sys != "" && role == "user" {
					c(sys)
					t("\n\n")
					sys = ""
				}
				c(strings.TrimSpace(m.Content))
				t("<end_of_turn>\n")
			}
		}
		t("<start_of_turn>model\n")
	case Llama2:
		// [INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] ...
		sys := ""
		first := true
		for _, m := range msgs {
			switch m.Role {
			case "system":
				sys = m.Content
			case "user":
				if !first {
					t("<s>")
				}
				t("[INST] ")
				if sys != "" {
					t("<<SYS>>\n")
					c(sys)
					t("\n<</SYS>>\n\n")
					sys = ""
				}
				c(strings.TrimSpace(m.Content))
				t(" [/INST]")
				first = false
			case "assistant":
				t(" ")
				c(strings.TrimSpace(m.Content))
				t(" </s>")
			}
		}
	case Raw:
		for i, m := range msgs {
			if i > 0 {
				t("\n")
			}
			c(m.Content)
		}
	default:
		return nil, fmt.Errorf("unknown chat template %q (known: llama2, llama3, chatml, zephyr, phi3, gemma, raw)", tmpl)
	}
	return parts, nil
}
