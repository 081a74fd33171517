package tensor

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"unsafe"

	"s4c/gguf"
)

// Integer kernels for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K
// weights on int8-quantized activations.
//
// Why a repacked layout: with GGUF's layout a 512-bit register holds 64
// consecutive values, i.e. two blocks, so every vpdpbusd (64 products) has
// to be followed by a conversion to float and a multiply-add with the two
// blocks' scales: the float work costs three times the integer work. At
// load, each row is repacked into groups of 16 blocks (512 values) in which
// lane j (4 bytes) of every 64-byte vector belongs to block j: one vpdpbusd
// adds 4 products into each of 16 blocks' own int32 lanes, a block's whole
// dot product is finished after 8 of them (Q8_0), and only then is it
// converted, scaled by d_w·d_x and accumulated: one float step per 8
// integer steps. Nothing is approximated: the integer sums are exact and
// the float steps are fixed per lane, so the portable packedDot gives the
// assembly's result bit for bit, and batch invariance holds.
//
// Packed row (groups G = ceil(blocks/16); missing blocks of the last group
// are zero): G quant groups, then the groups' scales (packedMetaBytes),
// padded to 64 bytes.
//
//	Q8_0 group (512 B): byte 64s + 4j + i = q_j[4s+i] + 128   (s < 8, j < 16, i < 4)
//	Q4_0 group (256 B): byte 64p + 4j + i = q_j[8p+i] | q_j[8p+4+i]<<4   (p < 4)
//	Q4_K group (256 B): as Q4_0, q_j the 4-bit values of sub-block j
//	Q6_K group (384 B): the low nibbles as Q4_0's, then two 64-byte planes of the high 2 bits (see planeBits)
//	Q5_K group (320 B): the low nibbles as Q4_0's, then a 64-byte plane of the fifth bits
//	Q2_K group (128 B): a plane of 2-bit values; Q3_K (192 B): 2-bit and 1-bit planes (see planeBits)
//	IQ4_NL and IQ4_XS groups (256 B): as Q4_0, q_j the 4-bit grid indices
//	Q4_1 group: as Q4_0; Q5_0 and Q5_1 groups: a byte per value, q_j the 5-bit values of block 16g+j
//
// where q_j is block 16g+j (Q4_0: value q-8; Q4_K: sub-block j of 32,
// value d·sc_j·q - dmin·m_j, and so for Q5_K; Q6_K: value d·sc·(q-32) with
// a scale per 16).
// The activation record of a group (768 B) holds the int8 values in the
// Q8_0 order (x_j[4s+i] at 64s+4j+i), 16 float32 block scales d_x, 16
// int32 corrections -128·Σx_j that remove the +128 of Q8_0 weights
// exactly, 16 int32 -128·Σ over each block's first 16 values, and 16
// float32 d_x·(-Σx_j) for the offset types. The other types shift the
// corrections exactly: Q4_0 -8·Σx_j (>>4), Q2_K -Σ per half (>>7) for its
// offsets, Q6_K -32·Σ per half (>>2).

const (
	pkBlocks    = 16  // blocks per group
	pkRecBytes  = 768 // activation record per group
	pkRecScales = 512 // offset of d_x in a record
	pkRecCorr   = 576 // offset of the corrections -128·Σx
	pkRecHalf   = 640 // offset of -128·Σ over the first 16 values (Q6_K)
	pkRecCX     = 704 // offset of d_x·(-Σx) (Q4_K, Q5_K, Q4_1, Q5_1)
)

// pkFunc multiplies rows packed rows by T activation vectors, R rows at a
// time (see asmgen), writing token t's results at out + t·ostride bytes.
type pkFunc func(w *byte, wstride int, x *byte, xstride int, groups int, out *float32, rows int, ostride int)

// pkAccFunc is pkFunc for the AVX-512 kernels, which take a row's groups
// from w on (scales at w + scales bytes) and, by mode, start their 16-lane
// accumulators from acc and store them back there instead of finishing
// (see asmgen; the modes accIn and accFinish are generated beside the
// kernels).
type pkAccFunc func(w *byte, wstride int, x *byte, xstride int, groups int, out *float32, rows int, ostride int, acc *float32, mode int, scales int)

// packedQuantBytes is the size of one group's quants: a byte per value,
// nibbles (Q4_0, Q4_1, Q4_K; IQ4_NL and IQ4_XS, whose 4-bit indices the
// kernels look up in the grid with vpshufb and multiply as Q8_0's), or
// two planes (see planeBits).
func packedQuantBytes(t gguf.TensorType) int {
	switch t {
	case gguf.Q8_0, gguf.Q5_0, gguf.Q5_1:
		return 512 // a byte per value
	}
	if lo, hi := planeBits(t); lo > 0 {
		return 64 * (lo + hi)
	}
	return 256 // nibbles
}

