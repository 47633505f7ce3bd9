package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/fixtures/suite"
)

func TestAudit(t *testing.T) {
	suite.Run(t, "Audit trail")
}

// srv is the suite's server; specs work in projects of their own.
var srv *fixtures.Server

var _ = fixtures.StartForSuite(&srv, fixtures.Options{})

// memberPassword is the password of every member the specs invite (strong
// enough for the password rules).
const memberPassword = "quartz-Lantern-harbor-7731"

func uniq() string { return strings.ToLower(auth.Secret()[:8]) }

func do(method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// project is a fresh project and its admin.
type project struct {
	ID, Token, Email string
}

func newProject() project {
	GinkgoHelper()
	id, token, email, err := srv.ProjectAdmin("Audit " + uniq())
	Expect(err).NotTo(HaveOccurred())
	return project{ID: id, Token: token, Email: email}
}

// member is someone invited into a project with a password.
type member struct {
	Email, Membership, Profile, User string
}

// invite invites a Practitioner with memberPassword and no mail.
func (p project) invite(admin bool) member {
	GinkgoHelper()
	email := "m-" + uniq() + "@example.com"
	r := do("POST", "admin/projects/"+p.ID+"/invite", p.Token, map[string]any{
		"resourceType": "Practitioner", "firstName": "Mia", "lastName": "Member", "email": email,
		"password": memberPassword, "sendEmail": false, "membership": map[string]any{"admin": admin}})
	Expect(r.Status).To(Equal(200), string(r.Body))
	m := r.JSON()
	return member{Email: email, Membership: m["id"].(string),
		Profile: m["profile"].(map[string]any)["reference"].(string), User: m["user"].(map[string]any)["reference"].(string)}
}

// events searches AuditEvents with token and returns the matches (the
// search must answer 200).
func events(token string, params url.Values) []map[string]any {
	GinkgoHelper()
	params.Set("_count", "1000")
	r := do("GET", "fhir/R4/AuditEvent?"+params.Encode(), token, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r.Resources()
}

// of is the search for act, with more parameters as key, value pairs.
func of(act audit.Act, kv ...string) url.Values {
	v := url.Values{"subtype": {audit.SubtypeSystem + "|" + act.Code}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// field digs a value out of a decoded resource by a path of keys and indexes.
func field(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// whats lists the entity references of an event.
func whats(ev map[string]any) []string {
	var out []string
	ents, _ := ev["entity"].([]any)
	for _, e := range ents {
		if s, ok := field(e, "what", "reference").(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// details maps an event's entity details by name.
func details(ev map[string]any) map[string]string {
	out := map[string]string{}
	ents, _ := ev["entity"].([]any)
	for _, e := range ents {
		ds, _ := field(e, "detail").([]any)
		for _, d := range ds {
			out[field(d, "type").(string)] = field(d, "valueString").(string)
		}
	}
	return out
}

// loginFull signs in through /auth/login and /oauth2/token and returns the
// token answer (status 200 expected).
func loginFull(email, password, projectID string) *auth.TokenResponse {
	GinkgoHelper()
	tok, err := srv.LoginFull(email, password, projectID)
	Expect(err).NotTo(HaveOccurred())
	return tok
}

// tryLogin posts /auth/login and returns its status.
func tryLogin(email, password, projectID string) int {
	GinkgoHelper()
	sum := sha256.Sum256([]byte("verifier-" + uniq()))
	return do("POST", "auth/login", "", map[string]string{"email": email, "password": password, "projectId": projectID,
		"codeChallenge": base64.RawURLEncoding.EncodeToString(sum[:]), "codeChallengeMethod": "S256"}).Status
}

var linkPattern = regexp.MustCompile(`setpassword/([^/\s]+)/([^/\s"<]+)`)

// lastLink reads the newest set-password link mailed to `to` in project.
func lastLink(projectID, to string) (id, secret string) {
	GinkgoHelper()
	msgs, err := srv.App.Store.ListMail(context.Background(), projectID, 100)
	Expect(err).NotTo(HaveOccurred())
	for _, m := range msgs {
		if m.To == to {
			if g := linkPattern.FindStringSubmatch(m.Text); g != nil {
				return g[1], g[2]
			}
		}
	}
	Fail("no link mailed to " + to)
	return "", ""
}
