package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"

	"github.com/rosterhq/roster/auth"
)

var _ = Describe("Roster as an OpenID Connect provider", Ordered, func() {
	h := sharedHarness()
	var admin account

	BeforeEach(func() {
		admin = h.newAdmin()
	})

	It("publishes discovery and SMART configuration that a relying party accepts", func() {
		issuer := strings.TrimSuffix(h.srv.URL, "/")
		provider, err := oidc.NewProvider(context.Background(), issuer)
		Expect(err).NotTo(HaveOccurred(), "go-oidc checks the issuer matches")
		Expect(provider.Endpoint().AuthURL).To(Equal(issuer + "/oauth2/authorize"))
		Expect(provider.Endpoint().TokenURL).To(Equal(issuer + "/oauth2/token"))
		Expect(provider.UserInfoEndpoint()).To(Equal(issuer + "/oauth2/userinfo"))
		var disc map[string]any
		Expect(provider.Claims(&disc)).To(Succeed())
		Expect(disc).To(HaveKeyWithValue("end_session_endpoint", issuer+"/oauth2/logout"))
		Expect(disc).To(HaveKeyWithValue("jwks_uri", issuer+"/.well-known/jwks.json"))
		Expect(disc["token_endpoint_auth_methods_supported"]).To(ConsistOf("client_secret_basic", "client_secret_post", "none"))
		Expect(disc["code_challenge_methods_supported"]).To(ConsistOf("S256"))
		Expect(disc["id_token_signing_alg_values_supported"]).To(ConsistOf("ES256"))

		smart := h.do("GET", ".well-known/smart-configuration", "", nil)
		Expect(smart.Status).To(Equal(http.StatusOK))
		Expect(smart.JSON()).To(HaveKeyWithValue("issuer", issuer))
		Expect(smart.JSON()).To(HaveKeyWithValue("authorization_endpoint", issuer+"/oauth2/authorize"))
		Expect(smart.JSON()["capabilities"]).To(ContainElements("launch-standalone", "client-public",
			"client-confidential-symmetric", "sso-openid-connect", "permission-v2"))
		Expect(smart.JSON()["scopes_supported"]).To(ContainElements("openid", "fhirUser", "offline_access", "patient/*.rs"))
	})

	DescribeTable("signs a user in through the code flow, with each client authentication method",
		func(method clientAuth) {
			rp := h.relyingParty(admin, method)
			f := rp.start()
			code := newWebBrowser().code(f, admin.Email, admin.Password)
			tok, err := rp.exchange(code, f)
			Expect(err).NotTo(HaveOccurred())

			idt, err := rp.verify(tok, f.nonce)
			Expect(err).NotTo(HaveOccurred(), "signature (kid from the JWKS), iss, aud, exp, nonce and at_hash")
			Expect(idt.Subject).To(Equal(admin.UserID))
			Expect(idt.Audience).To(Equal([]string{rp.conf.ClientID}))
			var claims map[string]any
			Expect(idt.Claims(&claims)).To(Succeed())
			Expect(claims).To(HaveKeyWithValue("email", admin.Email))
			Expect(claims).To(HaveKeyWithValue("given_name", "Pat"))
			Expect(claims["fhirUser"]).To(HavePrefix(h.srv.URL + "fhir/R4/Practitioner/"))
			header, _ := jwtParts(tok.Extra("id_token").(string))
			Expect(header).To(HaveKeyWithValue("kid", Not(BeEmpty())))
			Expect(tok.Extra("scope")).To(Equal("openid profile email fhirUser offline_access"))

			info, err := rp.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Subject).To(Equal(admin.UserID))
			Expect(info.Email).To(Equal(admin.Email))
			var more map[string]any
			Expect(info.Claims(&more)).To(Succeed())
			Expect(more).To(HaveKeyWithValue("fhirUser", claims["fhirUser"]))

			Expect(h.do("GET", "fhir/R4/Patient", tok.AccessToken, nil).Status).To(Equal(http.StatusOK))

			// Refresh through the library (it authenticates the same way),
			// rotated as on /auth/login: the old refresh token is dead.
			tok.Expiry = time.Now().Add(-time.Minute)
			next, err := rp.conf.TokenSource(context.Background(), tok).Token()
			Expect(err).NotTo(HaveOccurred())
			Expect(next.AccessToken).NotTo(Equal(tok.AccessToken))
			Expect(next.RefreshToken).NotTo(Equal(tok.RefreshToken))
			again, err := rp.verify(next, f.nonce)
			Expect(err).NotTo(HaveOccurred(), "a refresh's id token is the same login's")
			Expect(again.Subject).To(Equal(admin.UserID))
			_, err = rp.conf.TokenSource(context.Background(), tok).Token()
			Expect(err).To(MatchError(ContainSubstring("invalid_grant")))
		},
		Entry("client_secret_basic", secretBasic),
		Entry("client_secret_post", secretPost),
		Entry("none, with PKCE", public),
	)

	It("decodes client_secret_basic credentials form-encoded as RFC 6749 §2.3.1 asks (openid-client sends - as %2D)", func() {
		rp := h.relyingParty(admin, secretBasic)
		f := rp.start()
		code := newWebBrowser().code(f, admin.Email, admin.Password)
		enc := func(s string) string {
			return strings.NewReplacer("-", "%2D", "_", "%5F", ".", "%2E", "~", "%7E").Replace(url.QueryEscape(s))
		}
		Expect(rp.conf.ClientID).To(ContainSubstring("-"))
		r := h.form("oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {f.verifier},
			"redirect_uri": {callbackURI}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(enc(rp.conf.ClientID)+":"+enc(rp.secret))))
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(r.JSON()).To(HaveKey("id_token"))

		cc := h.form("oauth2/token", url.Values{"grant_type": {"client_credentials"}},
			"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(enc(rp.conf.ClientID)+":"+enc(rp.secret))))
		Expect(cc.Status).To(Equal(http.StatusOK), string(cc.Body))
	})

	Describe("a confidential client must authenticate on every grant (RFC 6749 §4.1.3, §6)", func() {
		var rp *relyingParty
		var f flow
		var code string

		BeforeEach(func() {
			rp = h.relyingParty(admin, secretBasic)
			f = rp.start()
			code = newWebBrowser().code(f, admin.Email, admin.Password)
		})

		exchange := func(extra url.Values, headers ...string) map[string]any {
			GinkgoHelper()
			v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {f.verifier}, "redirect_uri": {callbackURI}}
			for k, vv := range extra {
				v[k] = vv
			}
			r := h.form("oauth2/token", v, headers...)
			return map[string]any{"status": r.Status, "body": r.JSON(), "challenge": r.Header.Get("WWW-Authenticate")}
		}

		It("refuses the code without the client's secret, then takes it with the secret", func() {
			r := exchange(url.Values{"client_id": {rp.conf.ClientID}})
			Expect(r["status"]).To(Equal(http.StatusUnauthorized))
			Expect(r["body"]).To(HaveKeyWithValue("error", "invalid_client"))
			Expect(r["challenge"]).To(Equal(auth.BasicChallenge))

			r = exchange(nil, "Authorization", basic(rp.conf.ClientID, "wrong-secret"))
			Expect(r["status"]).To(Equal(http.StatusUnauthorized))
			Expect(r["body"]).To(HaveKeyWithValue("error", "invalid_client"))
			Expect(r["challenge"]).To(Equal(auth.BasicChallenge))

			r = exchange(url.Values{"client_id": {rp.conf.ClientID}, "client_secret": {"wrong-secret"}})
			Expect(r["status"]).To(Equal(http.StatusBadRequest))
			Expect(r["body"]).To(HaveKeyWithValue("error", "invalid_client"))
			Expect(r["challenge"]).To(BeEmpty())

			r = exchange(nil, "Authorization", basic(rp.conf.ClientID, rp.secret))
			Expect(r["status"]).To(Equal(http.StatusOK), "the failed attempts did not use the code")
		})

		It("refuses the refresh token without the client's secret", func() {
			tok, err := rp.exchange(code, f)
			Expect(err).NotTo(HaveOccurred())
			refresh := func(v url.Values, headers ...string) *page {
				v.Set("grant_type", "refresh_token")
				v.Set("refresh_token", tok.RefreshToken)
				r := h.form("oauth2/token", v, headers...)
				return &page{status: r.Status, body: string(r.Body), header: r.Header}
			}
			r := refresh(url.Values{})
			Expect(r.status).To(Equal(http.StatusUnauthorized))
			Expect(r.body).To(ContainSubstring(`"error":"invalid_client"`))
			r = refresh(url.Values{"client_id": {rp.conf.ClientID}})
			Expect(r.status).To(Equal(http.StatusUnauthorized))
			Expect(r.header.Get("WWW-Authenticate")).To(Equal(auth.BasicChallenge))
			r = refresh(url.Values{}, "Authorization", basic(rp.conf.ClientID, rp.secret+"x"))
			Expect(r.status).To(Equal(http.StatusUnauthorized))
			Expect(r.body).To(ContainSubstring(`"error":"invalid_client"`))

			r = refresh(url.Values{}, "Authorization", basic(rp.conf.ClientID, rp.secret))
			Expect(r.status).To(Equal(http.StatusOK), "the refusals did not rotate the token away: %s", r.body)
		})

		It("refuses a code issued to another client as invalid_grant", func() {
			other := h.relyingParty(admin, secretBasic)
			r := exchange(nil, "Authorization", basic(other.conf.ClientID, other.secret))
			Expect(r["status"]).To(Equal(http.StatusBadRequest))
			Expect(r["body"]).To(HaveKeyWithValue("error", "invalid_grant"))
		})
	})

	It("offers a choice page when the user has several memberships in the client's project", func() {
		prac := h.do("POST", "fhir/R4/Practitioner", admin.Token, map[string]any{"resourceType": "Practitioner",
			"name": []any{map[string]any{"given": []string{"Night"}, "family": "Shift"}}})
		Expect(prac.Status).To(Equal(http.StatusCreated))
		second := "Practitioner/" + prac.JSON()["id"].(string)
		m := h.do("POST", "fhir/R4/ProjectMembership", admin.Token, map[string]any{"resourceType": "ProjectMembership",
			"user":    map[string]any{"reference": "User/" + admin.UserID},
			"profile": map[string]any{"reference": second, "display": "Night Shift"}})
		Expect(m.Status).To(Equal(http.StatusCreated), string(m.Body))

		rp := h.relyingParty(admin, public)
		f := rp.start()
		b := newWebBrowser()
		choose := b.signIn(f.authURL, admin.Email, admin.Password)
		Expect(choose.status).To(Equal(http.StatusOK), choose.body)
		Expect(choose.body).To(ContainSubstring(`id="choose-form"`))
		Expect(choose.body).To(ContainSubstring("Night Shift"))
		q := callback(b.submit(choose, map[string]string{"profile": m.JSON()["id"].(string)}))
		Expect(q.Get("state")).To(Equal(f.state))
		tok, err := rp.exchange(q.Get("code"), f)
		Expect(err).NotTo(HaveOccurred())
		idt, err := rp.verify(tok, f.nonce)
		Expect(err).NotTo(HaveOccurred())
		var claims map[string]any
		Expect(idt.Claims(&claims)).To(Succeed())
		Expect(claims).To(HaveKeyWithValue("fhirUser", h.srv.URL+"fhir/R4/"+second))
		Expect(tok.Extra("profile")).To(HaveKeyWithValue("reference", second))
	})

	It("ends the login on RP-initiated logout and returns to the registered URI with state", func() {
		rp := h.relyingParty(admin, secretPost)
		f := rp.start()
		tok, err := rp.exchange(newWebBrowser().code(f, admin.Email, admin.Password), f)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.works(tok.AccessToken)).To(BeTrue())

		b := newWebBrowser()
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://other.example/cb"}, "state": {"bye"}}
		confirm := b.get(h.srv.URL + "oauth2/logout?" + q.Encode())
		Expect(confirm.status).To(Equal(http.StatusOK), confirm.body)
		Expect(confirm.body).To(ContainSubstring(`id="logout-form"`))
		Expect(h.works(tok.AccessToken)).To(BeTrue(), "showing the page signs nobody out")

		done := b.submit(confirm, nil)
		Expect(done.status).To(Equal(http.StatusSeeOther), done.body)
		Expect(done.location).To(Equal("https://other.example/cb?state=bye"))
		Expect(h.works(tok.AccessToken)).To(BeFalse())
		_, err = rp.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		Expect(err).To(MatchError(ContainSubstring("invalid_grant")))
	})

	It("keeps Medplum's /oauth2/logout for a bearer token", func() {
		acct := h.newMember(admin.Project)
		Expect(h.do("POST", "oauth2/logout", acct.Token, nil).Status).To(Equal(http.StatusOK))
		Expect(h.works(acct.Token)).To(BeFalse())
	})
})
