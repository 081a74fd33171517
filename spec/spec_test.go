package spec

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/sample"
)

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
	var total Stats
	total.AcceptDepth = make([]int, hd.K)
	for i, p := range prompts {
		sp.Seed = uint64(i)
		req := engine.Request{Prompt: e.Encode(p), MaxTokens: n, Sampling: sp, IgnoreEOG: true}
		want, _, err := e.GeneratePlain(req)
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := Generate(e, hd, req, opt)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("prompt %d %q (budget %d): S^4C output differs from plain decoding\n s4c: %v\nplain: %v", i, p, opt.Budget, got, want)
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

// TestSamplingDistribution: over many seeds, the distribution of the first
// generated tokens under S^4C matches the model's own probabilities
// (chi-square, fixed seeds so the test is deterministic).
func TestSamplingDistribution(t *testing.T) {
	e := loadEngine(t)
	hd := randomHeads(e, 4, 3)
	prompt := e.Encode("Once upon a time, there was a")
	sp := sample.Params{Temp: 1, TopP: 1, RepeatPenalty: 1}
	// The model's distribution of the first token.
	s, _ := e.NewState(&engine.Request{Prompt: prompt, MaxTokens: 4, Sampling: sp})
	logits, _, err := engine.Prefill(s, prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	dist := sample.New(sp).Distribution(logits, prompt)
	const runs = 3000
	counts := map[int32]int{}
	second := map[[2]int32]int{}
	for seed := 0; seed < runs; seed++ {
		sp.Seed = uint64(seed)
		out, _, err := Generate(e, hd, engine.Request{Prompt: prompt, MaxTokens: 2, Sampling: sp, IgnoreEOG: true}, Options{Budget: 8})
		if err != nil {
			t.Fatal(err)
		}
		counts[out[0]]++
		second[[2]int32{out[0], out[1]}]++
	}
	// Chi-square over tokens with expected count >= 5, the rest pooled.
	var chi2 float64
	df := -1
	var restExp float64
	restObs := 0
	for i, id := range dist.IDs {
		exp := float64(dist.Probs[i]) * runs
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
	// 99.9% quantile of chi-square, Wilson–Hilferty approximation.
	k := float64(df)
	crit := k * math.Pow(1-2/(9*k)+3.09*math.Sqrt(2/(9*k)), 3)
	t.Logf("chi-square %.1f with %d degrees of freedom (99.9%% critical %.1f)", chi2, df, crit)
	if chi2 > crit {
		t.Fatalf("first-token distribution differs from the model's: chi-square %.1f > %.1f", chi2, crit)
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
		req := engine.Request{Prompt: e.Encode(p), MaxTokens: 1, Sampling: greedy()}
		s, err := e.NewState(&req)
		if err != nil {
			t.Fatal(err)
		}
		logits, h, err := engine.Prefill(s, req.Prompt, true)
		if err != nil {
			t.Fatal(err)
		}
		b := sample.New(greedy()).Sample(logits, req.Prompt)
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
