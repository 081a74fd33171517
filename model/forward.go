package model

import (
	"fmt"

	"s4c/tensor"
)

// Batch is the input of one forward pass: N tokens, each with its own
// position and its own view of the cache and of the batch.
type Batch struct {
	Tokens []int32
	// Pos is each token's position. Nil means consecutive positions after
	// the last committed cache row.
	Pos []int32
	// Parent turns the mask into a tree: token i attends to every committed
	// cache row, to its ancestors in the batch and to itself. Parent[i] is
	// the batch index of i's parent (< i), or -1 for a root. Nil (with Mask
	// nil) means causal: token i attends to the cache and batch tokens 0..i.
	Parent []int32
	// Mask, if set, is the general form: token i attends to key j, where
	// j < cache.Len names a committed cache row and j = cache.Len+k names
	// batch token k. It overrides Parent.
	Mask func(i, j int) bool
	// Logits lists the batch rows whose logits are wanted (in this order).
	// Nil means the last row only.
	Logits []int
	// Hidden asks for the final hidden state (before the output norm) of
	// every batch row, as the draft heads need.
	Hidden bool
}

// Output is the result of a forward pass.
type Output struct {
	Logits []float32 // len(Batch.Logits) × Vocab
	Hidden []float32 // N × Dim, if asked for
	Vocab  int
}

// Row returns the logits of the k-th requested row.
func (o *Output) Row(k int) []float32 { return o.Logits[k*o.Vocab : (k+1)*o.Vocab] }

// State is one sequence being decoded: a model, its KV cache and working
// buffers. It is not safe for concurrent use; make one per sequence.
type State struct {
	M     *Model
	Cache *KVCache
	Pool  *tensor.Pool

	// ReuseOutputs makes a pass's Output (its Logits and Hidden) live in
	// buffers of the state that lends the pass its buffers (ForwardMany's
	// first), which its next pass overwrites, instead of in memory
	// allocated for each pass. Memory the Go heap has never handed out
	// costs a page fault per 4 KiB when the pass first writes it, and
	// until a garbage collection recycles pages every pass's fresh outputs
	// are such memory (before the weights moved off the heap, collections
	// were hundreds of megabytes apart): on these virtual machines that
	// took 0.3 ms of a 1.1B Q4_K step of 12 ms for its 128 KB of logits
	// (the output product 0.88-0.93 ms with fresh logits, 0.57-0.70 with
	// reused ones). Decoding loops, which are done with an Output before
	// the next pass, set it.
	ReuseOutputs bool

	x, xb, q, k, v, att, gate, up []float32
	rope, ropeSWA                 []float32
	logits, hidden                []float32 // ReuseOutputs' buffers
	vis, visW                     []int32   // the visible lists' rows (see visibility, windowed)
}

// NewState makes a decoding state with a cache of capacity tokens
// (0 = the model's context length) running on threads threads (0 = all CPUs).
func (m *Model) NewState(capacity, threads int) *State {
	return &State{M: m, Cache: m.NewKVCache(capacity), Pool: tensor.NewPool(threads)}
}

// UseKVF32 replaces s's empty cache by a float32 one of the same capacity
// and keeps queries and attention weights in float32 too: attention
// without float16 rounding, as an engine run with an F32 KV cache computes
// it.
func (s *State) UseKVF32() error {
	if s.Cache.Len != 0 {
		return fmt.Errorf("UseKVF32: the cache already holds %d tokens", s.Cache.Len)
	}
	if s.Cache.f16Precision() {
		s.Cache = s.M.NewKVCacheF32(s.Cache.Cap)
	}
	return nil
}

