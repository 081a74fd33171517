package speculative

import (
	"math"
	"time"

	"s4c/engine"
	"s4c/model"
	"s4c/sample"
)

// Seq is one generation decoded round by round, so that the rounds of many
// sequences can share one forward pass (model.ForwardMany). A round is
//
//	q.Draft()            // grow this round's draft tree (or skip drafting)
//	b := q.Batch(n)      // the prompt's next chunk, or the tree pruned to n nodes
//	o := forward(b)      // alone, or beside other sequences' batches
//	q.Accept(o, sec)     // take the longest path the target agrees with
//
// Drafting and the batch are separate steps so that the tree budget can be
// chosen for a whole batch of sequences (Decoder.Plan) as well as for one
// (Seq.Budget). The acceptance rule is the same either way: the target's
// own sample at each node decides which child survives, so the output is
// plain decoding's (greedy) or has its distribution (sampling).
type Seq struct {
	e     *engine.Engine
	s     *model.State
	d     drafter
	opt   Options
	costs *liveCosts // nil: a fixed budget (opt.Budget)
	smp   *sample.Sampler
	req   engine.Request
	st    Stats

	reused  int     // prompt tokens found in the cache already
	pending []int32 // prompt tokens not yet run
	h       []float32
	b       int32 // the token the next round's tree grows from
	history []int32
	out     []int32
	done    bool

	calib      *calibration // drafter's step probability -> observed acceptance (shared: see calibrationFor)
	calLocal   calCounts    // this reply's own counts of the text's nodes (see calLocal)
	skipUntil  int          // rounds before drafting is tried again, when drafting did not pay
	backoff    int
	spt        [2]float64 // seconds per emitted token in plain [0] and drafting [1] rounds
	nspt       [2]int
	cheapDraft bool // a draft costs under a fifth of a pass (measured)
	widths     *widthHint

	// The round in flight.
	full       *tree // the drafted tree (nil: no draft this round)
	tr         *tree // the tree verified
	draftSec   float64
	roundStart time.Time
	tPrompt    time.Time
	tGen       time.Time

	// OnToken, if set, is called for every emitted token with how it was
	// produced: depth 0 for the target's own token, d for an accepted
	// draft at depth d. Returning false stops the generation.
	OnToken func(id int32, depth int) bool
}

// newSeq starts a generation on s, whose cache may already hold the
// prompt's first s.Cache.Len tokens (a reused prefix; the caller knows the
// cache holds exactly those): only the rest is run. At least the prompt's
// last token is always run, for its logits.
func newSeq(e *engine.Engine, s *model.State, d drafter, costs *liveCosts, cal *calibration, req engine.Request, opt Options) *Seq {
	reuse := min(s.Cache.Len, len(req.Prompt)-1)
	s.Cache.Truncate(reuse)
	q := &Seq{e: e, s: s, d: d, opt: opt, costs: costs, calib: cal, smp: sample.New(req.Sampling), req: req,
		st:      Stats{Stats: engine.Stats{PromptTokens: len(req.Prompt)}, AcceptDepth: make([]int, d.depth())},
		pending: req.Prompt[reuse:], history: append([]int32(nil), req.Prompt...),
		reused: reuse, backoff: 8, widths: newWidthHint(opt.Width), tPrompt: time.Now()}
	q.st.SetCache(s)
	q.st.StopReason = "length"
	if costs != nil && costs.c.idle.Load() > 0 {
		q.skipUntil, q.backoff = 32, 128
	}
	return q
}

// Reused is the number of prompt tokens found in the cache at the start
// (not run again).
func (q *Seq) Reused() int { return q.reused }

// State is the sequence's model state (its KV cache).
func (q *Seq) State() *model.State { return q.s }

// Done reports whether the generation has ended (Stats says why).
func (q *Seq) Done() bool { return q.done }

// Prefilling reports whether the prompt is still being run.
func (q *Seq) Prefilling() bool { return len(q.pending) > 0 }

// Output is what the generation has emitted so far.
func (q *Seq) Output() []int32 { return q.out }

// Stats describe the generation so far.
func (q *Seq) Stats() Stats {
	st := q.st
	st.GenTokens = len(q.out)
	if !q.tGen.IsZero() && !q.done {
		st.GenTime = time.Since(q.tGen)
	}
	return st
}

// Stop ends the generation with reason (a client went away, a server shut
// down).
func (q *Seq) Stop(reason string) {
	if !q.done {
		q.finish(reason)
	}
}

