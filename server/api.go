package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"s4c/engine"
	"s4c/sample"
	"s4c/speculative"
)

// apiError is an error a client gets, in the OpenAI form
// {"error": {"message", "type", "param", "code"}} with an HTTP status.
type apiError struct {
	status  int
	typ     string // invalid_request_error, not_found_error, server_error, …
	code    string
	param   string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(param, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, message: fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	var param, code any
	if e.param != "" {
		param = e.param
	}
	if e.code != "" {
		code = e.code
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.message, "type": e.typ, "param": param, "code": code}})
}

// statusWriter remembers the status code for the request log and metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern, name string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					s.logf("panic serving %s: %v", r.URL.Path, p)
					if sw.code == 0 {
						writeError(sw, &apiError{status: 500, typ: "server_error", message: fmt.Sprintf("internal error: %v", p)})
					}
				}
				code := sw.code
				if code == 0 {
					code = 200
				}
				s.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
			}()
			h(sw, r)
		})
	}
	handle("POST /v1/chat/completions", "chat", s.chatCompletions)
	handle("POST /v1/completions", "completions", s.completions)
	handle("GET /v1/models", "models", s.models)
	handle("POST /api/chat", "ollama_chat", s.ollamaChat)
	handle("POST /api/generate", "ollama_generate", s.ollamaGenerate)
	handle("GET /api/tags", "ollama_tags", s.ollamaTags)
	handle("GET /api/version", "ollama_version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"version": "0.0.0-s4c"})
	})
	handle("GET /health", "health", s.health)
	mux.Handle("GET /metrics", s.metrics.handlerFunc)
	handle("GET /{$}", "page", s.page)
	handle("/", "unknown", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: 404, typ: "not_found_error", code: "unknown_route",
			message: fmt.Sprintf("no route %s %s: this server has POST /v1/chat/completions, POST /v1/completions, GET /v1/models, POST /api/chat, POST /api/generate, GET /health, GET /metrics and GET /", r.Method, r.URL.Path)})
	})
	return mux
}

func (s *Server) logf(format string, a ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log.Printf(format, a...)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining { // (while the model loads, s4c serve answers 503 itself)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	method, plain := s.Decoder()
	writeJSON(w, 200, map[string]any{"status": "ok", "model": s.cfg.ModelID, "method": method, "plain_fallback": plain, "slots": len(s.slots)})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"object": "list", "data": []any{map[string]any{
		"id": s.cfg.ModelID, "object": "model", "created": s.started.Unix(), "owned_by": "s4c"}}})
}

// decodeBody reads a JSON request body of at most MaxBody bytes into v.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "body_too_large",
				message: fmt.Sprintf("request body over %d bytes", s.cfg.MaxBody)}
		}
		return badRequest("", "reading the request body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest(te.Field, "field %q: got a JSON %s, want %s", te.Field, te.Value, jsonType(te.Type.String()))
		}
		return badRequest("", "the body is not valid JSON: %v", err)
	}
	return nil
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	}
	return "another type (" + goType + ")"
}

// checkModel accepts the server's model name (or none).
func (s *Server) checkModel(name string) *apiError {
	if name == "" || name == s.cfg.ModelID || strings.TrimSuffix(name, ":latest") == s.cfg.ModelID {
		return nil
	}
	return &apiError{status: 404, typ: "invalid_request_error", param: "model", code: "model_not_found",
		message: fmt.Sprintf("model %q is not served here; this server serves %q (GET /v1/models)", name, s.cfg.ModelID)}
}

// genParams are the generation settings common to every API.
type genParams struct {
	maxTokens   *int
	temperature *float64
	topP        *float64
	topK        *int
	minP        *float64
	seed        *int64
	repeatPen   *float64
	stop        []string
}

