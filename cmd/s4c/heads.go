package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"s4c/bench"
	"s4c/chat"
	"s4c/engine"
	"s4c/gguf"
	"s4c/heads"
	"s4c/internal/sysmem"
	"s4c/sample"
	"s4c/speculative"
)

func cmdHeads(args []string) error {
	return dispatch("heads", args, []subcommand{{"train", cmdHeadsTrain}, {"eval", cmdHeadsEval}, {"inflate", cmdHeadsInflate}, {"vocab", cmdHeadsVocab}, {"convert", cmdHeadsConvert}})
}

// promptRecord is one line of a prompts file: a text to continue, or the
// first turn of a chat (Spec-Bench's {"turns": [...]}).
type promptRecord struct {
	Text string
	Chat bool
}

// readPromptRecords reads a JSONL file of {"prompt": "..."} or Spec-Bench
// {"turns": ["...", ...]} lines (first turn only).
func readPromptRecords(path string) ([]promptRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompts file: %w", err)
	}
	defer f.Close()
	var out []promptRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var rec struct {
			Prompt *string  `json:"prompt"`
			Turns  []string `json:"turns"`
		}
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		switch {
		case rec.Prompt != nil:
			out = append(out, promptRecord{Text: *rec.Prompt})
		case len(rec.Turns) > 0:
			out = append(out, promptRecord{Text: rec.Turns[0], Chat: true})
		default:
			return nil, fmt.Errorf(`%s:%d: want {"prompt": "..."} or {"turns": ["..."]}`, path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no prompts", path)
	}
	return out, nil
}

// readPrompts reads a prompts file (readPromptRecords) and returns the
// prompts' tokens (chat turns rendered with the model's chat template).
// With e nil it only checks the file (the returned prompts are nil).
func readPrompts(path string, e *engine.Engine) ([][]int32, error) {
	recs, err := readPromptRecords(path)
	if err != nil {
		return nil, err
	}
	out := make([][]int32, len(recs))
	for i, r := range recs {
		switch {
		case e == nil:
		case r.Chat:
			if out[i], err = e.EncodeChat([]chat.Message{{Role: "user", Content: r.Text}}); err != nil {
				return nil, fmt.Errorf("%s: prompt %d: %v", path, i+1, err)
			}
		default:
			out[i] = e.Encode(r.Text)
		}
	}
	return out, nil
}

