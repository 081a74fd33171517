package speculative

import (
	"math"
	"sync"

	"s4c/engine"
	"s4c/heads"
	"s4c/sample"
)

// calibration maps what the drafter believes of a draft node to the chance
// the target accepts it, learned while decoding. The belief is the node's
// step probability, the drafter's probability of its token given its
// parent's path (p(path)/p(parent's path)), at its depth: head d's
// probabilities are calibrated for head d. The product of the calibrated
// steps along a path is the path's chance of acceptance (Medusa's estimate
// for a static tree, here per round with this round's probabilities).
//
// Calibrating steps, not whole paths, matters for deep drafts: heads that
// say 0.6 at every step are right about 0.8 of the time at each, so a
// depth-4 chain is accepted about 0.4 of the time though its path
// probability is 0.13, below a shallow sibling's 0.2. Ranked by path
// probability the tree spent its budget on siblings; ranked by calibrated
// acceptance it keeps the chain (on the 1.1B twin a static chain-heavy tree
// beat the path-probability tree by 20 % before this).
type calibration struct {
	mu sync.Mutex
	calCounts
	// rank, if set, is the heads' measured chance of acceptance by depth
	// and rank (teacher forced when they were trained or evaluated: the
	// figures s4c-static builds its tree from). It replaces the heads' own
	// step probability as the prior of srcModel nodes: learned online
	// alone, a depth whose nodes the tree seldom keeps is seldom observed,
	// so its under-confident prior stayed, and trees stayed wide and
	// shallow (1.1B twin, heads trained on it: kept trees of 3 depth-1
	// nodes and 2 at depth 2 where a chain was accepted; τ 2.97 against
	// the static tree's 3.24 from the same heads).
	rank [][]float64
}

// calCounts are nodes tried and accepted by source, depth and step bin.
type calCounts struct {
	tried, accepted [calSources][calDepths][calBins]float64
}

// add records one node.
func (c *calCounts) add(src uint8, i, b int, ok bool) {
	c.tried[src][i][b]++
	if ok {
		c.accepted[src][i][b]++
	}
	if c.tried[src][i][b] > calKeep {
		c.tried[src][i][b] /= 2
		c.accepted[src][i][b] /= 2
	}
}

// A sequence also counts the nodes the text proposed (srcText, srcBoth) in
// its own reply, worth calLocal observations of the process's figure:
// how often the text repeats itself is a property of the text at hand
// (a translation quotes little of its prompt, a summary much), not of the
// drafter, so a lookup that pays in one reply should not take the heads'
// budget in another (on Spec-Bench translation the union's τ fell to 2.07
// against S^4C's 2.58 with the process's figure alone). The heads'
// (srcModel) acceptance is the model's, and stays per process.
const calLocal = 8

// Sources of draft nodes, calibrated apart: a model's probabilities and
// the n-gram lookup's shares of continuations mean different things (in a
// merged tree, one calibration for both let the lookup's nodes take the
// heads' budget: on a Spec-Bench extraction question the union's τ fell
// from 2.51 to 1.95).
// A node both drafters proposed (in a merged tree) is a source of its own:
// where the lookup and the heads agree, acceptance is another matter than
// where either guesses alone.
const (
	srcModel = iota
	srcText
	srcBoth
	calSources
)

// calKey names what a calibration describes: a drafter (method, heads,
// draft model, head count) on a target.
type calKey struct {
	e        *engine.Engine
	method   string
	hd       *heads.Heads
	draft    *engine.Engine
	heads    int
	sampling samplingClass
}

// samplingClass is what of a request's sampling changes how often the
// target accepts a draft, so that requests that differ in it learn apart:
// at temperature 1 the twin's heads see 0.58 of their depth-1 nodes
// accepted, greedy 0.88, and a server mixing both in one calibration
// would verify trees too wide for its greedy requests and too deep for
// its sampled ones. Greedy requests ignore the truncation settings.
type samplingClass struct {
	temp, topP, minP, penalty float32
	topK                      int
}

