package model

import "s4c/gguf"

// qwen2: llama with biases on the query, key and value projections and
// RoPE on Neox (split-half) pairs; often tied output embeddings.
func init() {
	register("qwen2", architecture{
		config: func(_ *gguf.File, c *Config) error {
			c.Rope.Neox, c.QKVBias = true, true
			return nil
		},
		layer: func(ld *loader, i int, l *Layer) {
			p, qd, kvd := blk(i), ld.c.Heads*ld.c.HeadDim, ld.c.KVDim()
			l.Bq = ld.vec(p+"attn_q.bias", qd)
			l.Bk = ld.vec(p+"attn_k.bias", kvd)
			l.Bv = ld.vec(p+"attn_v.bias", kvd)
		},
	})
}