func cmdHeadsTrain(args []string) error {
	fs := newFlags("heads train", "-m MODEL.gguf [-o MODEL.s4c.gguf] [flags]")
	modelPath := fs.String("m", "", "target model (GGUF)")
	outPath := fs.String("o", "", "heads file to write (default MODEL.s4c.gguf beside the model)")
	promptsPath := fs.String("prompts", "", `JSONL prompts ({"prompt": ...} or {"turns": [...]}); default: start from BOS alone`)
	tokens := fs.Int("tokens", 0, "positions of data to train on (0 = chosen from the model's size)")
	seqLen := fs.Int("seq-len", 256, "tokens generated per sequence")
	epochs := fs.Int("epochs", 0, "passes over the data (0 = chosen from the model's size)")
	count := fs.Int("heads-count", 4, "number of draft heads K")
	hidden := fs.Int("hidden", 0, "hidden units per head (0 = chosen from the model's size)")
	lr := fs.Float64("lr", 3e-3, "peak learning rate (AdamW)")
	wd := fs.Float64("weight-decay", 0.01, "AdamW weight decay")
	batch := fs.Int("batch", 64, "examples per optimiser step")
	greedyFrac := fs.Float64("greedy", 0.5, "fraction of sequences decoded greedily (the rest sampled)")
	temp := fs.Float64("temp", 0.8, "temperature of the sampled sequences")
	sampledStart := fs.Int("sampled-start", 32, "greedy sequences without prompts start with 3..N tokens sampled at temperature 1, for varied contexts")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	seed := fs.Uint64("seed", 1, "random seed (training is deterministic for a given seed and thread count)")
	dataPath := fs.String("data", "", "where to keep the generated data (default OUT.data)")
	resume := fs.Bool("resume", false, "continue from the last checkpoint (OUT.ckpt)")
	ckptEvery := fs.Int("checkpoint-every", 500, "write a checkpoint (OUT.ckpt) every this many optimiser steps")
	independent := fs.Bool("independent", false, "train Medusa-style independent heads (each sees only the target's state; for --spec medusa, the coherence ablation)")
	parallel := fs.Int("parallel", 16, "sequences generated together, each token of all of them in one forward pass (the data are the same; 1 = one at a time)")
	draftVocab := fs.Int("draft-vocab", -1, "heads propose only the N tokens most frequent in the training data (0 = the whole vocabulary; default: 16384 for vocabularies over 32768, else all): drafting cost stops growing with the vocabulary")
	typ := fs.String("type", "", "how the heads' weights are stored and multiplied: f32 or f16 (half the bytes per draft step; default: f16 for models of 100M parameters and more, else f32)")
	textPath := fs.String("text", "", `teacher-forced data: the model reads this text (plain text, or JSONL lines with "text", "prompt" or chat "messages") at prompt speed instead of generating; the heads learn its own predictions on it`)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf")}
	}
	wtype, err := headsType(*typ)
	if err != nil {
		return err
	}
	if *textPath != "" {
		if _, err := os.Stat(*textPath); err != nil {
			return fmt.Errorf("--text: %v", err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["draft-vocab"] && *draftVocab < 0 {
		return usageError{fmt.Errorf("--draft-vocab %d: want 0 (the whole vocabulary) or a number of tokens", *draftVocab)}
	}
	// 0 asks for the default chosen from the model's size, once the model
	// is loaded; other values are checked now.
	for _, f := range []intFlag{{"tokens", *tokens, 1000, 1 << 30}, {"epochs", *epochs, 1, 10000}, {"hidden", *hidden, 1, heads.MaxHidden}} {
		if f.v != 0 {
			if err := checkInts(f); err != nil {
				return err
			}
		}
	}
	if err := checkInts(intFlag{"heads-count", *count, 1, heads.MaxK},
		intFlag{"seq-len", *seqLen, *count + 4, 1 << 16}, intFlag{"batch", *batch, 1, 1 << 16},
		intFlag{"sampled-start", *sampledStart, 3, *seqLen - 1}, intFlag{"threads", *threads, 0, maxThreads},
		intFlag{"checkpoint-every", *ckptEvery, 1, math.MaxInt}, intFlag{"parallel", *parallel, 1, 256}); err != nil {
		return err
	}
	if err := checkFloats(floatFlag{"lr", *lr, 0, 1, true}, floatFlag{"weight-decay", *wd, 0, 1, false},
		floatFlag{"greedy", *greedyFrac, 0, 1, false}, floatFlag{"temp", *temp, 0, 100, true}); err != nil {
		return err
	}

	if *outPath == "" {
		*outPath = heads.PathFor(*modelPath)
		if *independent {
			*outPath = heads.IndependentPathFor(*modelPath)
		}
	}
	named := *dataPath != ""
	if !named {
		*dataPath = *outPath + ".data"
	}
	if !*resume && heads.Exists(*dataPath) {
		// Data are never thrown away: they may be hours of generation,
		// left by an interrupted run or meant for another run
		// (independent heads on the same data, for the ablation).
		flag := "--data " + *dataPath
		if !named {
			flag = *dataPath + " (an earlier run's data)"
		}
		return usageError{fmt.Errorf("%s exists: add --resume to train on it (and generate more if it holds fewer than --tokens), or remove it to start over", flag)}
	}
	ckpt := *outPath + ".ckpt"
	// Hours of work must not end in a write error: every place this run
	// writes is checked first.
	for _, p := range []string{*outPath, *dataPath, ckpt} {
		if err := checkWritable(p); err != nil {
			return err
		}
	}
	if *resume && !heads.Exists(ckpt) && !heads.Exists(*dataPath) {
		return fmt.Errorf("--resume: no checkpoint %s or data %s to resume from", ckpt, *dataPath)
	}
	// Check the prompts file before any work.
	if *promptsPath != "" {
		if _, err := readPrompts(*promptsPath, nil); err != nil {
			return err
		}
	}
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	params := e.Model.Params()
	def := heads.DefaultsFor(e.Model.Dim, e.Model.Vocab, params)
	var chosen []string
	for _, d := range []struct {
		name       string
		v          *int
		def, unset int // unset: the flag's value when not given
	}{{"hidden", hidden, def.Hidden, 0}, {"tokens", tokens, def.Tokens, 0}, {"epochs", epochs, def.Epochs, 0}, {"draft-vocab", draftVocab, def.DraftVocab, -1}} {
		if *d.v == d.unset {
			*d.v = d.def
			chosen = append(chosen, fmt.Sprintf("--%s %d", d.name, d.def))
		}
	}
	if *typ == "" {
		wtype = def.Type
		chosen = append(chosen, "--type "+strings.ToLower(wtype.String()))
	}
	if len(chosen) > 0 {
		size := fmt.Sprintf("%.1fM", float64(params)/1e6)
		if params >= 1e9 {
			size = fmt.Sprintf("%.2fB", float64(params)/1e9)
		}
		fmt.Fprintf(os.Stderr, "for a model of %s parameters, width %d, %d tokens: %s\n", size, e.Model.Dim, e.Model.Vocab, strings.Join(chosen, " "))
	}
	nthreads := e.Model.NewState(1, *threads).Pool.Threads
	vocab := e.Model.Vocab
	if *draftVocab > 0 {
		vocab = min(vocab, *draftVocab)
	}
	if err := sysmem.Check(heads.TrainBytes(*count, e.Model.Dim, *hidden, vocab, nthreads),
		fmt.Sprintf("training %d heads of %d hidden units for a model of width %d", *count, *hidden, e.Model.Dim),
		"lower --hidden or --heads-count"); err != nil {
		return err
	}
	var prompts [][]int32
	if *promptsPath != "" {
		if prompts, err = readPrompts(*promptsPath, e); err != nil {
			return err
		}
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "\ninterrupt: saving a checkpoint (press Ctrl-C again to quit at once)")
		stop.Store(true)
		<-sig
		os.Exit(130)
	}()

	var texts [][]int32
	if *textPath != "" {
		if texts, err = readTexts(*textPath, e); err != nil {
			return err
		}
		n := 0
		for _, t := range texts {
			n += len(t)
		}
		if n < *count+2 {
			return fmt.Errorf("--text %s: %d tokens of text; heads need much more (tens of thousands of tokens)", *textPath, n)
		}
		if n < *tokens {
			fmt.Fprintf(os.Stderr, "--text %s holds %d tokens, fewer than --tokens %d: training on all of them\n", *textPath, n, *tokens)
			*tokens = n
		}
	}

	// 1. Data.
	t0 := time.Now()
	gen := heads.GenConfig{Prompts: prompts, BOS: max(e.Tok.BOS, 0), SeqLen: *seqLen, Greedy: *greedyFrac, Temp: float32(*temp), SampledStart: *sampledStart,
		Seed: *seed, Threads: nthreads, Stop: stop.Load, Parallel: *parallel,
		Progress: dataProgress("data", *tokens, "sequences")}
	if texts != nil {
		err = generateFromText(*dataPath, e, texts, *tokens, *seqLen, nthreads, stop.Load)
	} else {
		err = heads.Generate(*dataPath, e.Model, *tokens, gen)
	}
	if err != nil {
		if err == heads.ErrInterrupted {
			endBar()
			return errInterrupted{fmt.Sprintf("data generation interrupted; what was generated is kept in %s: rerun with --resume", *dataPath)}
		}
		return err
	}
	endBar()
	ds, _, err := heads.OpenDataset(*dataPath, e.Model)
	if err != nil {
		return err
	}
	defer ds.Close()

	// 2. Train.
	h := heads.New(e.Model, *count, *hidden, *seed)
	h.Independent = *independent
	if *draftVocab > 0 && *draftVocab < e.Model.Vocab {
		// The same data give the same vocabulary, so a resumed run keeps it.
		texts := make([][]int32, len(ds.Seqs))
		for i := range ds.Seqs {
			texts[i] = ds.Seqs[i].Tokens
		}
		if err := h.SetDraftVocab(e.Model, heads.FrequentTokens(texts, e.Model.Vocab, *draftVocab, eogTokens(e))); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "draft vocabulary: the %d most frequent of %d tokens\n", h.Vocab(e.Model), e.Model.Vocab)
	}
	cfg := heads.TrainConfig{Epochs: *epochs, LR: *lr, WeightDecay: *wd, Batch: *batch, HoldOut: 0.05, Seed: *seed,
		Threads: nthreads, TopK: 8, Checkpoint: ckpt, CheckpointEvery: *ckptEvery, Stop: stop.Load}
	tr := heads.NewTrainer(h, e.Model, cfg)
	if *resume && heads.Exists(ckpt) {
		if err := tr.LoadCheckpoint(ckpt); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "resuming at step %d (epoch %d)\n", tr.Step, tr.Ep+1)
	}
	t1 := time.Now()
	var bar *progress
	tr.Cfg.Progress = func(p heads.Progress) {
		acc := ""
		for k, a := range p.Acc {
			acc += fmt.Sprintf(" h%d %.2f", k+1, a)
		}
		if bar == nil {
			bar = newProgress("train", int64(p.Steps), int64(p.Step-1), "steps")
		}
		bar.update(int64(p.Step), fmt.Sprintf("epoch %d/%d loss %.3f acc%s | %.0f ex/s", p.Epoch, p.Epochs, p.Loss, acc, p.ExamplesPerS))
	}
	if err := tr.Train(ds); err != nil {
		if err == heads.ErrInterrupted {
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				return err
			}
			endBar()
			return errInterrupted{fmt.Sprintf("interrupted; checkpoint saved to %s: continue with --resume", ckpt)}
		}
		return err
	}
	endBar()
	trainTime := time.Since(t1)

	// 3. Report.
	ev := tr.Evaluate(ds)
	fmt.Fprintf(stdout, "held-out (%d positions, teacher forced):\n", ev.Examples)
	for k := range ev.Top1 {
		fmt.Fprintf(stdout, "  head %d: top-1 %.3f  top-8 %.3f  loss %.3f\n", k+1, ev.Top1[k], ev.TopK[k], ev.Loss[k])
		h.Report[fmt.Sprintf("head%d.top1", k+1)] = fmt.Sprintf("%.4f", ev.Top1[k])
		h.Report[fmt.Sprintf("head%d.top8", k+1)] = fmt.Sprintf("%.4f", ev.TopK[k])
	}
	h.SetRankAccept(ev.Rank)
	// Real τ of the default tree, decoding with S^4C from up to four
	// openings: the last prompts given, else the openings of the last
	// texts (their continuations are the model's own, not the text's),
	// else those of held-out sequences (generated from BOS, their first
	// tokens sampled, so they differ from one another and the heads never
	// trained on them).
	evalPrompts, from := prompts, "of the prompts"
	if len(evalPrompts) == 0 && len(texts) > 0 {
		from = "openings of the last texts"
		for _, t := range texts[max(0, len(texts)-4):] {
			evalPrompts = append(evalPrompts, t[:min(len(t), 16)])
		}
	}
	if len(evalPrompts) == 0 {
		from = "openings of held-out sequences"
		for si := max(tr.Split(ds), len(ds.Seqs)-4); si < len(ds.Seqs); si++ {
			if t := ds.Seqs[si].Tokens; len(t) > 1 {
				evalPrompts = append(evalPrompts, t[:min(len(t), 16)])
			}
		}
	}
	if len(evalPrompts) == 0 {
		evalPrompts, from = [][]int32{e.Encode("")}, "BOS alone"
	}
	if len(evalPrompts) > 4 {
		evalPrompts = evalPrompts[len(evalPrompts)-4:]
	}
	st, err := measureTau(e, h, evalPrompts, 128)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s decoding (greedy, default tree, %d prompts x 128 tokens, %s): %s\n", methodNames[headsMethod(h)], len(evalPrompts), from, st.Summary())
	h.Report["tau"] = fmt.Sprintf("%.3f", st.Tau())
	h.Report["train.tokens"] = fmt.Sprint(ds.Tokens())
	h.Report["train.epochs"] = fmt.Sprint(*epochs)
	h.Report["train.seconds"] = fmt.Sprintf("%.0f", time.Since(t0).Seconds())
	if err := h.SetType(wtype); err != nil {
		return err
	}
	if err := h.Save(*outPath); err != nil {
		return err
	}
	os.Remove(ckpt)
	fmt.Fprintf(stdout, "wrote %s (data %s, training %s, total %s)\n", *outPath, t1.Sub(t0).Round(time.Second), trainTime.Round(time.Second), time.Since(t0).Round(time.Second))
	return nil
}

