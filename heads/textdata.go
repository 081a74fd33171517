package heads

import (
	"fmt"

	"s4c/model"
)

// Teacher-forced data: instead of generating text, the target reads given
// text (prompt passes, so at prompt speed: many tokens per pass of the
// weights) and at every position the record keeps what generated data
// keeps: the token, the target's hidden state after it and its own
// distribution of the next token. The heads learn the target's
// predictions, not the text's tokens, so the text only has to be of the
// kind the model will write (EAGLE and Medusa train on chat data so).

// TextConfig describes how teacher-forced data is made.
type TextConfig struct {
	// SeqLen is the positions of one record: one forward pass.
	SeqLen int
	// Window is how many tokens of one text share a cache; a longer text
	// goes on in a fresh cache, begun with BOS (when the text begins with
	// it) so that the model sees a start it knows. At most the model's
	// context.
	Window  int
	BOS     int32
	Threads int
	// Progress is called with the records and tokens on file: first
	// before any work (a resumed run's), then after each record.
	Progress func(seqs, tokens int)
	Stop     func() bool // checked between passes
}

// textPiece is one record's tokens: text tok[lo:hi], with a fresh cache
// (and BOS prepended, if bos) when first is set.
type textPiece struct {
	text, lo, hi int
	first, bos   bool
}

// textPieces lists the records texts make, in the order they are written
// (the same every run, so that a resumed run skips those on file).
func textPieces(texts [][]int32, cfg TextConfig) []textPiece {
	var ps []textPiece
	for i, t := range texts {
		startsBOS := len(t) > 0 && t[0] == cfg.BOS
		for w := 0; w < len(t); {
			// A window after the first gives one token to BOS.
			bos := w > 0 && startsBOS
			room := cfg.Window
			if bos {
				room--
			}
			end := min(len(t), w+room)
			for lo := w; lo < end; lo += cfg.SeqLen {
				hi := min(end, lo+cfg.SeqLen)
				ps = append(ps, textPiece{text: i, lo: lo, hi: hi, first: lo == w, bos: bos && lo == w})
			}
			w = end
		}
	}
	return ps
}

// GenerateFromText appends teacher-forced records of texts (token ids, as
// the model's tokenizer gives them, BOS included) to the data file until it
// holds want tokens or the texts end. It returns the tokens on file.
func GenerateFromText(path string, m *model.Model, texts [][]int32, want int, cfg TextConfig) (int, error) {
	if cfg.SeqLen < 1 {
		return 0, fmt.Errorf("teacher-forced data: %d positions per record", cfg.SeqLen)
	}
	cfg.Window = max(min(cfg.Window, m.CtxLen), cfg.SeqLen+1)
	if cfg.Window > m.CtxLen {
		return 0, fmt.Errorf("teacher-forced data: passes of %d tokens do not fit the model's context of %d", cfg.SeqLen, m.CtxLen)
	}
	f, nseq, ntok, err := CreateOrAppend(path, m)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if cfg.Progress != nil {
		cfg.Progress(nseq, ntok)
	}
	pieces := textPieces(texts, cfg)
	// A resumed run recomputes only the window it stopped in.
	from := 0
	for k := range pieces[:min(nseq+1, len(pieces))] {
		if pieces[k].first {
			from = k
		}
	}
	var s *model.State
	for k, p := range pieces {
		if k < from {
			continue
		}
		if ntok >= want {
			break
		}
		if cfg.Stop != nil && cfg.Stop() {
			return ntok, ErrInterrupted
		}
		if p.first {
			s = m.NewState(cfg.Window, cfg.Threads)
			if p.bos {
				if _, err := s.Forward(&model.Batch{Tokens: []int32{cfg.BOS}}); err != nil {
					return ntok, err
				}
				s.Commit(1)
			}
		}
		toks := texts[p.text][p.lo:p.hi]
		// A record on file already is run for its cache rows only: the
		// records after it in the same window attend to them.
		b := &model.Batch{Tokens: toks}
		record := k >= nseq
		if record {
			b.Logits, b.Hidden = make([]int, len(toks)), true
			for r := range b.Logits {
				b.Logits[r] = r
			}
		}
		out, err := s.Forward(b)
		if err != nil {
			return ntok, err
		}
		s.Commit(len(toks))
		if !record {
			continue
		}
		seq := &Seq{}
		for r, t := range toks {
			appendPos(seq, m, t, out.Hidden[r*m.Dim:], out.Row(r))
		}
		if err := writeSeq(f, seq); err != nil {
			return ntok, err
		}
		nseq++
		ntok += len(toks)
		if cfg.Progress != nil {
			cfg.Progress(nseq, ntok)
		}
	}
	return ntok, f.Sync()
}
