package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"s4c/gguf"
)

// Block layouts follow ggml-common.h. Each block stores its scale(s) as
// float16; QK = 32 for the legacy types, 256 for the K-quants.
//
//	Q8_0  d; int8 qs[32]                      x = d*q
//	Q4_0  d; nibbles qs[16]                   x = d*(q-8)      (low nibbles: 0..15, high: 16..31)
//	Q4_1  d, m; nibbles qs[16]                x = d*q + m
//	Q5_0  d; qh[4]; nibbles qs[16]            x = d*(q-16)     (bit j of qh is the 5th bit of element j)
//	Q5_1  d, m; qh[4]; nibbles qs[16]         x = d*q + m
//	Q4_K  d, dmin; scales[12]; qs[128]        8 sub-blocks of 32 with 6-bit scale and min
//	Q5_K  d, dmin; scales[12]; qh[32]; qs[128]
//	Q6_K  ql[128]; qh[64]; int8 scales[16]; d 16 sub-blocks of 16, x = d*sc*(q-32)

// Supported reports whether the engine can compute with tensors of type t.
func Supported(t gguf.TensorType) bool {
	switch t {
	case gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1,
		gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q2_K, gguf.Q3_K, gguf.IQ4_NL, gguf.IQ4_XS:
		return true
	}
	return false
}

// ErrUnsupported is wrapped by errors about tensor types the engine cannot use.
type ErrUnsupported struct{ Type gguf.TensorType }

func (e ErrUnsupported) Error() string {
	return fmt.Sprintf("tensor type %s is not supported by this engine (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS); re-quantize the model, e.g. with llama-quantize to Q4_K_M or Q8_0", e.Type)
}

