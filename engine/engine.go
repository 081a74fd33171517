// Package engine is the Go API a program embeds: load a GGUF model (its
// weights and tokenizer), then generate text with a callback per token.
package engine

import (
	"errors"
	"fmt"
	"time"

	"s4c/chat"
	"s4c/internal/sysmem"
	"s4c/model"
	"s4c/sample"
	"s4c/tokenizer"
)

// Engine is a loaded model with its tokenizer.
type Engine struct {
	Model   *model.Model
	Tok     *tokenizer.Tokenizer
	Threads int
	Path    string // the file it was loaded from
}

// Load opens a GGUF model file.
func Load(path string, threads int) (*Engine, error) {
	m, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(m.File)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tok.Len() != m.Vocab {
		m.Close()
		return nil, fmt.Errorf("%s: tokenizer has %d tokens but the output layer has %d", path, tok.Len(), m.Vocab)
	}
	return &Engine{Model: m, Tok: tok, Threads: threads, Path: path}, nil
}

// Close releases the model.
func (e *Engine) Close() error { return e.Model.Close() }

// chatTemplate is the model's chat template family.
func (e *Engine) chatTemplate() string {
	return chat.Detect(e.Tok.ChatTmpl, func(s string) bool { _, ok := e.Tok.ID(s); return ok })
}

// ChatPrompt renders messages with the model's chat template family.
func (e *Engine) ChatPrompt(msgs []chat.Message) (string, error) {
	return chat.Render(e.chatTemplate(), msgs)
}

// Encode tokenizes a prompt the way generation expects: BOS as the model
// asks, and the text as text: "</s>" or "<|im_start|>" typed by a user stays
// those characters, never the control tokens.
func (e *Engine) Encode(prompt string) []int32 { return e.Tok.Encode(prompt, true, false) }

// EncodeSpecial is Encode with control-token texts parsed as those tokens,
// for a prompt written with the model's own markers (e.g. a chat template
// rendered by hand).
func (e *Engine) EncodeSpecial(prompt string) []int32 { return e.Tok.Encode(prompt, true, true) }

// EncodeChat renders messages with the model's chat template and tokenizes
// them: the template's markers become control tokens, the messages'
// contents stay text.
func (e *Engine) EncodeChat(msgs []chat.Message) ([]int32, error) {
	parts, err := chat.RenderParts(e.chatTemplate(), msgs)
	if err != nil {
		return nil, err
	}
	tp := make([]tokenizer.Part, len(parts))
	for i, p := range parts {
		tp[i] = tokenizer.Part{Text: p.Text, ParseSpecial: p.Template}
	}
	return e.Tok.EncodeParts(tp, true), nil
}

// Request is one generation.
type Request struct {
	Prompt    []int32
	MaxTokens int // new tokens at most (0 or less: none; past the context: until it is full)
	Sampling  sample.Params
	// IgnoreEOG keeps generating past end-of-sequence tokens (benchmarks).
	IgnoreEOG bool
	// OnToken is called for every generated token; returning false stops.
	OnToken func(id int32) bool
	// Ctx is the KV cache size (0: prompt + MaxTokens, at most the model's).
	Ctx int
}

// Stats describe a finished generation.
type Stats struct {
	PromptTokens int
	GenTokens    int
	PromptTime   time.Duration
	GenTime      time.Duration
	StopReason   string // "eog", "length", "callback"
	// The KV cache: capacity in tokens and the memory its rows take.
	CacheTokens int
	CacheBytes  int64
}

// SetCache records s's cache in the stats.
func (st *Stats) SetCache(s *model.State) {
	st.CacheTokens, st.CacheBytes = s.Cache.Cap, s.Cache.Bytes()
}

// PromptRate is prompt tokens per second.
func (s Stats) PromptRate() float64 { return rate(s.PromptTokens, s.PromptTime) }

