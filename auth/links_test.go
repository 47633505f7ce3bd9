package auth_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

// passwordEnv is a fresh server with one member whose password the specs
// change through links.
type passwordEnv struct {
	srv      *fixtures.Server
	project  string
	email    string
	password string
	userID   string
	token    string
	log      *fixtures.LogBuffer
}

var memberSeq struct {
	sync.Mutex
	n int
}

func newPasswordEnv(opts fixtures.Options) *passwordEnv {
	GinkgoHelper()
	e := &passwordEnv{log: &fixtures.LogBuffer{}}
	if opts.Log == nil {
		opts.Log = e.log
	}
	e.srv = fixtures.Start(GinkgoT(), opts)
	DeferCleanup(e.srv.Close)
	e.project = e.srv.DefaultProject
	e.email, e.password, e.userID, e.token = e.addMember(e.project)
	return e
}

// freshPasswordEnv gives each spec of the container it is called in a
// passwordEnv of its own, made before the spec.
func freshPasswordEnv() *passwordEnv {
	env := &passwordEnv{}
	BeforeEach(func() { *env = *newPasswordEnv(fixtures.Options{}) })
	return env
}

// addMember adds a member with a password to project and signs them in.
func (e *passwordEnv) addMember(project string) (email, password, userID, token string) {
	GinkgoHelper()
	memberSeq.Lock()
	memberSeq.n++
	n := memberSeq.n
	memberSeq.Unlock()
	email = fmt.Sprintf("member-%d-%s@example.com", n, strings.ToLower(auth.Secret()[:8]))
	password = "old-password-" + auth.Secret()[:6]
	Expect(e.srv.AddMember(project, email, "Morgan", "Member", password, false)).To(Succeed())
	u, err := e.srv.App.Auth.FindUser(context.Background(), email, "")
	Expect(err).NotTo(HaveOccurred())
	token, err = e.srv.Login(email, password)
	Expect(err).NotTo(HaveOccurred())
	return email, password, u.ID, token
}

// link issues a one-time link for the env's member.
func (e *passwordEnv) link(kind string, ttl time.Duration) (id, secret string) {
	GinkgoHelper()
	id, secret, err := e.srv.App.Auth.CreateLink(context.Background(), kind, e.userID, e.project, ttl, "")
	Expect(err).NotTo(HaveOccurred())
	return id, secret
}

func (e *passwordEnv) do(method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := e.srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

func (e *passwordEnv) setPassword(id, secret, password string) *fixtures.Response {
	GinkgoHelper()
	return e.do("POST", "auth/setpassword", "", map[string]string{"id": id, "secret": secret, "password": password})
}

func (e *passwordEnv) storedLink(id string) *auth.Link {
	GinkgoHelper()
	l, err := e.srv.App.Store.GetLink(context.Background(), id)
	Expect(err).NotTo(HaveOccurred())
	return l
}

// canLogin reports whether email signs in with password.
func (e *passwordEnv) canLogin(email, password string) bool {
	_, err := e.srv.Login(email, password)
	return err == nil
}

// issueTexts are an OperationOutcome's issue texts and expressions.
func issueTexts(r *fixtures.Response) (texts, exprs []string) {
	GinkgoHelper()
	issues, _ := r.JSON()["issue"].([]any)
	for _, i := range issues {
		m := i.(map[string]any)
		if d, ok := m["details"].(map[string]any); ok {
			texts = append(texts, fmt.Sprint(d["text"]))
		}
		if ex, ok := m["expression"].([]any); ok {
			for _, x := range ex {
				exprs = append(exprs, fmt.Sprint(x))
			}
		}
	}
	return texts, exprs
}

func expectLinkError(r *fixtures.Response, text string) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(400), string(r.Body))
	Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
	texts, exprs := issueTexts(r)
	Expect(exprs).To(Equal([]string{"id"}), "the link, named by its id, is at fault")
	Expect(texts).To(HaveExactElements(ContainSubstring(text)))
}

