package heads

import (
	"fmt"
	"strconv"
	"strings"

	"s4c/model"
	"s4c/tensor"
)

// RankAcceptKey is the report entry holding the heads' acceptance per depth
// and rank (see RankAccept).
const RankAcceptKey = "rank_accept"

// RankAccept is the heads' measured acceptance per depth and rank:
// RankAccept()[d-1][r] is the fraction of positions where the token the
// target chose at depth d was the rank-r proposal of the head drafting
// depth d, given the true tokens before it (teacher forced). A static tree
// (Medusa's construction, s4c-static) is built from it. ok is false where
// the file does not record it.
func (h *Heads) RankAccept() (acc [][]float64, ok bool, err error) {
	v, ok := h.Report[RankAcceptKey]
	if !ok {
		return nil, false, nil
	}
	for d, row := range strings.Split(v, ";") {
		var r []float64
		for _, f := range strings.Split(row, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !(x >= 0 && x <= 1) {
				return nil, true, fmt.Errorf("heads report %s: depth %d has %q, want probabilities separated by commas", RankAcceptKey, d+1, f)
			}
			r = append(r, x)
		}
		acc = append(acc, r)
	}
	return acc, true, nil
}

// SetRankAccept records acceptance per depth and rank in the report.
func (h *Heads) SetRankAccept(acc [][]float64) {
	rows := make([]string, len(acc))
	for d, r := range acc {
		f := make([]string, len(r))
		for i, x := range r {
			f[i] = strconv.FormatFloat(x, 'f', 4, 64)
		}
		rows[d] = strings.Join(f, ",")
	}
	h.Report[RankAcceptKey] = strings.Join(rows, ";")
}

// RankCounts tallies, teacher forced, where the target's tokens rank among
// the heads' proposals on one text: hidden holds the target's final hidden
// state at every position of toks (len(toks)×Dim, from a forward pass with
// Hidden set), and toks is text the target produced greedily, so toks[t+1]
// is its choice after position t. Head k at position t reads the chain
// from h_t with the true tokens toks[t+1..t+1+k] and is scored on
// toks[t+2+k]. counts[k][r] counts rank r (r < ranks; worse ranks are not
// counted), n[k] the positions scored.
func (h *Heads) RankCounts(m *model.Model, hidden []float32, toks []int32, ranks int, p *tensor.Pool) (counts [][]int, n []int) {
	D, V := h.Dim, h.Vocab(m)
	counts = make([][]int, h.K)
	for k := range counts {
		counts[k] = make([]int, ranks)
	}
	n = make([]int, h.K)
	T := len(toks) - 2 // positions with at least one scored token
	if T <= 0 {
		return counts, n
	}
	s := append([]float32(nil), hidden[:T*D]...)
	out := make([]float32, T*D)
	logits := make([]float32, T*V)
	for k := 0; k < h.K; k++ {
		rows := T - k // positions t whose token toks[t+2+k] exists
		if rows <= 0 {
			break
		}
		in := s
		if h.Independent {
			in = hidden[:rows*D]
		}
		h.Step(m, k, in[:rows*D], toks[1+k:1+k+rows], out[:rows*D], p)
		h.Logits(m, out, rows, logits, p)
		for t := 0; t < rows; t++ {
			// A token outside the draft vocabulary is never proposed.
			if i := h.Index(m, toks[t+2+k]); i >= 0 {
				if r := rankOf(logits[t*V:(t+1)*V], int32(i)); r < ranks {
					counts[k][r]++
				}
			}
			n[k]++
		}
		s, out = out, s
	}
	return counts, n
}

// MeasureRankAccept runs the target over each text (prompt and the
// target's own greedy continuation, from position from[i] on) and returns
// RankAccept's acceptance per depth and rank, teacher forced, over all of
// them: the fraction of scored positions whose token was the head's rank-r
// proposal.
func (h *Heads) MeasureRankAccept(m *model.Model, texts [][]int32, from []int, ranks, threads int) ([][]float64, error) {
	counts := make([][]int, h.K)
	for k := range counts {
		counts[k] = make([]int, ranks)
	}
	n := make([]int, h.K)
	for i, toks := range texts {
		s := m.NewState(len(toks), threads)
		hidden := make([]float32, 0, len(toks)*m.Dim)
		for at := 0; at < len(toks); at += 128 {
			chunk := toks[at:min(at+128, len(toks))]
			o, err := s.Forward(&model.Batch{Tokens: chunk, Hidden: true})
			if err != nil {
				return nil, err
			}
			s.Commit(len(chunk))
			hidden = append(hidden, o.Hidden[:len(chunk)*m.Dim]...)
		}
		f := min(from[i], len(toks))
		c, cn := h.RankCounts(m, hidden[f*m.Dim:], toks[f:], ranks, s.Pool)
		for k := range counts {
			for r := range counts[k] {
				counts[k][r] += c[k][r]
			}
			n[k] += cn[k]
		}
	}
	acc := make([][]float64, h.K)
	for k := range acc {
		acc[k] = make([]float64, ranks)
		for r := range acc[k] {
			acc[k][r] = float64(counts[k][r]) / float64(max(n[k], 1))
		}
	}
	return acc, nil
}