// planeBits is how the plane types split each value: its low lo bits in a
// first plane, its hi bits above them in a second. Q6_K 4+2, Q5_K 4+1,
// Q3_K 2+1 (its values q+4, 0..7), Q2_K 2+0; others 0, 0.
//
// Why planes: with a byte per value a packed Q6_K row was 1.5 times the
// file's (Q2_K three times) and decoding read that much more. As planes a
// group of 512 values takes 64·(lo+hi) bytes, near the file's size with
// scales; the kernels join a step's bits into bytes (three to five
// instructions per 64 values, while memory is the limit).
//
//	low plane, 4 bits: as Q4_0's nibbles
//	low plane, 2 bits: byte 64u + 4j + i, bits 2k..2k+1 = q_j[4(4u+k)+i] & 3
//	high plane, 2 bits (Q6_K): byte 256 + 64u + 4j + i, bits 2k..2k+1 = q_j[4(4u+k)+i] >> 4
//	high plane, 1 bit (Q5_K, Q3_K): byte 64·lo + 4j + i, bit s = q_j[4s+i] >> lo
func planeBits(t gguf.TensorType) (lo, hi int) {
	switch t {
	case gguf.Q6_K:
		return 4, 2
	case gguf.Q5_K:
		return 4, 1
	case gguf.Q3_K:
		return 2, 1
	case gguf.Q2_K:
		return 2, 0
	}
	return 0, 0
}

// packedMetaBytes is the size of one group's scales: 16 float16 d_w for
// Q8_0, Q4_0, Q5_0 and IQ4_NL; for Q4_1 and Q5_1 16 float32 block scales
// then 16 float32 offsets (-m).
//
// The K types (and IQ4_XS) keep their scales as the file does, small
// integers per sub-block and a float per super-block: Q4_K its 6-bit sc_j
// and m_j and float16 d and dmin of the group's two super-blocks (lanes
// 0-7, 8-15), in 32 bytes like the file's (kMetaBytes, putKMeta). The
// kernels form d·sc_j and dmin·m_j themselves; both are exact in float32
// (an 11-bit mantissa times a 6-bit integer), so the sums are the same as
// with precomputed float32 scales, at 32 bytes per 512 values instead of
// 128. Q5_K, Q6_K, Q3_K, Q2_K and IQ4_XS keep int8 scales and float32 d
// (k8MetaBytes, q6KMetaBytes, q2KMetaBytes, iq4XSMetaBytes), which cost
// their kernels less: their rows are larger than the file's by 5 %
// (Q5_K), 1 % (Q6_K), 3 % (IQ4_XS), 5 % (Q3_K) and 25 % (Q2_K). (Q5_K on
// Q4_K's layout decoded 11 % faster but 8-token batches 4 % and prompts
// 10 % slower: Q4_1's kernels, which take Q4_K's prompts, do not fit its
// bit planes.)
func packedMetaBytes(t gguf.TensorType) int {
	switch t {
	case gguf.Q4_K:
		return kMetaBytes
	case gguf.Q5_K:
		return k8MetaBytes
	case gguf.IQ4_XS:
		return iq4XSMetaBytes
	case gguf.Q2_K:
		return q2KMetaBytes
	case gguf.Q6_K, gguf.Q3_K:
		return q6KMetaBytes
	case gguf.Q4_1, gguf.Q5_1:
		return 128
	}
	return 32
}

// kMetaBytes is a group's compact Q4_K metadata (see putKMeta).
const kMetaBytes = 32

// k8MetaBytes is a group's Q5_K metadata: 16 int8 sc_j, 16 int8 m_j, then
// d and dmin of the group's two super-blocks (lanes 0-7, 8-15) as float32
// (see putK8Meta).
const k8MetaBytes = 48

// iq4XSMetaBytes is a group's IQ4_XS metadata: 16 int8 block scales
// ls-32, then d of the two super-blocks as float32.
const iq4XSMetaBytes = 24

// q6KMetaBytes is a group's Q6_K (and Q3_K) metadata: the int8 scales of
// every block's first halves (16 values), then of its second halves, then
// d of the two super-blocks as float32; the kernels form d·sc, exact in
// float32.
const q6KMetaBytes = 40

// q2KMetaBytes is a group's Q2_K metadata: Q2_K has a 4-bit scale and min
// per half block (16 values), so the int8 scales of every block's first
// halves, then of its second halves, the same for the mins, then d and
// dmin of the two super-blocks as float32 (the kernels' halves each take
// their own scale and offset, as Q6_K's take scales).
const q2KMetaBytes = 80

// packed is a matrix's repacked rows.
type packed struct {
	data   []byte
	stride int // bytes per row
	groups int
	meta   int // scale bytes per group (packedMetaBytes, or k8MetaBytes for Q4_K on AVX2)
}

