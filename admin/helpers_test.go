package admin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/mail"
)

// srv is the suite's server; specs keep out of each other's way by working
// in projects and with emails of their own.
var srv *fixtures.Server

// clock is srv's clock: the real time, moved on by a spec that needs
// something to expire (see advanceClock).
var clock struct{ offset atomic.Int64 }

func clockNow() time.Time { return time.Now().Add(time.Duration(clock.offset.Load())) }

// advanceClock moves srv's clock on by d until the spec ends. Specs run one
// at a time, so no other spec sees it.
func advanceClock(d time.Duration) {
	clock.offset.Add(int64(d))
	DeferCleanup(func() { clock.offset.Add(-int64(d)) })
}

var _ = fixtures.StartForSuite(&srv, fixtures.Options{Configure: func(c *app.Config) { c.Now = clockNow }})

// uniq is a short random suffix for names and emails.
func uniq() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends a request and fails the spec on a transport error.
func do(s *fixtures.Server, method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := s.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

func invitePath(projectID string) string { return "admin/projects/" + projectID + "/invite" }

// invite posts an invite and returns the answer.
func invite(s *fixtures.Server, token, projectID string, body any) *fixtures.Response {
	GinkgoHelper()
	return do(s, "POST", invitePath(projectID), token, body)
}

// practitioner is an invite body for a Practitioner with email.
func practitioner(email string) map[string]any {
	return map[string]any{"resourceType": "Practitioner", "firstName": "Gregory", "lastName": "House", "email": email}
}

// with returns a copy of body with kv applied (a nil value deletes the key).
var with = fixtures.With

// edit is a table entry's change to a request body: with kv applied.
func edit(kv ...any) func(body map[string]any) map[string]any {
	return func(body map[string]any) map[string]any { return with(body, kv...) }
}

// search runs a FHIR search as the super admin (who sees every project) and
// returns the matching resources.
func search(s *fixtures.Server, typ string, params url.Values) []map[string]any {
	GinkgoHelper()
	params.Set("_count", "1000")
	r := do(s, "GET", "fhir/R4/"+typ+"?"+params.Encode(), s.AdminToken, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r.Resources()
}

func users(s *fixtures.Server, email string) []map[string]any {
	GinkgoHelper()
	return search(s, "User", url.Values{"email": {email}})
}

func memberships(s *fixtures.Server, projectID string) []map[string]any {
	GinkgoHelper()
	return search(s, "ProjectMembership", url.Values{"project": {"Project/" + projectID}})
}

func profiles(s *fixtures.Server, typ, email string) []map[string]any {
	GinkgoHelper()
	return search(s, typ, url.Values{"email": {email}})
}

// mails lists the outbox messages of a project addressed to `to`, oldest first.
func mails(s *fixtures.Server, projectID, to string) []mail.Message {
	GinkgoHelper()
	all, err := s.App.Store.ListMail(context.Background(), projectID, 1000)
	Expect(err).NotTo(HaveOccurred())
	var out []mail.Message
	for i := len(all) - 1; i >= 0; i-- {
		if strings.EqualFold(all[i].To, to) {
			out = append(out, *all[i])
		}
	}
	return out
}

// issues returns the expressions of an OperationOutcome's issues.
func expressions(r *fixtures.Response) []string {
	GinkgoHelper()
	Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"), string(r.Body))
	var out []string
	for _, is := range r.JSON()["issue"].([]any) {
		for _, e := range asSlice(is.(map[string]any)["expression"]) {
			out = append(out, e.(string))
		}
	}
	return out
}

// message is the text of an OperationOutcome's first issue.
func message(r *fixtures.Response) string {
	GinkgoHelper()
	issues, _ := r.JSON()["issue"].([]any)
	Expect(issues).NotTo(BeEmpty(), string(r.Body))
	d, _ := issues[0].(map[string]any)["details"].(map[string]any)
	text, _ := d["text"].(string)
	return text
}

func code(r *fixtures.Response) string {
	GinkgoHelper()
	issues, _ := r.JSON()["issue"].([]any)
	Expect(issues).NotTo(BeEmpty(), string(r.Body))
	c, _ := issues[0].(map[string]any)["code"].(string)
	return c
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// ref reads a Reference element's "reference" out of a decoded resource.
func ref(res map[string]any, key string) string {
	m, _ := res[key].(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

func display(res map[string]any, key string) string {
	m, _ := res[key].(map[string]any)
	s, _ := m["display"].(string)
	return s
}

// idOf is the id part of "Type/id".
func idOf(reference string) string {
	_, id, _ := strings.Cut(reference, "/")
	return id
}

// create makes a resource through the FHIR API and returns its id.
func create(s *fixtures.Server, token string, res map[string]any) string {
	GinkgoHelper()
	r := do(s, "POST", "fhir/R4/"+res["resourceType"].(string), token, res)
	Expect(r.Status).To(Equal(201), string(r.Body))
	return r.JSON()["id"].(string)
}

func newPractitioner(s *fixtures.Server, token, email string) string {
	GinkgoHelper()
	return create(s, token, map[string]any{"resourceType": "Practitioner",
		"name":    []any{map[string]any{"given": []any{"Lisa"}, "family": "Cuddy"}},
		"telecom": []any{map[string]any{"system": "email", "value": email}}})
}

func newPatient(s *fixtures.Server, token string) string {
	GinkgoHelper()
	return create(s, token, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Doe"}}})
}

func newPolicy(s *fixtures.Server, token string) string {
	GinkgoHelper()
	return create(s, token, map[string]any{"resourceType": "AccessPolicy", "name": "Read only " + uniq(),
		"resource": []any{map[string]any{"resourceType": "Patient", "readonly": true}}})
}

// project is a fresh project with a signed-in admin.
type project struct {
	ID, Token, Email string
}

// token is the admin's access token; once a spec has moved the clock it
// signs in again, as a token issued before lives an hour on that clock.
func (p project) token() string {
	GinkgoHelper()
	if clock.offset.Load() == 0 {
		return p.Token
	}
	tok, err := srv.Login(p.Email, fixtures.AdminPassword)
	Expect(err).NotTo(HaveOccurred())
	return tok
}

func newProject(s *fixtures.Server) project {
	GinkgoHelper()
	id, token, email, err := s.ProjectAdmin("Clinic " + uniq())
	Expect(err).NotTo(HaveOccurred())
	return project{ID: id, Token: token, Email: email}
}

// member adds a non-admin member with a password and signs it in.
func member(s *fixtures.Server, projectID string) (email, token string) {
	GinkgoHelper()
	email = "member-" + uniq() + "@example.com"
	Expect(s.AddMember(projectID, email, "Mary", "Member", fixtures.AdminPassword, false)).To(Succeed())
	token, err := s.Login(email, fixtures.AdminPassword)
	Expect(err).NotTo(HaveOccurred())
	return email, token
}

func emailFor(tag string) string { return fmt.Sprintf("%s-%s@example.com", tag, uniq()) }
