package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/fixtures/suite"
	"github.com/rosterhq/roster/resources"
)

func TestRest(t *testing.T) {
	suite.Run(t, "FHIR REST Suite")
}

// srv is the Roster every spec of this suite talks to. Specs stay out of each
// other's way by working in a project of their own (newTenant).
var srv *fixtures.Server

var _ = fixtures.StartForSuite(&srv, fixtures.Options{})

// tenant is a fresh project with an admin signed in to it.
type tenant struct {
	Project string
	Token   string
	Email   string
}

func newTenant() tenant {
	GinkgoHelper()
	id, token, email, err := srv.ProjectAdmin("Tenant " + auth.Secret()[:8])
	Expect(err).NotTo(HaveOccurred())
	return tenant{Project: id, Token: token, Email: email}
}

// freshTenant gives each spec of the container it is called in a tenant
// of its own, made before the spec.
func freshTenant() *tenant {
	t := &tenant{}
	BeforeEach(func() { *t = newTenant() })
	return t
}

// call sends a request to srv; a transport error fails the spec.
func call(method, path, token string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.Do(method, path, token, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// fhir is a path under the FHIR base.
func fhir(path string) string { return "fhir/R4/" + path }

// fullURL is the absolute URL the server builds for path under the FHIR base.
func fullURL(path string) string { return srv.URL + fhir(path) }

// body decodes a JSON object answer.
func body(r *fixtures.Response) map[string]any {
	GinkgoHelper()
	var m map[string]any
	Expect(json.Unmarshal(r.Body, &m)).To(Succeed(), "body: %s", r.Body)
	return m
}

// create POSTs res to its type's endpoint and returns the stored resource.
func create(token string, res map[string]any) map[string]any {
	GinkgoHelper()
	r := call("POST", fhir(res["resourceType"].(string)), token, res)
	Expect(r.Status).To(Equal(http.StatusCreated), "create: %s", r.Body)
	return body(r)
}

// person is a Patient, Practitioner or RelatedPerson with one name; extra
// elements are merged in.
func person(typ, family string, given []string, extra map[string]any) map[string]any {
	res := map[string]any{"resourceType": typ, "name": []any{map[string]any{"family": family, "given": given}}}
	for k, v := range extra {
		res[k] = v
	}
	return res
}

func patient(family string, given ...string) map[string]any {
	return person("Patient", family, given, nil)
}

// stored reads the current row of typ/id straight from the store.
func stored(typ, id string) *resources.Record {
	GinkgoHelper()
	rec, err := srv.App.Store.Get(context.Background(), typ, id)
	Expect(err).NotTo(HaveOccurred())
	return rec
}

// storedJSON is the stored content of typ/id, decoded.
func storedJSON(typ, id string) map[string]any {
	GinkgoHelper()
	rec := stored(typ, id)
	Expect(rec.Deleted).To(BeFalse())
	var m map[string]any
	Expect(json.Unmarshal(rec.Content, &m)).To(Succeed())
	return m
}

// exists reports whether the store holds typ/id at all.
func exists(typ, id string) bool {
	GinkgoHelper()
	_, err := srv.App.Store.Get(context.Background(), typ, id)
	if err == nil {
		return true
	}
	Expect(err).To(MatchError(resources.ErrNotFound))
	return false
}

// entries are a Bundle's entries.
func entries(b map[string]any) []map[string]any {
	GinkgoHelper()
	raw, _ := b["entry"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, e := range raw {
		out = append(out, e.(map[string]any))
	}
	return out
}

// resourceIDs are the ids of a Bundle's entry resources, in order.
func resourceIDs(b map[string]any) []string {
	GinkgoHelper()
	out := []string{}
	for _, e := range entries(b) {
		res, ok := e["resource"].(map[string]any)
		Expect(ok).To(BeTrue(), "entry without resource: %v", e)
		out = append(out, res["id"].(string))
	}
	return out
}

// search runs GET {type}?{query} and returns the searchset Bundle.
func search(token, typ, query string) map[string]any {
	GinkgoHelper()
	r := call("GET", fhir(typ+"?"+query), token, nil)
	Expect(r.Status).To(Equal(http.StatusOK), "search %s?%s: %s", typ, query, r.Body)
	b := body(r)
	Expect(b).To(HaveKeyWithValue("resourceType", "Bundle"))
	Expect(b).To(HaveKeyWithValue("type", "searchset"))
	return b
}

// links maps a Bundle's link relations to their parsed URLs.
func links(b map[string]any) map[string]*url.URL {
	GinkgoHelper()
	out := map[string]*url.URL{}
	raw, _ := b["link"].([]any)
	for _, l := range raw {
		m := l.(map[string]any)
		u, err := url.Parse(m["url"].(string))
		Expect(err).NotTo(HaveOccurred())
		out[m["relation"].(string)] = u
	}
	return out
}

// outcome checks r is an OperationOutcome with status and returns it.
func outcome(r *fixtures.Response, status int) map[string]any {
	GinkgoHelper()
	Expect(r.Status).To(Equal(status), "body: %s", r.Body)
	Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/fhir+json"))
	o := body(r)
	Expect(o).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
	Expect(o["issue"]).NotTo(BeEmpty())
	return o
}

// issueText joins every issue's text, diagnostics and expressions.
func issueText(o map[string]any) string {
	var parts []string
	for _, raw := range o["issue"].([]any) {
		is := raw.(map[string]any)
		if d, ok := is["details"].(map[string]any); ok {
			parts = append(parts, d["text"].(string))
		}
		if d, ok := is["diagnostics"].(string); ok {
			parts = append(parts, d)
		}
		if ex, ok := is["expression"].([]any); ok {
			for _, e := range ex {
				parts = append(parts, e.(string))
			}
		}
	}
	return strings.Join(parts, " | ")
}

// expressions lists every issue's expressions.
func expressions(o map[string]any) []string {
	out := []string{}
	for _, raw := range o["issue"].([]any) {
		if ex, ok := raw.(map[string]any)["expression"].([]any); ok {
			for _, e := range ex {
				out = append(out, e.(string))
			}
		}
	}
	return out
}

// meta returns a resource's meta element.
func meta(res map[string]any) map[string]any {
	GinkgoHelper()
	m, ok := res["meta"].(map[string]any)
	Expect(ok).To(BeTrue(), "resource without meta: %v", res)
	return m
}

// signInMember adds a member who is not an admin (Nia Member) to project
// and answers its access token.
func signInMember(project string) string {
	GinkgoHelper()
	email := "member-" + project[:8] + "@example.com"
	Expect(srv.AddMember(project, email, "Nia", "Member", fixtures.AdminPassword, false)).To(Succeed())
	token, err := srv.Login(email, fixtures.AdminPassword)
	Expect(err).NotTo(HaveOccurred())
	return token
}
