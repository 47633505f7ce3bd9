package auth_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// mfaClock is the MFA suite's server clock: frozen, so the specs know which
// 30-second step a code belongs to, and moved on by the specs that need the
// next step or a throttle window to end.
type mfaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *mfaClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// reset freezes the clock at the middle of the current real step: a code
// computed for it stays the current one however long the spec takes.
func (c *mfaClock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Now().Truncate(30 * time.Second).Add(15 * time.Second)
}

func (c *mfaClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The suite's throttle: five wrong codes per user in five minutes (shorter
// than a code's life, so a code issued after the window still exchanges).
const (
	mfaWindow     = 5 * time.Minute
	mfaPerAccount = 5
)

// mfaEnv is one Roster on the frozen clock.
type mfaEnv struct {
	srv   *fixtures.Server
	clock *mfaClock
}

// mfaAccount is a project admin (of a project of its own) with a password.
type mfaAccount struct {
	account
	uri      string   // the otpauth:// URI, once enrolled
	recovery []string // the recovery codes, once enrolled
}

func (e *mfaEnv) do(method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := e.srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

func (e *mfaEnv) harness() *harness { return &harness{srv: e.srv} }

// newAccount makes a project and its admin, signed in.
func (e *mfaEnv) newAccount() *mfaAccount {
	GinkgoHelper()
	return &mfaAccount{account: e.harness().newAdmin()}
}

// code is the authenticator's code for uri, steps away from the clock's step.
func (e *mfaEnv) code(uri string, steps int) string {
	GinkgoHelper()
	c, err := fixtures.TOTP(uri, e.clock.Now().Add(time.Duration(steps)*30*time.Second))
	Expect(err).NotTo(HaveOccurred())
	return c
}

// enroll enrolls a in MFA with the current step's code, then moves the
// clock to the next step, so the next code is a new one.
func (e *mfaEnv) enroll(a *mfaAccount) {
	GinkgoHelper()
	var err error
	a.uri, a.recovery, err = e.srv.EnrollMFA(a.Token, e.clock.Now())
	Expect(err).NotTo(HaveOccurred())
	e.clock.advance(30 * time.Second)
}

// login starts a password sign-in (with PKCE) and answers it and the verifier.
func (e *mfaEnv) login(email, password string, extra map[string]any) (*fixtures.Response, string) {
	GinkgoHelper()
	verifier, challenge := pkce("S256")
	return e.harness().startLogin(email, password, challenge, "S256", extra), verifier
}

// heldLogin signs a in and expects the login held: it answers the login id.
func (e *mfaEnv) heldLogin(a *mfaAccount, flag string) (login, verifier string) {
	GinkgoHelper()
	r, verifier := e.login(a.Email, a.Password, nil)
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	Expect(r.JSON()).To(HaveKeyWithValue(flag, true))
	Expect(r.JSON()).NotTo(HaveKey("code"))
	Expect(r.JSON()).NotTo(HaveKey("memberships"))
	return r.JSON()["login"].(string), verifier
}

func (e *mfaEnv) verify(login, token string) *fixtures.Response {
	GinkgoHelper()
	return e.do("POST", "auth/mfa/verify", "", map[string]any{"login": login, "token": token})
}

// tokens exchanges a code answer for tokens and checks they work.
func (e *mfaEnv) tokens(r *fixtures.Response, verifier string) string {
	GinkgoHelper()
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	code, _ := r.JSON()["code"].(string)
	Expect(code).NotTo(BeEmpty(), string(r.Body))
	t := e.harness().exchange(code, verifier)
	Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
	token := t.JSON()["access_token"].(string)
	Expect(e.harness().works(token)).To(BeTrue())
	return token
}

func (e *mfaEnv) status(token string) map[string]any {
	GinkgoHelper()
	r := e.do("GET", "auth/mfa/status", token, nil)
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
	return r.JSON()
}

// user reads a's User as stored.
func (e *mfaEnv) user(id string) *resources.User {
	GinkgoHelper()
	u, _, err := resources.ReadTyped[*resources.User](resources.AsSystem(context.Background(), ""), e.srv.App.Resources, "User", id)
	Expect(err).NotTo(HaveOccurred())
	return u
}

// events are the AuditEvents of act in a's project, read by a (its admin).
func (e *mfaEnv) events(a *mfaAccount, act audit.Act) []map[string]any {
	GinkgoHelper()
	r := e.do("GET", "fhir/R4/AuditEvent?subtype="+url.QueryEscape(audit.SubtypeSystem+"|"+act.Code), a.Token, nil)
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	return r.Resources()
}

// expectIssue checks a 400 OperationOutcome whose issues name field.
func expectIssue(r *fixtures.Response, field string) {
	GinkgoHelper()
	o := expectOutcome(r, http.StatusBadRequest)
	var fields []string
	for _, i := range o["issue"].([]any) {
		for _, x := range i.(map[string]any)["expression"].([]any) {
			fields = append(fields, x.(string))
		}
	}
	Expect(fields).To(ContainElement(field), string(r.Body))
}

// startMFAEnv starts a Roster on the frozen clock, with the suite's
// throttle, for the enclosing Ordered container; the clock is reset
// before each spec.
func startMFAEnv() *mfaEnv {
	e := &mfaEnv{clock: &mfaClock{}}
	BeforeAll(func() {
		e.clock.reset()
		e.srv = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
			c.Now = e.clock.Now
			c.Throttle = auth.Limits{Window: mfaWindow, PerAccount: mfaPerAccount, PerAddress: 100000}
		}})
		DeferCleanup(e.srv.Close)
	})
	BeforeEach(e.clock.reset)
	return e
}

