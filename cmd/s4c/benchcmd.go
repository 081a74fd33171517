package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"s4c/bench"
	"s4c/engine"
	"s4c/heads"
	"s4c/model"
	"s4c/spec"
	"s4c/tensor"
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
	fs := newFlags("bench spec", "-m MODEL.gguf [--heads H.gguf] (--prompts FILE | --questions FILE) [flags]")
	modelPath := fs.String("m", "", "model (GGUF)")
	headsPath := fs.String("heads", "", "heads (default MODEL.s4c.gguf)")
	promptsPath := fs.String("prompts", "", "JSONL prompts ({\"prompt\": ...})")
	questionsPath := fs.String("questions", "", "Spec-Bench questions (JSONL with category and turns: each turn asked after the model's answer to the one before, through the chat template)")
	methodsFlag := fs.String("methods", "", "comma-separated methods to compare: none (plain), s4c, ngram, s4c+ngram (default none,s4c with heads, else none,ngram)")
	n := fs.Int("n", 256, "new tokens per prompt (per turn)")
	maxPrompts := fs.Int("max-prompts", 0, "at most this many prompts (0 = all)")
	limit := fs.Int("limit", 0, "at most this many questions per category (0 = all)")
	outDir := fs.String("out", "", "also write compare.md and compare.json here")
	budget := fs.Int("budget", 0, "draft nodes per pass (0 = automatic)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	params := samplingFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || (*promptsPath == "") == (*questionsPath == "") {
		return usageError{fmt.Errorf("give -m MODEL.gguf and one of --prompts FILE or --questions FILE")}
	}
	if err := checkInts(intFlag{"n", *n, 1, 1 << 20}, intFlag{"max-prompts", *maxPrompts, 0, math.MaxInt}, intFlag{"limit", *limit, 0, math.MaxInt},
		intFlag{"budget", *budget, 0, spec.MaxTreeBudget}, intFlag{"threads", *threads, 0, maxThreads}); err != nil {
		return err
	}
	var methods []string
	if *methodsFlag != "" {
		seen := map[string]bool{}
		for _, m := range strings.Split(*methodsFlag, ",") {
			m = strings.TrimSpace(m)
			if _, ok := methodNames[m]; !ok {
				return usageError{fmt.Errorf("--methods: unknown method %q (want none, s4c, ngram, s4c+ngram)", m)}
			}
			if !seen[m] {
				methods = append(methods, m)
				seen[m] = true
			}
		}
		if !seen["none"] {
			methods = append([]string{"none"}, methods...) // the reference
		}
	}
	if *promptsPath != "" {
		if _, err := readPrompts(*promptsPath, nil); err != nil {
			return err
		}
	}
	var tasks []bench.Task
	if *questionsPath != "" {
		var err error
		if tasks, err = readQuestions(*questionsPath); err != nil {
			return err
		}
		if *limit > 0 {
			per := map[string]int{}
			kept := tasks[:0]
			for _, t := range tasks {
				if per[t.Category] < *limit {
					per[t.Category]++
					kept = append(kept, t)
				}
			}
			tasks = kept
		}
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := checkWritable(filepath.Join(*outDir, "compare.json")); err != nil {
			return err
		}
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
	opt := spec.Options{Budget: *budget}
	var h *heads.Heads
	if methods == nil || slices.Contains(methods, "s4c") || slices.Contains(methods, "s4c+ngram") {
		h, err = loadHeads(e, *modelPath, *headsPath)
		switch {
		case err == nil && methods == nil:
			methods = []string{"none", "s4c"}
		case err != nil && methods == nil:
			methods = []string{"none", "ngram"}
		case err != nil:
			return err
		}
	}
	if *promptsPath != "" {
		prompts, err := readPrompts(*promptsPath, e)
		if err != nil {
			return err
		}
		for _, p := range prompts {
			tasks = append(tasks, bench.Task{Category: "prompts", Prompt: p})
		}
	}
	if *maxPrompts > 0 && len(tasks) > *maxPrompts {
		tasks = tasks[:*maxPrompts]
	}
	var ms []bench.Method
	for _, name := range methods {
		m := bench.Method{Name: name}
		switch name {
		case "none":
			m.Gen = func(req engine.Request) ([]int32, spec.Stats, error) {
				out, st, err := e.GeneratePlain(req)
				return out, spec.Stats{Stats: st, Rounds: st.GenTokens}, err
			}
		case "s4c":
			m.Gen = func(req engine.Request) ([]int32, spec.Stats, error) { return spec.Generate(e, h, req, opt) }
		case "ngram":
			m.Gen = func(req engine.Request) ([]int32, spec.Stats, error) { return spec.GenerateNgram(e, req, opt) }
		case "s4c+ngram":
			m.Gen = func(req engine.Request) ([]int32, spec.Stats, error) { return spec.GenerateUnion(e, h, req, opt) }
		}
		ms = append(ms, m)
	}
	fmt.Fprintln(stdout, e.Model.Describe())
	start := time.Now()
	r, err := bench.Compare(e, ms, tasks, *n, sp, func(done int) {
		eta := time.Duration(float64(time.Since(start)) / float64(done) * float64(len(tasks)-done)).Round(time.Second)
		bar(fmt.Sprintf("bench %s %d/%d, ETA %s", progressBar(float64(done)/float64(len(tasks))), done, len(tasks), eta))
	})
	endBar()
	if err != nil {
		return err
	}
	r.Model = e.Model.Describe()
	nt := e.Threads
	if nt <= 0 {
		nt = runtime.NumCPU()
	}
	r.Machine, r.Build = bench.Machine(nt, tensor.Kernel), bench.Build()
	fmt.Fprintf(stdout, "machine: %s; build %s\n", r.Machine, r.Build)
	fmt.Fprintf(stdout, "%d tasks, up to %d new tokens each (per turn), temperature %g; methods in rotating order, speed-up over plain decoding in the same run\n\n", len(tasks), *n, sp.Temp)
	r.Markdown(stdout)
	if *outDir != "" {
		var md, js strings.Builder
		r.Markdown(&md)
		if err := r.JSON(&js); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*outDir, "compare.md"), []byte(md.String()), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := os.WriteFile(filepath.Join(*outDir, "compare.json"), []byte(js.String()), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	for _, m := range r.Methods {
		if c := r.Cells["all"][m]; c != nil && c.Differ > 0 && sp.Greedy() {
			return fmt.Errorf("%s: %d outputs differ from plain greedy decoding (a bug: it must reproduce it token for token)", m, c.Differ)
		}
	}
	return nil
}

// readQuestions reads Spec-Bench questions: JSONL objects with a category
// and the user's turns.
func readQuestions(path string) ([]bench.Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("questions file: %w", err)
	}
	defer f.Close()
	var out []bench.Task
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var q struct {
			Category string   `json:"category"`
			Turns    []string `json:"turns"`
		}
		if err := json.Unmarshal([]byte(text), &q); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		if q.Category == "" || len(q.Turns) == 0 {
			return nil, fmt.Errorf("%s:%d: want {\"category\": \"...\", \"turns\": [\"...\", ...]}", path, line)
		}
		out = append(out, bench.Task{Category: q.Category, Turns: q.Turns})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no questions", path)
	}
	return out, nil
}
