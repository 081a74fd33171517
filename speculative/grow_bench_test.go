package speculative

import (
	"os"
	"testing"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/shared"
)

// BenchmarkGrow times growing the dynamic tree for 8 kept nodes (what a
// round drafts on the 1.1B twin), from a story prompt's real hidden
// state: on the 260K model with the shipped heads, and on the 1.1B twin
// with its heads where 'make demo' left them (S4C_TWIN names another
// path). Allocations are reported: a fresh buffer of tens of kilobytes
// per round cost the twin more than half its drafting time.
func BenchmarkGrow(b *testing.B) {
	twin := shared.Twin()
	for _, c := range []struct{ name, model, heads string }{
		{"260K", shared.Path(b, "models/stories260K.gguf"), "../models/stories260K.s4c.gguf"},
		{"twin-1.1B", twin, heads.PathFor(twin)},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := os.Stat(c.heads); err != nil {
				b.Skipf("%s: no heads (make demo makes the twin and its heads)", c.heads)
			}
			e, err := engine.Load(c.model, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			hd, err := heads.Load(c.heads, e.Model)
			if err != nil {
				b.Fatal(err)
			}
			s, h, tok := afterPrompt(b, e, storyPrompts(b)[0])
			d := &headsDrafter{m: e.Model, hd: hd, opt: Options{TopK: 8, Width: 10}, p: s.Pool}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.grow(h, tok, d.options(8))
			}
		})
	}
}