func (q *Seq) finish(reason string) {
	q.done = true
	q.st.StopReason = reason
	q.st.GenTokens = len(q.out)
	if !q.tGen.IsZero() {
		q.st.GenTime = time.Since(q.tGen)
	}
}

// emit appends a token produced at depth (0: the target's own); false
// means the generation has ended.
func (q *Seq) emit(id int32, depth int) bool {
	q.out = append(q.out, id)
	q.history = append(q.history, id)
	if q.OnToken != nil && !q.OnToken(id, depth) || q.req.OnToken != nil && !q.req.OnToken(id) {
		q.finish("callback")
		return false
	}
	if !q.req.IgnoreEOG && q.e.Tok.IsEOG(id) {
		q.finish("eog")
		return false
	}
	if len(q.out) >= q.req.MaxTokens {
		q.finish("length")
		return false
	}
	if q.s.Cache.Cap-q.s.Cache.Len < 1 {
		q.finish("context")
		return false
	}
	return true
}

// Draft grows this round's draft tree, unless measurements say plain
// steps are faster now or there is no room for drafts. It returns the
// draft's path probabilities, highest first (none: a plain step).
func (q *Seq) Draft() []float64 { return q.draftUpTo(0) }

// draftUpTo is Draft with the tree pruned to at most limit nodes (0: as
// the sequence's own budgets suggest): a batch plan's share.
func (q *Seq) draftUpTo(limit int) []float64 {
	q.full, q.draftSec = nil, 0
	if q.done || q.Prefilling() {
		return nil
	}
	q.roundStart = time.Now()
	opt := q.opt
	// Plain probes time plain steps for the seconds-per-token gate, which
	// only judges drafts that cost a good part of a pass.
	probePlain := opt.Budget == 0 && !q.cheapDraft && (q.st.Rounds == 4 || q.st.Rounds == 5 || q.st.Rounds%64 == 63)
	// (Eight drafted rounds at least: the first ones also pay for warming
	// up buffers of tree-sized batches.) Only where a draft costs a good
	// part of a pass: cheap drafts are judged round by round by the budget.
	if opt.Budget == 0 && !q.cheapDraft && q.nspt[0] >= 2 && q.nspt[1] >= 8 && q.spt[1] > q.spt[0] && q.st.Rounds >= q.skipUntil {
		q.skipUntil = q.st.Rounds + q.backoff
		q.backoff = min(2*q.backoff, 256)
		q.spt[1] = q.spt[0] // next probe starts from parity
	}
	if q.st.Rounds < q.skipUntil || q.s.Cache.Cap-q.s.Cache.Len <= 1 || probePlain {
		return nil
	}
	td := time.Now()
	nodes := q.widths.nodes(opt)
	if limit > 0 {
		nodes = min(nodes, limit)
	}
	var cp *coupling
	if !q.req.Sampling.Greedy() && !q.opt.uncoupled {
		cp = &coupling{keys: q.smp.Upcoming(max(q.d.depth(), 1)), p: q.req.Sampling}
	}
	q.full = q.d.draft(q.h, q.b, q.history, nodes, cp)
	q.calib.score(q.full, &q.calLocal)
	q.draftSec = time.Since(td).Seconds()
	q.cheapDraft = q.costs != nil && q.draftSec < 0.2*q.costs.At(1)
	q.st.DraftTime += time.Since(td)
	return q.full.sortedProbs()
}

// noDraft starts a round without a draft (another sequence's turn to
// draft, or the batch does not draft): a plain step.
func (q *Seq) noDraft(start time.Time) {
	q.full, q.draftSec, q.roundStart = nil, 0, start
}

// Budget is the number of draft nodes that maximises this sequence's
// expected tokens per second on its own (chooseBudget), or the fixed
// budget.
func (q *Seq) Budget(probs []float64) int {
	if q.full == nil {
		return 0
	}
	if q.opt.Budget > 0 {
		return q.opt.Budget
	}
	return chooseBudget(q.costs, probs, q.opt.MaxBudget, q.draftSec)
}

