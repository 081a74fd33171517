package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"s4c/chat"
	"s4c/engine"
	"s4c/sample"
	"s4c/speculative"
)

// A Method is one way of decoding: "none" (plain), "s4c", "ngram", …,
// behind one call.
type Method struct {
	Name string
	Gen  func(req engine.Request) ([]int32, speculative.Stats, error)
}

// Task is one benchmark item: a prompt of a category, or a Spec-Bench
// question whose turns are asked one after the other, each after the
// model's own answer to the one before (through the chat template).
type Task struct {
	Category string
	Prompt   []int32  // a plain prompt, or
	Turns    []string // the user's turns of a conversation
}

// Cell sums one method's runs in one category: Stats while running, the
// figures derived from it (tokens, seconds, τ, acceptance per depth) once
// Compare ends.
type Cell struct {
	Tokens  int               `json:"tokens"`
	Seconds float64           `json:"seconds"`
	Differ  int               `json:"differ"` // outputs that differ from plain decoding's
	Runs    int               `json:"runs"`
	Plainly int               `json:"fell_back_to_plain"` // runs where the method measured that speculation cannot pay
	Stats   speculative.Stats `json:"-"`
	Tau     float64           `json:"tau"`
	Accept  []float64         `json:"accept_per_depth"`
	// DraftShare is the share of drafting in drafting plus verification
	// time (the rest is the target's passes).
	DraftShare float64 `json:"draft_share"`
	TokPerS    float64 `json:"tok_per_s"`
	// Tree is the mean number of draft nodes verified in a drafting
	// round; PredictedTau the τ the drafter's calibration expected of
	// those trees (against Tau: whether trees were sized on estimates
	// that held).
	Tree         float64 `json:"tree_nodes"`
	PredictedTau float64 `json:"predicted_tau"`
}

// TokS is the cell's decoding speed.
func (c *Cell) TokS() float64 { return float64(c.Tokens) / max(c.Seconds, 1e-9) }

// CompareResult holds every method's cells by category ("all": overall).
type CompareResult struct {
	Methods    []string                    `json:"methods"`
	Categories []string                    `json:"categories"`
	Cells      map[string]map[string]*Cell `json:"cells"` // category -> method -> cell
	MaxNew     int                         `json:"max_new"`
	Skipped    map[string]int              `json:"skipped,omitempty"` // turns whose prompt did not fit the context, by category
	Temp       float64                     `json:"temp"`
	Machine    string                      `json:"machine,omitempty"`
	Build      string                      `json:"build,omitempty"`
	Model      string                      `json:"model,omitempty"`
	// ReadGBs is the machine's read bandwidth (GB/s, the better of a
	// measurement before and one after the run) and WeightBytes the
	// model's weights, read once per plain decoding step.
	ReadGBs     float64 `json:"read_gb_s,omitempty"`
	WeightBytes int64   `json:"weight_bytes,omitempty"`
}

// Header states the machine, the build and how near plain decoding came
// to the machine's read bandwidth, so the ratios can be read against the
// machine's limits.
func (r *CompareResult) Header(w io.Writer) {
	fmt.Fprintf(w, "machine: %s; build %s\n", r.Machine, r.Build)
	if p := r.Cells["all"]["none"]; p != nil && r.ReadGBs > 0 && r.WeightBytes > 0 {
		gbs := float64(r.WeightBytes) * p.TokS() / 1e9
		fmt.Fprintf(w, "read bandwidth %.1f GB/s (best of before and after the run); plain decoding read %.2f GB of weights per token at %.1f tok/s = %.1f GB/s, %.0f %% of it\n",
			r.ReadGBs, float64(r.WeightBytes)/1e9, p.TokS(), gbs, 100*gbs/r.ReadGBs)
		if gbs > r.ReadGBs {
			fmt.Fprintln(w, "(over 100 %: part of the weights stayed in the caches from one token to the next)")
		}
	}
}

// TaskResult is what one task added to a comparison: one run per method
// and turn. Written as a line of the progress file, it lets an
// interrupted comparison resume where it stopped.
type TaskResult struct {
	Task     int    `json:"task"`
	Category string `json:"category"`
	Runs     []Run  `json:"runs"`
	Skipped  int    `json:"skipped,omitempty"` // turns whose prompt did not fit the context
}

// Run is one method's decoding of one turn.
type Run struct {
	Method string            `json:"method"`
	Differ bool              `json:"differ,omitempty"`
	Stats  speculative.Stats `json:"stats"`
}

