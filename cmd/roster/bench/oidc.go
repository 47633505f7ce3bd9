package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
)

// The OpenID Connect workloads: a relying party's whole sign-in, and the
// userinfo call it then makes.

// oidcRedirect is the redirect URI of the benchmark's OpenID Connect
// client; nothing listens there, the workload stops at the redirect.
const oidcRedirect = "https://bench.invalid/callback"

// createOIDCClient registers the public client the oidc-code-flow workload
// signs in through, as the project's admin.
func createOIDCClient(ctx context.Context, cl *client) (string, error) {
	s, h, err := cl.do(ctx, "POST", "fhir/R4/ClientApplication", fhirJSON, jsonBody(obj{
		"resourceType": "ClientApplication", "name": "Bench relying party", "redirectUri": oidcRedirect}))
	if err != nil || s != 201 {
		return "", fmt.Errorf("create client application: %v %d %.300s", err, s, cl.buf.String())
	}
	return idFromLocation(h.Get("Location")), nil
}

// oidcCodeFlow is a relying party's whole sign-in per request.
var oidcCodeFlow = op{name: "oidc-code-flow", roster: func(w *world) worker {
	return func(cl *client, i, _ int) task {
		email := w.users[i%len(w.users)]
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Transport: cl.hc.Transport, Jar: jar, Timeout: cl.hc.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		return func(ctx context.Context) (int, error) {
			err := codeFlow(ctx, browser, cl.base, w.oidcClient, email)
			var se *statusError
			if errors.As(err, &se) {
				return se.status, nil
			}
			if err != nil {
				return 0, err
			}
			return 200, nil
		}
	}
}}

// userinfo is a relying party's userinfo call, to set against a FHIR read:
// both are one authenticated request reading one resource.
var userinfo = op{name: "userinfo", baseline: "b-read", roster: func(w *world) worker {
	return func(cl *client, _, _ int) task { return get(cl, "oauth2/userinfo") }
}}

// codeFlow is one relying party's sign-in, as a browser without JavaScript
// and the party's back end make it: the authorization request (the sign-in
// page), the form posted with the email and password, the code exchanged
// with the PKCE verifier, then userinfo with the access token.
func codeFlow(ctx context.Context, browser *http.Client, base, clientID, email string) error {
	verifier := "bench-oidc-" + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
	sum := sha256.Sum256([]byte(verifier))
	params := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {oidcRedirect},
		"scope": {"openid profile email fhirUser"}, "state": {"s" + strconv.FormatUint(rand.Uint64(), 36)},
		"nonce": {"n" + strconv.FormatUint(rand.Uint64(), 36)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	resp, err := send(ctx, browser, "GET", base+"oauth2/authorize?"+params.Encode(), "", nil, http.StatusOK)
	if err != nil {
		return err
	}
	u, _ := url.Parse(base + "oauth2/authorize")
	for _, ck := range browser.Jar.Cookies(u) {
		if ck.Name == "roster.csrf" {
			params.Set("csrf", ck.Value)
		}
	}
	params.Set("step", "signin")
	params.Set("email", email)
	params.Set("password", LoginPassword)
	if resp, err = send(ctx, browser, "POST", base+"oauth2/authorize", "", params, http.StatusSeeOther); err != nil {
		return err
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" {
		return &statusError{resp.StatusCode, "no code in the redirect: " + resp.Header.Get("Location")}
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {oidcRedirect}, "client_id": {clientID}}
	tc := &client{hc: browser, base: base}
	token, err := postFor(ctx, tc, "oauth2/token", "application/x-www-form-urlencoded", []byte(form.Encode()), "access_token")
	if err != nil {
		return err
	}
	_, err = send(ctx, browser, "GET", base+"oauth2/userinfo", token, nil, http.StatusOK)
	return err
}

// send makes one request of the code flow (a bearer token, a form body);
// an answer other than want is a statusError.
func send(ctx context.Context, hc *http.Client, method, target, token string, form url.Values, want int) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the connection is reused
	resp.Body.Close()
	if resp.StatusCode != want {
		return resp, &statusError{resp.StatusCode, method + " " + target}
	}
	return resp, nil
}
