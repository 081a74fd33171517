package spec

import (
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
	cost(p *tensor.Pool) float64
	// draft grows the tree after b, the last token of history, from the
	// target's hidden state h at the token before b; nodes bounds the
	// draft nodes worth growing.
	draft(h []float32, b int32, history []int32, nodes int) *tree
}

// headsDrafter drafts with S^4C's coherent heads.
type headsDrafter struct {
	m   *model.Model
	hd  *heads.Heads
	opt Options
	p   *tensor.Pool
	ws  workspace
}

func (d *headsDrafter) depth() int { return d.hd.K }

func (d *headsDrafter) cost(p *tensor.Pool) float64 { return draftCost(d.m, d.hd, d.opt, p) }

func (d *headsDrafter) draft(h []float32, b int32, _ []int32, nodes int) *tree {
	return grow(d.m, d.hd, h, b, draftOptions{TopK: d.opt.TopK, Width: d.opt.Width, Nodes: nodes}, d.p, &d.ws)
}
