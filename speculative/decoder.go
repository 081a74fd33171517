package speculative

import (
	"fmt"
	"math"
	"sort"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/model"
	"s4c/tensor"
)

// Methods are the decoding methods a Decoder runs: S^4C (coherent heads,
// dynamic tree), its ablations medusa (independent heads, same tree
// search) and s4c-static (coherent heads, a static tree), the
// training-free n-gram lookup, its union with S^4C, a draft model of the
// same vocabulary (standard speculative sampling), and plain decoding;
// s4c-uncoupled is S^4C without coupled draws (see coupling): the
// ablation of what they add when sampling.
var Methods = []string{"s4c", "medusa", "s4c-static", "s4c-uncoupled", "ngram", "s4c+ngram", "draft", "none"}

// Decoder decodes many sequences together, each round of all of them in
// one forward pass (continuous batching: sequences join and leave between
// passes). It holds what they share: the engine, the drafting method, the
// options and the measured cost of passes, from which the tree budget is
// chosen for the whole batch. A Decoder is used by one goroutine at a time.
type Decoder struct {
	e          *engine.Engine
	newDrafter func(*tensor.Pool, Options) drafter
	opt        Options
	costs      *liveCosts // nil with a fixed budget
	calKey     calKey     // the drafter's calibration, but for the request's sampling (see Start)
	// Method is the decoding method (one of Methods).
	Method string
	// Plain is set when the method is "none", or when the measured costs
	// show that drafting cannot pay on this model (MaxGain): sequences are
	// then decoded one token per pass, batched.
	Plain bool

	gates map[int]*batchGate // by batch size class (batchClass)
	depth int                // the drafter's deepest draft
	draft float64            // seconds one sequence's draft takes (measured)
	turn  int                // which sequence drafts first in the next pass
}

// batchGate judges drafting at one batch size by what it yields: the
// tokens per second of passes that drafted against passes that did not
// (moving averages, plain passes probed now and then). The budget
// estimate alone missed what drafting for many sequences costs beside a
// pass; where drafting yields less, passes at that size skip it, and try
// again ever more rarely.
type batchGate struct {
	pass, skipUntil, backoff int
	rate                     [2]float64 // tokens/s: plain [0], drafted [1]
	n                        [2]int
}

// batchClass groups batch sizes whose passes cost alike: 2, 3-4, 5-8, …
func batchClass(b int) int {
	c := 2
	for c < b {
		c *= 2
	}
	return c
}

func (g *batchGate) allow() bool {
	g.pass++
	if g.pass < g.skipUntil || g.pass == 3 || g.pass == 4 || g.pass%64 == 0 {
		return false
	}
	if g.n[0] >= 2 && g.n[1] >= 4 && g.rate[1] < g.rate[0] {
		g.skipUntil = g.pass + g.backoff
		g.backoff = min(2*g.backoff, 256)
		g.rate[1] = g.rate[0] // the next try starts from parity
		return false
	}
	return true
}

func (g *batchGate) observe(kind int, rate float64) {
	if g.n[kind] == 0 {
		g.rate[kind] = rate
	} else {
		g.rate[kind] = 0.8*g.rate[kind] + 0.2*rate
	}
	g.n[kind]++
}

