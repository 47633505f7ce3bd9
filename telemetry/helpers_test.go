package telemetry_test

import (
	"net/http"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// startWithMetrics runs a Roster for the spec with /metrics on a port of
// its own, after configure (may be nil) has had its say.
func startWithMetrics(configure func(*app.Config)) *fixtures.Server {
	GinkgoHelper()
	srv := fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		if configure != nil {
			configure(c)
		}
	}})
	DeferCleanup(srv.Close)
	Expect(srv.App.MetricsAddr).NotTo(BeEmpty())
	return srv
}

// scrape reads srv's /metrics as Prometheus would.
func scrape(srv *fixtures.Server) map[string]*dto.MetricFamily {
	GinkgoHelper()
	resp, err := http.Get("http://" + srv.App.MetricsAddr + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return families
}

// series is one sample of a scrape: its labels and value (a histogram's
// value is its count).
type series struct {
	labels map[string]string
	value  float64
}

// samples lists the series of metric name.
func samples(families map[string]*dto.MetricFamily, name string) []series {
	f, ok := families[name]
	if !ok {
		return nil
	}
	var out []series
	for _, m := range f.GetMetric() {
		s := series{labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			s.labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			s.value = m.Counter.GetValue()
		case m.Gauge != nil:
			s.value = m.Gauge.GetValue()
		case m.Histogram != nil:
			s.value = float64(m.Histogram.GetSampleCount())
		}
		out = append(out, s)
	}
	return out
}

// value is the value of metric name's series with exactly labels (kv
// pairs), and whether there is one.
func value(families map[string]*dto.MetricFamily, name string, kv ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	for _, s := range samples(families, name) {
		if len(s.labels) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// metric is value, failing the spec when there is no such series.
func metric(families map[string]*dto.MetricFamily, name string, kv ...string) float64 {
	GinkgoHelper()
	v, ok := value(families, name, kv...)
	Expect(ok).To(BeTrue(), "no series %s%v among:\n%s", name, kv, describe(families, name))
	return v
}

// describe lists a metric's series, for failure messages.
func describe(families map[string]*dto.MetricFamily, name string) string {
	var b strings.Builder
	for _, s := range samples(families, name) {
		b.WriteString("  ")
		b.WriteString(name)
		for k, v := range s.labels {
			b.WriteString(" " + k + "=" + v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// do sends a request and expects no transport error.
func do(srv *fixtures.Server, method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// freshConfig is the fixtures' configuration on a new empty database of
// the spec's own, for specs that call app.New themselves.
func freshConfig() app.Config {
	GinkgoHelper()
	cfg := app.Config{AdminEmail: fixtures.AdminEmail, AdminPassword: fixtures.AdminPassword}
	if base := fixtures.DatabaseURL(); base != "" {
		u, drop, err := fixtures.FreshPostgres(base)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(drop)
		cfg.DatabaseURL = u
	} else {
		cfg.SQLitePath = filepath.Join(GinkgoT().TempDir(), "roster.db")
	}
	return cfg
}
