package speculative

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"s4c/convert"
	"s4c/engine"
	"s4c/gguf"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/sample"
	"s4c/tensor"
)

// independentHeads are Medusa-style heads: the shipped ones where they
// exist, else untrained ones (exactness does not depend on their quality).
func independentHeads(t testing.TB, e *engine.Engine) *heads.Heads {
	if hd, err := heads.Load("../models/stories260K.medusa.s4c.gguf", e.Model); err == nil {
		return hd
	}
	h := heads.New(e.Model, 4, 64, 7)
	h.Independent = true
	h.Randomize(7)
	return h
}

// TestAblationsExact: the paper's ablations decode exactly what plain
// decoding does, greedy and sampled (same seed, same text): independent
// heads (medusa), a static tree (s4c-static), and fewer heads (Heads).
func TestAblationsExact(t *testing.T) {
	e := loadEngine(t)
	coherent := shippedHeads(t, e)
	indep := independentHeads(t, e)
	prompts := storyPrompts(t)[:3]
	sampled := sample.Params{Temp: 0.9, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}
	cases := []struct {
		method string
		hd     *heads.Heads
		opt    Options
	}{
		{"medusa", indep, Options{Budget: 12}},
		{"medusa", indep, Options{}},
		{"s4c-static", coherent, Options{Budget: 12}},
		{"s4c-static", coherent, Options{}},
		{"s4c", coherent, Options{Budget: 12, Heads: 1}},
		{"s4c", coherent, Options{Budget: 12, Heads: 2}},
		{"medusa", indep, Options{Budget: 12, Heads: 3}},
	}
	for _, c := range cases {
		for _, sp := range []sample.Params{greedy(), sampled} {
			t.Run(fmt.Sprintf("%s/budget %d/heads %d/temp %g", c.method, c.opt.Budget, c.opt.Heads, sp.Temp), func(t *testing.T) {
				st := checkExactWith(t, e, c.method, c.hd, prompts, 80, sp, c.opt)
				t.Log(st.Summary())
				// (With the automatic budget the 260K model may rightly
				// draft never: its passes cost about what drafts save.)
				if c.opt.Budget > 0 && st.DraftRounds == 0 {
					t.Fatal("no round drafted")
				}
				for d := c.opt.Heads; c.opt.Heads > 0 && d < len(st.AcceptDepth); d++ {
					if st.AcceptDepth[d] > 0 {
						t.Fatalf("%d heads asked for, drafts at depth %d were accepted", c.opt.Heads, d+1)
					}
				}
			})
		}
	}
}

// TestStaticTreeIsStatic: s4c-static verifies the same number of nodes every
// drafting round (the shape), where s4c's dynamic tree varies.
func TestStaticTreeIsStatic(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	d, err := NewDecoder(e, "s4c-static", hd, Options{Budget: 10})
	if err != nil {
		t.Fatal(err)
	}
	req := engine.Request{Prompt: e.Encode(storyPrompts(t)[0]), MaxTokens: 60, Sampling: greedy(), IgnoreEOG: true}
	q, err := d.Start(e.Model.NewState(256, 2), req)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	for !q.Done() {
		room := !q.Prefilling() && req.MaxTokens-len(q.Output()) > 10 // the last rounds prune to the tokens left
		ps, err := d.Step([]*Seq{q})
		if err != nil {
			t.Fatal(err)
		}
		if room {
			sizes[ps.Drafted]++
		}
	}
	if len(sizes) != 1 || sizes[10] == 0 {
		t.Fatalf("draft nodes per round: %v, want 10 every round", sizes)
	}
}

// TestBuildShape: Medusa's greedy static tree holds the n paths of highest
// value (the product of acceptance along the path) among all paths,
// listed depth by depth with every parent before its children.
func TestBuildShape(t *testing.T) {
	for _, tc := range []struct {
		acc [][]float64
		n   int
	}{
		{[][]float64{{0.8, 0.1, 0.05}, {0.7, 0.2}, {0.6, 0.3, 0.05}}, 8},
		{[][]float64{{0.5, 0.3, 0.1, 0.05}}, 3},
		{[][]float64{{0.9}, {0.9}, {0.9}, {0.9}}, 10}, // only 4 paths exist
		{[][]float64{{0.82, 0.1, 0.03}, {0.81, 0.1, 0.03}, {0.82, 0.09, 0.03}, {0.82, 0.1, 0.03}}, 24},
	} {
		s := buildShape(tc.acc, tc.n)
		// Every path of every depth, by value.
		var all []float64
		var walk func(d int, v float64)
		walk = func(d int, v float64) {
			if d == len(tc.acc) {
				return
			}
			for _, a := range tc.acc[d] {
				all = append(all, v*a)
				walk(d+1, v*a)
			}
		}
		walk(0, 1)
		sort.Sort(sort.Reverse(sort.Float64Slice(all)))
		want := min(tc.n, len(all))
		if s.size() != want {
			t.Fatalf("%v: %d nodes, want %d", tc.acc, s.size(), want)
		}
		got := append([]float64(nil), s.value[1:]...)
		sort.Sort(sort.Reverse(sort.Float64Slice(got)))
		for i := range got {
			if math.Abs(got[i]-all[i]) > 1e-12 {
				t.Fatalf("%v: node values %v, want the top %d of %v", tc.acc, got, want, all[:want])
			}
		}
		for i := 1; i < len(s.parent); i++ {
			p := s.parent[i]
			if p < 0 || p >= i || s.dep[i] != s.dep[p]+1 || s.dep[i] < s.dep[i-1] {
				t.Fatalf("node %d: parent %d, depth %d after %d: not listed depth by depth", i, p, s.dep[i], s.dep[i-1])
			}
			v := tc.acc[s.dep[i]-1][s.rank[i]]
			if p > 0 {
				v *= s.value[p]
			}
			if math.Abs(v-s.value[i]) > 1e-12 {
				t.Fatalf("node %d: value %g, want %g", i, s.value[i], v)
			}
			if s.index[[2]int{p, s.rank[i]}] != i {
				t.Fatalf("node %d not indexed by (parent, rank)", i)
			}
		}
	}
}

