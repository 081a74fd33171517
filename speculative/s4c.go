// Package speculative is S^4C speculative decoding: coherent multi-head drafting
// (package heads), a dynamic draft tree, and a continuous verification tree
// checked in one forward pass of the target model.
//
// # Exactness
//
// Each round the target verifies the tree [root, drafts…] in one batch with
// a tree attention mask: every node sees the committed cache and its own
// ancestors, at position base+depth. By the engine's batch invariance the
// logits at a node are bitwise those plain decoding computes after the
// root→node path. Acceptance walks from the root: at the current node it
// picks the next token y exactly as plain decoding would — the argmax at
// temperature 0, or a draw from the target's processed distribution (top-k,
// top-p, min-p, penalties, temperature) using the same random stream — and
// descends into the child whose token is y if the tree has one; otherwise
// the round ends with y as the next root. Every emitted token is therefore
// chosen by the rule of plain decoding from plain decoding's logits: at
// temperature 0 the text is token-for-token plain greedy decoding, and at
// temperature > 0 with the same seed it is the very sequence plain sampling
// draws (so its distribution is the model's), whatever the heads propose.
// The heads only decide how many of those tokens one pass yields; when
// sampling they rank their guesses with the noise the target will draw
// with (coupled drafts, coupled.go), so that they guess its draws, not
// only its most probable tokens.
//
// # Continuous verification
//
// The accepted path's rows stay in the KV cache (the rest are dropped, no
// recompute), and the hidden state the verification pass computed at the
// last accepted node seeds the next round's drafting: no extra pass of the
// target per round.
package speculative

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/model"
	"s4c/tensor"
)

// DefaultBudget is the fixed tree size used to measure heads (τ) when the
// budget is not chosen automatically.
const DefaultBudget = 24

// Options configure S^4C decoding.
type Options struct {
	Budget    int // draft nodes verified per round; 0 = chosen each round from measured costs
	MaxBudget int // upper bound of the automatic budget (default 64)
	TopK      int // children considered per node (default 8)
	Width     int // nodes kept per depth (default 10)
	// Heads, if > 0, drafts with only the first Heads heads (the
	// head-count ablation: trees at most that deep).
	Heads int
	// Draft is the draft model of method "draft" (same vocabulary).
	Draft *engine.Engine

	uncoupled bool // s4c-uncoupled: sampled rounds draft without the target's draw noise
}

// MaxTreeBudget bounds Options.Budget and MaxBudget: verification passes
// far beyond it cost more than they can accept on any model here.
const MaxTreeBudget = 1024

