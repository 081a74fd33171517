package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"s4c/chat"
	"s4c/engine"
	"s4c/heads"
	"s4c/sample"
	"s4c/speculative"
)

// headsKFlag registers --heads-k, the head-count ablation.
func headsKFlag(fs interface {
	Int(string, int, string) *int
}) *int {
	return fs.Int("heads-k", 0, "draft with only the first K heads, at most K tokens ahead (the head-count ablation; 0 = all)")
}

// samplingFlags registers the sampling flags on fs.
func samplingFlags(fs interface {
	Float64Var(*float64, string, float64, string)
	IntVar(*int, string, int, string)
	Uint64Var(*uint64, string, uint64, string)
}) func() sample.Params {
	d := sample.Defaults()
	var temp, topP, minP, rep float64
	var topK, lastN int
	var seed uint64
	fs.Float64Var(&temp, "temp", 0, "temperature (0 = greedy)")
	fs.IntVar(&topK, "top-k", d.TopK, "keep the k most likely tokens (0 = off)")
	// The defaults are float32: shown as typed (0.95, not 0.949999988…).
	short := func(f float32) float64 {
		v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
		return v
	}
	fs.Float64Var(&topP, "top-p", short(d.TopP), "keep the smallest set with this much probability (1 = off)")
	fs.Float64Var(&minP, "min-p", short(d.MinP), "drop tokens less likely than this fraction of the top one (0 = off)")
	fs.Float64Var(&rep, "repeat-penalty", 1, "penalise recently seen tokens (1 = off)")
	fs.IntVar(&lastN, "repeat-last-n", d.RepeatLastN, "how many recent tokens the penalty considers")
	fs.Uint64Var(&seed, "seed", 0, "random seed")
	return func() sample.Params {
		return sample.Params{Temp: float32(temp), TopK: topK, TopP: float32(topP), MinP: float32(minP),
			RepeatPenalty: float32(rep), RepeatLastN: lastN, Seed: seed}
	}
}

