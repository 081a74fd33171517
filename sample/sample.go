// Package sample picks the next token from a model's logits: greedy, or a
// draw from the distribution shaped by repetition penalty, top-k, top-p,
// min-p and temperature (applied in that order, as llama.cpp's default chain).
package sample

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
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

// Sampler draws tokens; it owns a seeded random stream. Every sampled
// token (temperature > 0) takes exactly one 64-bit key from the stream,
// even where only one candidate is left, and is drawn by the Gumbel-max
// rule with noise that the key and each token id fix (Dist.Pick). The key
// of the n-th coming draw is known in advance (Upcoming), so a drafter can
// draw its guesses with the very noise the target will use.
type Sampler struct {
	P   Params
	src *rand.PCG
	buf []cand
	pen []float32 // penalized logits, reused from token to token
}

type cand struct {
	id int32
	v  float32
}

// New makes a sampler.
func New(p Params) *Sampler {
	return &Sampler{P: p, src: rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)}
}

// Upcoming returns the keys the next n draws will use, without using them
// up.
func (s *Sampler) Upcoming(n int) []uint64 {
	c := *s.src
	k := make([]uint64, n)
	for i := range k {
		k[i] = c.Uint64()
	}
	return k
}

// Gumbel is the standard Gumbel noise a draw with key gives token id: a
// hash of both (SplitMix64's finaliser) made uniform in (0, 1), then
// -log(-log u).
func Gumbel(key uint64, id int32) float64 { return gumbelOf(gumbelHash(key, id)) }

