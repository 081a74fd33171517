package model

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"sort"
	"testing"

	"s4c/internal/shared"
)

type refCase struct {
	Prompt     string         `json:"prompt"`
	PromptIDs  []int32        `json:"prompt_ids"`
	GreedyIDs  []int32        `json:"greedy_ids"`
	GreedyText string         `json:"greedy_text"`
	Top5       [][][2]float64 `json:"top5_logits"`
}

func loadRefs(t *testing.T) []refCase {
	f, err := os.Open(shared.Path(t, "models/stories260K.ref.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []refCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r refCase
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("no reference cases")
	}
	return out
}

func loadStories(t testing.TB) *Model {
	m, err := Load(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestReferenceGreedy holds the engine to llama.cpp's output on a real
// model, by the rule of ../shared/README.md: free-running greedy decoding
// must give the reference ids exactly up to the first step whose reference
// margin between the top two logits is below 2e-3.
//
// Logits: on the prompt pass (no history) they must agree within 2e-3 (we
// see ~1e-5). Later steps read keys and values that both engines round to
// float16 (llama.cpp's default cache type); a value computed a few float32
// ulps apart can round to the neighbouring half, which moves later logits by
// up to ~1e-2 after a few hundred steps. Those steps are held to 3e-2, and
// the median over all steps to 2e-3; the test reports both.
func TestReferenceGreedy(t *testing.T) {
	m := loadStories(t)
	worst := 0.0
	var diffs []float64
	for ci, rc := range loadRefs(t) {
		s := m.NewState(0, 2)
		out, err := s.Forward(&Batch{Tokens: rc.PromptIDs})
		if err != nil {
			t.Fatal(err)
		}
		s.Commit(len(rc.PromptIDs))
		logits := out.Row(0)
		matched := 0
		for step, want := range rc.GreedyIDs {
			top := rc.Top5[step]
			tol := 3e-2
			if step == 0 {
				tol = 2e-3
			}
			stepMax := 0.0
			for _, e := range top {
				d := math.Abs(float64(logits[int(e[0])]) - e[1])
				stepMax = math.Max(stepMax, d)
				worst = math.Max(worst, d)
				if d > tol {
					t.Fatalf("case %d %q step %d: logit of token %d = %.6f, reference %.6f", ci, rc.Prompt, step, int(e[0]), logits[int(e[0])], e[1])
				}
			}
			diffs = append(diffs, stepMax)
			got := argmax(logits)
			nearTie := top[0][1]-top[1][1] < 2e-3
			if got != want {
				if nearTie {
					break
				}
				t.Fatalf("case %d %q step %d: greedy token %d, reference %d (margin %.4f)", ci, rc.Prompt, step, got, want, top[0][1]-top[1][1])
			}
			matched++
			if nearTie {
				break
			}
			if out, err = s.Forward(&Batch{Tokens: []int32{got}}); err != nil {
				t.Fatal(err)
			}
			s.Commit(1)
			logits = out.Row(0)
		}
		t.Logf("case %d %q: %d/%d greedy tokens match", ci, rc.Prompt, matched, len(rc.GreedyIDs))
		if matched < 20 {
			t.Errorf("case %d: only %d tokens compared before a near-tie", ci, matched)
		}
	}
	sort.Float64s(diffs)
	med := diffs[len(diffs)/2]
	t.Logf("logit difference over %d steps: median %.2e, largest %.2e", len(diffs), med, worst)
	if med > 2e-3 {
		t.Errorf("median logit difference %.2e > 2e-3", med)
	}
}
