package mediumone_test

import (
	"encoding/json"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// srv is the suite's server, delivering its mail to mp; specs keep out of
// each other's way with tenants and emails of their own.
var (
	srv *fixtures.Server
	mp  *fixtures.MailpitClient
)

var _ = BeforeSuite(func() {
	srv, mp = fixtures.StartWithMail(GinkgoT(), fixtures.Options{})
	DeferCleanup(srv.Close)
})

// uniq is a short random suffix for names and emails; email a fresh address.
var uniq, email = fixtures.Uniq, fixtures.Email

// get sends a Medium One GET with a bearer token.
func get(path, token string, headers ...string) *fixtures.Response {
	GinkgoHelper()
	return srv.Call(GinkgoT(), "GET", "mediumone/"+strings.TrimPrefix(path, "/"), token, nil, headers...)
}

// ok expects a 200 and returns the response.
func ok(path, token string) *fixtures.Response {
	GinkgoHelper()
	r := get(path, token)
	Expect(r.Status).To(Equal(200), "%s: %s", path, r.Body)
	return r
}

// errorOf expects Medium One's error body and returns its message.
func errorOf(r *fixtures.Response) string {
	GinkgoHelper()
	var body map[string]any
	Expect(json.Unmarshal(r.Body, &body)).To(Succeed(), string(r.Body))
	Expect(body).To(HaveLen(1), string(r.Body))
	Expect(body).To(HaveKeyWithValue("error", BeAssignableToTypeOf("")))
	return body["error"].(string)
}

// tenant is a project with a signed-in tenant admin.
type tenant = fixtures.Tenant

func newTenant() tenant { GinkgoHelper(); return srv.NewTenant(GinkgoT(), "Tenant ") }

// member adds a signed-in member (tenant-user, or tenant-admin) to t.
func member(t tenant, admin bool) (mail, token string) {
	GinkgoHelper()
	mail = email("member")
	Expect(srv.AddMember(t.ID, mail, "Mia", "Member", fixtures.AdminPassword, admin)).To(Succeed())
	token, err := srv.Login(mail, fixtures.AdminPassword)
	Expect(err).NotTo(HaveOccurred())
	return mail, token
}

// q encodes query parameters in order.
func q(kv ...string) string {
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	return "?" + strings.Join(parts, "&")
}

// userList decodes {"user_list": […]}.
func userList(r *fixtures.Response) []map[string]any {
	GinkgoHelper()
	var body struct {
		UserList []map[string]any `json:"user_list"`
	}
	Expect(json.Unmarshal(r.Body, &body)).To(Succeed(), string(r.Body))
	Expect(body.UserList).NotTo(BeNil(), string(r.Body))
	return body.UserList
}

// entryFor finds a user's entry in a user list (nil if absent).
func entryFor(list []map[string]any, mail string) map[string]any {
	for _, e := range list {
		if e["user_name"] == mail {
			return e
		}
	}
	return nil
}

// mailText waits for the n-th (1-based, oldest first) message to `to` and
// returns its text.
func mailText(to string, n int) string { GinkgoHelper(); return mp.MailText(GinkgoT(), to, n) }

// mailCount is how many messages `to` received so far.
func mailCount(to string) int { GinkgoHelper(); return mp.MailCount(GinkgoT(), to) }

// setPasswordFromMail follows the set-password link of the n-th mail to `to`.
func setPasswordFromMail(to string, n int, password string) {
	GinkgoHelper()
	id, secret, err := srv.SetPasswordLink(mailText(to, n))
	Expect(err).NotTo(HaveOccurred())
	r, err := srv.SetPassword(id, secret, password)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
}

// fhir reads a resource as the super admin.
func fhir(path string) map[string]any {
	GinkgoHelper()
	r, err := srv.Do("GET", "fhir/R4/"+path, srv.AdminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r.JSON()
}

// userByEmail is the User resource with that email (nil when none).
func userByEmail(mail string) map[string]any {
	GinkgoHelper()
	b := fhir("User?email=" + url.QueryEscape(mail))
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 {
		return nil
	}
	Expect(entries).To(HaveLen(1))
	return entries[0].(map[string]any)["resource"].(map[string]any)
}

// membershipsOf lists a user's memberships, in every project.
func membershipsOf(userID string) []map[string]any {
	GinkgoHelper()
	b := fhir("ProjectMembership?user=User/" + userID)
	var out []map[string]any
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}
