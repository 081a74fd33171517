package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
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

// reference is Distribution the plain way, as it was written first: sort
// every token, then top-k, top-p, min-p and temperature.
func reference(p Params, logits []float32) Dist {
	c := make([]cand, len(logits))
	for i, v := range logits {
		c[i] = cand{int32(i), v}
	}
	sort.Slice(c, func(i, j int) bool { return better(c[i], c[j]) })
	if p.TopK > 0 && p.TopK < len(c) {
		c = c[:p.TopK]
	}
	w := make([]float64, len(c))
	var sum float64
	for i := range c {
		w[i] = math.Exp(float64(c[i].v - c[0].v))
		sum += w[i]
	}
	pr := make([]float32, len(c)) // as float32, like the sampler's
	for i := range c {
		pr[i] = float32(w[i] / sum)
	}
	n := len(c)
	if p.TopP < 1 {
		var cum float64
		for i := range c {
			cum += float64(pr[i])
			if cum >= float64(p.TopP) {
				n = i + 1
				break
			}
		}
	}
	if p.MinP > 0 {
		k := 1
		for k < n && float64(pr[k]) >= float64(pr[0])*float64(p.MinP) {
			k++
		}
		n = k
	}
	d := Dist{IDs: make([]int32, n), Probs: make([]float32, n)}
	var z float64
	for i := 0; i < n; i++ {
		z += math.Exp(float64((c[i].v - c[0].v) / p.Temp))
	}
	for i := 0; i < n; i++ {
		d.IDs[i] = c[i].id
		d.Probs[i] = float32(math.Exp(float64((c[i].v-c[0].v)/p.Temp)) / z)
	}
	return d
}

// TestDistributionMatchesSortingAll: Distribution sorts only the tokens
// that can survive; it keeps the same tokens, in the same order, with the
// same probabilities as sorting them all.
func TestDistributionMatchesSortingAll(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		V := 1 + r.IntN(5000)
		logits := make([]float32, V)
		scale := []float64{0.1, 1, 3, 10}[trial%4]
		for i := range logits {
			logits[i] = float32(r.NormFloat64() * scale)
			if trial%5 == 0 {
				logits[i] = float32(math.Round(float64(logits[i]))) // ties
			}
		}
		p := Params{Temp: []float32{0.3, 0.8, 1, 1.5}[r.IntN(4)], TopK: []int{0, 0, 1, 40, 200}[r.IntN(5)],
			TopP: []float32{1, 0.5, 0.9, 0.95, 0.999}[r.IntN(5)], MinP: []float32{0, 0, 0.05, 0.2}[r.IntN(4)], RepeatPenalty: 1}
		got, want := New(p).Distribution(logits, nil), reference(p, logits)
		if (p.TopK == 0 || p.TopK >= V) && p.TopP == 1 && p.MinP == 0 {
			// Nothing truncated: every id, in id order.
			sort.Sort(byID(got))
			sort.Sort(byID(want))
		}
		if fmt.Sprint(got.IDs) != fmt.Sprint(want.IDs) {
			t.Fatalf("trial %d (%d tokens, %+v): ids %v, sorting all gives %v", trial, V, p, got.IDs, want.IDs)
		}
		for i := range got.Probs {
			if math.Abs(float64(got.Probs[i]-want.Probs[i])) > 1e-5 {
				t.Fatalf("trial %d: token %d probability %v, sorting all gives %v", trial, got.IDs[i], got.Probs[i], want.Probs[i])
			}
		}
	}
}

// BenchmarkSample32k: one sampled token from a 32000-token vocabulary,
// llama.cpp's default settings.
func BenchmarkSample32k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	for _, p := range []Params{Defaults(), {Temp: 1, TopP: 0.95, RepeatPenalty: 1}, {Temp: 1, TopP: 1, RepeatPenalty: 1}} {
		b.Run(fmt.Sprintf("topk%d-topp%g-minp%g", p.TopK, p.TopP, p.MinP), func(b *testing.B) {
			s := New(p)
			for i := 0; i < b.N; i++ {
				s.Sample(logits, nil)
			}
		})
	}
}

// byID sorts a distribution's entries by id.
type byID Dist

func (d byID) Len() int           { return len(d.IDs) }
func (d byID) Less(i, j int) bool { return d.IDs[i] < d.IDs[j] }
func (d byID) Swap(i, j int) {
	d.IDs[i], d.IDs[j] = d.IDs[j], d.IDs[i]
	d.Probs[i], d.Probs[j] = d.Probs[j], d.Probs[i]
}

// TestSampleUntruncated: without top-k, top-p or min-p, Sample draws with
// the Gumbel-max rule straight from the logits (gumbelMax, pruned by
// gumbelBound) and must take the id that Draw takes from the full
// distribution with the same key, for every key: over a peaked and a flat
// vocabulary, at three temperatures, with and without the repetition
// penalty.
func TestSampleUntruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, spread := range []float64{0.3, 3} {
		logits := make([]float32, 5000)
		for i := range logits {
			logits[i] = float32(r.NormFloat64() * spread)
		}
		for _, temp := range []float32{0.3, 1, 2.5} {
			for _, pen := range []float32{1, 1.3} {
				p := Params{Temp: temp, TopP: 1, RepeatPenalty: pen, RepeatLastN: 64, Seed: 9}
				history := []int32{5, 17, 17, 4000}
				fast, full := New(p), New(p)
				differ := 0
				for n := 0; n < 300; n++ {
					a := fast.Sample(logits, history)
					b := full.Draw(full.Distribution(logits, history))
					if a != b {
						differ++
					}
				}
				// Ties within float32 rounding of a probability may
				// part them; none were seen.
				if differ > 0 {
					t.Errorf("spread %g, temp %g, penalty %g: %d of 300 draws differ", spread, temp, pen, differ)
				}
			}
		}
	}
}

// TestGumbelBound: the integer bound gumbelMax prunes with is never below
// the noise, at the extremes of the hash and in between.
func TestGumbelBound(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	zs := []uint64{0, 1 << 11, ^uint64(0), ^uint64(0) >> 11 << 11, ^uint64(0) >> 1, 1 << 63}
	for i := 0; i < 200000; i++ {
		zs = append(zs, r.Uint64())
	}
	for k := 0; k < 53; k++ { // u within 2^-k of 1
		zs = append(zs, ^uint64(0)-(uint64(1)<<(11+k)))
	}
	for _, z := range zs {
		if g, b := gumbelOf(z), gumbelBound(z); g > b {
			t.Fatalf("z %#x: noise %v above its bound %v", z, g, b)
		}
	}
}

// TestNonFiniteLogits: -Inf logits (a masked token) neither panic nor get
// drawn, with or without truncation.
func TestNonFiniteLogits(t *testing.T) {
	inf := float32(math.Inf(-1))
	logits := []float32{inf, 1, inf, 2, 0.5, inf}
	for _, p := range []Params{{Temp: 1, TopP: 1, RepeatPenalty: 1}, {Temp: 1, TopP: 0.9, RepeatPenalty: 1}, {Temp: 0.7, TopP: 1, MinP: 0.1, RepeatPenalty: 1}} {
		s := New(p)
		for i := 0; i < 200; i++ {
			if id := s.Sample(logits, nil); logits[id] == inf {
				t.Fatalf("%+v: drew masked token %d", p, id)
			}
		}
	}
}
