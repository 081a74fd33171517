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
	Raw    = "raw" // no template: contents joined by newlines
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
	}
	return Raw
}

// Render turns messages into a prompt that ends where the assistant's next
// reply begins. BOS is not included for templates whose tokenizer adds it.
func Render(tmpl string, msgs []Message) (string, error) {
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return "", fmt.Errorf("message %d: role %q, want system, user or assistant", i, m.Role)
		}
	}
	var b strings.Builder
	switch tmpl {
	case Llama3:
		for _, m := range msgs {
			fmt.Fprintf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", m.Role, strings.TrimSpace(m.Content))
		}
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	case ChatML:
		for _, m := range msgs {
			fmt.Fprintf(&b, "<|im_start|>%s\n%s<|im_end|>\n", m.Role, m.Content)
		}
		b.WriteString("<|im_start|>assistant\n")
	case Zephyr:
		for _, m := range msgs {
			fmt.Fprintf(&b, "<|%s|>\n%s</s>\n", m.Role, m.Content)
		}
		b.WriteString("<|assistant|>\n")
	case Phi3:
		for _, m := range msgs {
			fmt.Fprintf(&b, "<|%s|>\n%s<|end|>\n", m.Role, m.Content)
		}
		b.WriteString("<|assistant|>\n")
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
					b.WriteString("<s>")
				}
				b.WriteString("[INST] ")
				if sys != "" {
					fmt.Fprintf(&b, "<<SYS>>\n%s\n<</SYS>>\n\n", sys)
					sys = ""
				}
				b.WriteString(strings.TrimSpace(m.Content))
				b.WriteString(" [/INST]")
				first = false
			case "assistant":
				fmt.Fprintf(&b, " %s </s>", strings.TrimSpace(m.Content))
			}
		}
	case Raw:
		for i, m := range msgs {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(m.Content)
		}
	default:
		return "", fmt.Errorf("unknown chat template %q (known: llama2, llama3, chatml, zephyr, phi3, raw)", tmpl)
	}
	return b.String(), nil
}
