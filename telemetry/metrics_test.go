package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/store"
)

var _ = Describe("Prometheus metrics", func() {
	const json = "application/json"

	Describe("HTTP requests", func() {
		var srv *fixtures.Server
		BeforeEach(func() { srv = startWithMetrics(nil) })

		It("are counted by route template, method and status, never by raw path", func() {
			created := do(srv, "POST", "fhir/R4/Patient", srv.AdminToken, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Counted"}}})
			Expect(created.Status).To(Equal(http.StatusCreated), string(created.Body))
			id := created.JSON()["id"].(string)
			for range 2 {
				Expect(do(srv, "GET", "fhir/R4/Patient/"+id, srv.AdminToken, nil).Status).To(Equal(http.StatusOK))
			}
			Expect(do(srv, "GET", "fhir/R4/Patient/no-such-id", srv.AdminToken, nil).Status).To(Equal(http.StatusNotFound))
			Expect(do(srv, "GET", "no/such/route/"+id, "", nil).Status).To(Equal(http.StatusNotFound))
			Expect(do(srv, "BREW", "fhir/R4/Patient/"+id, srv.AdminToken, nil).Status).To(Equal(http.StatusMethodNotAllowed))

			m := scrape(srv)
			Expect(metric(m, "roster_http_requests_total", "route", "/fhir/R4/:type", "method", "POST", "status", "201")).To(Equal(1.0))
			Expect(metric(m, "roster_http_requests_total", "route", "/fhir/R4/:type/:id", "method", "GET", "status", "200")).To(Equal(2.0))
			Expect(metric(m, "roster_http_requests_total", "route", "/fhir/R4/:type/:id", "method", "GET", "status", "404")).To(Equal(1.0))
			Expect(metric(m, "roster_http_requests_total", "route", "unmatched", "method", "GET", "status", "404")).To(Equal(1.0))
			Expect(metric(m, "roster_http_requests_total", "route", "/fhir/R4/:type/:id", "method", "other", "status", "405")).To(Equal(1.0))
			Expect(metric(m, "roster_http_request_duration_seconds", "route", "/fhir/R4/:type/:id", "method", "GET")).To(Equal(3.0))

			By("keeping every label value bounded: no id, no raw path, no invented method")
			for _, name := range []string{"roster_http_requests_total", "roster_http_request_duration_seconds"} {
				for _, s := range samples(m, name) {
					for k, v := range s.labels {
						Expect(v).NotTo(ContainSubstring(id), "%s %s", name, k)
						Expect(v).NotTo(ContainSubstring("no-such-id"), "%s %s", name, k)
						Expect(v).NotTo(ContainSubstring("no/such"), "%s %s", name, k)
						Expect(v).NotTo(Equal("BREW"), "%s %s", name, k)
					}
				}
			}
		})

		It("are served on a listener of their own, not on the API's port", func() {
			Expect(srv.App.MetricsAddr).NotTo(Equal(strings.TrimPrefix(strings.TrimSuffix(srv.URL, "/"), "http://")))
			Expect(do(srv, "GET", "metrics", "", nil).Status).To(Equal(http.StatusNotFound))
		})

		It("come with the Go runtime and process collectors", func() {
			m := scrape(srv)
			Expect(m).To(HaveKey("go_goroutines"))
			Expect(m).To(HaveKey("go_memstats_heap_alloc_bytes"))
			Expect(m).To(HaveKey("process_cpu_seconds_total"))
			Expect(m).To(HaveKey("process_resident_memory_bytes"))
		})
	})

	It("report the database connection pools", func() {
		srv := startWithMetrics(nil)
		m := scrape(srv)
		pools := []string{"read", "write"}
		if srv.App.Store.Postgres() {
			pools = []string{"main"}
		}
		for _, pool := range pools {
			for _, name := range []string{"roster_db_connections_in_use", "roster_db_connections_idle", "roster_db_connection_waits_total", "roster_db_connection_wait_seconds_total"} {
				Expect(metric(m, name, "pool", pool)).To(BeNumerically(">=", 0), name)
			}
		}
		if srv.App.Store.Postgres() {
			Expect(metric(m, "roster_db_connections_max", "pool", "main")).To(Equal(float64(store.DefaultMaxConns(true))))
		} else {
			Expect(metric(m, "roster_db_connections_max", "pool", "read")).To(Equal(float64(store.DefaultMaxConns(false))))
			Expect(metric(m, "roster_db_connections_max", "pool", "write")).To(Equal(1.0), "transactions share one connection")
		}
		Expect(samples(m, "roster_db_connections_max")).To(HaveLen(len(pools)))
	})

	Describe("the outbox and mail delivery", func() {
		var (
			srv   *fixtures.Server
			clock *testClock
		)
		BeforeEach(func() {
			clock = &testClock{}
			srv = startWithMetrics(func(c *app.Config) {
				// Nobody listens there: every attempt fails, and is retried
				// long after the spec.
				c.SMTPURL = "smtp://" + fixtures.FreeAddr(GinkgoT())
				c.Mail = mail.Options{PollInterval: 50 * time.Millisecond, RetryBase: time.Hour, MaxAttempts: 5, SendTimeout: 2 * time.Second}
				c.Now = clock.Now
			})
		})

		It("show the backlog's depth and age, and the failed attempts, after an invite whose mail cannot go", func() {
			m := scrape(srv)
			Expect(metric(m, "roster_outbox_pending")).To(BeZero())
			Expect(metric(m, "roster_outbox_oldest_pending_age_seconds")).To(BeZero())

			r := do(srv, "POST", "admin/projects/"+srv.DefaultProject+"/invite", srv.AdminToken,
				map[string]any{"resourceType": "Practitioner", "firstName": "Ada", "lastName": "Unreachable", "email": "ada.unreachable@example.com"},
				"Content-Type", json)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))

			By("the sender trying once and failing")
			Eventually(func() float64 {
				v, _ := value(scrape(srv), "roster_mail_deliveries_total", "result", "retry")
				return v
			}).WithTimeout(10 * time.Second).Should(Equal(1.0))

			By("ten minutes passing with the mail still waiting")
			clock.Advance(10 * time.Minute)
			m = scrape(srv)
			Expect(metric(m, "roster_outbox_pending")).To(Equal(1.0))
			Expect(metric(m, "roster_outbox_oldest_pending_age_seconds")).To(BeNumerically("~", 600, 30))
			_, sent := value(m, "roster_mail_deliveries_total", "result", "sent")
			Expect(sent).To(BeFalse(), "nothing was sent")
		})
	})

	Describe("sign-ins and throttling", func() {
		var srv *fixtures.Server
		BeforeEach(func() {
			srv = startWithMetrics(func(c *app.Config) {
				c.Throttle = auth.Limits{Window: time.Hour, PerAccount: 2, PerAddress: 100}
			})
		})

		It("count successes, failures and refusals", func() {
			m := scrape(srv)
			Expect(metric(m, "roster_signins_total", "kind", "user", "result", "succeeded")).To(Equal(1.0), "the fixture's own sign-in")
			_, failed := value(m, "roster_signins_total", "kind", "user", "result", "failed")
			Expect(failed).To(BeFalse())

			for range 2 {
				_, err := srv.Login(fixtures.AdminEmail, "not-the-password")
				Expect(err).To(MatchError(ContainSubstring("400")))
			}
			_, err := srv.Login(fixtures.AdminEmail, "not-the-password")
			Expect(err).To(MatchError(ContainSubstring("429")))

			m = scrape(srv)
			Expect(metric(m, "roster_signins_total", "kind", "user", "result", "failed")).To(Equal(2.0))
			Expect(metric(m, "roster_throttle_refusals_total", "kind", "login")).To(Equal(1.0))
			Expect(metric(m, "roster_signins_total", "kind", "user", "result", "succeeded")).To(Equal(1.0))
		})

		It("count client sign-ins apart", func() {
			r := do(srv, "POST", "admin/projects/"+srv.DefaultProject+"/client", srv.AdminToken, map[string]any{"name": "metrics client"}, "Content-Type", json)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusCreated), string(r.Body))
			client := r.JSON()
			token := func(secret string) int {
				resp, err := http.PostForm(srv.URL+"oauth2/token", map[string][]string{"grant_type": {"client_credentials"},
					"client_id": {client["id"].(string)}, "client_secret": {secret}})
				Expect(err).NotTo(HaveOccurred())
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			Expect(token(client["secret"].(string))).To(Equal(http.StatusOK))
			Expect(token("wrong")).To(Equal(http.StatusBadRequest))
			m := scrape(srv)
			Expect(metric(m, "roster_signins_total", "kind", "client", "result", "succeeded")).To(Equal(1.0))
			Expect(metric(m, "roster_signins_total", "kind", "client", "result", "failed")).To(Equal(1.0))
		})
	})

	It("count invites by outcome", func() {
		srv := startWithMetrics(nil)
		path := "admin/projects/" + srv.DefaultProject + "/invite"
		body := map[string]any{"resourceType": "Practitioner", "firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com", "sendEmail": false}
		Expect(do(srv, "POST", path, srv.AdminToken, body, "Content-Type", json).Status).To(Equal(http.StatusOK))
		Expect(do(srv, "POST", path, srv.AdminToken, body, "Content-Type", json).Status).To(Equal(http.StatusConflict))
		body["upsert"] = true
		Expect(do(srv, "POST", path, srv.AdminToken, body, "Content-Type", json).Status).To(Equal(http.StatusOK))
		Expect(do(srv, "POST", path, srv.AdminToken, map[string]any{"resourceType": "Practitioner"}, "Content-Type", json).Status).To(Equal(http.StatusBadRequest))

		m := scrape(srv)
		Expect(metric(m, "roster_invites_total", "outcome", "created")).To(Equal(1.0))
		Expect(metric(m, "roster_invites_total", "outcome", "unchanged")).To(Equal(1.0))
		Expect(metric(m, "roster_invites_total", "outcome", "refused")).To(Equal(2.0), "the conflict and the invalid body")
		Expect(samples(m, "roster_invites_total")).To(HaveLen(3))
	})

	Describe("turned off", func() {
		It("opens no listener and counts nothing when the address is empty", func() {
			srv := fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.MetricsAddr = "" }})
			DeferCleanup(srv.Close)
			Expect(srv.App.MetricsAddr).To(BeEmpty())
			Expect(srv.App.Metrics).To(BeNil())
			Expect(srv.App.Auth.Meter).To(BeNil())
			Expect(srv.App.Admin.Meter).To(BeNil())
			Expect(srv.App.Sender.Meter).To(BeNil())
			Expect(do(srv, "GET", "metrics", "", nil).Status).To(Equal(http.StatusNotFound))
		})

		DescribeTable("ROSTER_METRICS_ADDR",
			func(set bool, v, want string) {
				GinkgoT().Setenv("ROSTER_METRICS_ADDR", v) // restored after the spec
				if !set {
					Expect(os.Unsetenv("ROSTER_METRICS_ADDR")).To(Succeed())
				}
				Expect(app.FromEnv().MetricsAddr).To(Equal(want))
			},
			Entry("unset: loopback port 9464", false, "", "127.0.0.1:9464"),
			Entry("empty: off", true, "", ""),
			Entry("an address", true, ":9100", ":9100"),
		)
	})

	It("refuse to start on a port already taken, naming the setting", func() {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(taken.Close)
		cfg := freshConfig()
		cfg.MetricsAddr = taken.Addr().String()
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if a != nil {
			a.Close()
		}
		Expect(err).To(MatchError(ContainSubstring("ROSTER_METRICS_ADDR=" + taken.Addr().String())))
	})
})

// testClock is the server's clock: real time plus what a spec advanced.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
