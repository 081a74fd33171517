package tensor

// Kernels of attention: many small products over the rows of the KV cache,
// done in one call each instead of one call per cache row.

// DotRows sets out[h·ostride+a] = Dot(q_h, k_a) for the nq query vectors
// q_h = q[h·d:(h+1)·d] (d = len(q)/nq) and the n cache rows k_a =
// k[a·stride: a·stride+d]: exactly what Dot returns for each pair, each
// query's scores contiguous.
func DotRows(out []float32, ostride int, q []float32, nq int, k []float32, stride, n int) {
	dotRows(out, ostride, q, nq, k, stride, n, nil)
}

// tileOut is the floats dotRows' tmp holds: what a four-row float kernel
// writes (4 rows × up to 6 queries).
const tileOut = 24

// dotRows is DotRows with tmp (nil, or at least tileOut floats) for the
// kernels' results on rows left after the blocks of 16.
func dotRows(out []float32, ostride int, q []float32, nq int, k []float32, stride, n int, tmp []float32) {
	d := len(q) / nq
	if n == 0 {
		return
	}
	_ = k[(n-1)*stride+d-1]
	_ = out[(nq-1)*ostride+n-1]
	a := dotRowsTiled(out, ostride, q, nq, d, k, stride, n, tmp)
	for ; a < n; a++ {
		row := k[a*stride : a*stride+d]
		for h := 0; h < nq; h++ {
			out[h*ostride+a] = Dot(q[h*d:(h+1)*d], row)
		}
	}
}

// ScaleMax sets x[i] *= s and returns the largest result (NaNs are
// passed over; -Inf for an empty x).
func ScaleMax(x []float32, s float32) float32 {
	mx, i := scaleMaxFast(x, s)
	for ; i < len(x); i++ {
		v := x[i] * s
		x[i] = v
		if v > mx {
			mx = v
		}
	}
	return mx
}

// SumBlocks16 sums x as a 16-lane vector unit does, block by block: each
// block of 16 (the last one padded with zeros) reduced as Reduce16, the
// block sums added in float64 in order.
func SumBlocks16(x []float32) float64 {
	sum, i := sumBlocks16Fast(x)
	for ; i < len(x); i += 16 {
		var lanes [16]float32
		copy(lanes[:], x[i:])
		sum += float64(Reduce16(&lanes))
	}
	return sum
}

// AccumRows16Heads4 is AccumRows16 for four heads that share the value
// rows v: head k's sixteen rows are rows[16·d·k:], its weights
// p[k·pstride:][:n]. Each value row is read once for the four (a
// grouped-query attention's kv head serves several query heads); every
// element gets the same fused multiply-adds in the same order as with
// AccumRows16 per head.
func AccumRows16Heads4(rows []float32, d int, p []float32, pstride int, v []float32, stride, n, a0 int) {
	if n == 0 {
		return
	}
	_ = rows[4*16*d-1]
	_ = v[(n-1)*stride+d-1]
	_ = p[3*pstride+n-1]
	if accumHeads4Fast(rows, d, p, pstride, v, stride, n, a0) {
		return
	}
	for k := 0; k < 4; k++ {
		AccumRows16(rows[k*16*d:(k+1)*16*d], d, p[k*pstride:k*pstride+n], v, stride, n, a0)
	}
}

// AccumRows16 adds p[a]·v_a (v_a = v[a·stride:a·stride+d]) into row
// (a0+a) mod 16 of rows (16 rows of d floats) for a < n in order, one fused
// multiply-add per element: the sixteen lanes over cache positions of a
// vector unit, each lane a row.
func AccumRows16(rows []float32, d int, p, v []float32, stride, n, a0 int) {
	if n == 0 {
		return
	}
	_ = rows[16*d-1]
	_ = v[(n-1)*stride+d-1]
	_ = p[n-1]
	if accumRows16Fast(rows, d, p, v, stride, n, a0) {
		return
	}
	for a := 0; a < n; a++ {
		r := (a0 + a) % 16 * d
		FMARow(rows[r:r+d], p[a], v[a*stride:a*stride+d])
	}
}

