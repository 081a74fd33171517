package heads

import (
	"math/rand/v2"
	"os"
	"testing"

	"s4c/internal/shared"
	"s4c/model"
	"s4c/tensor"
)

// BenchmarkTrain times optimiser steps of 64 examples (the CLI's default
// batch) on two threads: for the 260K story model's width (64) and for the
// 1.1B twin's (2048) where 'make demo' left it (S4C_TWIN names another
// path), with the default hidden widths of each (512 and 256). The data
// are random states and targets: a step's arithmetic does not depend on
// the values. Reported as examples/s.
func BenchmarkTrain(b *testing.B) {
	twin := shared.Twin()
	for _, c := range []struct {
		name, model string
		hidden      int
	}{
		{"260K", shared.Path(b, "models/stories260K.gguf"), 512},
		{"twin-1.1B", twin, 256},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := os.Stat(c.model); err != nil {
				b.Skipf("%s: not found (make demo makes the twin)", c.model)
			}
			m, err := model.Load(c.model)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			const batch = 64
			ds := randomData(m, 8, 128)
			h := New(m, 4, c.hidden, 1)
			tr := NewTrainer(h, m, TrainConfig{Epochs: 1 << 20, LR: 1e-4, Batch: batch, HoldOut: 0.01, Seed: 1, Threads: 2, TopK: 8})
			steps := 0
			tr.Cfg.Stop = func() bool { steps++; return steps > b.N }
			b.ResetTimer()
			if err := tr.Train(ds); err != ErrInterrupted {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}

// randomData is n sequences of length l with random tokens, normal
// hidden states and a random top-N distribution at every position.
func randomData(m *model.Model, n, l int) *Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := &Dataset{Dim: m.Dim}
	for i := 0; i < n; i++ {
		s := Seq{Tokens: make([]int32, l), Hidden: make([]uint16, l*m.Dim), TopIDs: make([]int32, l*TopN), TopP: make([]uint16, l*TopN)}
		for p := range s.Tokens {
			s.Tokens[p] = int32(rng.IntN(m.Vocab))
			for j := 0; j < TopN; j++ {
				s.TopIDs[p*TopN+j] = int32(rng.IntN(m.Vocab))
				s.TopP[p*TopN+j] = tensor.F32ToF16(1 / float32(j+2))
			}
		}
		for j := range s.Hidden {
			s.Hidden[j] = tensor.F32ToF16(float32(rng.NormFloat64()))
		}
		ds.Seqs = append(ds.Seqs, s)
	}
	return ds
}
