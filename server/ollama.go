package server

import (
	"encoding/json"
	"net/http"
	"time"

	"s4c/chat"
)

// The ollama API (/api/generate, /api/chat, /api/tags): streamed as
// newline-delimited JSON by default, errors as {"error": "…"}, so tools
// written for ollama work unchanged.

type ollamaOptions struct {
	NumPredict    *int            `json:"num_predict"`
	Temperature   *float64        `json:"temperature"`
	TopK          *int            `json:"top_k"`
	TopP          *float64        `json:"top_p"`
	MinP          *float64        `json:"min_p"`
	Seed          *int64          `json:"seed"`
	RepeatPenalty *float64        `json:"repeat_penalty"`
	Stop          json.RawMessage `json:"stop"`
}

type ollamaRequest struct {
	Model    string         `json:"model"`
	Prompt   string         `json:"prompt"`
	System   string         `json:"system"`
	Raw      bool           `json:"raw"`
	Messages []chat.Message `json:"messages"`
	Stream   *bool          `json:"stream"`
	Options  ollamaOptions  `json:"options"`
}

func writeOllamaError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, map[string]string{"error": e.message})
}

func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"models": []any{map[string]any{"name": s.cfg.ModelID, "model": s.cfg.ModelID,
		"modified_at": s.started.Format(time.RFC3339), "details": map[string]any{"family": s.e.Model.Arch, "format": "gguf"}}}})
}

func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) { s.ollama(w, r, false) }
func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request)     { s.ollama(w, r, true) }

func (s *Server) ollama(w http.ResponseWriter, r *http.Request, isChat bool) {
	var req ollamaRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		writeOllamaError(w, e)
		return
	}
	if e := s.checkModel(req.Model); e != nil {
		writeOllamaError(w, e)
		return
	}
	stop, e := stopList(req.Options.Stop)
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	o := req.Options
	g := genParams{maxTokens: o.NumPredict, temperature: o.Temperature, topK: o.TopK, topP: o.TopP, minP: o.MinP, seed: o.Seed, repeatPen: o.RepeatPenalty, stop: stop}
	if g.maxTokens != nil && *g.maxTokens < 0 { // ollama: -1 = until the context is full
		g.maxTokens = nil
	}
	var prompt []int32
	var err error
	switch {
	case isChat:
		if len(req.Messages) == 0 {
			writeOllamaError(w, badRequest("messages", "messages is empty: give at least one message"))
			return
		}
		for i, m := range req.Messages {
			if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
				writeOllamaError(w, badRequest("messages", "messages[%d].role %q: want system, user or assistant", i, m.Role))
				return
			}
		}
		prompt, err = s.e.EncodeChat(req.Messages)
	case req.Prompt == "":
		writeOllamaError(w, badRequest("prompt", "prompt is empty"))
		return
	case req.Raw:
		prompt = s.e.Encode(req.Prompt)
	default:
		var msgs []chat.Message
		if req.System != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: req.System})
		}
		prompt, err = s.e.EncodeChat(append(msgs, chat.Message{Role: "user", Content: req.Prompt}))
	}
	if err != nil {
		writeOllamaError(w, badRequest("messages", "rendering the chat template: %v", err))
		return
	}
	ereq, e := s.request(prompt, g)
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	stream := req.Stream == nil || *req.Stream
	line := func(text string, done bool) map[string]any {
		m := map[string]any{"model": s.cfg.ModelID, "created_at": time.Now().UTC().Format(time.RFC3339Nano), "done": done}
		if isChat {
			m["message"] = map[string]any{"role": "assistant", "content": text}
		} else {
			m["response"] = text
		}
		return m
	}
	fl, _ := w.(http.Flusher)
	started := false
	enc := json.NewEncoder(w)
	send := func(v any) error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(200)
			started = true
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	}
	name := "ollama_generate"
	if isChat {
		name = "ollama_chat"
	}
	res, e := s.generate(r, newID(), name, ereq, stop, func(pc piece) error {
		if !stream {
			return nil
		}
		return send(line(pc.text, false))
	})
	if e != nil {
		if !started {
			writeOllamaError(w, e)
		} else {
			send(map[string]string{"error": e.message})
		}
		return
	}
	text := ""
	if !stream {
		text = res.text
	}
	final := line(text, true)
	st := res.stats
	final["done_reason"] = res.finish
	final["total_duration"] = (st.PromptTime + st.GenTime).Nanoseconds()
	final["load_duration"] = 0
	final["prompt_eval_count"] = st.PromptTokens
	final["prompt_eval_duration"] = st.PromptTime.Nanoseconds()
	final["eval_count"] = st.GenTokens
	final["eval_duration"] = st.GenTime.Nanoseconds()
	final["timings"] = timings(st)
	if stream {
		send(final)
	} else {
		writeJSON(w, 200, final)
	}
}
