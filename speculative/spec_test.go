package speculative

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/model"
	"s4c/sample"
)

// TestMain skips the package's example where ../shared is absent (an
// example cannot skip itself; it decodes the shared model), except under
// CI, where the data must be there.
func TestMain(m *testing.M) {
	flag.Parse()
	_, err := os.Stat(filepath.Join(shared.Dir(), "models/stories260K.gguf"))
	if (shared.Dir() == "" || err != nil) && os.Getenv("CI") != "true" {
		fmt.Println("shared test data not found (expected ../shared beside the repository, or set S4C_SHARED): Example skipped")
		flag.Set("test.run", "^Test")
	}
	os.Exit(m.Run())
}

func loadEngine(t testing.TB) *engine.Engine {
	e, err := engine.Load(shared.Path(t, "models/stories260K.gguf"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func storyPrompts(t testing.TB) []string {
	f, err := os.Open(shared.Path(t, "models/stories-prompts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p struct{ Prompt string }
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Prompt)
	}
	return out
}

func greedy() sample.Params { return sample.Params{TopP: 1, RepeatPenalty: 1} }

// checkExact runs plain and S^4C decoding on prompts and requires the same
// tokens, whole sequence.
func checkExact(t *testing.T, e *engine.Engine, hd *heads.Heads, prompts []string, n int, sp sample.Params, opt Options) Stats {
	return checkExactWith(t, e, "s4c", hd, prompts, n, sp, opt)
}

// checkExactWith is checkExact for any decoding method.
func checkExactWith(t *testing.T, e *engine.Engine, method string, hd *heads.Heads, prompts []string, n int, sp sample.Params, opt Options) Stats {
	var total Stats
	if hd != nil {
		total.AcceptDepth = make([]int, hd.K)
	}
	for i, p := range prompts {
		sp.Seed = uint64(i)
		req := engine.Request{Prompt: e.Encode(p), MaxTokens: n, Sampling: sp, IgnoreEOG: true}
		want, _, err := e.GeneratePlain(req)
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := GenerateWith(e, method, hd, req, opt)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("prompt %d %q (budget %d): %s output differs from plain decoding\n %s: %v\nplain: %v", i, p, opt.Budget, method, method, got, want)
		}
		total.Add(st)
	}
	return total
}

// TestRandomHeadsExact: untrained heads propose poor drafts, and the output
// is still token-for-token plain greedy decoding, at every budget.
func TestRandomHeadsExact(t *testing.T) {
	e := loadEngine(t)
	hd := randomHeads(e, 4, 1)
	prompts := storyPrompts(t)[:12]
	for _, budget := range []int{1, 6, 24, 64} {
		st := checkExact(t, e, hd, prompts, 256, greedy(), Options{Budget: budget})
		t.Logf("budget %d: %s", budget, st.Summary())
		if st.DraftRounds == 0 {
			t.Fatalf("budget %d: no round drafted", budget)
		}
	}
}

// TestSamplingSameSeedSameText: at temperature > 0 S^4C draws exactly the
// tokens plain sampling draws with the same seed.
func TestSamplingSameSeedSameText(t *testing.T) {
	e := loadEngine(t)
	hd := randomHeads(e, 4, 2)
	sp := sample.Params{Temp: 0.9, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64}
	st := checkExact(t, e, hd, storyPrompts(t)[:8], 128, sp, Options{Budget: 16})
	t.Log(st.Summary())
}

// shippedHeads loads the trained heads that ship with the repository.
func shippedHeads(t testing.TB, e *engine.Engine) *heads.Heads {
	hd, err := heads.Load("../models/stories260K.s4c.gguf", e.Model)
	if err != nil {
		t.Fatal(err)
	}
	return hd
}

// chiSquare compares observed counts with a distribution (tokens expected
// 5 times or more on their own, the rest pooled) and fails the test above
// the 99.9% quantile (Wilson–Hilferty approximation).
func chiSquare(t *testing.T, what string, dist sample.Dist, counts map[int32]int, runs int) {
	t.Helper()
	var chi2, restExp float64
	df, restObs := -1, 0
	for i, id := range dist.IDs {
		exp := float64(dist.Probs[i]) * float64(runs)
		if exp >= 5 {
			d := float64(counts[id]) - exp
			chi2 += d * d / exp
			df++
		} else {
			restExp += exp
			restObs += counts[id]
		}
	}
	if restExp > 0 {
		d := float64(restObs) - restExp
		chi2 += d * d / math.Max(restExp, 1)
		df++
	}
	if df < 1 {
		t.Fatalf("%s: too few distinct tokens for a test (%d runs)", what, runs)
	}
	k := float64(df)
	crit := k * math.Pow(1-2/(9*k)+3.09*math.Sqrt(2/(9*k)), 3)
	t.Logf("%s: chi-square %.1f with %d degrees of freedom over %d runs (99.9%% critical %.1f)", what, chi2, df, runs, crit)
	if chi2 > crit {
		t.Fatalf("%s: distribution differs from the model's: chi-square %.1f > %.1f", what, chi2, crit)
	}
}

// TestSamplingDistribution: over many seeds, the tokens S^4C emits through
// tree acceptance follow the model's own (processed) distribution. The
// first token comes from the prompt pass; the second and third are drawn
// at tree nodes, and with the trained heads most of them are accepted
// drafts. Each is tested conditioned on the tokens before it taking their
// most frequent value, against the distribution the model computes for
// that context (temperature 1, top-p and a repetition penalty).
func TestSamplingDistribution(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompt := e.Encode("Once upon a time, there was a")
	sp := sample.Params{Temp: 1, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}
	// The model's distribution after a context.
	dist := func(ctx []int32) sample.Dist {
		s, err := e.NewState(&engine.Request{Prompt: ctx, MaxTokens: 1, Sampling: sp})
		if err != nil {
			t.Fatal(err)
		}
		logits, _, err := engine.Prefill(s, ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		return sample.New(sp).Distribution(logits, ctx)
	}
	const runs = 3000
	var outs [][]int32
	accepted := 0 // runs whose second token was an accepted draft
	for seed := 0; seed < runs; seed++ {
		sp.Seed = uint64(seed)
		out, st, err := Generate(e, hd, engine.Request{Prompt: prompt, MaxTokens: 3, Sampling: sp, IgnoreEOG: true}, Options{Budget: 8})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 3 {
			t.Fatalf("seed %d: %d tokens", seed, len(out))
		}
		outs = append(outs, out)
		if st.Accepted > 0 {
			accepted++
		}
	}
	t.Logf("second token an accepted draft in %d of %d runs", accepted, runs)
	if accepted < runs/4 {
		t.Fatalf("only %d of %d runs accepted a draft: the test would not exercise tree acceptance", accepted, runs)
	}
	first := map[int32]int{}
	for _, o := range outs {
		first[o[0]]++
	}
	chiSquare(t, "token 1", dist(prompt), first, runs)
	// Tokens 2 and 3 together, in the runs whose first token is the most
	// frequent one: their joint distribution is P(t2|ctx)·P(t3|ctx,t2).
	t1, n1 := int32(-1), 0
	for id, c := range first {
		if c > n1 || c == n1 && id < t1 {
			t1, n1 = id, c
		}
	}
	ctx := append(append([]int32(nil), prompt...), t1)
	vocab := int32(e.Model.Vocab)
	var joint sample.Dist
	d2 := dist(ctx)
	for i, t2 := range d2.IDs {
		d3 := dist(append(append([]int32(nil), ctx...), t2))
		for j, t3 := range d3.IDs {
			joint.IDs = append(joint.IDs, t2*vocab+t3)
			joint.Probs = append(joint.Probs, d2.Probs[i]*d3.Probs[j])
		}
	}
	pairs := map[int32]int{}
	for _, o := range outs {
		if o[0] == t1 {
			pairs[o[1]*vocab+o[2]]++
		}
	}
	chiSquare(t, "tokens 2 and 3 (joint)", joint, pairs, n1)
}

// TestTrainedHeadsExact: with the shipped trained heads, acceptance goes
// several levels deep and the KV cache closes gaps left by rejected
// branches, and the output is still plain decoding's, token for token:
// greedy, and sampled (same seed) with every sampling option.
func TestTrainedHeadsExact(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompts := storyPrompts(t)[:6]
	for _, c := range []struct {
		name string
		sp   sample.Params
	}{
		{"greedy", greedy()},
		{"temp 0.8 top-k 40 top-p 0.95 min-p 0.05 penalty 1.1", sample.Params{Temp: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64}},
		{"temp 1", sample.Params{Temp: 1, TopP: 1, RepeatPenalty: 1}},
	} {
		for _, budget := range []int{4, 24} {
			st := checkExact(t, e, hd, prompts, 200, c.sp, Options{Budget: budget})
			t.Logf("%s, budget %d: %s; %d compactions with gaps", c.name, budget, st.Summary(), st.Compactions)
			deepest := 0
			for d, a := range st.AcceptDepth {
				if a > 0 {
					deepest = d + 1
				}
			}
			if deepest < 3 {
				t.Errorf("%s, budget %d: acceptance reached depth %d, want at least 3", c.name, budget, deepest)
			}
			if budget > 4 && st.Compactions == 0 {
				t.Errorf("%s, budget %d: no round kept a path with gaps: compaction not exercised", c.name, budget)
			}
		}
	}
}

// TestDraftVocabExact: heads that propose only a draft vocabulary (the
// 128 tokens most frequent in the model's own continuations of other
// prompts, of its 512) stay lossless, greedy and sampled, propose nothing
// outside it, and keep most of their acceptance; the vocabulary survives a
// heads file's round trip.
func TestDraftVocabExact(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompts := storyPrompts(t)
	var texts [][]int32
	for _, p := range prompts[10:30] {
		out, _, err := e.GeneratePlain(engine.Request{Prompt: e.Encode(p), MaxTokens: 150, Sampling: greedy(), IgnoreEOG: true})
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, out)
	}
	full := checkExact(t, e, hd, prompts[:4], 150, greedy(), Options{Budget: 8})
	ids := heads.FrequentTokens(texts, e.Model.Vocab, 128, []int32{e.Tok.EOS})
	small := *hd // a copy sharing the weights
	small.DraftVocab = nil
	if err := small.SetDraftVocab(e.Model, ids); err != nil {
		t.Fatal(err)
	}
	if small.Vocab(e.Model) != 128 || hd.Vocab(e.Model) != e.Model.Vocab {
		t.Fatalf("vocabularies %d and %d", small.Vocab(e.Model), hd.Vocab(e.Model))
	}
	st := checkExact(t, e, &small, prompts[:4], 150, greedy(), Options{Budget: 8})
	checkExact(t, e, &small, prompts[:3], 80, sample.Params{Temp: 0.8, TopP: 0.95, RepeatPenalty: 1, Seed: 3}, Options{Budget: 8})
	t.Logf("greedy, budget 8: whole vocabulary τ %.2f, draft vocabulary of 128 τ %.2f", full.Tau(), st.Tau())
	if st.Tau() < 0.9*full.Tau() {
		t.Errorf("τ %.2f with the draft vocabulary, %.2f with the whole one", st.Tau(), full.Tau())
	}
	in := map[int32]bool{}
	for _, id := range ids {
		in[id] = true
	}
	tr := grow(e.Model, &small, make([]float32, e.Model.Dim), 1, draftOptions{TopK: 10, Width: 10}, nil, &workspace{})
	for _, nd := range tr.nodes[1:] {
		if !in[nd.tok] {
			t.Fatalf("drafted token %d is outside the draft vocabulary", nd.tok)
		}
	}
	p := t.TempDir() + "/v.s4c.gguf"
	if err := small.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := heads.Load(p, e.Model)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.DraftVocab) != fmt.Sprint(small.DraftVocab) {
		t.Fatal("draft vocabulary lost in the file")
	}
	if err := small.SetDraftVocab(e.Model, []int32{3, 3}); err == nil {
		t.Fatal("a repeated token accepted")
	}
	if err := small.SetDraftVocab(e.Model, []int32{int32(e.Model.Vocab)}); err == nil {
		t.Fatal("a token outside the vocabulary accepted")
	}
}

// TestMaxTokensAgree: plain and S^4C decoding emit the same tokens for
// every MaxTokens, including none (S^4C used to emit one token for 0).
func TestMaxTokensAgree(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompt := e.Encode("Once upon a time")
	for _, n := range []int{-5, -1, 0, 1, 2, 3, 7} {
		for _, budget := range []int{0, 8} {
			req := engine.Request{Prompt: prompt, MaxTokens: n, Sampling: greedy(), IgnoreEOG: true}
			want, pst, err := e.GeneratePlain(req)
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := Generate(e, hd, req, Options{Budget: budget})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || st.GenTokens != pst.GenTokens || len(got) != max(n, 0) {
				t.Errorf("MaxTokens %d budget %d: S^4C %v (%d), plain %v (%d)", n, budget, got, st.GenTokens, want, pst.GenTokens)
			}
		}
	}
	// Options out of range are refused, not a panic in the tree pruning.
	for _, o := range []Options{{Budget: -3}, {MaxBudget: -1}, {TopK: -2}, {Width: -1}, {Budget: MaxTreeBudget + 1}} {
		if _, _, err := Generate(e, hd, engine.Request{Prompt: prompt, MaxTokens: 4, Sampling: greedy()}, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestHeadsFileRoundTrip(t *testing.T) {
	e := loadEngine(t)
	hd := randomHeads(e, 3, 9)
	hd.Report["note"] = "test"
	p := t.TempDir() + "/h.s4c.gguf"
	if err := hd.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := heads.Load(p, e.Model)
	if err != nil {
		t.Fatal(err)
	}
	if back.K != 3 || back.Report["note"] != "test" || fmt.Sprint(back.H[2].W2[:5]) != fmt.Sprint(hd.H[2].W2[:5]) {
		t.Fatal("heads differ after a round trip")
	}
	// Heads of another model are refused.
	other := *hd
	other.Base = "0000"
	other.Save(p)
	if _, err := heads.Load(p, e.Model); err == nil {
		t.Fatal("heads for another model accepted")
	}
}

// randomHeads are untrained heads with random weights throughout.
func randomHeads(e *engine.Engine, k int, seed uint64) *heads.Heads {
	h := heads.New(e.Model, k, 64, seed)
	h.Randomize(seed)
	return h
}

// TestNarrowTreePrunesSame: the n most probable draft nodes of a tree kept
// n-d+1 wide at depth d are those of the default-width tree (what widthHint
// relies on to draft narrower trees at no loss of acceptance).
func TestNarrowTreePrunesSame(t *testing.T) {
	e := loadEngine(t)
	hd, err := heads.Load("../models/stories260K.s4c.gguf", e.Model)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range storyPrompts(t)[:8] {
		s, h, b := afterPrompt(t, e, p)
		wide := grow(e.Model, hd, h, b, draftOptions{TopK: 8, Width: 10}, s.Pool, &workspace{})
		for n := 1; n <= 10; n++ {
			narrow := grow(e.Model, hd, h, b, draftOptions{TopK: 8, Width: 10, Nodes: n}, s.Pool, &workspace{})
			a, c := wide.prune(n), narrow.prune(n)
			if len(a.nodes) != len(c.nodes) {
				t.Fatalf("prompt %d, n=%d: %d nodes from the wide tree, %d from the narrow", i, n, len(a.nodes), len(c.nodes))
			}
			for k := range a.nodes {
				if a.nodes[k].tok != c.nodes[k].tok || a.nodes[k].parent != c.nodes[k].parent {
					t.Fatalf("prompt %d, n=%d: node %d differs: %+v vs %+v", i, n, k, a.nodes[k], c.nodes[k])
				}
			}
		}
	}
}

// TestOtherArchitecturesExact: heads read only the target's final hidden
// state, so S^4C runs unchanged on every architecture: on the phi3 (fused
// tensors, sliding window), qwen2 and gemma2 (soft-capping, a window on
// every other layer) conformance models, greedy S^4C with (random) heads
// equals plain decoding, past the sliding window.
func TestOtherArchitecturesExact(t *testing.T) {
	for _, arch := range []string{"phi3", "qwen2", "gemma2"} {
		e, err := engine.Load(shared.Path(t, "conformance/archs/"+arch+"/model.gguf"), 2)
		if err != nil {
			t.Fatal(err)
		}
		hd := randomHeads(e, 3, 5)
		st := checkExact(t, e, hd, storyPrompts(t)[:4], 48, greedy(), Options{Budget: 6})
		t.Logf("%s: %s", arch, st.Summary())
		if st.DraftRounds == 0 {
			t.Errorf("%s: no round drafted", arch)
		}
		e.Close()
	}
}

// afterPrompt runs prompt p on a new state of e and returns the state, the
// prompt's last hidden state and the greedy next token: where a draft tree
// grows from.
func afterPrompt(t testing.TB, e *engine.Engine, p string) (*model.State, []float32, int32) {
	req := engine.Request{Prompt: e.Encode(p), MaxTokens: 1, Sampling: greedy()}
	s, err := e.NewState(&req)
	if err != nil {
		t.Fatal(err)
	}
	logits, h, err := engine.Prefill(s, req.Prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	return s, h, sample.New(greedy()).Sample(logits, req.Prompt)
}
