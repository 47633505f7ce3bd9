package auth_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"

	"github.com/rosterhq/roster/auth"
)

// callbackURI is where the relying parties of the specs are sent back to;
// nothing listens there: the browser stops at the redirect.
const callbackURI = "https://rp.example/callback"

// relyingParty is a client of Roster driven by real OpenID Connect and
// OAuth libraries: coreos/go-oidc reads the discovery document, the JWKS and
// verifies id tokens; golang.org/x/oauth2 runs the token endpoint.
type relyingParty struct {
	provider *oidc.Provider
	conf     oauth2.Config
	secret   string // "" for a public client
}

// clientAuth is how a relying party authenticates at the token endpoint.
type clientAuth string

const (
	secretBasic clientAuth = "client_secret_basic"
	secretPost  clientAuth = "client_secret_post"
	public      clientAuth = "none"
)

// newClient registers a ClientApplication with callbackURI in admin's
// project: a confidential one (with a secret) through the admin API, or a
// public one through FHIR. It returns its id and secret.
func (h *harness) newClient(admin account, method clientAuth) (id, secret string) {
	GinkgoHelper()
	if method == public {
		r := h.do("POST", "fhir/R4/ClientApplication", admin.Token, map[string]any{"resourceType": "ClientApplication",
			"name": "Public app", "redirectUri": callbackURI})
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		return r.JSON()["id"].(string), ""
	}
	r := h.do("POST", "admin/projects/"+admin.Project+"/client", admin.Token, map[string]any{"name": "Confidential app", "admin": false})
	Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
	id, secret = r.JSON()["id"].(string), r.JSON()["secret"].(string)
	p := h.do("PATCH", "fhir/R4/ClientApplication/"+id, admin.Token,
		`[{"op":"add","path":"/redirectUris","value":["https://other.example/cb","`+callbackURI+`"]}]`,
		"Content-Type", "application/json-patch+json")
	Expect(p.Status).To(Equal(http.StatusOK), string(p.Body))
	return id, secret
}

// relyingParty registers a client authenticating with method and discovers
// Roster as its provider.
func (h *harness) relyingParty(admin account, method clientAuth, scopes ...string) *relyingParty {
	GinkgoHelper()
	id, secret := h.newClient(admin, method)
	provider, err := oidc.NewProvider(context.Background(), strings.TrimSuffix(h.srv.URL, "/"))
	Expect(err).NotTo(HaveOccurred())
	style := oauth2.AuthStyleInHeader
	if method != secretBasic {
		style = oauth2.AuthStyleInParams
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "fhirUser", "offline_access"}
	}
	ep := provider.Endpoint()
	ep.AuthStyle = style
	return &relyingParty{provider: provider, secret: secret, conf: oauth2.Config{ClientID: id, ClientSecret: secret,
		Endpoint: ep, RedirectURL: callbackURI, Scopes: scopes}}
}

// flow is one authorization request of a relying party.
type flow struct {
	state, nonce, verifier string
	authURL                string
}

// start builds an authorization request: state, nonce and PKCE (S256).
func (rp *relyingParty) start(extra ...oauth2.AuthCodeOption) flow {
	f := flow{state: auth.Secret()[:16], nonce: auth.Secret()[:16], verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	f.authURL = rp.conf.AuthCodeURL(f.state, opts...)
	return f
}

// exchange trades the code for tokens, sending the PKCE verifier.
func (rp *relyingParty) exchange(code string, f flow) (*oauth2.Token, error) {
	return rp.conf.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
}

// verify checks the id token of tok as the relying party does, with the
// nonce it expects.
func (rp *relyingParty) verify(tok *oauth2.Token, nonce string) (*oidc.IDToken, error) {
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.conf.ClientID}).Verify(context.Background(), raw)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != nonce {
		return nil, errNonce
	}
	return idt, idt.VerifyAccessToken(tok.AccessToken)
}

type nonceError struct{}

func (nonceError) Error() string { return "id token nonce does not match" }

var errNonce = nonceError{}

// webBrowser is a user agent with cookies that stops at every redirect.
type webBrowser struct {
	hc *http.Client
}