// request turns settings into an engine request for prompt, checking each
// value; unset values take llama.cpp's sampling defaults, and an unset
// max_tokens runs until the context is full.
func (s *Server) request(prompt []int32, g genParams) (engine.Request, *apiError) {
	sp := sample.Defaults()
	if g.temperature != nil {
		if t := *g.temperature; !(t >= 0 && t <= 2) {
			return engine.Request{}, badRequest("temperature", "temperature %v: want 0 to 2 (0 = greedy)", t)
		}
		sp.Temp = float32(*g.temperature)
	}
	if g.topP != nil {
		if p := *g.topP; !(p > 0 && p <= 1) {
			return engine.Request{}, badRequest("top_p", "top_p %v: want 0 < top_p <= 1", p)
		}
		sp.TopP = float32(*g.topP)
	}
	if g.topK != nil {
		if *g.topK < 0 {
			return engine.Request{}, badRequest("top_k", "top_k %d: want >= 0 (0 = off)", *g.topK)
		}
		sp.TopK = *g.topK
	}
	if g.minP != nil {
		if p := *g.minP; !(p >= 0 && p < 1) {
			return engine.Request{}, badRequest("min_p", "min_p %v: want 0 <= min_p < 1", p)
		}
		sp.MinP = float32(*g.minP)
	}
	if g.repeatPen != nil {
		if p := *g.repeatPen; !(p > 0 && p < 100) {
			return engine.Request{}, badRequest("repeat_penalty", "repeat_penalty %v: want > 0 (1 = off)", p)
		}
		sp.RepeatPenalty = float32(*g.repeatPen)
	}
	if g.seed != nil {
		sp.Seed = uint64(*g.seed)
	} else {
		sp.Seed = uint64(time.Now().UnixNano())
	}
	if len(prompt) == 0 {
		return engine.Request{}, badRequest("prompt", "empty prompt")
	}
	if len(prompt) >= s.cfg.Ctx {
		return engine.Request{}, &apiError{status: 400, typ: "invalid_request_error", code: "context_length_exceeded", param: "messages",
			message: fmt.Sprintf("the prompt has %d tokens, but a request's context holds %d (--ctx; the model's limit is %d): shorten it", len(prompt), s.cfg.Ctx, s.e.Model.CtxLen)}
	}
	room := s.cfg.Ctx - len(prompt)
	n := room
	if g.maxTokens != nil {
		if *g.maxTokens < 1 {
			return engine.Request{}, badRequest("max_tokens", "max_tokens %d: want at least 1", *g.maxTokens)
		}
		n = min(*g.maxTokens, room)
	}
	for _, st := range g.stop {
		if st == "" {
			return engine.Request{}, badRequest("stop", "empty stop string")
		}
	}
	if len(g.stop) > 16 {
		return engine.Request{}, badRequest("stop", "%d stop strings: at most 16", len(g.stop))
	}
	return engine.Request{Prompt: prompt, MaxTokens: n, Sampling: sp}, nil
}

// stopList reads "stop": a string or an array of strings.
func stopList(raw json.RawMessage) ([]string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("stop", "stop: want a string or an array of strings")
	}
	return many, nil
}

// result is a finished generation as the APIs report it.
type result struct {
	text       string
	finish     string // stop, length
	stats      speculative.Stats
	id         string
	reused     int
	firstToken time.Duration
}

// piece is text released by one token, with how the token was produced.
type piece struct {
	text  string
	depth int
}