// requireMFA turns on the mfaRequired setting of a's project.
func (e *mfaEnv) requireMFA(a *mfaAccount) {
	GinkgoHelper()
	r := e.do("PATCH", "fhir/R4/Project/"+a.Project, a.Token, `[{"op":"add","path":"/setting","value":[{"name":"mfaRequired","valueBoolean":true}]}]`,
		"Content-Type", "application/json-patch+json")
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
}

var _ = Describe("Second factors (MFA)", Ordered, func() {
	e := startMFAEnv()

	It("computes its codes as RFC 6238 does (the specs' own authenticator)", func() {
		// RFC 6238 appendix B, SHA-1: the 8-digit codes end in these six.
		secret := base32NoPad([]byte("12345678901234567890"))
		for at, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
			Expect(fixtures.TOTP(secret, time.Unix(at, 0))).To(Equal(want))
		}
	})

	Describe("GET /auth/mfa/status before enrollment", func() {
		It("gives the user a pending secret as an otpauth:// URI and its QR code, the same on every read", func() {
			a := e.newAccount()
			st := e.status(a.Token)
			Expect(st).To(HaveKeyWithValue("enrolled", false))
			Expect(st).To(HaveKeyWithValue("enrolledMethods", BeEmpty()))
			Expect(st).To(HaveKeyWithValue("allowedMethods", []any{"totp"}))
			Expect(st).To(HaveKeyWithValue("mfaRequired", false))
			uri, err := url.Parse(st["enrollUri"].(string))
			Expect(err).NotTo(HaveOccurred())
			Expect(uri.Scheme).To(Equal("otpauth"))
			Expect(uri.Host).To(Equal("totp"))
			Expect(uri.Path).To(Equal("/Roster:" + a.Email))
			q := uri.Query()
			Expect(q.Get("issuer")).To(Equal("Roster"))
			Expect(q.Get("algorithm")).To(Equal("SHA1"))
			Expect(q.Get("digits")).To(Equal("6"))
			Expect(q.Get("period")).To(Equal("30"))
			Expect(q.Get("secret")).To(MatchRegexp(`^[A-Z2-7]{32}$`)) // 160 bits

			qr := st["enrollQrCode"].(string)
			Expect(qr).To(HavePrefix("data:image/png;base64,"))
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(qr, "data:image/png;base64,"))
			Expect(err).NotTo(HaveOccurred())
			img, err := png.DecodeConfig(bytes.NewReader(raw))
			Expect(err).NotTo(HaveOccurred())
			Expect(img.Width).To(Equal(256))

			Expect(e.status(a.Token)["enrollUri"]).To(Equal(st["enrollUri"]))
		})

		It("keeps the secret sealed in the database, never in clear", func() {
			a := e.newAccount()
			secret, _ := url.Parse(e.status(a.Token)["enrollUri"].(string))
			clear := secret.Query().Get("secret")
			rec, err := e.srv.App.Store.MFA(context.Background(), a.UserID)
			Expect(err).NotTo(HaveOccurred())
			Expect(rec.Sealed).To(HavePrefix("v1."))
			Expect(rec.Sealed).NotTo(ContainSubstring(clear))
			parts := strings.Split(rec.Sealed, ".")
			sealed, err := base64.RawURLEncoding.DecodeString(parts[2])
			Expect(err).NotTo(HaveOccurred())
			raw, err := base32Decode(clear)
			Expect(err).NotTo(HaveOccurred())
			Expect(bytes.Contains(sealed, raw)).To(BeFalse())
			Expect(rec.EnrolledAt.IsZero()).To(BeTrue())
		})

		It("is for users: a client is refused, no credentials is 401", func() {
			a := e.newAccount()
			r := e.do("POST", "admin/projects/"+a.Project+"/client", a.Token, map[string]any{"name": "MFA client"})
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			id, secret := r.JSON()["id"].(string), r.JSON()["secret"].(string)
			expectOutcome(e.do("GET", "auth/mfa/status", "", nil, "Authorization", basic(id, secret)), http.StatusForbidden)
			expectOutcome(e.do("GET", "auth/mfa/status", "", nil), http.StatusUnauthorized)
			expectOutcome(e.do("POST", "auth/mfa/enroll", "", map[string]any{"token": "123456"}), http.StatusUnauthorized)
			expectOutcome(e.do("POST", "auth/mfa/disable", "", map[string]any{"token": "123456"}), http.StatusUnauthorized)
		})
	})

	Describe("POST /auth/mfa/enroll", func() {
		It("enrolls with the authenticator's first code and shows ten recovery codes once", func() {
			a := e.newAccount()
			st := e.status(a.Token)
			r := e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": e.code(st["enrollUri"].(string), 0)})
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
			Expect(r.JSON()).To(HaveKeyWithValue("enrolled", true))
			codes := r.JSON()["recoveryCodes"].([]any)
			Expect(codes).To(HaveLen(auth.RecoveryCodeCount))
			seen := map[string]bool{}
			for _, c := range codes {
				Expect(c).To(MatchRegexp(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$`))
				seen[c.(string)] = true
			}
			Expect(seen).To(HaveLen(auth.RecoveryCodeCount))

			By("never showing the secret again")
			st = e.status(a.Token)
			Expect(st).To(HaveKeyWithValue("enrolled", true))
			Expect(st).To(HaveKeyWithValue("enrolledMethods", []any{"totp"}))
			Expect(st).To(HaveKeyWithValue("recoveryCodesLeft", BeNumerically("==", auth.RecoveryCodeCount)))
			Expect(st).NotTo(HaveKey("enrollUri"))
			Expect(st).NotTo(HaveKey("enrollQrCode"))

			By("keeping the recovery codes hashed")
			stored, err := e.srv.App.Store.MFARecoveryCodes(context.Background(), a.UserID)
			Expect(err).NotTo(HaveOccurred())
			Expect(stored).To(HaveLen(auth.RecoveryCodeCount))
			for _, s := range stored {
				Expect(s.Hash).To(MatchRegexp(`^[0-9a-f]{64}$`))
				for c := range seen {
					Expect(s.Hash).NotTo(ContainSubstring(strings.ReplaceAll(c, "-", "")))
				}
			}

			By("telling /auth/me, the User (as Medplum's mfaEnrolled) and the audit trail")
			me := e.do("GET", "auth/me", a.Token, nil)
			Expect(me.JSON()["security"]).To(HaveKeyWithValue("mfaEnrolled", true))
			Expect(e.user(a.UserID).MfaEnrolled).To(PointTo(BeTrue()))
			Expect(e.events(a, audit.MFAEnroll)).To(HaveLen(1))
		})
	})

	Describe("signing in with a second factor", func() {
		It("holds the login until POST /auth/mfa/verify gets a code, then answers {login, code}", func() {
			a := e.newAccount()
			e.enroll(a)
			login, verifier := e.heldLogin(a, "mfaRequired")

			By("giving the held login nothing to exchange or choose")
			expectIssue(e.do("POST", "auth/profile", "", map[string]any{"login": login, "profile": "Practitioner/x"}), "login")
			Expect(e.srv.App.Store.LoginHeldForMFA(context.Background(), login)).To(BeTrue())

			r := e.verify(login, e.code(a.uri, 0))
			Expect(r.JSON()).To(HaveKeyWithValue("login", login))
			e.tokens(r, verifier)
			Expect(e.srv.App.Store.LoginHeldForMFA(context.Background(), login)).To(BeFalse())

			By("not taking the same code twice, nor the step before it")
			next, _ := e.heldLogin(a, "mfaRequired")
			expectIssue(e.verify(next, e.code(a.uri, 0)), "token")
			expectIssue(e.verify(next, e.code(a.uri, -1)), "token")
			By("nor verifying a login twice")
			expectIssue(e.verify(login, e.code(a.uri, 1)), "login")
			Expect(e.verify(next, e.code(a.uri, 1)).Status).To(Equal(http.StatusOK))
		})

		DescribeTable("accepts a code one step either side of the server's clock, and no further",
			func(steps int, accepted bool) {
				a := e.newAccount()
				e.enroll(a)
				e.clock.advance(3 * 30 * time.Second) // the enrolled step is well behind
				login, verifier := e.heldLogin(a, "mfaRequired")
				r := e.verify(login, e.code(a.uri, steps))
				if accepted {
					e.tokens(r, verifier)
				} else {
					expectIssue(r, "token")
					Expect(r.JSON()["issue"]).To(ContainElement(HaveKeyWithValue("details", HaveKeyWithValue("text", "Invalid token"))))
				}
			},
			Entry("the step before", -1, true),
			Entry("the current step", 0, true),
			Entry("the step after", 1, true),
			Entry("two steps before", -2, false),
			Entry("two steps after", 2, false),
			Entry("ten minutes before", -20, false),
		)

		It("takes each recovery code once, in place of a code, written any way", func() {
			a := e.newAccount()
			e.enroll(a)
			login, verifier := e.heldLogin(a, "mfaRequired")
			plain := strings.ToLower(strings.ReplaceAll(a.recovery[3], "-", ""))
			e.tokens(e.verify(login, plain), verifier)

			again, _ := e.heldLogin(a, "mfaRequired")
			r := e.verify(again, a.recovery[3])
			expectIssue(r, "token")
			Expect(string(r.Body)).To(ContainSubstring("already been used"))
			Expect(e.verify(again, " "+a.recovery[4]+" ").Status).To(Equal(http.StatusOK))
			Expect(e.status(a.Token)).To(HaveKeyWithValue("recoveryCodesLeft", BeNumerically("==", auth.RecoveryCodeCount-2)))
		})

		It("answers the memberships to choose from when the user has several, and /auth/profile then gives the code", func() {
			a := e.newAccount()
			other, err := e.srv.CreateProject("MFA second " + auth.Secret()[:6])
			Expect(err).NotTo(HaveOccurred())
			m := &resources.ProjectMembership{User: resources.Reference{Reference: "User/" + a.UserID},
				Profile: resources.Reference{Reference: "Practitioner/" + e.practitioner(other)}}
			m.ResourceType = "ProjectMembership"
			_, err = e.srv.App.Resources.CreateIn(resources.AsSystem(context.Background(), other), m, other)
			Expect(err).NotTo(HaveOccurred())
			e.enroll(a)

			login, verifier := e.heldLogin(a, "mfaRequired")
			r := e.verify(login, e.code(a.uri, 0))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.JSON()).NotTo(HaveKey("code"))
			mems := r.JSON()["memberships"].([]any)
			Expect(mems).To(HaveLen(2))
			p := e.do("POST", "auth/profile", "", map[string]any{"login": login, "profile": mems[1].(map[string]any)["id"]})
			e.tokens(p, verifier)
		})

		It("counts wrong codes like wrong passwords: 429 once the user had its failures, even for the right code", func() {
			a := e.newAccount()
			e.enroll(a)
			login, _ := e.heldLogin(a, "mfaRequired")
			for range mfaPerAccount {
				expectIssue(e.verify(login, e.wrong(a.uri)), "token")
			}
			expectThrottled(e.verify(login, e.code(a.uri, 0)), mfaWindow)
			expectThrottled(e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": e.code(a.uri, 0)}), mfaWindow)

			By("letting the right code in once the window ends")
			e.clock.advance(mfaWindow + time.Second)
			login, verifier := e.heldLogin(a, "mfaRequired")
			e.tokens(e.verify(login, e.code(a.uri, 0)), verifier)
			Expect(e.events(a, audit.Login)).To(ContainElement(HaveKeyWithValue("outcomeDesc", "MFA: Invalid token")))
		})

		It("gives a held login ten minutes", func() {
			a := e.newAccount()
			e.enroll(a)
			login, _ := e.heldLogin(a, "mfaRequired")
			e.clock.advance(auth.CodeTTL + time.Second)
			r := e.verify(login, e.code(a.uri, 0))
			expectIssue(r, "login")
			Expect(string(r.Body)).To(ContainSubstring("expired"))
		})
	})

	Describe("POST /auth/mfa/disable", func() {
		It("takes a code, forgets the secret, and sign-ins need none; the next status offers a new secret", func() {
			a := e.newAccount()
			e.enroll(a)
			expectIssue(e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": e.wrong(a.uri)}), "token")
			r := e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": e.code(a.uri, 0)})
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("resourceType", "OperationOutcome"))

			st := e.status(a.Token)
			Expect(st).To(HaveKeyWithValue("enrolled", false))
			Expect(st["enrollUri"]).NotTo(Equal(a.uri))
			Expect(e.user(a.UserID).MfaEnrolled).To(PointTo(BeFalse()))
			Expect(e.events(a, audit.MFADisable)).To(HaveLen(1))
			codes, err := e.srv.App.Store.MFARecoveryCodes(context.Background(), a.UserID)
			Expect(err).NotTo(HaveOccurred())
			Expect(codes).To(BeEmpty())

			r, verifier := e.login(a.Email, a.Password, nil)
			e.tokens(r, verifier)
		})

		It("takes a recovery code too", func() {
			a := e.newAccount()
			e.enroll(a)
			r := e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": a.recovery[0]})
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(e.status(a.Token)).To(HaveKeyWithValue("enrolled", false))
		})
	})

	Describe("a Project's mfaRequired", func() {
		It("makes a member enroll at the next sign-in before any code is given, and keeps the second factor on", func() {
			a := e.newAccount()
			e.requireMFA(a)

			r, verifier := e.login(a.Email, a.Password, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("mfaEnrollRequired", true))
			Expect(r.JSON()).NotTo(HaveKey("code"))
			Expect(r.JSON()["enrollQrCode"]).To(HavePrefix("data:image/png;base64,"))
			login, uri := r.JSON()["login"].(string), r.JSON()["enrollUri"].(string)

			By("refusing every other way on")
			expectIssue(e.verify(login, e.code(uri, 0)), "token")
			expectIssue(e.do("POST", "auth/profile", "", map[string]any{"login": login, "profile": "x"}), "login")
			expectIssue(e.do("POST", "auth/mfa/login-enroll", "", map[string]any{"login": login, "token": e.wrong(uri)}), "token")
			expectIssue(e.do("POST", "auth/mfa/login-enroll", "", map[string]any{"login": login, "token": a.Email}), "token")

			r = e.do("POST", "auth/mfa/login-enroll", "", map[string]any{"login": login, "token": e.code(uri, 0)})
			Expect(r.JSON()["recoveryCodes"]).To(HaveLen(auth.RecoveryCodeCount))
			token := e.tokens(r, verifier)
			Expect(e.status(token)).To(SatisfyAll(HaveKeyWithValue("enrolled", true), HaveKeyWithValue("mfaRequired", true)))
			Expect(e.events(a, audit.MFAEnroll)).To(HaveLen(1))

			By("holding the next sign-in for a code, and refusing to disable it")
			e.clock.advance(30 * time.Second)
			next, _ := e.heldLogin(a, "mfaRequired")
			Expect(e.verify(next, e.code(uri, 0)).Status).To(Equal(http.StatusOK))
			e.clock.advance(30 * time.Second)
			r = e.do("POST", "auth/mfa/disable", token, map[string]any{"token": e.code(uri, 0)})
			expectIssue(r, "token")
			Expect(string(r.Body)).To(ContainSubstring("MFA is required"))
		})

		It("is a User's too, as Medplum's User.mfaRequired", func() {
			a := e.newAccount()
			_, err := e.srv.App.Resources.Patch(resources.AsSystem(context.Background(), ""), "User", a.UserID,
				[]byte(`[{"op":"add","path":"/mfaRequired","value":true}]`), "")
			Expect(err).NotTo(HaveOccurred())
			e.heldLogin(a, "mfaEnrollRequired")
		})
	})

	Describe("bad input", func() {
		// Each row arranges what it needs and sends one request; every answer
		// is a 400 OperationOutcome naming the field, never a 500.
		type call func(a *mfaAccount) *fixtures.Response
		enrolledLogin := func(a *mfaAccount) string {
			e.enroll(a)
			login, _ := e.heldLogin(a, "mfaRequired")
			return login
		}
		DescribeTable("answers 400 naming the field",
			func(field string, fn call) {
				r := fn(e.newAccount())
				expectIssue(r, field)
			},
			Entry("verify: no body fields", "login", func(a *mfaAccount) *fixtures.Response { return e.verify("", "") }),
			Entry("verify: no token", "token", func(a *mfaAccount) *fixtures.Response { return e.verify(enrolledLogin(a), "") }),
			Entry("verify: a token that is a number", "token", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/verify", "", map[string]any{"login": enrolledLogin(a), "token": 123456})
			}),
			Entry("verify: five digits", "token", func(a *mfaAccount) *fixtures.Response { return e.verify(enrolledLogin(a), "12345") }),
			Entry("verify: seven digits", "token", func(a *mfaAccount) *fixtures.Response { return e.verify(enrolledLogin(a), "1234567") }),
			Entry("verify: letters", "token", func(a *mfaAccount) *fixtures.Response { return e.verify(enrolledLogin(a), "abcdef") }),
			Entry("verify: a wrong code", "token", func(a *mfaAccount) *fixtures.Response {
				login := enrolledLogin(a)
				return e.verify(login, e.wrong(a.uri))
			}),
			Entry("verify: a replayed code", "token", func(a *mfaAccount) *fixtures.Response {
				login := enrolledLogin(a)
				c := e.code(a.uri, 0)
				Expect(e.verify(login, c).Status).To(Equal(http.StatusOK))
				again, _ := e.heldLogin(a, "mfaRequired")
				return e.verify(again, c)
			}),
			Entry("verify: a wrong recovery code", "token", func(a *mfaAccount) *fixtures.Response {
				return e.verify(enrolledLogin(a), "AAAA-BBBB-CCCC-DDDD")
			}),
			Entry("verify: an unknown login", "login", func(a *mfaAccount) *fixtures.Response {
				enrolledLogin(a)
				return e.verify("00000000-0000-0000-0000-000000000000", e.code(a.uri, 0))
			}),
			Entry("verify: a login that was not held", "login", func(a *mfaAccount) *fixtures.Response {
				r, _ := e.login(a.Email, a.Password, nil)
				return e.verify(r.JSON()["login"].(string), "123456")
			}),
			Entry("verify: a login whose user is not enrolled", "token", func(a *mfaAccount) *fixtures.Response {
				_, _ = e.srv.App.Resources.Patch(resources.AsSystem(context.Background(), ""), "User", a.UserID,
					[]byte(`[{"op":"add","path":"/mfaRequired","value":true}]`), "")
				login, _ := e.heldLogin(a, "mfaEnrollRequired")
				return e.verify(login, "123456")
			}),
			Entry("verify: a method Roster has not", "method", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/verify", "", map[string]any{"login": enrolledLogin(a), "token": "123456", "method": "email"})
			}),
			Entry("login-enroll: an unknown login", "login", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/login-enroll", "", map[string]any{"login": "nope", "token": "123456"})
			}),
			Entry("login-enroll: a user already enrolled", "token", func(a *mfaAccount) *fixtures.Response {
				login := enrolledLogin(a)
				return e.do("POST", "auth/mfa/login-enroll", "", map[string]any{"login": login, "token": e.code(a.uri, 0)})
			}),
			Entry("enroll: no token", "token", func(a *mfaAccount) *fixtures.Response {
				e.status(a.Token)
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{})
			}),
			Entry("enroll: before reading the status (no secret)", "token", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": "123456"})
			}),
			Entry("enroll: a wrong code", "token", func(a *mfaAccount) *fixtures.Response {
				uri := e.status(a.Token)["enrollUri"].(string)
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": e.wrong(uri)})
			}),
			Entry("enroll: a recovery code", "token", func(a *mfaAccount) *fixtures.Response {
				e.status(a.Token)
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": "AAAA-BBBB-CCCC-DDDD"})
			}),
			Entry("enroll: already enrolled", "token", func(a *mfaAccount) *fixtures.Response {
				e.enroll(a)
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": e.code(a.uri, 0)})
			}),
			Entry("enroll: a token that is an object", "token", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/enroll", a.Token, map[string]any{"token": map[string]any{}})
			}),
			Entry("disable: not enrolled", "token", func(a *mfaAccount) *fixtures.Response {
				return e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": "123456"})
			}),
			Entry("disable: no token", "token", func(a *mfaAccount) *fixtures.Response {
				e.enroll(a)
				return e.do("POST", "auth/mfa/disable", a.Token, map[string]any{})
			}),
			Entry("disable: a wrong code", "token", func(a *mfaAccount) *fixtures.Response {
				e.enroll(a)
				return e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": e.wrong(a.uri)})
			}),
			Entry("disable: the code that enrolled", "token", func(a *mfaAccount) *fixtures.Response {
				e.enroll(a)
				return e.do("POST", "auth/mfa/disable", a.Token, map[string]any{"token": e.code(a.uri, -1)})
			}),
		)

		It("answers a body that is not JSON with a 400", func() {
			a := e.newAccount()
			for _, path := range []string{"auth/mfa/verify", "auth/mfa/login-enroll", "auth/mfa/enroll", "auth/mfa/disable"} {
				expectOutcome(e.do("POST", path, a.Token, "{not json"), http.StatusBadRequest)
				expectOutcome(e.do("POST", path, a.Token, "[]"), http.StatusBadRequest)
			}
		})
	})
})

// practitioner makes a Practitioner in project and returns its id.
func (e *mfaEnv) practitioner(project string) string {
	GinkgoHelper()
	p := &resources.Practitioner{Name: []resources.HumanName{{Family: "Second"}}}
	p.ResourceType = "Practitioner"
	rec, err := e.srv.App.Resources.CreateIn(resources.AsSystem(context.Background(), project), p, project)
	Expect(err).NotTo(HaveOccurred())
	return rec.ID
}

// wrong is a six-digit code that none of the steps the server accepts gives.
func (e *mfaEnv) wrong(uri string) string {
	GinkgoHelper()
	valid := map[string]bool{e.code(uri, -1): true, e.code(uri, 0): true, e.code(uri, 1): true}
	for _, c := range []string{"000000", "000001", "000002", "000003"} {
		if !valid[c] {
			return c
		}
	}
	panic("unreachable: three codes cannot cover four")
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func base32NoPad(b []byte) string { return b32.EncodeToString(b) }

func base32Decode(s string) ([]byte, error) { return b32.DecodeString(s) }