func newWebBrowser() *webBrowser {
	jar, _ := cookiejar.New(nil)
	return &webBrowser{hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer the browser got.
type page struct {
	status   int
	location string
	body     string
	header   http.Header
	url      string
}

func (b *webBrowser) send(req *http.Request) page {
	GinkgoHelper()
	resp, err := b.hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(raw), header: resp.Header, url: req.URL.String()}
}

func (b *webBrowser) get(u string) page {
	GinkgoHelper()
	req, err := http.NewRequest("GET", u, nil)
	Expect(err).NotTo(HaveOccurred())
	return b.send(req)
}

var (
	formRe   = regexp.MustCompile(`(?s)<form id="([a-z]+)-form" method="post" action="([^"]*)">(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit posts the page's form, its hidden fields with fields over them
// (a field set to "" is left out).
func (b *webBrowser) submit(p page, fields map[string]string) page {
	GinkgoHelper()
	m := formRe.FindStringSubmatch(p.body)
	Expect(m).NotTo(BeNil(), "no form on the page: %s", p.body)
	values := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[3], -1) {
		values.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range fields {
		if v == "" {
			values.Del(k)
		} else {
			values.Set(k, v)
		}
	}
	return b.post(p, m[2], values)
}

// post sends values as a form to action (as written in page p).
func (b *webBrowser) post(p page, action string, values url.Values) page {
	GinkgoHelper()
	base, err := url.Parse(p.url)
	Expect(err).NotTo(HaveOccurred())
	to, err := base.Parse(html.UnescapeString(action))
	Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequest("POST", to.String(), strings.NewReader(values.Encode()))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req)
}

// signIn opens the authorization URL and signs in on Roster's page; it
// returns the answer to the sign-in (a redirect, or a page).
func (b *webBrowser) signIn(authURL, email, password string) page {
	GinkgoHelper()
	p := b.get(authURL)
	Expect(p.status).To(Equal(http.StatusOK), p.body)
	Expect(p.body).To(ContainSubstring(`id="signin-form"`))
	return b.submit(p, map[string]string{"email": email, "password": password})
}

// callback reads the redirect to the relying party: its query.
func callback(p page) url.Values {
	GinkgoHelper()
	Expect(p.status).To(Equal(http.StatusSeeOther), p.body)
	u, err := url.Parse(p.location)
	Expect(err).NotTo(HaveOccurred())
	Expect(u.Scheme + "://" + u.Host + u.Path).To(Equal(callbackURI))
	return u.Query()
}

// code runs the browser part of a flow and returns the code.
func (b *webBrowser) code(f flow, email, password string) string {
	GinkgoHelper()
	q := callback(b.signIn(f.authURL, email, password))
	Expect(q.Get("state")).To(Equal(f.state))
	Expect(q.Get("error")).To(BeEmpty(), q.Get("error_description"))
	Expect(q.Get("code")).NotTo(BeEmpty())
	return q.Get("code")
}

// signedInAs exchanges the code the browser came back with (q), checks the
// id token as the relying party would, and that it and userinfo name who.
func (rp *relyingParty) signedInAs(q url.Values, f flow, who account) *oauth2.Token {
	GinkgoHelper()
	Expect(q.Get("state")).To(Equal(f.state))
	tok, err := rp.exchange(q.Get("code"), f)
	Expect(err).NotTo(HaveOccurred())
	idt, err := rp.verify(tok, f.nonce)
	Expect(err).NotTo(HaveOccurred())
	Expect(idt.Subject).To(Equal(who.UserID))
	info, err := rp.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	Expect(err).NotTo(HaveOccurred())
	Expect(info.Email).To(Equal(who.Email))
	return tok
}

// callbackPage serves a relying party's redirect URI for the browser
// specs: the page the browser lands on, until the container ends.
func callbackPage() *httptest.Server {
	GinkgoHelper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>RP</title><p id="rp-done">back at the relying party</p>`))
	}))
	DeferCleanup(srv.Close)
	return srv
}

// scriptless starts Chromium with JavaScript off: the pages' forms work
// without it.
func scriptless() context.Context {
	GinkgoHelper()
	browser := newBrowser()
	_, err := chromedp.Call(within(browser), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	Expect(err).NotTo(HaveOccurred())
	return browser
}

// landedAt waits for the browser to be back at the relying party
// (callbackPage) and answers where it is.
func landedAt(ctx context.Context) *url.URL {
	GinkgoHelper()
	Expect(chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#rp-done")))).To(Succeed())
	u, err := url.Parse(read(ctx, chromedp.Evaluate[string](`location.href`)))
	Expect(err).NotTo(HaveOccurred())
	return u
}
