package bench

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"s4c/internal/shared"
	"s4c/model"
	"s4c/tensor"
)

// TestProductsPassReadsEveryMatrix: the products run alone by bench
// engine read exactly the matrices of a decoding step: every 2-D tensor of
// the file but the token embedding table (read one row a step), unless it
// is also the output layer. Checked on the story model (tied embeddings)
// and the conformance models (phi3's fused QKV and gate/up tensors, split
// at load; gemma2; qwen2 with tied embeddings).
func TestProductsPassReadsEveryMatrix(t *testing.T) {
	archs := filepath.Dir(shared.Path(t, "conformance/archs/index.json"))
	paths := []string{shared.Path(t, "models/stories260K.gguf")}
	for _, a := range []string{"phi3", "gemma2", "qwen2"} {
		paths = append(paths, filepath.Join(archs, a, "model.gguf"))
	}
	for _, path := range paths {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for i := range m.File.Tensors {
			tt := &m.File.Tensors[i]
			if len(tt.Dims) != 2 || (tt.Name == "token_embd.weight" && m.Output != m.Embed) {
				continue
			}
			want += int64(tt.Size)
		}
		p := newProductsPass(m)
		if p.bytes != want {
			t.Errorf("%s: the products pass reads %d bytes of weights, the file's matrices are %d", path, p.bytes, want)
		}
		p.run(tensor.NewPool(2)) // runs, on the model's own shapes
		m.Close()
	}
}

// TestPrintExplainsSharesOver100: a share of the read bandwidth over 100 %
// comes with its reason, and only then.
func TestPrintExplainsSharesOver100(t *testing.T) {
	const note = "stayed in the caches"
	for _, c := range []struct {
		name                  string
		tokS, share, products float64
		want                  bool
	}{
		{"all under", 100, 0.9, 0.95, false},
		{"step over the probe beside it", 100, 1.04, 0.98, true},
		{"products alone over", 100, 0.95, 1.1, true},
		{"decode over the best read", 130, 0.95, 0.99, true},
	} {
		r := &EngineResult{Kernel: "avx512", Threads: 2, WeightBytes: 500e6, Params: 1e9,
			ReadBW: 60e9, DecodeTokS: c.tokS, DecodeShare: c.share, ReadBWBeside: 60e9,
			ProductsShare: c.products, ProductsFrac: 0.9, Ctx: 256, PromptLen: 256,
			Ns: []int{1}, TN: []time.Duration{10 * time.Millisecond}}
		var b strings.Builder
		r.Print(&b)
		if got := strings.Contains(b.String(), note); got != c.want {
			t.Errorf("%s: note printed %v, want %v:\n%s", c.name, got, c.want, b.String())
		}
	}
}