// packRows repacks m (any type useInt accepts) into the group layout, rows
// spread over the machine's cores.
func packRows(m *Mat) *packed {
	nb := m.Cols / 32
	G := (nb + pkBlocks - 1) / pkBlocks
	qb := packedQuantBytes(m.Type)
	mb := packedMetaBytes(m.Type)
	if m.Type == gguf.Q4_K && intLevel == "avx2" {
		// Q4_K's compact scales cost the AVX2 kernels more than their
		// bytes save: t(1), t(4), t(8) 2-4 % and prompts 4 % slower
		// (1.1B, alternated with the int8 layout). They keep Q5_K's.
		mb = k8MetaBytes
	}
	meta := G * mb
	stride := G*qb + (meta+63)/64*64
	p := &packed{stride: stride, groups: G, meta: mb}
	p.data = WeightBytes(p, stride*m.Rows)
	populate(p.data, true)
	populate(m.Data, false)
	NewPool(0).Run(m.Rows, 64, func(lo, hi int, _ *Scratch) {
		for r := lo; r < hi; r++ {
			packRow(m.Type, mb, m.Row(r), p.data[r*stride:(r+1)*stride], nb, G)
		}
	})
	return p
}

// packRow writes one row's groups and scales.
func packRow(t gguf.TensorType, mb int, src, dst []byte, nb, G int) {
	le := binary.LittleEndian
	qb := packedQuantBytes(t)
	meta := dst[G*qb:]
	if t == gguf.Q8_0 {
		// Zero quants (+128) in the last group's missing blocks.
		for b := nb; b < G*pkBlocks; b++ {
			q := dst[(b/pkBlocks)*qb+4*(b%pkBlocks):]
			for s := 0; s < 8; s++ {
				le.PutUint32(q[64*s:], 0x80808080)
			}
		}
	}
	var sbVals [256]byte // Q6_K, Q3_K: the current super-block's values
	for b := 0; b < nb; b++ {
		g, j := b/pkBlocks, b%pkBlocks
		q := dst[g*qb+4*j:]
		var elems func(i int) uint32 // nibbles i..i+3 of block b, one per byte
		switch t {
		case gguf.Q8_0:
			blk := src[34*b : 34*b+34]
			copy(meta[2*b:], blk[:2])
			for s := 0; s < 8; s++ {
				le.PutUint32(q[64*s:], le.Uint32(blk[2+4*s:])^0x80808080)
			}
			continue
		case gguf.Q4_0, gguf.IQ4_NL:
			// Byte i of the block holds elements i (low) and i+16 (high):
			// Q4_0's values, IQ4_NL's grid indices; d as is.
			blk := src[18*b : 18*b+18]
			copy(meta[2*b:], blk[:2])
			elems = legacyNibbles(blk[2:])
		case gguf.Q3_K:
			// Value v = q - (4 if its hmask bit is clear), stored as v+4
			// in 2-bit and 1-bit planes, with the scales sc-32 of its two
			// halves and d (Q6_K's metadata).
			sb := src[110*(b/8) : 110*(b/8)+110]
			v0 := 32 * (b % 8)
			sc := q3KScales(sb[96:108])
			putQ6KMeta(meta[q6KMetaBytes*g:], j, int8(sc[v0/16]-32), int8(sc[v0/16+1]-32), F16ToF32(le.Uint16(sb[108:])))
			if b%8 == 0 {
				for v := range sbVals {
					sbVals[v] = byte(q3KValue(sb, v) + 4)
				}
			}
			putPlaneQuants(q, 2, 1, sbVals[v0:v0+32])
			continue
		case gguf.IQ4_XS:
			// IQ4_NL's nibble indices; scale ls-32 and the super-block's d.
			sb := src[136*(b/8) : 136*(b/8)+136]
			ib := b % 8
			mt := meta[iq4XSMetaBytes*g:]
			mt[j] = byte(int8(iq4XSScaleInt(sb, ib)))
			le.PutUint32(mt[16+4*(j/8):], math.Float32bits(F16ToF32(le.Uint16(sb))))
			elems = legacyNibbles(sb[8+16*ib:])
		case gguf.Q2_K:
			// 2-bit values 0..3 in a plane: element e of block b is value
			// 32·(b%8)+e of its super-block, with the scale and min of
			// its half (16 values).
			sb := src[84*(b/8) : 84*(b/8)+84]
			v0 := 32 * (b % 8)
			mt := meta[q2KMetaBytes*g:]
			for h := 0; h < 2; h++ {
				sc := sb[(v0+16*h)/16]
				mt[16*h+j], mt[32+16*h+j] = sc&0xf, sc>>4
			}
			le.PutUint32(mt[64+4*(j/8):], math.Float32bits(F16ToF32(le.Uint16(sb[80:]))))
			le.PutUint32(mt[72+4*(j/8):], math.Float32bits(F16ToF32(le.Uint16(sb[82:]))))
			var vals [32]byte
			for e := range vals {
				vals[e] = q2KValue(sb, v0+e)
			}
			putPlaneQuants(q, 2, 0, vals[:])
			continue
		case gguf.Q6_K:
			// 6-bit values 0..63 (value d·sc·(q-32)) in nibble and 2-bit
			// planes.
			sb := src[210*(b/8) : 210*(b/8)+210]
			v0 := 32 * (b % 8)
			putQ6KMeta(meta[q6KMetaBytes*g:], j, int8(sb[192+v0/16]), int8(sb[192+v0/16+1]), F16ToF32(le.Uint16(sb[208:])))
			if b%8 == 0 {
				q6KValues(sb, &sbVals)
			}
			putPlaneQuants(q, 4, 2, sbVals[v0:v0+32])
			continue
		case gguf.Q4_1:
			// Q4_0's nibbles; value d·q + m as Q4_K's d·q - (-m).
			blk := src[20*b : 20*b+20]
			putMeta(meta[128*g:], j, F16ToF32(le.Uint16(blk)), -F16ToF32(le.Uint16(blk[2:])))
			elems = legacyNibbles(blk[4:])
		case gguf.Q5_0, gguf.Q5_1:
			// 5-bit values 0..31, a byte each: Q5_0 d·(q-16) with Q8_0's
			// float16 scale, Q5_1 d·q + m with Q4_K's scale and offset.
			size, qsOff := 22, 6
			if t == gguf.Q5_1 {
				size, qsOff = 24, 8
			}
			blk := src[size*b : size*b+size]
			qh := le.Uint32(blk[qsOff-4:])
			if t == gguf.Q5_0 {
				copy(meta[2*b:], blk[:2])
			} else {
				putMeta(meta[128*g:], j, F16ToF32(le.Uint16(blk)), -F16ToF32(le.Uint16(blk[2:])))
			}
			putByteQuants(q, func(e int) byte {
				return blk[qsOff+e%16]>>(4*(e/16))&0xf | byte(qh>>e&1)<<4
			})
			continue
		case gguf.Q5_K:
			// As Q4_K, plus bit k of qh[l] as the fifth bit: values
			// 0..31, as nibble and 1-bit planes.
			sb, k := putKSubBlock(t, mb, meta[mb*g:], j, src, b)
			qh, qs := sb[16:48], sb[48+32*(k/2):]
			var vals [32]byte
			for l := 0; l < 32; l += 4 {
				le.PutUint32(vals[l:], le.Uint32(qs[l:])>>(4*uint(k%2))&0x0f0f0f0f|(le.Uint32(qh[l:])>>uint(k)&0x01010101)<<4)
			}
			putPlaneQuants(q, 4, 1, vals[:])
			continue
		case gguf.Q4_K:
			// Sub-block k of a super-block: the low (k even) or high
			// nibbles of qs[32·(k/2) : 32·(k/2)+32].
			sb, k := putKSubBlock(t, mb, meta[mb*g:], j, src, b)
			qs := sb[16+32*(k/2):]
			shift := 4 * uint(k%2)
			elems = func(i int) uint32 { return le.Uint32(qs[i:]) >> shift & 0x0f0f0f0f }
		}
		for p4 := 0; p4 < 4; p4++ {
			le.PutUint32(q[64*p4:], elems(8*p4)|elems(8*p4+4)<<4)
		}
	}
}

