package model

import "s4c/gguf"

// phi3: llama with the query, key and value projections fused into one
// tensor (attn_qkv: rows Q | K | V) and gate and up fused too (ffn_up:
// rows gate | up, when there is no ffn_gate), Neox RoPE pairs, and every
// layer attending within attention.sliding_window.
func init() {
	register("phi3", architecture{
		config: func(f *gguf.File, c *Config) error {
			c.Rope.Neox = true
			return slidingWindow(f, c)
		},
		layer: func(ld *loader, i int, l *Layer) {
			p, c := blk(i), ld.c
			qd, kvd := c.Heads*c.HeadDim, c.KVDim()
			if ld.has(p + "attn_qkv.weight") {
				qkv := ld.split(p+"attn_qkv.weight", c.Dim, qd, kvd, kvd)
				l.Wq, l.Wk, l.Wv = qkv[0], qkv[1], qkv[2]
			}
			if !ld.has(p + "ffn_gate.weight") {
				gu := ld.split(p+"ffn_up.weight", c.Dim, c.FFN, c.FFN)
				l.FFNGate, l.FFNUp = gu[0], gu[1]
			}
			l.Windowed = c.SlidingWindow > 0
		},
	})
}
