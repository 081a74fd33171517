package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/sample"
	"s4c/speculative"
)

func loadEngine(t testing.TB) *engine.Engine {
	e, err := engine.Load(shared.Path(t, "models/stories260K.gguf"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newServer starts a server on the shared story model with its shipped
// heads; budget 6 makes it draft every round (the automatic budget
// measures that speculation cannot pay on a model this small).
func newServer(t testing.TB, e *engine.Engine, cfg Config) (*Server, *httptest.Server) {
	hd, err := heads.Load("../models/stories260K.s4c.gguf", e.Model)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Heads = e, hd
	if cfg.Method == "" {
		cfg.Method = "s4c"
		cfg.Options.Budget = 6
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Drain(ctx)
	})
	return s, ts
}

func post(t testing.TB, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %q", url, resp.StatusCode, b)
	}
	return resp, m
}

// plainText is what 's4c run' prints after the prompt: plain greedy
// decoding, its text continuing the prompt's.
func plainText(t testing.TB, e *engine.Engine, prompt []int32, n int) string {
	out, _, err := e.GeneratePlain(engine.Request{Prompt: prompt, MaxTokens: n, Sampling: sample.Params{TopP: 1, RepeatPenalty: 1}})
	if err != nil {
		t.Fatal(err)
	}
	d := e.Tok.NewDecoder()
	d.Next(prompt[len(prompt)-1])
	d.Flush()
	var b strings.Builder
	for _, id := range out {
		if !e.Tok.IsEOG(id) {
			b.WriteString(d.Next(id))
		}
	}
	return b.String() + d.Flush()
}

// sse reads a server-sent event stream: the JSON of every data line, and
// whether it ended with [DONE].
func sse(t testing.TB, r io.Reader) (events []map[string]any, done bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("stream line %q is not a data line", line)
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("stream event %q: %v", data, err)
		}
		events = append(events, m)
	}
	return events, done
}

// streamText joins the content of a stream's chunks (chat deltas or text).
func streamText(events []map[string]any) (string, string) {
	var b strings.Builder
	finish := ""
	for _, ev := range events {
		ch, _ := ev["choices"].([]any)
		for _, c := range ch {
			c := c.(map[string]any)
			if d, ok := c["delta"].(map[string]any); ok {
				s, _ := d["content"].(string)
				b.WriteString(s)
			}
			if s, ok := c["text"].(string); ok {
				b.WriteString(s)
			}
			if f, ok := c["finish_reason"].(string); ok {
				finish = f
			}
		}
	}
	return b.String(), finish
}

// TestConcurrentEqualsPlain: requests decoded together, streamed and not,
// chat and text completions, each give at temperature 0 the text plain
// greedy decoding gives alone ('s4c run'), whatever else is in the batch;
// and passes really did hold several sequences.
func TestConcurrentEqualsPlain(t *testing.T) {
	e := loadEngine(t)
	for _, method := range []string{"s4c", "none"} {
		t.Run(method, func(t *testing.T) {
			_, ts := newServer(t, e, Config{Method: method, Options: speculative.Options{Budget: map[string]int{"s4c": 6, "none": 0}[method]}})
			prompts := []string{"Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a big", "Tom had a red ball", "The sun was"}
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(prompts))
			for i, p := range prompts {
				for _, stream := range []bool{false, true} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n := 40 + 13*i
						want := plainText(t, e, e.Encode(p), n)
						body := fmt.Sprintf(`{"prompt":%q,"max_tokens":%d,"temperature":0,"stream":%v}`, p, n, stream)
						resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
						if err != nil {
							errs <- err
							return
						}
						defer resp.Body.Close()
						var got string
						if stream {
							evs, done := sse(t, resp.Body)
							if !done {
								errs <- fmt.Errorf("prompt %d: stream did not end with [DONE]", i)
							}
							got, _ = streamText(evs)
						} else {
							var m struct {
								Choices []struct{ Text string }
							}
							json.NewDecoder(resp.Body).Decode(&m)
							if len(m.Choices) == 1 {
								got = m.Choices[0].Text
							}
						}
						if got != want {
							errs <- fmt.Errorf("prompt %d (stream %v): server text differs from plain decoding alone\nserver: %q\n plain: %q", i, stream, got, want)
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			single, all := histogramCounts(t, ts.URL, "s4c_pass_sequences", "1")
			if single >= all {
				t.Errorf("all %v passes held one sequence: requests were not batched", all)
			}
			t.Logf("%v of %v passes held one sequence", single, all)
		})
	}
}

// scrape reads every sample of /metrics: name{labels} -> value.
func scrape(t testing.TB, base string) map[string]float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && !strings.HasPrefix(k, "#") {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				out[k] = f
			}
		}
	}
	return out
}