// grow returns n values of b (contents undefined), reallocated when it
// holds fewer.
func grow[T float32 | int32](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// prepareHeads readies pass row i's heads of kv head g at layer l for
// attention: biases (qwen2), per-head norms (qwen3, gemma3) and RoPE (angles
// holds each row's) on the group's query heads and on the key head, then the
// key and value rows written to the cache. Every operation is per head, so
// readying a row group by group gives what readying it whole does.
func (s *State) prepareHeads(l, i, g int, angles []float32, parts []part, rowPart []int32) {
	m := s.M
	L := &m.Layers[l]
	hd, kvd, rd := m.HeadDim, m.KVDim(), m.Rope.Dims
	group := m.Heads / m.KVHeads
	qo, ko := i*m.Heads*hd+g*group*hd, i*kvd+g*hd
	q, k, v := s.q[qo:qo+group*hd], s.k[ko:ko+hd], s.v[ko:ko+hd]
	if L.Bq != nil {
		tensor.Add(q, L.Bq[g*group*hd:(g+1)*group*hd])
		tensor.Add(k, L.Bk[g*hd:(g+1)*hd])
		tensor.Add(v, L.Bv[g*hd:(g+1)*hd])
	}
	if L.QNorm != nil { // qwen3, gemma3: each head's q and k normalised
		for h := 0; h < group; h++ {
			tensor.RMSNorm(q[h*hd:(h+1)*hd], q[h*hd:(h+1)*hd], L.QNorm, m.NormEps)
		}
		tensor.RMSNorm(k, k, L.KNorm, m.NormEps)
	}
	cs := angles[i*rd : (i+1)*rd]
	m.Rope.ApplyHeads(q, group, hd, cs)
	m.Rope.ApplyHeads(k, 1, hd, cs)
	pt := &parts[rowPart[i]]
	pt.s.Cache.putHead(l, g, pt.base+i-pt.off, k, v)
}

// ErrContextFull is returned when a batch does not fit in the KV cache.
type ErrContextFull struct{ Have, Want, Cap int }

func (e ErrContextFull) Error() string {
	return fmt.Sprintf("context full: %d tokens in the cache + %d new > capacity %d (shorten the prompt or output, or raise --ctx up to the model's context length)", e.Have, e.Want, e.Cap)
}

// Forward runs the model on a batch. The batch's keys and values are written
// to the cache rows after the committed ones; they become committed only
// through Commit (all of them) or Cache.Keep (a subset).
func (s *State) Forward(b *Batch) (*Output, error) {
	outs, err := ForwardMany([]*State{s}, []*Batch{b})
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// part is one sequence's share of a pass: its state (for its cache), its
// batch, its rows in the pass and the cache rows each of them sees.
type part struct {
	s         *State
	b         *Batch
	off, n    int // rows off..off+n-1 of the pass
	base      int // the cache's committed length when the pass began
	visible   [][]int32
	visibleW  [][]int32 // visible within the sliding window
	logitRows []int
}

// check validates a batch against its state and fills in the part's
// positions and visibility.
func (pt *part) check(m *Model) error {
	s, b := pt.s, pt.b
	c := s.Cache
	n := len(b.Tokens)
	if n == 0 {
		return fmt.Errorf("forward: empty batch")
	}
	if s.M != m {
		return fmt.Errorf("forward: states of different models in one pass")
	}
	if c.Len+n > c.Cap {
		return ErrContextFull{c.Len, n, c.Cap}
	}
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= m.Vocab {
			return fmt.Errorf("forward: token %d at batch row %d is outside the vocabulary (0..%d)", t, i, m.Vocab-1)
		}
	}
	if b.Pos != nil && len(b.Pos) != n || b.Parent != nil && len(b.Parent) != n {
		return fmt.Errorf("forward: batch of %d tokens has %d positions and %d parents", n, len(b.Pos), len(b.Parent))
	}
	pt.logitRows = b.Logits
	if pt.logitRows == nil {
		pt.logitRows = []int{n - 1}
	}
	for _, r := range pt.logitRows {
		if r < 0 || r >= n {
			return fmt.Errorf("forward: logits asked for row %d of a batch of %d", r, n)
		}
	}
	pt.n, pt.base = n, c.Len
	next := int32(0)
	if c.Len > 0 {
		next = c.Pos[c.Len-1] + 1
	}
	for i := 0; i < n; i++ {
		if b.Pos != nil {
			c.Pos[c.Len+i] = b.Pos[i]
		} else {
			c.Pos[c.Len+i] = next + int32(i)
		}
	}
	var err error
	if pt.visible, err = s.visibility(b); err != nil {
		return err
	}
	pt.visibleW = pt.visible
	if m.SlidingWindow > 0 {
		pt.visibleW = s.windowed(pt.visible, n)
	}
	return nil
}

// ForwardMany runs several sequences' batches in one pass, as a server
// batches its users: the matrix products take all their rows at once (the
// weights are read once for all of them), and each row attends to its own
// sequence's cache only. Every row's results are bitwise those of a pass
// of its own sequence alone (batch invariance holds across sequences).
// The states must be distinct and of one model; the first lends its pool
// and working buffers to the pass. Outputs are in the order of the states.
func ForwardMany(states []*State, batches []*Batch) ([]*Output, error) {
	if len(states) == 0 || len(states) != len(batches) {
		return nil, fmt.Errorf("forward: %d states for %d batches", len(states), len(batches))
	}
	s := states[0]
	m := s.M
	parts := make([]part, len(states))
	n := 0
	for j := range states {
		for _, earlier := range states[:j] { // a handful of states: no map
			if earlier == states[j] {
				return nil, fmt.Errorf("forward: one state twice in a pass")
			}
		}
		parts[j] = part{s: states[j], b: batches[j], off: n}
		if err := parts[j].check(m); err != nil {
			if len(states) > 1 {
				return nil, fmt.Errorf("sequence %d: %w", j, err)
			}
			return nil, err
		}
		n += parts[j].n
	}

	dim, kvd, hd := m.Dim, m.KVDim(), m.HeadDim
	qd := m.Heads * hd
	s.x = grow(s.x, n*dim)
	s.xb = grow(s.xb, n*max(dim, qd))
	s.q = grow(s.q, n*qd)
	s.k = grow(s.k, n*kvd)
	s.v = grow(s.v, n*kvd)
	s.att = grow(s.att, n*qd)
	s.gate = grow(s.gate, n*m.FFN)
	s.up = grow(s.up, n*m.FFN)
	rd := m.Rope.Dims
	s.rope = grow(s.rope, n*rd)
	ropeW := s.rope // the windowed layers' angles
	if m.RopeSWA != nil {
		s.ropeSWA = grow(s.ropeSWA, n*rd)
		ropeW = s.ropeSWA
	}
	// rowPart[i] is the part pass row i belongs to.
	rowPart := make([]int32, n)
	for j := range parts {
		pt := &parts[j]
		c := pt.s.Cache
		for k, t := range pt.b.Tokens {
			i := pt.off + k
			rowPart[i] = int32(j)
			m.Embed.RowF32(int(t), s.x[i*dim:(i+1)*dim])
			if m.EmbedScale != 0 {
				tensor.Scale(s.x[i*dim:(i+1)*dim], m.EmbedScale)
			}
			m.Rope.Angles(int(c.Pos[pt.base+k]), s.rope[i*rd:(i+1)*rd])
			if m.RopeSWA != nil {
				m.RopeSWA.Angles(int(c.Pos[pt.base+k]), ropeW[i*rd:(i+1)*rd])
			}
		}
	}
	p := s.Pool
	decoding := true // one token in every part
	for j := range parts {
		decoding = decoding && parts[j].n == 1
	}
	for l := range m.Layers {
		L := &m.Layers[l]
		angles := s.rope
		if L.Windowed {
			angles = ropeW
		}
		p.Run(n, 1, func(lo, hi int, _ *tensor.Scratch) {
			for i := lo; i < hi; i++ {
				tensor.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], L.AttnNorm, m.NormEps)
			}
		})
		xb := s.xb[:n*dim]
		tensor.MulMany(xb, n, p, []*tensor.Mat{L.Wq, L.Wk, L.Wv}, [][]float32{s.q, s.k, s.v})
		// Biases, RoPE and the cache's new rows: in a decoding pass (one
		// token per sequence) each attention work item readies its own
		// heads first, as no token reads another's new row; otherwise
		// all of them before attention starts.
		if !decoding {
			p.Run(n, 1, func(lo, hi int, _ *tensor.Scratch) {
				for i := lo; i < hi; i++ {
					for g := 0; g < m.KVHeads; g++ {
						s.prepareHeads(l, i, g, angles, parts, rowPart)
					}
				}
			})
		}
		s.attention(l, n, parts, rowPart, L.Windowed, angles, decoding)
		L.Wo.Mul(s.xb, s.att[:n*qd], n, p)
		p.Run(n, 1, func(lo, hi int, _ *tensor.Scratch) {
			for i := lo; i < hi; i++ {
				if L.PostAttnNorm != nil {
					tensor.RMSNorm(s.xb[i*dim:(i+1)*dim], s.xb[i*dim:(i+1)*dim], L.PostAttnNorm, m.NormEps)
				}
				tensor.Add(s.x[i*dim:(i+1)*dim], s.xb[i*dim:(i+1)*dim])
				tensor.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], L.FFNNorm, m.NormEps)
			}
		})
		tensor.MulMany(xb, n, p, []*tensor.Mat{L.FFNGate, L.FFNUp}, [][]float32{s.gate, s.up})
		// Element by element, in chunks of 1024 over the threads.
		p.Run((n*m.FFN+1023)/1024, 4, func(lo, hi int, _ *tensor.Scratch) {
			lo, hi = lo*1024, min(hi*1024, n*m.FFN)
			if m.GELU {
				tensor.GeGLU(s.gate[lo:hi], s.up[lo:hi])
			} else {
				tensor.SwiGLU(s.gate[lo:hi], s.up[lo:hi])
			}
		})
		L.FFNDown.Mul(s.xb, s.gate[:n*m.FFN], n, p)
		if L.PostFFNNorm != nil {
			p.Run(n, 1, func(lo, hi int, _ *tensor.Scratch) {
				for i := lo; i < hi; i++ {
					tensor.RMSNorm(s.xb[i*dim:(i+1)*dim], s.xb[i*dim:(i+1)*dim], L.PostFFNNorm, m.NormEps)
				}
			})
		}
		p.Run((n*dim+1023)/1024, 16, func(lo, hi int, _ *tensor.Scratch) {
			lo, hi = lo*1024, min(hi*1024, n*dim)
			tensor.Add(s.x[lo:hi], s.xb[lo:hi])
		})
	}
	// The logits of every part's asked-for rows in one product.
	nr := 0
	for j := range parts {
		nr += len(parts[j].logitRows)
	}
	normed := s.xb[:nr*dim]
	k := 0
	for j := range parts {
		for _, r := range parts[j].logitRows {
			i := parts[j].off + r
			tensor.RMSNorm(normed[k*dim:(k+1)*dim], s.x[i*dim:(i+1)*dim], m.OutNorm, m.NormEps)
			k++
		}
	}
	var logits []float32
	if s.ReuseOutputs {
		s.logits = grow(s.logits, nr*m.Vocab)
		logits = s.logits
	} else {
		logits = make([]float32, nr*m.Vocab)
	}
	m.Output.Mul(logits, normed, nr, p)
	if m.FinalSoftcap > 0 {
		tensor.Softcap(logits, m.FinalSoftcap)
	}
	var hidden []float32 // every part's hidden rows that are asked for
	if s.ReuseOutputs {
		nh := 0
		for j := range parts {
			if parts[j].b.Hidden {
				nh += parts[j].n * dim
			}
		}
		s.hidden = grow(s.hidden, nh)
		hidden = s.hidden[:0]
	}
	outs := make([]*Output, len(parts))
	k = 0
	for j := range parts {
		pt := &parts[j]
		o := &Output{Vocab: m.Vocab}
		nl := len(pt.logitRows)
		o.Logits = logits[k*m.Vocab : (k+nl)*m.Vocab : (k+nl)*m.Vocab]
		k += nl
		if pt.b.Hidden {
			rows := s.x[pt.off*dim : (pt.off+pt.n)*dim]
			if s.ReuseOutputs {
				at := len(hidden)
				hidden = append(hidden, rows...)
				o.Hidden = hidden[at:len(hidden):len(hidden)]
			} else {
				o.Hidden = append([]float32(nil), rows...)
			}
		}
		outs[j] = o
	}
	return outs, nil
}

