package speculative

import (
	"math"
	"testing"

	"s4c/engine"
	"s4c/sample"
)

// at is atLocked with the lock taken (only the tests ask one node at a
// time; decoding scores whole trees).
func (c *calibration) at(src uint8, d int, p float64, local *calCounts) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atLocked(src, d, p, 0, local)
}

func TestCalibration(t *testing.T) {
	var c calibration
	for _, p := range []float64{0.9, 0.3, 0.05, 0.001} {
		if got := c.at(srcModel, 2, p, nil); math.Abs(got-p) > 1e-12 {
			t.Errorf("no observations: at(2, %v) = %v, want the prior %v", p, got, p)
		}
	}
	// Head 3 says 0.45 but is right 80% of the time.
	for i := 0; i < 1000; i++ {
		c.observe(srcModel, 3, 0.45, i%5 != 0, nil)
	}
	if got := c.at(srcModel, 3, 0.45, nil); math.Abs(got-0.8) > 0.02 {
		t.Errorf("after 80%% acceptance at p=0.45: at = %v", got)
	}
	if got := c.at(srcModel, 3, 0.95, nil); got != 0.95 {
		t.Errorf("other bins must keep their prior: at(3, 0.95) = %v", got)
	}
	if got := c.at(srcModel, 2, 0.45, nil); got != 0.45 {
		t.Errorf("other depths must keep their prior: at(2, 0.45) = %v", got)
	}
	if got := c.at(srcText, 3, 0.45, nil); got != 0.45 {
		t.Errorf("the n-gram lookup's nodes must keep their own prior: at = %v", got)
	}
	// A reply where the text's nodes at 0.45 are never accepted, against
	// the process's 80 %: its own counts pull the estimate down within a
	// few dozen nodes; the heads' nodes keep the process's figure.
	for i := 0; i < 1000; i++ {
		c.observe(srcText, 3, 0.45, i%5 != 0, nil)
	}
	var local calCounts
	for i := 0; i < 40; i++ {
		c.observe(srcText, 3, 0.45, false, &local)
		c.observe(srcModel, 3, 0.45, false, &local)
	}
	if got := c.at(srcText, 3, 0.45, &local); got > 0.2 {
		t.Errorf("text nodes, 40 refused in this reply after 80%% in the process: at = %v, want below 0.2", got)
	}
	if got, g := c.at(srcModel, 3, 0.45, &local), c.at(srcModel, 3, 0.45, nil); got != g {
		t.Errorf("heads' nodes must not follow the reply's counts: at = %v, process %v", got, g)
	}
	if calBin(0) != 0 || calBin(1) != calBins-1 || calBin(math.NaN()) != 0 || calDepth(0) != 0 || calDepth(99) != calDepths-1 {
		t.Error("bins of 0, 1, NaN; depths 0 and 99")
	}
}