func classOf(p sample.Params) samplingClass {
	if p.Temp == 0 {
		return samplingClass{penalty: p.RepeatPenalty}
	}
	return samplingClass{temp: p.Temp, topP: p.TopP, minP: p.MinP, penalty: p.RepeatPenalty, topK: p.TopK}
}

var calibrations sync.Map // calKey -> *calibration

// calibrationFor is the calibration of one drafter on one target, shared
// by every sequence and decoder of the process: learned per sequence, a
// reply of a hundred tokens ended before its counts left the drafter's
// own (under-confident) figures, and trees stayed shallow (on the 1.1B
// twin, depth-4 drafts were accepted in 17 % of rounds where a static
// chain of the same heads reached 47 %).
func calibrationFor(k calKey) *calibration {
	if c, ok := calibrations.Load(k); ok {
		return c.(*calibration)
	}
	// The first decoder of this drafter: the heads' table is read once.
	c := &calibration{}
	if k.hd != nil {
		if acc, ok, err := k.hd.RankAccept(); ok && err == nil {
			c.rank = acc
		}
	}
	v, _ := calibrations.LoadOrStore(k, c)
	return v.(*calibration)
}

const (
	calBins   = 10  // step probability in tenths
	calDepths = 8   // depths past this share the last one's counts
	calPrior  = 4   // observations the drafter's own figure is worth
	calKeep   = 512 // counts are halved past this many, to follow the text
)

// calBin is the bin of step probability p.
func calBin(p float64) int {
	if !(p > 0) {
		return 0
	}
	return min(int(p*calBins), calBins-1)
}

func calDepth(d int) int { return min(max(d, 1), calDepths) - 1 }

// atLocked is the chance that a node from src at depth d whose step
// probability is p, the rank-th most probable child of its parent, is
// accepted once its parent is; local are the sequence's own counts (nil:
// none). c.mu is held.
func (c *calibration) atLocked(src uint8, d int, p float64, rank int, local *calCounts) float64 {
	i, b := calDepth(d), calBin(p)
	p = min(max(p, 0), 1)
	prior := p
	if src == srcModel && d >= 1 && d <= len(c.rank) && rank >= 0 && rank < len(c.rank[d-1]) {
		prior = c.rank[d-1][rank]
	}
	g := (c.accepted[src][i][b] + calPrior*prior) / (c.tried[src][i][b] + calPrior)
	if local == nil || src == srcModel {
		return g
	}
	return (local.accepted[src][i][b] + calLocal*g) / (local.tried[src][i][b] + calLocal)
}

// observe records a node from src at depth d of step probability p whose
// parent was accepted, and whether it was accepted too, in the process's
// counts and the sequence's (local, if not nil).
func (c *calibration) observe(src uint8, d int, p float64, ok bool, local *calCounts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, b := calDepth(d), calBin(p)
	c.add(src, i, b, ok)
	if local != nil {
		local.add(src, i, b, ok)
	}
}

// score rewrites a drafted tree's node scores as calibrated chances of
// acceptance: each node keeps its step probability (step, derived from
// the path probabilities unless the tree set it: see mergeTrees) and its logp
// becomes the log of the product of the calibrated steps along its path,
// which never grows from parent to child, so pruning by it keeps every
// kept node's ancestors. Parents precede children in t.nodes.
func (c *calibration) score(t *tree, local *calCounts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	orig := make([]float64, len(t.nodes))
	for i := range t.nodes {
		orig[i] = t.nodes[i].logp
	}
	for i := 1; i < len(t.nodes); i++ {
		nd := &t.nodes[i]
		if nd.step == 0 {
			nd.step = math.Exp(min(orig[i]-orig[nd.parent], 0))
		}
		nd.logp = t.nodes[nd.parent].logp + math.Log(max(c.atLocked(nd.src, nd.depth, nd.step, nd.rank, local), 1e-12))
	}
}
