package model

import (
	"fmt"
	"math"

	"s4c/gguf"
)

// gemma2: embeddings scaled by sqrt(dim), GeGLU instead of SwiGLU, each
// block's attention and FFN outputs RMS-normalised again
// (post_attention_norm, post_ffw_norm) before the residual add, attention
// scores and final logits soft-capped (c·tanh(x/c)), Neox RoPE pairs, and
// every other layer (the even ones) attending within
// attention.sliding_window. (GGUF norm weights already include gemma's +1.)
func init() {
	register("gemma2", architecture{
		config: func(f *gguf.File, c *Config) error {
			c.Rope.Neox, c.GELU = true, true
			c.EmbedScale = float32(math.Sqrt(float64(c.Dim)))
			if err := softcaps(f, c); err != nil {
				return err
			}
			// llama.cpp scales queries by 1/sqrt(head_dim) for Gemma 2's
			// 2B and 9B (26 and 42 layers) and by 1/sqrt(dim/heads) for
			// 27B (46), and refuses other layer counts.
			switch c.NLayers {
			case 26, 42:
			case 46:
				c.QueryScale = 1 / float32(math.Sqrt(float64(c.Dim/c.Heads)))
			default:
				return fmt.Errorf("gemma2 with %d layers: the known shapes have 26, 42 or 46 (2B, 9B, 27B), which decide how queries are scaled", c.NLayers)
			}
			return slidingWindow(f, c)
		},
		layer: func(ld *loader, i int, l *Layer) {
			l.PostAttnNorm = ld.vec(blk(i)+"post_attention_norm.weight", ld.c.Dim)
			l.PostFFNNorm = ld.vec(blk(i)+"post_ffw_norm.weight", ld.c.Dim)
			l.Windowed = ld.c.SlidingWindow > 0 && i%2 == 0
		},
	})
}