// putByteQuants writes a block's 32 values v(0..31), a byte each, into
// its lane of a byte-quant group (q: the group from the block's lane on).
func putByteQuants(q []byte, v func(e int) byte) {
	for s := 0; s < 8; s++ {
		var word uint32
		for i := 0; i < 4; i++ {
			word |= uint32(v(4*s+i)) << (8 * i)
		}
		binary.LittleEndian.PutUint32(q[64*s:], word)
	}
}

// putPlaneQuants writes a block's 32 values v[0..31] (below 1<<(lo+hb))
// into its lane of a plane group (q: the group from the block's lane on),
// as planeBits describes.
func putPlaneQuants(q []byte, lo, hb int, v []byte) {
	le := binary.LittleEndian
	var low, hi [4]uint32 // the lane's word in each vector of the planes
	lowMask := uint32(0x0f0f0f0f)
	if lo == 2 {
		lowMask = 0x03030303
	}
	hiMask := uint32(0x01010101)
	if hb == 2 {
		hiMask = 0x03030303
	}
	for s := 0; s < 8; s++ {
		w := le.Uint32(v[4*s:]) // step s: values 4s..4s+3, a byte each
		if lo == 4 {
			low[s/2] |= (w & lowMask) << (4 * uint(s%2))
		} else {
			low[s/4] |= (w & lowMask) << (2 * uint(s%4))
		}
		h := w >> uint(lo) & hiMask
		if hb == 1 {
			hi[0] |= h << uint(s)
		} else if hb == 2 {
			hi[s/4] |= h << (2 * uint(s%4))
		}
	}
	for u := 0; u < lo; u++ {
		le.PutUint32(q[64*u:], low[u])
	}
	for u := 0; u < hb; u++ {
		le.PutUint32(q[64*(lo+u):], hi[u])
	}
}