// Validate reports an option outside its range (negative sizes, or trees
// too large to verify).
func (o Options) Validate() error {
	for _, f := range []struct {
		name   string
		v, max int
	}{{"budget", o.Budget, MaxTreeBudget}, {"max budget", o.MaxBudget, MaxTreeBudget}, {"top-k children", o.TopK, 256}, {"width", o.Width, 1024}, {"head count", o.Heads, heads.MaxK}} {
		if f.v < 0 || f.v > f.max {
			return fmt.Errorf("S^4C %s %d: want 0 (automatic) to %d", f.name, f.v, f.max)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.MaxBudget <= 0 {
		o.MaxBudget = 64
	}
	if o.TopK <= 0 {
		o.TopK = 8
	}
	if o.Width <= 0 {
		o.Width = 10
	}
}

// Stats describe an S^4C generation.
type Stats struct {
	engine.Stats
	Rounds      int   // verification passes
	DraftRounds int   // rounds that drafted (the rest were plain steps)
	Accepted    int   // draft tokens accepted
	AcceptDepth []int // AcceptDepth[d-1]: rounds whose depth-d draft was accepted
	TreeNodes   int   // draft nodes verified in all
	// Expected is the acceptance the calibration predicted for the
	// verified nodes, summed: against Accepted it shows whether trees
	// are sized on estimates that hold.
	Expected float64
	// Compactions counts rounds whose accepted path was not a prefix of
	// the tree's rows, so the KV cache moved rows to close the gaps.
	Compactions int
	DraftTime   time.Duration
	VerifyTime  time.Duration
	Fallback    bool // measured costs showed drafting cannot pay: decoded plainly
}

// Add accumulates another generation's counts and times into s.
func (s *Stats) Add(o Stats) {
	s.PromptTokens += o.PromptTokens
	s.GenTokens += o.GenTokens
	s.PromptTime += o.PromptTime
	s.GenTime += o.GenTime
	s.Rounds += o.Rounds
	s.DraftRounds += o.DraftRounds
	s.Accepted += o.Accepted
	s.TreeNodes += o.TreeNodes
	s.Expected += o.Expected
	s.Compactions += o.Compactions
	s.DraftTime += o.DraftTime
	s.VerifyTime += o.VerifyTime
	if len(s.AcceptDepth) < len(o.AcceptDepth) {
		s.AcceptDepth = append(s.AcceptDepth, make([]int, len(o.AcceptDepth)-len(s.AcceptDepth))...)
	}
	for d, a := range o.AcceptDepth {
		s.AcceptDepth[d] += a
	}
}

// Tau is the mean number of tokens emitted per verification pass.
func (s Stats) Tau() float64 {
	if s.Rounds == 0 {
		return 0
	}
	return float64(s.Accepted+s.Rounds) / float64(s.Rounds)
}

// MeanTree is the mean number of draft nodes per drafting round.
// PredictedTau is the τ the calibration expected of the verified trees (0:
// nothing drafted).
func (s Stats) PredictedTau() float64 {
	if s.Rounds == 0 || s.Expected == 0 {
		return 0
	}
	return (float64(s.Rounds) + s.Expected) / float64(s.Rounds)
}

func (s Stats) MeanTree() float64 {
	if s.DraftRounds == 0 {
		return 0
	}
	return float64(s.TreeNodes) / float64(s.DraftRounds)
}

// Summary is a one-line account of τ, acceptance per depth, tree size and
// the time split.
func (s Stats) Summary() string {
	acc := ""
	for d, a := range s.AcceptDepth {
		if s.DraftRounds > 0 {
			acc += fmt.Sprintf(" d%d=%.2f", d+1, float64(a)/float64(s.DraftRounds))
		}
	}
	other := s.GenTime - s.DraftTime - s.VerifyTime
	if s.Fallback {
		return "speculation cannot pay on this model (even with every draft accepted, drafting and verifying N tokens cost about N single steps): decoded plainly"
	}
	pred := ""
	if p := s.PredictedTau(); p > 0 {
		pred = fmt.Sprintf(" (predicted %.2f)", p)
	}
	return fmt.Sprintf("τ %.2f%s tokens/pass | acceptance%s | tree %.1f nodes (%d/%d rounds drafted) | time draft %.0f%% verify %.0f%% other %.0f%%",
		s.Tau(), pred, acc, s.MeanTree(), s.DraftRounds, s.Rounds,
		pct(s.DraftTime, s.GenTime), pct(s.VerifyTime, s.GenTime), pct(other, s.GenTime))
}

func pct(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return 100 * a.Seconds() / b.Seconds()
}

// Costs is the measured time of one forward pass of N tokens, used to pick
// the tree budget that maximises expected tokens per second.
type Costs struct {
	// idle counts recent generations on this model that never drafted:
	// the next one starts by probing rarely.
	idle atomic.Int32
	n    []int
	t    []float64 // seconds
	path string    // on-disk cache ("" if none)
	disk struct {
		N    []int
		T    []float64
		Idle bool // the last generation never drafted
	}
}

var costCache sync.Map // *model.Model -> *Costs

// costsVersion is raised whenever the kernels change the shape of t(N), so
// costs cached on disk by an older build are measured again (12: float
// weights are read from a huge-page copy, not the file mapping).
const costsVersion = 12

// MeasureCosts times tree-masked forward passes of 1..32 tokens after a short
// context on m. Results are cached per model in memory and on disk (in the
// user's cache directory, keyed by the model's fingerprint, the thread count
// and the kernel), since timing a multi-GiB model takes seconds.
func MeasureCosts(m *model.Model, threads int) *Costs {
	if c, ok := costCache.Load(m); ok {
		return c.(*Costs)
	}
	s := m.NewState(min(m.CtxLen, 128), threads)
	path := ""
	// A small model's table takes well under a second to measure: measure
	// it in every process rather than trust one cached from a busy minute
	// (where a pass costs 0.1-0.2 ms, one preempted pass doubles it).
	if dir, err := os.UserCacheDir(); err == nil && m.WeightBytes() >= smallModel {
		path = filepath.Join(dir, "s4c", fmt.Sprintf("costs-v%d-%.16s-t%d-%s.json", costsVersion, m.Fingerprint(), s.Pool.Threads, tensor.Kernel))
		if b, err := os.ReadFile(path); err == nil {
			var c Costs
			if json.Unmarshal(b, &c.disk) == nil && len(c.disk.N) > 1 && len(c.disk.N) == len(c.disk.T) {
				c.n, c.t, c.path = c.disk.N, c.disk.T, path
				if c.disk.Idle {
					c.idle.Store(1)
				}
				if c.agrees(s) {
					costCache.Store(m, &c)
					return &c
				}
			}
		}
	}
	s.Cache.Truncate(0)
	ctxToks := make([]int32, 64)
	s.Forward(&model.Batch{Tokens: ctxToks})
	s.Commit(len(ctxToks))
	c := &Costs{}
	// Every size up to 8 (trees live there, and t(N) has steps where the
	// kernels' token tiles split), then coarser.
	c.n = []int{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32}
	c.t = make([]float64, len(c.n))
	batches := make([]*model.Batch, len(c.n))
	for i, n := range c.n {
		toks := make([]int32, n)
		pos := make([]int32, n)
		par := make([]int32, n)
		for j := range par {
			par[j] = int32(j) - 1
			pos[j] = int32(64 + j)
		}
		batches[i] = &model.Batch{Tokens: toks, Pos: pos, Parent: par, Logits: allRows(n), Hidden: true}
		c.t[i] = math.Inf(1)
	}
	// Rounds over all sizes (the first one warms buffers up), keeping each
	// size's fastest pass: a burst of other work on a shared machine then
	// slows one pass of a size, not all of them. The table is cached for
	// good, and one measured under load (t(3) 1.5x t(2), t(10) below t(8))
	// made the budget logic pick shallow trees: Q8_0 twin 1.55x instead of
	// 2.10x.
	// Six rounds at least, every other one in reverse order: with two, a
	// table measured in a busy minute had t(2..5) at 1.29·t(1) where a calm
	// one gives 1.04-1.07, and the twin's speed-up fell from 2.25x to 2.04x.
	// Small models take more rounds, as many as fit in a third of a second.
	start := time.Now()
	for r := 0; r < 6 || r < 64 && time.Since(start) < 300*time.Millisecond; r++ {
		for j := range batches {
			i := j
			if r%2 == 1 {
				i = len(batches) - 1 - j
			}
			t0 := time.Now()
			s.Forward(batches[i])
			if r > 0 {
				c.t[i] = min(c.t[i], time.Since(t0).Seconds())
			}
		}
	}
	// More tokens never cost less: what remains of noise is evened out.
	for i := 1; i < len(c.t); i++ {
		c.t[i] = max(c.t[i], c.t[i-1])
	}
	costCache.Store(m, c)
	c.path = path
	c.save()
	return c
}

// smallModel is the weight size below which cost tables are not cached on
// disk (measuring them takes a fraction of a second).
const smallModel = 256 << 20

// save writes the table (and whether drafting paid last time) to the cache.
func (c *Costs) save() {
	if c.path == "" {
		return
	}
	c.disk.N, c.disk.T, c.disk.Idle = c.n, c.t, c.idle.Load() > 0
	if b, err := json.Marshal(c.disk); err == nil {
		os.MkdirAll(filepath.Dir(c.path), 0o755)
		os.WriteFile(c.path, b, 0o644)
	}
}

// minGain is the least MaxGain for which S^4C drafts at all. MaxGain
// assumes every draft is accepted; real heads accept 60-90 % per depth, so
// a bound below 1.2 leaves no real gain, only the risk of a loss.
const minGain = 1.2

// MaxGain is the best speed-up speculation could give if every draft were
// accepted: max over N of min(N, depth+1)·t(1)/(t(N)+draft), where a pass
// verifies N tokens, at most depth+1 of them can be emitted (the heads
// draft depth tokens ahead) and drafting costs draft seconds. Below
// minGain drafting cannot pay: a model whose pass cost grows in proportion
// to N (a tiny compute-bound one), or whose passes cost about what a draft
// does.
func (c *Costs) MaxGain(depth int, draft float64) float64 {
	best := 1.0
	for i, n := range c.n {
		if n >= 2 {
			best = max(best, float64(min(n, depth+1))*c.t[0]/(c.t[i]+draft))
		}
	}
	return best
}

var draftCosts sync.Map // draftKey -> seconds

// draftKey names what a draft costs: the drafter (heads, or a draft
// model), the static shape's signature, the head count and the threads.
// Shapes are keyed by signature because every decoder builds its own.
type draftKey struct {
	hd             *heads.Heads
	dm             *model.Model
	shape          string
	heads, threads int
}

// cachedCost is measure's result, measured once per key.
func cachedCost(key draftKey, measure func() float64) float64 {
	if c, ok := draftCosts.Load(key); ok {
		return c.(float64)
	}
	c := measure()
	draftCosts.Store(key, c)
	return c
}

// draftCost times drafting a tree of up to depth+1 nodes (the fewest that
// hold a chain as deep as the heads reach; a static tree whole) from a
// neutral state: the fastest of five or more (as many as fit in 50 ms),
// after one untimed, so that a burst of other work on the machine does not
// count. Cached per heads, shape, head count and thread count.
func draftCost(d *headsDrafter) float64 {
	key := draftKey{hd: d.hd, heads: d.opt.Heads, threads: d.p.Threads}
	nodes := d.depth() + 1
	if d.shape != nil {
		key.shape = d.shape.sig
		nodes = max(nodes, d.shape.size())
	}
	return cachedCost(key, func() float64 {
		h := make([]float32, d.m.Dim)
		best := math.Inf(1)
		start := time.Now()
		for r := 0; r < 6 || r < 64 && time.Since(start) < 50*time.Millisecond; r++ {
			t0 := time.Now()
			d.grow(h, 0, d.options(nodes))
			if r > 0 {
				best = min(best, time.Since(t0).Seconds())
			}
		}
		return best
	})
}

// agrees times a few pass sizes again and reports whether the cached table
// still holds on this machine now: a table cached in a busy minute (one
// had t(12) at 2.4x what calm passes take, and every larger size with it)
// or on another CPU would otherwise steer every later run. Each size's
// t(N)/t(1) must be within 0.7-1.4x of the table's (runs differ by up to 20 %).
func (c *Costs) agrees(s *model.State) bool {
	ctxToks := make([]int32, 64)
	if _, err := s.Forward(&model.Batch{Tokens: ctxToks}); err != nil {
		return false
	}
	s.Commit(len(ctxToks))
	defer s.Cache.Truncate(0)
	var t1 float64
	for k, n := range []int{1, 8, 16} {
		i := slices.Index(c.n, n)
		if i < 0 {
			return false
		}
		toks, pos, par := make([]int32, n), make([]int32, n), make([]int32, n)
		for j := range par {
			par[j], pos[j] = int32(j)-1, int32(64+j)
		}
		b := &model.Batch{Tokens: toks, Pos: pos, Parent: par, Logits: allRows(n), Hidden: true}
		best := math.Inf(1)
		for r := 0; r < 3; r++ {
			t0 := time.Now()
			s.Forward(b)
			if r > 0 {
				best = min(best, time.Since(t0).Seconds())
			}
		}
		if k == 0 {
			t1 = best
			continue
		}
		if r := (best / t1) / (c.t[i] / c.t[0]); r < 0.7 || r > 1.4 {
			return false
		}
	}
	return true
}

// measured interpolates the cost table.
func (c *Costs) measured(n int) float64 {
	if n <= c.n[0] {
		return c.t[0]
	}
	for i := 1; i < len(c.n); i++ {
		if n <= c.n[i] {
			f := float64(n-c.n[i-1]) / float64(c.n[i]-c.n[i-1])
			return c.t[i-1] + f*(c.t[i]-c.t[i-1])
		}
	}
	last := len(c.n) - 1
	return c.t[last] * float64(n) / float64(c.n[last])
}

// liveCosts follows the passes of one generation: the cost of a pass grows
// with the context (attention), so recent observations win over the table,
// and sizes not seen lately are scaled by how much the last size observed
// has moved from it.
type liveCosts struct {
	c     *Costs
	t     map[int]float64 // EMA of observed seconds by pass size
	seen  map[int]int     // round of the last observation
	round int
	last  int // size of the most recent observation (0: none yet)
}

func newLive(c *Costs) *liveCosts {
	return &liveCosts{c: c, t: map[int]float64{}, seen: map[int]int{}}
}

// At is the expected cost of a pass of n tokens now.
func (l *liveCosts) At(n int) float64 {
	if t, ok := l.t[n]; ok && l.round-l.seen[n] < 64 {
		return t
	}
	// Scale the table by how far the most recently observed size has
	// moved from it (longer context, other load on the machine).
	scale := 1.0
	if l.last > 0 {
		scale = l.t[l.last] / l.c.measured(l.last)
	}
	return l.c.measured(n) * max(scale, 1)
}

func (l *liveCosts) observe(n int, sec float64) {
	l.round++
	if t, ok := l.t[n]; ok {
		l.t[n] = 0.7*t + 0.3*sec
	} else {
		l.t[n] = sec
	}
	l.seen[n] = l.round
	l.last = n
}

func allRows(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// Generate decodes with S^4C. With greedy sampling its output equals
// e.GeneratePlain's token for token.
func Generate(e *engine.Engine, hd *heads.Heads, req engine.Request, opt Options) ([]int32, Stats, error) {
	return generate(e, "s4c", hd, req, opt)
}

// GenerateWith decodes with any of Methods; hd are the heads for the
// methods that need them (nil for ngram, draft and none; the draft model
// is opt.Draft). Lossless as Generate.
func GenerateWith(e *engine.Engine, method string, hd *heads.Heads, req engine.Request, opt Options) ([]int32, Stats, error) {
	return generate(e, method, hd, req, opt)
}

// unionOf is the union of the heads' drafts and the n-gram lookup's.
func unionOf(h *headsDrafter) drafter {
	// Beside the heads, only continuations of two or more matched tokens:
	// the heads already guess from the last token alone, and one-token
	// matches mostly took budget from them.
	ng := newNgramDrafter()
	ng.minN = 2
	return &unionDrafter{heads: h, ngram: ng}
}

// generate decodes one request with method: a Decoder stepping a batch of
// one sequence, or plain decoding where the decoder measured that drafting
// cannot pay.
func generate(e *engine.Engine, method string, hd *heads.Heads, req engine.Request, opt Options) ([]int32, Stats, error) {
	if err := opt.Validate(); err != nil {
		return nil, Stats{}, err
	}
	st := Stats{Stats: engine.Stats{PromptTokens: len(req.Prompt)}}
	s, err := e.NewState(&req)
	if err != nil {
		return nil, st, err
	}
	d, err := NewDecoder(e, method, hd, opt)
	if err != nil {
		return nil, st, err
	}
	if d.Plain {
		// Drafting and verifying N tokens cost about N plain steps here,
		// even if every draft were accepted: decode plainly.
		out, pst, err := e.GeneratePlain(req)
		st.Stats = pst
		st.AcceptDepth = make([]int, d.depth)
		st.Rounds = pst.GenTokens
		st.Fallback = true
		return out, st, err
	}
	q, err := d.Start(s, req)
	if err != nil {
		return nil, st, err
	}
	for !q.Done() {
		if _, err := d.Step([]*Seq{q}); err != nil {
			return q.out, q.Stats(), err
		}
	}
	st = q.Stats()
	if costs := d.costs; costs != nil {
		was := costs.c.idle.Load() > 0
		if st.DraftRounds == 0 {
			costs.c.idle.Add(1)
		} else {
			costs.c.idle.Store(0)
		}
		if was != (costs.c.idle.Load() > 0) {
			costs.c.save()
		}
	}
	return q.out, st, nil
}

// widthHint sizes the draft tree to the budgets being chosen: a tree that
// keeps n-d+1 nodes at depth d prunes to the same n nodes as a wider one
// (see draftOptions.Nodes); drafting wider only costs head and LM-head
// work (at the default width 10, about half the draft time while the
// budget stays near 5).
type widthHint struct {
	recent [16]int
	i      int
}

func newWidthHint(w int) *widthHint {
	h := &widthHint{}
	for i := range h.recent {
		h.recent[i] = w
	}
	return h
}

// note records a chosen budget.
func (h *widthHint) note(n int) {
	h.recent[h.i%len(h.recent)] = n
	h.i++
}

// nodes bounds the size the next draft will be pruned to: the fixed
// budget, or two more than the largest of the last 16 automatic budgets
// (at least 4).
func (h *widthHint) nodes(opt Options) int {
	if opt.Budget > 0 {
		return opt.Budget
	}
	mx := 0
	for _, n := range h.recent {
		mx = max(mx, n)
	}
	return max(4, mx+2)
}

// chooseBudget picks the number of draft nodes n maximising expected tokens
// per second: (1 + Σ_{i<n} a_i) / (t(n+1) + draft), where a are the nodes'
// calibrated chances of acceptance (highest first), t the measured
// verification cost and draft this round's drafting time (spent only when
// n > 0).
func chooseBudget(c *liveCosts, acc []float64, maxN int, draft float64) int {
	bestN, best := 0, 1/c.At(1)
	sum := 0.0
	for n := 1; n <= min(maxN, len(acc)); n++ {
		sum += acc[n-1]
		if r := (1 + sum) / (c.At(n+1) + draft); r > best {
			bestN, best = n, r
		}
	}
	return bestN
}

// Curve is the measured cost table: pass sizes and their seconds.
func (c *Costs) Curve() (n []int, sec []float64) {
	return append([]int(nil), c.n...), append([]float64(nil), c.t...)
}
