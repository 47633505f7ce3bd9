package medable_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/medable"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// srv is the suite's server, delivering its mail to mp; specs keep out of
// each other's way with orgs and emails of their own.
var (
	srv *fixtures.Server
	mp  *fixtures.MailpitClient
)

var _ = BeforeSuite(func() {
	medable.ResetMinDuration = 0
	srv, mp = fixtures.StartWithMail(GinkgoT(), fixtures.Options{})
	DeferCleanup(srv.Close)
})

var uniq, email = fixtures.Uniq, fixtures.Email

// org is a project with a signed-in admin.
type org struct{ fixtures.Tenant }

// base is the org's Medable base path.
func (o org) base() string { return "medable/" + o.ID + "/v2/" }

func newOrg() org { GinkgoHelper(); return org{srv.NewTenant(GinkgoT(), "org-")} }

// requireVerification turns the org's login verification on.
func requireVerification(o org) {
	GinkgoHelper()
	ctx := resources.AsSystem(context.Background(), "")
	p, rec, err := resources.ReadTyped[*resources.Project](ctx, srv.App.Resources, "Project", o.ID)
	Expect(err).NotTo(HaveOccurred())
	p.Extension = resources.SetExtension(p.Extension, medable.ExtLoginVerification, "valueBoolean", true)
	p.Meta = nil
	_, err = srv.App.Resources.Update(ctx, p, o.ID, rec.ETag())
	Expect(err).NotTo(HaveOccurred())
}

// device is a browser: its own cookie jar, so its own location and session.
type device struct{ client *http.Client }

func newDevice() *device {
	jar, _ := cookiejar.New(nil)
	return &device{client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request; body is JSON-encoded unless it is a string.
func (d *device) do(method, path string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, srv.URL+strings.TrimPrefix(path, "/"), rd)
	Expect(err).NotTo(HaveOccurred())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := d.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return &fixtures.Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// bearer sends a request with a bearer token and no cookies.
func bearer(method, path, token string, body any) *fixtures.Response {
	GinkgoHelper()
	d := newDevice()
	if token == "" {
		return d.do(method, path, body)
	}
	return d.do(method, path, body, "Authorization", "Bearer "+token)
}

// expectFault checks a Medable fault and returns it.
func expectFault(r *fixtures.Response, status int, errCode string) map[string]any {
	GinkgoHelper()
	f := r.JSON()
	Expect(r.Status).To(Equal(status), string(r.Body))
	Expect(f).To(HaveKeyWithValue("object", "fault"), string(r.Body))
	Expect(f).To(HaveKeyWithValue("errCode", errCode), string(r.Body))
	Expect(f["status"]).To(BeEquivalentTo(status))
	Expect(f["code"]).To(HavePrefix("k"))
	Expect(f["message"]).NotTo(BeEmpty())
	Expect(f).To(HaveKey("name"))
	return f
}

// children are the child faults of a validation fault, by path.
func children(f map[string]any) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	for _, c := range f["faults"].([]any) {
		m := c.(map[string]any)
		Expect(m["object"]).To(Equal("fault"))
		out[m["path"].(string)] = m["errCode"].(string)
	}
	return out
}

// expectOK expects Medable's {"object": "result", "data": true}.
func expectOK(r *fixtures.Response) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(200), string(r.Body))
	Expect(r.JSON()).To(Equal(map[string]any{"object": "result", "data": true}))
}

// expectAccount expects an Account and returns it.
func expectAccount(r *fixtures.Response) map[string]any {
	GinkgoHelper()
	Expect(r.Status).To(Equal(200), string(r.Body))
	a := r.JSON()
	Expect(a).To(HaveKeyWithValue("object", "account"), string(r.Body))
	return a
}

const password = "a-good-long-password"

// registration is a valid register body for mail.
func registration(mail string) map[string]any {
	return map[string]any{"name": map[string]any{"first": "Jane", "last": "Doe"}, "email": mail, "password": password,
		"mobile": "+15555550100", "dob": "1990-04-02", "gender": "f", "tz": "US/Pacific"}
}

// with returns a copy of body with kv applied (a nil value deletes the key).
var with = fixtures.With

// register signs up mail in o from d and returns the account.
func register(d *device, o org, mail string) map[string]any {
	GinkgoHelper()
	return expectAccount(d.do("POST", o.base()+"accounts/register", registration(mail)))
}

// mailText waits for the n-th (1-based, oldest first) message to `to`.
func mailText(to string, n int) string { GinkgoHelper(); return mp.MailText(GinkgoT(), to, n) }

func mailCount(to string) int { GinkgoHelper(); return mp.MailCount(GinkgoT(), to) }

var (
	tokenPattern = regexp.MustCompile(`Token: (\S+)`)
	codePattern  = regexp.MustCompile(`code is (\d{6})\.`)
)

// tokenIn is the token of the n-th mail to `to`.
func tokenIn(to string, n int) string { GinkgoHelper(); return found(tokenPattern, to, n) }

// codeIn is the location code of the n-th mail to `to`.
func codeIn(to string, n int) string { GinkgoHelper(); return found(codePattern, to, n) }

// found is what pattern's group matches in the n-th mail to `to`.
func found(pattern *regexp.Regexp, to string, n int) string {
	GinkgoHelper()
	text := mailText(to, n)
	m := pattern.FindStringSubmatch(text)
	Expect(m).To(HaveLen(2), text)
	return m[1]
}

// userByEmail is the User resource with that email (nil when none).
func userByEmail(mail string) map[string]any {
	GinkgoHelper()
	r, err := srv.Do("GET", "fhir/R4/User?email="+mail, srv.AdminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	entries, _ := r.JSON()["entry"].([]any)
	if len(entries) == 0 {
		return nil
	}
	Expect(entries).To(HaveLen(1))
	return entries[0].(map[string]any)["resource"].(map[string]any)
}