// putQ6KMeta writes block j's half scales and its super-block's d into a
// group's Q6_K metadata.
func putQ6KMeta(meta []byte, j int, sc0, sc1 int8, d float32) {
	meta[j], meta[16+j] = byte(sc0), byte(sc1)
	binary.LittleEndian.PutUint32(meta[32+4*(j/8):], math.Float32bits(d))
}

// putMeta writes block j's float32 scale and offset into a group's
// scale-and-offset metadata (Q4_1, Q5_1).
func putMeta(meta []byte, j int, scale, offset float32) {
	binary.LittleEndian.PutUint32(meta[4*j:], math.Float32bits(scale))
	binary.LittleEndian.PutUint32(meta[64+4*j:], math.Float32bits(offset))
}

// putKSubBlock writes the 6-bit scale and min of sub-block b (of 32
// values) of a row of Q4_K or Q5_K super-blocks and its super-block's d and
// dmin as block j's metadata, and returns its super-block and its index in
// it.
func putKSubBlock(t gguf.TensorType, mb int, meta []byte, j int, src []byte, b int) (sb []byte, k int) {
	size := t.TypeSize()
	sb, k = src[size*(b/8):size*(b/8)+size], b%8
	sc, mn := scaleMinK4(k, sb[4:16])
	d, dmin := binary.LittleEndian.Uint16(sb), binary.LittleEndian.Uint16(sb[2:])
	if mb == k8MetaBytes {
		putK8Meta(meta, j, int(sc), int(mn), F16ToF32(d), F16ToF32(dmin))
	} else {
		putKMeta(meta, j, int(sc), int(mn), d, dmin)
	}
	return sb, k
}

// putK8Meta writes block j's scale and offset and its super-block's d and
// dmin into a group's Q5_K metadata (k8MetaBytes).
func putK8Meta(meta []byte, j, sc, m int, d, dmin float32) {
	meta[j], meta[16+j] = byte(int8(sc)), byte(int8(m))
	binary.LittleEndian.PutUint32(meta[32+4*(j/8):], math.Float32bits(d))
	binary.LittleEndian.PutUint32(meta[40+4*(j/8):], math.Float32bits(dmin))
}

// k8Meta is block j's scale d·sc and offset dmin·m from a group's Q5_K
// metadata, as kMeta.
func k8Meta(meta []byte, j int) (scale, offset float32) {
	le := binary.LittleEndian
	d := math.Float32frombits(le.Uint32(meta[32+4*(j/8):]))
	dmin := math.Float32frombits(le.Uint32(meta[40+4*(j/8):]))
	return d * float32(int8(meta[j])), dmin * float32(int8(meta[16+j]))
}

// putKMeta writes block j's 6-bit scale and offset (0..63) and its
// super-block's d and dmin (lanes 0-7 share one super-block, 8-15 the
// next) into a group's compact metadata (kMetaBytes): the block's value
// is d·sc·q - dmin·m.
//
//	byte j (j < 16):   sc_j | (m_j >> 4) << 6
//	uint64 at 16:      m_j & 15 at bit 32·(j mod 2) + 4·(j/2)
//	bytes 24-31:       float16 d of the two super-blocks, then dmin of both
//
// 32 bytes per 512 values, as the file's 12 bytes of scales and 4 of d
// and dmin per super-block: a packed Q4_K row of 2048 columns is the
// file's size (it was 6 % larger with int8 scales and float32 d), and
// decoding reads no byte the file does not have. The kernels widen the
// bytes to lanes, and shift the word of low offset bits right by 4·(j/2)
// in each 64-bit lane, which brings lanes j and j+1 theirs at once (see
// asmgen's kScales6).
func putKMeta(meta []byte, j, sc, m int, d, dmin uint16) {
	le := binary.LittleEndian
	meta[j] = byte(sc&0x3f | (m>>4&3)<<6)
	w := le.Uint64(meta[16:])
	bit := 32*(j%2) + 4*(j/2)
	le.PutUint64(meta[16:], w&^(0xf<<bit)|uint64(m&0xf)<<bit)
	le.PutUint16(meta[24+2*(j/8):], d)
	le.PutUint16(meta[28+2*(j/8):], dmin)
}