// generateFromText writes teacher-forced data: the model reads texts in
// passes of seqLen tokens.
func generateFromText(path string, e *engine.Engine, texts [][]int32, want, seqLen, threads int, stop func() bool) error {
	_, err := heads.GenerateFromText(path, e.Model, texts, want, heads.TextConfig{SeqLen: seqLen, Window: min(e.Model.CtxLen, 4096),
		BOS: max(e.Tok.BOS, 0), Threads: threads, Stop: stop, Progress: dataProgress("data (teacher forced)", want, "records")})
	return err
}

// dataProgress draws the data phase's bar. Its first call gives what is
// on file already, so that a resumed run's rate and ETA count only the
// tokens it makes itself.
func dataProgress(what string, want int, unit string) func(seqs, toks int) {
	var bar *progress
	return func(seqs, toks int) {
		if bar == nil {
			bar = newProgress(what, int64(want), int64(toks), "tokens")
		}
		bar.update(int64(toks), fmt.Sprintf("%d %s", seqs, unit))
	}
}

// measureTau decodes prompts greedily with S^4C (automatic budget off: a
// fixed default-size tree, so τ measures the heads) and sums the stats.
func measureTau(e *engine.Engine, h *heads.Heads, prompts [][]int32, n int) (speculative.Stats, error) {
	var tot speculative.Stats
	for _, ids := range prompts {
		_, st, err := speculative.GenerateWith(e, headsMethod(h), h, engine.Request{Prompt: ids, MaxTokens: n, Sampling: sample.Params{TopP: 1, RepeatPenalty: 1}, IgnoreEOG: true},
			speculative.Options{Budget: speculative.DefaultBudget})
		if err != nil {
			return tot, err
		}
		tot.Add(st)
	}
	return tot, nil
}

