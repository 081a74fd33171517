package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"s4c/engine"
	"s4c/heads"
	"s4c/sample"
	"s4c/speculative"
)

// SpecResult compares a heads method (S^4C or medusa) with plain decoding
// on the same prompts.
type SpecResult struct {
	Prompts     int
	Tokens      int // per prompt
	PlainTime   time.Duration
	SpecTime    time.Duration
	PlainTokens int
	SpecTokens  int
	PerPrompt   []float64 // speed-up per prompt
	Identical   bool
	Stats       speculative.Stats // summed
	Method      string            // the decoding method compared with plain
	Outputs     [][]int32         // plain decoding's output per prompt
}

// Spec decodes every prompt plainly and with the heads' method (s4c for
// S^4C's heads, medusa for independent ones), alternating, at the given
// sampling settings (greedy outputs are checked to be identical).
func Spec(e *engine.Engine, h *heads.Heads, prompts [][]int32, n int, sp sample.Params, opt speculative.Options, progress func(i int, r *SpecResult)) (*SpecResult, error) {
	if n < 1 || len(prompts) == 0 {
		return nil, fmt.Errorf("want at least one prompt (%d) and one new token per prompt (%d)", len(prompts), n)
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	r := &SpecResult{Prompts: len(prompts), Tokens: n, Identical: true, Method: "s4c"}
	if h.Independent {
		r.Method = "medusa"
	}
	for i, p := range prompts {
		sp.Seed = uint64(i)
		req := engine.Request{Prompt: p, MaxTokens: n, Sampling: sp, IgnoreEOG: true}
		want, pst, err := e.GeneratePlain(req)
		if err != nil {
			return nil, err
		}
		got, st, err := speculative.GenerateWith(e, r.Method, h, req, opt)
		if err != nil {
			return nil, err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			r.Identical = false
		}
		r.Outputs = append(r.Outputs, want)
		r.PlainTime += pst.GenTime
		r.SpecTime += st.GenTime
		r.PlainTokens += pst.GenTokens
		r.SpecTokens += st.GenTokens
		r.PerPrompt = append(r.PerPrompt, pst.GenTime.Seconds()/st.GenTime.Seconds())
		r.Stats.Add(st)
		if progress != nil {
			progress(i, r)
		}
	}
	return r, nil
}

// Speedup is the ratio of total decode throughput.
func (r *SpecResult) Speedup() float64 {
	return (float64(r.SpecTokens) / r.SpecTime.Seconds()) / (float64(r.PlainTokens) / r.PlainTime.Seconds())
}

// Print writes the report.
func (r *SpecResult) Print(w io.Writer) {
	med := append([]float64(nil), r.PerPrompt...)
	sort.Float64s(med)
	fmt.Fprintf(w, "%d prompts x %d tokens\n", r.Prompts, r.Tokens)
	name := map[string]string{"s4c": "S^4C", "medusa": "medusa"}[r.Method]
	fmt.Fprintf(w, "plain %.2f tok/s, %s %.2f tok/s: speed-up %.2fx (median per prompt %.2fx, range %.2f-%.2f)\n",
		float64(r.PlainTokens)/r.PlainTime.Seconds(), name, float64(r.SpecTokens)/r.SpecTime.Seconds(), r.Speedup(),
		med[len(med)/2], med[0], med[len(med)-1])
	fmt.Fprintf(w, "%s\n", r.Stats.Summary())
	if r.Identical {
		fmt.Fprintln(w, "outputs identical to plain decoding")
	} else {
		fmt.Fprintf(w, "OUTPUTS DIFFER from plain decoding: %s must reproduce it token for token (a bug; please report)\n", name)
	}
}

// SplitMethod splits a benchmarked method's label: METHOD@FILE is the
// decoding method drafting with the heads in FILE (ok true); any other
// label is a method alone.
func SplitMethod(label string) (method, headsFile string, ok bool) {
	return strings.Cut(label, "@")
}

// MethodBase is the decoding method of a benchmarked method's label.
func MethodBase(label string) string {
	method, _, _ := SplitMethod(label)
	return method
}