func cmdRun(args []string) error {
	fs := newFlags("run", "-m MODEL.gguf -p PROMPT [flags]")
	modelPath := fs.String("m", "", "model file (GGUF)")
	prompt := fs.String("p", "", "prompt text")
	promptFile := fs.String("f", "", "read the prompt from this file ('-' = standard input)")
	n := fs.Int("n", 128, "number of tokens to generate")
	threads := fs.Int("threads", 0, "threads (0 = one per CPU)")
	ctx := fs.Int("ctx", 0, "context size in tokens (0 = prompt + n, at most the model's)")
	asChat := fs.Bool("chat", false, "wrap the prompt as a user message in the model's chat template")
	special := fs.Bool("special", false, "parse control-token texts in the prompt (e.g. \"<|im_start|>\") as those tokens; by default they are plain text")
	system := fs.String("system", "", "system message (with --chat)")
	ignoreEOS := fs.Bool("ignore-eos", false, "keep generating past end-of-sequence")
	headsPath := fs.String("heads", "", "S^4C draft heads (default: MODEL.s4c.gguf beside the model, if present)")
	specMode := fs.String("spec", "", "decoding: s4c (speculative with draft heads), ngram (speculative with drafts looked up in the text so far, no heads needed), s4c+ngram (both drafts in one tree), none (plain), or the ablations medusa (independent heads, MODEL.medusa.s4c.gguf), s4c-static (a static tree) and s4c-uncoupled (sampled drafts without the target's draw noise); default s4c when heads are found, else ngram")
	budget := fs.Int("budget", 0, "S^4C draft nodes per verification pass (0 = chosen from measured costs)")
	headsK := headsKFlag(fs)
	draftPath := draftModelFlag(fs)
	compare := fs.Bool("compare", false, "also decode plainly in the same process and report the speed-up")
	params := samplingFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *modelPath == "" {
		return usageError{fmt.Errorf("no model: give -m MODEL.gguf (any Llama-family GGUF, e.g. from the usual model hubs)")}
	}
	if err := checkInts(intFlag{"n", *n, 1, math.MaxInt}, intFlag{"threads", *threads, 0, maxThreads},
		intFlag{"ctx", *ctx, 0, math.MaxInt}, intFlag{"budget", *budget, 0, speculative.MaxTreeBudget}, intFlag{"heads-k", *headsK, 0, heads.MaxK}); err != nil {
		return err
	}
	text := *prompt
	if *promptFile != "" {
		var b []byte
		var err error
		if *promptFile == "-" {
			b, err = readAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*promptFile)
		}
		if err != nil {
			return fmt.Errorf("reading prompt: %w", err)
		}
		text = string(b)
	}
	sp := params()
	if err := sp.Validate(); err != nil {
		return err
	}
	if *draftPath != "" {
		if _, err := os.Stat(*draftPath); err != nil {
			return fmt.Errorf("--draft-model: %w", err)
		}
	}
	e, err := engine.Load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer e.Close()
	if *draftPath != "" && *specMode == "" {
		*specMode = "draft"
	}
	method, hd, err := findDecoder(e, *modelPath, *headsPath, *specMode)
	if err != nil {
		return err
	}
	draft, err := loadDraftModel(method, *draftPath, *threads)
	if err != nil {
		return err
	}
	if draft != nil {
		defer draft.Close()
	}
	var ids []int32
	switch {
	case *asChat:
		var msgs []chat.Message
		if *system != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: *system})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: text})
		if ids, err = e.EncodeChat(msgs); err != nil {
			return err
		}
	case *special:
		ids = e.EncodeSpecial(text)
	default:
		ids = e.Encode(text)
	}
	if len(ids) == 0 {
		return fmt.Errorf("empty prompt: give -p TEXT or -f FILE")
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if !*asChat {
		fmt.Fprint(out, text)
	}
	dec := e.Tok.NewDecoder()
	dec.Next(ids[len(ids)-1]) // continue the prompt's text, not a new one
	req := engine.Request{Prompt: ids, MaxTokens: *n, Sampling: sp, IgnoreEOG: *ignoreEOS, Ctx: *ctx,
		OnToken: func(id int32) bool {
			fmt.Fprint(out, dec.Next(id))
			return out.Flush() == nil // output lost (disk full, closed): stop, main reports it
		}}
	var plainIDs []int32
	var plainSt engine.Stats
	if *compare {
		quiet := req
		quiet.OnToken = nil
		// An untimed warm-up first: the first generation of a process also
		// pays for faulting in weights and fresh buffers, which would count
		// against plain decoding only (it runs first).
		warm := quiet
		warm.MaxTokens = min(req.MaxTokens, 16)
		if _, _, err = e.GeneratePlain(warm); err != nil {
			return err
		}
		if plainIDs, plainSt, err = e.GeneratePlain(quiet); err != nil {
			return err
		}
	}
	var gotIDs []int32
	var st engine.Stats
	var sst speculative.Stats
	if method == "none" {
		gotIDs, st, err = e.GeneratePlain(req)
	} else {
		gotIDs, sst, err = speculative.GenerateWith(e, method, hd, req, speculative.Options{Budget: *budget, Heads: *headsK, Draft: draft})
		st = sst.Stats
	}
	fmt.Fprint(out, dec.Flush())
	fmt.Fprintln(out)
	out.Flush()
	if err != nil {
		return err
	}
	mode := methodNames[method]
	fmt.Fprintf(os.Stderr, "\n[%s | prompt %d tokens, %.1f tok/s | generated %d tokens, %.2f tok/s | stop: %s | KV cache %d tokens, %s (float16)]\n",
		mode, st.PromptTokens, st.PromptRate(), st.GenTokens, st.GenRate(), st.StopReason, st.CacheTokens, human(uint64(st.CacheBytes)))
	if method != "none" {
		fmt.Fprintf(os.Stderr, "[%s]\n", sst.Summary())
	}
	if *compare {
		same := "identical"
		if fmt.Sprint(plainIDs) != fmt.Sprint(gotIDs) {
			same = "different"
			if sp.Greedy() {
				same = "DIFFERENT (a bug: greedy speculative decoding must equal plain decoding)"
			}
		}
		fmt.Fprintf(os.Stderr, "[compare: %s; outputs %s]\n", compareLine(plainSt, st, sst, method), same)
	}
	return nil
}

// methodNames label the decoding methods in run's figures.
var methodNames = map[string]string{"s4c": "S^4C", "medusa": "medusa", "s4c-static": "S^4C-static", "ngram": "n-gram",
	"s4c+ngram": "S^4C+n-gram", "draft": "draft model", "none": "plain", "s4c-uncoupled": "S^4C-uncoupled"}

// draftModelFlag registers --draft-model, the draft method's model.
func draftModelFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("draft-model", "", "a smaller model with the same vocabulary drafting for this one (--spec draft, standard speculative sampling; implies it when --spec is not given)")
}

// loadDraftModel loads the draft model the method needs (nil if none).
func loadDraftModel(method, path string, threads int) (*engine.Engine, error) {
	if method != "draft" {
		if path != "" {
			return nil, usageError{fmt.Errorf("--draft-model is for --spec draft, not %s", method)}
		}
		return nil, nil
	}
	if path == "" {
		return nil, usageError{fmt.Errorf("method draft needs a draft model: give --draft-model SMALL.gguf (same vocabulary as the model)")}
	}
	d, err := engine.Load(path, threads)
	if err != nil {
		return nil, fmt.Errorf("draft model: %w", err)
	}
	return d, nil
}