func cmdHeadsEval(args []string) error {
	fs := newFlags("heads eval", "-m MODEL.gguf --heads H.gguf [--prompts FILE] [flags]")
	modelPath := fs.String("m", "", "target model (GGUF)")
	headsPath := fs.String("heads", "", "heads file (default MODEL.s4c.gguf)")
	promptsPath := fs.String("prompts", "", "JSONL prompts (default: start from BOS)")
	n := fs.Int("n", 256, "tokens per prompt")
	maxPrompts := fs.Int("max-prompts", 0, "use at most this many prompts (0 = all)")
	budget := fs.Int("budget", speculative.DefaultBudget, "draft nodes per pass (0 = automatic from measured costs)")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	write := fs.Bool("write", false, "also measure the heads' acceptance per depth and rank on the plain outputs (teacher forced) and record it in the heads file (s4c-static builds its tree from it)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf")}
	}
	if *headsPath == "" {
		*headsPath = heads.PathFor(*modelPath)
	}
	if *write {
		if err := checkWritable(*headsPath); err != nil {
			return err
		}
	}
	if err := checkInts(intFlag{"n", *n, 1, 1 << 20}, intFlag{"max-prompts", *maxPrompts, 0, math.MaxInt},
		intFlag{"budget", *budget, 0, speculative.MaxTreeBudget}, intFlag{"threads", *threads, 0, maxThreads}); err != nil {
		return err
	}
	if *promptsPath != "" {
		if _, err := readPrompts(*promptsPath, nil); err != nil {
			return err
		}
	}
	e, h, err := loadWithHeads(*modelPath, *headsPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	prompts := [][]int32{e.Encode("")}
	if *promptsPath != "" {
		if prompts, err = readPrompts(*promptsPath, e); err != nil {
			return err
		}
	}
	if *maxPrompts > 0 && len(prompts) > *maxPrompts {
		prompts = prompts[:*maxPrompts]
	}
	bar := newProgress("eval", int64(len(prompts)), 0, "prompts")
	r, err := bench.Spec(e, h, prompts, *n, sample.Params{TopP: 1, RepeatPenalty: 1}, speculative.Options{Budget: *budget}, func(i int, r *bench.SpecResult) {
		bar.update(int64(i+1), fmt.Sprintf("τ %.2f", r.Stats.Tau()))
	})
	endBar()
	if err != nil {
		return err
	}
	if !r.Identical {
		return fmt.Errorf("%s output differs from plain greedy decoding (a bug; please report)", methodNames[r.Method])
	}
	r.Print(stdout)
	if *write {
		texts, from := make([][]int32, len(prompts)), make([]int, len(prompts))
		for i, p := range prompts {
			texts[i] = append(append([]int32(nil), p...), r.Outputs[i]...)
			from[i] = len(p) - 1 // the prompt's last state predicts the first new token
		}
		acc, err := h.MeasureRankAccept(e.Model, texts, from, 8, *threads)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "acceptance per depth and rank (teacher forced on the plain outputs):")
		for d, row := range acc {
			fmt.Fprintf(stdout, "  depth %d:", d+1)
			for _, a := range row {
				fmt.Fprintf(stdout, " %.3f", a)
			}
			fmt.Fprintln(stdout)
		}
		h.SetRankAccept(acc)
		if err := h.Save(*headsPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "recorded in %s\n", *headsPath)
	}
	return nil
}

