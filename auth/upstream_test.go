package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// upstreamEnv is a Roster and a real OpenID provider that knows Roster as
// a client.
type upstreamEnv struct {
	h     *harness
	pr    *provider
	clock *mfaClock // Roster's; the provider signs with the wall clock
}

// startUpstreamEnv starts both for the enclosing Ordered container.
func startUpstreamEnv() *upstreamEnv {
	e := &upstreamEnv{h: &harness{}, clock: &mfaClock{}}
	BeforeAll(func() {
		e.clock.reset()
		srv := fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.Now = e.clock.Now }})
		DeferCleanup(srv.Close)
		e.h.srv = srv
		e.pr = startProvider()
	})
	return e
}

// callbackURL is Roster's redirect URI at identity providers.
func (e *upstreamEnv) callbackURL() string { return e.h.srv.URL + "oauth2/callback" }

// clientWithProvider registers a relying party of admin's project whose
// ClientApplication signs in through the provider.
func (e *upstreamEnv) clientWithProvider(admin account, useSubject bool, lifetime time.Duration) *relyingParty {
	GinkgoHelper()
	rp := e.h.relyingParty(admin, public)
	id, secret := e.pr.addClient(e.callbackURL(), lifetime)
	e.patch(admin, "ClientApplication/"+rp.conf.ClientID, "/identityProvider", e.pr.config(id, secret, useSubject))
	return rp
}

// patch adds value at path of the resource ref, as admin.
func (e *upstreamEnv) patch(admin account, ref, path string, value any) {
	GinkgoHelper()
	r := e.h.do("PATCH", "fhir/R4/"+ref, admin.Token, []map[string]any{{"op": "add", "path": path, "value": value}},
		"Content-Type", "application/json-patch+json")
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
}

// upstreamFlow runs a sign-in through the provider as u, from Roster's
// sign-in page to the provider's redirect back to Roster (not followed).
func (e *upstreamEnv) upstreamFlow(b *webBrowser, f flow, source string, u providerUser) (back string) {
	GinkgoHelper()
	p := b.get(f.authURL)
	Expect(p.status).To(Equal(http.StatusOK), p.body)
	redirect := b.atProvider(e.pr, b.chooseUpstream(p, source), u)
	Expect(redirect.location).To(HavePrefix(e.callbackURL() + "?"))
	return redirect.location
}

// users counts the Users whose email is email.
func (e *upstreamEnv) users(email string) int {
	GinkgoHelper()
	t, _ := resources.Lookup("User")
	q, err := resources.ParseQuery(t, url.Values{"email": {email}})
	Expect(err).NotTo(HaveOccurred())
	recs, _, err := e.h.srv.App.Resources.Search(resources.AsSystem(context.Background(), ""), q)
	Expect(err).NotTo(HaveOccurred())
	return len(recs)
}

// withQuery is the URL raw with its query changed by edit.
func withQuery(raw string, edit func(q url.Values)) string {
	GinkgoHelper()
	u, err := url.Parse(raw)
	Expect(err).NotTo(HaveOccurred())
	q := u.Query()
	edit(q)
	u.RawQuery = q.Encode()
	return u.String()
}

// callbackFound reads the redirect to the relying party that answers
// Roster's callback, a GET: a 302.
func callbackFound(p page) url.Values {
	GinkgoHelper()
	Expect(p.status).To(Equal(http.StatusFound), p.body)
	p.status = http.StatusSeeOther
	return callback(p)
}

// expectRefusedPage checks p is an error page with status saying what,
// that leads nowhere.
func expectRefusedPage(p page, status int, what string) {
	GinkgoHelper()
	Expect(p.status).To(Equal(status), p.body)
	Expect(p.location).To(BeEmpty())
	Expect(p.body).To(ContainSubstring(what))
	Expect(p.body).NotTo(ContainSubstring("code="))
}

