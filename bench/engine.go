// Package bench measures the engine and S^4C decoding: forward-pass cost by
// batch size, decode and prompt speed, and speculative vs plain decoding in
// one process (ratios measured side by side, medians over repetitions,
// because these machines are shared and noisy).
package bench

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"s4c/model"
	"s4c/tensor"
)

// EngineResult is what BenchEngine measured.
type EngineResult struct {
	WeightBytes int64
	Params      int64
	DecodeTokS  float64 // plain decode, batch 1: 1 / the median of 32 steps
	PromptTokS  float64 // prompt of PromptLen tokens (median pass after a warm-up)
	PromptLen   int
	Ns          []int
	TN          []time.Duration // median time of one forward pass of N tokens after Ctx cached
	Ctx         int
	PeakRSS     int64
	Kernel      string
	Threads     int
	// The machine's limits measured right after, on as many threads:
	// memory read bytes/s and int8 multiply-add ops/s (0: not measured).
	ReadBW   float64
	Int8Peak float64
	// Decode's weight bytes per second as a share of the read bandwidth
	// measured between its steps (median over steps, each against the
	// probes just before and after it), and the median of those probes.
	DecodeShare, ReadBWBeside float64
	// The same step's matrix products run back to back without the rest
	// of the step (attention, norms, activations), alternated with the
	// steps: their share of the read bandwidth beside them, and their
	// median time as a fraction of the median step's.
	ProductsShare, ProductsFrac float64
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// MachineLimits measures the machine's memory read bandwidth (bytes/s)
// and int8 multiply-add peak (ops/s) on threads threads, as it is now
// (neighbours included). Measured once before a model is loaded and once
// after its passes, the better of the two comes nearest the limit on a
// busy machine (EngineResult.MergeLimits).
func MachineLimits(threads int) (readBW, int8Peak float64) {
	return tensor.ReadBandwidth(threads, 512<<20, 3), tensor.Int8Peak(threads)
}

// MergeLimits keeps the better of r's machine limits and an earlier
// measurement's.
func (r *EngineResult) MergeLimits(readBW, int8Peak float64) {
	r.ReadBW, r.Int8Peak = max(r.ReadBW, readBW), max(r.Int8Peak, int8Peak)
}

// Engine measures m. reps passes per batch size are timed, interleaved
// across sizes so load changes hit all sizes alike.
func Engine(m *model.Model, threads, ctx, reps int, ns []int) (*EngineResult, error) {
	if reps < 1 || ctx < 1 || len(ns) == 0 {
		return nil, fmt.Errorf("want at least one timed pass (reps %d), a context of at least one token (ctx %d) and a batch size (%v)", reps, ctx, ns)
	}
	maxN := 0
	for _, n := range ns {
		if n < 1 {
			return nil, fmt.Errorf("batch size %d: want a positive number of tokens", n)
		}
		maxN = max(maxN, n)
	}
	if ctx+maxN+64 > m.CtxLen {
		return nil, fmt.Errorf("%d cached + %d batch tokens exceed the model's context of %d tokens: lower -ctx or the batch sizes", ctx, maxN, m.CtxLen)
	}
	r := &EngineResult{Ctx: ctx, Ns: ns, Kernel: tensor.Kernel, WeightBytes: m.WeightBytes()}
	for i := range m.File.Tensors {
		t := &m.File.Tensors[i]
		if len(t.Dims) == 2 && t.Name != "token_embd.weight" {
			r.Params += int64(t.Elements())
		}
	}
	s := m.NewState(ctx+maxN+64, threads)
	s.ReuseOutputs = true // as the decoding loops run
	r.Threads = s.Pool.Threads
	toks := func(n int) []int32 {
		t := make([]int32, n)
		for i := range t {
			t[i] = int32((i*7919 + 13) % m.Vocab)
		}
		return t
	}
	// Prompt processing: ctx tokens in one go, the median of a few passes
	// after an untimed one (a process's first pass also pays for touching
	// its fresh buffers: a 64-token prompt measured alone read 242 tok/s
	// where the passes after it run at about 300). Each pass overwrites
	// the last one's uncommitted rows; the final one fills the cache.
	r.PromptLen = ctx
	var prompt []time.Duration
	for rep := 0; rep <= min(reps, 3); rep++ {
		t0 := time.Now()
		if _, err := s.Forward(&model.Batch{Tokens: toks(ctx)}); err != nil {
			return nil, err
		}
		if rep > 0 {
			prompt = append(prompt, time.Since(t0))
		}
	}
	r.PromptTokS = float64(ctx) / median(prompt).Seconds()
	s.Commit(ctx)
	// t(N): tree-shaped batches (a chain), logits for every row, as
	// verification does; the rows are dropped after each pass.
	times := make([][]time.Duration, len(ns))
	for rep := 0; rep < reps+1; rep++ {
		for i, n := range ns {
			par := make([]int32, n)
			pos := make([]int32, n)
			rows := make([]int, n)
			for j := range par {
				par[j] = int32(j) - 1
				pos[j] = int32(ctx + j)
				rows[j] = j
			}
			t0 := time.Now()
			if _, err := s.Forward(&model.Batch{Tokens: toks(n), Pos: pos, Parent: par, Logits: rows, Hidden: true}); err != nil {
				return nil, err
			}
			if rep > 0 { // the first round warms up
				times[i] = append(times[i], time.Since(t0))
			}
		}
	}
	for i := range ns {
		r.TN = append(r.TN, median(times[i]))
	}
	r.PeakRSS = peakRSS() // before the probe's buffer below
	// Plain decoding at batch 1, each step timed: the median step, as
	// for t(N), since one step stalled by a neighbour (40 ms among 14 ms
	// ones, seen) moved the mean of 32 by a third. The machine's read
	// bandwidth is measured between every few steps, so that each step
	// has a limit measured beside it: on a shared machine the bandwidth
	// moves by a third within seconds, and a step and a limit taken at
	// different moments compare noise.
	//
	// Between those rounds the step's matrix products run alone, as many
	// times, each round between two reads of memory as well: how near the
	// kernels come to the bandwidth, and how much of a step the rest of it
	// (attention, norms, activations) takes.
	const gen, round = 32, 4
	probe := tensor.NewReadProbe(r.Threads, 512<<20)
	defer probe.Close()
	prods := newProductsPass(m)
	var steps, alone []time.Duration
	var shares, prodShares, probes []float64
	before := probe.Measure()
	for i := 0; i < gen; i += round {
		var rs []time.Duration
		for j := i; j < i+round; j++ {
			t0 := time.Now()
			if _, err := s.Forward(&model.Batch{Tokens: []int32{int32(j % m.Vocab)}}); err != nil {
				return nil, err
			}
			s.Commit(1)
			rs = append(rs, time.Since(t0))
		}
		after := probe.Measure()
		probes = append(probes, before, after)
		shares = appendShares(shares, rs, r.WeightBytes, before, after)
		steps = append(steps, rs...)
		rs = rs[:0]
		for j := 0; j < round; j++ {
			t0 := time.Now()
			prods.run(s.Pool)
			rs = append(rs, time.Since(t0))
		}
		before = probe.Measure()
		prodShares = appendShares(prodShares, rs, prods.bytes, after, before)
		alone = append(alone, rs...)
	}
	probes = append(probes, before)
	r.DecodeTokS = 1 / median(steps).Seconds()
	if len(shares) > 0 {
		r.DecodeShare, r.ReadBWBeside = medianF(shares), medianF(probes)
		r.ProductsShare = medianF(prodShares)
	}
	r.ProductsFrac = median(alone).Seconds() / median(steps).Seconds()
	probe.Close()
	// The machine as it is now (neighbours included): the figures above
	// as fractions of what it can do.
	r.ReadBW, r.Int8Peak = MachineLimits(r.Threads)
	return r, nil
}

// appendShares appends, for each of the passes ds that read bytes each,
// its bytes per second over the mean of the read bandwidths measured just
// before and after (none where no probe ran).
func appendShares(to []float64, ds []time.Duration, bytes int64, before, after float64) []float64 {
	if bw := (before + after) / 2; bw > 0 {
		for _, d := range ds {
			to = append(to, float64(bytes)/d.Seconds()/bw)
		}
	}
	return to
}

// productsPass is a decoding step's matrix products alone, in the order
// model.ForwardMany runs them (per layer the query, key and value
// projections in one go, the output projection, gate and up in one go,
// down; then the logits), on inputs of one token. What they compute is
// discarded: only their time counts.
type productsPass struct {
	m                 *model.Model
	x, att, ffn       []float32
	q, k, v, gate, up []float32
	o, logits         []float32
	bytes             int64 // the weights they read
}

func newProductsPass(m *model.Model) *productsPass {
	qd := m.Heads * m.HeadDim
	p := &productsPass{
		m: m, x: make([]float32, m.Dim), att: make([]float32, qd), ffn: make([]float32, m.FFN),
		q: make([]float32, qd), k: make([]float32, m.KVDim()), v: make([]float32, m.KVDim()),
		gate: make([]float32, m.FFN), up: make([]float32, m.FFN),
		o: make([]float32, m.Dim), logits: make([]float32, m.Vocab),
	}
	// Inputs of the size and spread of a real step's: the products'
	// arithmetic does not depend on the values, but quantizing them does
	// a little.
	for _, b := range [][]float32{p.x, p.att, p.ffn} {
		for i := range b {
			b[i] = float32((i*7919)%201-100) / 100
		}
	}
	for _, L := range m.Layers {
		for _, w := range []*tensor.Mat{L.Wq, L.Wk, L.Wv, L.Wo, L.FFNGate, L.FFNUp, L.FFNDown} {
			p.bytes += int64(len(w.Data))
		}
	}
	p.bytes += int64(len(m.Output.Data))
	return p
}

func (p *productsPass) run(pool *tensor.Pool) {
	for _, L := range p.m.Layers {
		tensor.MulMany(p.x, 1, pool, []*tensor.Mat{L.Wq, L.Wk, L.Wv}, [][]float32{p.q, p.k, p.v})
		L.Wo.Mul(p.o, p.att, 1, pool)
		tensor.MulMany(p.x, 1, pool, []*tensor.Mat{L.FFNGate, L.FFNUp}, [][]float32{p.gate, p.up})
		L.FFNDown.Mul(p.o, p.ffn, 1, pool)
	}
	p.m.Output.Mul(p.logits, p.x, 1, pool)
}

// Print writes the report.
func (r *EngineResult) Print(w io.Writer) {
	fmt.Fprintf(w, "kernel %s, %d threads; weights read per token %.2f GiB, %.0fM matrix parameters\n", r.Kernel, r.Threads, float64(r.WeightBytes)/(1<<30), float64(r.Params)/1e6)
	if r.ReadBW > 0 {
		fmt.Fprintf(w, "machine now: memory read %.1f GB/s", r.ReadBW/1e9)
		if r.Int8Peak > 0 {
			fmt.Fprintf(w, ", int8 peak %.0f GOPS (vpdpbusd)", r.Int8Peak/1e9)
		}
		fmt.Fprintf(w, " on %d threads\n", r.Threads)
	}
	bw := float64(r.WeightBytes) * r.DecodeTokS
	fmt.Fprintf(w, "decode (batch 1): %.2f tok/s  = %.1f GB/s of weights read", r.DecodeTokS, bw/1e9)
	if r.ReadBW > 0 {
		fmt.Fprintf(w, " (%.0f%% of the best read bandwidth above)", 100*bw/r.ReadBW)
	}
	fmt.Fprintln(w)
	if r.DecodeShare > 0 {
		fmt.Fprintf(w, "  alternated with reads of memory: %.0f%% of the read bandwidth beside each step (median %.1f GB/s)\n", 100*r.DecodeShare, r.ReadBWBeside/1e9)
	}
	if r.ProductsShare > 0 {
		fmt.Fprintf(w, "  its matrix products alone, back to back: %.0f%% of the read bandwidth beside them, %.0f%% of a step's time\n", 100*r.ProductsShare, 100*r.ProductsFrac)
		fmt.Fprintf(w, "  (the rest of a step: attention over %d cached tokens, norms, activations)\n", r.Ctx)
	}
	if r.ReadBW > 0 && (bw > r.ReadBW || r.DecodeShare > 1 || r.ProductsShare > 1) {
		fmt.Fprintf(w, "  (over 100%%: part of the weights stayed in the caches from one step to the next; the read\n   probe streams a buffer too large for that)\n")
	}
	fmt.Fprintf(w, "prompt (%d tokens): %.1f tok/s\n", r.PromptLen, r.PromptTokS)
	fmt.Fprintf(w, "one forward pass of N tokens after %d cached (median):\n", r.Ctx)
	fmt.Fprintf(w, "%6s %10s %9s %12s %10s\n", "N", "ms", "t(N)/t(1)", "GOPS", "of peak")
	for i, n := range r.Ns {
		ms := r.TN[i].Seconds() * 1e3
		gops := 2 * float64(r.Params) * float64(n) / r.TN[i].Seconds() / 1e9
		peak := "-"
		if r.Int8Peak > 0 {
			peak = fmt.Sprintf("%.1f%%", 100*gops*1e9/r.Int8Peak)
		}
		fmt.Fprintf(w, "%6d %10.2f %9.2f %12.1f %10s\n", n, ms, r.TN[i].Seconds()/r.TN[0].Seconds(), gops, peak)
	}
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "peak RSS %.2f GiB\n", float64(r.PeakRSS)/(1<<30))
	}
}

// Ratio is t(N)/t(1) for a measured N (0 if not measured).
func (r *EngineResult) Ratio(n int) float64 {
	for i, x := range r.Ns {
		if x == n {
			return r.TN[i].Seconds() / r.TN[0].Seconds()
		}
	}
	return 0
}

// peakRSS reads the process's peak resident set (Linux), 0 elsewhere.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
