package speculative

import (
	"fmt"
	"strings"
	"testing"

	"s4c/engine"
	"s4c/sample"
)

// TestDecoderBatchExact: sequences decoded together, one pass per round
// for all of them, joining and leaving at different rounds, with prompts
// of one and of two chunks, each give token for token what plain decoding
// gives them alone, greedy and sampled, for every method, with a fixed
// budget (drafting every round) and the automatic one.
func TestDecoderBatchExact(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	prompts := storyPrompts(t)[:5]
	long := strings.Repeat(prompts[0]+" ", 25) // over engine.PromptChunk tokens
	if n := len(e.Encode(long)); n <= engine.PromptChunk || n > 400 {
		t.Fatalf("the long prompt has %d tokens; want one that takes two chunks and leaves room", n)
	}
	prompts = append(prompts, long)
	samplings := []sample.Params{greedy(), {Temp: 0.8, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 64}}
	for _, method := range Methods {
		for _, budget := range []int{0, 6} {
			if method == "none" && budget > 0 {
				continue
			}
			t.Run(fmt.Sprintf("%s/budget %d", method, budget), func(t *testing.T) {
				h := hd
				if method == "medusa" {
					h = independentHeads(t, e)
				}
				opt := Options{Budget: budget}
				if method == "draft" {
					opt.Draft = loadEngine(t)
				}
				d, err := NewDecoder(e, method, h, opt)
				if err != nil {
					t.Fatal(err)
				}
				var reqs []engine.Request
				var want [][]int32
				for i, p := range prompts {
					sp := samplings[i%len(samplings)]
					sp.Seed = uint64(10 + i)
					req := engine.Request{Prompt: e.Encode(p), MaxTokens: 40 + 17*i, Sampling: sp, IgnoreEOG: true}
					w, _, err := e.GeneratePlain(req)
					if err != nil {
						t.Fatal(err)
					}
					reqs, want = append(reqs, req), append(want, w)
				}
				var seqs []*Seq
				id := map[*Seq]int{} // which request
				joined, steps, most := 0, 0, 0
				drafted := 0
				for joined < len(reqs) || len(seqs) > 0 {
					if joined < len(reqs) && steps%3 == 0 { // a new request every third pass
						q, err := d.Start(e.Model.NewState(512, 2), reqs[joined])
						if err != nil {
							t.Fatal(err)
						}
						id[q] = joined
						seqs = append(seqs, q)
						joined++
					}
					ps, err := d.Step(seqs)
					if err != nil {
						t.Fatal(err)
					}
					steps++
					most = max(most, ps.Seqs)
					drafted += ps.Drafted
					kept := seqs[:0]
					for _, q := range seqs {
						if !q.Done() {
							kept = append(kept, q)
							continue
						}
						if fmt.Sprint(q.Output()) != fmt.Sprint(want[id[q]]) {
							t.Fatalf("request %d in a batch differs from plain decoding alone\nbatch: %v\nplain: %v", id[q], q.Output(), want[id[q]])
						}
					}
					seqs = kept
				}
				t.Logf("%d passes, up to %d sequences in one, %d draft nodes verified (plain: %v)", steps, most, drafted, d.Plain)
				if most < 3 {
					t.Errorf("at most %d sequences shared a pass: batching not exercised", most)
				}
				if budget > 0 && drafted == 0 {
					t.Error("a fixed budget verified no drafts")
				}
			})
		}
	}
}

// TestDecoderPrefixReuse: a second turn started on the cache of the first
// runs only its new tokens, and decodes as a fresh start on the whole
// prompt does.
func TestDecoderPrefixReuse(t *testing.T) {
	e := loadEngine(t)
	hd := shippedHeads(t, e)
	d, err := NewDecoder(e, "s4c", hd, Options{Budget: 6})
	if err != nil {
		t.Fatal(err)
	}
	s := e.Model.NewState(512, 2)
	first := engine.Request{Prompt: e.Encode("Once upon a time"), MaxTokens: 30, Sampling: greedy(), IgnoreEOG: true}
	q, err := d.Start(s, first)
	if err != nil {
		t.Fatal(err)
	}
	for !q.Done() {
		if _, err := d.Step([]*Seq{q}); err != nil {
			t.Fatal(err)
		}
	}
	// The cache holds the prompt and the output: all of it when the last
	// token was an accepted draft, all but the last token (never run) when
	// it was the target's own.
	cached := append(append([]int32(nil), first.Prompt...), q.Output()...)
	if s.Cache.Len != len(cached)-1 && s.Cache.Len != len(cached) {
		t.Fatalf("after the first turn the cache holds %d rows, want %d or %d", s.Cache.Len, len(cached)-1, len(cached))
	}
	inCache := s.Cache.Len
	second := engine.Request{Prompt: append(cached, e.Tok.Encode(" The end. One day", false, false)...), MaxTokens: 30, Sampling: greedy(), IgnoreEOG: true}
	want, _, err := e.GeneratePlain(second)
	if err != nil {
		t.Fatal(err)
	}
	q2, err := d.Start(s, second)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := q2.Reused(), inCache; got != w {
		t.Errorf("second turn reused %d cached tokens, want %d", got, w)
	}
	ps, err := d.Step([]*Seq{q2})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Tokens != len(second.Prompt)-inCache {
		t.Errorf("the second turn's prompt pass ran %d tokens, want only the %d new ones", ps.Tokens, len(second.Prompt)-inCache)
	}
	for !q2.Done() {
		if _, err := d.Step([]*Seq{q2}); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(q2.Output()) != fmt.Sprint(want) {
		t.Fatalf("second turn on the reused cache differs from decoding it afresh\nreused: %v\n fresh: %v", q2.Output(), want)
	}
}

func TestDecoderErrors(t *testing.T) {
	e := loadEngine(t)
	if _, err := NewDecoder(e, "s4c", nil, Options{}); err == nil || !strings.Contains(err.Error(), "heads") {
		t.Errorf("s4c without heads: %v", err)
	}
	if _, err := NewDecoder(e, "medusa2", nil, Options{}); err == nil || !strings.Contains(err.Error(), "unknown decoding method") {
		t.Errorf("unknown method: %v", err)
	}
	d, err := NewDecoder(e, "ngram", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(e.Model.NewState(16, 1), engine.Request{Prompt: make([]int32, 16), MaxTokens: 1, Sampling: greedy()}); err == nil {
		t.Error("a prompt filling the cache: no error")
	}
	if _, err := d.Start(e.Model.NewState(16, 1), engine.Request{MaxTokens: 1, Sampling: greedy()}); err == nil {
		t.Error("an empty prompt: no error")
	}
}
