package sample

import (
	"fmt"
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

// TestUpcomingKeys: Upcoming tells the keys the coming draws use, without
// using them up, one per sampled token even where one candidate is left.
func TestUpcomingKeys(t *testing.T) {
	s := New(Params{Temp: 1, TopP: 1, RepeatPenalty: 1, Seed: 9})
	keys := s.Upcoming(4)
	if again := s.Upcoming(4); fmt.Sprint(again) != fmt.Sprint(keys) {
		t.Fatalf("Upcoming used up keys: %v then %v", keys, again)
	}
	d := s.Distribution([]float32{0, 0.5, 1, 1.5, 2}, nil)
	one := Dist{IDs: []int32{7}, Probs: []float32{1}}
	for i, k := range keys {
		dd := d
		if i == 1 {
			dd = one // a single candidate still takes its key
		}
		if got, want := s.Draw(dd), dd.Pick(k); got != want {
			t.Fatalf("draw %d: got %d, Pick with the announced key gives %d", i, got, want)
		}
	}
}

// TestPickCoupling: Pick does not depend on the order of a distribution's
// ids, and two close distributions draw the same id with the same key at
// least (1-δ)/(1+δ) of the time (δ their total variation distance), far
// more often than independent draws agree.
func TestPickCoupling(t *testing.T) {
	p := Dist{IDs: []int32{3, 1, 4, 5}, Probs: []float32{0.5, 0.3, 0.15, 0.05}}
	rev := Dist{IDs: []int32{5, 4, 1, 3}, Probs: []float32{0.05, 0.15, 0.3, 0.5}}
	q := Dist{IDs: []int32{1, 3, 4, 9}, Probs: []float32{0.4, 0.4, 0.1, 0.1}}
	delta := 0.5 * (0.1 + 0.1 + 0.05 + 0.05 + 0.1) // |p-q| summed over 3, 1, 4, 5, 9, halved
	const n = 20000
	same := 0
	for k := uint64(0); k < n; k++ {
		key := k * 0x2545f4914f6cdd1d
		if p.Pick(key) != rev.Pick(key) {
			t.Fatalf("key %d: the same distribution in another order drew another id", key)
		}
		if p.Pick(key) == q.Pick(key) {
			same++
		}
	}
	rate, bound := float64(same)/n, (1-delta)/(1+delta)
	indep := 0.5*0.4 + 0.3*0.4 + 0.15*0.1
	t.Logf("same id %.3f of the time (bound %.3f, independent draws %.3f)", rate, bound, indep)
	if rate < bound {
		t.Fatalf("coupled draws agree %.3f of the time, below the bound %.3f", rate, bound)
	}
}