// CompareOptions are Compare's resumption and progress hooks.
type CompareOptions struct {
	Done     map[int]*TaskResult // tasks already run (resumed), by index
	OnTask   func(*TaskResult) error
	Progress func(done int)
	Stop     func() bool // checked between tasks
}

// ErrStopped is returned by Compare when Stop asked it to end early.
var ErrStopped = fmt.Errorf("comparison stopped")

// Compare decodes every task with every method, the methods' order
// rotating from task to task so that machine noise hits all alike. Plain
// decoding ("none", which must be among the methods) is the reference:
// every other method's output is compared with it (lossless methods
// differ in none), and a conversation's next turn follows plain
// decoding's answer, so every method sees the same prompts. Tasks in
// o.Done are not run again: their runs are counted as recorded.
func Compare(e *engine.Engine, methods []Method, tasks []Task, maxNew int, sp sample.Params, o CompareOptions) (*CompareResult, error) {
	plainAt := -1
	for i, m := range methods {
		if m.Name == "none" {
			plainAt = i
		}
	}
	if plainAt < 0 {
		return nil, fmt.Errorf("the methods must include none (plain decoding, the reference)")
	}
	if maxNew < 1 || len(tasks) == 0 {
		return nil, fmt.Errorf("want at least one task (%d) and one new token (%d)", len(tasks), maxNew)
	}
	r := &CompareResult{MaxNew: maxNew, Temp: float64(sp.Temp), Cells: map[string]map[string]*Cell{}, Skipped: map[string]int{}}
	for _, m := range methods {
		r.Methods = append(r.Methods, m.Name)
	}
	var err error
	for ti, task := range tasks {
		if o.Stop != nil && o.Stop() {
			return r, ErrStopped
		}
		tr := o.Done[ti]
		if tr == nil {
			if tr, err = runTask(e, methods, plainAt, ti, task, maxNew, sp); err != nil {
				return nil, err
			}
			if o.OnTask != nil {
				if err := o.OnTask(tr); err != nil {
					return nil, err
				}
			}
		}
		r.add(tr)
		if o.Progress != nil {
			o.Progress(ti + 1)
		}
	}
	r.finish()
	return r, nil
}

// runTask decodes one task's turns with every method.
func runTask(e *engine.Engine, methods []Method, plainAt, ti int, task Task, maxNew int, sp sample.Params) (*TaskResult, error) {
	tr := &TaskResult{Task: ti, Category: task.Category}
	var msgs []chat.Message
	for turn := 0; turn < max(1, len(task.Turns)); turn++ {
		prompt := task.Prompt
		if len(task.Turns) > 0 {
			msgs = append(msgs, chat.Message{Role: "user", Content: task.Turns[turn]})
			ids, err := e.EncodeChat(msgs)
			if err != nil {
				return nil, err
			}
			prompt = ids
		}
		s := sp
		s.Seed = uint64(ti*8 + turn)
		// Story-style prompts run to the full length (as plain benchmarks
		// do); answers end where the model ends them.
		req := engine.Request{Prompt: prompt, MaxTokens: maxNew, Sampling: s, IgnoreEOG: len(task.Turns) == 0}
		if len(prompt) >= e.Model.CtxLen {
			// A question longer than the model's context (a small
			// model's vocabulary makes long texts long): skipped, and
			// counted; its later turns would be longer still.
			tr.Skipped++
			break
		}
		outs := make([][]int32, len(methods))
		runs := make([]Run, len(methods))
		for k := range methods {
			i := (k + ti + turn) % len(methods)
			m := methods[i]
			out, st, err := m.Gen(req)
			if err != nil {
				return nil, fmt.Errorf("%s on task %d: %w", m.Name, ti, err)
			}
			outs[i] = out
			runs[i] = Run{Method: m.Name, Stats: st}
		}
		for i := range methods {
			runs[i].Differ = i != plainAt && fmt.Sprint(outs[i]) != fmt.Sprint(outs[plainAt])
		}
		tr.Runs = append(tr.Runs, runs...)
		if len(task.Turns) > 0 {
			msgs = append(msgs, chat.Message{Role: "assistant", Content: e.Tok.Decode(outs[plainAt])})
		}
	}
	return tr, nil
}

func (r *CompareResult) cell(cat, method string) *Cell {
	if r.Cells[cat] == nil {
		r.Cells[cat] = map[string]*Cell{}
	}
	if r.Cells[cat][method] == nil {
		r.Cells[cat][method] = &Cell{}
	}
	return r.Cells[cat][method]
}

