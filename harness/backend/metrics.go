package backend

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics lives in a registry of its own: several backends run in one
// process (tests, the embedded stack) and must not collide in the global one.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  map[string]prometheus.Observer // by route, resolved once
	handler  http.Handler
	// counters are the requests counter's children met so far, by route and
	// outcome: replaced, never modified, so that every answer reads them
	// without a lock (WithLabelValues hashes and locks on every call).
	counters   atomic.Pointer[map[[2]string]prometheus.Counter]
	countersMu sync.Mutex
}

// routeNames is every value of the route label.
var routeNames = []string{"login", "refresh", "verify", "api", "admin", "metrics", "not_found"}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), latency: map[string]prometheus.Observer{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenstorm_backend_requests_total",
		Help: "Requests answered by the reference backend, by route and outcome.",
	}, []string{"route", "outcome"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tokenstorm_backend_request_duration_seconds",
		Help:    "Time to answer, by route (delay_ms included).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	for _, r := range routeNames {
		m.latency[r] = lat.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, lat,
		// Gauges, not counters: POST /__admin/reset sets them back to zero.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenstorm_backend_effects",
			Help: "Side effects executed by non-idempotent /api/ requests (since the last reset).",
		}, func() float64 { return float64(s.effects.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenstorm_backend_families_revoked",
			Help: "Refresh token families revoked (since the last reset).",
		}, func() float64 { return float64(s.store.revokedFamilies.Load()) }),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

func (m *metrics) observe(route, outcome string, d time.Duration) {
	m.counter(route, outcome).Inc()
	if o, ok := m.latency[route]; ok {
		o.Observe(d.Seconds())
	}
}

// counter is m.requests.WithLabelValues(route, outcome), remembered.
func (m *metrics) counter(route, outcome string) prometheus.Counter {
	k := [2]string{route, outcome}
	if cs := m.counters.Load(); cs != nil {
		if c, ok := (*cs)[k]; ok {
			return c
		}
	}
	m.countersMu.Lock()
	defer m.countersMu.Unlock()
	var old map[[2]string]prometheus.Counter
	if p := m.counters.Load(); p != nil {
		old = *p
	}
	if c, ok := old[k]; ok {
		return c
	}
	c := m.requests.WithLabelValues(route, outcome)
	if len(old) >= maxCounted {
		return c // outcomes beyond any expected set: not remembered
	}
	cs := make(map[[2]string]prometheus.Counter, len(old)+1)
	for k, v := range old {
		cs[k] = v
	}
	cs[k] = c
	m.counters.Store(&cs)
	return c
}

// maxCounted bounds the remembered counters (routes × outcomes are a few dozen).
const maxCounted = 1024

// Registry is the server's own Prometheus registry (served at /metrics), for
// callers that want to gather it together with other parts.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ *settings) string {
	s.metrics.handler.ServeHTTP(w, r)
	return "ok"
}