// kMeta is block j's scale d·sc and offset dmin·m from a group's compact
// metadata: the kernels' arithmetic, exact in float32.
func kMeta(meta []byte, j int) (scale, offset float32) {
	le := binary.LittleEndian
	sc := int(meta[j] & 0x3f)
	m := int(le.Uint64(meta[16:])>>(32*(j%2)+4*(j/2))&0xf) | int(meta[j]>>6)<<4
	d, dmin := F16ToF32(le.Uint16(meta[24+2*(j/8):])), F16ToF32(le.Uint16(meta[28+2*(j/8):]))
	return d * float32(sc), dmin * float32(m)
}

// legacyNibbles reads the 16 quant bytes of a Q4_0/Q4_1 block (byte i:
// element i low, i+16 high): elements i..i+3, one per byte.
func legacyNibbles(qs []byte) func(i int) uint32 {
	le := binary.LittleEndian
	return func(i int) uint32 {
		if i < 16 {
			return le.Uint32(qs[i:]) & 0x0f0f0f0f
		}
		return le.Uint32(qs[i-16:]) >> 4 & 0x0f0f0f0f
	}
}

// q2KValue is value v (0..255) of a Q2_K super-block, 0..3: 2 bits of
// qs[32·(v/128) + v%32] at shift 2·((v%128)/32).
func q2KValue(sb []byte, v int) byte {
	return sb[16+32*(v/128)+v%32] >> (2 * uint(v%128/32)) & 3
}

// q6KValues writes the 256 values of a Q6_K super-block as stored (0..63)
// to out, a 128-value half at a time: value 128h + 32·quarter + l is the
// low or high nibble of ql[64h + l + 32·(quarter%2)] (quarters 0, 1 low;
// 2, 3 high) with bits 2·quarter of qh[32h + l] above it.
func q6KValues(sb []byte, out *[256]byte) {
	for h := 0; h < 2; h++ {
		ql, qh, o := sb[64*h:64*h+64], sb[128+32*h:128+32*h+32], out[128*h:128*h+128]
		for l := 0; l < 32; l++ {
			o[l] = ql[l]&0xf | (qh[l]&3)<<4
			o[l+32] = ql[l+32]&0xf | (qh[l]>>2&3)<<4
			o[l+64] = ql[l]>>4 | (qh[l]>>4&3)<<4
			o[l+96] = ql[l+32]>>4 | (qh[l]>>6)<<4
		}
	}
}

// alignedBytes returns n zeroed bytes starting on a 64-byte boundary, so
// that the kernels' 64-byte loads never straddle cache lines.
func alignedBytes(n int) []byte {
	b := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[off : off+n : off+n]
}

// OwnData copies m's data into memory outside the Go heap, backed by huge
// pages where the system allows (see WeightBytes), which is released once
// m is unreachable: m.Data must not be kept past m. The
// float kernels read weights in place; read through a file mapping's 4 KiB
// page-cache pages they stream far below the machine's bandwidth on a
// virtual machine (1.1B F16 twin, 50 GB/s measured, plain decoding
// alternated: 10-13 tok/s from the mapping, 21-22 tok/s from a copy; right
// after the file was written, 1.6-2.7 vs 17).
func (m *Mat) OwnData() {
	c := WeightBytes(m, len(m.Data))
	copy(c, m.Data)
	m.Data = c
}

// offHeapFreed counts the off-heap buffers given back (for tests).
var offHeapFreed atomic.Int64

// pkActs holds n quantized activation vectors of groups records each.
type pkActs struct {
	buf    []byte
	groups int
}

// quantizeActs fills a with the n vectors of x (n × cols): per block of 32,
// scale d = max|x|/127 and values round(x/d), ties to even. Tokens are
// spread over the pool's threads.
func quantizeActs(a *pkActs, x []float32, n, cols int, p *Pool) {
	nb := cols / 32
	a.groups = (nb + pkBlocks - 1) / pkBlocks
	need := n * a.groups * pkRecBytes
	if cap(a.buf) < need {
		a.buf = alignedBytes(need)
	}
	a.buf = a.buf[:need]
	p.Run(n, 1, func(lo, hi int, _ *Scratch) {
		for t := lo; t < hi; t++ {
			recs := a.buf[t*a.groups*pkRecBytes : (t+1)*a.groups*pkRecBytes]
			clear(recs)
			xv := x[t*cols : (t+1)*cols]
			for g := 0; g < a.groups; g++ {
				rec := recs[g*pkRecBytes:][:pkRecBytes]
				quantizeGroup(rec, xv[32*pkBlocks*g:], min(pkBlocks, nb-pkBlocks*g))
				offsetTerms(rec)
			}
		}
	})
}

