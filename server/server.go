// Package server serves a model over HTTP: the OpenAI API (chat and text
// completions, streamed or not), the ollama API, health, Prometheus
// metrics and a chat page. Requests are decoded together: one scheduler
// goroutine runs every active request's round (its prompt chunk, or its
// S^4C draft tree) in one forward pass (speculative.Decoder), requests joining
// and leaving between passes (continuous batching), each in its own slot
// of KV cache; a request that extends what a slot last held (the next
// turn of a chat) runs only its new tokens.
package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/sysmem"
	"s4c/model"
	"s4c/speculative"
	"s4c/tensor"
)

// Config configures a Server.
type Config struct {
	Engine   *engine.Engine
	Heads    *heads.Heads // nil: no heads (methods ngram and none)
	Method   string       // speculative.Methods
	Options  speculative.Options
	Parallel int    // sequences decoded together (slots), default 4
	Ctx      int    // KV cache tokens per slot (0: min(model's, 4096))
	Queue    int    // requests waiting beyond the slots before 429 (default 64)
	ModelID  string // the name clients use (default: the file's base name)
	MaxBody  int64  // request body limit in bytes (default 1 MiB)
	// RequestTimeout bounds one request's whole generation (0: none).
	RequestTimeout time.Duration
	Log            *log.Logger // one line per request (nil: none)
}

// Server is a running model server. Its Handler serves HTTP; Close stops
// the scheduler after the requests in flight are done.
type Server struct {
	cfg     Config
	e       *engine.Engine
	dec     *speculative.Decoder
	wake    chan struct{} // a job was queued
	quit    chan struct{}
	stopped chan struct{}
	metrics *metrics
	slots   []*slot
	mux     *http.ServeMux
	started time.Time

	mu        sync.Mutex
	waiting   []*job // queued for a slot, oldest first
	draining  bool
	inFlight  sync.WaitGroup
	drainOnce sync.Once
	drainErr  error

	// passHook, if set (tests), runs before every pass: a slow machine,
	// so that the scheduling can be watched on a model this fast.
	passHook func()
}

// slot is a KV cache region a sequence decodes in; toks is what its rows
// hold, for prefix reuse.
type slot struct {
	state *model.State
	toks  []int32
	used  time.Time
}

// New loads nothing: it takes a loaded engine, measures what the decoder
// needs (pass costs) and allocates the slots.
func New(cfg Config) (*Server, error) {
	e := cfg.Engine
	if e == nil {
		return nil, errors.New("server: no engine")
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	if cfg.Parallel < 1 || cfg.Parallel > 256 {
		return nil, fmt.Errorf("--parallel %d: want 1 to 256 sequences decoded together", cfg.Parallel)
	}
	if cfg.Ctx == 0 {
		cfg.Ctx = min(e.Model.CtxLen, 4096)
	}
	if cfg.Ctx < 8 || cfg.Ctx > e.Model.CtxLen {
		return nil, fmt.Errorf("--ctx %d: want 8 to the model's context length, %d", cfg.Ctx, e.Model.CtxLen)
	}
	if cfg.Queue == 0 {
		cfg.Queue = 64
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("queue length %d: want at least 1", cfg.Queue)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.ModelID == "" {
		cfg.ModelID = strings.TrimSuffix(filepath.Base(e.Path), ".gguf")
	}
	if cfg.Method == "" {
		cfg.Method = "s4c"
		if cfg.Heads == nil {
			cfg.Method = "ngram"
		}
	}
	if err := sysmem.Check(int64(cfg.Parallel)*e.Model.KVCacheBytes(cfg.Ctx), fmt.Sprintf("%d KV cache slots of %d tokens", cfg.Parallel, cfg.Ctx),
		"serve fewer requests at once (--parallel) or give each a smaller context (--ctx)"); err != nil {
		return nil, err
	}
	dec, err := speculative.NewDecoder(e, cfg.Method, cfg.Heads, cfg.Options)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, e: e, dec: dec, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		stopped: make(chan struct{}), metrics: newMetrics(), started: time.Now()}
	pool := tensor.NewPool(e.Threads) // one pool: passes are run one at a time
	for i := 0; i < cfg.Parallel; i++ {
		s.slots = append(s.slots, &slot{state: &model.State{M: e.Model, Cache: e.Model.NewKVCache(cfg.Ctx), Pool: pool}})
	}
	s.mux = s.routes()
	go s.schedule()
	return s, nil
}

// Decoder reports the decoding method in use and whether it fell back to
// plain decoding (speculation cannot pay on this model).
func (s *Server) Decoder() (method string, plain bool) { return s.dec.Method, s.dec.Plain }

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.mux }

// Drain stops accepting requests (503) and waits until those in flight
// are done or ctx ends; then the scheduler stops.
func (s *Server) Drain(ctx context.Context) error {
	s.drainOnce.Do(func() { s.drainErr = s.drain(ctx) })
	return s.drainErr
}

func (s *Server) drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.inFlight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("requests still running after the drain timeout: %w", ctx.Err())
	}
	close(s.quit)
	<-s.stopped
	return err
}

// enqueue queues j for a slot; false if the queue is full.
func (s *Server) enqueue(j *job) bool {
	s.mu.Lock()
	if len(s.waiting) >= s.cfg.Queue {
		s.mu.Unlock()
		return false
	}
	s.waiting = append(s.waiting, j)
	s.metrics.queue.Set(float64(len(s.waiting)))
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// dequeue takes the oldest queued job, or nil.
func (s *Server) dequeue() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		return nil
	}
	j := s.waiting[0]
	s.waiting = s.waiting[1:]
	s.metrics.queue.Set(float64(len(s.waiting)))
	return j
}

