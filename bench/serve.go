package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"s4c/heads"
	"s4c/server"
	"s4c/speculative"
)

// ServeRequest is one request of the serving benchmark: a prompt to
// continue (/v1/completions) or, with Chat, a user message.
type ServeRequest struct {
	Text string
	Chat bool
}

// ServeCell is one method at one concurrency.
type ServeCell struct {
	Method      string
	Concurrency int
	Requests    int
	Tokens      int
	Seconds     float64   // wall time of the whole load
	TTFT        []float64 // seconds, per request
	PerRequest  []float64 // tokens per second after the first token, per request
	Tau         float64   // tokens per verification pass, over the requests
	Errors      int
	Texts       []string // per request index, for the identity check
	MeanSeqs    float64  // sequences per forward pass
	PlainFell   bool     // the method measured that speculation cannot pay and decoded plainly
	Rep         int      // which repetition
}

// TokS is the aggregate generation rate.
func (c *ServeCell) TokS() float64 { return float64(c.Tokens) / max(c.Seconds, 1e-9) }

// ServeResult is a serving benchmark: every method at every concurrency,
// run alternately in one process on one machine.
type ServeResult struct {
	Machine string
	Build   string
	Model   string
	MaxNew  int
	CurveN  []int
	CurveT  []float64 // seconds per pass of CurveN[i] tokens
	Cells   []*ServeCell
	Differ  map[string]int // outputs differing from the first method's, by method
	Methods []string
	Levels  []int
}

// cell finds a measured cell.
func (r *ServeResult) cell(conc, rep int, method string) *ServeCell {
	for _, c := range r.Cells {
		if c.Concurrency == conc && c.Rep == rep && c.Method == method {
			return c
		}
	}
	return nil
}

// ServeConfig configures Serve.
type ServeConfig struct {
	Server      server.Config           // Engine, Parallel, Ctx, Options; Method (and Heads, from the map below) are set per run
	Heads       map[string]*heads.Heads // each method's heads (nil where none are needed)
	Methods     []string
	Concurrency []int
	Requests    []ServeRequest
	PerLevel    int // requests per concurrency level (0: 2 × the level, at least 4)
	Reps        int // repetitions of every cell, methods alternating (default 1)
	MaxNew      int
	Progress    func(method string, conc, done, total int)
}

// Serve runs the serving benchmark: for each concurrency c, for each
// method in turn, a real server on loopback and c clients streaming
// greedy completions until PerLevel requests are done; aggregate tokens
// per second, time to first token and per-request speed are measured, and
// outputs are compared across methods (greedy: they must agree).
func Serve(cfg ServeConfig) (*ServeResult, error) {
	e := cfg.Server.Engine
	r := &ServeResult{MaxNew: cfg.MaxNew, Differ: map[string]int{}, Methods: cfg.Methods, Levels: cfg.Concurrency}
	r.CurveN, r.CurveT = speculative.MeasureCosts(e.Model, e.Threads).Curve()
	for _, c := range cfg.Concurrency {
		n := cfg.PerLevel
		if n == 0 {
			n = max(4, 2*c)
		}
		reps := max(cfg.Reps, 1)
		for rep := 0; rep < reps; rep++ {
			// Methods alternate, in reverse order every other repetition
			// (ABBA), so that a slow minute hits them alike.
			order := slices.Clone(cfg.Methods)
			if rep%2 == 1 {
				slices.Reverse(order)
			}
			for _, method := range order {
				sc := cfg.Server
				sc.Method = MethodBase(method)
				if h, ok := cfg.Heads[method]; ok {
					sc.Heads = h
				}
				sc.Parallel = max(sc.Parallel, c)
				sc.Queue = max(64, 2*c)
				cell, err := serveLevel(sc, method, c, n, cfg)
				if err != nil {
					return nil, fmt.Errorf("%s at concurrency %d: %w", method, c, err)
				}
				cell.Rep = rep
				r.Cells = append(r.Cells, cell)
			}
			// Outputs against the reference method's in this repetition.
			ref := r.cell(c, rep, cfg.Methods[0])
			for _, m := range cfg.Methods[1:] {
				cell := r.cell(c, rep, m)
				for i := range cell.Texts {
					if cell.Texts[i] != ref.Texts[i] {
						r.Differ[m]++
					}
				}
			}
		}
	}
	return r, nil
}

func serveLevel(sc server.Config, method string, conc, total int, cfg ServeConfig) (*ServeCell, error) {
	srv, err := server.New(sc)
	if err != nil {
		return nil, err
	}
	_, plain := srv.Decoder()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Drain(ctx)
		hs.Shutdown(ctx)
	}()
	base := "http://" + ln.Addr().String()
	cell := &ServeCell{Method: method, Concurrency: conc, Requests: total, Texts: make([]string, total), PlainFell: plain && method != "none"}
	passes0, seqs0 := passCounts(base)
	var next atomic.Int64
	var mu sync.Mutex
	var rounds, emitted float64
	var wg sync.WaitGroup
	t0 := time.Now()
	done := 0 // requests finished (under mu)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				q := cfg.Requests[i%len(cfg.Requests)]
				res, err := streamOne(base, q, cfg.MaxNew)
				mu.Lock()
				if err != nil {
					cell.Errors++
				} else {
					cell.Tokens += res.tokens
					cell.TTFT = append(cell.TTFT, res.ttft)
					if res.tokens > 1 {
						cell.PerRequest = append(cell.PerRequest, float64(res.tokens-1)/max(res.rest, 1e-9))
					}
					cell.Texts[i] = res.text
					rounds += res.passes
					emitted += float64(res.tokens)
				}
				// Reported under the lock: counted and drawn outside it, two
				// clients finishing together could draw their counts in the
				// wrong order (and the last count after the closing line).
				done++
				if cfg.Progress != nil {
					cfg.Progress(method, conc, done, total)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cell.Seconds = time.Since(t0).Seconds()
	if rounds > 0 {
		cell.Tau = emitted / rounds
	}
	passes1, seqs1 := passCounts(base)
	if passes1 > passes0 {
		cell.MeanSeqs = (seqs1 - seqs0) / (passes1 - passes0)
	}
	return cell, nil
}