var _ = Describe("POST /auth/setpassword", func() {
	env := freshPasswordEnv()

	It("sets the password, ends every existing login and consumes the link", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		Expect(env.do("GET", "auth/me", env.token, nil).Status).To(Equal(200))

		r := env.setPassword(id, secret, "brand-new-password")
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
		Expect(r.JSON()["id"]).To(Equal("ok"))
		Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))

		Expect(env.do("GET", "auth/me", env.token, nil).Status).To(Equal(401), "the old login ended")
		Expect(env.canLogin(env.email, env.password)).To(BeFalse(), "the old password no longer works")
		token, err := env.srv.Login(env.email, "brand-new-password")
		Expect(err).NotTo(HaveOccurred())
		Expect(env.do("GET", "auth/me", token, nil).Status).To(Equal(200))
		Expect(env.storedLink(id).UsedAt).NotTo(BeZero())
	})

	It("accepts the invite kind of link too, and no other kind", func() {
		id, secret := env.link(auth.LinkSetPassword, 7*24*time.Hour)
		Expect(env.setPassword(id, secret, "invited-password").Status).To(Equal(200))
		Expect(env.canLogin(env.email, "invited-password")).To(BeTrue())

		vid, vsecret := env.link(auth.LinkVerify, time.Hour)
		expectLinkError(env.setPassword(vid, vsecret, "verify-password"), "invalid")
		Expect(env.storedLink(vid).UsedAt).To(BeZero())
	})

	DescribeTable("checks the password rules before touching the link",
		func(password, message string) {
			id, secret := env.link(auth.LinkReset, time.Hour)
			r := env.setPassword(id, secret, password)
			Expect(r.Status).To(Equal(400), string(r.Body))
			texts, exprs := issueTexts(r)
			Expect(exprs).To(Equal([]string{"password"}))
			Expect(texts).To(HaveExactElements(ContainSubstring(message)))
			Expect(env.storedLink(id).UsedAt).To(BeZero(), "the link still works")
			Expect(env.do("GET", "auth/me", env.token, nil).Status).To(Equal(200), "logins survive")

			Expect(env.setPassword(id, secret, "a-good-password").Status).To(Equal(200))
		},
		Entry("too short", "short12", "at least 8 characters"),
		Entry("empty", "", "at least 8 characters"),
		Entry("longer than 72 bytes", strings.Repeat("é", 37), "at most 72 bytes"),
	)

	It("names every missing field", func() {
		r := env.do("POST", "auth/setpassword", "", map[string]string{"password": "long-enough-pw"})
		Expect(r.Status).To(Equal(400))
		_, exprs := issueTexts(r)
		Expect(exprs).To(ConsistOf("id", "secret"))

		r = env.do("POST", "auth/setpassword", "", "not json")
		Expect(r.Status).To(Equal(400))
	})

	It("refuses an expired link and says so", func() {
		id, secret := env.link(auth.LinkReset, time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		expectLinkError(env.setPassword(id, secret, "too-late-password"), "has expired")
		Expect(env.storedLink(id).UsedAt).To(BeZero())
		Expect(env.canLogin(env.email, env.password)).To(BeTrue(), "the password did not change")
	})

	It("works once: the second use is refused as already used", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		Expect(env.setPassword(id, secret, "first-password").Status).To(Equal(200))
		expectLinkError(env.setPassword(id, secret, "second-password"), "already been used")
		Expect(env.canLogin(env.email, "first-password")).To(BeTrue())
		Expect(env.canLogin(env.email, "second-password")).To(BeFalse())
	})

	It("is killed by five wrong secrets, even for the right one afterwards", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		for i := 0; i < auth.MaxLinkFailures; i++ {
			expectLinkError(env.setPassword(id, auth.Secret(), "guessing-password"), "invalid")
		}
		Expect(env.storedLink(id).Failures).To(Equal(auth.MaxLinkFailures))
		expectLinkError(env.setPassword(id, secret, "right-secret-too-late"), "invalid")
		Expect(env.storedLink(id).UsedAt).To(BeZero())
		Expect(env.canLogin(env.email, env.password)).To(BeTrue())
	})

	It("answers an unknown id exactly as a wrong secret", func() {
		r1 := env.setPassword("00000000-0000-0000-0000-000000000000", auth.Secret(), "whatever-password")
		id, _ := env.link(auth.LinkReset, time.Hour)
		r2 := env.setPassword(id, auth.Secret(), "whatever-password")
		expectLinkError(r1, "invalid")
		Expect(r1.Body).To(Equal(r2.Body))
	})

	It("lets a newer link of the same kind kill the older one", func() {
		oldID, oldSecret := env.link(auth.LinkReset, time.Hour)
		newID, newSecret := env.link(auth.LinkReset, time.Hour)
		expectLinkError(env.setPassword(oldID, oldSecret, "from-the-old-link"), "newer one")
		Expect(env.setPassword(newID, newSecret, "from-the-new-link").Status).To(Equal(200))
		Expect(env.canLogin(env.email, "from-the-new-link")).To(BeTrue())
	})

	It("lets exactly one of 20 concurrent redemptions win", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		const n = 20
		answers := fixtures.Race(n, func(i int) (*fixtures.Response, error) {
			return env.srv.Do("POST", "auth/setpassword", "", map[string]string{"id": id, "secret": secret, "password": fmt.Sprintf("concurrent-password-%02d", i)})
		})
		statuses := make([]int, n)
		for i, a := range answers {
			Expect(a.Err).NotTo(HaveOccurred())
			statuses[i] = a.Status
		}
		winners := []int{}
		for i, st := range statuses {
			if st == 200 {
				winners = append(winners, i)
			} else {
				Expect(st).To(Equal(400))
			}
		}
		Expect(winners).To(HaveLen(1), "statuses: %v", statuses)
		// The winner's password first: the losers' 19 wrong passwords then
		// reach the login throttle, which refuses them just the same.
		Expect(env.canLogin(env.email, fmt.Sprintf("concurrent-password-%02d", winners[0]))).To(BeTrue())
		for i := range n {
			if i != winners[0] {
				Expect(env.canLogin(env.email, fmt.Sprintf("concurrent-password-%02d", i))).To(BeFalse(), "password %d", i)
			}
		}
	})
})

