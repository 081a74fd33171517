package server

import (
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var loadFlag = flag.Bool("load", false, "run the load test (make load): 64 streaming clients")

// TestLoad: 64 clients stream 512 greedy requests (seven prompts, three
// lengths) through a server of 16 slots on loopback. Every text must be the one plain decoding gives (no
// token lost, duplicated or mixed up between requests), no request may
// fail, and after it goroutines and heap are back where they started.
func TestLoad(t *testing.T) {
	if !*loadFlag {
		t.Skip("the load test runs with -load (make load)")
	}
	e := loadEngine(t)
	_, ts := newServer(t, e, Config{Parallel: 16, Queue: 128, Ctx: 512})
	prompts := []string{"Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a big", "Tom had a red ball", "The sun was", "Sara liked to"}
	want := map[string]string{}
	for i, p := range prompts {
		for _, n := range []int{16, 64, 200} {
			want[fmt.Sprint(i, n)] = plainText(t, e, e.Encode(p), n)
		}
	}
	run := func(clients, total int) (errs []error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan int, total)
		for i := 0; i < total; i++ {
			next <- i
		}
		close(next)
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					p, n := i%len(prompts), []int{16, 64, 200}[i%3]
					body := fmt.Sprintf(`{"prompt":%q,"max_tokens":%d,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`, prompts[p], n)
					resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("request %d: %v", i, err))
						mu.Unlock()
						continue
					}
					evs, done := sse(t, resp.Body)
					resp.Body.Close()
					got, _ := streamText(evs)
					if w := want[fmt.Sprint(p, n)]; got != w || !done {
						mu.Lock()
						errs = append(errs, fmt.Errorf("request %d (prompt %d, %d tokens): [DONE] %v, text differs from plain decoding\n got: %q\nwant: %q", i, p, n, done, got, w))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return errs
	}
	// A warm-up round, then the measured one: the state after the first
	// is the baseline (buffers sized, connections pooled).
	if errs := run(64, 128); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	t0 := time.Now()
	errs := run(64, 512)
	d := time.Since(t0)
	for i, err := range errs {
		if i < 5 {
			t.Error(err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d of 512 requests failed or differed", len(errs))
	}
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	t.Logf("512 requests by 64 clients in %s; goroutines %d -> %d; heap %.1f -> %.1f MiB; %v passes, %v sequences per pass",
		d.Round(time.Millisecond), g0, g1, float64(m0.HeapAlloc)/(1<<20), float64(m1.HeapAlloc)/(1<<20),
		metric(t, ts.URL, "s4c_passes_total"), metric(t, ts.URL, "s4c_pass_sequences_sum")/metric(t, ts.URL, "s4c_pass_sequences_count"))
	if g1 > g0+8 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if m1.HeapAlloc > m0.HeapAlloc+32<<20 {
		t.Errorf("heap grew from %d to %d bytes", m0.HeapAlloc, m1.HeapAlloc)
	}
	if a := metric(t, ts.URL, "s4c_active_sequences"); a != 0 {
		t.Errorf("%v sequences still active", a)
	}
}