// histogramCounts reads a histogram's bucket le and its total count.
func histogramCounts(t testing.TB, base, name, le string) (bucket, count float64) {
	m := scrape(t, base)
	return m[name+`_bucket{le="`+le+`"}`], m[name+"_count"]
}

func metric(t testing.TB, base, name string) float64 {
	v, ok := scrape(t, base)[name]
	if !ok {
		t.Fatalf("metric %s not in /metrics", name)
	}
	return v
}

// TestChatStream: a streamed chat completion has the OpenAI chunk form
// (role in the first delta, a finish reason, usage with include_usage,
// [DONE] last), each chunk says how its token was produced, and its text
// equals the same request's non-streamed answer.
func TestChatStream(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{})
	body := `{"model":"stories260K","messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":60,"temperature":0,"seed":1%s}`
	resp, m := post(t, ts.URL+"/v1/chat/completions", fmt.Sprintf(body, ""))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	choice := m["choices"].([]any)[0].(map[string]any)
	want := choice["message"].(map[string]any)["content"].(string)
	if m["object"] != "chat.completion" || choice["finish_reason"] != "length" || want == "" {
		t.Fatalf("non-streamed answer: %v", m)
	}
	if u := m["usage"].(map[string]any); u["completion_tokens"].(float64) != 60 {
		t.Errorf("usage %v: want 60 completion tokens", u)
	}
	tm := m["timings"].(map[string]any)
	if tm["tau"].(float64) <= 1 || tm["draft_n_accepted"].(float64) == 0 {
		t.Errorf("timings %v: want drafts accepted and tau > 1", tm)
	}
	resp2, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(fmt.Sprintf(body, `,"stream":true,"stream_options":{"include_usage":true}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if ct := resp2.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("stream Content-Type %q", ct)
	}
	evs, done := sse(t, resp2.Body)
	if !done || len(evs) < 3 {
		t.Fatalf("%d events, [DONE] %v", len(evs), done)
	}
	got, finish := streamText(evs)
	if got != want || finish != "length" {
		t.Errorf("streamed text %q (finish %q), want %q (length)", got, finish, want)
	}
	first := evs[0]["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
	if first["role"] != "assistant" {
		t.Errorf("first delta %v has no assistant role", first)
	}
	drafted := 0
	for _, ev := range evs {
		if ev["object"] != "chat.completion.chunk" {
			t.Errorf("chunk object %v", ev["object"])
		}
		if x, ok := ev["s4c"].(map[string]any); ok && x["depth"].(float64) > 0 {
			drafted++
		}
	}
	if drafted == 0 {
		t.Error("no chunk came from an accepted draft (s4c.depth > 0)")
	}
	last := evs[len(evs)-1]
	if len(last["choices"].([]any)) != 0 || last["usage"].(map[string]any)["completion_tokens"].(float64) != 60 {
		t.Errorf("last event %v: want the usage chunk", last)
	}
}

func TestStopper(t *testing.T) {
	for _, c := range []struct {
		stops  []string
		pieces []string
		want   string
		hit    bool
	}{
		{[]string{"END"}, []string{"abc", "E", "N", "D", "x"}, "abc", true},
		{[]string{"END"}, []string{"abcEN", "Dx"}, "abc", true},
		{[]string{"END"}, []string{"abE", "Nope"}, "abENope", false},
		{[]string{"\n\n", "Bob:"}, []string{"Hi\n", "Bo", "b: yo"}, "Hi\n", true},
		{[]string{"\n\n", "Bob:"}, []string{"Hi\n", "\nBob:"}, "Hi", true},
		{nil, []string{"a", "b"}, "ab", false},
		{[]string{"aab"}, []string{"a", "a", "a", "b"}, "a", true},
	} {
		s := &stopper{stops: c.stops}
		var got strings.Builder
		hit := false
		for _, p := range c.pieces {
			out, h := s.add(p)
			got.WriteString(out)
			if h {
				hit = true
				break
			}
		}
		if !hit {
			got.WriteString(s.flush())
		}
		if got.String() != c.want || hit != c.hit {
			t.Errorf("stops %q, pieces %q: got %q (hit %v), want %q (hit %v)", c.stops, c.pieces, got.String(), hit, c.want, c.hit)
		}
	}
}

// TestStopString: the text ends just before the first stop string, which
// the client never sees, streamed or not; finish_reason is "stop".
func TestStopString(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{})
	full := plainText(t, e, e.Encode("Once upon a time"), 60)
	i := strings.Index(full, "She")
	if i < 0 {
		t.Fatalf("the greedy story %q has no \"She\" to stop at", full)
	}
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"prompt":"Once upon a time","max_tokens":60,"temperature":0,"stop":["zzz","She"],"stream":%v}`, stream)
		resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var got, finish string
		if stream {
			evs, _ := sse(t, resp.Body)
			got, finish = streamText(evs)
		} else {
			var m struct {
				Choices []struct {
					Text         string
					FinishReason string `json:"finish_reason"`
				}
			}
			json.NewDecoder(resp.Body).Decode(&m)
			got, finish = m.Choices[0].Text, m.Choices[0].FinishReason
		}
		resp.Body.Close()
		if got != full[:i] || finish != "stop" {
			t.Errorf("stream %v: %q (finish %q), want %q (stop)", stream, got, finish, full[:i])
		}
	}
}

