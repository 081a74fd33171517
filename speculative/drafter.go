package speculative

import (
	"math"
	"sort"

	"s4c/heads"
	"s4c/model"
	"s4c/tensor"
)

// A drafter proposes the candidate continuations a round verifies: a tree
// rooted at the token the target has just chosen. The decoding loop
// (generate) is the same for every drafter: size the tree from the
// measured costs, verify it in one pass, accept the longest path the
// target agrees with, compact the cache.
type drafter interface {
	// depth is the deepest draft the drafter proposes.
	depth() int
	// cost is the seconds one draft takes (for the gate that falls back
	// to plain decoding where drafting cannot pay).
	cost() float64
	// draft grows the tree after b, the last token of history, from the
	// target's hidden state h at the token before b; nodes bounds the
	// draft nodes worth growing. cp, in a sampled round, has the numbers
	// the target will draw with (nil: greedy).
	draft(h []float32, b int32, history []int32, nodes int, cp *coupling) *tree
}

// headsDrafter drafts with heads: S^4C's coherent heads growing the
// dynamic tree (s4c), the same heads along a static shape (s4c-static), or
// independent heads (medusa).
type headsDrafter struct {
	m     *model.Model
	hd    *heads.Heads
	opt   Options
	shape *shape // s4c-static's tree; nil: the dynamic tree
	p     *tensor.Pool
	ws    workspace
}

func (d *headsDrafter) options(nodes int) draftOptions {
	o := draftOptions{TopK: d.opt.TopK, Width: d.opt.Width, Nodes: nodes, Heads: d.opt.Heads, Shape: d.shape}
	if d.shape != nil {
		o.TopK = max(o.TopK, d.shape.maxRank()+1)
	}
	return o
}

func (d *headsDrafter) depth() int { return d.options(0).depth(d.hd) }

func (d *headsDrafter) cost() float64 { return draftCost(d) }

func (d *headsDrafter) draft(h []float32, b int32, _ []int32, nodes int, cp *coupling) *tree {
	o := d.options(nodes)
	o.Coupling = cp
	return d.grow(h, b, o)
}

func (d *headsDrafter) grow(h []float32, b int32, o draftOptions) *tree {
	if d.hd.Independent {
		return growIndependent(d.m, d.hd, h, b, o, d.p, &d.ws)
	}
	return grow(d.m, d.hd, h, b, o, d.p, &d.ws)
}

// unionDrafter merges the heads' tree and the n-gram lookup's into one:
// continuations found in the text become extra branches where they
// disagree with the heads, and raise the heads' nodes they agree with, so
// one pass verifies both (repetitive text gains what the heads miss).
type unionDrafter struct {
	heads *headsDrafter
	ngram *ngramDrafter
}

func (d *unionDrafter) depth() int { return max(d.heads.depth(), d.ngram.depth()) }

func (d *unionDrafter) cost() float64 { return d.heads.cost() }

func (d *unionDrafter) draft(h []float32, b int32, history []int32, nodes int, cp *coupling) *tree {
	return mergeTrees(d.heads.draft(h, b, history, nodes, cp), d.ngram.draft(h, b, history, nodes, cp))
}

// mergeTrees is the union of two trees with the same root (a the
// model's, b the text's), ordered depth by depth, as prune requires.
// Every node keeps the step probability its own drafter gave it (its
// path probability over its parent's there), for calibration.score: a
// node in both trees is of source srcBoth, with a's step. Taking the
// higher path probability instead, as this did first, raised a node the
// lookup agreed with to the lookup's confidence and so made the heads'
// children under it look unlikely (their path probability over the
// raised parent's), exactly where text repeats and both drafters agree.
func mergeTrees(a, b *tree) *tree {
	for _, t := range []*tree{a, b} {
		for i := 1; i < len(t.nodes); i++ {
			nd := &t.nodes[i]
			nd.step = math.Exp(min(nd.logp-t.nodes[nd.parent].logp, 0))
		}
	}
	type tn struct {
		nd       node
		children map[int32]int
	}
	all := []tn{{nd: a.nodes[0], children: map[int32]int{}}}
	all[0].nd.state = nil
	add := func(t *tree) {
		at := make([]int, len(t.nodes)) // t's node -> merged node
		for i := 1; i < len(t.nodes); i++ {
			nd := t.nodes[i]
			par := at[nd.parent]
			if j, ok := all[par].children[nd.tok]; ok {
				all[j].nd.logp = max(all[j].nd.logp, nd.logp)
				if all[j].nd.src != nd.src {
					all[j].nd.src = srcBoth
				}
				at[i] = j
				continue
			}
			nd.state = nil
			all = append(all, tn{nd: nd, children: map[int32]int{}})
			at[i] = len(all) - 1
			all[par].children[nd.tok] = at[i]
			all[at[i]].nd.parent = par
		}
	}
	add(a)
	add(b)
	out := &tree{nodes: []node{all[0].nd}}
	remap := make([]int, len(all))
	queue := []int{0}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		if i > 0 {
			nd := all[i].nd
			nd.parent = remap[nd.parent]
			nd.logp = min(nd.logp, out.nodes[nd.parent].logp)
			out.nodes = append(out.nodes, nd)
			remap[i] = len(out.nodes) - 1
		}
		// Children in the order they were added (heads' first), for a
		// deterministic tree.
		kids := make([]int, 0, len(all[i].children))
		for _, j := range all[i].children {
			kids = append(kids, j)
		}
		sort.Ints(kids)
		queue = append(queue, kids...)
	}
	return out
}
