package model

import (
	"fmt"
	"unsafe"

	"s4c/tensor"
)

// KVCache holds the keys and values of every token seen so far, per layer
// and kv head, as rows of HeadDim values. Row r of every layer and head
// belongs to the same token, whose position is Pos[r]; keys are stored
// already rotated (RoPE).
//
// A layer's rows are stored head by head (head g's Cap rows, then head
// g+1's), not token by token: attention reads one kv head's rows at a
// time, and those now lie one after the other in memory instead of a
// head's slice of every token's KVDim-wide row (each decoding step's
// weights evict the cache, so these reads come from memory). 1.1B Q4_K
// decoding, both layouts alternated in one process: the step's median
// 18.10 / 16.86 ms against 19.28 / 17.88 at 1900 cached tokens, 18.45
// against 19.29 at 1000, the same at 256.
//
// Rows are stored as float16 by default, as llama.cpp's default cache
// does: half the memory of float32 (a Llama-3-8B shape, 32 layers × 8 kv
// heads × 128, at 8192 tokens: 1.07 GB instead of 2.15 GB), and the
// attention kernels read half the bytes. A float32 cache
// (NewKVCacheF32, State.UseKVF32) keeps keys and values unrounded.
//
// A forward pass appends its batch after the committed rows; Keep then
// commits a chosen subset of those rows (tree verification keeps only the
// accepted path) and Truncate rewinds.
type KVCache struct {
	k, v     [][]float32 // per layer, KVHeads × Cap × HeadDim (float32 cache)
	k16, v16 [][]uint16  // per layer, the same as float16 bits (default)
	Pos      []int32     // position of each row
	Len      int         // committed rows
	Cap      int
	heads    int // kv heads
	hd       int // values per head
	kvDim    int // heads × hd
	// roundF16 makes a float32 cache hold float16-rounded rows: the
	// cache before float16 storage, kept for tests that hold the float16
	// cache to its results bit for bit.
	roundF16 bool
}

// NewKVCache allocates a float16 cache for up to capacity tokens (0 or
// more than the model's context: the context length).
func (m *Model) NewKVCache(capacity int) *KVCache {
	c := m.newKVCache(capacity)
	c.k16, c.v16 = layerRows[uint16](c, m.NLayers, c.Cap*c.kvDim), layerRows[uint16](c, m.NLayers, c.Cap*c.kvDim)
	return c
}

// NewKVCacheF32 allocates a float32 cache for up to capacity tokens.
func (m *Model) NewKVCacheF32(capacity int) *KVCache {
	c := m.newKVCache(capacity)
	c.k, c.v = layerRows[float32](c, m.NLayers, c.Cap*c.kvDim), layerRows[float32](c, m.NLayers, c.Cap*c.kvDim)
	return c
}

// layerRows is a zeroed slice of n values for each of layers layers, in
// memory of c's own outside the Go heap (tensor.OffHeap): a cache of
// thousands of tokens on the heap set the collector's pace as the weights
// did (garbage let grow to its size between collections).
func layerRows[T uint16 | float32](c *KVCache, layers, n int) [][]T {
	var z T
	b := tensor.OffHeap(c, layers*n*int(unsafe.Sizeof(z)))
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), layers*n)
	rows := make([][]T, layers)
	for l := range rows {
		rows[l] = all[l*n : (l+1)*n : (l+1)*n]
	}
	return rows
}

// moveRow copies row src of every layer and head over row dst.
func moveRow[T uint16 | float32](c *KVCache, rows [][]T, dst, src int) {
	for _, r := range rows {
		for g := 0; g < c.heads; g++ {
			copy(r[c.at(g, dst):c.at(g, dst)+c.hd], r[c.at(g, src):c.at(g, src)+c.hd])
		}
	}
}

// at is the offset of row r of kv head g in a layer's keys or values.
func (c *KVCache) at(g, r int) int { return (g*c.Cap + r) * c.hd }

// headRows16 returns layer l's keys and values of kv head g from row r on,
// row after row of HeadDim values (float16 bits): nil for a float32
// cache.
func (c *KVCache) headRows16(l, g, r int) (k, v []uint16) {
	if c.k16 == nil {
		return nil, nil
	}
	o := c.at(g, r)
	return c.k16[l][o:], c.v16[l][o:]
}

// headRows32 is headRows16 for a float32 cache.
func (c *KVCache) headRows32(l, g, r int) (k, v []float32) {
	if c.k == nil {
		return nil, nil
	}
	o := c.at(g, r)
	return c.k[l][o:], c.v[l][o:]
}

func (m *Model) newKVCache(capacity int) *KVCache {
	if capacity <= 0 || capacity > m.CtxLen {
		capacity = m.CtxLen
	}
	return &KVCache{Cap: capacity, heads: m.KVHeads, hd: m.HeadDim, kvDim: m.KVDim(), Pos: make([]int32, capacity)}
}

// KVCacheBytes is the memory a float16 cache of capacity tokens takes.
func (m *Model) KVCacheBytes(capacity int) int64 {
	return int64(capacity) * int64(m.KVDim()) * int64(m.NLayers) * 2 * 2
}

// F16 reports whether rows are stored as float16.
func (c *KVCache) F16() bool { return c.k16 != nil }

// f16Precision reports whether attention works at float16 precision with
// this cache (queries and weights rounded as its rows are): with float16
// rows, or float32 rows rounded to float16 (roundF16).
func (c *KVCache) f16Precision() bool { return c.F16() || c.roundF16 }

// Bytes is the memory the cache's rows take.
func (c *KVCache) Bytes() int64 {
	per := int64(4)
	if c.F16() {
		per = 2
	}
	return int64(c.Cap) * int64(c.kvDim) * int64(max(len(c.k), len(c.k16))) * 2 * per
}

// putHead stores kv head g's key and value (one head's values each) at
// layer l, row r, rounded to float16 (nearest, ties to even) in a float16
// cache. The forward pass writes each row head by head (prepareHeads).
func (c *KVCache) putHead(l, g, r int, k, v []float32) {
	o := c.at(g, r)
	if c.F16() {
		tensor.F32ToF16Row(c.k16[l][o:o+c.hd], k)
		tensor.F32ToF16Row(c.v16[l][o:o+c.hd], v)
		return
	}
	copy(c.k[l][o:o+c.hd], k)
	copy(c.v[l][o:o+c.hd], v)
	if c.roundF16 {
		tensor.ScaleRoundF16(c.k[l][o:o+c.hd], 1)
		tensor.ScaleRoundF16(c.v[l][o:o+c.hd], 1)
	}
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
			moveRow(c, c.k16, dst, src)
			moveRow(c, c.v16, dst, src)
			moveRow(c, c.k, dst, src)
			moveRow(c, c.v, dst, src)
			c.Pos[dst] = c.Pos[src]
		}
		dst++
	}
	c.Len = dst
	return nil
}
