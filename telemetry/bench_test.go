package telemetry_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/telemetry"
)

// idleDatabase is a Database with nothing to report.
type idleDatabase struct{}

func (idleDatabase) PoolStats() map[string]sql.DBStats { return nil }
func (idleDatabase) PendingMail(context.Context) (int, time.Time, error) {
	return 0, time.Time{}, nil
}

// BenchmarkRequest is the fixed cost the metrics add to a request: the
// same route served with and without the middleware (request ids in both,
// as Roster always has them).
func BenchmarkRequest(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "metrics-off"
		if on {
			name = "metrics-on"
		}
		b.Run(name, func(b *testing.B) {
			e := echo.New()
			e.Use(telemetry.RequestIDs)
			if on {
				e.Use(telemetry.NewMetrics(idleDatabase{}, nil).Middleware)
			}
			e.GET("/fhir/R4/:type/:id", func(c echo.Context) error { return c.String(http.StatusOK, "{}") })
			req := httptest.NewRequest("GET", "/fhir/R4/Patient/0a1b2c3d", nil)
			req.Header.Set("X-Request-Id", "bench-request")
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkScrape is the cost of one scrape of /metrics (the Go runtime
// and process collectors included) after traffic on 40 routes.
func BenchmarkScrape(b *testing.B) {
	m := telemetry.NewMetrics(idleDatabase{}, nil)
	e := echo.New()
	e.Use(m.Middleware)
	for i := range 40 {
		e.GET("/route"+strconv.Itoa(i)+"/:id", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	}
	for i := range 40 {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/route"+strconv.Itoa(i)+"/x", nil))
	}
	h := m.Handler(slog.New(slog.DiscardHandler))
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
