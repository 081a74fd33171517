package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolRunCovers: every Run calls fn on ranges that cover [0, n) once,
// each of at least minChunk items but for the loop's last, one range per
// thread for short loops, with several pools used at once from several
// goroutines (they share the helper threads).
func TestPoolRunCovers(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			p := NewPool(2 + g)
			for n := 0; n < 300; n += 7 {
				hits := make([]atomic.Int32, n)
				var calls atomic.Int32
				p.Run(n, 1+g, func(lo, hi int, s *Scratch) {
					calls.Add(1)
					if hi-lo < 1+g && hi != n {
						t.Errorf("pool %d n=%d: range [%d,%d) under %d items", g, n, lo, hi, 1+g)
					}
					s.Floats(hi - lo)
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Errorf("pool %d n=%d: item %d done %d times", g, n, i, h)
						return
					}
				}
				if c := int(calls.Load()); c > p.Threads && n < 4*min(p.Threads, runtime.GOMAXPROCS(0))*(1+g) {
					t.Errorf("pool %d n=%d: %d calls for %d threads", g, n, c, p.Threads)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// TestPoolRunAfterPanic: a loop whose caller's range panics (and is
// recovered) leaves the helpers ready for the next loop.
func TestPoolRunAfterPanic(t *testing.T) {
	p := NewPool(2)
	func() {
		defer func() { recover() }()
		p.Run(100, 1, func(lo, hi int, _ *Scratch) {
			if lo == 0 {
				panic("caller's range")
			}
		})
	}()
	var sum atomic.Int64
	p.Run(100, 1, func(lo, hi int, _ *Scratch) {
		for i := lo; i < hi; i++ {
			sum.Add(int64(i))
		}
	})
	if got := sum.Load(); got != 4950 {
		t.Fatalf("sum %d, want 4950", got)
	}
}

// TestPoolRunSteals: when one thread is held up in its first range, the
// other takes the unstarted end of its share, in ranges of at least
// minChunk, and every item is still done once.
func TestPoolRunSteals(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two threads (GOMAXPROCS >= 2)")
	}
	p := NewPool(2)
	const n, minChunk = 1024, 8
	var by [n]*Scratch // the thread (its scratch) that did each item
	var hits [n]atomic.Int32
	p.Run(n, minChunk, func(lo, hi int, s *Scratch) {
		if lo == n/2 { // the second share's first range
			time.Sleep(50 * time.Millisecond)
		}
		if hi-lo < minChunk && hi != n {
			t.Errorf("range [%d,%d) under %d items", lo, hi, minChunk)
		}
		for i := lo; i < hi; i++ {
			hits[i].Add(1)
			by[i] = s
		}
	})
	stolen := 0
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("item %d done %d times", i, h)
		}
		if i >= n/2 && by[i] == by[0] {
			stolen++
		}
	}
	// At least the second share's last eighth was left for stealing (all
	// of it if the helper thread woke late and the caller took its first
	// range too).
	if stolen < n/2/8 {
		t.Errorf("%d items of the held-up share done by the other thread, want at least %d", stolen, n/2/8)
	}
}