// gumbelHash is the 64-bit hash behind Gumbel(key, id).
func gumbelHash(key uint64, id int32) uint64 {
	z := key ^ (uint64(uint32(id))+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// gumbelOf is the noise of hash z: its top 53 bits as u in (0, 1), then
// -log(-log u). The top hash, whose u rounds to 1, takes the largest u
// below 1 (its noise was +Inf).
func gumbelOf(z uint64) float64 {
	u := (float64(z>>11) + 0.5) / (1 << 53)
	u = min(u, 1-1.0/(1<<53))
	return -math.Log(-math.Log(u))
}

// gumbelBound is an upper bound on gumbelOf(z) from integer arithmetic
// alone: with w = 1-u, -log u >= w, so the noise is at most -log w, and w
// = (k + 1/2)/2^53 for the integer k below (or k/2^53, (k+1)/2^53 where
// u's sum rounded; 2^-53 for k = 0) is at least 2^(len(k)-54). The
// bound is raised by 1e-9 over the rounding of the noise's logarithms
// (which put it an ulp above -log w where w is a power of two).
func gumbelBound(z uint64) float64 {
	k := uint64(1<<53-1) - z>>11
	return float64(54-bits.Len64(k))*math.Ln2 + 1e-9
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

// Dist is a sparse probability distribution over token ids, most
// probable first (ties: lower id first) — except where nothing is
// truncated (no top-k, top-p or min-p): then every token is there in id
// order, since no draw needs them sorted.
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
	penalized := s.penalize(logits, history)
	if p.Greedy() {
		return Dist{IDs: []int32{Argmax(penalized)}, Probs: []float32{1}}
	}
	// Sorting a whole vocabulary took 3.7 ms a token (32000 ids), a tenth
	// of a 1B model's decoding step: only the candidates that can survive
	// are sorted. Top-k keeps the k best (selected in one pass); else
	// min-p, or top-p's mass, bounds how unlikely a survivor can be.
	if p.TopK > 0 && p.TopK < len(penalized) {
		s.buf = topK(penalized, p.TopK, s.buf[:0])
		return p.shape(s.buf, 0)
	}
	mx := slices.Max(penalized)
	if p.TopP < 1 || p.MinP > 0 {
		// z: temperature-1 weights relative to the best token; mass[b]:
		// those of the tokens b to b+1 below the best (in logits).
		var z float64
		var mass [64]float64
		for _, v := range penalized {
			e := math.Exp(float64(v - mx))
			z += e
			b := len(mass) - 1 // also -Inf and NaN logits
			if d := mx - v; d < float32(b) {
				b = int(d)
			}
			mass[b] += e
		}
		// Tokens below a cut-off, whose weight is counted in z: every
		// survivor is above it if min-p sets it (a little below
		// min-p's limit, so min-p itself still decides), or if the
		// tokens above it hold top-p's mass; else the cut-off is
		// lowered. Top-p's cut-off is the whole number of logits below
		// the best within which the weights reach its mass, so that a
		// peaked distribution sorts a handful of candidates, not every
		// one within e^-12 of the best (a 32000-token vocabulary of
		// spread logits: 1.97 ms a token, most of it sorting).
		cut := float32(-len(mass))
		if p.MinP > 0 {
			cut = float32(math.Log(float64(p.MinP))) - 1e-3
		} else {
			var cum float64
			for b, m := range mass[:len(mass)-1] {
				if cum += m; cum >= float64(p.TopP)*z {
					cut = -float32(b + 1)
					break
				}
			}
		}
		for ; ; cut *= 2 {
			c := s.buf[:0]
			var in float64
			for i, v := range penalized {
				if v-mx >= cut {
					c = append(c, cand{int32(i), v})
					in += math.Exp(float64(v - mx))
				}
			}
			s.buf = c
			if p.MinP > 0 || in >= float64(p.TopP)*z || cut < -1000 {
				return p.shape(c, z-in)
			}
		}
	}
	// Nothing truncated: every token, in id order, with its probability
	// at the temperature (sorting 128k ids took 25 ms a token).
	d := Dist{IDs: make([]int32, len(penalized)), Probs: make([]float32, len(penalized))}
	var zt float64
	for i, v := range penalized {
		d.IDs[i] = int32(i)
		e := math.Exp(float64((v - mx) / p.Temp))
		d.Probs[i] = float32(e)
		zt += e
	}
	for i := range d.Probs {
		d.Probs[i] = float32(float64(d.Probs[i]) / zt)
	}
	return d
}

// untruncated reports whether no top-k, top-p or min-p applies to a
// vocabulary of n tokens.
func (p Params) untruncated(n int) bool {
	return (p.TopK <= 0 || p.TopK >= n) && p.TopP >= 1 && p.MinP <= 0
}

// penalize returns logits with the repetition penalty applied to the
// tokens of history's last RepeatLastN (logits itself if none applies),
// in a buffer the sampler reuses.
func (s *Sampler) penalize(logits []float32, history []int32) []float32 {
	p := s.P
	penalized := logits
	if p.RepeatPenalty != 1 && p.RepeatLastN != 0 && len(history) > 0 {
		s.pen = append(s.pen[:0], logits...)
		penalized = s.pen
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
	return penalized
}

// topK appends to c the k largest of logits (ties: the lower id), most
// probable first.
func topK(logits []float32, k int, c []cand) []cand {
	for i, v := range logits {
		if len(c) == k && !better(cand{int32(i), v}, c[k-1]) {
			continue
		}
		if len(c) < k {
			c = append(c, cand{})
		}
		j := len(c) - 1
		for j > 0 && better(cand{int32(i), v}, c[j-1]) {
			c[j] = c[j-1]
			j--
		}
		c[j] = cand{int32(i), v}
	}
	return c
}

// better orders candidates: higher logit first, ties by lower id.
func better(a, b cand) bool { return a.v > b.v || a.v == b.v && a.id < b.id }

// shape sorts, truncates and normalises candidates (Distribution, Shape).
// rest is the temperature-1 weight, relative to the best candidate, of
// tokens top-k keeps that are not in c (left out as too unlikely to
// survive): top-p's sums count it.
func (p Params) shape(c []cand, rest float64) Dist {
	// Sort by logit descending, ties by id, so the result is deterministic.
	slices.SortFunc(c, func(a, b cand) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	if p.TopK > 0 && p.TopK < len(c) {
		c = c[:p.TopK]
	}
	probs := softmax(c, 1, rest)
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
	probs = softmax(c, p.Temp, 0)
	ids := make([]int32, len(c))
	for i := range c {
		ids[i] = c[i].id
	}
	return Dist{IDs: ids, Probs: probs}
}

// softmax of the candidates' logits at temp (c[0] the largest), with rest
// added to the sum of weights exp((v-max)/temp).
func softmax(c []cand, temp float32, rest float64) []float32 {
	out := make([]float32, len(c))
	mx := c[0].v
	sum := rest
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

// Draw picks an id from d with the sampler's random stream (one key,
// whatever d holds).
func (s *Sampler) Draw(d Dist) int32 { return d.Pick(s.src.Uint64()) }

// Pick is the id that the draw with key takes from d: the one whose log
// probability plus its Gumbel noise is largest, which is a draw from d
// (the Gumbel-max rule). Unlike walking the cumulative sum with one
// uniform number, it does not depend on the order of d's ids, and two
// distributions draw the same id with the same key at least (1-δ)/(1+δ)
// of the time, δ their total variation distance: a drafter whose
// distribution is close to the target's proposes the target's very draw.
func (d Dist) Pick(key uint64) int32 {
	best, bv := 0, math.Inf(-1)
	for i, id := range d.IDs {
		if v := math.Log(float64(d.Probs[i])) + Gumbel(key, id); v > bv {
			best, bv = i, v
		}
	}
	return d.IDs[best]
}

// Sample picks the next token.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	if s.P.Greedy() {
		if s.P.RepeatPenalty == 1 || len(history) == 0 {
			return Argmax(logits)
		}
		return s.Distribution(logits, history).IDs[0] // no random number: greedy takes none
	}
	if s.P.untruncated(len(logits)) {
		return gumbelMax(s.penalize(logits, history), s.P.Temp, s.src.Uint64())
	}
	return s.Draw(s.Distribution(logits, history))
}

// gumbelMax is Draw(Distribution(...)) for an untruncated distribution,
// without forming it: log p_i is (v_i - max)/temp less a constant, so the
// id with the largest (v_i - max)/temp plus its Gumbel noise is the one
// Pick takes (but for ties within float32 rounding of the probabilities).
// No exponential, logarithm of a probability or vocabulary-sized
// allocation per token, and the noise's two logarithms only for the ids
// whose bound (gumbelBound) could still beat the best so far: most ids
// lie far below it. 32000 ids: 1.55 ms and 256 KB a token before.
func gumbelMax(logits []float32, temp float32, key uint64) int32 {
	mx := slices.Max(logits)
	best, bv := 0, math.Inf(-1)
	for i, v := range logits {
		x := float64((v - mx) / temp)
		z := gumbelHash(key, int32(i))
		// An id skipped here could not have won (g > bv) either.
		if gumbelBound(z) < bv-x {
			continue
		}
		if g := x + gumbelOf(z); g > bv {
			best, bv = i, g
		}
	}
	return int32(best)
}

// Shape is the processed distribution over a few candidates (ids with
// their logits, e.g. a drafter's most probable tokens): the same top-k,
// top-p, min-p and temperature as Distribution, with probabilities
// normalised over the candidates given. There is no history, so no
// repetition penalty. Greedy settings put all mass on the first argmax.
func (p Params) Shape(ids []int32, logits []float32) Dist {
	if p.Greedy() {
		return Dist{IDs: []int32{ids[Argmax(logits)]}, Probs: []float32{1}}
	}
	c := make([]cand, len(ids))
	for i := range ids {
		c[i] = cand{ids[i], logits[i]}
	}
	return p.shape(c, 0)
}
