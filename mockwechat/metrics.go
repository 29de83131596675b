package mockwechat

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live in a registry of their own: a test process runs many Servers,
// and the global registry would reject their duplicate collectors.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	faults   *prometheus.CounterVec
	handler  http.Handler
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mockwechat_requests_total",
			Help: "Requests answered, by API, WeChat errcode (\"none\" for non-WeChat answers) and HTTP status (0 = none).",
		}, []string{"api", "errcode", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mockwechat_request_duration_seconds",
			Help:    "Time to answer, injected latency included, by API.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mockwechat_faults_total",
			Help: "Fault rules fired, by API.",
		}, []string{"api"}),
	}
	codes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mockwechat_codes_live",
		Help: "wx.login codes held (not yet expired).",
	}, func() float64 { return float64(s.state.liveCodes()) })
	m.reg.MustRegister(m.requests, m.duration, m.faults, codes)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(c *call) {
	errcode := "none"
	if c.wechat {
		errcode = strconv.Itoa(c.errcode)
	}
	m.requests.WithLabelValues(c.api, errcode, strconv.Itoa(c.status)).Inc()
	m.duration.WithLabelValues(c.api).Observe(time.Since(c.start).Seconds())
}

func (m *metrics) fault(api string, n int) {
	m.faults.WithLabelValues(api).Add(float64(n))
}

// Registry is the Server's Prometheus registry (what /metrics serves), for
// embedding its metrics elsewhere.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method "+clip(r.Method, 20)+" not allowed; use GET")
		return
	}
	s.metrics.handler.ServeHTTP(w, r)
}
