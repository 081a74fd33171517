package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"

	"s4c/bench"
	"s4c/engine"
	"s4c/model"
	"s4c/spec"
)

func cmdBench(args []string) error {
	return dispatch("bench", args, []subcommand{{"engine", cmdBenchEngine}, {"spec", cmdBenchSpec}})
}

func cmdBenchEngine(args []string) error {
	fs := newFlags("bench engine", "-m MODEL.gguf [flags]")
	modelPath := fs.String("m", "", "model (GGUF)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	ctx := fs.Int("ctx", 256, "tokens in the cache before the timed passes (and prompt length)")
	reps := fs.Int("reps", 7, "timed passes per batch size (median reported)")
	nsFlag := fs.String("n", "1,2,4,8,16,32,64", "batch sizes")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf")}
	}
	if err := checkInts(intFlag{"threads", *threads, 0, maxThreads}, intFlag{"ctx", *ctx, 1, 1 << 20}, intFlag{"reps", *reps, 1, 1000}); err != nil {
		return err
	}
	var ns []int
	for _, f := range strings.Split(*nsFlag, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
			return fmt.Errorf("-n %q: want a comma-separated list of positive batch sizes", *nsFlag)
		}
		ns = append(ns, n)
	}
	// The machine's limits once before the model takes its memory (and
	// once after its passes, inside Engine).
	nt := *threads
	if nt <= 0 {
		nt = runtime.NumCPU()
	}
	bw, peak := bench.MachineLimits(nt)
	m, err := model.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintln(stdout, m.Describe())
	r, err := bench.Engine(m, *threads, *ctx, *reps, ns)
	if err != nil {
		return err
	}
	r.MergeLimits(bw, peak)
	r.Print(stdout)
	return nil
}

func cmdBenchSpec(args []string) error {
	fs := newFlags("bench spec", "-m MODEL.gguf [--heads H.gguf] --prompts FILE [flags]")
	modelPath := fs.String("m", "", "model (GGUF)")
	headsPath := fs.String("heads", "", "heads (default MODEL.s4c.gguf)")
	promptsPath := fs.String("prompts", "", "JSONL prompts")
	n := fs.Int("n", 256, "new tokens per prompt")
	maxPrompts := fs.Int("max-prompts", 0, "at most this many prompts (0 = all)")
	budget := fs.Int("budget", 0, "draft nodes per pass (0 = automatic)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	params := samplingFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || *promptsPath == "" {
		return usageError{fmt.Errorf("give -m MODEL.gguf and --prompts FILE")}
	}
	if err := checkInts(intFlag{"n", *n, 1, 1 << 20}, intFlag{"max-prompts", *maxPrompts, 0, math.MaxInt},
		intFlag{"budget", *budget, 0, spec.MaxTreeBudget}, intFlag{"threads", *threads, 0, maxThreads}); err != nil {
		return err
	}
	if _, err := readPrompts(*promptsPath, nil); err != nil {
		return err
	}
	sp := params()
	if err := sp.Validate(); err != nil {
		return err
	}
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	h, err := loadHeads(e, *modelPath, *headsPath)
	if err != nil {
		return err
	}
	prompts, err := readPrompts(*promptsPath, e)
	if err != nil {
		return err
	}
	if *maxPrompts > 0 && len(prompts) > *maxPrompts {
		prompts = prompts[:*maxPrompts]
	}
	fmt.Fprintln(stdout, e.Model.Describe())
	r, err := bench.Spec(e, h, prompts, *n, sp, spec.Options{Budget: *budget}, func(i int, r *bench.SpecResult) {
		bar(fmt.Sprintf("bench %s %d/%d prompts, speed-up so far %.2fx, τ %.2f", progressBar(float64(i+1)/float64(len(prompts))), i+1, len(prompts), r.Speedup(), r.Stats.Tau()))
	})
	endBar()
	if err != nil {
		return err
	}
	r.Print(stdout)
	return nil
}
