package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"s4c/heads"
	"s4c/model"
)

// DataResult is the throughput of the three ways 'heads train' can get
// its data, measured in one run, alternating: one sequence at a time (plain
// decoding, recording each position), many sequences per pass (batched
// generation) and reading text (teacher forced, prompt passes).
type DataResult struct {
	Parallel, SeqLen, Reps int
	// Tokens per second of each way, each rep's (in order).
	Plain, Batched, Text []float64
}

// DataConfig sets what Data measures.
type DataConfig struct {
	Parallel int // sequences per batched pass
	SeqLen   int // tokens per generated sequence
	Reps     int
	Threads  int
	BOS      int32
	Seed     uint64
	Progress func(done, total int)
}

// Data measures m's data throughput. The text of the teacher-forced runs is
// the batched run's own output (text like the model's), read in passes of
// SeqLen tokens.
func Data(m *model.Model, cfg DataConfig) (*DataResult, error) {
	if cfg.Parallel < 2 || cfg.SeqLen < 8 || cfg.Reps < 1 {
		return nil, fmt.Errorf("data benchmark: want at least 2 sequences a pass (%d), 8 tokens a sequence (%d) and one repetition (%d)", cfg.Parallel, cfg.SeqLen, cfg.Reps)
	}
	dir, err := os.MkdirTemp("", "s4c-bench-data")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &DataResult{Parallel: cfg.Parallel, SeqLen: cfg.SeqLen, Reps: cfg.Reps}
	gen := func(name string, parallel, want int, seed uint64) (float64, *heads.Dataset, error) {
		p := filepath.Join(dir, name)
		os.Remove(p)
		c := heads.GenConfig{BOS: cfg.BOS, SeqLen: cfg.SeqLen, Greedy: 0.5, Temp: 0.8, SampledStart: 8, Seed: seed, Threads: cfg.Threads, Parallel: parallel}
		t0 := time.Now()
		if err := heads.Generate(p, m, want, c); err != nil {
			return 0, nil, err
		}
		d := time.Since(t0)
		ds, _, err := heads.OpenDataset(p, m)
		if err != nil {
			return 0, nil, err
		}
		return float64(ds.Tokens()) / d.Seconds(), ds, nil
	}
	for rep := 0; rep < cfg.Reps; rep++ {
		seed := cfg.Seed + uint64(rep)*1000
		// Plain: one sequence, token by token.
		plain, ds, err := gen("plain.data", 1, cfg.SeqLen, seed)
		if err != nil {
			return nil, err
		}
		ds.Close()
		batched, ds, err := gen("batched.data", cfg.Parallel, cfg.Parallel*cfg.SeqLen, seed)
		if err != nil {
			return nil, err
		}
		texts := make([][]int32, len(ds.Seqs))
		for i, s := range ds.Seqs {
			texts[i] = append([]int32{cfg.BOS}, s.Tokens...)
		}
		ds.Close()
		n := 0
		for _, t := range texts {
			n += len(t)
		}
		p := filepath.Join(dir, "text.data")
		os.Remove(p)
		t0 := time.Now()
		got, err := heads.GenerateFromText(p, m, texts, n, heads.TextConfig{SeqLen: cfg.SeqLen + 1, Window: m.CtxLen, BOS: cfg.BOS, Threads: cfg.Threads})
		if err != nil {
			return nil, err
		}
		r.Plain = append(r.Plain, plain)
		r.Batched = append(r.Batched, batched)
		r.Text = append(r.Text, float64(got)/time.Since(t0).Seconds())
		if cfg.Progress != nil {
			cfg.Progress(rep+1, cfg.Reps)
		}
	}
	return r, nil
}

// Print writes the report: medians, and each way's ratio over plain
// within each repetition (median of those).
func (r *DataResult) Print(w io.Writer) {
	ratios := func(x []float64) []float64 {
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] / r.Plain[i]
		}
		return out
	}
	fmt.Fprintf(w, "data for heads training, %d repetitions, alternated (tokens/s, median; ratio over plain within each repetition):\n", r.Reps)
	row := func(name string, x []float64, ratio string) {
		fmt.Fprintf(w, "  %-52s %8.1f tok/s  %s\n", name, medianF(x), ratio)
	}
	row(fmt.Sprintf("plain (sequences of %d tokens, token by token)", r.SeqLen), r.Plain, "1.00x")
	row(fmt.Sprintf("batched generation (%d sequences a pass, --parallel)", r.Parallel), r.Batched, fmt.Sprintf("%.2fx", medianF(ratios(r.Batched))))
	row("teacher forced (reading that text, --text)", r.Text, fmt.Sprintf("%.2fx", medianF(ratios(r.Text))))
}
