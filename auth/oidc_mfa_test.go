package auth_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

var (
	recoveryRe = regexp.MustCompile(`<li><code>([A-Z2-7-]+)</code></li>`)
	continueRe = regexp.MustCompile(`<a id="continue" class="button" href="([^"]+)">`)
	qrRe       = regexp.MustCompile(`<img id="qr" src="data:image/png;base64,[A-Za-z0-9+/=&#;]+"`)
	keyRe      = regexp.MustCompile(`<code id="enroll-key">([A-Z2-7]+)</code>`)
)

// hidden is the value of a hidden field of the page's first form.
func hidden(p page, name string) string {
	GinkgoHelper()
	m := formRe.FindStringSubmatch(p.body)
	Expect(m).NotTo(BeNil(), "no form on the page: %s", p.body)
	for _, h := range hiddenRe.FindAllStringSubmatch(m[3], -1) {
		if h[1] == name {
			return html.UnescapeString(h[2])
		}
	}
	Fail("no hidden field " + name)
	return ""
}

// expectStep checks that p is the page of a step's form, with status.
func expectStep(p page, status int, step string) {
	GinkgoHelper()
	Expect(p.status).To(Equal(status), p.body)
	Expect(p.body).To(ContainSubstring(`<form id="`+step+`-form"`), p.body)
}