// NewDecoder makes a decoder for method; hd are the heads for the methods
// that need them.
func NewDecoder(e *engine.Engine, method string, hd *heads.Heads, opt Options) (*Decoder, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	opt.defaults()
	d := &Decoder{e: e, opt: opt, Method: method}
	var shp *shape // s4c-static's tree, sized below
	withHeads := func(wrap func(*headsDrafter) drafter) error {
		if hd == nil {
			return fmt.Errorf("decoding method %q needs draft heads (give a heads file, or use ngram or none)", method)
		}
		if hd.Dim != e.Model.Dim {
			return fmt.Errorf("heads of width %d do not fit a model of width %d", hd.Dim, e.Model.Dim)
		}
		if hd.Independent != (method == "medusa") {
			if hd.Independent {
				return fmt.Errorf("decoding method %q needs S^4C's coherent heads, and these are independent (Medusa-style) heads: use them with --spec medusa", method)
			}
			return fmt.Errorf("decoding method medusa needs independent heads, and these are S^4C's coherent heads: train independent ones with 's4c heads train --independent'")
		}
		if opt.Heads > hd.K {
			return fmt.Errorf("%d heads asked for, the heads file has %d", opt.Heads, hd.K)
		}
		d.newDrafter = func(p *tensor.Pool, opt Options) drafter {
			return wrap(&headsDrafter{m: e.Model, hd: hd, opt: opt, shape: shp, p: p})
		}
		return nil
	}
	var err error
	var acc [][]float64 // s4c-static: acceptance per depth and rank
	switch method {
	case "s4c", "medusa", "s4c-uncoupled":
		err = withHeads(func(h *headsDrafter) drafter { return h })
		d.opt.uncoupled = method == "s4c-uncoupled"
	case "s4c-static":
		if err = withHeads(func(h *headsDrafter) drafter { return h }); err != nil {
			break
		}
		var ok bool
		acc, ok, err = hd.RankAccept()
		if err == nil && !ok {
			err = fmt.Errorf("s4c-static builds its tree from the heads' acceptance per depth and rank, which this heads file does not record: measure it with 's4c heads eval -m MODEL --heads HEADS --write'")
		}
		if opt.Heads > 0 && len(acc) > opt.Heads {
			acc = acc[:opt.Heads]
		}
		if opt.Budget > 0 {
			shp = buildShape(acc, opt.Budget)
		}
	case "s4c+ngram":
		err = withHeads(func(h *headsDrafter) drafter { return unionOf(h) })
	case "ngram":
		d.newDrafter = func(*tensor.Pool, Options) drafter { return newNgramDrafter() }
	case "draft":
		if err = checkDraftModel(e, opt.Draft); err == nil {
			d.newDrafter = func(p *tensor.Pool, opt Options) drafter { return newModelDrafter(opt.Draft.Model, p) }
		}
	case "none":
		d.newDrafter = func(*tensor.Pool, Options) drafter { return noDrafter{} }
		d.Plain = true
	default:
		err = fmt.Errorf("unknown decoding method %q: want one of %v", method, Methods)
	}
	if err != nil {
		return nil, err
	}
	if opt.Heads > 0 && (method == "ngram" || method == "none" || method == "draft") {
		return nil, fmt.Errorf("a head count (%d) was given, but decoding method %q drafts without heads", opt.Heads, method)
	}
	d.calKey = calKey{e: e, method: method, hd: hd, draft: opt.Draft, heads: opt.Heads}
	if opt.Budget == 0 && !d.Plain {
		table := MeasureCosts(e.Model, e.Threads)
		d.costs = newLive(table)
		dr := d.newDrafter(tensor.NewPool(e.Threads), opt)
		d.depth, d.draft = dr.depth(), dr.cost()
		d.Plain = table.MaxGain(d.depth, d.draft) < minGain
		if acc != nil && !d.Plain {
			// A static tree is verified whole every round: its size is
			// chosen once, from the same costs.
			shp = staticSize(acc, d.costs, opt.MaxBudget, d.draft)
			d.opt.Budget = shp.size()
			d.Plain = d.opt.Budget == 0
			d.draft = d.newDrafter(tensor.NewPool(e.Threads), d.opt).cost()
		}
	}
	return d, nil
}

// staticSize is the static tree (buildShape) of the size that maximises
// expected tokens per second, (1 + Σ value) / (t(n+1) + draft), on the
// measured costs.
func staticSize(acc [][]float64, c *liveCosts, maxN int, draft float64) *shape {
	all := buildShape(acc, maxN)
	v := append([]float64(nil), all.value[1:]...)
	sort.Sort(sort.Reverse(sort.Float64Slice(v)))
	bestN, best, sum := 0, 1/c.At(1), 1.0
	for n := 1; n <= len(v); n++ {
		sum += v[n-1]
		if r := sum / (c.At(n+1) + draft); r > best {
			bestN, best = n, r
		}
	}
	return buildShape(acc, bestN)
}

// noDrafter drafts nothing: plain decoding through the same loop.
type noDrafter struct{}

func (noDrafter) depth() int    { return 0 }
func (noDrafter) cost() float64 { return 0 }
func (noDrafter) draft(_ []float32, b int32, _ []int32, _ int, _ *coupling) *tree {
	return &tree{nodes: []node{{tok: b, parent: -1}}}
}

