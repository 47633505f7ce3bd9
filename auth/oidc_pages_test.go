package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
)

var _ = Describe("The sign-in pages", Ordered, func() {
	h := sharedHarness()
	var admin account

	BeforeAll(func() {
		admin = h.newAdmin()
	})

	It("share the set-password page's look and strict headers, with no script and no inline style", func() {
		rp := h.relyingParty(admin, public)
		p := newWebBrowser().get(rp.start().authURL)
		Expect(p.status).To(Equal(http.StatusOK))
		Expect(p.header.Get("Content-Security-Policy")).To(Equal("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self' https://rp.example; frame-ancestors 'none'; base-uri 'none'"),
			"the form may go on to the client's redirect URI, and nowhere else")
		Expect(p.header.Get("Cache-Control")).To(Equal("no-store"))
		Expect(p.header.Get("X-Frame-Options")).To(Equal("DENY"))
		Expect(p.body).To(ContainSubstring(`<link rel="stylesheet" href="assets/page.css">`))
		Expect(p.body).NotTo(ContainSubstring("<script"))
		Expect(p.body).NotTo(ContainSubstring("style="))
		Expect(p.body).To(ContainSubstring(`<label for="email">`))
		Expect(p.body).To(ContainSubstring(`autocomplete="current-password"`))
		Expect(p.body).To(MatchRegexp(`<input type="hidden" name="csrf" value="[A-Za-z0-9_-]{43}">`))
		var csrf *http.Cookie
		for _, ck := range (&http.Response{Header: p.header}).Cookies() {
			if ck.Name == "roster.csrf" {
				csrf = ck
			}
		}
		Expect(csrf).NotTo(BeNil())
		Expect(csrf.HttpOnly).To(BeTrue())
		Expect(csrf.Path).To(Equal("/oauth2/"))
		Expect(csrf.SameSite).To(Equal(http.SameSiteLaxMode))

		css := h.do("GET", "oauth2/assets/page.css", "", nil)
		Expect(css.Status).To(Equal(http.StatusOK))
		Expect(css.Body).To(Equal(h.do("GET", "setpassword/assets/page.css", "", nil).Body), "one stylesheet for every page")
	})
})

var _ = Describe("The sign-in pages in a browser", Label("browser"), Ordered, func() {
	h := sharedHarness()
	var admin account
	var rpServer *httptest.Server
	var rp *relyingParty
	var browser context.Context

	BeforeAll(func() {
		admin = h.newAdmin()
		rpServer = callbackPage()
		r := h.do("POST", "fhir/R4/ClientApplication", admin.Token, map[string]any{"resourceType": "ClientApplication",
			"name": "Browser app", "redirectUris": []string{rpServer.URL + "/callback", rpServer.URL + "/signed-out"}})
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		rp = h.relyingParty(admin, public)
		rp.conf.ClientID, rp.conf.RedirectURL = r.JSON()["id"].(string), rpServer.URL+"/callback"
	})

	BeforeEach(func() {
		browser = scriptless()
	})

	// signIn runs the flow f in the browser and exchanges the code.
	signIn := func(ctx context.Context, f flow) *oauth2.Token {
		GinkgoHelper()
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(f.authURL),
			chromedp.WaitVisible(chromedp.CSS("#email")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("h1")))).To(Equal("Sign in"))
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#client")))).To(Equal("Browser app"))
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#email"), admin.Email),
			chromedp.SendKeys(chromedp.CSS("#password"), admin.Password),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)).To(Succeed())
		u := landedAt(ctx)
		Expect(u.Path).To(Equal("/callback"))
		Expect(u.Query().Get("state")).To(Equal(f.state))
		tok, err := rp.exchange(u.Query().Get("code"), f)
		Expect(err).NotTo(HaveOccurred())
		return tok
	}

	It("signs in without JavaScript and sends the browser back with a code the client exchanges", func() {
		f := rp.start()
		tok := signIn(within(browser), f)
		_, err := rp.verify(tok, f.nonce)
		Expect(err).NotTo(HaveOccurred())
	})

	It("shows a wrong password in the alert region and keeps the email", func() {
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(rp.start().authURL),
			chromedp.SendKeys(chromedp.CSS("#email"), admin.Email),
			chromedp.SendKeys(chromedp.CSS("#password"), "wrong-password"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#error")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#error")))).To(Equal("Email or password is invalid"))
		Expect(read(ctx, chromedp.Evaluate[string](`document.getElementById('email').value`))).To(Equal(admin.Email))
		Expect(read(ctx, chromedp.Evaluate[string](`document.getElementById('password').getAttribute('aria-invalid')`))).To(Equal("true"))
	})

	It("lets a user with several memberships choose one", func() {
		member := h.newMember(admin.Project)
		prac := h.do("POST", "fhir/R4/Practitioner", admin.Token, map[string]any{"resourceType": "Practitioner"})
		Expect(prac.Status).To(Equal(http.StatusCreated))
		second := h.do("POST", "fhir/R4/ProjectMembership", admin.Token, map[string]any{"resourceType": "ProjectMembership",
			"user":    map[string]any{"reference": "User/" + member.UserID},
			"profile": map[string]any{"reference": "Practitioner/" + prac.JSON()["id"].(string), "display": "Locum profile"}})
		Expect(second.Status).To(Equal(http.StatusCreated))

		f := rp.start()
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(f.authURL),
			chromedp.SendKeys(chromedp.CSS("#email"), member.Email),
			chromedp.SendKeys(chromedp.CSS("#password"), member.Password),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#choose-form")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("legend")))).To(ContainSubstring("Which profile"))
		Expect(chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`label[for="m-`+second.JSON()["id"].(string)+`"]`)),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)).To(Succeed())
		u := landedAt(ctx)
		tok, err := rp.exchange(u.Query().Get("code"), f)
		Expect(err).NotTo(HaveOccurred())
		Expect(tok.Extra("profile")).To(HaveKeyWithValue("display", "Locum profile"))
	})

	It("asks before signing out, then returns to the registered URI", func() {
		tok := signIn(within(browser), rp.start())
		ctx := within(browser)
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {rpServer.URL + "/signed-out"}, "state": {"s1"}}
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(h.srv.URL+"oauth2/logout?"+q.Encode()),
			chromedp.WaitVisible(chromedp.CSS("#logout-form")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#status")))).To(ContainSubstring("sign out"))
		Expect(h.works(tok.AccessToken)).To(BeTrue())
		Expect(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))).To(Succeed())
		u := landedAt(ctx)
		Expect(u.Path).To(Equal("/signed-out"))
		Expect(u.Query().Get("state")).To(Equal("s1"))
		Expect(h.works(tok.AccessToken)).To(BeFalse())
	})
})
