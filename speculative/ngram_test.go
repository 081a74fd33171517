package speculative

import (
	"fmt"
	"testing"

	"s4c/engine"
	"s4c/sample"
)

// TestNgramExact: drafts looked up in the text so far are verified like the
// heads' drafts, so the output is token-for-token plain decoding, greedy
// and sampled with the same seed, at fixed budgets (which bypass the gate
// that falls back to plain decoding on a model this small). The story
// model repeats itself enough that drafts are accepted: the test requires
// it, or it would prove nothing.
func TestNgramExact(t *testing.T) {
	e := loadEngine(t)
	prompts := storyPrompts(t)[:10]
	sampled := sample.Params{Temp: 0.8, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}
	for _, c := range []struct {
		name   string
		sp     sample.Params
		budget int
	}{{"greedy", greedy(), 1}, {"greedy", greedy(), 8}, {"greedy", greedy(), 32}, {"sampled", sampled, 8}} {
		var total Stats
		for i, p := range prompts {
			sp := c.sp
			sp.Seed = uint64(i)
			req := engine.Request{Prompt: e.Encode(p), MaxTokens: 200, Sampling: sp, IgnoreEOG: true}
			want, _, err := e.GeneratePlain(req)
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := GenerateWith(e, "ngram", nil, req, Options{Budget: c.budget})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s, budget %d, prompt %d: n-gram drafting's output differs from plain decoding\nngram: %v\nplain: %v", c.name, c.budget, i, got, want)
			}
			total.Add(st)
		}
		t.Logf("%s, budget %d: %s", c.name, c.budget, total.Summary())
		if total.Accepted == 0 {
			t.Fatalf("%s, budget %d: no draft accepted in %d rounds (%d drafted)", c.name, c.budget, total.Rounds, total.DraftRounds)
		}
	}
}

// TestNgramDraft: the lookup finds the latest earlier occurrences of the
// text's last tokens, longest match first, merges their continuations into
// one tree ordered depth by depth, and proposes nothing for text that
// never repeats.
func TestNgramDraft(t *testing.T) {
	d := &ngramDrafter{maxN: 3, maxLen: 4, branches: 3, window: 100}
	//               0  1  2  3  4  5  6  7  8  9 10 11 12
	hist := []int32{5, 6, 7, 8, 9, 1, 6, 7, 2, 3, 9, 6, 7}
	tr := d.draft(nil, 7, hist, 16, nil)
	// "6 7" (2 tokens; "9 6 7" never occurred before) was followed by
	// "2 3 9 6" at 8 and by "8 9 1 6" at 3; then "7" alone adds nothing new.
	var got []string
	for _, nd := range tr.nodes {
		got = append(got, fmt.Sprintf("%d<-%d@%d", nd.tok, nd.parent, nd.depth))
	}
	want := "[7<--1@0 2<-0@1 8<-0@1 3<-1@2 9<-2@2 9<-3@3 1<-4@3 6<-5@4 6<-6@4]"
	if fmt.Sprint(got) != want {
		t.Fatalf("tree %v, want %s", got, want)
	}
	for i, nd := range tr.nodes[1:] {
		if p := tr.nodes[nd.parent].logp; nd.logp > p {
			t.Fatalf("node %d more probable than its parent", i+1)
		}
	}
	if tr := d.draft(nil, 4, []int32{1, 2, 3, 4}, 16, nil); len(tr.nodes) != 1 {
		t.Fatalf("text without repeats gave %d draft nodes", len(tr.nodes)-1)
	}
}

// TestUnionExact: the heads' and the lookup's drafts merged into one tree
// still give plain decoding's tokens, greedy and sampled, and the merged
// tree holds both trees' nodes once, depth by depth, no child more
// probable than its parent.
func TestUnionExact(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompts := storyPrompts(t)[:6]
	sampled := sample.Params{Temp: 0.8, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}
	for _, sp := range []sample.Params{greedy(), sampled} {
		var total Stats
		for i, p := range prompts {
			sp.Seed = uint64(i)
			req := engine.Request{Prompt: e.Encode(p), MaxTokens: 160, Sampling: sp, IgnoreEOG: true}
			want, _, err := e.GeneratePlain(req)
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := GenerateWith(e, "s4c+ngram", hd, req, Options{Budget: 12})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("temp %v, prompt %d: s4c+ngram output differs from plain decoding\nunion: %v\nplain: %v", sp.Temp, i, got, want)
			}
			total.Add(st)
		}
		t.Logf("temp %v: %s", sp.Temp, total.Summary())
		if total.Accepted == 0 {
			t.Fatalf("temp %v: no draft accepted", sp.Temp)
		}
	}
	a := &tree{nodes: []node{{tok: 1, parent: -1}, {tok: 2, parent: 0, depth: 1, logp: -0.1}, {tok: 3, parent: 0, depth: 1, logp: -2}, {tok: 4, parent: 1, depth: 2, logp: -0.5}}}
	b := &tree{nodes: []node{{tok: 1, parent: -1}, {tok: 3, parent: 0, depth: 1, logp: -0.2, src: srcText}, {tok: 5, parent: 1, depth: 2, logp: -0.1, src: srcText}}}
	m := mergeTrees(a, b)
	var got []string
	for _, nd := range m.nodes {
		got = append(got, fmt.Sprintf("%d<-%d@%d:%.1f/%d:%.3f", nd.tok, nd.parent, nd.depth, nd.logp, nd.src, nd.step))
	}
	// 3 takes b's -0.2 and is of both sources, with a's step e^-2; its
	// new child 5 is capped at its parent's -0.2, with b's step (its path
	// over its parent's there, at most 1); 4 keeps its step e^-0.4 in a.
	want := "[1<--1@0:0.0/0:0.000 2<-0@1:-0.1/0:0.905 3<-0@1:-0.2/2:0.135 4<-1@2:-0.5/0:0.670 5<-2@2:-0.2/1:1.000]"
	if fmt.Sprint(got) != want {
		t.Fatalf("merged %v, want %s", got, want)
	}
}
