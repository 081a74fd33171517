package sample

import (
	"math"
	"testing"
)

func TestGreedy(t *testing.T) {
	s := New(Params{Temp: 0, TopP: 1, RepeatPenalty: 1})
	if got := s.Sample([]float32{1, 3, 3, 2}, nil); got != 1 {
		t.Fatalf("argmax with tie: got %d want 1 (first)", got)
	}
}

func TestFilters(t *testing.T) {
	logits := []float32{0, 1, 2, 3, 4}
	cases := []struct {
		p    Params
		want int // surviving candidates
	}{
		{Params{Temp: 1, TopP: 1, RepeatPenalty: 1}, 5},
		{Params{Temp: 1, TopK: 2, TopP: 1, RepeatPenalty: 1}, 2},
		{Params{Temp: 1, TopP: 0.5, RepeatPenalty: 1}, 1},          // p(4) = 0.636
		{Params{Temp: 1, TopP: 0.9, RepeatPenalty: 1}, 3},          // .636+.234+.086
		{Params{Temp: 1, TopP: 1, MinP: 0.3, RepeatPenalty: 1}, 2}, // e^-1 = .37 >= .3, e^-2 < .3
	}
	for i, c := range cases {
		d := New(c.p).Distribution(logits, nil)
		if len(d.IDs) != c.want {
			t.Errorf("case %d: %d candidates, want %d (%v)", i, len(d.IDs), c.want, d.IDs)
		}
		var sum float64
		for _, q := range d.Probs {
			sum += float64(q)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("case %d: probabilities sum to %v", i, sum)
		}
	}
}

func TestRepeatPenalty(t *testing.T) {
	s := New(Params{Temp: 0, TopP: 1, RepeatPenalty: 2, RepeatLastN: 64})
	// Token 0 (logit 3) was just said; penalised to 1.5 < 2.
	if got := s.Sample([]float32{3, 2}, []int32{0}); got != 1 {
		t.Fatalf("got %d want 1", got)
	}
}

// TestDrawFrequencies: draws follow the distribution (fixed seed, so the
// test is deterministic; the bound is 5 standard deviations).
func TestDrawFrequencies(t *testing.T) {
	s := New(Params{Temp: 1, TopP: 1, RepeatPenalty: 1, Seed: 42})
	d := s.Distribution([]float32{0, 1, 2}, nil)
	const n = 20000
	count := map[int32]int{}
	for i := 0; i < n; i++ {
		count[s.Draw(d)]++
	}
	for i, id := range d.IDs {
		p := float64(d.Probs[i])
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(count[id])-n*p) > 5*sd {
			t.Errorf("token %d: %d draws, expected %.0f", id, count[id], n*p)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Params{{Temp: -1, TopP: 1, RepeatPenalty: 1}, {TopP: 0, RepeatPenalty: 1}, {TopP: 1, MinP: 1, RepeatPenalty: 1}, {TopP: 1, TopK: -1, RepeatPenalty: 1}}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Error(err)
	}
}