// offsetTerms writes a record's d_x·(-Σx) per block, the factor of the
// offset types' second term (dmin·m_j times it): made once per token here
// rather than in every row's kernel (1.1B Q4_K decoding: a load, a shift,
// a conversion and a multiply fewer per group of every row).
func offsetTerms(rec []byte) {
	le := binary.LittleEndian
	for j := 0; j < pkBlocks; j++ {
		sum := int32(le.Uint32(rec[pkRecCorr+4*j:])) >> 7 // -Σx
		dx := math.Float32frombits(le.Uint32(rec[pkRecScales+4*j:]))
		le.PutUint32(rec[pkRecCX+4*j:], math.Float32bits(float32(sum)*dx))
	}
}

// quantizeGroupGo quantizes the n blocks of x (n <= 16) into one record:
// the portable twin of the amd64 quantBlocksAVX512.
func quantizeGroupGo(rec []byte, x []float32, n int) {
	for j := 0; j < n; j++ {
		quantizeBlock(rec, j, x[32*j:32*j+32])
	}
}

// quantizeBlock writes block j of a group's record.
func quantizeBlock(rec []byte, j int, blk []float32) {
	amax := float32(0)
	for _, v := range blk {
		if v < 0 {
			v = -v
		}
		if v > amax {
			amax = v
		}
	}
	d := amax / 127
	inv := float32(0)
	if d != 0 {
		inv = 1 / d
	}
	// Adding and subtracting 1.5·2²³ rounds a float32 of magnitude below
	// 2²² to an integer, ties to even: math.RoundToEven without float64.
	const magic = 12582912
	sum, half := int32(0), int32(0)
	for s := 0; s < 8; s++ {
		if s == 4 {
			half = sum
		}
		var word uint32
		for i, v := range blk[4*s : 4*s+4] {
			q := int32(float32(v*inv)+magic) - magic
			word |= uint32(uint8(int8(q))) << (8 * i)
			sum += q
		}
		binary.LittleEndian.PutUint32(rec[64*s+4*j:], word)
	}
	binary.LittleEndian.PutUint32(rec[pkRecScales+4*j:], math.Float32bits(d))
	binary.LittleEndian.PutUint32(rec[pkRecCorr+4*j:], uint32(-128*sum))
	binary.LittleEndian.PutUint32(rec[pkRecHalf+4*j:], uint32(-128*half))
}

