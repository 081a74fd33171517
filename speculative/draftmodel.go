package speculative

import (
	"fmt"
	"math"
	"time"

	"s4c/engine"
	"s4c/model"
	"s4c/sample"
	"s4c/tensor"
)

// modelDrafter drafts with a smaller model of the same vocabulary, as
// standard speculative sampling (SpS) does: the draft model keeps its own
// KV cache in step with the accepted text and decodes a chain of up to
// maxLen tokens per round, one draft-model step each: greedily, or in a
// sampled round drawing each token with the key the target will draw
// that position with (coupled draws, see coupling). Its tokens'
// probabilities size the chain through the same calibrated cost model; the
// target's own choice decides what is accepted, so decoding stays
// lossless however good the draft model is.
type modelDrafter struct {
	dm     *model.Model
	s      *model.State
	p      *tensor.Pool
	maxLen int
	synced []int32 // the tokens whose rows the draft cache holds
	logits []float32
	smp    *sample.Sampler // shapes its distribution in sampled rounds (its random stream is unused)
}

func newModelDrafter(dm *model.Model, p *tensor.Pool) *modelDrafter {
	return &modelDrafter{dm: dm, p: p, maxLen: 8}
}

func (d *modelDrafter) depth() int { return d.maxLen }

// cost times a whole chain from a short context (after one untimed): the
// draft model's steps are the drafting cost. Measured once per draft model
// and thread count (a probe allocates a whole KV cache of the draft model).
func (d *modelDrafter) cost() float64 {
	return cachedCost(draftKey{dm: d.dm, threads: d.p.Threads}, func() float64 {
		probe := newModelDrafter(d.dm, d.p)
		hist := []int32{1, 2, 3, 4}
		best := math.Inf(1)
		for r := 0; r < 4; r++ {
			probe.synced = nil
			t0 := time.Now()
			probe.draft(nil, hist[3], hist, d.maxLen, nil)
			if r > 0 {
				best = min(best, time.Since(t0).Seconds())
			}
		}
		return best
	})
}

// draft brings the draft cache up to history (which ends with b), then
// decodes a greedy chain.
func (d *modelDrafter) draft(_ []float32, b int32, history []int32, nodes int, cp *coupling) *tree {
	t := &tree{nodes: []node{{tok: b, parent: -1}}}
	n := min(nodes, d.maxLen)
	if n < 1 || len(history) == 0 {
		return t
	}
	if d.s == nil {
		d.s = d.dm.NewState(0, d.p.Threads)
		d.s.ReuseOutputs = true // each pass's logits are copied or used before the next
		d.s.Pool = d.p
	}
	if len(history)+n > d.s.Cache.Cap {
		return t // past the draft model's context: no drafts
	}
	// Keep the rows of the longest common prefix; rerun at least the last
	// token, for its logits.
	keep := 0
	for keep < len(d.synced) && keep < len(history)-1 && d.synced[keep] == history[keep] {
		keep++
	}
	d.s.Cache.Truncate(keep)
	d.synced = append(d.synced[:keep], history[keep:]...)
	logits, _, err := engine.Prefill(d.s, history[keep:], false)
	if err != nil {
		d.reset()
		return t
	}
	logp := 0.0
	for depth := 1; depth <= n; depth++ {
		var top idLogp
		if cp != nil {
			if d.smp == nil || d.smp.P != cp.p {
				d.smp = sample.New(cp.p)
			}
			top = cp.pick(d.smp.Distribution(logits, d.synced), depth)
		} else {
			top = topKLogProbs(logits, 1)[0]
		}
		logp += top.logp
		t.nodes = append(t.nodes, node{tok: top.id, parent: depth - 1, depth: depth, logp: logp})
		if depth == n {
			break
		}
		o, err := d.s.Forward(&model.Batch{Tokens: []int32{top.id}})
		if err != nil {
			d.reset()
			return t
		}
		d.s.Commit(1)
		d.synced = append(d.synced, top.id)
		logits = append(d.logits[:0], o.Row(0)...)
		d.logits = logits
	}
	return t
}

// reset forgets the draft cache (it is rebuilt from the history next round).
func (d *modelDrafter) reset() {
	d.synced = d.synced[:0]
	if d.s != nil {
		d.s.Cache.Truncate(0)
	}
}

// checkDraftModel refuses a draft model that cannot draft for target: it
// must share the vocabulary (the same token ids).
func checkDraftModel(target, dm *engine.Engine) error {
	if dm == nil {
		return fmt.Errorf("decoding method draft needs a draft model (--draft-model SMALL.gguf)")
	}
	if dm.Model.Vocab != target.Model.Vocab {
		return fmt.Errorf("the draft model has a vocabulary of %d tokens, the target %d: a draft model must share the target's tokenizer", dm.Model.Vocab, target.Model.Vocab)
	}
	if a, b := dm.Tok.Tokens, target.Tok.Tokens; len(a) == len(b) {
		for i := range a {
			if a[i] != b[i] {
				return fmt.Errorf("the draft model's token %d is %q, the target's %q: a draft model must share the target's tokenizer", i, a[i], b[i])
			}
		}
	}
	return nil
}
