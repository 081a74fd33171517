package speculative

import "math"

// calibration maps a draft node's path probability (what the heads believe)
// to the chance the target accepts it (what happens), learned while
// decoding. The heads' probabilities are far from calibrated: in hard
// stretches of text they spread their mass thinly (a top path of 0.1) yet
// the target still takes the top draft more often than not, and one global
// factor cannot fix both ends. So acceptance is counted per probability
// bin, starting from the heads' own figure as a prior worth a few
// observations, and the budget is chosen on the calibrated values.
type calibration struct {
	tried, accepted [calBins]float64
}

const (
	calBins  = 12
	calPrior = 4   // observations the prior is worth
	calKeep  = 512 // counts are halved past this many, to follow the text
)

// calBin is the bin of path probability p: equal steps of log2 p from 1
// down to 2⁻¹¹.
func calBin(p float64) int {
	if !(p > 0) {
		return calBins - 1
	}
	b := int(-math.Log2(p) * calBins / 11)
	return min(max(b, 0), calBins-1)
}

// at is the expected acceptance of a node whose path probability is p.
func (c *calibration) at(p float64) float64 {
	b := calBin(p)
	return (c.accepted[b] + calPrior*p) / (c.tried[b] + calPrior)
}

// observe records a drafted node of path probability p and whether the
// target accepted it.
func (c *calibration) observe(p float64, ok bool) {
	b := calBin(p)
	c.tried[b]++
	if ok {
		c.accepted[b]++
	}
	if c.tried[b] > calKeep {
		c.tried[b] /= 2
		c.accepted[b] /= 2
	}
}
