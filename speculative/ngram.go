package speculative

import "math"

// ngramDrafter drafts without any model: the text so far is searched for
// earlier occurrences of its last few tokens, and what followed them there
// is proposed as what follows now (prompt lookup decoding, as llama.cpp's
// lookup decoding and PLD do). Several occurrences give several candidate
// continuations, merged into one tree, so one verification pass checks
// them all. It pays where text repeats: summaries, code edits, answers
// quoting their context. Nothing is trained and nothing is needed beside
// the model: this is what a model without heads gets.
type ngramDrafter struct {
	minN     int // shortest suffix matched (tokens)
	maxN     int // longest suffix matched (tokens)
	maxLen   int // deepest draft
	branches int // most continuations merged
	window   int // how far back the search looks (tokens)
}

func newNgramDrafter() *ngramDrafter {
	return &ngramDrafter{minN: 1, maxN: 4, maxLen: 8, branches: 4, window: 8192}
}

func (d *ngramDrafter) depth() int { return d.maxLen }

// cost is negligible next to a forward pass (a scan of the recent text).
func (d *ngramDrafter) cost() float64 { return 0 }

// draft collects up to branches continuations: for suffix lengths maxN
// down to 1, the latest earlier occurrences first. A node's draft
// probability is the share of the collected continuations through it,
// times a prior that falls with the matched length (the calibration of
// the decoding loop then maps these to the acceptance observed); nodes
// are ordered depth by depth, as prune requires.
func (d *ngramDrafter) draft(_ []float32, b int32, history []int32, nodes int, _ *coupling) *tree {
	t := &tree{nodes: []node{{tok: b, parent: -1}}}
	L := len(history)
	if L < 2 || nodes < 1 {
		return t
	}
	type cont struct {
		toks []int32
		n    int // matched suffix length
	}
	var conts []cont
	seen := map[int]bool{} // continuation start positions taken
	lo := max(0, L-d.window)
	for n := min(d.maxN, L-1); n >= max(d.minN, 1) && len(conts) < d.branches; n-- {
		suffix := history[L-n:]
		for i := L - n - 1; i >= lo && len(conts) < d.branches; i-- {
			if history[i] != suffix[0] || seen[i+n] {
				continue
			}
			match := true
			for k := 1; k < n; k++ {
				if history[i+k] != suffix[k] {
					match = false
					break
				}
			}
			if !match {
				continue
			}
			end := min(i+n+d.maxLen, L)
			if i+n >= end {
				continue
			}
			seen[i+n] = true
			conts = append(conts, cont{history[i+n : end], n})
		}
	}
	if len(conts) == 0 {
		return t
	}
	// A trie of the continuations, then its nodes breadth first.
	type tnode struct {
		tok      int32
		parent   int
		depth    int
		count    float64
		prior    float64
		children []int
	}
	trie := []tnode{{tok: b, parent: -1}}
	for _, c := range conts {
		prior := 0.4 + 0.15*float64(min(c.n, 4)-1) // 0.4 for 1 token matched .. 0.85 for 4
		cur := 0
		for _, tok := range c.toks {
			next := -1
			for _, ch := range trie[cur].children {
				if trie[ch].tok == tok {
					next = ch
					break
				}
			}
			if next < 0 {
				trie = append(trie, tnode{tok: tok, parent: cur, depth: trie[cur].depth + 1})
				next = len(trie) - 1
				trie[cur].children = append(trie[cur].children, next)
			}
			trie[next].count++
			trie[next].prior = max(trie[next].prior, prior)
			cur = next
		}
	}
	trie[0].count = float64(len(conts))
	remap := make([]int, len(trie))
	queue := []int{0}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		if i > 0 {
			tn := trie[i]
			par := remap[tn.parent]
			share := tn.count / trie[tn.parent].count
			t.nodes = append(t.nodes, node{tok: tn.tok, parent: par, depth: tn.depth,
				logp: t.nodes[par].logp + math.Log(share*tn.prior), src: srcText})
			remap[i] = len(t.nodes) - 1
		}
		queue = append(queue, trie[i].children...)
	}
	return t
}
