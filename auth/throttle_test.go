package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// limited is a passwordEnv whose throttle limits are lim, plus whatever
// extra configures.
func limited(lim auth.Limits, extra func(*app.Config)) *passwordEnv {
	GinkgoHelper()
	return newPasswordEnv(fixtures.Options{Configure: func(c *app.Config) {
		c.Throttle = lim
		if extra != nil {
			extra(c)
		}
	}})
}

// unthrottled is a passwordEnv whose limits leave room for many failures.
func unthrottled() *passwordEnv {
	GinkgoHelper()
	return limited(auth.Limits{Window: time.Minute, PerAccount: 10000, PerAddress: 10000}, nil)
}

// login posts /auth/login with email and password (and extra headers).
func (e *passwordEnv) login(email, password string, headers ...string) *fixtures.Response {
	GinkgoHelper()
	_, challenge := pkce("S256")
	return e.do("POST", "auth/login", "", map[string]any{"email": email, "password": password,
		"codeChallenge": challenge, "codeChallengeMethod": "S256"}, append([]string{"Content-Type", "application/json"}, headers...)...)
}

// expectThrottled checks a 429 OperationOutcome with a Retry-After of at
// most window.
func expectThrottled(r *fixtures.Response, window time.Duration) {
	GinkgoHelper()
	expectOutcome(r, http.StatusTooManyRequests)
	expectRetryAfter(r, window)
	Expect(string(r.Body)).To(ContainSubstring("Too many attempts"))
}

func expectRetryAfter(r *fixtures.Response, window time.Duration) {
	GinkgoHelper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	Expect(err).NotTo(HaveOccurred(), "Retry-After: %q", r.Header.Get("Retry-After"))
	Expect(secs).To(BeNumerically(">=", 1))
	Expect(secs).To(BeNumerically("<=", int(window.Seconds())+1))
}

