package tensor

import (
	"sort"
	"testing"
	"time"

	"s4c/gguf"
)

func tmpMat(t *testing.T, typ gguf.TensorType, rows, cols int) *Mat {
	const chunk = 64
	w := make([]float32, chunk*cols)
	for i := range w {
		w[i] = float32(i%13-6) * 0.01
	}
	part, _ := Quantize(typ, w)
	enc := make([]byte, 0, len(part)*rows/chunk)
	for len(enc) < cap(enc) {
		enc = append(enc, part...)
	}
	m, err := NewMat(typ, rows, cols, enc)
	if err != nil {
		t.Fatal(err)
	}
	m.Prepare()
	return m
}

func TestTmpStreams(t *testing.T) {
	const dim, kv, ffn = 2048, 256, 5632
	type layer struct{ q, k, v, o, gate, up, down *Mat }
	types := []gguf.TensorType{gguf.Q8_0, gguf.Q4_K}
	big := map[gguf.TensorType]*Mat{}
	lays := map[gguf.TensorType][]layer{}
	for _, typ := range types {
		big[typ] = tmpMat(t, typ, 65536*4, 2048)
		ls := make([]layer, 22)
		for l := range ls {
			ls[l] = layer{tmpMat(t, typ, dim, dim), tmpMat(t, typ, kv, dim), tmpMat(t, typ, kv, dim), tmpMat(t, typ, dim, dim), tmpMat(t, typ, ffn, dim), tmpMat(t, typ, ffn, dim), tmpMat(t, typ, dim, ffn)}
		}
		lays[typ] = ls
	}
	p := NewPool(0)
	x := make([]float32, ffn)
	y := [3][]float32{make([]float32, 65536*4), make([]float32, ffn), make([]float32, ffn)}
	probe := NewReadProbe(2, 512<<20)
	defer probe.Close()
	res := map[string][]float64{}
	for it := 0; it < 9; it++ {
		pb := probe.Measure()
		res["probe"] = append(res["probe"], pb/1e9)
		for _, typ := range types {
			m := big[typ]
			t0 := time.Now()
			m.Mul(y[0], x[:2048], 1, p)
			res[typ.String()+" big"] = append(res[typ.String()+" big"], float64(len(m.pk.data))/time.Since(t0).Seconds()/pb)
			var bytes int
			t0 = time.Now()
			for _, L := range lays[typ] {
				MulMany(x[:dim], 1, p, []*Mat{L.q, L.k, L.v}, y[:])
				L.o.Mul(y[0], x[:dim], 1, p)
				MulMany(x[:dim], 1, p, []*Mat{L.gate, L.up}, y[:2])
				L.down.Mul(y[0], x, 1, p)
				for _, m := range []*Mat{L.q, L.k, L.v, L.o, L.gate, L.up, L.down} {
					bytes += len(m.pk.data)
				}
			}
			res[typ.String()+" layers"] = append(res[typ.String()+" layers"], float64(bytes)/time.Since(t0).Seconds()/pb)
		}
	}
	for k, v := range res {
		sort.Float64s(v)
		t.Logf("%-14s median %.3f  (min %.3f max %.3f)", k, v[4], v[0], v[8])
	}
}