var _ = Describe("Sign-in through an external identity provider", Ordered, func() {
	e := startUpstreamEnv()
	var admin account

	BeforeAll(func() {
		admin = e.h.newAdmin()
	})

	It("offers the client's provider on the sign-in page and lets the form go there", func() {
		rp := e.clientWithProvider(admin, false, 0)
		p := newWebBrowser().get(rp.start().authURL)
		Expect(p.status).To(Equal(http.StatusOK))
		Expect(p.body).To(ContainSubstring(`<button type="submit" class="secondary">Sign in with ` + e.pr.host() + `</button>`))
		Expect(p.header.Get("Content-Security-Policy")).To(ContainSubstring("form-action 'self' https://rp.example " + e.pr.issuer + ";"))
	})

	It("signs in the member whose verified email the provider vouches for, as a password sign-in would", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(strings.ToUpper(member.Email), true)
		f := rp.start()
		b := newWebBrowser()
		q := callbackFound(b.get(e.upstreamFlow(b, f, "client", u)))
		Expect(q.Get("iss")).To(Equal(strings.TrimSuffix(e.h.srv.URL, "/")))
		rp.signedInAs(q, f, member)
	})

	It("signs in by the membership's externalId with useSubject, through the project's provider", func() {
		a := e.h.newAdmin()
		rp := e.h.relyingParty(a, public)
		id, secret := e.pr.addClient(e.callbackURL(), 0)
		e.patch(a, "Project/"+a.Project, "/identityProvider", e.pr.config(id, secret, true))
		member := e.h.newMember(a.Project)
		u := e.pr.addUser("someone-else-"+auth.Secret()[:6]+"@upstream.example", false)
		m := e.h.membership(member.UserID)
		e.patch(a, "ProjectMembership/"+m["id"].(string), "/externalId", u.subject)

		f := rp.start()
		b := newWebBrowser()
		rp.signedInAs(callbackFound(b.get(e.upstreamFlow(b, f, "project", u))), f, member)
		Expect(e.users(u.email)).To(BeZero())
	})

	It("refuses, with a page and without making a user, someone who has no membership", func() {
		rp := e.clientWithProvider(admin, false, 0)
		email := "stranger-" + strings.ToLower(auth.Secret()[:8]) + "@upstream.example"
		u := e.pr.addUser(email, true)
		b := newWebBrowser()
		p := b.get(e.upstreamFlow(b, rp.start(), "client", u))
		expectRefusedPage(p, http.StatusForbidden, "has no access to Public app")
		Expect(p.body).To(ContainSubstring(email))
		Expect(e.users(email)).To(BeZero())
	})

	It("refuses an email the provider has not verified", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, false)
		b := newWebBrowser()
		expectRefusedPage(b.get(e.upstreamFlow(b, rp.start(), "client", u)), http.StatusForbidden, "did not confirm an email address")
	})

	It("refuses a tampered, replayed or foreign state with an error page, never a redirect", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, true)
		b := newWebBrowser()
		back := e.upstreamFlow(b, rp.start(), "client", u)
		tampered := withQuery(back, func(q url.Values) { q.Set("state", "x"+q.Get("state")[1:]) })
		expectRefusedPage(b.get(tampered), http.StatusBadRequest, "This sign-in has expired, was already used")

		By("refusing the right state in another browser")
		expectRefusedPage(newWebBrowser().get(back), http.StatusBadRequest, "started in another browser")

		By("refusing it once taken, even in the browser that started it")
		expectRefusedPage(b.get(back), http.StatusBadRequest, "already used")
	})

	It("refuses an id_token whose nonce is not the sign-in's", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, true)
		e.pr.rewrite(func(q url.Values) { q.Set("nonce", "forged-"+q.Get("nonce")) })
		b := newWebBrowser()
		p := b.get(e.upstreamFlow(b, rp.start(), "client", u))
		expectStep(p, http.StatusBadRequest, "signin")
		Expect(p.body).To(ContainSubstring("its id_token is not for this sign-in"))
		Expect(p.location).To(BeEmpty())
	})

	It("refuses an id_token that has expired", func() {
		rp := e.clientWithProvider(admin, false, time.Minute)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, true)
		b := newWebBrowser()
		back := e.upstreamFlow(b, rp.start(), "client", u)
		e.clock.advance(2 * time.Minute)
		p := b.get(back)
		expectStep(p, http.StatusBadRequest, "signin")
		Expect(p.body).To(ContainSubstring("its id_token has expired"))
	})

	It("shows the provider's refusal on the sign-in page, and a code refused by it", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, true)
		b := newWebBrowser()
		p := b.get(withQuery(e.upstreamFlow(b, rp.start(), "client", u), func(q url.Values) {
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "Call +1 555 0100 to unlock")
		}))
		expectStep(p, http.StatusBadRequest, "signin")
		Expect(p.body).To(ContainSubstring("it answered access_denied"))
		Expect(p.body).NotTo(ContainSubstring("555"), "the provider's words stay out of the page")

		By("refusing a code the provider does not know")
		p = b.get(withQuery(e.upstreamFlow(b, rp.start(), "client", u), func(q url.Values) { q.Set("code", "not-"+q.Get("code")) }))
		expectStep(p, http.StatusBadRequest, "signin")
		Expect(p.body).To(ContainSubstring("it refused the code"))
	})

	It("asks a member with a second factor for the code after the provider", func() {
		rp := e.clientWithProvider(admin, false, 0)
		member := e.h.newMember(admin.Project)
		uri, _, err := e.h.srv.EnrollMFA(member.Token, e.clock.Now().Add(-30*time.Second))
		Expect(err).NotTo(HaveOccurred())
		u := e.pr.addUser(member.Email, true)
		f := rp.start()
		b := newWebBrowser()
		p := b.get(e.upstreamFlow(b, f, "client", u))
		expectStep(p, http.StatusOK, "mfa")
		code, err := fixtures.TOTP(uri, e.clock.Now())
		Expect(err).NotTo(HaveOccurred())
		q := callback(b.submit(p, map[string]string{"token": code}))
		_, err = rp.exchange(q.Get("code"), f)
		Expect(err).NotTo(HaveOccurred())
	})

	It("says so when the provider cannot be reached, and keeps the password form", func() {
		rp := e.h.relyingParty(admin, public)
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		e.patch(admin, "ClientApplication/"+rp.conf.ClientID, "/identityProvider", map[string]any{
			"authorizeUrl": dead.URL + "/authorize", "tokenUrl": dead.URL + "/token", "clientId": "roster"})
		b := newWebBrowser()
		p := b.chooseUpstream(b.get(rp.start().authURL), "client")
		expectStep(p, http.StatusServiceUnavailable, "signin")
		Expect(p.body).To(ContainSubstring("cannot be reached right now"))
	})

	DescribeTable("refuses an identityProvider it could not use",
		func(idp map[string]any, field string) {
			r := e.h.do("POST", "fhir/R4/ClientApplication", admin.Token, map[string]any{"resourceType": "ClientApplication",
				"name": "Bad provider", "identityProvider": idp})
			o := expectOutcome(r, http.StatusBadRequest)
			Expect(o["issue"]).To(ContainElement(HaveKeyWithValue("expression", ContainElement("ClientApplication.identityProvider."+field))))
		},
		Entry("no authorize URL", map[string]any{"tokenUrl": "https://idp.example/token", "clientId": "x"}, "authorizeUrl"),
		Entry("no client id", map[string]any{"authorizeUrl": "https://idp.example/a", "tokenUrl": "https://idp.example/token"}, "clientId"),
		Entry("plain http to another host", map[string]any{"authorizeUrl": "http://idp.example/a", "tokenUrl": "https://idp.example/token", "clientId": "x"}, "authorizeUrl"),
		Entry("a relative URL", map[string]any{"authorizeUrl": "https://idp.example/a", "tokenUrl": "/token", "clientId": "x"}, "tokenUrl"),
		Entry("an unknown token auth method", map[string]any{"authorizeUrl": "https://idp.example/a", "tokenUrl": "https://idp.example/token",
			"clientId": "x", "tokenAuthMethod": "private_key_jwt"}, "tokenAuthMethod"),
	)

	It("answers Medplum's POST /auth/method: go on with the password", func() {
		r := e.h.do("POST", "auth/method", "", map[string]any{"email": "anyone@example.com"}, "Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(r.JSON()).To(BeEmpty())
		expectOutcome(e.h.do("POST", "auth/method", "", map[string]any{"email": "not an email"}, "Content-Type", "application/json"), http.StatusBadRequest)
	})
})

