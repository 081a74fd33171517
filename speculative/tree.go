package speculative

import (
	"math"
	"sort"

	"s4c/heads"
	"s4c/model"
	"s4c/tensor"
)

// node is one token of the draft tree. The root is the token the target
// already chose (not a guess); every other node is a draft.
type node struct {
	tok    int32
	parent int       // index in tree.nodes, -1 for the root
	depth  int       // root 0
	logp   float64   // log of the draft probability of the path root→node
	rank   int       // the token's rank among its parent's proposed children (0: most probable)
	step   float64   // the drafter's probability of the token given the parent (set by mergeTrees or calibration.score)
	src    uint8     // who proposed it: srcModel (heads, draft model), srcText (n-gram lookup), srcBoth
	state  []float32 // the head state it was grown with (the drafter's arena: read only while the tree grows)
}

// tree is a draft tree grown by the heads.
type tree struct {
	nodes []node
}

// draftOptions shape the tree.
type draftOptions struct {
	TopK  int // children considered per expanded node
	Width int // nodes kept per depth (and expanded further)
	// Nodes, if > 0, is the most draft nodes the tree will be pruned to:
	// depth d then keeps at most Nodes-d+1 nodes (none past depth Nodes,
	// whose head steps are skipped). (The n most probable
	// nodes hold all ancestors of each, so at most n-d+1 of them are at
	// depth d, and those are the n-d+1 most probable of their depth.)
	Nodes int
	// Heads, if > 0, uses only the first Heads heads (the head-count
	// ablation): the tree is at most that deep.
	Heads int
	// Shape, if set, fixes the tree (s4c-static): depth d keeps the
	// children its shape lists by rank, whatever their probabilities.
	Shape *shape
	// Coupling, in a sampled round, ranks children by their chance of
	// being the target's draw with the numbers it will draw with.
	Coupling *coupling
}

// depth is the deepest draft a tree grown by hd with these options holds.
func (o draftOptions) depth(hd *heads.Heads) int {
	k := hd.K
	if o.Heads > 0 {
		k = min(k, o.Heads)
	}
	if o.Shape != nil {
		k = min(k, o.Shape.depth())
	}
	return k
}

// topK is how many of a node's most probable tokens are considered: more
// than the TopK children kept when a coupled draw ranks them (a token the
// drafter thinks less likely may be where the target's number lands).
func (o draftOptions) topK() int {
	if o.Coupling != nil {
		return max(o.TopK, 16)
	}
	return o.TopK
}

// width is how many nodes depth d keeps.
func (o draftOptions) width(d int) int {
	if o.Nodes > 0 {
		return min(o.Width, max(0, o.Nodes-d+1))
	}
	return o.Width
}

// grow drafts a tree from the target's hidden state h at the last accepted
// token and its chosen next token b. Depth d tokens come from head d-1; at
// each depth the Width most probable paths (by cumulative draft probability)
// are kept and expanded by the next head, so each draft extends a coherent
// phrase instead of guessing positions independently.
func grow(m *model.Model, hd *heads.Heads, h []float32, b int32, opt draftOptions, p *tensor.Pool, ws *workspace) *tree {
	t := &tree{nodes: []node{{tok: b, parent: -1}}}
	ws.arena = ws.arena[:0]
	root := ws.take(m.Dim)
	hd.Step(m, 0, h, []int32{b}, root, p)
	t.nodes[0].state = root
	frontier := []int{0}
	K := opt.depth(hd)
	for d := 1; d <= K && len(frontier) > 0 && opt.width(d) > 0; d++ {
		n := len(frontier)
		states := ws.floats(&ws.states, n*m.Dim)
		for i, f := range frontier {
			copy(states[i*m.Dim:], t.nodes[f].state)
		}
		V := hd.Vocab(m)
		logits := ws.floats(&ws.logits, n*V)
		hd.Logits(m, states, n, logits, p)
		next := t.expand(hd, frontier, d, opt, logits, V)
		if d < K && opt.width(d+1) > 0 {
			in := ws.floats(&ws.states, len(next)*m.Dim)
			toks := make([]int32, len(next))
			for i, id := range next {
				copy(in[i*m.Dim:], t.nodes[t.nodes[id].parent].state)
				toks[i] = t.nodes[id].tok
			}
			out := ws.take(len(next) * m.Dim)
			hd.Step(m, d, in, toks, out, p)
			for i, id := range next {
				t.nodes[id].state = out[i*m.Dim : (i+1)*m.Dim]
			}
		}
		frontier = next
	}
	return t
}

// choose keeps depth d's nodes among the candidates (every child proposed
// for each frontier node): the dynamic tree keeps the width(d) most
// probable paths, a static tree the children its shape lists.
func (o draftOptions) choose(d int, cands []node) []node {
	if o.Shape != nil {
		return o.Shape.pick(d, cands)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].logp > cands[j].logp })
	return cands[:min(len(cands), o.width(d))]
}

