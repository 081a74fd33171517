package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"s4c/internal/shared"
)

// TestArchsMatchLlamaCpp runs the tiny models of ../shared/conformance/archs
// (llama.cpp c392e50 made the references, with an F32 KV cache) and holds
// s4c to them as that README says: the logits at the last prompt position
// within 1e-3 of their range, and the 32 greedy tokens, teacher forced,
// each the argmax wherever the reference's top-2 margin is clear of that
// tolerance. The prompt ids are the tokenizer tests' business (engine);
// here they are taken from the reference.
func TestArchsMatchLlamaCpp(t *testing.T) {
	for _, arch := range []string{"qwen2", "phi3", "gemma2"} {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join(filepath.Dir(shared.Path(t, "conformance/archs/index.json")), arch)
			m, err := Load(filepath.Join(dir, "model.gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			logits, err := os.ReadFile(filepath.Join(dir, "logits.f32"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(dir, "ref.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			prompts := 0
			for sc.Scan() {
				var ref struct {
					PromptIDs     []int32   `json:"prompt_ids"`
					LogitsRow     int       `json:"logits_row"`
					LogitRange    float64   `json:"logit_range"`
					GreedyIDs     []int32   `json:"greedy_ids"`
					GreedyMargins []float64 `json:"greedy_margins"`
					GreedyLogits  []float64 `json:"greedy_logits"`
				}
				if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
					t.Fatal(err)
				}
				prompts++
				tol := 1e-3 * ref.LogitRange
				s := m.NewState(512, 2)
				s.KVF32 = true // the reference ran with an F32 KV cache
				out, err := s.Forward(&Batch{Tokens: ref.PromptIDs})
				if err != nil {
					t.Fatal(err)
				}
				s.Commit(len(ref.PromptIDs))
				got := out.Row(0)
				worst := 0.0
				for j := 0; j < m.Vocab; j++ {
					want := math.Float32frombits(binary.LittleEndian.Uint32(logits[4*(ref.LogitsRow*m.Vocab+j):]))
					worst = max(worst, math.Abs(float64(got[j]-want)))
				}
				if worst > tol {
					t.Errorf("prompt %d: logits differ by up to %.3g at the last prompt position (tolerance %.3g)", ref.LogitsRow, worst, tol)
				}
				// Teacher forced along the reference's greedy path.
				for k, id := range ref.GreedyIDs {
					l := out.Row(0)
					if d := math.Abs(float64(l[id]) - ref.GreedyLogits[k]); d > tol {
						t.Errorf("prompt %d step %d: logit of %d is %v, llama.cpp %v", ref.LogitsRow, k, id, l[id], ref.GreedyLogits[k])
						break
					}
					if ref.GreedyMargins[k] > 2*tol && argmax(l) != id {
						t.Errorf("prompt %d step %d: argmax %d, llama.cpp %d (margin %v)", ref.LogitsRow, k, argmax(l), id, ref.GreedyMargins[k])
						break
					}
					if out, err = s.Forward(&Batch{Tokens: []int32{id}}); err != nil {
						t.Fatal(err)
					}
					s.Commit(1)
				}
				t.Logf("prompt %d (%d tokens): max |Δlogit| %.2g of range %.3g", ref.LogitsRow, len(ref.PromptIDs), worst, ref.LogitRange)
			}
			if prompts != 8 {
				t.Fatalf("%d reference prompts, want 8", prompts)
			}
		})
	}
}
