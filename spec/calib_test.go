package spec

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