func h(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// Dequantize decodes len(dst) elements of type t from src. len(dst) must be a
// multiple of the block size and src must hold exactly those blocks.
//
// It keeps ggml's order of operations, so the values are llama.cpp's bit
// for bit. Products are rounded before an offset is added (float32(x*y) -
// z): Go fuses x*y - z into one FMA on arm64 and other targets, and ggml's
// reference build does not.
func Dequantize(t gguf.TensorType, src []byte, dst []float32) {
	n := len(dst)
	switch t {
	case gguf.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case gguf.F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case gguf.BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case gguf.Q8_0:
		for b := 0; b < n/32; b++ {
			blk := src[b*34:]
			d := h(blk)
			y := dst[b*32 : b*32+32]
			for j := range y {
				y[j] = d * float32(int8(blk[2+j]))
			}
		}
	case gguf.Q4_0:
		for b := 0; b < n/32; b++ {
			blk := src[b*18:]
			d := h(blk)
			y := dst[b*32 : b*32+32]
			for j := 0; j < 16; j++ {
				q := blk[2+j]
				y[j] = d * float32(int(q&0xf)-8)
				y[j+16] = d * float32(int(q>>4)-8)
			}
		}
	case gguf.Q4_1:
		for b := 0; b < n/32; b++ {
			blk := src[b*20:]
			d, m := h(blk), h(blk[2:])
			y := dst[b*32 : b*32+32]
			for j := 0; j < 16; j++ {
				q := blk[4+j]
				y[j] = float32(d*float32(q&0xf)) + m
				y[j+16] = float32(d*float32(q>>4)) + m
			}
		}
	case gguf.Q5_0:
		for b := 0; b < n/32; b++ {
			blk := src[b*22:]
			d := h(blk)
			qh := binary.LittleEndian.Uint32(blk[2:])
			y := dst[b*32 : b*32+32]
			for j := 0; j < 16; j++ {
				q := blk[6+j]
				lo := int(q&0xf) | int(qh>>j&1)<<4
				hi := int(q>>4) | int(qh>>(j+16)&1)<<4
				y[j] = d * float32(lo-16)
				y[j+16] = d * float32(hi-16)
			}
		}
	case gguf.Q5_1:
		for b := 0; b < n/32; b++ {
			blk := src[b*24:]
			d, m := h(blk), h(blk[2:])
			qh := binary.LittleEndian.Uint32(blk[4:])
			y := dst[b*32 : b*32+32]
			for j := 0; j < 16; j++ {
				q := blk[8+j]
				lo := int(q&0xf) | int(qh>>j&1)<<4
				hi := int(q>>4) | int(qh>>(j+16)&1)<<4
				y[j] = float32(d*float32(lo)) + m
				y[j+16] = float32(d*float32(hi)) + m
			}
		}
	case gguf.Q4_K:
		for b := 0; b < n/256; b++ {
			blk := src[b*144:]
			d, dmin := h(blk), h(blk[2:])
			sc := blk[4:16]
			qs := blk[16:144]
			y := dst[b*256 : b*256+256]
			for c := 0; c < 4; c++ {
				s1, m1 := scaleMinK4(2*c, sc)
				s2, m2 := scaleMinK4(2*c+1, sc)
				d1, mm1 := d*float32(s1), dmin*float32(m1)
				d2, mm2 := d*float32(s2), dmin*float32(m2)
				q := qs[32*c : 32*c+32]
				for l := 0; l < 32; l++ {
					y[64*c+l] = float32(d1*float32(q[l]&0xf)) - mm1
					y[64*c+32+l] = float32(d2*float32(q[l]>>4)) - mm2
				}
			}
		}
	case gguf.Q5_K:
		for b := 0; b < n/256; b++ {
			blk := src[b*176:]
			d, dmin := h(blk), h(blk[2:])
			sc := blk[4:16]
			qh := blk[16:48]
			qs := blk[48:176]
			y := dst[b*256 : b*256+256]
			for c := 0; c < 4; c++ {
				s1, m1 := scaleMinK4(2*c, sc)
				s2, m2 := scaleMinK4(2*c+1, sc)
				d1, mm1 := d*float32(s1), dmin*float32(m1)
				d2, mm2 := d*float32(s2), dmin*float32(m2)
				q := qs[32*c : 32*c+32]
				u1, u2 := byte(1)<<(2*c), byte(2)<<(2*c)
				for l := 0; l < 32; l++ {
					lo, hi := int(q[l]&0xf), int(q[l]>>4)
					if qh[l]&u1 != 0 {
						lo += 16
					}
					if qh[l]&u2 != 0 {
						hi += 16
					}
					y[64*c+l] = float32(d1*float32(lo)) - mm1
					y[64*c+32+l] = float32(d2*float32(hi)) - mm2
				}
			}
		}
	case gguf.Q6_K:
		for b := 0; b < n/256; b++ {
			blk := src[b*210:]
			d := h(blk[208:])
			y := dst[b*256 : b*256+256]
			for half := 0; half < 2; half++ {
				ql := blk[64*half:]
				qh := blk[128+32*half:]
				sc := blk[192+8*half:]
				yy := y[128*half:]
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
					q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
					q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
					q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
					yy[l] = d * float32(int8(sc[is])) * float32(q1)
					yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
					yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
					yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
				}
			}
		}
	case gguf.Q2_K:
		// scales[16] (4-bit scale | 4-bit min << 4), qs[64] (2-bit), d,
		// dmin: 16 sub-blocks of 16, x = (d·sc)·q - (dmin·m).
		for b := 0; b < n/256; b++ {
			blk := src[b*84:]
			d, dmin := h(blk[80:]), h(blk[82:])
			y := dst[b*256 : b*256+256]
			is := 0
			for half := 0; half < 2; half++ {
				q := blk[16+32*half:]
				for j := 0; j < 4; j++ {
					shift := 2 * uint(j)
					for k := 0; k < 2; k++ {
						sc := blk[is]
						is++
						dl, ml := d*float32(sc&0xf), dmin*float32(sc>>4)
						for l := 0; l < 16; l++ {
							y[128*half+32*j+16*k+l] = float32(dl*float32(q[16*k+l]>>shift&3)) - ml
						}
					}
				}
			}
		}
	case gguf.Q3_K:
		// hmask[32], qs[64] (low 2 bits), scales[12] (16 6-bit scales), d:
		// x = (d·(sc-32))·(q - 4 if the hmask bit is clear).
		for b := 0; b < n/256; b++ {
			blk := src[b*110:]
			d := h(blk[108:])
			sc := q3KScales(blk[96:108])
			y := dst[b*256 : b*256+256]
			for s := 0; s < 16; s++ { // sub-blocks of 16 values, each with its scale
				dl := d * float32(sc[s]-32)
				for i := 16 * s; i < 16*s+16; i++ {
					y[i] = dl * float32(q3KValue(blk, i))
				}
			}
		}
	case gguf.IQ4_NL:
		// d, qs[16]: x = d·kvalues[q], element j in the low nibble of
		// qs[j], element j+16 in the high one.
		for b := 0; b < n/32; b++ {
			blk := src[b*18:]
			d := h(blk)
			y := dst[b*32 : b*32+32]
			for j := 0; j < 16; j++ {
				y[j] = d * float32(iq4Values[blk[2+j]&0xf])
				y[j+16] = d * float32(iq4Values[blk[2+j]>>4])
			}
		}
	case gguf.IQ4_XS:
		// d, scales_h (u16), scales_l[4], qs[128]: 8 blocks of 32 with
		// 6-bit scales ls, x = (d·(ls-32))·kvalues[q] (IQ4_NL's nibbles).
		for b := 0; b < n/256; b++ {
			blk := src[b*136:]
			y := dst[b*256 : b*256+256]
			for ib := 0; ib < 8; ib++ {
				dl := iq4XSScale(blk, ib)
				qs := blk[8+16*ib:]
				for j := 0; j < 16; j++ {
					y[32*ib+j] = dl * float32(iq4Values[qs[j]&0xf])
					y[32*ib+j+16] = dl * float32(iq4Values[qs[j]>>4])
				}
			}
		}
	default:
		panic(ErrUnsupported{t}) // callers check Supported first
	}
}

