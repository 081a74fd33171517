package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"s4c/chat"
)

// openAIParams are the fields the OpenAI API's chat and text completions
// share. Unknown fields are ignored, as OpenAI's own server does.
type openAIParams struct {
	Model               string          `json:"model"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	RepeatPenalty       *float64        `json:"repeat_penalty"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	Logprobs            any             `json:"logprobs"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// gen checks the shared fields and returns the generation settings.
func (p *openAIParams) gen(s *Server) (genParams, *apiError) {
	if e := s.checkModel(p.Model); e != nil {
		return genParams{}, e
	}
	if p.N != nil && *p.N != 1 {
		return genParams{}, badRequest("n", "n = %d: this server returns one choice per request; send %d requests instead", *p.N, *p.N)
	}
	for name, v := range map[string]*float64{"frequency_penalty": p.FrequencyPenalty, "presence_penalty": p.PresencePenalty} {
		if v != nil && *v != 0 {
			return genParams{}, badRequest(name, "%s is not supported (it would change the model's distribution per request beyond what lossless speculative sampling verifies); use repeat_penalty (llama.cpp's) or leave it 0", name)
		}
	}
	if b, ok := p.Logprobs.(bool); ok && b {
		return genParams{}, badRequest("logprobs", "logprobs are not supported")
	}
	stop, e := stopList(p.Stop)
	if e != nil {
		return genParams{}, e
	}
	mt := p.MaxTokens
	if p.MaxCompletionTokens != nil {
		mt = p.MaxCompletionTokens
	}
	return genParams{maxTokens: mt, temperature: p.Temperature, topP: p.TopP, topK: p.TopK, minP: p.MinP, seed: p.Seed, repeatPen: p.RepeatPenalty, stop: stop}, nil
}

type chatRequest struct {
	openAIParams
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// content reads a message's content: a string, or an array of text parts.
func content(raw json.RawMessage, i int) (string, *apiError) {
	param := fmt.Sprintf("messages[%d].content", i)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "%s: want a string or an array of text parts", param)
	}
	for _, p := range parts {
		if p.Type != "text" {
			return "", badRequest(param, "%s: a %q part; this model reads text parts only", param, p.Type)
		}
		s += p.Text
	}
	return s, nil
}

func (s *Server) chatMessages(req *chatRequest) ([]chat.Message, *apiError) {
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "messages is empty: give at least one message")
	}
	var msgs []chat.Message
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		default:
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d].role %q: want system, user or assistant", i, m.Role)
		}
		c, e := content(m.Content, i)
		if e != nil {
			return nil, e
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		msgs = append(msgs, chat.Message{Role: role, Content: c})
	}
	return msgs, nil
}

// readOpenAI reads a request body into req and checks its shared fields.
func (s *Server) readOpenAI(w http.ResponseWriter, r *http.Request, req any, p *openAIParams) (genParams, *apiError) {
	if e := s.decodeBody(w, r, req); e != nil {
		return genParams{}, e
	}
	return p.gen(s)
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	g, e := s.readOpenAI(w, r, &req, &req.openAIParams)
	if e != nil {
		writeError(w, e)
		return
	}
	msgs, e := s.chatMessages(&req)
	if e != nil {
		writeError(w, e)
		return
	}
	prompt, err := s.e.EncodeChat(msgs)
	if err != nil {
		writeError(w, badRequest("messages", "rendering the chat template: %v", err))
		return
	}
	s.openAI(w, r, "chat.completion", &req.openAIParams, prompt, g)
}

type completionRequest struct {
	openAIParams
	Prompt json.RawMessage `json:"prompt"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	g, e := s.readOpenAI(w, r, &req, &req.openAIParams)
	if e != nil {
		writeError(w, e)
		return
	}
	var text string
	if err := json.Unmarshal(req.Prompt, &text); err != nil {
		var one []string
		if json.Unmarshal(req.Prompt, &one) == nil && len(one) == 1 {
			text = one[0]
		} else {
			writeError(w, badRequest("prompt", "prompt: want a string (one prompt per request)"))
			return
		}
	}
	if text == "" {
		writeError(w, badRequest("prompt", "prompt is empty"))
		return
	}
	s.openAI(w, r, "text_completion", &req.openAIParams, s.e.Encode(text), g)
}

// openAI runs a chat or text completion and answers in the OpenAI form,
// streamed as server-sent events or as one JSON object.
func (s *Server) openAI(w http.ResponseWriter, r *http.Request, object string, p *openAIParams, prompt []int32, g genParams) {
	req, e := s.request(prompt, g)
	if e != nil {
		writeError(w, e)
		return
	}
	created := time.Now().Unix()
	isChat := object == "chat.completion"
	choice := func(text string, finish any, delta bool) map[string]any {
		c := map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil}
		switch {
		case isChat && delta:
			d := map[string]any{}
			if text != "" {
				d["content"] = text
			}
			c["delta"] = d
		case isChat:
			c["message"] = map[string]any{"role": "assistant", "content": text}
		default:
			c["text"] = text
		}
		return c
	}
	usage := func(res *result) map[string]any {
		return map[string]any{"prompt_tokens": res.stats.PromptTokens, "completion_tokens": res.stats.GenTokens,
			"total_tokens": res.stats.PromptTokens + res.stats.GenTokens}
	}
	if !p.Stream {
		res, e := s.generate(r, newID(), object, req, g.stop, func(piece) error { return nil })
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, 200, map[string]any{"id": res.id, "object": object, "created": created, "model": s.cfg.ModelID,
			"choices": []any{choice(res.text, res.finish, false)}, "usage": usage(res), "timings": timings(res.stats)})
		return
	}
	chunkObject := object
	if isChat {
		chunkObject = "chat.completion.chunk"
	}
	fl, _ := w.(http.Flusher)
	started := false
	var id string
	send := func(v any) error {
		if !started {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Accel-Buffering", "no")
			w.WriteHeader(200)
			started = true
		}
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	}
	chunk := func(c map[string]any) map[string]any {
		return map[string]any{"id": id, "object": chunkObject, "created": created, "model": s.cfg.ModelID, "choices": []any{c}}
	}
	id = newID()
	first := true
	res, e := s.generate(r, id, object, req, g.stop, func(pc piece) error {
		c := choice(pc.text, nil, true)
		if first && isChat {
			c["delta"].(map[string]any)["role"] = "assistant"
		}
		first = false
		m := chunk(c)
		m["s4c"] = map[string]any{"depth": pc.depth}
		return send(m)
	})
	if e != nil {
		if !started {
			writeError(w, e)
			return
		}
		send(map[string]any{"error": map[string]any{"message": e.message, "type": e.typ, "code": e.code}})
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	if r.Context().Err() != nil {
		return
	}
	last := chunk(choice("", res.finish, true))
	last["timings"] = timings(res.stats)
	send(last)
	if p.StreamOptions != nil && p.StreamOptions.IncludeUsage {
		send(map[string]any{"id": id, "object": chunkObject, "created": created, "model": s.cfg.ModelID, "choices": []any{}, "usage": usage(res)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}
