package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"s4c/speculative"
)

// metrics are the server's Prometheus metrics, on their own registry (so
// that two servers in one process, as in tests, do not collide). The
// Prometheus client library writes the exposition format.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec // by endpoint and status code
	promptToks  prometheus.Counter
	genToks     prometheus.Counter
	passes      prometheus.Counter
	drafted     prometheus.Counter
	accepted    *prometheus.CounterVec // by depth
	rounds      prometheus.Counter     // verification rounds of finished requests
	emitted     prometheus.Counter     // tokens of finished requests
	queue       prometheus.Gauge
	active      prometheus.Gauge
	batch       prometheus.Histogram // sequences per pass
	passRows    prometheus.Histogram // rows per pass
	ttft        prometheus.Histogram
	perToken    prometheus.Histogram
	tau         prometheus.Histogram // per request
	reusedToks  prometheus.Counter
	handlerFunc http.Handler
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s4c_requests_total", Help: "HTTP requests by endpoint and status code."}, []string{"endpoint", "code"})
	m.promptToks = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_prompt_tokens_total", Help: "Prompt tokens of finished requests."})
	m.reusedToks = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_prompt_tokens_reused_total", Help: "Prompt tokens found in a slot's cache and not run again."})
	m.genToks = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_generated_tokens_total", Help: "Tokens generated."})
	m.passes = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_passes_total", Help: "Forward passes of the model."})
	m.drafted = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_draft_tokens_total", Help: "Draft tokens verified."})
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s4c_draft_accepted_total", Help: "Draft tokens accepted, by depth in the draft tree (acceptance per depth)."}, []string{"depth"})
	m.rounds = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_rounds_total", Help: "Verification rounds of finished requests (tokens per round is tau)."})
	m.emitted = prometheus.NewCounter(prometheus.CounterOpts{Name: "s4c_round_tokens_total", Help: "Tokens emitted by the verification rounds of finished requests."})
	m.queue = prometheus.NewGauge(prometheus.GaugeOpts{Name: "s4c_queue_length", Help: "Requests waiting for a slot."})
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{Name: "s4c_active_sequences", Help: "Sequences being decoded."})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s4c_pass_sequences", Help: "Sequences per forward pass (batch size).", Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64}})
	m.passRows = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s4c_pass_tokens", Help: "Tokens per forward pass (prompt chunks, roots and draft nodes).", Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.ttft = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s4c_time_to_first_token_seconds", Help: "From a request's arrival to its first token.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)})
	m.perToken = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s4c_token_latency_seconds", Help: "Seconds per generated token after the first, per request.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.tau = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s4c_tau", Help: "Tokens per verification pass (tau), per request.", Buckets: []float64{1, 1.25, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8}})
	for _, c := range []prometheus.Collector{m.requests, m.promptToks, m.reusedToks, m.genToks, m.passes, m.drafted, m.accepted, m.rounds, m.emitted,
		m.queue, m.active, m.batch, m.passRows, m.ttft, m.perToken, m.tau,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	m.handlerFunc = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// pass records one forward pass.
func (m *metrics) pass(ps speculative.PassStats) {
	m.passes.Inc()
	m.batch.Observe(float64(ps.Seqs))
	m.passRows.Observe(float64(ps.Tokens))
	m.drafted.Add(float64(ps.Drafted))
}

// finished records a finished request's counts.
func (m *metrics) finished(st speculative.Stats, reused int) {
	m.promptToks.Add(float64(st.PromptTokens))
	m.reusedToks.Add(float64(reused))
	m.genToks.Add(float64(st.GenTokens))
	for d, a := range st.AcceptDepth {
		if a > 0 {
			m.accepted.WithLabelValues(strconv.Itoa(d + 1)).Add(float64(a))
		}
	}
	if st.Rounds > 0 {
		m.rounds.Add(float64(st.Rounds))
		m.emitted.Add(float64(st.Rounds + st.Accepted))
		m.tau.Observe(st.Tau())
	}
}
