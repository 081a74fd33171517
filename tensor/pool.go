package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Pool runs loops over a fixed number of threads.
type Pool struct {
	Threads int
	scratch []Scratch
	acts    pkActs // quantized activations, shared read-only by the threads
}

// NewPool makes a pool of n threads (n <= 0: one per CPU).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return &Pool{Threads: n, scratch: make([]Scratch, n)}
}

// Scratch is per-thread working memory, reused across calls.
type Scratch struct {
	f []float32
	// meta holds a block of Q4_K rows' unpacked scales while a prompt
	// passes them (see Mat.mulIntRows).
	meta []float32
}

// Floats returns a slice of n float32s (contents undefined).
func (s *Scratch) Floats(n int) []float32 { return growFloats(&s.f, n) }

// AlignedFloats is Floats starting on a 64-byte boundary, so that 16-float
// vectors at multiples of 16 from its start never straddle two cache lines.
func (s *Scratch) AlignedFloats(n int) []float32 { return alignedIn(&s.f, n) }

// alignedIn is n float32s of *buf, grown as needed, starting on a 64-byte
// boundary.
func alignedIn(buf *[]float32, n int) []float32 {
	f := growFloats(buf, n+16)
	off := int(uintptr(unsafe.Pointer(&f[0]))%64) / 4
	if off != 0 {
		off = 16 - off
	}
	return f[off : off+n]
}

// growFloats returns n float32s of *buf (contents undefined), reallocated
// when it holds fewer, with room to spare: attention asks for a little
// more every decoding step (one more cached token), and an exact-size
// buffer was allocated anew at every step, in memory the heap had never
// handed out, each 4 KiB of it a page fault when first written.
func growFloats(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n, n+n/2)
	}
	return (*buf)[:n]
}

// Run splits [0,n) into ranges (at least minChunk items each, but for the
// last) and calls fn on each, waiting for all of them: one long range per
// thread, and for a long loop a tail of shorter ones that go to whichever
// thread is free first. The calling goroutine does the first range, the
// process's helper threads the others;
// loops of all pools take turns on them, so fn must not call Run itself.
// No more threads run than GOMAXPROCS allows.
func (p *Pool) Run(n, minChunk int, fn func(lo, hi int, s *Scratch)) {
	t := 1
	if p != nil {
		// Helpers spin while they wait, so never more of them than the Go
		// scheduler runs at once: a spinning helper would keep a working
		// one off its processor.
		t = min(p.Threads, runtime.GOMAXPROCS(0))
	}
	if t > 1 && n/max(minChunk, 1) < t {
		t = max(1, n/max(minChunk, 1))
	}
	if t <= 1 {
		var s *Scratch
		if p != nil {
			s = &p.scratch[0]
		} else {
			s = &Scratch{}
		}
		fn(0, n, s)
		return
	}
	helpers.run(p, n, t, minChunk, fn)
}

// stealing: long loops are split into one range per thread that its
// thread walks forward while the others may take chunks off its end (see
// runner.run); a variable so that a benchmark can compare even shares.
var stealing = true

// helpers are the threads behind every Pool of the process.
//
// A forward pass hands its pool a few hundred small loops per token (every
// matrix, attention, the norms), each a few tens of microseconds of work
// at batch 1. Starting goroutines for each woke parked threads every time,
// and a parked thread takes tens of microseconds to run again: about a
// fifth of a 1.1B Q4_0 token went to such waits. So helper threads stay:
// after each loop they spin a short while for the next, then park, and
// exit after a long idle spell. They are shared by all pools, so that the
// spinners of one never crowd out the workers of another: loops of
// different pools take turns.
var helpers runner

type runner struct {
	turn  sync.Mutex // one loop at a time
	mu    sync.Mutex // guards alive, the slices' sizes and job publication
	alive []bool     // helper k is running
	wake  []chan struct{}
	sleep []*atomic.Bool // helper k is parked (or about to be)
	gen   atomic.Uint64  // loop number
	done  atomic.Int32   // helpers finished with the current loop
	job   struct {
		fn   func(lo, hi int, s *Scratch)
		p    *Pool
		n, t int
		// chunk 0: one even share per thread. Otherwise thread k's
		// share is spans[k], of whole chunks but for the loop's end,
		// taken from the front by its thread and from the back by the
		// others (see work).
		chunk int
	}
	spans []span
}

// span is a range of a loop's items not yet taken, [lo, hi) packed into
// one word so that its thread (from the front) and the others (from the
// back) take items with one compare-and-swap each.
type span struct{ v atomic.Uint64 }

func (s *span) load() (lo, hi int, v uint64) {
	v = s.v.Load()
	return int(uint32(v)), int(v >> 32), v
}

func (s *span) set(lo, hi int) { s.v.Store(uint64(lo) | uint64(hi)<<32) }

// take replaces [lo, hi) as loaded in v by [lo2, hi2); false if another
// thread took items in between.
func (s *span) take(v uint64, lo2, hi2 int) bool {
	return s.v.CompareAndSwap(v, uint64(lo2)|uint64(hi2)<<32)
}

// Helpers spin this long for the next loop before parking, and exit after
// being parked this long.
const (
	helperSpin = 100 * time.Microsecond
	helperIdle = 2 * time.Second
	callerSpin = 200 * time.Microsecond
)

