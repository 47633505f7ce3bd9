package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// freshConfig points at a new empty database: a PostgreSQL database of its
// own when ROSTER_TEST_DATABASE_URL is set, else a SQLite file.
func freshConfig() app.Config {
	GinkgoHelper()
	cfg := app.Config{BaseURL: "http://roster.test/", BodyLimit: 1 << 20}
	if base := fixtures.DatabaseURL(); base != "" {
		dbURL, drop, err := fixtures.FreshPostgres(base)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(drop)
		cfg.DatabaseURL = dbURL
	} else {
		cfg.SQLitePath = filepath.Join(GinkgoT().TempDir(), "roster.db")
	}
	return cfg
}

// logSink collects log lines written from the server's goroutines.
type logSink struct{ fixtures.LogBuffer }

// text is everything logged so far.
func (s *logSink) text() string { return s.String() }

// lines decodes every JSON log line.
func (s *logSink) lines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// start runs app.New on cfg and serves its router; both stop with the spec.
func start(cfg app.Config, log io.Writer) (*app.App, *httptest.Server) {
	GinkgoHelper()
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(log, nil)))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(a.Close)
	ts := httptest.NewServer(a.Echo)
	DeferCleanup(ts.Close)
	return a, ts
}

func get(ts *httptest.Server, path string, headers ...string) (*http.Response, map[string]any) {
	GinkgoHelper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	Expect(err).NotTo(HaveOccurred())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// count is how many resources of typ the whole server holds.
func count(a *app.App, typ string, params url.Values) int {
	GinkgoHelper()
	t, ok := resources.Lookup(typ)
	Expect(ok).To(BeTrue())
	q, err := resources.ParseQuery(t, params)
	Expect(err).NotTo(HaveOccurred())
	q.Count = 0
	_, total, err := a.Resources.Search(resources.AsSystem(context.Background(), ""), q)
	Expect(err).NotTo(HaveOccurred())
	return total
}

// canLogin runs Medplum's PKCE login against ts.
func canLogin(ts *httptest.Server, email, password string) bool {
	GinkgoHelper()
	verifier := auth.Secret()
	sum := sha256.Sum256([]byte(verifier))
	body, _ := json.Marshal(map[string]string{"email": email, "password": password,
		"codeChallenge": base64.RawURLEncoding.EncodeToString(sum[:]), "codeChallengeMethod": "S256"})
	resp, err := http.Post(ts.URL+"/auth/login", "application/json", bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var login struct{ Code string }
	Expect(json.NewDecoder(resp.Body).Decode(&login)).To(Succeed())
	tr, err := http.PostForm(ts.URL+"/oauth2/token", url.Values{"grant_type": {"authorization_code"},
		"code": {login.Code}, "code_verifier": {verifier}})
	Expect(err).NotTo(HaveOccurred())
	defer tr.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	Expect(json.NewDecoder(tr.Body).Decode(&tok)).To(Succeed())
	if tr.StatusCode != http.StatusOK {
		return false
	}
	me, _ := get(ts, "/auth/me", "Authorization", "Bearer "+tok.AccessToken)
	return me.StatusCode == http.StatusOK
}

var _ = Describe("Health endpoints", func() {
	var a *app.App
	var ts *httptest.Server

	BeforeEach(func() {
		cfg := freshConfig()
		cfg.AdminEmail, cfg.AdminPassword = "ops@example.com", "ops-password-1"
		a, ts = start(cfg, nil)
	})

	It("answer 200 while the process runs and the database answers", func() {
		resp, _ := get(ts, "/healthz")
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		resp, _ = get(ts, "/readyz")
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
	})

	It("turn /readyz to 503 when the database is gone, /healthz staying 200", func() {
		Expect(a.Store.Close()).To(Succeed())
		resp, body := get(ts, "/readyz")
		Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		Expect(body).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
		resp, _ = get(ts, "/healthz")
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
	})
})

var _ = Describe("Bootstrap", func() {
	var cfg app.Config

	BeforeEach(func() {
		cfg = freshConfig()
		cfg.AdminEmail, cfg.AdminPassword = "Boss@Example.com", "boss-password-1"
	})

	It("creates the super admin, the Default project and the admin's membership", func() {
		a, ts := start(cfg, nil)
		b := a.Bootstrap
		Expect(b.Created).To(BeTrue())
		Expect(b.Email).To(Equal("boss@example.com"))
		Expect(b.GeneratedPassword).To(BeEmpty(), "a configured password is not echoed")

		ctx := resources.AsSystem(context.Background(), "")
		project, _, err := resources.ReadTyped[*resources.Project](ctx, a.Resources, "Project", b.ProjectID)
		Expect(err).NotTo(HaveOccurred())
		Expect(project.Name).To(Equal("Default"))
		Expect(project.Owner).To(HaveValue(HaveField("Reference", "User/"+b.UserID)), "the super admin owns it")
		Expect(a.DefaultProject(context.Background())).To(Equal(b.ProjectID))

		user, _, err := resources.ReadTyped[*resources.User](ctx, a.Resources, "User", b.UserID)
		Expect(err).NotTo(HaveOccurred())
		Expect(user.Email).To(Equal("boss@example.com"))
		Expect(user.Admin).To(HaveValue(BeTrue()), "the super admin")

		mems, err := resources.SearchTyped[*resources.ProjectMembership](ctx, a.Resources, mustQuery("ProjectMembership",
			url.Values{"user": {"User/" + b.UserID}}))
		Expect(err).NotTo(HaveOccurred())
		Expect(mems).To(HaveLen(1))
		Expect(mems[0].Admin).To(HaveValue(BeTrue()))
		Expect(mems[0].Project.Reference).To(Equal("Project/" + b.ProjectID))

		Expect(canLogin(ts, "boss@example.com", "boss-password-1")).To(BeTrue())
	})

	It("creates them exactly once, however often Roster starts", func() {
		first, _ := start(cfg, nil)
		Expect(first.Bootstrap.Created).To(BeTrue())
		second, ts := start(cfg, nil)
		Expect(second.Bootstrap.Created).To(BeFalse())
		cfg.AdminEmail, cfg.AdminPassword = "someone-else@example.com", "other-password-1"
		third, _ := start(cfg, nil)
		Expect(third.Bootstrap.Created).To(BeFalse(), "a changed configuration does not bootstrap again")

		for _, a := range []*app.App{first, second, third} {
			Expect(count(a, "Project", nil)).To(Equal(1))
			Expect(count(a, "User", nil)).To(Equal(1))
			Expect(count(a, "ProjectMembership", nil)).To(Equal(1))
		}
		Expect(canLogin(ts, "boss@example.com", "boss-password-1")).To(BeTrue())
		Expect(canLogin(ts, "someone-else@example.com", "other-password-1")).To(BeFalse())
	})

	It("creates them once when several Roster processes start together", func() {
		var wg sync.WaitGroup
		apps := make([]*app.App, 3)
		errs := make([]error, 3)
		for i := range apps {
			wg.Go(func() {
				apps[i], errs[i] = app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			})
		}
		wg.Wait()
		created := 0
		for i, a := range apps {
			Expect(errs[i]).NotTo(HaveOccurred())
			DeferCleanup(a.Close)
			if a.Bootstrap.Created {
				created++
			}
		}
		Expect(created).To(Equal(1))
		Expect(count(apps[0], "Project", nil)).To(Equal(1))
		Expect(count(apps[0], "User", nil)).To(Equal(1))
		Expect(count(apps[0], "ProjectMembership", nil)).To(Equal(1))
	})

	It("generates a password, returned once, when none is configured", func() {
		cfg.AdminEmail, cfg.AdminPassword = "", ""
		a, ts := start(cfg, nil)
		pw := a.Bootstrap.GeneratedPassword
		Expect(pw).To(HaveLen(24))
		Expect(a.Bootstrap.Email).To(Equal("admin@example.com"))
		Expect(canLogin(ts, "admin@example.com", pw)).To(BeTrue())
		Expect(canLogin(ts, "admin@example.com", "")).To(BeFalse())

		again, ts2 := start(cfg, nil)
		Expect(again.Bootstrap.GeneratedPassword).To(BeEmpty(), "shown once")
		Expect(canLogin(ts2, "admin@example.com", pw)).To(BeTrue(), "the first password stays")
	})

	It("leaves nothing behind when the configured password is refused", func() {
		cfg.AdminPassword = "short"
		_, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
		Expect(err).To(MatchError(ContainSubstring("Password")))

		cfg.AdminPassword = "boss-password-1"
		a, ts := start(cfg, nil)
		Expect(a.Bootstrap.Created).To(BeTrue(), "the failed start created nothing")
		Expect(count(a, "Project", nil)).To(Equal(1))
		Expect(canLogin(ts, "boss@example.com", "boss-password-1")).To(BeTrue())
	})

	It("is skipped by migrate, and done by the next start", func() {
		cfg.SkipBootstrap = true
		m, _ := start(cfg, nil)
		Expect(m.Bootstrap).To(BeNil())
		Expect(count(m, "Project", nil)).To(BeZero())

		cfg.SkipBootstrap = false
		a, _ := start(cfg, nil)
		Expect(a.Bootstrap.Created).To(BeTrue())
	})
})

var _ = Describe("Request logs", func() {
	var sink *logSink
	var ts *httptest.Server

	BeforeEach(func() {
		cfg := freshConfig()
		cfg.AdminEmail, cfg.AdminPassword = "logs@example.com", "logs-password-1"
		sink = &logSink{}
		_, ts = start(cfg, sink)
	})

	requestLine := func(id string) map[string]any {
		GinkgoHelper()
		var found map[string]any
		Eventually(func() map[string]any {
			for _, l := range sink.lines() {
				if l["msg"] == "request" && l["request_id"] == id {
					found = l
				}
			}
			return found
		}).ShouldNot(BeNil(), "no request line with request_id %q in:\n%s", id, sink.text())
		return found
	}

	It("write one structured line per request carrying its request id", func() {
		resp, _ := get(ts, "/fhir/R4/Patient")
		id := resp.Header.Get("X-Request-Id")
		Expect(id).NotTo(BeEmpty())
		line := requestLine(id)
		Expect(line).To(HaveKeyWithValue("method", "GET"))
		Expect(line).To(HaveKeyWithValue("path", "/fhir/R4/Patient"))
		Expect(line).To(HaveKeyWithValue("status", BeNumerically("==", http.StatusUnauthorized)))
		Expect(line).To(HaveKey("duration_ms"))
	})

	It("keep the request id a caller sends", func() {
		resp, _ := get(ts, "/healthz", "X-Request-Id", "trace-abc-123")
		Expect(resp.Header.Get("X-Request-Id")).To(Equal("trace-abc-123"))
		Expect(requestLine("trace-abc-123")).To(HaveKeyWithValue("status", BeNumerically("==", http.StatusOK)))
	})

	It("give every request its own id", func() {
		first, _ := get(ts, "/healthz")
		second, _ := get(ts, "/healthz")
		Expect(first.Header.Get("X-Request-Id")).NotTo(Equal(second.Header.Get("X-Request-Id")))
		requestLine(first.Header.Get("X-Request-Id"))
		requestLine(second.Header.Get("X-Request-Id"))
	})

	It("never log a password or token", func() {
		Expect(canLogin(ts, "logs@example.com", "logs-password-1")).To(BeTrue())
		Expect(sink.text()).To(ContainSubstring("/oauth2/token"), "the login was logged")
		Expect(sink.text()).NotTo(ContainSubstring("logs-password-1"))
		Expect(sink.text()).NotTo(ContainSubstring("Bearer"))
	})
})

func mustQuery(typ string, params url.Values) *resources.Query {
	GinkgoHelper()
	t, ok := resources.Lookup(typ)
	Expect(ok).To(BeTrue())
	q, err := resources.ParseQuery(t, params)
	Expect(err).NotTo(HaveOccurred())
	return q
}