// add counts a task's runs in its category and overall.
func (r *CompareResult) add(tr *TaskResult) {
	if tr.Skipped > 0 {
		r.Skipped[tr.Category] += tr.Skipped
	}
	for _, run := range tr.Runs {
		for _, cat := range []string{tr.Category, "all"} {
			c := r.cell(cat, run.Method)
			c.Runs++
			c.Stats.Add(run.Stats)
			if run.Stats.Fallback {
				c.Plainly++
			}
			if run.Differ {
				c.Differ++
			}
		}
	}
}

// finish lists the categories and derives each cell's figures.
func (r *CompareResult) finish() {
	for cat := range r.Cells {
		if cat != "all" {
			r.Categories = append(r.Categories, cat)
		}
	}
	for cat := range r.Skipped {
		if r.Cells[cat] == nil {
			r.Categories = append(r.Categories, cat)
		}
	}
	sort.Strings(r.Categories)
	r.Categories = append(r.Categories, "all")
	for _, byMethod := range r.Cells {
		for _, c := range byMethod {
			c.Tokens, c.Seconds = c.Stats.GenTokens, c.Stats.GenTime.Seconds()
			c.Tau = c.Stats.Tau()
			c.TokPerS = c.TokS()
			c.Tree, c.PredictedTau = c.Stats.MeanTree(), c.Stats.PredictedTau()
			c.Accept = c.Accept[:0]
			for _, a := range c.Stats.AcceptDepth {
				c.Accept = append(c.Accept, float64(a)/float64(max(c.Stats.DraftRounds, 1)))
			}
			if t := c.Stats.DraftTime + c.Stats.VerifyTime; t > 0 {
				c.DraftShare = c.Stats.DraftTime.Seconds() / t.Seconds()
			}
		}
	}
}

// Speedup is method's tokens/s over plain decoding's in a category.
func (r *CompareResult) Speedup(cat, method string) float64 {
	c, p := r.Cells[cat][method], r.Cells[cat]["none"]
	if c == nil || p == nil {
		return 0
	}
	return c.TokS() / p.TokS()
}

// Markdown writes the table: a row per category, for each method its
// speed-up over plain, tokens/s, τ, the share of drafting in its time and
// the outputs that differ from plain decoding; then acceptance per depth.
func (r *CompareResult) Markdown(w io.Writer) {
	defer func() {
		for _, cat := range r.Categories {
			if n := r.Skipped[cat]; n > 0 {
				fmt.Fprintf(w, "\n%s: %d turns skipped (prompt longer than the model's context)", cat, n)
			}
		}
		fmt.Fprintln(w)
	}()
	fmt.Fprintf(w, "| category |")
	for _, m := range r.Methods {
		fmt.Fprintf(w, " %s |", m)
	}
	fmt.Fprintf(w, "\n|---|")
	for range r.Methods {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintln(w)
	for _, cat := range r.Categories {
		fmt.Fprintf(w, "| %s |", cat)
		for _, m := range r.Methods {
			c := r.Cells[cat][m]
			if c == nil {
				fmt.Fprintf(w, " skipped |")
				continue
			}
			if m == "none" {
				fmt.Fprintf(w, " %.1f tok/s |", c.TokS())
				continue
			}
			if c.Plainly == c.Runs {
				fmt.Fprintf(w, " decoded plainly (speculation cannot pay on this model), differ %d |", c.Differ)
				continue
			}
			fmt.Fprintf(w, " %.2fx, %.1f tok/s, τ %.2f, draft %.0f%%, differ %d |", r.Speedup(cat, m), c.TokS(), c.Tau, 100*c.DraftShare, c.Differ)
		}
		fmt.Fprintln(w)
	}
	// Acceptance per depth, overall: the share of drafting rounds whose
	// depth-d draft was accepted.
	fmt.Fprintf(w, "\n| method (all) | acceptance per depth d1, d2, … | tree nodes | τ predicted |\n|---|---|---|---|\n")
	for _, m := range r.Methods {
		c := r.Cells["all"][m]
		if m == "none" || c == nil || len(c.Accept) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s |", m)
		for _, a := range c.Accept {
			fmt.Fprintf(w, " %.2f", a)
		}
		fmt.Fprintf(w, " | %.1f | %.2f (τ %.2f) |\n", c.Tree, c.PredictedTau, c.Tau)
	}
}

// JSON writes the result with speed-ups filled in.
func (r *CompareResult) JSON(w io.Writer) error {
	type out struct {
		*CompareResult
		Speedups map[string]map[string]float64 `json:"speedups"`
	}
	o := out{r, map[string]map[string]float64{}}
	for _, cat := range r.Categories {
		o.Speedups[cat] = map[string]float64{}
		for _, m := range r.Methods {
			o.Speedups[cat][m] = r.Speedup(cat, m)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(o)
}
