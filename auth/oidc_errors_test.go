package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
)

var _ = Describe("The OpenID Connect provider refusing bad input", Ordered, func() {
	h := sharedHarness()
	var admin account
	var pub, conf *relyingParty

	BeforeAll(func() {
		admin = h.newAdmin()
		pub = h.relyingParty(admin, public)
		conf = h.relyingParty(admin, secretBasic)
	})

	// authorizeURL is rp's authorization request with edits: a value ""
	// leaves the parameter out, a name starting with + sends it once more.
	authorizeURL := func(rp *relyingParty, edits map[string]string) string {
		u, _ := url.Parse(rp.start().authURL)
		q := u.Query()
		for k, v := range edits {
			switch {
			case strings.HasPrefix(k, "+"):
				q.Add(k[1:], v)
			case v == "":
				q.Del(k)
			default:
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}

	DescribeTable("an authorization request that cannot go back to the client is a page, never a redirect",
		func(edits map[string]string, text string) {
			p := newWebBrowser().get(authorizeURL(pub, edits))
			Expect(p.status).To(Equal(http.StatusBadRequest), p.body)
			Expect(p.location).To(BeEmpty())
			Expect(p.header.Get("Content-Type")).To(HavePrefix("text/html"))
			Expect(p.body).To(ContainSubstring(text))
			Expect(p.body).NotTo(ContainSubstring("<form"))
		},
		Entry("no client", map[string]string{"client_id": ""}, "names no client"),
		Entry("an unknown client", map[string]string{"client_id": "00000000-0000-4000-8000-000000000000"}, "Unknown client"),
		Entry("a client id that is no id", map[string]string{"client_id": "not a client"}, "Unknown client"),
		Entry("no redirect URI", map[string]string{"redirect_uri": ""}, "no redirect_uri"),
		Entry("an unregistered redirect URI", map[string]string{"redirect_uri": "https://evil.example/callback"}, "not registered"),
		Entry("a registered URI with something added", map[string]string{"redirect_uri": callbackURI + "?x=1"}, "not registered"),
		Entry("a registered URI differing in case", map[string]string{"redirect_uri": strings.ToUpper(callbackURI)}, "not registered"),
		Entry("a parameter sent twice", map[string]string{"+redirect_uri": "https://evil.example/callback"}, "repeated"),
	)

	DescribeTable("an authorization request wrong in any other way goes back to the client with the OAuth error and state",
		func(client func() *relyingParty, edits map[string]string, code string) {
			p := newWebBrowser().get(authorizeURL(client(), edits))
			Expect(p.status).To(Equal(http.StatusFound), p.body)
			u, err := url.Parse(p.location)
			Expect(err).NotTo(HaveOccurred())
			Expect(u.Scheme + "://" + u.Host + u.Path).To(Equal(callbackURI))
			Expect(u.Query().Get("error")).To(Equal(code))
			Expect(u.Query().Get("error_description")).NotTo(BeEmpty())
			Expect(u.Query().Get("state")).NotTo(BeEmpty())
			Expect(u.Query().Get("iss")).To(Equal(strings.TrimSuffix(h.srv.URL, "/")))
			Expect(u.Query().Get("code")).To(BeEmpty())
		},
		Entry("no response_type", func() *relyingParty { return pub }, map[string]string{"response_type": ""}, "invalid_request"),
		Entry("the implicit flow", func() *relyingParty { return pub }, map[string]string{"response_type": "token"}, "unsupported_response_type"),
		Entry("a public client without PKCE", func() *relyingParty { return pub },
			map[string]string{"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
		Entry("a public client with plain PKCE", func() *relyingParty { return pub },
			map[string]string{"code_challenge_method": "plain"}, "invalid_request"),
		Entry("a challenge too short", func() *relyingParty { return conf }, map[string]string{"code_challenge": "abc"}, "invalid_request"),
		Entry("a method without a challenge", func() *relyingParty { return conf }, map[string]string{"code_challenge": ""}, "invalid_request"),
		Entry("a nonce too long", func() *relyingParty { return pub }, map[string]string{"nonce": strings.Repeat("n", 513)}, "invalid_request"),
		Entry("an aud that is not this FHIR server", func() *relyingParty { return pub },
			map[string]string{"aud": "https://fhir.example/R4"}, "invalid_request"),
		Entry("prompt=none (Roster keeps no browser session)", func() *relyingParty { return pub },
			map[string]string{"prompt": "none"}, "login_required"),
	)

	It("lets a confidential client go without PKCE and takes SMART's aud", func() {
		u := authorizeURL(conf, map[string]string{"code_challenge": "", "code_challenge_method": "", "aud": h.srv.URL + "fhir/R4"})
		p, _ := url.Parse(u)
		code := newWebBrowser().code(flow{state: p.Query().Get("state"), authURL: u}, admin.Email, admin.Password)
		tok, err := conf.conf.Exchange(context.Background(), code)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.works(tok.AccessToken)).To(BeTrue())
	})

	It("shows the sign-in form again on a wrong password, without redirecting", func() {
		p := newWebBrowser().signIn(pub.start().authURL, admin.Email, "not-the-password")
		Expect(p.status).To(Equal(http.StatusBadRequest))
		Expect(p.location).To(BeEmpty())
		Expect(p.body).To(MatchRegexp(`role="alert" aria-live="assertive">Email or password is invalid<`))
		Expect(p.body).To(ContainSubstring(`value="` + admin.Email + `"`))
		Expect(p.body).To(ContainSubstring(`id="signin-form"`))
	})

	It("refuses a user with no membership in the client's project on the page", func() {
		stranger := h.newAdmin()
		p := newWebBrowser().signIn(pub.start().authURL, stranger.Email, stranger.Password)
		Expect(p.status).To(Equal(http.StatusBadRequest))
		Expect(p.location).To(BeEmpty())
		Expect(p.body).To(ContainSubstring("no active membership"))
	})

	DescribeTable("refuses a sign-in form without the browser's CSRF token",
		func(fields map[string]string, fresh bool) {
			b := newWebBrowser()
			form := b.get(pub.start().authURL)
			Expect(form.status).To(Equal(http.StatusOK))
			if fresh {
				b = newWebBrowser() // another browser: no cookie
			}
			fields["email"], fields["password"] = admin.Email, admin.Password
			p := b.submit(form, fields)
			Expect(p.status).To(Equal(http.StatusForbidden), p.body)
			Expect(p.location).To(BeEmpty())
			Expect(p.body).To(ContainSubstring("did not come from this site"))
		},
		Entry("a form posted from another browser (no cookie)", map[string]string{}, true),
		Entry("no token in the form", map[string]string{"csrf": ""}, false),
		Entry("a wrong token", map[string]string{"csrf": "x" + strings.Repeat("y", 42)}, false),
	)

	DescribeTable("refuses a bad token request with the error RFC 6749 names",
		func(edit func(v url.Values, f flow), code string) {
			f := pub.start()
			c := newWebBrowser().code(f, admin.Email, admin.Password)
			v := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {f.verifier},
				"redirect_uri": {callbackURI}, "client_id": {pub.conf.ClientID}}
			edit(v, f)
			expectOAuthError(h.form("oauth2/token", v), http.StatusBadRequest, code)
			v = url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {f.verifier},
				"redirect_uri": {callbackURI}, "client_id": {pub.conf.ClientID}}
			Expect(h.form("oauth2/token", v).Status).To(Equal(http.StatusOK), "a refused request does not use the code")
		},
		Entry("no PKCE verifier", func(v url.Values, _ flow) { v.Del("code_verifier") }, "invalid_grant"),
		Entry("a wrong PKCE verifier", func(v url.Values, _ flow) { v.Set("code_verifier", oauth2.GenerateVerifier()) }, "invalid_grant"),
		Entry("no redirect_uri", func(v url.Values, _ flow) { v.Del("redirect_uri") }, "invalid_grant"),
		Entry("another registered-looking redirect_uri", func(v url.Values, _ flow) { v.Set("redirect_uri", "https://other.example/cb") }, "invalid_grant"),
		Entry("another client's id", func(v url.Values, _ flow) { v.Set("client_id", conf.conf.ClientID) }, "invalid_grant"),
		Entry("no code", func(v url.Values, _ flow) { v.Del("code") }, "invalid_request"),
		Entry("an unknown code", func(v url.Values, _ flow) { v.Set("code", "not-a-code") }, "invalid_grant"),
		Entry("an unknown grant type", func(v url.Values, _ flow) { v.Set("grant_type", "password") }, "unsupported_grant_type"),
	)

	It("refuses a reused code and revokes the tokens issued from it (RFC 6749 §4.1.2)", func() {
		f := pub.start()
		code := newWebBrowser().code(f, admin.Email, admin.Password)
		tok, err := pub.exchange(code, f)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.works(tok.AccessToken)).To(BeTrue())

		_, err = pub.exchange(code, f)
		Expect(err).To(MatchError(ContainSubstring("invalid_grant")))
		Expect(h.works(tok.AccessToken)).To(BeFalse(), "the first exchange's access token is revoked")
		_, err = pub.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		Expect(err).To(MatchError(ContainSubstring("invalid_grant")), "and its refresh token")
	})

	It("echoes each request's own nonce: a relying party expecting another refuses the id token", func() {
		first, second := pub.start(), pub.start()
		b := newWebBrowser()
		c1, c2 := b.code(first, admin.Email, admin.Password), b.code(second, admin.Email, admin.Password)
		t1, err := pub.exchange(c1, first)
		Expect(err).NotTo(HaveOccurred())
		t2, err := pub.exchange(c2, second)
		Expect(err).NotTo(HaveOccurred())
		_, err = pub.verify(t1, first.nonce)
		Expect(err).NotTo(HaveOccurred())
		_, err = pub.verify(t1, second.nonce)
		Expect(err).To(MatchError(errNonce), "a replayed id token of another authorization is caught by its nonce")
		_, err = pub.verify(t2, second.nonce)
		Expect(err).NotTo(HaveOccurred())
	})

	It("answers userinfo only for a valid bearer token with openid (RFC 6750)", func() {
		r := h.do("GET", "oauth2/userinfo", "not-a-token", nil)
		Expect(r.Status).To(Equal(http.StatusUnauthorized))
		Expect(r.JSON()).To(HaveKeyWithValue("error", "invalid_token"))
		Expect(r.Header.Get("WWW-Authenticate")).To(HavePrefix("Bearer "))

		noOpenID := h.relyingParty(admin, public, "patient/*.rs")
		f := noOpenID.start()
		tok, err := noOpenID.exchange(newWebBrowser().code(f, admin.Email, admin.Password), f)
		Expect(err).NotTo(HaveOccurred())
		Expect(tok.Extra("id_token")).To(BeNil(), "no openid, no id token")
		r = h.do("POST", "oauth2/userinfo", tok.AccessToken, nil)
		Expect(r.Status).To(Equal(http.StatusForbidden))
		Expect(r.JSON()).To(HaveKeyWithValue("error", "insufficient_scope"))

		medplum := h.do("GET", "oauth2/userinfo", admin.Token, nil)
		Expect(medplum.Status).To(Equal(http.StatusOK))
		Expect(medplum.JSON()).To(HaveKeyWithValue("sub", admin.UserID))
		Expect(medplum.JSON()).To(HaveKeyWithValue("profile", HavePrefix("Practitioner/")))
	})

	DescribeTable("refuses an RP-initiated logout it cannot trust with a page",
		func(q func() url.Values, text string) {
			p := newWebBrowser().get(h.srv.URL + "oauth2/logout?" + q().Encode())
			Expect(p.status).To(Equal(http.StatusBadRequest), p.body)
			Expect(p.location).To(BeEmpty())
			Expect(p.body).To(ContainSubstring(text))
		},
		Entry("an unregistered post-logout URI", func() url.Values {
			return url.Values{"client_id": {pub.conf.ClientID}, "post_logout_redirect_uri": {"https://evil.example/"}}
		}, "not registered"),
		Entry("a post-logout URI without a client", func() url.Values {
			return url.Values{"post_logout_redirect_uri": {callbackURI}}
		}, "not registered"),
		Entry("a forged id_token_hint", func() url.Values {
			return url.Values{"id_token_hint": {"eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}}
		}, "not an id token of this server"),
		Entry("an access token as the hint", func() url.Values { return url.Values{"id_token_hint": {admin.Token}} },
			"not an id token of this server"),
	)
})
