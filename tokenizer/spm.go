package tokenizer

import (
	"container/heap"
	"unicode/utf8"
)

// symbol is a piece of the text being merged: text[off:off+n], linked to its
// neighbours. A merged-away symbol has n == 0.
type symbol struct {
	off, n     int
	prev, next int
}

type bigram struct {
	left, right int
	score       float32 // SPM: higher merges first
	rank        int     // BPE: lower merges first
	size        int
	text        string
}

type spmQueue []bigram

func (q spmQueue) Len() int { return len(q) }
func (q spmQueue) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q spmQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *spmQueue) Push(x any)   { *q = append(*q, x.(bigram)) }
func (q *spmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func splitChars(text string) []symbol {
	syms := make([]symbol, 0, len(text))
	for off := 0; off < len(text); {
		_, n := utf8.DecodeRuneInString(text[off:])
		if n == 0 {
			n = 1
		}
		// Use the UTF-8 lead byte's length, as SentencePiece does, so an
		// invalid sequence still advances by whole characters.
		if l := utf8Len(text[off]); l > n && off+l <= len(text) {
			n = l
		}
		syms = append(syms, symbol{off: off, n: n, prev: len(syms) - 1, next: len(syms) + 1})
		off += n
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

func utf8Len(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b>>5 == 0x6:
		return 2
	case b>>4 == 0xe:
		return 3
	case b>>3 == 0x1e:
		return 4
	}
	return 1
}

// encodeSPM merges the characters of text (already escaped: spaces are "▁")
// by descending piece score, and appends the resulting ids to out.
func (t *Tokenizer) encodeSPM(text string, out []int32) []int32 {
	syms := splitChars(text)
	q := &spmQueue{}
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].off : syms[r].off+syms[r].n]
		id, ok := t.toID[s]
		if !ok {
			return
		}
		heap.Push(q, bigram{left: l, right: r, score: t.Scores[id], size: len(s)})
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(bigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	// Every merged symbol is a piece; a single character that is not one is
	// written as its UTF-8 bytes (byte fallback).
	emit := func(off, n int) {
		s := text[off : off+n]
		if id, ok := t.toID[s]; ok {
			out = append(out, id)
			return
		}
		for i := 0; i < n; i++ {
			if id := t.byteTok[s[i]]; id >= 0 {
				out = append(out, id)
			} else if t.UNK >= 0 {
				out = append(out, t.UNK)
			}
		}
	}
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		emit(syms[i].off, syms[i].n)
	}
	return out
}