// visibility lists, for every batch token, the cache rows it attends to (in
// increasing order: committed rows, then batch rows at Len+k). The same
// ordered list, hence the same arithmetic, arises when a token is computed
// alone after its visible batch rows were committed: batch invariance.
//
// The lists of a tree batch are cut from one buffer of the state, s.vis,
// reused pass after pass (they are only read during the pass): a tree of
// 20 rows over 1000 cached tokens lists 80 KB, which fresh memory would
// page-fault in at every pass (see ReuseOutputs).
func (s *State) visibility(b *Batch) ([][]int32, error) {
	c := s.Cache
	n := len(b.Tokens)
	base := c.Len
	vis := make([][]int32, n)
	switch {
	case b.Mask != nil:
		for i := 0; i < n; i++ {
			for j := 0; j < base+n; j++ {
				if b.Mask(i, j) {
					vis[i] = append(vis[i], int32(j))
				}
			}
		}
	case b.Parent != nil:
		// Each row's depth in the tree (its ancestors and itself), checked
		// parents first, then every list cut from s.vis.
		depth := make([]int, n)
		total := 0
		for i := 0; i < n; i++ {
			pi := b.Parent[i]
			if pi >= int32(i) || pi < -1 {
				return nil, fmt.Errorf("forward: tree parent of row %d is %d; want -1 or an earlier row", i, pi)
			}
			depth[i] = 1
			if pi >= 0 {
				depth[i] += depth[pi]
			}
			total += base + depth[i]
		}
		s.vis = grow(s.vis, total)
		buf := s.vis
		for i := 0; i < n; i++ {
			v := buf[: base+depth[i] : base+depth[i]]
			buf = buf[base+depth[i]:]
			for j := range v[:base] {
				v[j] = int32(j)
			}
			// The ancestors, deepest last: filled from the end.
			at := len(v)
			for a := int32(i); a >= 0; a = b.Parent[a] {
				at--
				v[at] = int32(base) + a
			}
			vis[i] = v
		}
	default:
		s.vis = grow(s.vis, base+n)
		all := s.vis
		for j := range all {
			all[j] = int32(j)
		}
		for i := 0; i < n; i++ {
			vis[i] = all[: base+i+1 : base+i+1]
		}
	}
	for i := range vis {
		if len(vis[i]) == 0 {
			return nil, fmt.Errorf("forward: batch row %d attends to nothing", i)
		}
	}
	return vis, nil
}

// windowed is visible restricted to the sliding window: a key is visible
// from a query fewer than SlidingWindow positions back (a mask, as in
// llama.cpp: nothing leaves the cache). A query always sees itself.
// Its lists are cut from s.visW, as visibility's from s.vis.
func (s *State) windowed(visible [][]int32, n int) [][]int32 {
	c, w := s.Cache, int32(s.M.SlidingWindow)
	out := make([][]int32, n)
	total := 0
	for _, v := range visible {
		total += min(len(v), int(w))
	}
	s.visW = grow(s.visW, total)
	buf := s.visW
	for i, v := range visible {
		q := c.Pos[c.Len+i]
		m := min(len(v), int(w))
		kept := buf[:0:m]
		buf = buf[m:]
		for _, j := range v {
			if q-c.Pos[j] < w {
				kept = append(kept, j)
			}
		}
		out[i] = kept
	}
	return out
}

// Commit makes all n rows of the last forward pass part of the sequence.
func (s *State) Commit(n int) { s.Cache.Len += n }
