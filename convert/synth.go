package convert

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"

	"s4c/gguf"
	"s4c/tensor"
)

// tensorSpec is one tensor of a model being written: its GGUF dims (row
// length first) and a function producing row r's float32 values.
type tensorSpec struct {
	name string
	dims []uint64 // [cols, rows] or [n]
	typ  gguf.TensorType
	row  func(r int, dst []float32)
}

// addTensors registers specs with w, each encoded when the file is written
// (rows are produced and quantized in parallel, in bounded chunks), so a
// multi-GiB model never sits in memory.
func addTensors(w *gguf.Writer, specs []tensorSpec) error {
	for _, sp := range specs {
		sp := sp
		cols := int(sp.dims[0])
		rows := 1
		if len(sp.dims) > 1 {
			rows = int(sp.dims[1])
		}
		typ := sp.typ
		if cols%typ.BlockSize() != 0 {
			return fmt.Errorf("tensor %s: row length %d does not fit %s blocks of %d", sp.name, cols, typ, typ.BlockSize())
		}
		err := w.AddTensorFunc(sp.name, typ, sp.dims, func(out io.Writer) error {
			const chunk = 64
			rb := typ.RowBytes(cols)
			buf := make([]byte, chunk*rb)
			for r0 := 0; r0 < rows; r0 += chunk {
				n := min(chunk, rows-r0)
				var wg sync.WaitGroup
				for r := r0; r < r0+n; r++ {
					wg.Add(1)
					go func(r int) {
						defer wg.Done()
						v := make([]float32, cols)
						sp.row(r, v)
						tensor.QuantizeInto(typ, v, buf[(r-r0)*rb:(r-r0+1)*rb])
					}(r)
				}
				wg.Wait()
				if _, err := out.Write(buf[:n*rb]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// randRow fills dst with N(mean, std) values determined by (seed, tensor
// index, row): any row can be produced independently, in any order.
func randRow(seed uint64, t, r int, mean, std float64, dst []float32) {
	rng := rand.New(rand.NewPCG(seed^uint64(t)*0x9e3779b97f4a7c15, uint64(r)))
	for i := range dst {
		dst[i] = float32(mean + std*rng.NormFloat64())
	}
}

// vocabKV writes a synthetic SentencePiece vocabulary of n tokens:
// <unk>, <s>, </s>, the 256 byte tokens, then pieces "▁t0", "▁t1", …
func vocabKV(w *gguf.Writer, n int) {
	toks := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	toks[0], toks[1], toks[2] = "<unk>", "<s>", "</s>"
	types[0], types[1], types[2] = 2, 3, 3
	for b := 0; b < 256 && 3+b < n; b++ {
		toks[3+b] = fmt.Sprintf("<0x%02X>", b)
		types[3+b] = 6
	}
	for i := 259; i < n; i++ {
		toks[i] = fmt.Sprintf("▁t%d", i)
		scores[i] = -float32(i)
		types[i] = 1
	}
	w.Set("tokenizer.ggml.model", "llama")
	w.Set("tokenizer.ggml.tokens", toks)
	w.Set("tokenizer.ggml.scores", scores)
	w.Set("tokenizer.ggml.token_type", types)
	w.Set("tokenizer.ggml.bos_token_id", uint32(1))
	w.Set("tokenizer.ggml.eos_token_id", uint32(2))
	w.Set("tokenizer.ggml.unknown_token_id", uint32(0))
}

func llamaKV(w *gguf.Writer, name string, s Shape, eps float32) {
	w.Set("general.architecture", "llama")
	w.Set("general.name", name)
	w.Set("llama.context_length", uint32(s.Ctx))
	w.Set("llama.embedding_length", uint32(s.Dim))
	w.Set("llama.block_count", uint32(s.Layers))
	w.Set("llama.feed_forward_length", uint32(s.FFN))
	w.Set("llama.attention.head_count", uint32(s.Heads))
	w.Set("llama.attention.head_count_kv", uint32(s.KVHeads))
	w.Set("llama.rope.dimension_count", uint32(s.HeadDim()))
	w.Set("llama.rope.freq_base", float32(s.RopeBase))
	w.Set("llama.attention.layer_norm_rms_epsilon", eps)
}

// pickType returns typ, or F32 for 1-D tensors (norms stay F32, as in real
// files) and F16 where rows do not fit typ's blocks.
func pickType(typ gguf.TensorType, dims []uint64) gguf.TensorType {
	if len(dims) == 1 {
		return gguf.F32
	}
	if int(dims[0])%typ.BlockSize() != 0 {
		return gguf.F16
	}
	return typ
}

// Synth writes a model of shape s with random weights (N(0, 0.02); norm
// weights near 1), tensors of type typ. Speed does not depend on the values.
func Synth(path string, s Shape, typ gguf.TensorType, seed uint64, progress func(done, total int64)) error {
	if !tensor.Quantizable(typ) {
		return tensor.ErrNotWritable{Type: typ}
	}
	w := gguf.NewWriter()
	llamaKV(w, "s4c synthetic "+s.Name, s, 1e-5)
	w.Set("general.file_type", uint32(typ))
	vocabKV(w, s.Vocab)
	hd := s.HeadDim()
	var specs []tensorSpec
	add := func(name string, dims []uint64, mean, std float64) {
		idx := len(specs)
		specs = append(specs, tensorSpec{name: name, dims: dims, typ: pickType(typ, dims),
			row: func(r int, dst []float32) { randRow(seed, idx, r, mean, std, dst) }})
	}
	D, F, V := uint64(s.Dim), uint64(s.FFN), uint64(s.Vocab)
	add("token_embd.weight", []uint64{D, V}, 0, 0.02)
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", []uint64{D}, 1, 0.05)
		add(p+"attn_q.weight", []uint64{D, uint64(s.Heads * hd)}, 0, 0.02)
		add(p+"attn_k.weight", []uint64{D, uint64(s.KVHeads * hd)}, 0, 0.02)
		add(p+"attn_v.weight", []uint64{D, uint64(s.KVHeads * hd)}, 0, 0.02)
		add(p+"attn_output.weight", []uint64{uint64(s.Heads * hd), D}, 0, 0.02)
		add(p+"ffn_norm.weight", []uint64{D}, 1, 0.05)
		add(p+"ffn_gate.weight", []uint64{D, F}, 0, 0.02)
		add(p+"ffn_up.weight", []uint64{D, F}, 0, 0.02)
		add(p+"ffn_down.weight", []uint64{F, D}, 0, 0.02)
	}
	add("output_norm.weight", []uint64{D}, 1, 0.05)
	add("output.weight", []uint64{D, V}, 0, 0.02)
	if err := addTensors(w, specs); err != nil {
		return err
	}
	w.Progress = progress
	return w.WriteFile(path)
}