// TestIndependentTreeSameChildren: with independent heads, the proposals
// at a depth do not depend on the path: every node of a depth that is
// expanded is offered the children of the same distribution, so a node's
// children are always among the depth's top tokens in the same order.
func TestIndependentTreeSameChildren(t *testing.T) {
	e := loadEngine(t)
	hd := independentHeads(t, e)
	h := make([]float32, e.Model.Dim)
	for i := range h {
		h[i] = float32(math.Sin(float64(i)))
	}
	tr := growIndependent(e.Model, hd, h, 5, draftOptions{TopK: 4, Width: 16}, tensor.NewPool(2), &workspace{})
	byDepth := map[int]map[int]int32{} // depth -> rank -> token
	for _, nd := range tr.nodes[1:] {
		m := byDepth[nd.depth]
		if m == nil {
			m = map[int]int32{}
			byDepth[nd.depth] = m
		}
		if tok, ok := m[nd.rank]; ok && tok != nd.tok {
			t.Fatalf("depth %d rank %d: token %d under one parent, %d under another", nd.depth, nd.rank, tok, nd.tok)
		}
		m[nd.rank] = nd.tok
	}
	if len(byDepth) != hd.K {
		t.Fatalf("tree is %d deep, want %d", len(byDepth), hd.K)
	}
}

// TestDraftModelExact: a draft model of the same vocabulary (here the
// model itself, a perfect drafter, whose chains are all accepted at
// temperature 0) decodes exactly what plain decoding does, greedy and
// sampled, alone and batched; a model of another vocabulary is refused.
func TestDraftModelExact(t *testing.T) {
	e := loadEngine(t)
	dm := loadEngine(t)
	prompts := storyPrompts(t)[:4]
	for _, sp := range []sample.Params{greedy(), {Temp: 0.9, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}} {
		st := checkExactWith(t, e, "draft", nil, prompts, 100, sp, Options{Budget: 6, Draft: dm})
		t.Logf("temp %g: %s", sp.Temp, st.Summary())
		// Sampling too: the draft model draws its chain with the keys
		// the target draws with (coupled draws), so drafting for itself
		// it proposes the target's very draws.
		if st.Tau() < 6.5 {
			t.Errorf("temp %g: the model drafting for itself: τ %.2f, want 7 (every draft accepted)", sp.Temp, st.Tau())
		}
	}
	// The conformance models of other architectures share the stories
	// vocabulary: one drafts too (qwen2 here, an untrained one, so few
	// drafts are accepted), exactly.
	qwen, err := engine.Load(shared.Path(t, "conformance/archs/qwen2/model.gguf"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer qwen.Close()
	st := checkExactWith(t, e, "draft", nil, prompts[:2], 60, greedy(), Options{Budget: 4, Draft: qwen})
	t.Logf("qwen2 drafting: %s", st.Summary())
	// A model of another vocabulary (a synthetic 32000-token one).
	p := filepath.Join(t.TempDir(), "other.gguf")
	if err := convert.Synth(p, convert.Shapes["llama-15m"], gguf.Q8_0, 1, nil); err != nil {
		t.Fatal(err)
	}
	other, err := engine.Load(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := NewDecoder(e, "draft", nil, Options{Draft: other}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Fatalf("a draft model of another vocabulary: error %v, want one about the vocabulary", err)
	}
	if _, err := NewDecoder(e, "draft", nil, Options{}); err == nil {
		t.Fatal("method draft without a draft model accepted")
	}
}

// TestCoupledDrafts: when sampling, the heads rank their guesses with the
// noise the target will draw with, and more of them are accepted than
// where they propose their most probable tokens (s4c-uncoupled), with the
// output plain sampling's either way.
func TestCoupledDrafts(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	sp := sample.Params{Temp: 1, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1}
	prompts := storyPrompts(t)[:12]
	var tau [2]float64
	for i, method := range []string{"s4c", "s4c-uncoupled"} {
		st := checkExactWith(t, e, method, hd, prompts, 128, sp, Options{Budget: 6})
		tau[i] = st.Tau()
		t.Logf("%s: %s", method, st.Summary())
	}
	if tau[0] < 1.1*tau[1] {
		t.Errorf("coupled drafts: τ %.2f, uncoupled %.2f: want at least a tenth more", tau[0], tau[1])
	}
}