// GenRate is generated tokens per second.
func (s Stats) GenRate() float64 { return rate(s.GenTokens, s.GenTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// PromptChunk is the largest batch the prompt is processed in.
const PromptChunk = 256

// ErrPromptTooLong is returned when the prompt does not fit the context.
var ErrPromptTooLong = errors.New("prompt too long")

// NewState makes a decoding state sized for a request.
func (e *Engine) NewState(req *Request) (*model.State, error) {
	if len(req.Prompt) == 0 {
		return nil, fmt.Errorf("empty prompt: give at least one token")
	}
	if err := req.Sampling.Validate(); err != nil {
		return nil, err
	}
	if req.Ctx < 0 {
		return nil, fmt.Errorf("context size %d: want a positive number of tokens, or 0 for prompt + output", req.Ctx)
	}
	ctx := req.Ctx
	if ctx == 0 {
		// Prompt + output + room for a draft tree, at most the model's
		// (compared before adding: MaxTokens may be near MaxInt).
		ctx = e.Model.CtxLen
		if want := len(req.Prompt) + 64; req.MaxTokens < e.Model.CtxLen-want {
			ctx = want + max(req.MaxTokens, 0)
		}
	}
	ctx = min(ctx, e.Model.CtxLen)
	if len(req.Prompt) >= ctx {
		return nil, fmt.Errorf("%w: %d tokens, but the context holds %d (the model's limit is %d); shorten the prompt", ErrPromptTooLong, len(req.Prompt), ctx, e.Model.CtxLen)
	}
	if err := sysmem.Check(e.Model.KVCacheBytes(ctx), fmt.Sprintf("a KV cache of %d tokens", ctx), "ask for a smaller context (--ctx) or fewer new tokens (-n)"); err != nil {
		return nil, err
	}
	s := e.Model.NewState(ctx, e.Threads)
	// The decoding loops use each pass's output before the next pass.
	s.ReuseOutputs = true
	return s, nil
}

// Prefill runs the prompt through the model in chunks and returns the
// logits of its last token (and, if hidden, that token's hidden state).
func Prefill(s *model.State, prompt []int32, hidden bool) (logits, h []float32, err error) {
	for at := 0; at < len(prompt); at += PromptChunk {
		end := min(at+PromptChunk, len(prompt))
		out, err := s.Forward(&model.Batch{Tokens: prompt[at:end], Hidden: hidden && end == len(prompt)})
		if err != nil {
			return nil, nil, err
		}
		s.Commit(end - at)
		if end == len(prompt) {
			if hidden {
				h = out.Hidden[(end-at-1)*s.M.Dim:]
			}
			return out.Row(0), h, nil
		}
	}
	return nil, nil, nil
}

// GeneratePlain decodes one token per forward pass: the baseline that
// speculative decoding must equal (greedy) or match in distribution.
func (e *Engine) GeneratePlain(req Request) ([]int32, Stats, error) {
	st := Stats{PromptTokens: len(req.Prompt)}
	s, err := e.NewState(&req)
	if err == nil {
		st.SetCache(s)
	}
	if err != nil {
		return nil, st, err
	}
	smp := sample.New(req.Sampling)
	t0 := time.Now()
	logits, _, err := Prefill(s, req.Prompt, false)
	if err != nil {
		return nil, st, err
	}
	st.PromptTime = time.Since(t0)
	t1 := time.Now()
	history := append([]int32(nil), req.Prompt...)
	var out []int32
	st.StopReason = "length"
	for len(out) < req.MaxTokens {
		id := smp.Sample(logits, history)
		out = append(out, id)
		history = append(history, id)
		if req.OnToken != nil && !req.OnToken(id) {
			st.StopReason = "callback"
			break
		}
		if !req.IgnoreEOG && e.Tok.IsEOG(id) {
			st.StopReason = "eog"
			break
		}
		if len(out) == req.MaxTokens {
			break
		}
		if s.Cache.Len+1 > s.Cache.Cap {
			st.StopReason = "context"
			break
		}
		o, err := s.Forward(&model.Batch{Tokens: []int32{id}})
		if err != nil {
			return out, st, err
		}
		s.Commit(1)
		logits = o.Row(0)
	}
	st.GenTokens = len(out)
	st.GenTime = time.Since(t1)
	return out, st, nil
}