// ReduceRows16 sets dst[i] (i < d) to the sum of column i of the 16 rows
// of d floats in rows, in the order Reduce16 sums lanes: row l plus row
// l+8, then l+4, then (0+2)+(1+3). rows is left as it was.
func ReduceRows16(dst, rows []float32, d int) {
	_ = rows[16*d-1]
	dst = dst[:d]
	if reduceRows16Fast(dst, rows, d) {
		return
	}
	var lanes [16]float32
	for i := range dst {
		for l := range lanes {
			lanes[l] = rows[l*d+i]
		}
		dst[i] = Reduce16(&lanes)
	}
}

// The same kernels on a float16 KV cache's rows (k, v: float16 bits).
// Every float16 is a float32 exactly, so each gives bitwise what its
// float32 twin gives on the widened rows: the vector forms widen as they
// load, the portable ones widen a row at a time.

// DotRowsF16Buf is the length of the buffer DotRowsF16 widens rows of d
// values into: 16 KiB of rows (at least a block of 16) and what its
// kernels write for the last few rows.
func DotRowsF16Buf(d int) int { return max(4096, 16*d) + tileOut }

// DotRowsF16 is DotRows on float16 rows.
//
// Given a buffer buf of at least 16 rows of d floats and tileOut more, and
// several queries (a grouped-query kv head's), it widens each chunk of rows
// once into buf and runs DotRows' kernels over it, instead of every query
// widening every row again: 256 rows of 64 for 8 queries, in cache, 1.8 µs
// against 2.8. The results are the same bit for bit (widening is exact).
func DotRowsF16(out []float32, ostride int, q []float32, nq int, k []uint16, stride, n int, buf []float32) {
	d := len(q) / nq
	if n == 0 {
		return
	}
	_ = k[(n-1)*stride+d-1]
	_ = out[(nq-1)*ostride+n-1]
	if chunk := (len(buf) - tileOut) / d / 16 * 16; nq > 1 && chunk > 0 {
		tmp := buf[len(buf)-tileOut:]
		for a := 0; a < n; a += chunk {
			m := min(chunk, n-a)
			F16ToF32Rows(buf, k[a*stride:], stride, d, m)
			dotRows(out[a:], ostride, q, nq, buf[:m*d], d, m, tmp)
		}
		return
	}
	a := dotRowsF16Tiled(out, ostride, q, nq, d, k, stride, n)
	if a == n {
		return
	}
	var rowBuf [256]float32
	row := rowBuf[:min(d, 256)]
	if d > 256 {
		row = make([]float32, d)
	}
	for ; a < n; a++ {
		F16ToF32Rows(row, k[a*stride:], stride, d, 1)
		for h := 0; h < nq; h++ {
			out[h*ostride+a] = Dot(q[h*d:(h+1)*d], row)
		}
	}
}

// AccumRows16F16 is AccumRows16 on float16 value rows.
func AccumRows16F16(rows []float32, d int, p []float32, v []uint16, stride, n, a0 int) {
	if n == 0 {
		return
	}
	_ = rows[16*d-1]
	_ = v[(n-1)*stride+d-1]
	_ = p[n-1]
	if accumRows16F16Fast(rows, d, p, v, stride, n, a0) {
		return
	}
	var buf [256]float32
	row := buf[:min(d, 256)]
	if d > 256 {
		row = make([]float32, d)
	}
	for a := 0; a < n; a++ {
		F16ToF32Rows(row, v[a*stride:], stride, d, 1)
		r := (a0 + a) % 16 * d
		FMARow(rows[r:r+d], p[a], row)
	}
}

// AccumRows16Heads4F16 is AccumRows16Heads4 on float16 value rows.
func AccumRows16Heads4F16(rows []float32, d int, p []float32, pstride int, v []uint16, stride, n, a0 int) {
	if n == 0 {
		return
	}
	_ = rows[4*16*d-1]
	_ = v[(n-1)*stride+d-1]
	_ = p[3*pstride+n-1]
	if accumHeads4F16Fast(rows, d, p, pstride, v, stride, n, a0) {
		return
	}
	for k := 0; k < 4; k++ {
		AccumRows16F16(rows[k*16*d:(k+1)*16*d], d, p[k*pstride:k*pstride+n], v, stride, n, a0)
	}
}
