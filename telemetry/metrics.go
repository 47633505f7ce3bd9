package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Database is what the metrics read from storage at each scrape.
type Database interface {
	// PoolStats gives each connection pool's statistics by a short name.
	PoolStats() map[string]sql.DBStats
	// PendingMail counts the outbox's messages waiting to be sent and
	// says when the oldest was queued.
	PendingMail(ctx context.Context) (int, time.Time, error)
}

// UnmatchedRoute is the route label of a request no route matched: raw
// paths never become label values.
const UnmatchedRoute = "unmatched"

// Metrics are Roster's Prometheus metrics, in a registry of their own (so
// several servers in one test process never share counts). Its methods
// count events for auth, admin and mail, which know it only as their Meter.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	signIns    *prometheus.CounterVec
	throttled  *prometheus.CounterVec
	invites    *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

// NewMetrics registers every metric, reading db's pools and outbox at each
// scrape, beside the Go runtime and process collectors.
func NewMetrics(db Database, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_signins_total",
			Help: "Sign-ins by kind (user: a password; client: client credentials) and result (succeeded, failed).",
		}, []string{"kind", "result"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_throttle_refusals_total",
			Help: "Attempts refused with 429 because their account or address used up its failures, by kind.",
		}, []string{"kind"}),
		invites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_invites_total",
			Help: "Invites by outcome: created, updated, unchanged, refused (the request was at fault), failed.",
		}, []string{"outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_mail_deliveries_total",
			Help: "SMTP delivery attempts by result: sent, retry (failed, to be tried again), failed (given up).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.signIns, m.throttled, m.invites, m.deliveries,
		poolCollector{db: db}, outboxCollector{db: db, now: now},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' exposition format; a metric
// that cannot be read this time (the database down) is logged and left
// out, the others still served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Serve serves /metrics on its own listener at addr (not the API's port),
// until the returned server is closed. It answers the address it bound
// (addr may ask for port 0).
func (m *Metrics) Serve(addr string, log *slog.Logger) (*http.Server, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler(log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err.Error())
		}
	}()
	return srv, l.Addr().String(), nil
}

// Middleware counts every request by route template (Echo's c.Path(), or
// UnmatchedRoute), method and status, and observes its latency. Installed
// outside the request log, it sees the status the error handler chose.
func (m *Metrics) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route, method := routeOf(c), methodLabel(c.Request().Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// routeOf is the template of the route c matched, or UnmatchedRoute.
func routeOf(c echo.Context) string {
	if route := c.Path(); route != "" {
		return route
	}
	return UnmatchedRoute
}

// methodLabel keeps the method label to the methods HTTP defines: any
// other token a client invents is "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// SignIn counts a sign-in of kind ("user" or "client") that succeeded or failed.
func (m *Metrics) SignIn(kind string, succeeded bool) {
	result := "failed"
	if succeeded {
		result = "succeeded"
	}
	m.signIns.WithLabelValues(kind, result).Inc()
}

// Throttled counts an attempt of kind refused by a throttle.
func (m *Metrics) Throttled(kind string) { m.throttled.WithLabelValues(kind).Inc() }

// Invite counts an invite's outcome.
func (m *Metrics) Invite(outcome string) { m.invites.WithLabelValues(outcome).Inc() }

// Delivery counts an SMTP delivery attempt's result.
func (m *Metrics) Delivery(result string) { m.deliveries.WithLabelValues(result).Inc() }

// poolCollector reads the database pools' statistics at each scrape.
type poolCollector struct{ db Database }

var (
	poolInUse = prometheus.NewDesc("roster_db_connections_in_use",
		"Database connections running a statement or transaction now, by pool.", []string{"pool"}, nil)
	poolIdle = prometheus.NewDesc("roster_db_connections_idle",
		"Open database connections waiting for work, by pool.", []string{"pool"}, nil)
	poolMax = prometheus.NewDesc("roster_db_connections_max",
		"The most connections the pool opens.", []string{"pool"}, nil)
	poolWaits = prometheus.NewDesc("roster_db_connection_waits_total",
		"Times a request found every connection of the pool busy and waited for one.", []string{"pool"}, nil)
	poolWaited = prometheus.NewDesc("roster_db_connection_wait_seconds_total",
		"Time spent waiting for a free connection, by pool.", []string{"pool"}, nil)
)

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolInUse, poolIdle, poolMax, poolWaits, poolWaited} {
		ch <- d
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range p.db.PoolStats() {
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(poolWaited, prometheus.CounterValue, s.WaitDuration.Seconds(), name)
	}
}

// outboxCollector reads the outbox's backlog at each scrape.
type outboxCollector struct {
	db  Database
	now func() time.Time
}

var (
	outboxPending = prometheus.NewDesc("roster_outbox_pending",
		"Mail waiting in the outbox to be sent (new, or failed and due for another attempt).", nil, nil)
	outboxAge = prometheus.NewDesc("roster_outbox_oldest_pending_age_seconds",
		"How long the oldest mail waiting in the outbox has waited; 0 when none waits.", nil, nil)
)

func (o outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxPending
	ch <- outboxAge
}

func (o outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := o.db.PendingMail(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxPending, err)
		return
	}
	age := 0.0
	if n > 0 {
		age = max(0, o.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(outboxPending, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, age)
}