// headsMethod is the decoding method heads are made for: S^4C's dynamic
// tree for coherent heads, medusa for independent ones.
func headsMethod(h *heads.Heads) string {
	if h.Independent {
		return "medusa"
	}
	return "s4c"
}

// eogTokens are the end-of-generation tokens a draft vocabulary keeps.
func eogTokens(e *engine.Engine) []int32 {
	var ids []int32
	for id := range e.Model.Vocab {
		if e.Tok.IsEOG(int32(id)) {
			ids = append(ids, int32(id))
		}
	}
	return ids
}

// cmdHeadsVocab is 's4c heads vocab': gives trained heads a draft
// vocabulary, the tokens most frequent in a text, without retraining (the
// heads' weights do not depend on the vocabulary; their LM head is the
// target's output layer).
func cmdHeadsVocab(args []string) error {
	fs := newFlags("heads vocab", "-m MODEL.gguf [--heads H.s4c.gguf] --draft-vocab N --text FILE [-o OUT.s4c.gguf]")
	modelPath := fs.String("m", "", "target model (GGUF)")
	headsPath := fs.String("heads", "", "heads file (default MODEL.s4c.gguf)")
	n := fs.Int("draft-vocab", 0, "tokens the heads propose: the N most frequent in the text (0 = the whole vocabulary again)")
	textPath := fs.String("text", "", `text the model will produce, to count tokens in: plain text, or JSONL with "text", "prompt" or chat "messages" fields`)
	out := fs.String("o", "", "heads file to write (default: rewrite --heads)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || (*n > 0 && *textPath == "") {
		return usageError{fmt.Errorf("give -m MODEL.gguf, and --text FILE to count tokens in")}
	}
	if *n < 0 {
		return usageError{fmt.Errorf("--draft-vocab %d: want 0 (the whole vocabulary) or a number of tokens", *n)}
	}
	e, h, err := loadHeadsToRewrite(*modelPath, headsPath, out)
	if err != nil {
		return err
	}
	defer e.Close()
	if *n == 0 || *n >= e.Model.Vocab {
		h.SetDraftVocab(e.Model, nil)
	} else {
		texts, err := readTexts(*textPath, e)
		if err != nil {
			return err
		}
		total := 0
		for _, t := range texts {
			total += len(t)
		}
		if total == 0 {
			return fmt.Errorf("%s: no text to count tokens in", *textPath)
		}
		if err := h.SetDraftVocab(e.Model, heads.FrequentTokens(texts, e.Model.Vocab, *n, eogTokens(e))); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "counted %d tokens of %s\n", total, *textPath)
	}
	if err := h.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: heads propose %d of %d tokens\n", *out, h.Vocab(e.Model), e.Model.Vocab)
	return nil
}

