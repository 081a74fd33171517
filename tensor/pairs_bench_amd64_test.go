package tensor

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"s4c/gguf"
)

// BenchmarkStreamPairs streams 1 GiB (streamBytes) of rows of 2048 and 3072 columns
// with one token, rows taken in far pairs (pkPairKernels) and one at a
// time alternated pass by pass in one process: median GB/s of each.
func BenchmarkStreamPairs(b *testing.B) {
	if !hasVNNI || intLevel != "vnni" {
		b.Skip("pair kernels are AVX-512 VNNI only")
	}
	defer func() { pairRows = true }()
	for _, typ := range []gguf.TensorType{gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q8_0, gguf.Q4_0, gguf.Q3_K, gguf.Q2_K} {
		for _, cols := range []int{2048, 3072} {
			b.Run(fmt.Sprintf("%s/%d", typ, cols), func(b *testing.B) {
				rows := streamRows(typ, cols)
				m, size := repeatedMat(b, typ, rows, cols)
				m.Prepare()
				x, y := benchActs(cols), make([]float32, rows)
				p := NewPool(0)
				var rates [2][]float64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for k := range 2 {
						pairRows = (i+k)%2 == 0 // either first, turn about
						t0 := time.Now()
						m.Mul(y, x, 1, p)
						j := 0
						if !pairRows {
							j = 1
						}
						rates[j] = append(rates[j], float64(size)/time.Since(t0).Seconds()/1e9)
					}
				}
				for j, name := range []string{"GB/s-pairs", "GB/s-rows"} {
					sort.Float64s(rates[j])
					b.ReportMetric(rates[j][len(rates[j])/2], name)
				}
			})
		}
	}
}
