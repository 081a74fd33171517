package model

import "s4c/gguf"

// qwen3: qwen2 without the projection biases, with each head's query and
// key RMS-normalised (attn_q_norm, attn_k_norm, one weight per head
// element) before RoPE.
func init() {
	register("qwen3", architecture{
		config: func(_ *gguf.File, c *Config) error {
			c.Rope.Neox = true
			return nil
		},
		layer: func(ld *loader, i int, l *Layer) {
			l.QNorm = ld.vec(blk(i)+"attn_q_norm.weight", ld.c.HeadDim)
			l.KNorm = ld.vec(blk(i)+"attn_k_norm.weight", ld.c.HeadDim)
		},
	})
}