// readTexts reads a text file as token sequences: JSONL records' "text"
// or "prompt" fields if every non-empty line is a JSON object, else the
// whole file as one text.
func readTexts(path string, e *engine.Engine) ([][]int32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var texts [][]int32
	lines := strings.Split(string(b), "\n")
	jsonl := true
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		var rec struct {
			Text, Prompt *string
			Messages     []chat.Message
		}
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &rec) != nil {
			if len(texts) == 0 { // the first non-empty line: plain text
				jsonl = false
				break
			}
			return nil, fmt.Errorf("%s: line %d is not a JSON object, though the lines before it were", path, i+1)
		}
		switch {
		case rec.Text != nil:
			texts = append(texts, e.Encode(*rec.Text))
		case rec.Prompt != nil:
			texts = append(texts, e.Encode(*rec.Prompt))
		case len(rec.Messages) > 0:
			ids, err := e.EncodeChat(rec.Messages)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: %v", path, i+1, err)
			}
			texts = append(texts, ids)
		default:
			return nil, fmt.Errorf(`%s: line %d has no "text", "prompt" or "messages" field`, path, i+1)
		}
	}
	if !jsonl {
		texts = [][]int32{e.Encode(string(b))}
	}
	return texts, nil
}

// loadWithHeads loads a model and its heads (the engine is closed again
// if the heads do not load).
func loadWithHeads(modelPath, headsPath string, threads int) (*engine.Engine, *heads.Heads, error) {
	e, err := engine.Load(modelPath, threads)
	if err != nil {
		return nil, nil, err
	}
	h, err := heads.Load(headsPath, e.Model)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return e, h, nil
}