var _ = Describe("POST /auth/resetpassword", func() {
	env := freshPasswordEnv()

	resetMails := func(to string) []string {
		GinkgoHelper()
		msgs, err := env.srv.App.Store.ListMail(context.Background(), env.project, 1000)
		Expect(err).NotTo(HaveOccurred())
		var texts []string
		for _, m := range msgs {
			if m.To == to {
				Expect(m.Kind).To(Equal("reset"))
				texts = append(texts, m.Text)
			}
		}
		return texts
	}
	linkIn := func(text string) (id, secret string) {
		GinkgoHelper()
		m := regexp.MustCompile(regexp.QuoteMeta(env.srv.App.Config.AppURL) + `setpassword/([0-9a-f-]+)/([A-Za-z0-9_-]+)`).FindStringSubmatch(text)
		Expect(m).NotTo(BeNil(), text)
		return m[1], m[2]
	}

	It("answers the same for a known and an unknown email, and mails only the known one", func() {
		start := time.Now()
		known := env.do("POST", "auth/resetpassword", "", map[string]string{"email": env.email, "projectId": env.project})
		knownTook := time.Since(start)
		start = time.Now()
		unknown := env.do("POST", "auth/resetpassword", "", map[string]string{"email": "nobody-" + auth.Secret()[:6] + "@example.com", "projectId": env.project})
		unknownTook := time.Since(start)

		Expect(known.Status).To(Equal(200))
		Expect(unknown.Status).To(Equal(200))
		Expect(unknown.Body).To(Equal(known.Body))
		Expect(known.JSON()["resourceType"]).To(Equal("OperationOutcome"))
		Expect(knownTook).To(BeNumerically(">=", auth.ResetPasswordMinDuration))
		Expect(unknownTook).To(BeNumerically(">=", auth.ResetPasswordMinDuration))

		Expect(resetMails(env.email)).To(HaveLen(1))
		all, err := env.srv.App.Store.ListMail(context.Background(), env.project, 1000)
		Expect(err).NotTo(HaveOccurred())
		for _, m := range all {
			Expect(m.To).NotTo(HavePrefix("nobody-"))
		}
	})

	It("mails a one-hour link that sets the password", func() {
		r := env.do("POST", "auth/resetpassword", "", map[string]string{"email": "  " + strings.ToUpper(env.email) + " "})
		Expect(r.Status).To(Equal(200))
		texts := resetMails(env.email)
		Expect(texts).To(HaveLen(1))
		id, secret := linkIn(texts[0])
		l := env.storedLink(id)
		Expect(l.Kind).To(Equal(auth.LinkReset))
		Expect(l.UserID).To(Equal(env.userID))
		Expect(l.ExpiresAt.Sub(l.CreatedAt)).To(Equal(time.Hour))

		Expect(env.setPassword(id, secret, "reset-by-mail").Status).To(Equal(200))
		Expect(env.canLogin(env.email, "reset-by-mail")).To(BeTrue())
	})

	It("kills the previous reset link when a new one is asked for", func() {
		env.do("POST", "auth/resetpassword", "", map[string]string{"email": env.email})
		env.do("POST", "auth/resetpassword", "", map[string]string{"email": env.email})
		texts := resetMails(env.email)
		Expect(texts).To(HaveLen(2))
		newID, newSecret := linkIn(texts[0]) // newest first
		oldID, oldSecret := linkIn(texts[1])
		expectLinkError(env.setPassword(oldID, oldSecret, "old-link-password"), "newer one")
		Expect(env.setPassword(newID, newSecret, "new-link-password").Status).To(Equal(200))
	})

	It("asks for a valid email", func() {
		for _, email := range []string{"", "not-an-email", "Name <a@example.com>"} {
			r := env.do("POST", "auth/resetpassword", "", map[string]string{"email": email})
			Expect(r.Status).To(Equal(400), email)
			_, exprs := issueTexts(r)
			Expect(exprs).To(Equal([]string{"email"}))
		}
	})
})
