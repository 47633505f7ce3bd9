package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// harness is one Roster shared by the specs of an Ordered container; each
// spec makes the users and projects it needs, so none depends on another.
type harness struct {
	srv *fixtures.Server
}

// sharedHarness is a harness for the Ordered container it is called in:
// started before the container's first spec, stopped after its last.
func sharedHarness() *harness {
	h := &harness{}
	BeforeAll(func() { *h = *startHarness() })
	return h
}

// startHarness starts a fresh Roster for the enclosing container or spec;
// it stops when that ends.
func startHarness() *harness {
	GinkgoHelper()
	srv := fixtures.Start(GinkgoT(), fixtures.Options{})
	DeferCleanup(srv.Close)
	return &harness{srv: srv}
}

// do sends a request; a transport error fails the spec.
func (h *harness) do(method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := h.srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// form POSTs form-encoded values, as OAuth clients do.
func (h *harness) form(path string, values url.Values, headers ...string) *fixtures.Response {
	GinkgoHelper()
	return h.do("POST", path, "", values.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// account is a user with a password and a membership, signed in.
type account struct {
	Project, Email, Password, Token, UserID string
}

// newAdmin makes a project with an admin account.
func (h *harness) newAdmin() account {
	GinkgoHelper()
	pid, token, email, err := h.srv.ProjectAdmin("Auth " + auth.Secret()[:8])
	Expect(err).NotTo(HaveOccurred())
	return account{Project: pid, Email: email, Password: fixtures.AdminPassword, Token: token, UserID: h.userID(email)}
}

// newMember adds a non-admin account to project.
func (h *harness) newMember(project string) account {
	GinkgoHelper()
	email := "member-" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(auth.Secret()[:10])) + "@example.com"
	password := "member-password-1"
	Expect(h.srv.AddMember(project, email, "Mel", "Member", password, false)).To(Succeed())
	token, err := h.srv.Login(email, password)
	Expect(err).NotTo(HaveOccurred())
	return account{Project: project, Email: email, Password: password, Token: token, UserID: h.userID(email)}
}

// userID finds the User with email, as the system.
func (h *harness) userID(email string) string {
	GinkgoHelper()
	t, _ := resources.Lookup("User")
	q, err := resources.ParseQuery(t, url.Values{"email": {email}})
	Expect(err).NotTo(HaveOccurred())
	recs, _, err := h.srv.App.Resources.Search(resources.AsSystem(context.Background(), ""), q)
	Expect(err).NotTo(HaveOccurred())
	Expect(recs).To(HaveLen(1))
	return recs[0].ID
}

// membership is the stored membership of userID.
func (h *harness) membership(userID string) map[string]any {
	GinkgoHelper()
	t, _ := resources.Lookup("ProjectMembership")
	q, err := resources.ParseQuery(t, url.Values{"user": {"User/" + userID}})
	Expect(err).NotTo(HaveOccurred())
	recs, _, err := h.srv.App.Resources.Search(resources.AsSystem(context.Background(), ""), q)
	Expect(err).NotTo(HaveOccurred())
	Expect(recs).To(HaveLen(1))
	var m map[string]any
	Expect(json.Unmarshal(recs[0].Content, &m)).To(Succeed())
	return m
}

// pkce is a verifier and its challenge for method ("S256" or "plain").
func pkce(method string) (verifier, challenge string) {
	verifier = auth.Secret() + auth.Secret()[:11]
	if method == "plain" {
		return verifier, verifier
	}
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// startLogin POSTs /auth/login; extra elements are merged into the body.
func (h *harness) startLogin(email, password, challenge, method string, extra map[string]any) *fixtures.Response {
	GinkgoHelper()
	req := map[string]any{"email": email, "password": password, "codeChallenge": challenge, "codeChallengeMethod": method}
	for k, v := range extra {
		req[k] = v
	}
	return h.do("POST", "auth/login", "", req, "Content-Type", "application/json")
}

// exchange trades an authorization code for tokens.
func (h *harness) exchange(code, verifier string) *fixtures.Response {
	GinkgoHelper()
	return h.form("oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}})
}

// signIn runs the whole PKCE login and returns the token answer.
func (h *harness) signIn(email, password string) map[string]any {
	GinkgoHelper()
	verifier, challenge := pkce("S256")
	r := h.startLogin(email, password, challenge, "S256", nil)
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	code, _ := r.JSON()["code"].(string)
	Expect(code).NotTo(BeEmpty(), string(r.Body))
	t := h.exchange(code, verifier)
	Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
	return t.JSON()
}

// works reports whether token is accepted on an authenticated route; any
// answer but 200 and 401 fails the spec.
func (h *harness) works(token string) bool {
	GinkgoHelper()
	r := h.do("GET", "auth/me", token, nil)
	Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusUnauthorized), string(r.Body))
	if r.Status == http.StatusUnauthorized {
		expectOutcome(r, http.StatusUnauthorized)
	}
	return r.Status == http.StatusOK
}

// expectOAuthError checks an RFC 6749 error answer.
func expectOAuthError(r *fixtures.Response, status int, code string) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(status), string(r.Body))
	Expect(r.JSON()).To(HaveKeyWithValue("error", code))
	Expect(r.JSON()).To(HaveKey("error_description"))
}

// expectOutcome checks r is an OperationOutcome with status.
func expectOutcome(r *fixtures.Response, status int) map[string]any {
	GinkgoHelper()
	Expect(r.Status).To(Equal(status), string(r.Body))
	o := r.JSON()
	Expect(o).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
	return o
}

// basic is an HTTP Basic Authorization header value.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(token string) (header, claims map[string]any) {
	GinkgoHelper()
	parts := strings.Split(token, ".")
	Expect(parts).To(HaveLen(3))
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(raw, dst)).To(Succeed())
	}
	return header, claims
}
