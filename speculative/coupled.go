package speculative

import (
	"math"
	"sort"

	"s4c/sample"
)

// coupling is what a sampled round (temperature > 0) knows of the
// target's coming draws. Plain sampling draws the token at each position
// by the Gumbel-max rule, with noise that one key of the request's random
// stream fixes for every token id (sample.Dist.Pick); the keys are known
// before the round's pass (sample.Sampler.Upcoming). The drafter ranks
// its guesses with the same noise: where its distribution is close to
// the target's, both land on the same token far more often than the
// target's draw lands on the drafter's favourite (the twin's heads, depth
// 1 at T = 1: 0.68 against 0.58, and the three best 0.86 against 0.75).
// Acceptance is untouched (the target still draws every emitted token
// itself, with the same keys as plain sampling), so the output stays the
// very text plain sampling gives for the seed; only which drafts are
// proposed changes.
type coupling struct {
	keys []uint64 // keys[d-1]: the key the target draws the depth-d token with
	p    sample.Params
}

// key is the key depth d is drawn with.
func (c *coupling) key(d int) uint64 { return c.keys[min(d, len(c.keys))-1] }

// rerank turns a drafter's most probable tokens for depth d (top: ids in
// the drafter's vocabulary with log probabilities; tok maps them to token
// ids) into each one's chance of being the target's draw there, most
// likely first, keeping only those the request's truncation (top-k, top-p,
// min-p) keeps. A token's score is its log probability under the
// request's temperature plus the draw's Gumbel noise; the chance is the
// softmax of the scores: near 1 for a clear winner, shared where the
// noise leaves a close race the target may decide either way.
func (c *coupling) rerank(top []idLogp, d int, tok func(int32) int32) []idLogp {
	if len(top) == 0 {
		return top
	}
	ids := make([]int32, len(top))
	lg := make([]float32, len(top))
	for i, t := range top {
		ids[i], lg[i] = t.id, float32(t.logp)
	}
	return c.ranked(c.p.Shape(ids, lg), d, tok)
}

// ranked scores each id of dist (in the drafter's vocabulary; tok maps it
// to its token id, whose Gumbel noise it gets) by its log probability plus
// depth d's noise, and returns them best first, the scores turned into a
// log softmax: each one's chance of being the target's draw.
func (c *coupling) ranked(dist sample.Dist, d int, tok func(int32) int32) []idLogp {
	k := c.key(d)
	s := make([]idLogp, len(dist.IDs))
	for i, id := range dist.IDs {
		s[i] = idLogp{id, math.Log(float64(dist.Probs[i])) + sample.Gumbel(k, tok(id))}
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].logp > s[j].logp })
	mx := s[0].logp
	var sum float64
	for _, x := range s {
		sum += math.Exp(x.logp - mx)
	}
	lse := mx + math.Log(sum)
	for i := range s {
		s[i].logp -= lse
	}
	return s
}

// pick is the token a drafter's own processed distribution dist draws
// with depth d's key (what a draft model proposes), with its chance of
// being the target's draw (as rerank scores it).
func (c *coupling) pick(dist sample.Dist, d int) idLogp {
	return c.ranked(dist, d, func(id int32) int32 { return id })[0]
}