// unqueue removes j from the queue if it is still there (its client left
// before it got a slot).
func (s *Server) unqueue(j *job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiting {
		if w == j {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			s.metrics.queue.Set(float64(len(s.waiting)))
			return true
		}
	}
	return false
}

// admit counts a request in flight unless the server is draining.
func (s *Server) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.inFlight.Add(1)
	return true
}

// tokEvent is one generated token and how it was produced (depth 0: the
// target's own token; d: an accepted draft at depth d).
type tokEvent struct {
	id    int32
	depth int
	at    time.Time
}

// job is one request's generation as the scheduler and its HTTP handler
// share it: the scheduler appends tokens, the handler takes them.
type job struct {
	ctx context.Context
	req engine.Request
	enq time.Time

	mu     sync.Mutex
	toks   []tokEvent
	done   bool
	stats  speculative.Stats
	err    error
	reused int           // prompt tokens found in the slot's cache
	notify chan struct{} // a token or the end is waiting
}

func (j *job) push(ev tokEvent) {
	j.mu.Lock()
	j.toks = append(j.toks, ev)
	j.mu.Unlock()
	j.wake()
}

func (j *job) finish(st speculative.Stats, err error) {
	j.mu.Lock()
	j.done, j.stats, j.err = true, st, err
	j.mu.Unlock()
	j.wake()
}

func (j *job) wake() {
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

// take returns the tokens waiting, and whether the generation has ended.
func (j *job) take() ([]tokEvent, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.toks
	j.toks = nil
	return t, j.done
}

// running is a job decoding in a slot.
type running struct {
	j *job
	q *speculative.Seq
	s *slot
}

// schedule is the one goroutine that runs passes: it admits queued jobs
// into free slots, runs one Step for every active sequence, and hands
// finished jobs back.
func (s *Server) schedule() {
	defer close(s.stopped)
	var active []*running
	free := append([]*slot(nil), s.slots...)
	for {
		// Admit: block for work only when nothing is running.
		for len(free) > 0 {
			j := s.dequeue()
			if j == nil && len(active) == 0 {
				select {
				case <-s.wake:
					continue
				case <-s.quit:
					return
				}
			}
			if j == nil {
				break
			}
			if j.ctx.Err() != nil {
				j.finish(speculative.Stats{}, j.ctx.Err())
				continue
			}
			k := pickSlot(free, j.req.Prompt)
			sl := free[k]
			common := commonPrefix(sl.toks, j.req.Prompt)
			sl.state.Cache.Truncate(common)
			sl.toks = sl.toks[:common]
			q, err := s.dec.Start(sl.state, j.req)
			if err != nil {
				j.finish(speculative.Stats{}, err)
				continue
			}
			j.mu.Lock()
			j.reused = q.Reused()
			j.mu.Unlock()
			jj := j
			q.OnToken = func(id int32, depth int) bool {
				jj.push(tokEvent{id: id, depth: depth, at: time.Now()})
				return jj.ctx.Err() == nil
			}
			free = append(free[:k], free[k+1:]...)
			active = append(active, &running{j: j, q: q, s: sl})
		}
		select {
		case <-s.quit: // the drain timed out: end what still runs
			for _, r := range active {
				r.q.Stop("shutdown")
				r.j.finish(r.q.Stats(), errors.New("the server shut down before the request finished"))
			}
			for j := s.dequeue(); j != nil; j = s.dequeue() {
				j.finish(speculative.Stats{}, errors.New("the server shut down before the request started"))
			}
			return
		default:
		}
		seqs := make([]*speculative.Seq, 0, len(active))
		for _, r := range active {
			if r.j.ctx.Err() != nil {
				r.q.Stop("cancelled")
			}
			seqs = append(seqs, r.q)
		}
		s.metrics.active.Set(float64(len(active)))
		ps, err := s.step(seqs)
		if ps.Seqs > 0 {
			s.metrics.pass(ps)
		}
		kept := active[:0]
		for _, r := range active {
			if !r.q.Done() {
				kept = append(kept, r)
				continue
			}
			st := r.q.Stats()
			if st.StopReason == "error" {
				r.s.toks = r.s.toks[:0]
				r.s.state.Cache.Truncate(0)
				r.j.finish(st, err)
			} else {
				all := append(append([]int32(nil), r.j.req.Prompt...), r.q.Output()...)
				r.s.toks = all[:r.s.state.Cache.Len]
				r.j.finish(st, nil)
			}
			r.s.used = time.Now()
			free = append(free, r.s)
		}
		active = kept
		s.metrics.active.Set(float64(len(active)))
	}
}

// step runs one pass; a panic in it (a bug) ends the pass's requests with
// an error instead of the server.
func (s *Server) step(seqs []*speculative.Seq) (ps speculative.PassStats, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.logf("internal error in a forward pass: %v", p)
			for _, q := range seqs {
				q.Stop("error")
			}
			err = fmt.Errorf("internal error in a forward pass: %v", p)
		}
	}()
	if s.passHook != nil {
		s.passHook()
	}
	return s.dec.Step(seqs)
}

// pickSlot chooses the free slot whose cache shares the longest prefix
// with prompt (the previous turn of the same chat), else the one unused
// longest.
func pickSlot(free []*slot, prompt []int32) int {
	best, bestN := 0, -1
	for i, sl := range free {
		n := commonPrefix(sl.toks, prompt)
		if n > bestN || n == bestN && sl.used.Before(free[best].used) {
			best, bestN = i, n
		}
	}
	return best
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
