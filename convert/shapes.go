// Package convert writes models with the project's own GGUF writer:
// synthetic models in the exact shapes of real ones (for timing), and
// "inflated" models that compute exactly the function of a small real model
// at the size and cost of a large one (for benchmarks with real behaviour).
package convert

import (
	"fmt"
	"sort"
	"strings"

	"s4c/model"
)

// Shape is the geometry of a Llama-family model.
type Shape struct {
	Name                                    string
	Dim, Layers, Heads, KVHeads, FFN, Vocab int
	Ctx                                     int
	RopeBase                                float64
}

// HeadDim is the size of one attention head.
func (s Shape) HeadDim() int { return s.Dim / s.Heads }

// Shapes are the real models whose geometry synth and inflate reproduce.
var Shapes = map[string]Shape{
	"tinyllama-1.1b": {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000},
	"llama-110m":     {"llama-110m", 768, 12, 12, 12, 2048, 32000, 1024, 10000},
	"llama-42m":      {"llama-42m", 512, 8, 8, 8, 1376, 32000, 1024, 10000},
	"llama-15m":      {"llama-15m", 288, 6, 6, 6, 768, 32000, 256, 10000},
	"llama-7b":       {"llama-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000},
	"llama3-8b":      {"llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000},
	"llama3.2-1b":    {"llama3.2-1b", 2048, 16, 32, 8, 8192, 128256, 8192, 500000},
	"llama3.2-3b":    {"llama3.2-3b", 3072, 28, 24, 8, 8192, 128256, 8192, 500000},
	"smollm-135m":    {"smollm-135m", 576, 30, 9, 3, 1536, 49152, 2048, 10000},
}

// ParseShape finds a shape by name.
func ParseShape(name string) (Shape, error) {
	if s, ok := Shapes[strings.ToLower(name)]; ok {
		return s, nil
	}
	var names []string
	for n := range Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return Shape{}, fmt.Errorf("unknown shape %q (known: %s)", name, strings.Join(names, ", "))
}

// ShapeOf is m's own geometry: inflating a model to it rewrites the same
// function in another tensor type (a quantized copy, e.g. an imperfect
// draft model of the same family).
func ShapeOf(m *model.Model) Shape {
	return Shape{Name: "same", Dim: m.Dim, Layers: m.NLayers, Heads: m.Heads, KVHeads: m.KVHeads, FFN: m.FFN,
		Vocab: m.Vocab, Ctx: m.CtxLen, RopeBase: float64(m.Rope.Base)}
}
