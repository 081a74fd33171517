package tokenizer

import (
	"container/heap"
	"strings"
)

// byteToRune is GPT-2's reversible map from bytes to printable characters:
// printable Latin-1 bytes stand for themselves, the others are shifted to
// U+0100 and up, so every byte string becomes a visible string.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

func byteEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

type bpeQueue []bigram

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].left < q[j].left
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bigram)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// encodeBPE pre-tokenizes text into words and merges each word's
// byte-encoded characters by merge rank.
func (t *Tokenizer) encodeBPE(text string, out []int32) []int32 {
	for _, word := range t.pre.split(text) {
		w := byteEncode(word)
		if t.pre.ignoreMerges {
			if id, ok := t.toID[w]; ok {
				out = append(out, id)
				continue
			}
		}
		out = t.mergeWord(w, out)
	}
	return out
}

func (t *Tokenizer) mergeWord(w string, out []int32) []int32 {
	syms := splitChars(w)
	q := &bpeQueue{}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		left := w[syms[l].off : syms[l].off+syms[l].n]
		right := w[syms[r].off : syms[r].off+syms[r].n]
		rank, ok := t.ranks[left+" "+right]
		if !ok {
			return
		}
		heap.Push(q, bigram{left: l, right: r, rank: rank, text: left + right})
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(bigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 {
			continue
		}
		if w[l.off:l.off+l.n]+w[r.off:r.off+r.n] != b.text {
			continue // stale: one side changed since this pair was queued
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		add(l.prev, b.left)
		add(b.left, l.next)
	}
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		s := w[syms[i].off : syms[i].off+syms[i].n]
		if id, ok := t.toID[s]; ok {
			out = append(out, id)
			continue
		}
		// No token for the merged piece: fall back to its characters.
		for _, c := range s {
			if id, ok := t.toID[string(c)]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}
