// Package sample picks the next token from a model's logits: greedy, or a
// draw from the distribution shaped by repetition penalty, top-k, top-p,
// min-p and temperature (applied in that order, as llama.cpp's default chain).
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Params are the sampling settings. Temp <= 0 means greedy.
type Params struct {
	Temp          float32
	TopK          int     // 0 = off
	TopP          float32 // 1 = off
	MinP          float32 // 0 = off
	RepeatPenalty float32 // 1 = off
	RepeatLastN   int     // how many recent tokens the penalty looks at
	Seed          uint64
}

// Defaults are llama.cpp's defaults.
func Defaults() Params {
	return Params{Temp: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64, Seed: 0}
}

// Validate reports settings that make no sense.
func (p Params) Validate() error {
	switch {
	case p.Temp < 0 || math.IsNaN(float64(p.Temp)):
		return fmt.Errorf("temperature %v: want >= 0 (0 = greedy)", p.Temp)
	case p.TopK < 0:
		return fmt.Errorf("top-k %d: want >= 0 (0 = off)", p.TopK)
	case !(p.TopP > 0 && p.TopP <= 1):
		return fmt.Errorf("top-p %v: want 0 < p <= 1", p.TopP)
	case !(p.MinP >= 0 && p.MinP < 1):
		return fmt.Errorf("min-p %v: want 0 <= p < 1", p.MinP)
	case !(p.RepeatPenalty > 0):
		return fmt.Errorf("repeat penalty %v: want > 0 (1 = off)", p.RepeatPenalty)
	}
	return nil
}

// Greedy reports whether sampling is deterministic argmax.
func (p Params) Greedy() bool { return p.Temp <= 0 }

// Sampler draws tokens; it owns a seeded random stream.
type Sampler struct {
	P   Params
	rng *rand.Rand
	buf []cand
}

type cand struct {
	id int32
	v  float32
}

// New makes a sampler.
func New(p Params) *Sampler {
	return &Sampler{P: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}
}

// Argmax is the index of the largest value (the first, on ties).
func Argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// Dist is a sparse probability distribution over token ids.
type Dist struct {
	IDs   []int32
	Probs []float32 // sum to 1
}

// P returns the probability of id.
func (d Dist) P(id int32) float32 {
	for i, x := range d.IDs {
		if x == id {
			return d.Probs[i]
		}
	}
	return 0
}

// Distribution is the processed next-token distribution for logits given
// the token history (for the repetition penalty). For greedy settings it is
// all mass on the argmax.
func (s *Sampler) Distribution(logits []float32, history []int32) Dist {
	p := s.P
	penalized := logits
	if p.RepeatPenalty != 1 && p.RepeatLastN != 0 && len(history) > 0 {
		penalized = append([]float32(nil), logits...)
		start := 0
		if p.RepeatLastN > 0 && len(history) > p.RepeatLastN {
			start = len(history) - p.RepeatLastN
		}
		seen := map[int32]bool{}
		for _, id := range history[start:] {
			if seen[id] || id < 0 || int(id) >= len(penalized) {
				continue
			}
			seen[id] = true
			if penalized[id] > 0 {
				penalized[id] /= p.RepeatPenalty
			} else {
				penalized[id] *= p.RepeatPenalty
			}
		}
	}
	if p.Greedy() {
		return Dist{IDs: []int32{Argmax(penalized)}, Probs: []float32{1}}
	}
	c := s.buf[:0]
	for i, v := range penalized {
		c = append(c, cand{int32(i), v})
	}
	s.buf = c
	// Sort by logit descending, ties by id, so the result is deterministic.
	sort.Slice(c, func(i, j int) bool {
		if c[i].v != c[j].v {
			return c[i].v > c[j].v
		}
		return c[i].id < c[j].id
	})
	if p.TopK > 0 && p.TopK < len(c) {
		c = c[:p.TopK]
	}
	probs := softmax(c, 1)
	if p.TopP < 1 {
		var cum float64
		for i, q := range probs {
			cum += float64(q)
			if cum >= float64(p.TopP) {
				c = c[:i+1]
				break
			}
		}
	}
	if p.MinP > 0 {
		limit := float64(probs[0]) * float64(p.MinP)
		k := 1
		for k < len(c) && float64(probs[k]) >= limit {
			k++
		}
		c = c[:k]
	}
	probs = softmax(c, p.Temp)
	ids := make([]int32, len(c))
	for i := range c {
		ids[i] = c[i].id
	}
	return Dist{IDs: ids, Probs: probs}
}

func softmax(c []cand, temp float32) []float32 {
	out := make([]float32, len(c))
	mx := c[0].v
	var sum float64
	for i, x := range c {
		e := math.Exp(float64((x.v - mx) / temp))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

// Draw picks an id from d with the sampler's random stream.
func (s *Sampler) Draw(d Dist) int32 {
	if len(d.IDs) == 1 {
		return d.IDs[0]
	}
	u := s.rng.Float64()
	var cum float64
	for i, q := range d.Probs {
		cum += float64(q)
		if u < cum {
			return d.IDs[i]
		}
	}
	return d.IDs[len(d.IDs)-1]
}

// Sample picks the next token.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	if s.P.Greedy() && (s.P.RepeatPenalty == 1 || len(history) == 0) {
		return Argmax(logits)
	}
	return s.Draw(s.Distribution(logits, history))
}