// packedDot is the portable form of the kernels for one packed row and one
// token's records (mb: the row's scale bytes per group, packed.meta): per
// lane (block) the exact integer dot product, then
// acc_j = fma(float32(sum_j), d_w·d_x, acc_j), reduced as a tree. The
// offset types (Q4_K, Q5_K, Q4_1, Q5_1) first add their offset term:
// acc_j = fma(float32(sum_j), d_w·d_x, fma(m_w, d_x·(-Σx_j), acc_j)); Q2_K
// joins each half's two terms before adding them: acc_j += fma(m_w,
// d_x·(-Σx_half), float32(sum_half)·(d_w·d_x)).
func packedDot(t gguf.TensorType, mb int, row, rec []byte, groups int) float32 {
	le := binary.LittleEndian
	qb := packedQuantBytes(t)
	var acc [16]float32
	for g := 0; g < groups; g++ {
		q := row[g*qb:]
		r := rec[g*pkRecBytes:]
		for j := 0; j < pkBlocks; j++ {
			corr := int32(le.Uint32(r[pkRecCorr+4*j:])) // -128·Σx
			s := int32(0)
			switch t {
			case gguf.Q8_0, gguf.IQ4_NL, gguf.IQ4_XS:
				s = corr
			case gguf.Q4_0:
				s = corr >> 4 // -8·Σx
			case gguf.Q5_0:
				s = corr >> 3 // -16·Σx
			}
			// dot is the exact integer product of values [e0, e1) of the
			// block and its activations.
			dot := func(e0, e1 int) int32 {
				d := int32(0)
				for e := e0; e < e1; e++ {
					d += packedValue(t, q, j, e) * int32(int8(r[64*(e/4)+4*j+e%4]))
				}
				return d
			}
			dx := math.Float32frombits(le.Uint32(r[pkRecScales+4*j:]))
			if t == gguf.Q2_K {
				// Two halves of 16, each with its scale and offset.
				meta := row[groups*qb+q2KMetaBytes*g:]
				half := int32(le.Uint32(r[pkRecHalf+4*j:]))
				d := math.Float32frombits(le.Uint32(meta[64+4*(j/8):]))
				dmin := math.Float32frombits(le.Uint32(meta[72+4*(j/8):]))
				for h, c := range [2]int32{half >> 7, (corr - half) >> 7} {
					s := dot(16*h, 16*h+16)
					dw, mw := d*float32(int8(meta[16*h+j])), dmin*float32(int8(meta[32+16*h+j]))
					acc[j] += FMA32(float32(c), mw*dx, float32(float32(s)*(dw*dx)))
				}
				continue
			}
			if t == gguf.Q6_K || t == gguf.Q3_K {
				// Two halves of 16 with their own scales and -32·Σx
				// (Q3_K: -4·Σx).
				shift := int32(2)
				if t == gguf.Q3_K {
					shift = 5
				}
				meta := row[groups*qb+q6KMetaBytes*g:]
				d := math.Float32frombits(le.Uint32(meta[32+4*(j/8):]))
				half := int32(le.Uint32(r[pkRecHalf+4*j:]))
				for h, c := range [2]int32{half >> shift, (corr - half) >> shift} {
					s := c + dot(16*h, 16*h+16)
					dw := d * float32(int8(meta[16*h+j]))
					acc[j] = FMA32(float32(s), dw*dx, acc[j])
				}
				continue
			}
			s += dot(0, 32)
			if t == gguf.IQ4_XS {
				meta := row[groups*qb+iq4XSMetaBytes*g:]
				d := math.Float32frombits(le.Uint32(meta[16+4*(j/8):]))
				acc[j] = FMA32(float32(s), d*float32(int8(meta[j]))*dx, acc[j])
				continue
			}
			if t == gguf.Q4_K || t == gguf.Q5_K || t == gguf.Q4_1 || t == gguf.Q5_1 { // scale and offset
				var dw, mw float32
				switch {
				case mb == kMetaBytes:
					dw, mw = kMeta(row[groups*qb+mb*g:], j)
				case mb == k8MetaBytes:
					dw, mw = k8Meta(row[groups*qb+mb*g:], j)
				default:
					meta := row[groups*qb+mb*g:]
					dw = math.Float32frombits(le.Uint32(meta[4*j:]))
					mw = math.Float32frombits(le.Uint32(meta[64+4*j:]))
				}
				// The offset term, then the scale term, each fused into
				// the accumulator: one instruction fewer per block and
				// token than joining the terms first.
				cx := math.Float32frombits(le.Uint32(r[pkRecCX+4*j:])) // d_x·(-Σx)
				acc[j] = FMA32(float32(s), dw*dx, FMA32(mw, cx, acc[j]))
				continue
			}
			dw := F16ToF32(le.Uint16(row[groups*qb+2*(g*pkBlocks+j):]))
			acc[j] = FMA32(float32(s), dw*dx, acc[j])
		}
	}
	return Reduce16(&acc)
}

// packedValue is element e (0..31) of block j of a packed group q (the
// group's first byte): a byte, a nibble (or the grid value it indexes),
// or its bits from two planes.
func packedValue(t gguf.TensorType, q []byte, j, e int) int32 {
	st, i := e/4, e%4 // the step, the byte in the lane
	if packedQuantBytes(t) == 512 {
		return int32(q[64*st+4*j+i])
	}
	lo, hb := planeBits(t)
	if lo == 0 { // nibbles
		v := int32(q[64*(st/2)+4*j+i]>>(4*uint(st%2))) & 0xf
		if t == gguf.IQ4_NL || t == gguf.IQ4_XS {
			return int32(iq4Values[v]) + 128
		}
		return v
	}
	var v int32
	if lo == 4 {
		v = int32(q[64*(st/2)+4*j+i]>>(4*uint(st%2))) & 0xf
	} else {
		v = int32(q[64*(st/4)+4*j+i]>>(2*uint(st%4))) & 3
	}
	switch hb {
	case 1:
		v |= int32(q[64*lo+4*j+i]>>uint(st)&1) << uint(lo)
	case 2:
		v |= int32(q[64*lo+64*(st/4)+4*j+i]>>uint(2*(st%4))&3) << uint(lo)
	}
	return v
}

// useInt reports whether m is multiplied with the integer kernels: every
// quantized type, where the machine has AVX-512 VNNI or AVX2. Elsewhere the weights are
// decoded to float32 and multiplied with the float kernels (faster there
// than the portable integer twin, which exists to hold the assembly to
// account).
func (m *Mat) useInt() bool {
	switch m.Type {
	case gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q2_K, gguf.Q3_K, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.IQ4_NL, gguf.IQ4_XS:
		return intKernels()
	}
	return false
}

// Prepare repacks m for the integer kernels if they will be used, so the
// first multiplication does not pay for it, and reports whether the
// original encoded data is no longer read by Mul (its pages may then be
// released).
func (m *Mat) Prepare() bool {
	if !m.useInt() {
		return false
	}
	m.packOnce.Do(func() { m.pk = packRows(m) })
	return true
}
