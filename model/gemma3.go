package model

import (
	"fmt"
	"math"

	"s4c/gguf"
)

// gemma3: gemma2 without soft-capping, with each head's query and key
// RMS-normalised (attn_q_norm, attn_k_norm) before RoPE, as qwen3 does,
// and local layers in a pattern: of every attention.sliding_window_pattern
// layers (default 6) all but the last attend within
// attention.sliding_window, with RoPE of base rope.freq_base_swa (default
// 10000) and no scaling; the global layers use rope.freq_base and the
// file's rope scaling. Queries are scaled by 1/sqrt(head_dim), for the
// 27B shape (62 layers) by 1/sqrt(dim/heads), as llama.cpp does.
func init() {
	register("gemma3", architecture{
		config: func(f *gguf.File, c *Config) error {
			c.Rope.Neox, c.GELU = true, true
			c.EmbedScale = float32(math.Sqrt(float64(c.Dim)))
			if c.NLayers == 62 {
				c.QueryScale = 1 / float32(math.Sqrt(float64(c.Dim/c.Heads)))
			}
			if err := slidingWindow(f, c); err != nil || c.SlidingWindow == 0 {
				return err
			}
			c.SWAPattern = 6
			if v, ok := f.Get(c.Arch + ".attention.sliding_window_pattern"); ok {
				p, isUint := f.Uint(c.Arch + ".attention.sliding_window_pattern")
				if !isUint || p == 0 || p > 1<<16 {
					return fmt.Errorf("metadata %s.attention.sliding_window_pattern = %v: want a positive layer count (per-layer arrays are not supported)", c.Arch, v)
				}
				c.SWAPattern = int(p)
			}
			local := c.Rope
			local.Base, local.FreqScale = 10000, 1
			if b, ok := f.Float(c.Arch + ".rope.freq_base_swa"); ok {
				local.Base = b
			}
			c.RopeSWA = &local
			return nil
		},
		layer: func(ld *loader, i int, l *Layer) {
			p, c := blk(i), ld.c
			l.QNorm = ld.vec(p+"attn_q_norm.weight", c.HeadDim)
			l.KNorm = ld.vec(p+"attn_k_norm.weight", c.HeadDim)
			l.PostAttnNorm = ld.vec(p+"post_attention_norm.weight", c.Dim)
			l.PostFFNNorm = ld.vec(p+"post_ffw_norm.weight", c.Dim)
			l.Windowed = c.SlidingWindow > 0 && i%c.SWAPattern < c.SWAPattern-1
		},
	})
}
