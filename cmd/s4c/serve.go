package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/server"
	"s4c/speculative"
)

func cmdServe(args []string) error {
	fs := newFlags("serve", "-m MODEL.gguf [flags]")
	modelPath := fs.String("m", "", "model file (GGUF)")
	headsPath := fs.String("heads", "", "S^4C draft heads (default: MODEL.s4c.gguf beside the model, if present)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	parallel := fs.Int("parallel", 4, "requests decoded together (each with its own KV cache slot)")
	ctx := fs.Int("ctx", 0, "KV cache tokens per slot (0 = the model's context, at most 4096)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	specMode := fs.String("spec", "", "decoding: s4c, ngram, s4c+ngram, none, or the ablations medusa, s4c-static and s4c-uncoupled (default s4c when heads are found, else ngram)")
	budget := fs.Int("budget", 0, "draft nodes per sequence and pass (0 = chosen for the whole batch from measured costs)")
	headsK := headsKFlag(fs)
	draftPath := draftModelFlag(fs)
	queue := fs.Int("queue", 64, "requests that may wait for a slot before the server answers 429")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest a request may run (0 = no limit)")
	drain := fs.Duration("drain", 30*time.Second, "on SIGTERM or Ctrl-C, how long requests in flight may take to finish")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf")}
	}
	if err := checkInts(intFlag{"parallel", *parallel, 1, 256}, intFlag{"ctx", *ctx, 0, 1 << 24}, intFlag{"threads", *threads, 0, maxThreads},
		intFlag{"budget", *budget, 0, speculative.MaxTreeBudget}, intFlag{"queue", *queue, 1, 1 << 20}, intFlag{"heads-k", *headsK, 0, heads.MaxK}); err != nil {
		return err
	}
	if *specMode != "" {
		if err := checkMethod("spec", *specMode); err != nil {
			return err
		}
	}
	if *timeout < 0 || *drain < 0 {
		return usageError{fmt.Errorf("--timeout %s, --drain %s: want durations of 0 or more", *timeout, *drain)}
	}
	// Listen first: a taken port is reported before a model loads.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (another server there? choose another with --addr)", *addr, err)
	}
	defer ln.Close()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	t0 := time.Now()
	// Serve at once: while the model loads, every route answers 503
	// (health checks see "loading"), then the server's own handler.
	var handler atomic.Pointer[http.Handler]
	loading := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"loading","error":{"message":"the model is still loading","type":"server_error","code":"loading"}}`)
	}))
	handler.Store(&loading)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer hs.Close()
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	if *draftPath != "" && *specMode == "" {
		*specMode = "draft"
	}
	method, hd, err := findDecoder(e, *modelPath, *headsPath, *specMode)
	if err != nil {
		return err
	}
	draft, err := loadDraftModel(method, *draftPath, *threads)
	if err != nil {
		return err
	}
	if draft != nil {
		defer draft.Close()
	}
	srv, err := server.New(server.Config{Engine: e, Heads: hd, Method: method, Options: speculative.Options{Budget: *budget, Heads: *headsK, Draft: draft},
		Parallel: *parallel, Ctx: *ctx, Queue: *queue, RequestTimeout: *timeout, Log: logger})
	if err != nil {
		return usageError{err}
	}
	m, plain := srv.Decoder()
	how := methodNames[m]
	if plain && m != "none" {
		how += " (measured: speculation cannot pay on this model, so sequences decode plainly, batched)"
	}
	logger.Printf("serving %s on http://%s (%s, %d slots, ready in %s): OpenAI API at /v1, ollama API at /api, chat page at /, metrics at /metrics",
		*modelPath, ln.Addr(), how, *parallel, time.Since(t0).Round(time.Millisecond))
	h := srv.Handler()
	handler.Store(&h)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case s := <-sig:
		logger.Printf("%s: no new requests; waiting up to %s for those in flight", s, *drain)
	}
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	derr := srv.Drain(dctx)
	hs.Shutdown(dctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if derr != nil {
		return derr
	}
	logger.Printf("stopped")
	return nil
}
