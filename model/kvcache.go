package model

import "fmt"

// KVCache holds the keys and values of every token seen so far, per layer,
// as rows of KVDim floats. Row r of every layer belongs to the same token,
// whose position is Pos[r]; keys are stored already rotated (RoPE).
//
// A forward pass appends its batch after the committed rows; Keep then
// commits a chosen subset of those rows (tree verification keeps only the
// accepted path) and Truncate rewinds.
type KVCache struct {
	K, V  [][]float32 // per layer, Cap × KVDim
	Pos   []int32     // position of each row
	Len   int         // committed rows
	Cap   int
	kvDim int
}

// NewKVCache allocates a cache for up to capacity tokens.
func (m *Model) NewKVCache(capacity int) *KVCache {
	if capacity <= 0 || capacity > m.CtxLen {
		capacity = m.CtxLen
	}
	c := &KVCache{Cap: capacity, kvDim: m.KVDim(), Pos: make([]int32, capacity)}
	c.K = make([][]float32, m.NLayers)
	c.V = make([][]float32, m.NLayers)
	for l := range c.K {
		c.K[l] = make([]float32, capacity*c.kvDim)
		c.V[l] = make([]float32, capacity*c.kvDim)
	}
	return c
}

// KVCacheBytes is the memory a cache of capacity tokens takes.
func (m *Model) KVCacheBytes(capacity int) int64 {
	return int64(capacity) * int64(m.KVDim()) * int64(m.NLayers) * 2 * 4
}

// Row returns layer l's key and value row r.
func (c *KVCache) Row(l, r int) (k, v []float32) {
	o := r * c.kvDim
	return c.K[l][o : o+c.kvDim], c.V[l][o : o+c.kvDim]
}

// Truncate drops every committed row from n on.
func (c *KVCache) Truncate(n int) {
	if n < 0 {
		n = 0
	}
	if n < c.Len {
		c.Len = n
	}
}

// Keep commits rows of the last forward pass: rows[i] is an index into that
// pass's batch (0..N-1), in increasing order. The kept rows are moved to
// follow the committed rows directly; the rest are discarded. Nothing is
// recomputed.
func (c *KVCache) Keep(rows []int) error {
	dst := c.Len
	prev := -1
	for _, r := range rows {
		if r <= prev {
			return fmt.Errorf("kvcache: Keep rows must be increasing, got %v", rows)
		}
		prev = r
		src := c.Len + r
		if src >= c.Cap {
			return fmt.Errorf("kvcache: row %d is beyond the cache", r)
		}
		if src != dst {
			for l := range c.K {
				copy(c.K[l][dst*c.kvDim:(dst+1)*c.kvDim], c.K[l][src*c.kvDim:(src+1)*c.kvDim])
				copy(c.V[l][dst*c.kvDim:(dst+1)*c.kvDim], c.V[l][src*c.kvDim:(src+1)*c.kvDim])
			}
			c.Pos[dst] = c.Pos[src]
		}
		dst++
	}
	c.Len = dst
	return nil
}