// Start begins a generation on s (its own KV cache). The cache may hold a
// prefix of the prompt, which is then not run again: the caller keeps
// track of what its rows hold, and truncates it to the common prefix
// (Cache.Truncate) before it starts. The request's
// sampling parameters are checked here. Start sets s.ReuseOutputs: a
// sequence takes what it needs of each pass's output before the next.
func (d *Decoder) Start(s *model.State, req engine.Request) (*Seq, error) {
	if len(req.Prompt) == 0 {
		return nil, fmt.Errorf("empty prompt: give at least one token")
	}
	if err := req.Sampling.Validate(); err != nil {
		return nil, err
	}
	if len(req.Prompt) >= s.Cache.Cap {
		return nil, fmt.Errorf("%w: %d tokens, but the context holds %d; shorten the prompt", engine.ErrPromptTooLong, len(req.Prompt), s.Cache.Cap)
	}
	k := d.calKey
	k.sampling = classOf(req.Sampling)
	s.ReuseOutputs = true
	return newSeq(d.e, s, d.newDrafter(s.Pool, d.opt), d.costs, calibrationFor(k), req, d.opt), nil
}

// PassStats describe one Step.
type PassStats struct {
	Seqs    int // sequences in the pass
	Tokens  int // rows of the pass (prompt chunks, roots and draft nodes)
	Drafted int // draft nodes among them
	Sec     float64
}

// Step runs one round of every sequence not done in one forward pass:
// each drafts, the budget is chosen for the whole batch, the pass
// verifies every tree (and runs every prompt chunk), and each sequence
// accepts its longest agreed path. A sequence whose pass fails is stopped
// with the error as its reason; the error is returned.
func (d *Decoder) Step(seqs []*Seq) (PassStats, error) {
	var live []*Seq
	for _, q := range seqs {
		if !q.Done() {
			live = append(live, q)
		}
	}
	var ps PassStats
	if len(live) == 0 {
		return ps, nil
	}
	// n0 counts the rows the pass runs anyway: prompt chunks, and one
	// root per decoding sequence.
	decoding, before, n0 := 0, 0, 0
	for _, q := range live {
		if q.Prefilling() {
			n0 += min(engine.PromptChunk, len(q.pending))
			continue
		}
		decoding++
		before += len(q.out)
		n0++
	}
	// Several sequences decoding (not only running prompts): drafting
	// only where the batch plan says it pays at this batch size, and there
	// as the batch gate decides.
	draft := !d.Plain
	var g *batchGate
	planM, planJ := 0, 0
	if draft && decoding > 1 && d.opt.Budget == 0 {
		if planM, planJ = d.batchPlan(decoding); planM == 0 {
			draft = false
		} else {
			if d.gates == nil {
				d.gates = map[int]*batchGate{}
			}
			if g = d.gates[batchClass(decoding)]; g == nil {
				g = &batchGate{backoff: 8}
				d.gates[batchClass(decoding)] = g
			}
			draft = g.allow()
		}
	}
	tRound := time.Now()
	probs := make([][]float64, len(live))
	switch {
	case draft && planM > 0:
		// Drafting is per sequence, and for many sequences it would cost
		// more than the pass it saves: as many sequences as the plan says
		// draft, each a draft of at most planJ nodes, taking turns.
		drafted := 0
		for k := range live {
			i := (d.turn + k) % len(live)
			if live[i].Prefilling() {
				continue
			}
			if drafted == planM {
				break
			}
			probs[i] = live[i].draftUpTo(planJ)
			drafted++
		}
		d.turn += planM
	case draft:
		for i, q := range live {
			probs[i] = q.Draft()
		}
	}
	for i, q := range live {
		if probs[i] == nil && !q.Prefilling() {
			q.noDraft(tRound)
		}
	}
	n := d.budgets(live, probs, n0, decoding)
	states := make([]*model.State, len(live))
	batches := make([]*model.Batch, len(live))
	prefill := false
	for i, q := range live {
		states[i], batches[i] = q.s, q.Batch(n[i])
		prefill = prefill || q.Prefilling()
		ps.Tokens += len(batches[i].Tokens)
		if !q.Prefilling() {
			ps.Drafted += len(batches[i].Tokens) - 1
		}
	}
	ps.Seqs = len(live)
	t0 := time.Now()
	outs, err := model.ForwardMany(states, batches)
	ps.Sec = time.Since(t0).Seconds()
	if err != nil {
		for _, q := range live {
			q.Stop("error")
		}
		return ps, err
	}
	if d.costs != nil && !prefill {
		d.costs.observe(ps.Tokens, ps.Sec)
	}
	after := 0
	for i, q := range live {
		wasPrefill := q.Prefilling()
		if err := q.Accept(outs[i], ps.Sec); err != nil {
			q.Stop("error")
			return ps, err
		}
		if !wasPrefill {
			after += len(q.out)
		}
	}
	if g != nil && !prefill {
		kind := 0
		if draft {
			kind = 1
		}
		g.observe(kind, float64(after-before)/time.Since(tRound).Seconds())
	}
	return ps, nil
}