// iq4XSScale is the scale d·(ls-32) of block ib (of 32 values) of an
// IQ4_XS super-block: ls is 6 bits, the low 4 in scales_l, the high 2 in
// scales_h.
func iq4XSScale(sb []byte, ib int) float32 {
	return h(sb) * float32(iq4XSScaleInt(sb, ib))
}

// iq4XSScaleInt is block ib's integer scale ls-32 (-32..31), which d
// multiplies.
func iq4XSScaleInt(sb []byte, ib int) int {
	sh := binary.LittleEndian.Uint16(sb[2:])
	ls := int(sb[4+ib/2]>>(4*uint(ib%2))&0xf) | int(sh>>(2*uint(ib))&3)<<4
	return ls - 32
}

// iq4Nearest is the index of the grid value nearest to x/d.
func iq4Nearest(x, d float32) byte {
	if d == 0 {
		return 8 // the grid's 1, nearest to 0
	}
	v := x / d
	best, bestErr := 0, float32(math.Inf(1))
	for i, g := range iq4Values {
		if e := abs32(v - float32(g)); e < bestErr {
			best, bestErr = i, e
		}
	}
	return byte(best)
}

// iq4Values is the non-linear grid of IQ4_NL and IQ4_XS (ggml's
// kvalues_iq4nl).
var iq4Values = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// q3KValue is element i (0..255) of a Q3_K super-block: its two low bits
// from qs, minus 4 where its hmask bit is clear (-4..3).
func q3KValue(sb []byte, i int) int {
	half, j, l := i/128, i%128/32, i%32
	v := int(sb[32+32*half+l] >> (2 * uint(j)) & 3)
	if sb[l]&(1<<uint(4*half+j)) == 0 {
		v -= 4
	}
	return v
}