// growIndependent drafts a tree with independent (Medusa-style) heads:
// head d-1 guesses depth d from the target's state h alone, so the K
// heads and their LM-head rows run once per round, and every node of a
// depth is offered the same children. The tree keeps, depth by depth, the
// most probable paths under that independence, as grow does.
func growIndependent(m *model.Model, hd *heads.Heads, h []float32, b int32, opt draftOptions, p *tensor.Pool, ws *workspace) *tree {
	t := &tree{nodes: []node{{tok: b, parent: -1}}}
	K := 0
	for d := 1; d <= opt.depth(hd) && opt.width(d) > 0; d++ {
		K = d
	}
	if K == 0 {
		return t
	}
	states := ws.floats(&ws.states, K*m.Dim)
	for k := 0; k < K; k++ {
		hd.Step(m, k, h, []int32{b}, states[k*m.Dim:(k+1)*m.Dim], p)
	}
	V := hd.Vocab(m)
	logits := ws.floats(&ws.logits, K*V)
	hd.Logits(m, states, K, logits, p)
	frontier := []int{0}
	for d := 1; d <= K && len(frontier) > 0; d++ {
		frontier = t.expand(hd, frontier, d, opt, logits[(d-1)*V:d*V], V)
	}
	return t
}

// expand adds depth d to t: the TopK most probable children of each
// frontier node, of which opt keeps those of depth d (choose). rows holds
// the frontier nodes' next-token logits one after another, or a single
// row offered to all of them (independent heads). It returns the new
// nodes' indices, the next frontier.
func (t *tree) expand(hd *heads.Heads, frontier []int, d int, opt draftOptions, rows []float32, V int) []int {
	shared := len(rows) == V
	var cands []node
	var top []idLogp
	for i, f := range frontier {
		if !shared || i == 0 { // a shared row's children are ranked once
			row := rows
			if !shared {
				row = rows[i*V : (i+1)*V]
			}
			top = topKLogProbs(row, opt.topK())
			if opt.Coupling != nil {
				top = opt.Coupling.rerank(top, d, func(i int32) int32 { return hd.Token(int(i)) })
				top = top[:min(len(top), opt.TopK)]
			}
		}
		for r, c := range top {
			cands = append(cands, node{tok: hd.Token(int(c.id)), parent: f, depth: d, logp: t.nodes[f].logp + c.logp, rank: r})
		}
	}
	cands = opt.choose(d, cands)
	next := make([]int, 0, len(cands))
	for _, c := range cands {
		t.nodes = append(t.nodes, c)
		next = append(next, len(t.nodes)-1)
	}
	return next
}

type idLogp struct {
	id   int32
	logp float64
}

// topKLogProbs returns the k most likely tokens of softmax(logits) with
// their log-probabilities, most likely first.
func topKLogProbs(logits []float32, k int) []idLogp {
	lse := tensor.LogSumExp(logits)
	top := make([]idLogp, 0, k+1)
	for i, v := range logits {
		lp := float64(v) - lse
		if len(top) == k && lp <= top[k-1].logp {
			continue
		}
		j := len(top)
		if j < k {
			top = append(top, idLogp{})
		} else {
			j = k - 1
		}
		for j > 0 && top[j-1].logp < lp {
			top[j] = top[j-1]
			j--
		}
		top[j] = idLogp{int32(i), lp}
	}
	return top
}

// prune keeps the root and the n draft nodes of highest path probability.
// A child is never more probable than its parent, so the kept set is closed
// under ancestors (ties go to the shallower, earlier node). The result is
// ordered by depth, so every parent precedes its children.
func (t *tree) prune(n int) *tree {
	idx := make([]int, 0, len(t.nodes)-1)
	for i := 1; i < len(t.nodes); i++ {
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return t.nodes[idx[a]].logp > t.nodes[idx[b]].logp })
	if n < len(idx) {
		idx = idx[:n]
	}
	keep := map[int]bool{0: true}
	for _, i := range idx {
		keep[i] = true
	}
	remap := map[int]int{}
	out := &tree{}
	// nodes were appended depth by depth, so index order is depth order.
	for i, nd := range t.nodes {
		if !keep[i] || (nd.parent >= 0 && !keep[nd.parent]) {
			continue
		}
		remap[i] = len(out.nodes)
		nd.state = nil
		if nd.parent >= 0 {
			nd.parent = remap[nd.parent]
		}
		out.nodes = append(out.nodes, nd)
	}
	return out
}

// sortedProbs are the path scores of the draft nodes (after
// calibration.score, their chances of acceptance), highest first: prefix
// sums estimate the expected accepted length of a budget.
func (t *tree) sortedProbs() []float64 {
	p := make([]float64, 0, len(t.nodes)-1)
	for _, nd := range t.nodes[1:] {
		p = append(p, math.Exp(nd.logp))
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(p)))
	return p
}

// workspace is a drafter's memory, reused from round to round: fresh
// buffers of tens of kilobytes per call cost page faults and zeroing
// each time (on the 1.1B twin they made a head's LM-head call of 8 rows
// take 340 µs instead of 75, and with the nodes' states BenchmarkGrow took
// 4.1-4.3 ms a tree instead of 2.2-2.9, 421 KB allocated instead of 61).
type workspace struct {
	states, logits []float32
	arena          []float32 // the nodes' states of the tree being grown (take)
}

// take is n floats of the arena, valid until the next tree is grown (the
// nodes' states are only read while growing: prune drops them).
func (w *workspace) take(n int) []float32 {
	if len(w.arena)+n > cap(w.arena) {
		w.arena = make([]float32, 0, max(2*cap(w.arena), n, 1<<14))
	}
	s := w.arena[len(w.arena) : len(w.arena)+n : len(w.arena)+n]
	w.arena = w.arena[:len(w.arena)+n]
	return s
}

func (w *workspace) floats(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return *b
}