// generate queues req and streams its text to onPiece as it is produced,
// holding back text that may be the start of a stop string and ending the
// generation at one (the stop string is not emitted). It returns when the
// generation ends, the client goes away or onPiece fails.
func (s *Server) generate(r *http.Request, id, endpoint string, req engine.Request, stops []string, onPiece func(piece) error) (*result, *apiError) {
	if !s.admit() {
		return nil, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "shutting_down", message: "the server is shutting down"}
	}
	defer s.inFlight.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if s.cfg.RequestTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
	}
	j := &job{ctx: ctx, req: req, enq: time.Now(), notify: make(chan struct{}, 1)}
	if !s.enqueue(j) {
		return nil, &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "queue_full",
			message: fmt.Sprintf("%d requests are already waiting; retry shortly", s.cfg.Queue)}
	}
	res := &result{id: id, finish: "length"}
	var text strings.Builder
	dec := s.e.Tok.NewDecoder()
	// The reply continues the prompt's text (as 's4c run' prints it): a
	// leading space of its first token is kept.
	dec.Next(req.Prompt[len(req.Prompt)-1])
	dec.Flush()
	stop := &stopper{stops: stops}
	var last time.Time
	var stopped, failed bool
	emit := func(t string, depth int) {
		if t == "" || failed {
			return
		}
		text.WriteString(t)
		if err := onPiece(piece{t, depth}); err != nil {
			failed = true
			cancel()
		}
	}
	for {
		select {
		case <-j.notify:
		case <-ctx.Done():
			if s.unqueue(j) { // gone before it got a slot
				j.finish(speculative.Stats{Stats: engine.Stats{PromptTokens: len(req.Prompt)}}, ctx.Err())
			}
			<-j.notify // the scheduler stops it at its next pass
		}
		toks, done := j.take()
		for _, ev := range toks {
			if stopped {
				break
			}
			if res.firstToken == 0 {
				res.firstToken = ev.at.Sub(j.enq)
				s.metrics.ttft.Observe(res.firstToken.Seconds())
			} else {
				s.metrics.perToken.Observe(ev.at.Sub(last).Seconds())
			}
			last = ev.at
			if s.e.Tok.IsEOG(ev.id) {
				continue
			}
			out, hit := stop.add(dec.Next(ev.id))
			emit(out, ev.depth)
			if hit {
				stopped = true
				res.finish = "stop"
				cancel()
			}
		}
		if done {
			break
		}
	}
	j.mu.Lock()
	st, err := j.stats, j.err
	j.mu.Unlock()
	res.stats, res.reused = st, j.reused
	if !stopped {
		out, _ := stop.add(dec.Flush())
		emit(out+stop.flush(), 0)
		if st.StopReason == "eog" {
			res.finish = "stop"
		}
	}
	res.text = text.String()
	gone := r.Context().Err() != nil
	s.metrics.finished(st, res.reused)
	status := "ok"
	switch {
	case gone:
		status = "client gone"
	case ctx.Err() == context.DeadlineExceeded:
		status = "timeout"
	case err != nil:
		status = "error: " + err.Error()
	}
	s.logf("%s %s in %d (reused %d) out %d tau %.2f %.1f tok/s ttft %s finish %s status %s", res.id, endpoint, st.PromptTokens, res.reused, st.GenTokens, st.Tau(),
		st.GenRate(), res.firstToken.Round(time.Millisecond), res.finish, status)
	if err != nil && !gone {
		if errors.Is(err, engine.ErrPromptTooLong) {
			return nil, &apiError{status: 400, typ: "invalid_request_error", code: "context_length_exceeded", message: err.Error()}
		}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
			return nil, &apiError{status: http.StatusGatewayTimeout, typ: "server_error", code: "timeout", message: fmt.Sprintf("the request ran past the request timeout (%s)", s.cfg.RequestTimeout)}
		}
		return nil, &apiError{status: 500, typ: "server_error", message: err.Error()}
	}
	if ctx.Err() == context.DeadlineExceeded {
		res.finish = "length"
	}
	return res, nil
}

// stopper ends text at the first stop string, checked across token
// boundaries: text that could be the start of a stop string is held back
// until it cannot.
type stopper struct {
	stops []string
	held  string
}

// add takes new text and returns what may be emitted, and whether a stop
// string was found (what precedes it is returned; the rest is dropped).
func (s *stopper) add(text string) (string, bool) {
	s.held += text
	if len(s.stops) == 0 {
		out := s.held
		s.held = ""
		return out, false
	}
	first := -1
	for _, st := range s.stops {
		if i := strings.Index(s.held, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		out := s.held[:first]
		s.held = ""
		return out, true
	}
	keep := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(s.held)); k > keep; k-- {
			if strings.HasSuffix(s.held, st[:k]) {
				keep = k
				break
			}
		}
	}
	out := s.held[:len(s.held)-keep]
	s.held = s.held[len(s.held)-keep:]
	return out, false
}

// flush returns what is held back at the end.
func (s *stopper) flush() string {
	out := s.held
	s.held = ""
	return out
}

var idCounter atomic.Int64

func newID() string {
	return fmt.Sprintf("s4c-%x-%d", time.Now().UnixNano()&0xffffffff, idCounter.Add(1))
}

// timings is the timings extension of a response (llama-server's names,
// with τ and the draft counts).
func timings(st speculative.Stats) map[string]any {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fin := func(x float64) float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0
		}
		return x
	}
	return map[string]any{
		"prompt_n": st.PromptTokens, "prompt_ms": ms(st.PromptTime), "prompt_per_second": fin(st.PromptRate()),
		"predicted_n": st.GenTokens, "predicted_ms": ms(st.GenTime), "predicted_per_second": fin(st.GenRate()),
		"tau": fin(st.Tau()), "draft_n": st.TreeNodes, "draft_n_accepted": st.Accepted, "passes": st.Rounds,
	}
}