// typicalAccept is the chance, taken per depth, that a draft node is
// accepted given its parent was, for planning before anything is drafted:
// chains then hold 0.8, 1.44, 1.95, 2.36 … accepted tokens (S^4C's heads
// measure 0.87, 0.69, 0.50, 0.30 acceptance at depths 1-4 on the twin).
// The nodes actually verified are chosen afterwards from their calibrated
// probabilities (budgets), and the batch gate checks the outcome.
const typicalAccept = 0.8

// planMargin is how much a batch plan must beat a plain batched pass by:
// the estimate is noisy, and a loss at a large batch is a loss for every
// user.
const planMargin = 1.05

// batchPlan is how a batch of b decoding sequences drafts for one pass:
// m of them (taking turns) each draft a tree pruned to at most j nodes
// (whose head steps stop at depth j), the plan with the most expected
// tokens per second,
//
//	(b + m·Σ_{i≤j} typicalAccept^i) / (t(b + m·j) + m·draft·(j+1)/(depth+1)),
//
// on the measured cost curve t, draft being one full draft's seconds. m
// = 0 where no plan beats plain batched decoding by planMargin. Where a
// pass of b rows already costs much more than one of b-1 (compute-bound
// passes), every added row costs what a token does and drafts, accepted
// less than always, cannot pay: the batch decodes plainly without paying
// for drafts.
func (d *Decoder) batchPlan(b int) (m, j int) {
	best := planMargin * float64(b) / d.costs.At(b)
	for mm := 1; mm <= b; mm++ {
		gain := 0.0
		for jj := 1; jj <= d.depth; jj++ {
			gain += math.Pow(typicalAccept, float64(jj))
			draft := float64(mm) * d.draft * float64(jj+1) / float64(d.depth+1)
			if r := (float64(b) + float64(mm)*gain) / (d.costs.At(b+mm*jj) + draft); r > best {
				best, m, j = r, mm, jj
			}
		}
	}
	return m, j
}

// budgets chooses each sequence's draft nodes for one shared pass: the
// allocation that maximises the batch's expected tokens per second,
//
//	(Σ_j (1 + Σ_{i<n_j} a_ji)) / (t(N₀ + Σ_j n_j) + draft)
//
// where N₀ counts the rows the pass runs anyway (prompt chunks, one root
// per decoding sequence), a_ji is the calibrated chance of acceptance of
// sequence j's i-th best node, and draft the seconds drafting took. Nodes
// are added greedily, the most likely accepted next among all sequences
// (each sequence's in its own order, as its tree prunes), and the best
// prefix is kept. As the batch grows a pass costs more per added row, so
// drafting shrinks by itself, down to plain batched decoding. With one
// sequence this is chooseBudget; with a fixed budget, every sequence gets
// it.
func (d *Decoder) budgets(live []*Seq, probs [][]float64, n0, decoding int) []int {
	n := make([]int, len(live))
	if d.opt.Budget > 0 {
		for i := range n {
			n[i] = d.opt.Budget
		}
		return n
	}
	if d.Plain || d.costs == nil {
		return n
	}
	if len(live) == 1 {
		n[0] = live[0].Budget(probs[0])
		return n
	}
	tokens, draft := float64(decoding), 0.0
	for _, q := range live {
		draft += q.draftSec // 0 where it did not draft
	}
	// Drafts must beat plain batched decoding by a margin: the estimate
	// is noisy, and a loss at a large batch is a loss for every user.
	const margin = 1.03
	best, bestK := margin*tokens/d.costs.At(n0), 0
	taken := make([]int, len(live))
	var order []int // the sequence each added node belongs to
	sum := tokens
	for k := 1; k <= MaxTreeBudget; k++ {
		pick, pa := -1, -1.0
		for j := range live {
			if taken[j] < min(len(probs[j]), d.opt.MaxBudget) {
				if a := probs[j][taken[j]]; a > pa {
					pick, pa = j, a
				}
			}
		}
		if pick < 0 {
			break
		}
		taken[pick]++
		order = append(order, pick)
		sum += pa
		if r := sum / (d.costs.At(n0+k) + draft); r > best {
			best, bestK = r, k
		}
	}
	for _, j := range order[:bestK] {
		n[j]++
	}
	return n
}