var _ = Describe("Sign-in through an external identity provider in a browser", Label("browser"), Ordered, func() {
	e := startUpstreamEnv()
	var rpServer *httptest.Server
	var browser context.Context

	BeforeAll(func() {
		rpServer = callbackPage()
	})

	BeforeEach(func() {
		browser = scriptless()
	})

	It("goes from the client to Roster's page, to the provider's login, back to Roster and on to the client", func() {
		admin := e.h.newAdmin()
		rp := e.clientWithProvider(admin, false, 0)
		e.patch(admin, "ClientApplication/"+rp.conf.ClientID, "/redirectUri", rpServer.URL+"/callback")
		rp.conf.RedirectURL = rpServer.URL + "/callback"
		member := e.h.newMember(admin.Project)
		u := e.pr.addUser(member.Email, true)

		f := rp.start()
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(f.authURL),
			chromedp.WaitVisible(chromedp.CSS("#upstream-client button")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#upstream-client button")))).To(Equal("Sign in with " + e.pr.host()))
		Expect(chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#upstream-client button")),
			chromedp.WaitVisible(chromedp.CSS("#username")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Evaluate[string](`location.origin`))).To(Equal(e.pr.issuer), "at the provider's own login page")
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#username"), u.username),
			chromedp.SendKeys(chromedp.CSS("#password"), u.password),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)).To(Succeed())
		rp.signedInAs(landedAt(ctx).Query(), f, member)
	})
})