// Batch is the batch this round runs: the prompt's next chunk while
// prefilling, else the draft tree pruned to n nodes below its root (the
// root alone is a plain step).
func (q *Seq) Batch(n int) *model.Batch {
	if q.Prefilling() {
		c := q.pending[:min(engine.PromptChunk, len(q.pending))]
		return &model.Batch{Tokens: c, Hidden: len(c) == len(q.pending)}
	}
	q.tr = &tree{nodes: []node{{tok: q.b, parent: -1}}}
	if q.full != nil {
		q.widths.note(n)
		n = min(n, q.s.Cache.Cap-q.s.Cache.Len-1, q.req.MaxTokens-len(q.out))
		q.tr = q.full.prune(n)
		if n == 0 {
			// Drafting did not pay this round. If a draft costs a good
			// part of a pass (small models), try again later, ever more
			// rarely; if it is cheap, the draft was merely unsure here
			// (the text is hard to guess at this point): draft again
			// next round.
			if !q.cheapDraft {
				q.skipUntil = q.st.Rounds + q.backoff
				q.backoff = min(4*q.backoff, 256)
			}
		} else {
			q.backoff = 8
			q.st.DraftRounds++
			q.st.TreeNodes += len(q.tr.nodes) - 1
			for _, nd := range q.tr.nodes[1:] {
				q.st.Expected += math.Exp(nd.logp)
			}
		}
	}
	nn := len(q.tr.nodes)
	if nn == 1 { // no drafts: a plain step (the same computation as a one-node tree)
		return &model.Batch{Tokens: []int32{q.b}, Hidden: true}
	}
	b := &model.Batch{Tokens: make([]int32, nn), Pos: make([]int32, nn), Parent: make([]int32, nn), Logits: allRows(nn), Hidden: true}
	base := int32(0)
	if c := q.s.Cache; c.Len > 0 {
		base = c.Pos[c.Len-1] + 1
	}
	for i, nd := range q.tr.nodes {
		b.Tokens[i], b.Pos[i], b.Parent[i] = nd.tok, base+int32(nd.depth), int32(nd.parent)
	}
	return b
}

// Accept takes the output of the pass that ran Batch's batch, which took
// sec seconds: while prefilling it commits the chunk (and at the prompt's
// end samples the first token); else it emits the longest tree path the
// target agrees with and keeps only that path in the cache.
func (q *Seq) Accept(o *model.Output, sec float64) error {
	m := q.e.Model
	if q.Prefilling() {
		c := min(engine.PromptChunk, len(q.pending))
		q.s.Commit(c)
		q.pending = q.pending[c:]
		if q.Prefilling() {
			return nil
		}
		q.h = append([]float32(nil), o.Hidden[len(o.Hidden)-m.Dim:]...)
		q.st.PromptTime = time.Since(q.tPrompt)
		q.tGen = time.Now()
		if q.req.MaxTokens <= 0 {
			// Nothing to emit (plain decoding samples nothing either):
			// the first token is not even drawn.
			q.finish("length")
			return nil
		}
		q.b = q.smp.Sample(o.Row(0), q.history)
		q.emit(q.b, 0)
		return nil
	}
	q.st.VerifyTime += time.Duration(sec * float64(time.Second))
	q.st.Rounds++
	tr := q.tr
	nn := len(tr.nodes)
	cur := 0
	keep := []int{0}
	going := true
	var y int32
	for going {
		y = q.smp.Sample(o.Row(cur), q.history)
		child := -1
		for i := cur + 1; i < nn; i++ {
			if tr.nodes[i].parent == cur && tr.nodes[i].tok == y {
				child = i
				break
			}
		}
		if child < 0 {
			break
		}
		cur = child
		keep = append(keep, child)
		q.st.Accepted++
		q.st.AcceptDepth[tr.nodes[child].depth-1]++
		going = q.emit(y, tr.nodes[child].depth)
	}
	if nn > 1 {
		kept := make(map[int]bool, len(keep))
		for _, k := range keep {
			kept[k] = true
		}
		for k := 1; k < nn; k++ {
			if nd := tr.nodes[k]; nd.parent == 0 || kept[nd.parent] {
				q.calib.observe(nd.src, nd.depth, nd.step, kept[k], &q.calLocal)
			}
		}
	}
	if keep[len(keep)-1] != len(keep)-1 {
		q.st.Compactions++
	}
	if err := q.s.Cache.Keep(keep); err != nil {
		return err
	}
	copy(q.h, o.Hidden[cur*m.Dim:(cur+1)*m.Dim])
	kind := 0
	if nn > 1 {
		kind = 1
	}
	per := time.Since(q.roundStart).Seconds() / float64(len(keep))
	if q.nspt[kind] == 0 {
		q.spt[kind] = per
	} else {
		q.spt[kind] = 0.8*q.spt[kind] + 0.2*per
	}
	q.nspt[kind]++
	if going {
		q.b = y
		q.emit(y, 0)
	}
	return nil
}
