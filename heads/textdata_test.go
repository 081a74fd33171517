package heads

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestGenerateFromText: the target reading its own greedy text at prompt
// speed records, position for position, what it recorded generating that
// text one token at a time (hidden states and next-token distributions
// bitwise: passes are batch invariant).
func TestGenerateFromText(t *testing.T) {
	m := loadModel(t)
	prompt := []int32{1, 403, 407}
	gp := filepath.Join(t.TempDir(), "gen.data")
	if err := Generate(gp, m, 60, GenConfig{Prompts: [][]int32{prompt}, BOS: 1, SeqLen: 60, Greedy: 1, Seed: 1, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	gen, _, err := OpenDataset(gp, m)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	g := gen.Seqs[0]
	// The text: the prompt, then the generated tokens (the first record is
	// the prompt's last token).
	text := append(slices.Clone(prompt[:len(prompt)-1]), g.Tokens...)
	for _, seqLen := range []int{7, 100} {
		tp := filepath.Join(t.TempDir(), "text.data")
		n, err := GenerateFromText(tp, m, [][]int32{text}, 1000, TextConfig{SeqLen: seqLen, Window: 512, BOS: 1, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(text) {
			t.Fatalf("seq-len %d: %d tokens on file, want the text's %d", seqLen, n, len(text))
		}
		ds, _, err := OpenDataset(tp, m)
		if err != nil {
			t.Fatal(err)
		}
		var all Seq
		for _, s := range ds.Seqs {
			if len(s.Tokens) > seqLen {
				t.Fatalf("seq-len %d: a record of %d positions", seqLen, len(s.Tokens))
			}
			all.Tokens = append(all.Tokens, s.Tokens...)
			all.Hidden = append(all.Hidden, s.Hidden...)
			all.TopIDs = append(all.TopIDs, s.TopIDs...)
			all.TopP = append(all.TopP, s.TopP...)
		}
		ds.Close()
		off := len(prompt) - 1
		if !slices.Equal(all.Tokens[off:], g.Tokens) {
			t.Fatalf("seq-len %d: tokens differ", seqLen)
		}
		if !slices.Equal(all.Hidden[off*m.Dim:], g.Hidden) || !slices.Equal(all.TopIDs[off*TopN:], g.TopIDs) || !slices.Equal(all.TopP[off*TopN:], g.TopP) {
			t.Fatalf("seq-len %d: teacher-forced states or distributions differ from the generated ones", seqLen)
		}
	}
}

// TestGenerateFromTextResume: a run stopped part way (here by its token
// budget) and continued writes the file one run writes; texts longer than
// the window go on in fresh caches begun with BOS.
func TestGenerateFromTextResume(t *testing.T) {
	m := loadModel(t)
	var texts [][]int32
	for i := 0; i < 3; i++ {
		txt := []int32{1}
		for j := 0; j < 50+40*i; j++ {
			txt = append(txt, int32(3+(j*37+i*11)%500))
		}
		texts = append(texts, txt)
	}
	cfg := TextConfig{SeqLen: 16, Window: 40, BOS: 1, Threads: 1}
	dir := t.TempDir()
	one := filepath.Join(dir, "one.data")
	total := 0
	for _, tx := range texts {
		total += len(tx)
	}
	if n, err := GenerateFromText(one, m, texts, 1<<30, cfg); err != nil || n != total {
		t.Fatalf("one run: %d tokens, %v; want %d", n, err, total)
	}
	two := filepath.Join(dir, "two.data")
	for _, want := range []int{30, 75, 150, 1 << 30} {
		if _, err := GenerateFromText(two, m, texts, want, cfg); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(two)
	if !bytes.Equal(a, b) {
		t.Fatalf("resumed runs wrote %d bytes, one run %d, or other bytes", len(b), len(a))
	}
	// Windows: 40 tokens each, the later ones 39 of the text after BOS.
	ps := textPieces(texts[:1], cfg)
	if len(ps) == 0 || !ps[0].first || ps[0].bos {
		t.Fatalf("first piece %+v", ps[0])
	}
	sawBOS := false
	for _, p := range ps {
		sawBOS = sawBOS || p.bos
	}
	if !sawBOS {
		t.Fatalf("a 51-token text in 40-token windows has no window begun with BOS: %+v", ps)
	}
}

// TestTopDist: the one-pass selection gives the full sort's order (ties
// to the lower id).
func TestTopDist(t *testing.T) {
	logits := make([]float32, 300)
	for i := range logits {
		logits[i] = float32((i*7919)%23) * 0.5
	}
	ids, ps := topDist(logits, TopN)
	idx := make([]int32, len(logits))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	if !slices.Equal(ids, idx[:TopN]) {
		t.Fatalf("top ids %v, want %v", ids, idx[:TopN])
	}
	for i := 1; i < len(ps); i++ {
		if ps[i] > ps[i-1] {
			t.Fatalf("probabilities not descending: %v", ps)
		}
	}
}