// checkMethod refuses a --spec or --methods name that is not a decoding
// method.
func checkMethod(flag, m string) error {
	if !slices.Contains(speculative.Methods, m) {
		return usageError{fmt.Errorf("--%s: unknown method %q (want one of %s)", flag, m, strings.Join(speculative.Methods, ", "))}
	}
	return nil
}

// findDecoder picks the decoding method the flags ask for and loads the
// draft heads it needs (methodHeads). Without --spec: S^4C with an explicit
// --heads (medusa if those are independent heads) or MODEL.s4c.gguf beside
// the model; without heads, n-gram drafting, which needs none.
func findDecoder(e *engine.Engine, modelPath, headsPath, mode string) (string, *heads.Heads, error) {
	if mode != "" {
		if err := checkMethod("spec", mode); err != nil {
			return "", nil, err
		}
		hd, err := methodHeads(e, modelPath, mode, headsPath, "--heads")
		return mode, hd, err
	}
	if headsPath == "" && !heads.Exists(heads.PathFor(modelPath)) {
		return "ngram", nil, nil
	}
	hd, err := methodHeads(e, modelPath, "s4c", headsPath, "--heads")
	if err != nil {
		return "", nil, err
	}
	return headsMethod(hd), hd, nil
}

// needsHeads reports whether a decoding method drafts with heads.
func needsHeads(method string) bool {
	return method != "none" && method != "ngram" && method != "draft"
}

// methodHeads loads the heads a method needs: headsPath if given, else
// S^4C's coherent heads MODEL.s4c.gguf, or for medusa the independent heads
// MODEL.medusa.s4c.gguf, beside the model; none for ngram and plain. flag
// names the option that gives headsPath, for the error.
func methodHeads(e *engine.Engine, modelPath, method, headsPath, flag string) (*heads.Heads, error) {
	if !needsHeads(method) {
		return nil, nil
	}
	if headsPath == "" {
		headsPath = heads.PathFor(modelPath)
		train := "s4c heads train -m " + modelPath
		if method == "medusa" {
			headsPath = heads.IndependentPathFor(modelPath)
			train += " --independent"
		}
		if !heads.Exists(headsPath) {
			return nil, fmt.Errorf("method %s needs draft heads: give %s H.gguf, put %s beside the model, or make them with '%s' (or use ngram, which needs none)",
				method, flag, filepath.Base(headsPath), train)
		}
	}
	return heads.Load(headsPath, e.Model)
}

func readAll(f *os.File) ([]byte, error) {
	var sb strings.Builder
	r := bufio.NewReader(f)
	_, err := r.WriteTo(&sb)
	return []byte(sb.String()), err
}

// compareLine states plain vs speculative speed so that it cannot
// mislead: no ratio where both decoded plainly, and a reason beside a
// ratio below 1.
func compareLine(plain, got engine.Stats, sst speculative.Stats, method string) string {
	name := methodNames[method]
	switch {
	case method == "none":
		return fmt.Sprintf("plain %.2f tok/s twice (--spec none: nothing to compare)", plain.GenRate())
	case sst.Fallback:
		return fmt.Sprintf("plain %.2f tok/s; %s measured that speculation cannot pay on this model and decoded plainly too, %.2f tok/s (the difference is run-to-run noise, not a speed-up)",
			plain.GenRate(), name, got.GenRate())
	}
	ratio := got.GenRate() / plain.GenRate()
	line := fmt.Sprintf("plain %.2f tok/s, %s %.2f tok/s, speed-up %.2fx", plain.GenRate(), name, got.GenRate(), ratio)
	if ratio < 1 {
		switch {
		case sst.DraftRounds == 0:
			line += fmt.Sprintf(" (%s drafted in no round: its measured costs said plain steps were faster, or the text never repeated, so the difference is run-to-run noise)", name)
		case sst.Tau() < 1.5:
			line += fmt.Sprintf(" (slower: the drafts were rarely accepted, τ %.2f tokens per pass, so drafting and verifying bigger batches did not pay)", sst.Tau())
		default:
			line += fmt.Sprintf(" (slower: τ %.2f tokens per pass did not cover drafting, %.0f%% of the time, and verifying %.1f-node trees on this machine now; another program competing for the cores makes batched passes dearer)",
				sst.Tau(), 100*sst.DraftTime.Seconds()/max(sst.GenTime.Seconds(), 1e-9), sst.MeanTree())
		}
	}
	return line
}