func (r *runner) run(p *Pool, n, t, minChunk int, fn func(lo, hi int, s *Scratch)) {
	r.turn.Lock()
	defer r.turn.Unlock()
	r.mu.Lock()
	for len(r.alive) < t {
		r.alive = append(r.alive, false)
		r.wake = append(r.wake, make(chan struct{}, 1))
		r.sleep = append(r.sleep, new(atomic.Bool))
	}
	r.job.fn, r.job.p, r.job.n, r.job.t = fn, p, n, t
	r.job.chunk = 0
	// Threads sharing a machine seldom run at one speed, and with even
	// shares the faster one waits for the slower at every loop. So each
	// thread walks its own share forward, the first seven eighths in one
	// call (a long stream for the memory prefetchers), then chunk by chunk
	// (each 1/32 of a share), and a thread done with its own takes chunks
	// from the end of the others'. The stream of each share stays in
	// address order, where dealing out a common last eighth (the schedule
	// before) started a new stream at every chunk: those ran at about half
	// the rate. 1.1B Q4_K decoding steps, alternated four steps at a time
	// in one process: 11.24-12.23 ms against 11.44-12.46, Q, K, V and O
	// 6-10 % shorter.
	if c := max(minChunk, n/(32*t)); stealing && n/c >= 4*t && n < 1<<31 {
		r.job.chunk = c
		for len(r.spans) < t {
			r.spans = append(r.spans, span{})
		}
		// Shares start on whole chunks, so that every range handed out
		// has at least minChunk items but the one ending at n.
		for k := 0; k < t; k++ {
			hi := n
			if k < t-1 {
				hi = (k + 1) * n / t / c * c
			}
			r.spans[k].set(k*n/t/c*c, hi)
		}
	}
	r.done.Store(0)
	g := r.gen.Add(1)
	for k := 1; k < t; k++ {
		if !r.alive[k] {
			r.alive[k] = true
			go r.helper(k, g-1, r.wake[k], r.sleep[k])
		}
	}
	sleep, wake := r.sleep, r.wake
	r.mu.Unlock()
	for k := 1; k < t; k++ {
		if sleep[k].Load() {
			select {
			case wake[k] <- struct{}{}:
			default:
			}
		}
	}
	// Deferred, so that a panic in fn (recovered further up) still leaves
	// no helper working on this loop when the next one starts.
	defer r.finish(t)
	r.work(0, fn, n, t, r.job.chunk, r.spans, &p.scratch[0])
}

// work runs thread k's part of the current loop: its even share (chunk 0),
// or its span from the front, then chunks from the back of the others'
// spans while any are left.
func (r *runner) work(k int, fn func(lo, hi int, s *Scratch), n, t, chunk int, spans []span, s *Scratch) {
	if chunk == 0 {
		fn(k*n/t, (k+1)*n/t, s)
		return
	}
	own := &spans[k]
	for first := true; ; {
		lo, hi, v := own.load()
		if lo >= hi {
			break
		}
		e := min(lo+chunk, hi)
		if first {
			e = min(lo+max(chunk, (hi-lo)*7/8/chunk*chunk), hi)
		}
		if own.take(v, e, hi) {
			first = false
			fn(lo, e, s)
		}
	}
	for j := 1; j < t; j++ {
		other := &spans[(k+j)%t]
		for {
			lo, hi, v := other.load()
			if lo >= hi {
				break
			}
			b := max(lo, (hi-1)/chunk*chunk)
			if other.take(v, lo, b) {
				fn(b, hi, s)
			}
		}
	}
}

// finish waits for the t-1 helpers of the current loop. The caller spins
// too (a parked goroutine readied by a helper would wait behind that
// helper's own spinning); after a while it yields its core at each turn,
// in case the helpers wait for one (other processes busy on the machine).
func (r *runner) finish(t int) {
	start := time.Now()
	for i := 0; r.done.Load() < int32(t-1); i++ {
		if i%256 == 255 && time.Since(start) > callerSpin {
			osYield()
		}
	}
	r.mu.Lock()
	r.job.fn, r.job.p = nil, nil // the closure may be collected
	r.mu.Unlock()
}

// helper k runs range k of every loop after loop seen.
func (r *runner) helper(k int, seen uint64, wake chan struct{}, sleep *atomic.Bool) {
	for {
		if r.gen.Load() == seen && r.await(k, seen, wake, sleep) == seen {
			return // idle too long: gone
		}
		// The loop number and the loop, read together.
		r.mu.Lock()
		seen = r.gen.Load()
		fn, p, n, t := r.job.fn, r.job.p, r.job.n, r.job.t
		chunk, spans := r.job.chunk, r.spans
		r.mu.Unlock()
		if k < t && fn != nil {
			r.work(k, fn, n, t, chunk, spans, &p.scratch[k])
			r.done.Add(1)
		}
	}
}

// await waits for a loop after seen: spinning, then parked. It returns the
// new loop number, or seen if the helper has gone (marked not alive).
func (r *runner) await(k int, seen uint64, wake chan struct{}, sleep *atomic.Bool) uint64 {
	start := time.Now()
	for i := 0; ; i++ {
		if g := r.gen.Load(); g != seen {
			return g
		}
		if i%256 == 255 && time.Since(start) > helperSpin {
			break
		}
	}
	idle := time.NewTimer(helperIdle)
	defer idle.Stop()
	for {
		sleep.Store(true)
		if g := r.gen.Load(); g != seen {
			sleep.Store(false)
			return g
		}
		select {
		case <-wake:
			sleep.Store(false)
		case <-idle.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			sleep.Store(false)
			if g := r.gen.Load(); g != seen {
				return g
			}
			r.alive[k] = false
			return seen
		}
	}
}
