package tensor

import (
	"sync"
	"time"
)

// Machine limits, measured the way the kernels would meet them, so a
// benchmark can state its figures as fractions of what this machine (with
// its current neighbours) can do, in the same run.

// ReadBandwidth returns the bytes per second that threads threads read
// from a buffer of size bytes (far larger than the caches), each its own
// part with wide loads, best of reps passes; 0 where no vector loop
// exists.
func ReadBandwidth(threads, size, reps int) float64 {
	p := NewReadProbe(threads, size)
	defer p.Close()
	best := 0.0
	for r := 0; r < reps; r++ {
		best = max(best, p.Measure())
	}
	return best
}

// ReadProbe measures the read bandwidth again and again over one buffer,
// so that a benchmark can alternate it with the work it is a limit for.
type ReadProbe struct {
	threads, part int
	buf           []byte
	free          func()
}

// NewReadProbe maps a buffer of size bytes for threads threads; Close
// gives it back.
func NewReadProbe(threads, size int) *ReadProbe {
	p := &ReadProbe{threads: max(threads, 1)}
	if !streamAvailable() {
		return p
	}
	p.buf, p.free = probeBuffer(size)
	for i := 0; i < len(p.buf); i += 4096 {
		p.buf[i] = 1 // fault the pages in before timing
	}
	p.part = len(p.buf) / p.threads / 128 * 128
	return p
}

// Measure reads the buffer once on all threads and returns bytes per
// second; 0 where no vector loop exists.
func (p *ReadProbe) Measure() float64 {
	if p.part == 0 {
		return 0
	}
	d := fastest(p.threads, 1, func(k int) { streamRead(p.buf[k*p.part : (k+1)*p.part]) })
	return float64(p.part*p.threads) / d.Seconds()
}

// Close unmaps the buffer at once: it must not count in a peak RSS.
func (p *ReadProbe) Close() {
	if p.free != nil {
		p.free()
		p.free, p.buf, p.part = nil, nil, 0
	}
}

// Int8Peak returns the int8 multiply-add operations per second (two per
// product) of threads threads running independent vpdpbusd, or 0 without
// AVX-512 VNNI.
func Int8Peak(threads int) float64 {
	if !vnniAvailable() {
		return 0
	}
	const iters = 2_000_000 // 12 instructions of 64 products each: ~25 ms
	best := fastest(threads, 3, func(int) { vnniLoop(iters) })
	return float64(threads) * iters * 12 * 64 * 2 / best.Seconds()
}

// fastest runs work(k) on threads goroutines at once (k < threads), reps
// times, and returns the shortest wall time of a round.
func fastest(threads, reps int, work func(k int)) time.Duration {
	best := time.Duration(1 << 62)
	for r := 0; r < reps; r++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for k := 0; k < threads; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work(k)
			}()
		}
		wg.Wait()
		best = min(best, time.Since(t0))
	}
	return best
}