// headsType reads a --type value for heads weights ("" is the default,
// F32 until chosen).
func headsType(v string) (gguf.TensorType, error) {
	switch strings.ToLower(v) {
	case "", "f32":
		return gguf.F32, nil
	case "f16":
		return gguf.F16, nil
	}
	return 0, usageError{fmt.Errorf("--type %q: heads weights are f32 or f16", v)}
}

// cmdHeadsConvert rewrites a heads file with its weights stored as f16 or
// f32 (f16 halves what each draft step reads; the values are rounded once).
func cmdHeadsConvert(args []string) error {
	fs := newFlags("heads convert", "-m MODEL.gguf [--heads H.s4c.gguf] --type f16|f32 [-o OUT.s4c.gguf]")
	modelPath := fs.String("m", "", "target model (GGUF)")
	headsPath := fs.String("heads", "", "heads file (default MODEL.s4c.gguf)")
	typ := fs.String("type", "", "f16 or f32")
	out := fs.String("o", "", "heads file to write (default: rewrite --heads)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" || *typ == "" {
		return usageError{fmt.Errorf("give -m MODEL.gguf and --type f16|f32")}
	}
	wtype, err := headsType(*typ)
	if err != nil {
		return err
	}
	e, h, err := loadHeadsToRewrite(*modelPath, headsPath, out)
	if err != nil {
		return err
	}
	defer e.Close()
	was := h.Type
	if err := h.SetType(wtype); err != nil {
		return err
	}
	if err := h.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: weights %s (were %s)\n", *out, wtype, was)
	return nil
}

// loadHeadsToRewrite loads a model and the heads a command rewrites:
// *headsPath (default MODEL.s4c.gguf, filled in), to be written to *out
// (default the same file), which is checked to be writable first.
func loadHeadsToRewrite(modelPath string, headsPath, out *string) (*engine.Engine, *heads.Heads, error) {
	if *headsPath == "" {
		*headsPath = heads.PathFor(modelPath)
	}
	if *out == "" {
		*out = *headsPath
	}
	if err := checkWritable(*out); err != nil {
		return nil, nil, err
	}
	return loadWithHeads(modelPath, *headsPath, 0)
}