// TestErrors: every bad request gets an OpenAI-style error with a status
// that says what happened, and the server keeps serving.
func TestErrors(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{Ctx: 64, MaxBody: 4096})
	long := strings.Repeat("Once upon a time there was a dog. ", 20)
	for _, c := range []struct {
		path, body string
		status     int
		want       string // in the message
	}{
		{"/v1/chat/completions", `{"messages":[`, 400, "not valid JSON"},
		{"/v1/chat/completions", `{"messages":"hi"}`, 400, "messages"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}`, 400, "max_tokens"},
		{"/v1/chat/completions", `{"messages":[]}`, 400, "empty"},
		{"/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, "role"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "text parts"},
		{"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 404, "not served here"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"n":3}`, 400, "one choice"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"frequency_penalty":0.5}`, 400, "not supported"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":7}`, 400, "temperature"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"top_p":0}`, 400, "top_p"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "max_tokens"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stop":[""]}`, 400, "stop"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stop":5}`, 400, "stop"},
		{"/v1/completions", `{"prompt":` + fmt.Sprintf("%q", long) + `}`, 400, "context holds 64"},
		{"/v1/completions", `{"prompt":""}`, 400, "empty"},
		{"/v1/completions", `{"prompt":"` + strings.Repeat("x", 5000) + `"}`, 413, "over 4096 bytes"},
		{"/v1/embeddings", `{}`, 404, "no route"},
		{"/api/generate", `{"prompt":""}`, 400, "empty"},
		{"/api/chat", `{"model":"llama3","messages":[{"role":"user","content":"hi"}]}`, 404, "not served here"},
	} {
		resp, m := post(t, ts.URL+c.path, c.body)
		msg := ""
		switch v := m["error"].(type) {
		case map[string]any:
			msg, _ = v["message"].(string)
		case string: // the ollama API's form
			msg = v
		}
		if resp.StatusCode != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("POST %s %.60s: %d %q, want %d and a message with %q", c.path, c.body, resp.StatusCode, msg, c.status, c.want)
		}
	}
	resp, m := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":5}`)
	if resp.StatusCode != 200 {
		t.Errorf("after the bad requests a good one got %d: %v", resp.StatusCode, m)
	}
}