// TestCalibratedScoreKeepsChains: with steps that are right more often
// than the drafter says, a deep chain outranks a shallow sibling once
// calibrated, where by path probability it did not; and scores never grow
// from parent to child, so a pruned tree keeps every ancestor.
func TestCalibratedScoreKeepsChains(t *testing.T) {
	var c calibration
	for d := 1; d <= 4; d++ {
		for i := 0; i < 500; i++ {
			c.observe(srcModel, d, 0.6, i%10 < 9, nil)  // says 0.6, right 90 %
			c.observe(srcModel, d, 0.25, i%10 < 2, nil) // says 0.25, right 20 %
		}
	}
	// root - a (0.6) - b (0.6) - c (0.6) - d (0.6); root - s (0.25)
	lp := math.Log
	tr := &tree{nodes: []node{{parent: -1},
		{tok: 1, parent: 0, depth: 1, logp: lp(0.6)},
		{tok: 2, parent: 0, depth: 1, logp: lp(0.25)},
		{tok: 3, parent: 1, depth: 2, logp: lp(0.36)},
		{tok: 4, parent: 3, depth: 3, logp: lp(0.216)},
		{tok: 5, parent: 4, depth: 4, logp: lp(0.1296)},
	}}
	if tr.nodes[5].logp > tr.nodes[2].logp {
		t.Fatal("test tree: the chain's end should start below the sibling")
	}
	c.score(tr, nil)
	if tr.nodes[5].logp <= tr.nodes[2].logp {
		t.Errorf("calibrated: chain end %.3f, sibling %.3f; want the chain first", math.Exp(tr.nodes[5].logp), math.Exp(tr.nodes[2].logp))
	}
	for i := 1; i < len(tr.nodes); i++ {
		if tr.nodes[i].logp > tr.nodes[tr.nodes[i].parent].logp {
			t.Errorf("node %d scores above its parent", i)
		}
		if math.Abs(tr.nodes[i].step-[]float64{0, 0.6, 0.25, 0.6, 0.6, 0.6}[i]) > 1e-9 {
			t.Errorf("node %d: step %v", i, tr.nodes[i].step)
		}
	}
	if p := tr.prune(4); len(p.nodes) != 5 || p.nodes[4].tok != 5 {
		t.Errorf("pruned to 4 drafts: %+v, want the whole chain", p.nodes)
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

// TestBatchPlan: a batch drafts only where its pass is still memory-bound
// past its own rows. On the 1.1B F16 twin's curve (bench serve, 2 cores:
// t(N)/t(1) 1.19 at 4, 1.33 at 6, 2.11 at 8, 3.13 at 16) four requests
// gain from one-node drafts for some of them (a pass of 6 costs little
// more than one of 4; one of 8 nearly twice), while sixteen, whose passes
// cost in proportion to their rows, decode plainly: there every drafted
// row costs what a token does and is accepted less than always. One
// request drafts whole chains.
func TestBatchPlan(t *testing.T) {
	twin := &Costs{n: []int{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32},
		t: []float64{1, 1.06, 1.11, 1.19, 1.29, 1.33, 1.66, 2.11, 2.39, 2.64, 3.13, 4.76, 6.21}}
	for i := range twin.t {
		twin.t[i] *= 37e-3
	}
	flat := &Costs{n: []int{1, 32}, t: []float64{37e-3, 38e-3}}
	for _, c := range []struct {
		name             string
		costs            *Costs
		b                int
		draft            float64
		mMin, mMax, jMax int
	}{
		{"twin, 4 requests", twin, 4, 1.9e-3, 1, 3, 2},
		{"twin, 16 requests", twin, 16, 1.9e-3, 0, 0, 0},
		{"twin, 2 requests", twin, 2, 1.9e-3, 1, 2, 4},
		{"twin, 4 requests, drafts as dear as a pass", twin, 4, 40e-3, 0, 0, 0},
		{"flat curve, 16 requests (up to 32 rows measured)", flat, 16, 1.9e-3, 4, 16, 4},
	} {
		d := &Decoder{costs: newLive(c.costs), depth: 4, draft: c.draft}
		m, j := d.batchPlan(c.b)
		if m < c.mMin || m > c.mMax || j > c.jMax || (m > 0) != (j > 0) {
			t.Errorf("%s: plan %d sequences × %d nodes, want %d..%d × at most %d", c.name, m, j, c.mMin, c.mMax, c.jMax)
		}
	}
}

// TestCalibrationPerSampling: requests learn their drafts' acceptance
// apart by sampling (greedy, or each temperature and truncation), so a
// sampled reply's acceptance does not move a greedy one's trees; replies
// with the same settings (any seed) share what they learn.
func TestCalibrationPerSampling(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	d, err := NewDecoder(e, "s4c", hd, Options{Budget: 6})
	if err != nil {
		t.Fatal(err)
	}
	hot := sample.Params{Temp: 1, TopP: 0.95, TopK: 40, MinP: 0.05, RepeatPenalty: 1, Seed: 1}
	hot2 := hot
	hot2.Seed = 2
	cooler := hot
	cooler.Temp = 0.7
	start := func(sp sample.Params) *Seq {
		q, err := d.Start(e.Model.NewState(256, 2), engine.Request{Prompt: e.Encode("Once upon a time"), MaxTokens: 40, Sampling: sp, IgnoreEOG: true})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	g1, g2 := start(greedy()), start(sample.Params{TopP: 0.5, TopK: 3, RepeatPenalty: 1})
	s1, s2, s3 := start(hot), start(hot2), start(cooler)
	if g1.calib != g2.calib {
		t.Error("two greedy requests (truncation settings differ, which greedy ignores) learn apart")
	}
	if s1.calib != s2.calib {
		t.Error("two requests with the same sampling and different seeds learn apart")
	}
	if g1.calib == s1.calib || s1.calib == s3.calib {
		t.Error("greedy and sampled requests, or two temperatures, share one calibration")
	}
	for !s1.Done() {
		if _, err := d.Step([]*Seq{s1}); err != nil {
			t.Fatal(err)
		}
	}
	tried := func(c *calibration) (n float64) {
		for _, a := range c.tried[srcModel] {
			for _, v := range a {
				n += v
			}
		}
		return n
	}
	if tried(s1.calib) == 0 {
		t.Fatal("a sampled reply of 40 tokens observed no draft nodes")
	}
	if n := tried(g1.calib); n != 0 {
		t.Errorf("the greedy calibration counted %v nodes of a sampled reply", n)
	}
}
