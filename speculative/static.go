package speculative

import (
	"container/heap"
	"fmt"
)

// shape is a static draft tree (the s4c-static ablation, Medusa's way of
// building trees): node i (0 is the root, the target's token) is the
// rank[i]-th most probable child its head proposes for node parent[i],
// whatever the probabilities of this round. Nodes are listed depth by
// depth, so a tree grown along a shape has the shape's indices.
type shape struct {
	parent, rank, dep []int
	value             []float64 // estimated probability that node i is accepted
	index             map[[2]int]int
	sig               string // the parents and ranks: equal shapes draft at equal cost
}

// depth is the deepest node of the shape.
func (s *shape) depth() int { return s.dep[len(s.dep)-1] }

// size is the number of draft nodes (without the root).
func (s *shape) size() int { return len(s.parent) - 1 }

func (s *shape) maxRank() int {
	r := 0
	for _, x := range s.rank {
		r = max(r, x)
	}
	return r
}

// pick keeps, among depth d's candidates, the ones the shape lists, in the
// shape's order (so that tree indices stay the shape's).
func (s *shape) pick(d int, cands []node) []node {
	found := make(map[int]node, len(cands))
	for _, c := range cands {
		if i, ok := s.index[[2]int{c.parent, c.rank}]; ok && s.dep[i] == d {
			found[i] = c
		}
	}
	var out []node
	for i := 1; i < len(s.parent); i++ {
		if s.dep[i] == d {
			if c, ok := found[i]; ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// buildShape is Medusa's greedy static tree: with acc[d-1][r] the measured
// probability that the rank-r child at depth d is the target's token (given
// its parent was), a node's value is the product of acc along its path (the
// chance it is accepted, if depths were independent), and the n nodes of
// highest value are taken one by one, each child of a node already taken.
// The expected accepted length of the tree is the sum of the values.
func buildShape(acc [][]float64, n int) *shape {
	type cand struct {
		parent, rank, depth int
		value               float64
	}
	h := &candHeap{}
	picked := []cand{{parent: -1}}
	push := func(parent int) {
		d := picked[parent].depth + 1
		if d > len(acc) {
			return
		}
		for r, a := range acc[d-1] {
			if a > 0 {
				v := a
				if parent > 0 {
					v *= picked[parent].value
				}
				heap.Push(h, candItem{value: v, parent: parent, rank: r})
			}
		}
	}
	picked[0].value = 1
	push(0)
	for len(picked) <= n && h.Len() > 0 {
		c := heap.Pop(h).(candItem)
		picked = append(picked, cand{parent: c.parent, rank: c.rank, depth: picked[c.parent].depth + 1, value: c.value})
		push(len(picked) - 1)
	}
	// Re-list depth by depth (a stable order within a depth: by value).
	order := make([]int, 0, len(picked))
	for d := 0; len(order) < len(picked); d++ {
		for i, c := range picked {
			if c.depth == d {
				order = append(order, i)
			}
		}
	}
	at := make([]int, len(picked))
	s := &shape{index: map[[2]int]int{}}
	for j, i := range order {
		at[i] = j
		c := picked[i]
		par := -1
		if i > 0 {
			par = at[c.parent]
		}
		s.parent = append(s.parent, par)
		s.rank = append(s.rank, c.rank)
		s.dep = append(s.dep, c.depth)
		s.value = append(s.value, c.value)
		if i > 0 {
			s.index[[2]int{par, c.rank}] = j
		}
	}
	s.sig = fmt.Sprint(s.parent, s.rank)
	return s
}

type candItem struct {
	value        float64
	parent, rank int
}

type candHeap []candItem

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].value != h[j].value {
		return h[i].value > h[j].value
	}
	if h[i].parent != h[j].parent {
		return h[i].parent < h[j].parent
	}
	return h[i].rank < h[j].rank
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(candItem)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