// TestQueueAndDisconnect: with one slot and a queue of one, a third
// request is refused with 429 and Retry-After; a streaming client that
// goes away frees its slot at once, and the next request is served.
func TestQueueAndDisconnect(t *testing.T) {
	e := loadEngine(t)
	s, ts := newServer(t, e, Config{Parallel: 1, Queue: 1, Ctx: 512})
	s.passHook = func() { time.Sleep(2 * time.Millisecond) } // 400 tokens take a second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"Once upon a time","max_tokens":400,"temperature":0,"stream":true}`))
		return http.DefaultClient.Do(req)
	}
	first, err := start(ctx) // decoding in the only slot
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(first.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	secondDone := make(chan *http.Response, 1)
	go func() { // waits in the queue; its client gives up there
		r, _ := start(ctx2)
		secondDone <- r
	}()
	for metric(t, ts.URL, "s4c_queue_length") < 1 {
		time.Sleep(time.Millisecond)
	}
	resp, m := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":2}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || m["error"].(map[string]any)["code"] != "queue_full" {
		t.Fatalf("a request beyond the slot and the queue: %d (Retry-After %q) %v, want 429 queue_full with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	cancel() // the first client goes away mid-stream
	first.Body.Close()
	cancel2()
	if r := <-secondDone; r != nil {
		r.Body.Close()
	}
	// Both are gone within a pass: the slot is free and the queue empty.
	t0 := time.Now()
	for metric(t, ts.URL, "s4c_active_sequences") != 0 || metric(t, ts.URL, "s4c_queue_length") != 0 {
		if time.Since(t0) > 2*time.Second {
			t.Fatal("two seconds after its client left, a request still holds a slot or a place in the queue")
		}
		time.Sleep(time.Millisecond)
	}
	resp, m = post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":5,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("after the disconnect: %d %v", resp.StatusCode, m)
	}
	t.Logf("slot and queue free %s after the clients left", time.Since(t0))
}

// TestPrefixReuse: a request that extends what a slot last held (the
// next turn of a conversation) runs only its new tokens. (The story model
// has no chat template, so the turns are text completions; with a chat
// template the previous turns' text is the same prefix.)
func TestPrefixReuse(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{Parallel: 2})
	_, m := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":40,"temperature":0}`)
	reply := m["choices"].([]any)[0].(map[string]any)["text"].(string)
	before := metric(t, ts.URL, "s4c_prompt_tokens_reused_total")
	turn2 := "Once upon a time" + reply + " The end. Then"
	_, m2 := post(t, ts.URL+"/v1/completions", fmt.Sprintf(`{"prompt":%q,"max_tokens":10,"temperature":0}`, turn2))
	prompt := m2["usage"].(map[string]any)["prompt_tokens"].(float64)
	reused := metric(t, ts.URL, "s4c_prompt_tokens_reused_total") - before
	if reused < 40 || reused >= prompt {
		t.Errorf("turn 2 (%v prompt tokens) reused %v cached tokens; want turn 1's prompt and its reply (5 + 40, less what tokenizes differently)", prompt, reused)
	}
	if got, want := m2["choices"].([]any)[0].(map[string]any)["text"], plainText(t, e, e.Encode(turn2), 10); got != want {
		t.Errorf("turn 2 on the reused cache: %q, want %q", got, want)
	}
}