// q3KScales unpacks Q3_K's twelve scale bytes into sixteen 6-bit scales
// (0..63; the value's scale is sc-32): the low 4 bits of scale i are
// nibble i of bytes 0..7, the high 2 bits come from bytes 8..11.
func q3KScales(b []byte) [16]int {
	var sc [16]int
	for i := 0; i < 16; i++ {
		lo := int(b[i%8]>>(4*uint(i/8))) & 0xf
		hi := int(b[8+i%4]>>(2*uint(i/4))) & 3
		sc[i] = lo | hi<<4
	}
	return sc
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func putScaleMinK4(j int, q []byte, sc, m byte) {
	if j < 4 {
		q[j] = q[j]&0xc0 | sc&63
		q[j+4] = q[j+4]&0xc0 | m&63
		return
	}
	q[j+4] = sc&0xf | (m&0xf)<<4
	q[j-4] = q[j-4]&63 | (sc>>4)<<6
	q[j] = q[j]&63 | (m>>4)<<6
}

func ph(b []byte, f float32) uint16 {
	v := F32ToF16(f)
	binary.LittleEndian.PutUint16(b, v)
	return v
}

func roundClamp(x float32, lo, hi int) int {
	v := int(math.RoundToEven(float64(x)))
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Quantize encodes src (a whole number of rows; len a multiple of the block
// size) as type t. It uses round-to-nearest with per-block scales; it is
// meant for writing models (synthetic, inflated, draft heads), not for
// matching llama-quantize bit for bit.
func Quantize(t gguf.TensorType, src []float32) ([]byte, error) {
	if !Quantizable(t) {
		return nil, ErrNotWritable{t}
	}
	if len(src)%t.BlockSize() != 0 {
		return nil, fmt.Errorf("quantize %s: %d elements is not a multiple of the block size %d", t, len(src), t.BlockSize())
	}
	out := make([]byte, t.RowBytes(len(src)))
	QuantizeInto(t, src, out)
	return out, nil
}

// ErrNotWritable is returned for a type Quantize cannot write.
type ErrNotWritable struct{ Type gguf.TensorType }

func (e ErrNotWritable) Error() string {
	if !Supported(e.Type) {
		return ErrUnsupported(e).Error()
	}
	return fmt.Sprintf("s4c reads %s tensors but cannot write them: choose F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K or IQ4_NL", e.Type)
}

// Quantizable reports whether Quantize can write tensors of type t (every
// supported type but IQ4_XS, which is only read).
func Quantizable(t gguf.TensorType) bool {
	return t != gguf.IQ4_XS && Supported(t)
}

// QuantizeInto is Quantize writing into out (of exactly t.RowBytes(len(src))).
// It panics for a type that is not Quantizable.
func QuantizeInto(t gguf.TensorType, src []float32, out []byte) {
	le := binary.LittleEndian
	switch t {
	default:
		panic(fmt.Sprintf("tensor.QuantizeInto: cannot write %s", t))
	case gguf.IQ4_NL:
		// The signed extreme of each block maps to the grid's -127 (so
		// d = max/-127), the rest to the nearest grid value.
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			blk := out[18*b : 18*b+18]
			d := F16ToF32(ph(blk, signedAbsMax(x)/float32(iq4Values[0])))
			for j := 0; j < 16; j++ {
				blk[2+j] = iq4Nearest(x[j], d) | iq4Nearest(x[j+16], d)<<4
			}
		}
	case gguf.F32:
		for i, v := range src {
			le.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case gguf.F16:
		for i, v := range src {
			le.PutUint16(out[2*i:], F32ToF16(v))
		}
	case gguf.BF16:
		for i, v := range src {
			le.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case gguf.Q8_0:
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			blk := out[34*b : 34*b+34]
			amax := absMax(x)
			d := amax / 127
			dh := F16ToF32(ph(blk, d))
			for j, v := range x {
				q := 0
				if dh != 0 {
					q = roundClamp(v/dh, -127, 127)
				}
				blk[2+j] = byte(int8(q))
			}
		}
	case gguf.Q4_0, gguf.Q5_0:
		nl := 8
		bs := 18
		if t == gguf.Q5_0 {
			nl, bs = 16, 22
		}
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			blk := out[bs*b : bs*b+bs]
			mx := signedAbsMax(x)
			dh := F16ToF32(ph(blk, mx/-float32(nl)))
			var qh uint32
			qs := blk[bs-16:]
			for j := 0; j < 16; j++ {
				q0, q1 := nl, nl
				if dh != 0 {
					q0 = roundClamp(x[j]/dh+float32(nl), 0, 2*nl-1)
					q1 = roundClamp(x[j+16]/dh+float32(nl), 0, 2*nl-1)
				}
				qs[j] = byte(q0&0xf) | byte(q1&0xf)<<4
				qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
			}
			if t == gguf.Q5_0 {
				le.PutUint32(blk[2:], qh)
			}
		}
	case gguf.Q4_1, gguf.Q5_1:
		nl := 15
		bs := 20
		if t == gguf.Q5_1 {
			nl, bs = 31, 24
		}
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			blk := out[bs*b : bs*b+bs]
			lo, hi := minMax(x)
			dh := F16ToF32(ph(blk, (hi-lo)/float32(nl)))
			mh := F16ToF32(ph(blk[2:], lo))
			var qh uint32
			qs := blk[bs-16:]
			for j := 0; j < 16; j++ {
				q0, q1 := 0, 0
				if dh != 0 {
					q0 = roundClamp((x[j]-mh)/dh, 0, nl)
					q1 = roundClamp((x[j+16]-mh)/dh, 0, nl)
				}
				qs[j] = byte(q0&0xf) | byte(q1&0xf)<<4
				qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
			}
			if t == gguf.Q5_1 {
				le.PutUint32(blk[4:], qh)
			}
		}
	case gguf.Q4_K, gguf.Q5_K:
		quantizeK45(t, src, out)
	case gguf.Q3_K:
		quantizeQ3K(src, out)
	case gguf.Q2_K:
		quantizeQ2K(src, out)
	case gguf.Q6_K:
		for b := 0; b < len(src)/256; b++ {
			x := src[256*b : 256*b+256]
			blk := out[210*b : 210*b+210]
			var scale [16]float32
			maxScale := float32(0)
			for s := 0; s < 16; s++ {
				scale[s] = signedAbsMax(x[16*s:16*s+16]) / -32
				if a := abs32(scale[s]); a > abs32(maxScale) {
					maxScale = scale[s]
				}
			}
			d := F16ToF32(ph(blk[208:], maxScale/-127))
			ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
			for i := range ql {
				ql[i] = 0
			}
			for i := range qh {
				qh[i] = 0
			}
			for s := 0; s < 16; s++ {
				isc := 0
				if d != 0 {
					isc = roundClamp(scale[s]/d, -128, 127)
				}
				sc[s] = byte(int8(isc))
				ds := d * float32(isc)
				for e := 16 * s; e < 16*s+16; e++ {
					q := 32
					if ds != 0 {
						q = roundClamp(x[e]/ds+32, 0, 63)
					}
					half, r := e/128, e%128
					l, k := r%32, r/32 // element r = l + 32k of this half
					qlIdx := 64*half + l + 32*(k&1)
					shift := uint(4 * (k >> 1))
					ql[qlIdx] |= byte(q&0xf) << shift
					qh[32*half+l] |= byte(q>>4&3) << (2 * uint(k))
				}
			}
		}
	}
}

// quantizeQ3K encodes Q3_K: per 16 values a signed 6-bit scale relative to
// the super-block's d, the block's signed extreme mapped to -4, values
// -4..3 stored as 2 low bits (qs) and a high bit (hmask).
func quantizeQ3K(src []float32, out []byte) {
	for b := 0; b < len(src)/256; b++ {
		x := src[256*b : 256*b+256]
		blk := out[110*b : 110*b+110]
		clear(blk)
		var scale [16]float32
		maxScale := float32(0)
		for s := range scale {
			scale[s] = signedAbsMax(x[16*s:16*s+16]) / -4
			if abs32(scale[s]) > abs32(maxScale) {
				maxScale = scale[s]
			}
		}
		d := F16ToF32(ph(blk[108:], maxScale/-32))
		hm, qs, sc := blk[:32], blk[32:96], blk[96:108]
		for s := range scale {
			isc := 0
			if d != 0 {
				isc = roundClamp(scale[s]/d, -32, 31)
			}
			u := byte(isc + 32)
			sc[s%8] |= (u & 0xf) << (4 * uint(s/8))
			sc[8+s%4] |= (u >> 4) << (2 * uint(s/4))
			ds := d * float32(isc)
			for e := 16 * s; e < 16*s+16; e++ {
				v := 0
				if ds != 0 {
					v = roundClamp(x[e]/ds, -4, 3)
				}
				q := byte(v + 4)
				half, j, l := e/128, e%128/32, e%32
				qs[32*half+l] |= (q & 3) << (2 * uint(j))
				hm[l] |= (q >> 2) << uint(4*half+j)
			}
		}
	}
}

// quantizeQ2K encodes Q2_K: per 16 values a 4-bit scale and a 4-bit min
// relative to the super-block's d and dmin, values 0..3 (x = d·sc·q -
// dmin·m).
func quantizeQ2K(src []float32, out []byte) {
	for b := 0; b < len(src)/256; b++ {
		x := src[256*b : 256*b+256]
		blk := out[84*b : 84*b+84]
		clear(blk)
		var scale, mins [16]float32
		maxScale, maxMin := float32(0), float32(0)
		for s := range scale {
			lo, hi := minMax(x[16*s : 16*s+16])
			lo = min(lo, 0)
			scale[s], mins[s] = (hi-lo)/3, -lo
			maxScale, maxMin = max(maxScale, scale[s]), max(maxMin, mins[s])
		}
		d := F16ToF32(ph(blk[80:], maxScale/15))
		dmin := F16ToF32(ph(blk[82:], maxMin/15))
		for s := range scale {
			isc, im := 0, 0
			if d != 0 {
				isc = roundClamp(scale[s]/d, 0, 15)
			}
			if dmin != 0 {
				im = roundClamp(mins[s]/dmin, 0, 15)
			}
			blk[s] = byte(isc) | byte(im)<<4
			dl, ml := d*float32(isc), dmin*float32(im)
			for e := 16 * s; e < 16*s+16; e++ {
				q := 0
				if dl != 0 {
					q = roundClamp((x[e]+ml)/dl, 0, 3)
				}
				half, j, rest := e/128, e%128/32, e%32
				blk[16+32*half+rest] |= byte(q) << (2 * uint(j))
			}
		}
	}
}

// quantizeK45 encodes Q4_K or Q5_K: per 32-element sub-block an unsigned
// 6-bit scale and min relative to the super-block's d and dmin.
func quantizeK45(t gguf.TensorType, src []float32, out []byte) {
	nmax := 15
	bs := 144
	if t == gguf.Q5_K {
		nmax, bs = 31, 176
	}
	for b := 0; b < len(src)/256; b++ {
		x := src[256*b : 256*b+256]
		blk := out[bs*b : bs*b+bs]
		for i := range blk {
			blk[i] = 0
		}
		var scale, mins [8]float32
		var maxS, maxM float32
		for s := 0; s < 8; s++ {
			lo, hi := minMax(x[32*s : 32*s+32])
			if lo > 0 {
				lo = 0
			}
			scale[s] = (hi - lo) / float32(nmax)
			mins[s] = -lo
			maxS = max(maxS, scale[s])
			maxM = max(maxM, mins[s])
		}
		d := F16ToF32(ph(blk, maxS/63))
		dmin := F16ToF32(ph(blk[2:], maxM/63))
		sc := blk[4:16]
		var qh, qs []byte
		if t == gguf.Q5_K {
			qh, qs = blk[16:48], blk[48:176]
		} else {
			qs = blk[16:144]
		}
		for s := 0; s < 8; s++ {
			is, im := 0, 0
			if d != 0 {
				is = roundClamp(scale[s]/d, 0, 63)
			}
			if dmin != 0 {
				im = roundClamp(mins[s]/dmin, 0, 63)
			}
			putScaleMinK4(s, sc, byte(is), byte(im))
			ds, dm := d*float32(is), dmin*float32(im)
			c, hiNib := s/2, s%2
			for l := 0; l < 32; l++ {
				q := 0
				if ds != 0 {
					q = roundClamp((x[32*s+l]+dm)/ds, 0, nmax)
				}
				qs[32*c+l] |= byte(q&0xf) << (4 * uint(hiNib))
				if qh != nil && q&16 != 0 {
					qh[l] |= 1 << uint(s)
				}
			}
		}
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func absMax(x []float32) float32 {
	m := float32(0)
	for _, v := range x {
		m = max(m, abs32(v))
	}
	return m
}

// signedAbsMax is the element of largest magnitude, with its sign.
func signedAbsMax(x []float32) float32 {
	m, a := float32(0), float32(0)
	for _, v := range x {
		if abs32(v) > a {
			a, m = abs32(v), v
		}
	}
	return m
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}