var _ = Describe("Throttling", func() {
	const window = time.Minute

	Describe("of POST /auth/login per account", func() {
		var env *passwordEnv
		BeforeEach(func() {
			env = limited(auth.Limits{Window: window, PerAccount: 3, PerAddress: 1000}, nil)
		})

		It("answers 429 with Retry-After once the account had its failures, even to the right password", func() {
			for range 3 {
				expectOutcome(env.login(env.email, "not-the-password"), http.StatusBadRequest)
			}
			expectThrottled(env.login(env.email, "not-the-password"), window)
			expectThrottled(env.login(env.email, env.password), window)
			Expect(env.canLogin(env.email, env.password)).To(BeFalse())
			other, pw, _, _ := env.addMember(env.project)
			Expect(env.canLogin(other, pw)).To(BeTrue(), "other accounts are not affected")
		})

		It("counts an unknown email the same way, so a 429 tells nothing about accounts", func() {
			ghost := "ghost-" + auth.Secret()[:6] + "@example.com"
			for range 3 {
				expectOutcome(env.login(ghost, "not-the-password"), http.StatusBadRequest)
			}
			expectThrottled(env.login(ghost, "not-the-password"), window)
		})

		It("forgets the account's failures after a successful login", func() {
			for range 2 {
				expectOutcome(env.login(env.email, "not-the-password"), http.StatusBadRequest)
			}
			Expect(env.canLogin(env.email, env.password)).To(BeTrue())
			for range 3 {
				expectOutcome(env.login(env.email, "not-the-password"), http.StatusBadRequest)
			}
			expectThrottled(env.login(env.email, env.password), window)
		})

		It("matches the email case-insensitively", func() {
			for _, e := range []string{env.email, " " + env.email, strings.ToUpper(env.email)} {
				expectOutcome(env.login(e, "not-the-password"), http.StatusBadRequest)
			}
			expectThrottled(env.login(env.email, env.password), window)
		})
	})

	It("lets logins through again when the window ends", func() {
		short := time.Second
		env := limited(auth.Limits{Window: short, PerAccount: 2, PerAddress: 1000}, nil)
		for range 2 {
			expectOutcome(env.login(env.email, "not-the-password"), http.StatusBadRequest)
		}
		expectThrottled(env.login(env.email, env.password), short)
		time.Sleep(short + 100*time.Millisecond)
		Expect(env.canLogin(env.email, env.password)).To(BeTrue())
	})

	Describe("per client address", func() {
		It("answers 429 once one address failed too often, whatever the accounts", func() {
			env := limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 4}, nil)
			for i := range 4 {
				expectOutcome(env.login("nobody-"+strconv.Itoa(i)+"@example.com", "not-the-password"), http.StatusBadRequest)
			}
			expectThrottled(env.login(env.email, env.password), window)
		})

		It("never counts a successful login against the address", func() {
			env := limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 2}, nil)
			for range 5 {
				Expect(env.canLogin(env.email, env.password)).To(BeTrue())
			}
		})

		It("ignores a forged X-Forwarded-For when no proxy is trusted", func() {
			env := limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 3}, nil)
			for i := range 3 {
				expectOutcome(env.login("nobody@example.com", "not-the-password", "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1)), http.StatusBadRequest)
			}
			expectThrottled(env.login(env.email, env.password, "X-Forwarded-For", "198.51.100.9", "X-Real-IP", "198.51.100.10"), window)
		})

		When("ROSTER_TRUSTED_PROXIES names the proxy", func() {
			var env *passwordEnv
			BeforeEach(func() {
				env = limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 2}, func(c *app.Config) {
					c.TrustedProxies = []string{"127.0.0.1/32", "::1"}
				})
			})

			It("counts the client the proxy names in X-Forwarded-For", func() {
				for range 2 {
					expectOutcome(env.login("nobody@example.com", "not-the-password", "X-Forwarded-For", "203.0.113.7"), http.StatusBadRequest)
				}
				expectThrottled(env.login(env.email, env.password, "X-Forwarded-For", "203.0.113.7"), window)
				Expect(env.login(env.email, env.password, "X-Forwarded-For", "203.0.113.8").Status).To(Equal(http.StatusOK))
			})

			It("believes only the proxy's own entry: addresses the client prepends change nothing", func() {
				for range 2 {
					expectOutcome(env.login("nobody@example.com", "not-the-password", "X-Forwarded-For", "203.0.113.7"), http.StatusBadRequest)
				}
				expectThrottled(env.login(env.email, env.password, "X-Forwarded-For", "198.51.100.1, 203.0.113.7"), window)
			})
		})

		It("refuses to start with a ROSTER_TRUSTED_PROXIES entry that is not a CIDR", func() {
			_, err := app.New(context.Background(), app.Config{SQLitePath: GinkgoT().TempDir() + "/r.db", SkipBootstrap: true,
				TrustedProxies: []string{"10.0.0.0/33"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			Expect(err).To(MatchError(ContainSubstring("ROSTER_TRUSTED_PROXIES")))
		})
	})

	It("shares its counts between Roster processes on one database", func() {
		env := limited(auth.Limits{Window: window, PerAccount: 4, PerAddress: 1000}, nil)
		a2, err := app.New(context.Background(), env.srv.App.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
		Expect(err).NotTo(HaveOccurred())
		h2 := httptest.NewServer(a2.Echo)
		DeferCleanup(func() { h2.Close(); a2.Close() })
		other := &passwordEnv{srv: &fixtures.Server{App: a2, HTTP: h2, URL: h2.URL + "/"}}
		for range 2 {
			expectOutcome(env.login(env.email, "not-the-password"), http.StatusBadRequest)
			expectOutcome(other.login(env.email, "not-the-password"), http.StatusBadRequest)
		}
		expectThrottled(env.login(env.email, env.password), window)
		expectThrottled(other.login(env.email, env.password), window)
	})

	It("applies to client_credentials at POST /oauth2/token, in the token endpoint's error shape", func() {
		env := limited(auth.Limits{Window: window, PerAccount: 3, PerAddress: 1000}, nil)
		adminTok := env.srv.AdminToken
		r := env.do("POST", "admin/projects/"+env.project+"/client", adminTok, map[string]string{"name": "Throttled"})
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		id, secret := r.JSON()["id"].(string), r.JSON()["secret"].(string)
		form := func(s string) *fixtures.Response {
			return env.do("POST", "oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {s}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded")
		}
		Expect(form(secret).Status).To(Equal(http.StatusOK))
		for range 3 {
			expectOAuthError(form("wrong"), http.StatusBadRequest, "invalid_client")
		}
		t := form(secret)
		expectOAuthError(t, http.StatusTooManyRequests, "slow_down")
		expectRetryAfter(t, window)
	})

	It("applies to POST /auth/resetpassword per email, known or not", func() {
		env := limited(auth.Limits{Window: window, PerAccount: 2, PerAddress: 1000}, nil)
		ghost := "ghost-" + auth.Secret()[:6] + "@example.com"
		for _, email := range []string{env.email, ghost} {
			for range 2 {
				Expect(env.do("POST", "auth/resetpassword", "", map[string]string{"email": email}).Status).To(Equal(http.StatusOK))
			}
			expectThrottled(env.do("POST", "auth/resetpassword", "", map[string]string{"email": email}), window)
		}
		msgs, err := env.srv.App.Store.ListMail(context.Background(), env.project, 100)
		Expect(err).NotTo(HaveOccurred())
		Expect(msgs).To(HaveLen(2), "two reset mails, none for the throttled request or the unknown email")
	})

	Describe("of link redemption per client address", func() {
		var env *passwordEnv
		BeforeEach(func() {
			env = limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 3}, nil)
		})

		It("answers 429 at POST /auth/setpassword after wrong links, even for a valid one", func() {
			id, secret := env.link(auth.LinkReset, time.Hour)
			Expect(env.setPassword(id, secret, "first-use-of-this-link").Status).To(Equal(http.StatusOK), "a right secret costs nothing")
			for range 3 {
				expectLinkError(env.setPassword("00000000-0000-4000-8000-000000000000", "guess", "a-guessing-passphrase"), "invalid")
			}
			id, secret = env.link(auth.LinkReset, time.Hour)
			expectThrottled(env.setPassword(id, secret, "a-fresh-passphrase-2"), window)
			Expect(env.storedLink(id).UsedAt.IsZero()).To(BeTrue(), "the link is still unused")
		})

		It("shows the set-password page's own 429 page, on GET and POST", func() {
			for range 3 {
				env.do("GET", "setpassword/00000000-0000-4000-8000-000000000000/guess", "", nil)
			}
			id, secret := env.link(auth.LinkReset, time.Hour)
			for _, r := range []*fixtures.Response{
				env.do("GET", "setpassword/"+id+"/"+secret, "", nil),
				env.do("POST", "setpassword/"+id+"/"+secret, "", "password=a-fresh-passphrase-2", "Content-Type", "application/x-www-form-urlencoded"),
			} {
				Expect(r.Status).To(Equal(http.StatusTooManyRequests))
				Expect(r.Header.Get("Content-Type")).To(HavePrefix("text/html"))
				Expect(string(r.Body)).To(ContainSubstring("Too many attempts"))
				expectRetryAfter(r, window)
			}
		})
	})

	It("applies to a dialect's login through the core (Medable: its throttled fault)", func() {
		env := limited(auth.Limits{Window: window, PerAccount: 1000, PerAddress: 2}, nil)
		path := "medable/" + env.project + "/accounts/login"
		for i := range 2 {
			r := env.do("POST", path, "", map[string]any{"email": "nobody-" + strconv.Itoa(i) + "@example.com", "password": "not-the-password"},
				"Content-Type", "application/json")
			Expect(r.Status).To(Equal(http.StatusForbidden), string(r.Body))
		}
		r := env.do("POST", path, "", map[string]any{"email": env.email, "password": env.password}, "Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusTooManyRequests), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("errCode", "cortex.throttled.unspecified"))
		expectRetryAfter(r, window)
	})
})
