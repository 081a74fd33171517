package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"s4c/bench"
	"s4c/engine"
	"s4c/heads"
	"s4c/model"
	"s4c/server"
	"s4c/speculative"
	"s4c/tensor"
)

func cmdBench(args []string) error {
	return dispatch("bench", args, []subcommand{{"engine", cmdBenchEngine}, {"spec", cmdBenchSpec}, {"serve", cmdBenchServe}, {"data", cmdBenchData}})
}

// parseMethods reads --methods: known names, each once, plain decoding
// ("none", the reference) first. Empty means the command's default.
func parseMethods(flag string) ([]string, error) {
	if flag == "" {
		return nil, nil
	}
	var methods []string
	seen := map[string]bool{}
	for _, m := range strings.Split(flag, ",") {
		m = strings.TrimSpace(m)
		base, file, at := bench.SplitMethod(m)
		if err := checkMethod("methods", base); err != nil {
			return nil, err
		}
		switch {
		case at && !needsHeads(base):
			return nil, usageError{fmt.Errorf("--methods %q: %s drafts without heads; METHOD@FILE names the heads of a method that has them", m, base)}
		case at && file == "":
			return nil, usageError{fmt.Errorf("--methods %q: give the heads file after @ (e.g. s4c@other.s4c.gguf)", m)}
		}
		if !seen[m] {
			methods = append(methods, m)
			seen[m] = true
		}
	}
	if !seen["none"] {
		methods = append([]string{"none"}, methods...) // the reference
	}
	return methods, nil
}

// intList reads a comma-separated list of integers from lo to hi.
func intList(name, flag string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(flag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, usageError{fmt.Errorf("-%s %q: want a comma-separated list of whole numbers from %d to %d", name, flag, lo, hi)}
		}
		out = append(out, n)
	}
	return out, nil
}

