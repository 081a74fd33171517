package speculative

import (
	"math"
	"testing"
)

func TestCalibration(t *testing.T) {
	var c calibration
	for _, p := range []float64{0.9, 0.3, 0.05, 0.001} {
		if got := c.at(p); math.Abs(got-p) > 1e-12 {
			t.Errorf("no observations: at(%v) = %v, want the prior %v", p, got, p)
		}
	}
	// Heads that say 0.1 but are right 80% of the time.
	for i := 0; i < 1000; i++ {
		c.observe(0.1, i%5 != 0)
	}
	if got := c.at(0.1); math.Abs(got-0.8) > 0.02 {
		t.Errorf("after 80%% acceptance at p=0.1: at = %v", got)
	}
	if got := c.at(0.9); got != 0.9 {
		t.Errorf("other bins must keep their prior: at(0.9) = %v", got)
	}
	if calBin(0) != calBins-1 || calBin(1) != 0 || calBin(math.NaN()) != calBins-1 {
		t.Error("bins of 0, 1, NaN")
	}
}

// TestMaxGain: the bound on speculation's gain counts the heads' depth and
// the cost of drafting, so a model whose passes cost about a draft (the
// 260K story model: t(1) 0.11 ms, t(5) 0.34 ms, a draft 0.2-0.4 ms) falls
// back to plain decoding, while a memory-bound one (t(N) nearly flat) does
// not. The old bound, max N·t(1)/t(N) over N up to 32, said 1.7 for the
// small model, and drafting ran it at 0.40x on a busy machine.
func TestMaxGain(t *testing.T) {
	small := &Costs{n: []int{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32},
		t: []float64{0.111e-3, 0.176e-3, 0.246e-3, 0.283e-3, 0.337e-3, 0.415e-3, 0.457e-3, 0.519e-3, 0.631e-3, 0.819e-3, 1.027e-3, 1.567e-3, 2.095e-3}}
	big := &Costs{n: []int{1, 2, 4, 5, 8, 16, 32}, t: []float64{60e-3, 61e-3, 66e-3, 70e-3, 80e-3, 120e-3, 230e-3}}
	for _, c := range []struct {
		name     string
		costs    *Costs
		depth    int
		draft    float64
		min, max float64
	}{
		{"small, free drafts", small, 4, 0, 1.6, 1.7},
		{"small, a draft of 0.2 ms", small, 4, 0.2e-3, 1, minGain},
		{"small, a draft of 0.4 ms", small, 4, 0.4e-3, 1, minGain},
		{"big, a draft of 5 ms", big, 4, 5e-3, 3.9, 4.1},
		{"big, one head", big, 1, 5e-3, 1.8, 1.85},
		{"cost in proportion to N", &Costs{n: []int{1, 2, 4, 8}, t: []float64{1, 2, 4, 8}}, 4, 0, 1, 1},
	} {
		if g := c.costs.MaxGain(c.depth, c.draft); g < c.min || g > c.max || (c.max == minGain && g >= minGain) {
			t.Errorf("%s: MaxGain %.3f, want %.2f..%.2f", c.name, g, c.min, c.max)
		}
	}
}
