package backend

import (
	"net/http"
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
	m.requests.WithLabelValues(route, outcome).Inc()
	if o, ok := m.latency[route]; ok {
		o.Observe(d.Seconds())
	}
}

// Registry is the server's own Prometheus registry (served at /metrics), for
// callers that want to gather it together with other parts.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ *settings) string {
	s.metrics.handler.ServeHTTP(w, r)
	return "ok"
}