func cmdBenchServe(args []string) error {
	fs := newFlags("bench serve", "-m MODEL.gguf [--heads H.gguf] --prompts FILE [flags]")
	modelPath := fs.String("m", "", "model (GGUF)")
	headsPath := fs.String("heads", "", "S^4C's heads (default MODEL.s4c.gguf)")
	medusaPath := fs.String("medusa-heads", "", "independent heads for the medusa method (default MODEL.medusa.s4c.gguf)")
	draftPath := draftModelFlag(fs)
	headsK := headsKFlag(fs)
	promptsPath := fs.String("prompts", "", "JSONL prompts ({\"prompt\": ...} continued as text, or {\"turns\": [...]} asked as a chat)")
	methodsFlag := fs.String("methods", "", "comma-separated methods: none (plain batched decoding), s4c, medusa, s4c-static, s4c-uncoupled, ngram, s4c+ngram, draft; METHOD@FILE drafts with the heads in FILE (default none,s4c with heads, else none,ngram)")
	concFlag := fs.String("concurrency", "1,4,16", "numbers of clients streaming at once")
	n := fs.Int("n", 128, "new tokens per request")
	requests := fs.Int("requests", 0, "requests per concurrency level and method (0 = twice the concurrency, at least 4)")
	reps := fs.Int("reps", 2, "repetitions of every cell, methods alternating (medians reported)")
	ctx := fs.Int("ctx", 1024, "KV cache tokens per slot")
	budget := fs.Int("budget", 0, "draft nodes per sequence and pass (0 = chosen for the batch)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	outDir := fs.String("out", "", "also write serve.md and serve.json here")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || *promptsPath == "" {
		return usageError{fmt.Errorf("give -m MODEL.gguf and --prompts FILE")}
	}
	if err := checkInts(intFlag{"n", *n, 1, 1 << 20}, intFlag{"requests", *requests, 0, 1 << 20}, intFlag{"reps", *reps, 1, 100}, intFlag{"ctx", *ctx, 8, 1 << 24},
		intFlag{"budget", *budget, 0, speculative.MaxTreeBudget}, intFlag{"threads", *threads, 0, maxThreads}, intFlag{"heads-k", *headsK, 0, heads.MaxK}); err != nil {
		return err
	}
	conc, err := intList("concurrency", *concFlag, 1, 256)
	if err != nil {
		return err
	}
	methods, err := parseMethods(*methodsFlag)
	if err != nil {
		return err
	}
	recs, err := readPromptRecords(*promptsPath)
	if err != nil {
		return err
	}
	reqs := make([]bench.ServeRequest, len(recs))
	for i, r := range recs {
		reqs[i] = bench.ServeRequest{Text: r.Text, Chat: r.Chat}
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := checkWritable(filepath.Join(*outDir, "serve.json")); err != nil {
			return err
		}
	}
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	if methods == nil {
		method, _, err := findDecoder(e, *modelPath, *headsPath, "")
		if err != nil {
			return err
		}
		methods = []string{"none", method}
	}
	opt := speculative.Options{Budget: *budget, Heads: *headsK}
	hds, closeDraft, err := loadMethods(e, *modelPath, methods, *headsPath, *medusaPath, *draftPath, *threads, &opt)
	if err != nil {
		return err
	}
	defer closeDraft()
	if *n >= *ctx {
		return usageError{fmt.Errorf("-n %d does not fit a slot of --ctx %d tokens with its prompt", *n, *ctx)}
	}
	nt := *threads
	if nt <= 0 {
		nt = runtime.NumCPU()
	}
	r, err := bench.Serve(bench.ServeConfig{
		Server:  server.Config{Engine: e, Ctx: *ctx, Options: opt},
		Heads:   hds,
		Methods: methods, Concurrency: conc, Requests: reqs, PerLevel: *requests, Reps: *reps, MaxNew: *n,
		Progress: func(m string, c, done, total int) {
			fmt.Fprintf(os.Stderr, "\r%-10s concurrency %3d: %d/%d requests", m, c, done, total)
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
		}})
	if err != nil {
		return err
	}
	r.Machine, r.Build, r.Model = bench.Machine(nt, tensor.Kernel), bench.Build(), filepath.Base(*modelPath)
	var md strings.Builder
	r.Markdown(&md)
	fmt.Fprint(stdout, md.String())
	if *outDir != "" {
		js, _ := json.MarshalIndent(r, "", "  ")
		for name, b := range map[string][]byte{"serve.md": []byte(md.String()), "serve.json": js} {
			if err := os.WriteFile(filepath.Join(*outDir, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// cmdBenchData measures the three data paths of 'heads train' in one run.
func cmdBenchData(args []string) error {
	fs := newFlags("bench data", "-m MODEL.gguf [flags]")
	modelPath := fs.String("m", "", "model (GGUF)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	parallel := fs.Int("parallel", 16, "sequences per batched pass")
	seqLen := fs.Int("seq-len", 64, "tokens per generated sequence")
	reps := fs.Int("reps", 3, "repetitions (each runs all three ways)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf")}
	}
	if err := checkInts(intFlag{"threads", *threads, 0, maxThreads}, intFlag{"parallel", *parallel, 2, 256},
		intFlag{"seq-len", *seqLen, 8, 1 << 16}, intFlag{"reps", *reps, 1, 1000}); err != nil {
		return err
	}
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	if *seqLen+2 > e.Model.CtxLen {
		return usageError{fmt.Errorf("--seq-len %d: the model's context is %d tokens", *seqLen, e.Model.CtxLen)}
	}
	fmt.Fprintln(stdout, e.Model.Describe())
	nt := e.Model.NewState(1, *threads).Pool.Threads
	var bar *progress
	r, err := bench.Data(e.Model, bench.DataConfig{Parallel: *parallel, SeqLen: *seqLen, Reps: *reps, Threads: nt, BOS: max(e.Tok.BOS, 0), Seed: 1,
		Progress: func(done, total int) {
			if bar == nil {
				bar = newProgress("bench data", int64(total), 0, "passes")
			}
			bar.update(int64(done), "")
		}})
	endBar()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, bench.Machine(nt, tensor.Kernel))
	r.Print(stdout)
	return nil
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
	ns, err := intList("n", *nsFlag, 1, 1<<20)
	if err != nil {
		return err
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
	headsPath := fs.String("heads", "", "S^4C's heads (default MODEL.s4c.gguf)")
	medusaPath := fs.String("medusa-heads", "", "independent heads for the medusa method (default MODEL.medusa.s4c.gguf)")
	promptsPath := fs.String("prompts", "", "JSONL prompts ({\"prompt\": ...})")
	questionsPath := fs.String("questions", "", "Spec-Bench questions (JSONL with category and turns: each turn asked after the model's answer to the one before, through the chat template)")
	methodsFlag := fs.String("methods", "", "comma-separated methods to compare: none (plain), s4c, medusa, s4c-static, s4c-uncoupled, ngram, s4c+ngram, draft; METHOD@FILE drafts with the heads in FILE (default none,s4c with heads, else none,ngram)")
	n := fs.Int("n", 256, "new tokens per prompt (per turn)")
	maxPrompts := fs.Int("max-prompts", 0, "at most this many prompts (0 = all)")
	limit := fs.Int("limit", 0, "at most this many questions per category (0 = all)")
	categories := fs.String("categories", "", "with --questions: only these categories (comma-separated; default all)")
	outDir := fs.String("out", "", "also write compare.md, compare.json and compare.svg here, and progress.jsonl as tasks finish (a rerun resumes from it)")
	fresh := fs.Bool("fresh", false, "with --out: discard a previous run's progress there and start over")
	budget := fs.Int("budget", 0, "draft nodes per pass (0 = automatic)")
	headsK := headsKFlag(fs)
	draftPath := draftModelFlag(fs)
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	params := samplingFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || (*promptsPath == "") == (*questionsPath == "") {
		return usageError{fmt.Errorf("give -m MODEL.gguf and one of --prompts FILE or --questions FILE")}
	}
	if err := checkInts(intFlag{"n", *n, 1, 1 << 20}, intFlag{"max-prompts", *maxPrompts, 0, math.MaxInt}, intFlag{"limit", *limit, 0, math.MaxInt},
		intFlag{"budget", *budget, 0, speculative.MaxTreeBudget}, intFlag{"threads", *threads, 0, maxThreads}, intFlag{"heads-k", *headsK, 0, heads.MaxK}); err != nil {
		return err
	}
	methods, err := parseMethods(*methodsFlag)
	if err != nil {
		return err
	}
	if *promptsPath != "" {
		if _, err := readPrompts(*promptsPath, nil); err != nil {
			return err
		}
	}
	if *categories != "" && *questionsPath == "" {
		return usageError{fmt.Errorf("--categories selects Spec-Bench questions: give --questions FILE too")}
	}
	var tasks []bench.Task
	if *questionsPath != "" {
		var err error
		if tasks, err = readQuestions(*questionsPath); err != nil {
			return err
		}
		if tasks, err = onlyCategories(tasks, *categories); err != nil {
			return usageError{fmt.Errorf("--categories: %w", err)}
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
	opt := speculative.Options{Budget: *budget, Heads: *headsK}
	if methods == nil {
		methods = []string{"none", "s4c"}
		if *headsPath == "" && !heads.Exists(heads.PathFor(*modelPath)) {
			methods = []string{"none", "ngram"}
		}
	}
	hds, closeDraft, err := loadMethods(e, *modelPath, methods, *headsPath, *medusaPath, *draftPath, *threads, &opt)
	if err != nil {
		return err
	}
	defer closeDraft()
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
		if name == "none" {
			m.Gen = func(req engine.Request) ([]int32, speculative.Stats, error) {
				out, st, err := e.GeneratePlain(req)
				return out, speculative.Stats{Stats: st, Rounds: st.GenTokens}, err
			}
		} else {
			hd, base := hds[name], bench.MethodBase(name)
			m.Gen = func(req engine.Request) ([]int32, speculative.Stats, error) {
				return speculative.GenerateWith(e, base, hd, req, opt)
			}
		}
		ms = append(ms, m)
	}
	fmt.Fprintln(stdout, e.Model.Describe())
	co := bench.CompareOptions{}
	if *outDir != "" {
		// The settings a resumed run must share with the one it
		// continues: anything that changes what a task measures.
		settings := fmt.Sprintf("model %s; methods %v; tasks %d (%x); n %d; sampling %+v; budget %d; heads-k %d; heads %v; draft %s",
			e.Model.Fingerprint(), methods, len(tasks), taskHash(tasks), *n, sp, *budget, *headsK, headsPrints(hds), *draftPath)
		prog, done, err := bench.OpenProgress(filepath.Join(*outDir, "progress.jsonl"), settings, *fresh)
		if err != nil {
			return err
		}
		defer prog.Close()
		if len(done) > 0 {
			fmt.Fprintf(os.Stderr, "resuming: %d of %d tasks already measured in %s (--fresh starts over)\n", len(done), len(tasks), *outDir)
		}
		co.Done, co.OnTask = done, prog.Add
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; !ok {
			return
		}
		fmt.Fprintln(os.Stderr, "\ninterrupt: stopping after the task in progress (press Ctrl-C again to quit at once)")
		stop.Store(true)
		<-sig
		os.Exit(130)
	}()
	co.Stop = stop.Load
	// The bar counts the tasks this run does (a resumed run's rate and time
	// left leave out the ones on file).
	ran, before := 0, 0
	for _, d := range co.Done {
		if d != nil {
			before++
		}
	}
	bar := newProgress("bench", int64(len(tasks)), int64(before), "tasks")
	co.Progress = func(done int) {
		if co.Done[done-1] == nil {
			ran++
		}
		bar.update(int64(before+ran), "")
	}
	nt := e.Threads
	if nt <= 0 {
		nt = runtime.NumCPU()
	}
	bw0, _ := bench.MachineLimits(nt)
	r, err := bench.Compare(e, ms, tasks, *n, sp, co)
	endBar()
	if errors.Is(err, bench.ErrStopped) {
		if *outDir == "" {
			return errInterrupted{"interrupted (nothing kept: give --out DIR to make a run resumable)"}
		}
		return errInterrupted{fmt.Sprintf("interrupted; the finished tasks are kept in %s: rerun the same command to resume", filepath.Join(*outDir, "progress.jsonl"))}
	}
	if err != nil {
		return err
	}
	r.Model = e.Model.Describe()
	bw1, _ := bench.MachineLimits(nt)
	r.ReadGBs, r.WeightBytes = max(bw0, bw1)/1e9, e.Model.WeightBytes()
	r.Machine, r.Build = bench.Machine(nt, tensor.Kernel), bench.Build()
	r.Header(stdout)
	fmt.Fprintf(stdout, "%d tasks, up to %d new tokens each (per turn), temperature %g; methods in rotating order, speed-up over plain decoding in the same run\n\n", len(tasks), *n, sp.Temp)
	r.Markdown(stdout)
	if *outDir != "" {
		var md, js strings.Builder
		r.Header(&md)
		fmt.Fprintln(&md)
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
		var svg bytes.Buffer
		title := fmt.Sprintf("%s, %d threads, temperature %g", filepath.Base(*modelPath), nt, sp.Temp)
		if err := r.SVG(&svg, title); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*outDir, "compare.svg"), svg.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(stdout, "wrote compare.md, compare.json and compare.svg to %s\n", *outDir)
	}
	for _, m := range r.Methods {
		if c := r.Cells["all"][m]; c != nil && c.Differ > 0 && sp.Greedy() {
			return fmt.Errorf("%s: %d outputs differ from plain greedy decoding (a bug: it must reproduce it token for token)", m, c.Differ)
		}
	}
	return nil
}

// onlyCategories keeps the tasks of the named categories (a
// comma-separated list; empty: all), in their order. A name no task has
// is an error that lists the ones there are.
func onlyCategories(tasks []bench.Task, list string) ([]bench.Task, error) {
	if strings.TrimSpace(list) == "" {
		return tasks, nil
	}
	have := map[string]bool{}
	var names []string
	for _, t := range tasks {
		if !have[t.Category] {
			have[t.Category] = true
			names = append(names, t.Category)
		}
	}
	want := map[string]bool{}
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !have[c] {
			return nil, fmt.Errorf("no questions of category %q (the file has %s)", c, strings.Join(names, ", "))
		}
		want[c] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("%q names no category (the file has %s)", list, strings.Join(names, ", "))
	}
	var kept []bench.Task
	for _, t := range tasks {
		if want[t.Category] {
			kept = append(kept, t)
		}
	}
	return kept, nil
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

// loadMethods loads what the benchmarked methods need: each one's heads
// (--heads, or --medusa-heads for medusa; beside the model by default; the
// file after @ for METHOD@FILE, so two heads files can be compared in one
// run, alternating prompt by prompt like any two methods) and
// the draft model into opt.Draft; close releases the draft model.
func loadMethods(e *engine.Engine, modelPath string, methods []string, headsPath, medusaPath, draftPath string, threads int, opt *speculative.Options) (hds map[string]*heads.Heads, close func(), err error) {
	close = func() {}
	if slices.Contains(methods, "draft") || draftPath != "" {
		if !slices.Contains(methods, "draft") {
			return nil, close, usageError{fmt.Errorf("--draft-model is for the draft method: add it to --methods")}
		}
		if opt.Draft, err = loadDraftModel("draft", draftPath, threads); err != nil {
			return nil, close, err
		}
		close = func() { opt.Draft.Close() }
	}
	hds = map[string]*heads.Heads{}
	loaded := map[string]*heads.Heads{} // by flag: s4c, s4c-static and s4c+ngram share one file
	for _, m := range methods {
		base, file, at := bench.SplitMethod(m)
		p, flag := headsPath, "--heads"
		if base == "medusa" {
			p, flag = medusaPath, "--medusa-heads"
		}
		key := flag // the file's flag, or its path for METHOD@FILE
		if at {
			p, flag, key = file, "--methods "+m, "@"+file
		}
		if h, ok := loaded[key]; ok && needsHeads(base) {
			hds[m] = h
		} else if hds[m], err = methodHeads(e, modelPath, base, p, flag); err != nil {
			close()
			return nil, func() {}, err
		} else if hds[m] != nil {
			loaded[key] = hds[m]
		}
		if base != "none" {
			// Refuse a method that cannot run before any work (a fixed
			// budget skips measuring costs: this only checks).
			check := *opt
			check.Budget = 1
			if _, err := speculative.NewDecoder(e, base, hds[m], check); err != nil {
				close()
				return nil, func() {}, err
			}
		}
	}
	return hds, close, nil
}

// taskHash fingerprints the tasks (categories, prompts, turns) so that a
// resumed run is known to measure the same ones.
func taskHash(tasks []bench.Task) []byte {
	h := sha256.New()
	for _, t := range tasks {
		fmt.Fprintf(h, "%q %v %q\n", t.Category, t.Prompt, t.Turns)
	}
	return h.Sum(nil)[:8]
}

// headsPrints names the heads each method drafts with, for the settings
// of a resumable run.
func headsPrints(hds map[string]*heads.Heads) string {
	var out []string
	for m, h := range hds {
		if h != nil {
			out = append(out, fmt.Sprintf("%s:%x", m, sha256.Sum256(fmt.Append(nil, h.Report, h.K, h.Hidden, h.Independent, h.H[0].W1[:min(64, len(h.H[0].W1))]))))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
