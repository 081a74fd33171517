package model

// llama: the baseline every other architecture is described against
// (RMSNorm, RoPE on interleaved pairs, grouped-query attention, SwiGLU).
// Mistral GGUFs normally say "llama"; those that say "mistral" are the
// same model. llama.cpp reads no sliding window for them: their GGUFs run
// with full causal attention there too, and here.
func init() {
	register("llama", architecture{})
	register("mistral", architecture{})
}