// TestOllama: /api/generate and /api/chat stream NDJSON (one object per
// line, the last with done and counts) or answer once, with the text of
// the OpenAI API for the same request.
func TestOllama(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{})
	want := plainText(t, e, e.Encode("Once upon a time"), 30)
	resp, err := http.Post(ts.URL+"/api/generate", "application/json", strings.NewReader(`{"model":"stories260K","prompt":"Once upon a time","raw":true,"options":{"num_predict":30,"temperature":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	var text strings.Builder
	var last map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if last != nil && last["done"] == true {
			t.Fatal("a line after done")
		}
		text.WriteString(m["response"].(string))
		last = m
	}
	if text.String() != want || last["done"] != true || last["eval_count"].(float64) != 30 || last["done_reason"] != "length" {
		t.Errorf("ollama generate: %q, last %v; want %q", text.String(), last, want)
	}
	r2, m := post(t, ts.URL+"/api/chat", `{"model":"stories260K:latest","messages":[{"role":"user","content":"Hello"}],"stream":false,"options":{"num_predict":12,"temperature":0}}`)
	if r2.StatusCode != 200 || m["done"] != true || m["message"].(map[string]any)["content"].(string) == "" {
		t.Errorf("ollama chat, not streamed: %d %v", r2.StatusCode, m)
	}
	_, o := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hello"}],"max_tokens":12,"temperature":0}`)
	if oc := o["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]; oc != m["message"].(map[string]any)["content"] {
		t.Errorf("ollama chat %q differs from the OpenAI API's %q", m["message"].(map[string]any)["content"], oc)
	}
	tags, err := http.Get(ts.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	var tg struct{ Models []struct{ Name string } }
	json.NewDecoder(tags.Body).Decode(&tg)
	tags.Body.Close()
	if len(tg.Models) != 1 || tg.Models[0].Name != "stories260K" {
		t.Errorf("/api/tags: %+v", tg)
	}
}

// TestInfoEndpoints: /health, /v1/models, /metrics (Prometheus text
// format from the client library) and the chat page.
func TestInfoEndpoints(t *testing.T) {
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{})
	post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":20,"temperature":0}`)
	get := func(path string) (int, string, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get("/health"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/health: %d %s", code, body)
	}
	if code, _, body := get("/v1/models"); code != 200 || !strings.Contains(body, `"id":"stories260K"`) {
		t.Errorf("/v1/models: %d %s", code, body)
	}
	code, ct, body := get("/metrics")
	if code != 200 || !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics: %d %s", code, ct)
	}
	for _, name := range []string{"s4c_requests_total{code=\"200\",endpoint=\"completions\"} 1", "s4c_generated_tokens_total 20", "s4c_draft_accepted_total{depth=\"1\"}",
		"s4c_queue_length", "s4c_pass_sequences_bucket", "s4c_time_to_first_token_seconds_bucket", "s4c_token_latency_seconds_bucket", "s4c_tau_bucket", "go_goroutines"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if code, ct, body := get("/"); code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "/v1/chat/completions") {
		t.Errorf("/: %d %s", code, ct)
	}
}

// TestDrain: draining finishes the request in flight, refuses new ones
// with 503, and stops the scheduler.
func TestDrain(t *testing.T) {
	e := loadEngine(t)
	s, ts := newServer(t, e, Config{Parallel: 1})
	s.passHook = func() { time.Sleep(time.Millisecond) }
	got := make(chan int, 1)
	go func() {
		resp, _ := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":300,"temperature":0}`)
		got <- resp.StatusCode
	}()
	for metric(t, ts.URL, "s4c_active_sequences") == 0 {
		time.Sleep(2 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- s.Drain(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	resp, m := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":2}`)
	if resp.StatusCode != 503 {
		t.Errorf("a request while draining: %d %v, want 503", resp.StatusCode, m)
	}
	if code := <-got; code != 200 {
		t.Errorf("the request in flight ended with %d, want 200", code)
	}
	if err := <-drained; err != nil {
		t.Error(err)
	}
}

// TestPanicInPass: a bug that panics in a pass ends that pass's request
// with a 500 and the server goes on serving.
func TestPanicInPass(t *testing.T) {
	e := loadEngine(t)
	s, ts := newServer(t, e, Config{})
	var once sync.Once
	s.passHook = func() { once.Do(func() { panic("a bug") }) }
	resp, m := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":5}`)
	if resp.StatusCode != 500 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "a bug") {
		t.Errorf("the request whose pass panicked: %d %v, want 500 naming the error", resp.StatusCode, m)
	}
	resp, m = post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":5,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Errorf("the next request: %d %v", resp.StatusCode, m)
	}
}