// pageError is the text of the page's error region.
func pageError(p page) string {
	m := regexp.MustCompile(`<p id="error" class="error" role="alert" aria-live="assertive">([^<]*)</p>`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

var _ = Describe("Two-step sign-in on the OpenID Connect pages", Ordered, func() {
	e := startMFAEnv()

	// enrolled is a project admin with a second factor, and a relying
	// party of its project.
	enrolled := func() (*mfaAccount, *relyingParty) {
		GinkgoHelper()
		a := e.newAccount()
		e.enroll(a)
		return a, e.harness().relyingParty(a.account, public)
	}

	// finish exchanges the code of a redirect to the relying party and
	// checks the id token, as the relying party would.
	finish := func(rp *relyingParty, f flow, p page) {
		GinkgoHelper()
		q := callback(p)
		Expect(q.Get("state")).To(Equal(f.state))
		tok, err := rp.exchange(q.Get("code"), f)
		Expect(err).NotTo(HaveOccurred())
		_, err = rp.verify(tok, f.nonce)
		Expect(err).NotTo(HaveOccurred())
		Expect(e.harness().works(tok.AccessToken)).To(BeTrue())
	}

	It("asks an enrolled user for the authenticator's code before sending the browser back", func() {
		a, rp := enrolled()
		f := rp.start()
		b := newWebBrowser()
		p := b.signIn(f.authURL, a.Email, a.Password)
		expectStep(p, http.StatusOK, "mfa")
		Expect(p.body).To(ContainSubstring("<h1 id=\"title\" tabindex=\"-1\">Two-step sign-in</h1>"))
		Expect(p.body).To(ContainSubstring(`autocomplete="one-time-code"`))
		Expect(p.body).NotTo(ContainSubstring("code="), "no code before the second factor")
		Expect(hidden(p, "state")).To(Equal(f.state), "the request goes on with the form")
		Expect(hidden(p, "login")).NotTo(BeEmpty())

		finish(rp, f, b.submit(p, map[string]string{"token": e.code(a.uri, 0)}))
	})

	It("asks again after a wrong code, saying so, and takes the right one", func() {
		a, rp := enrolled()
		f := rp.start()
		b := newWebBrowser()
		p := b.submit(b.signIn(f.authURL, a.Email, a.Password), map[string]string{"token": e.wrong(a.uri)})
		expectStep(p, http.StatusBadRequest, "mfa")
		Expect(pageError(p)).To(Equal("Invalid token"))
		Expect(p.body).To(ContainSubstring(`aria-invalid="true"`))
		finish(rp, f, b.submit(p, map[string]string{"token": e.code(a.uri, 0)}))
	})

	It("takes a recovery code once", func() {
		a, rp := enrolled()
		f := rp.start()
		b := newWebBrowser()
		finish(rp, f, b.submit(b.signIn(f.authURL, a.Email, a.Password), map[string]string{"token": strings.ToLower(a.recovery[0])}))

		again := b.submit(b.signIn(rp.start().authURL, a.Email, a.Password), map[string]string{"token": a.recovery[0]})
		expectStep(again, http.StatusBadRequest, "mfa")
		Expect(pageError(again)).To(ContainSubstring("already been used"))
	})

	It("does not take a code twice within its window", func() {
		a, rp := enrolled()
		code := e.code(a.uri, 0)
		f := rp.start()
		b := newWebBrowser()
		finish(rp, f, b.submit(b.signIn(f.authURL, a.Email, a.Password), map[string]string{"token": code}))

		replay := b.submit(b.signIn(rp.start().authURL, a.Email, a.Password), map[string]string{"token": code})
		expectStep(replay, http.StatusBadRequest, "mfa")
		Expect(pageError(replay)).To(ContainSubstring("already been used"))
	})

	It("throttles wrong codes as it throttles passwords: even the right one waits", func() {
		a, rp := enrolled()
		b := newWebBrowser()
		p := b.signIn(rp.start().authURL, a.Email, a.Password)
		for range mfaPerAccount {
			p = b.submit(p, map[string]string{"token": e.wrong(a.uri)})
			expectStep(p, http.StatusBadRequest, "mfa")
		}
		p = b.submit(p, map[string]string{"token": e.code(a.uri, 0)})
		expectStep(p, http.StatusTooManyRequests, "mfa")
		Expect(p.header.Get("Retry-After")).NotTo(BeEmpty())

		e.clock.advance(mfaWindow + time.Second)
		f := rp.start()
		finish(rp, f, b.submit(b.signIn(f.authURL, a.Email, a.Password), map[string]string{"token": e.code(a.uri, 0)}))
	})

	It("refuses a code form without the browser's CSRF token", func() {
		a, rp := enrolled()
		b := newWebBrowser()
		p := b.submit(b.signIn(rp.start().authURL, a.Email, a.Password), map[string]string{"token": e.code(a.uri, 0), "csrf": ""})
		Expect(p.status).To(Equal(http.StatusForbidden), p.body)
		Expect(p.location).To(BeEmpty())
	})

	It("does not let another client's request finish the login", func() {
		a, rp := enrolled()
		other := e.harness().relyingParty(a.account, public)
		b := newWebBrowser()
		p := b.signIn(rp.start().authURL, a.Email, a.Password)
		moved := b.submit(p, map[string]string{"client_id": other.conf.ClientID, "token": e.code(a.uri, 0)})
		expectStep(moved, http.StatusBadRequest, "signin")
		Expect(pageError(moved)).To(ContainSubstring("expired or was already used"))
		Expect(moved.location).To(BeEmpty())
	})

	It("asks for the code before the choice of profile", func() {
		a, rp := enrolled()
		second := e.do("POST", "fhir/R4/ProjectMembership", a.Token, map[string]any{"resourceType": "ProjectMembership",
			"user": map[string]any{"reference": "User/" + a.UserID}, "profile": map[string]any{"reference": "Practitioner/" + e.practitioner(a.Project)}})
		Expect(second.Status).To(Equal(http.StatusCreated), string(second.Body))
		f := rp.start()
		b := newWebBrowser()
		p := b.submit(b.signIn(f.authURL, a.Email, a.Password), map[string]string{"token": e.code(a.uri, 0)})
		expectStep(p, http.StatusOK, "choose")
		finish(rp, f, b.submit(p, map[string]string{"profile": second.JSON()["id"].(string)}))
	})

	Describe("a Project's mfaRequired", func() {
		// required is an account of a project that requires MFA, not yet
		// enrolled, and a relying party of its project.
		required := func() (*mfaAccount, *relyingParty) {
			GinkgoHelper()
			a := e.newAccount()
			e.requireMFA(a)
			return a, e.harness().relyingParty(a.account, public)
		}

		It("enrolls the member on the sign-in page: the QR code, a first code, the recovery codes, then the client", func() {
			a, rp := required()
			f := rp.start()
			b := newWebBrowser()
			p := b.signIn(f.authURL, a.Email, a.Password)
			expectStep(p, http.StatusOK, "enroll")
			Expect(p.body).To(MatchRegexp(qrRe.String()))
			Expect(p.header.Get("Content-Security-Policy")).To(HavePrefix("default-src 'none'; img-src data:;"))
			uri := hidden(p, "enrollUri")
			Expect(uri).To(HavePrefix("otpauth://totp/Roster:"))
			key := keyRe.FindStringSubmatch(p.body)
			Expect(key).NotTo(BeNil())
			Expect(uri).To(ContainSubstring("secret=" + key[1]))

			By("keeping the same secret after a wrong first code")
			p = b.submit(p, map[string]string{"token": e.wrong(uri)})
			expectStep(p, http.StatusBadRequest, "enroll")
			Expect(pageError(p)).To(Equal("Invalid token"))
			Expect(keyRe.FindStringSubmatch(p.body)).To(Equal(key))

			p = b.submit(p, map[string]string{"token": e.code(uri, 0)})
			Expect(p.status).To(Equal(http.StatusOK), p.body)
			Expect(p.body).NotTo(ContainSubstring("<form"))
			codes := recoveryRe.FindAllStringSubmatch(p.body, -1)
			Expect(codes).To(HaveLen(auth.RecoveryCodeCount))
			link := continueRe.FindStringSubmatch(p.body)
			Expect(link).NotTo(BeNil())
			finish(rp, f, page{status: http.StatusSeeOther, location: html.UnescapeString(link[1])})

			Expect(e.status(a.Token)).To(HaveKeyWithValue("enrolled", true))

			By("asking for a code at the next sign-in, where a recovery code shown works")
			f = rp.start()
			p = b.signIn(f.authURL, a.Email, a.Password)
			expectStep(p, http.StatusOK, "mfa")
			finish(rp, f, b.submit(p, map[string]string{"token": codes[3][1]}))
		})

		It("starts over at the sign-in form when the held login has expired", func() {
			a, rp := required()
			b := newWebBrowser()
			p := b.signIn(rp.start().authURL, a.Email, a.Password)
			uri := hidden(p, "enrollUri")
			e.clock.advance(auth.CodeTTL + time.Minute)
			p = b.submit(p, map[string]string{"token": e.code(uri, 0)})
			expectStep(p, http.StatusBadRequest, "signin")
			Expect(pageError(p)).To(ContainSubstring("expired"))
		})
	})
})

var _ = Describe("Two-step sign-in in a browser", Label("browser"), Ordered, func() {
	e := &mfaEnv{clock: &mfaClock{}}
	var rpServer *httptest.Server
	var browser context.Context

	BeforeAll(func() {
		e.clock.reset()
		e.srv = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.Now = e.clock.Now }})
		DeferCleanup(e.srv.Close)
		rpServer = callbackPage()
	})

	BeforeEach(func() {
		e.clock.reset()
		browser = scriptless()
	})

	// party is a public client of a's project whose redirect URI is rpServer.
	party := func(a *mfaAccount) *relyingParty {
		GinkgoHelper()
		rp := e.harness().relyingParty(a.account, public)
		r := e.do("PATCH", "fhir/R4/ClientApplication/"+rp.conf.ClientID, a.Token,
			`[{"op":"add","path":"/redirectUri","value":"`+rpServer.URL+`/callback"}]`, "Content-Type", "application/json-patch+json")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		rp.conf.RedirectURL = rpServer.URL + "/callback"
		return rp
	}

	// signIn fills Roster's sign-in form.
	signIn := func(ctx context.Context, f flow, a *mfaAccount) {
		GinkgoHelper()
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(f.authURL),
			chromedp.SendKeys(chromedp.CSS("#email"), a.Email),
			chromedp.SendKeys(chromedp.CSS("#password"), a.Password),
			chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#token")),
		)).To(Succeed())
	}

	// codeForm opens the sign-in page in the browser and signs in as a: the
	// next page asks for a code.
	codeForm := func(ctx context.Context, a *mfaAccount, title string) (*relyingParty, flow) {
		GinkgoHelper()
		rp := party(a)
		f := rp.start()
		signIn(ctx, f, a)
		Expect(read(ctx, chromedp.Text(chromedp.CSS("h1")))).To(Equal(title))
		return rp, f
	}

	It("asks for the code on the same-look page, without JavaScript", func() {
		a := e.newAccount()
		e.enroll(a)
		ctx := within(browser)
		rp, f := codeForm(ctx, a, "Two-step sign-in")
		Expect(read(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('main')).maxWidth`))).To(Equal("448px"),
			"the set-password page's stylesheet")
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#token"), e.wrong(a.uri)),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#error")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#error")))).To(Equal("Invalid token"))
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#token"), e.code(a.uri, 0)),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)).To(Succeed())
		rp.signedInAs(landedAt(ctx).Query(), f, a.account)
	})

	It("shows the QR code of a required enrollment, then the recovery codes, then goes on", func() {
		a := e.newAccount()
		e.requireMFA(a)
		ctx := within(browser)
		rp, f := codeForm(ctx, a, "Set up two-step sign-in")
		Expect(read(ctx, chromedp.Evaluate[int](`document.getElementById('qr').naturalWidth`))).To(Equal(256),
			"the page's CSP lets the QR code's data: URL load")
		key := read(ctx, chromedp.Text(chromedp.CSS("#enroll-key")))
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#token"), e.code(key, 0)),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#recovery-codes li').length`))).To(Equal(auth.RecoveryCodeCount))
		Expect(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#continue")))).To(Succeed())
		rp.signedInAs(landedAt(ctx).Query(), f, a.account)
	})
})