// passCounts reads the server's pass count and the sum of sequences over
// passes from /metrics.
func passCounts(base string) (passes, seqs float64) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "s4c_pass_sequences_count %g", &passes)
		fmt.Sscanf(sc.Text(), "s4c_pass_sequences_sum %g", &seqs)
	}
	return
}

type streamed struct {
	text   string
	tokens int
	ttft   float64 // seconds to the first content
	rest   float64 // seconds from the first content to the end
	passes float64 // verification passes (timings)
}

// streamOne sends one greedy streaming request and reads it to the end.
func streamOne(base string, q ServeRequest, maxNew int) (*streamed, error) {
	body := map[string]any{"max_tokens": maxNew, "temperature": 0, "stream": true, "stream_options": map[string]any{"include_usage": true}}
	path := "/v1/completions"
	if q.Chat {
		path = "/v1/chat/completions"
		body["messages"] = []map[string]string{{"role": "user", "content": q.Text}}
	} else {
		body["prompt"] = q.Text
	}
	b, _ := json.Marshal(body)
	t0 := time.Now()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
	}
	res := &streamed{}
	var first time.Time
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Text  string
				Delta struct{ Content string }
			}
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
			Timings *struct{ Passes float64 }
			Error   *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, err
		}
		if ev.Error != nil {
			return nil, fmt.Errorf("%s", ev.Error.Message)
		}
		for _, c := range ev.Choices {
			if s := c.Text + c.Delta.Content; s != "" {
				if first.IsZero() {
					first = time.Now()
				}
				text.WriteString(s)
			}
		}
		if ev.Usage != nil {
			res.tokens = ev.Usage.CompletionTokens
		}
		if ev.Timings != nil {
			res.passes = ev.Timings.Passes
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	end := time.Now()
	if first.IsZero() {
		first = end
	}
	res.text, res.ttft, res.rest = text.String(), first.Sub(t0).Seconds(), end.Sub(first).Seconds()
	return res, nil
}

func medianF(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// Markdown writes the result as tables: the cost curve, then per
// concurrency each method's aggregate speed, its ratio to the first
// method, time to first token and per-request speed.
func (r *ServeResult) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s\nBuild: %s\nModel: %s, %d new tokens per request, greedy\n\n", r.Machine, r.Build, r.Model, r.MaxNew)
	fmt.Fprintf(w, "Measured cost of a pass of N tokens (what the batch's tree budget is chosen from):\n\n| N |")
	for _, n := range r.CurveN {
		fmt.Fprintf(w, " %d |", n)
	}
	fmt.Fprintf(w, "\n|---|%s\n| t(N)/t(1) |", strings.Repeat("---|", len(r.CurveN)))
	for _, t := range r.CurveT {
		fmt.Fprintf(w, " %.2f |", t/r.CurveT[0])
	}
	reps := 0
	for _, c := range r.Cells {
		reps = max(reps, c.Rep+1)
	}
	fmt.Fprintf(w, "\n\n%d repetition(s) per cell, methods alternating; figures are medians over the repetitions, the ratio the median of each repetition's ratio.\n\n", reps)
	fmt.Fprintf(w, "| concurrency | method | aggregate tok/s | vs %s | per repetition | τ | sequences/pass | TTFT p50 ms | per-request tok/s p50 | errors |\n|---|---|---|---|---|---|---|---|---|---|\n", r.Methods[0])
	for _, level := range r.Levels {
		for _, m := range r.Methods {
			var toks, ratios, ttft, per, tau, seqs []float64
			errs, fell := 0, false
			for rep := 0; rep < reps; rep++ {
				c, ref := r.cell(level, rep, m), r.cell(level, rep, r.Methods[0])
				if c == nil || ref == nil {
					continue
				}
				toks = append(toks, c.TokS())
				ratios = append(ratios, c.TokS()/ref.TokS())
				ttft = append(ttft, c.TTFT...)
				per = append(per, c.PerRequest...)
				tau, seqs = append(tau, c.Tau), append(seqs, c.MeanSeqs)
				errs += c.Errors
				fell = fell || c.PlainFell
			}
			note := ""
			if fell {
				note = " (measured: cannot pay here; decoded plainly)"
			}
			each := make([]string, len(ratios))
			for i, x := range ratios {
				each[i] = fmt.Sprintf("%.2f", x)
			}
			fmt.Fprintf(w, "| %d | %s%s | %.1f | %.2fx | %s | %.2f | %.1f | %.0f | %.1f | %d |\n", level, m, note, medianF(toks), medianF(ratios),
				strings.Join(each, ", "), medianF(tau), medianF(seqs), 1000*medianF(ttft), medianF(per), errs)
		}
	}
	for _, m := range r.Methods[1:] {
		fmt.Fprintf(w, "\n%s: %d outputs differ from %s's (must be 0: greedy decoding is lossless)", m, r.Differ[m], r.Methods[0])
	}
	fmt.Fprintln(w)
}
