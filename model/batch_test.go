package model

import (
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"s4c/internal/shared"
)

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func allRows(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// TestBatchInvariance: the logits and hidden states of a token computed in a
// batch of N are bitwise those of the same token computed alone after the
// tokens before it, for every N and thread count.
func TestBatchInvariance(t *testing.T) {
	m := loadStories(t)
	rng := rand.New(rand.NewSource(1))
	toks := make([]int32, 40)
	for i := range toks {
		toks[i] = int32(rng.Intn(m.Vocab))
	}
	// One by one, single thread.
	one := m.NewState(0, 1)
	var ref, refH [][]float32
	for _, tk := range toks {
		out, err := one.Forward(&Batch{Tokens: []int32{tk}, Hidden: true})
		if err != nil {
			t.Fatal(err)
		}
		one.Commit(1)
		ref = append(ref, out.Row(0))
		refH = append(refH, out.Hidden)
	}
	for _, threads := range []int{1, 2, 3} {
		for _, n := range []int{1, 2, 3, 5, 8, 16, 40} {
			s := m.NewState(0, threads)
			for at := 0; at < len(toks); at += n {
				end := min(at+n, len(toks))
				out, err := s.Forward(&Batch{Tokens: toks[at:end], Logits: allRows(end - at), Hidden: true})
				if err != nil {
					t.Fatal(err)
				}
				s.Commit(end - at)
				for k := 0; k < end-at; k++ {
					if !bitsEqual(out.Row(k), ref[at+k]) || !bitsEqual(out.Hidden[k*m.Dim:(k+1)*m.Dim], refH[at+k]) {
						t.Fatalf("threads %d batch %d: token %d differs from one-by-one", threads, n, at+k)
					}
				}
			}
		}
	}
}

// TestTreeMask: a tree of candidates verified in one pass gives, for every
// node, bitwise the logits of running its root-to-node path alone; keeping a
// path in the cache leaves the state of having decoded that path.
func TestTreeMask(t *testing.T) {
	m := loadStories(t)
	prompt := []int32{1, 403, 407, 261, 378}
	// Tree:      0
	//          /   \
	//         1     2
	//        / \     \
	//       3   4     5
	//       |
	//       6
	tree := []int32{432, 383, 322, 286, 261, 13, 376}
	parent := []int32{-1, 0, 0, 1, 1, 2, 3}
	depth := []int32{0, 1, 1, 2, 2, 2, 3}
	s := m.NewState(0, 2)
	if _, err := s.Forward(&Batch{Tokens: prompt}); err != nil {
		t.Fatal(err)
	}
	s.Commit(len(prompt))
	pos := make([]int32, len(tree))
	for i := range pos {
		pos[i] = int32(len(prompt)) + depth[i]
	}
	out, err := s.Forward(&Batch{Tokens: tree, Pos: pos, Parent: parent, Logits: allRows(len(tree)), Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	path := func(i int) []int {
		var p []int
		for a := i; a >= 0; a = int(parent[a]) {
			p = append([]int{a}, p...)
		}
		return p
	}
	for i := range tree {
		alone := m.NewState(0, 1)
		alone.Forward(&Batch{Tokens: prompt})
		alone.Commit(len(prompt))
		var last *Output
		for _, a := range path(i) {
			last, err = alone.Forward(&Batch{Tokens: []int32{tree[a]}, Hidden: true})
			if err != nil {
				t.Fatal(err)
			}
			alone.Commit(1)
		}
		if !bitsEqual(out.Row(i), last.Row(0)) || !bitsEqual(out.Hidden[i*m.Dim:(i+1)*m.Dim], last.Hidden) {
			t.Fatalf("tree node %d differs from decoding its path alone", i)
		}
	}
	// Keep path 0-1-3-6 and continue: must equal sequential decoding.
	if err := s.Cache.Keep([]int{0, 1, 3, 6}); err != nil {
		t.Fatal(err)
	}
	next, err := s.Forward(&Batch{Tokens: []int32{267}})
	if err != nil {
		t.Fatal(err)
	}
	seq := m.NewState(0, 1)
	seq.Forward(&Batch{Tokens: append(append([]int32{}, prompt...), 432, 383, 286, 376)})
	seq.Commit(len(prompt) + 4)
	want, _ := seq.Forward(&Batch{Tokens: []int32{267}})
	if !bitsEqual(next.Row(0), want.Row(0)) {
		t.Fatal("after Keep, decoding differs from sequential decoding of the kept path")
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadStories(t)
	s := m.NewState(8, 1)
	if _, err := s.Forward(&Batch{}); err == nil {
		t.Error("empty batch accepted")
	}
	if _, err := s.Forward(&Batch{Tokens: []int32{int32(m.Vocab)}}); err == nil {
		t.Error("out-of-vocabulary token accepted")
	}
	if _, err := s.Forward(&Batch{Tokens: make([]int32, 9)}); err == nil {
		t.Error("batch larger than the cache accepted")
	} else if _, ok := err.(ErrContextFull); !ok {
		t.Errorf("want ErrContextFull, got %v", err)
	}
	if _, err := s.Forward(&Batch{Tokens: []int32{1, 2}, Parent: []int32{-1, 1}}); err == nil {
		t.Error("self-parent accepted")
	}
}

// TestForwardMany: sequences run together in one pass (a prompt chunk, a
// single token, a draft tree, each on its own cache) get bitwise the
// logits and hidden states each gets in a pass of its own, over several
// rounds in which sequences join, leave and keep parts of a tree; on the
// story model and on gemma2's conformance model (sliding window on
// alternate layers, soft-capping). The shared passes are led in turn by
// states with and without ReuseOutputs.
func TestForwardMany(t *testing.T) {
	models := map[string]*Model{"stories": loadStories(t)}
	g, err := Load(filepath.Join(filepath.Dir(shared.Path(t, "conformance/archs/index.json")), "gemma2", "model.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	models["gemma2"] = g
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			tok := func() int32 { return int32(rng.Intn(m.Vocab)) }
			const seqs = 4
			together := make([]*State, seqs) // run in shared passes
			alone := make([]*State, seqs)    // the same batches, one pass each
			for j := range together {
				together[j], alone[j] = m.NewState(256, 2), m.NewState(256, 1)
				// Half the shared passes put their outputs in the buffers
				// of the state that leads them.
				together[j].ReuseOutputs = j%2 == 0
			}
			for round := 0; round < 15; round++ {
				var ss []*State
				var bs []*Batch
				var who []int
				for j := 0; j < seqs; j++ {
					if (round+j)%5 == 4 { // this sequence sits this round out
						continue
					}
					var b *Batch
					switch {
					case together[j].Cache.Len == 0 || (round+j)%7 == 3: // a prompt (chunk)
						n := 3 + rng.Intn(20)
						b = &Batch{Tokens: make([]int32, n), Logits: allRows(n), Hidden: true}
						for i := range b.Tokens {
							b.Tokens[i] = tok()
						}
					case round >= 12 || (round+j)%2 == 0: // one token (every sequence from round 12 on: a decoding pass)
						b = &Batch{Tokens: []int32{tok()}, Hidden: true}
					default: // a tree: root, two children, a grandchild
						base := together[j].Cache.Pos[together[j].Cache.Len-1] + 1
						b = &Batch{Tokens: []int32{tok(), tok(), tok(), tok()}, Pos: []int32{base, base + 1, base + 1, base + 2},
							Parent: []int32{-1, 0, 0, 2}, Logits: allRows(4), Hidden: true}
					}
					ss, bs, who = append(ss, together[j]), append(bs, b), append(who, j)
				}
				outs, err := ForwardMany(ss, bs)
				if err != nil {
					t.Fatal(err)
				}
				for k, j := range who {
					want, err := alone[j].Forward(bs[k])
					if err != nil {
						t.Fatal(err)
					}
					if !bitsEqual(outs[k].Logits, want.Logits) || !bitsEqual(outs[k].Hidden, want.Hidden) {
						t.Fatalf("round %d: sequence %d in a pass of %d sequences differs from its pass alone", round, j, len(ss))
					}
					keep := allRows(len(bs[k].Tokens))
					if bs[k].Parent != nil {
						keep = []int{0, 2, 3} // root, second child, grandchild
					}
					for _, s := range []*State{together[j], alone[j]} {
						if err := s.Cache.Keep(keep); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
	// Misuse is an error, not a wrong answer.
	m := models["stories"]
	a, b := m.NewState(8, 1), m.NewState(8, 1)
	if _, err := ForwardMany([]*State{a, a}, []*Batch{{Tokens: []int32{1}}, {Tokens: []int32{2}}}); err == nil {
		t.Error("one state twice in a pass: no error")
	}
	if _, err := ForwardMany([]*State{a, b}, []*Batch{{Tokens: []int32{1}}}); err == nil {
		t.Error("two states, one batch: no error")
	}
	if _, err := ForwardMany([]*State{a, b}, []*Batch{{Tokens: []int32{1}}, {Tokens: make([]int32, 9)}}); err == nil || !strings.Contains(err.Error(), "sequence 1") {
		t.Errorf("second sequence over its cache: %v, want an error naming sequence 1", err)
	}
	if _, err := ForwardMany([]*State{a, g.NewState(8, 1)}, []*Batch{{Tokens: []int32{1}}, {Tokens: []int32{1}}}); err == nil {
		t.Error("states of two models in one pass: no error")
	}
}

// TestReuseOutputs: with ReuseOutputs a state's pass writes its logits and
// hidden states into the state's own buffers, which the next pass
// overwrites (and gives the same values a state without it gives); without
// it, an Output stays as it was.
func TestReuseOutputs(t *testing.T) {
	m := loadStories(t)
	reuse, fresh := m.NewState(64, 2), m.NewState(64, 2)
	reuse.ReuseOutputs = true
	var firstR, firstF *Output
	for i, tk := range []int32{5, 77, 300} {
		b := &Batch{Tokens: []int32{tk, tk + 1}, Logits: allRows(2), Hidden: true}
		r, err := reuse.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fresh.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bitsEqual(r.Logits, f.Logits) || !bitsEqual(r.Hidden, f.Hidden) {
			t.Fatalf("pass %d: the reused buffers hold other values than fresh ones", i)
		}
		reuse.Commit(2)
		fresh.Commit(2)
		if i == 0 {
			firstR, firstF = r, f
			continue
		}
		if &firstR.Logits[0] != &r.Logits[0] || &firstR.Hidden[0] != &r.Hidden[0] {
			t.Fatalf("pass %d: ReuseOutputs gave new buffers", i)
		}
		if &firstF.Logits[0] == &f.Logits[0] || bitsEqual(firstF.Logits, f.Logits) {
			t.Fatalf("pass %d: an Output without ReuseOutputs changed with the next pass", i)
		}
	}
}
