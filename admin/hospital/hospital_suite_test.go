package hospital_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/fixtures/suite"
	"github.com/rosterhq/roster/resources"
)

func TestHospital(t *testing.T) {
	suite.Run(t, "Hospital memberships dialect")
}

var srv *fixtures.Server

var _ = fixtures.StartForSuite(&srv, fixtures.Options{})

const password = "hospital-medic-pw-1"

// newHospital creates a hospital (a project) and returns its id.
func newHospital() string {
	GinkgoHelper()
	id, err := srv.CreateProject("Hospital " + fixtures.Uniq())
	Expect(err).NotTo(HaveOccurred())
	return id
}

// person is a medic: a User with a password.
type person struct {
	Email string
	First string
	Last  string
}

func newPerson(first, last string) person {
	return person{Email: fmt.Sprintf("%s-%s@hospital.example.com", strings.ToLower(first), fixtures.Uniq()), First: first, Last: last}
}

// join makes p a member of hospital through the core invite (as the super
// admin), setting the password on a new User, and returns the membership.
func join(p person, hospital string, isAdmin bool) *resources.ProjectMembership {
	GinkgoHelper()
	r := srv.Call(GinkgoT(), "POST", "admin/projects/"+hospital+"/invite", srv.AdminToken, map[string]any{
		"resourceType": "Practitioner", "firstName": p.First, "lastName": p.Last, "email": p.Email,
		"password": password, "sendEmail": false, "membership": map[string]any{"admin": isAdmin},
	})
	Expect(r.Status).To(Equal(200), string(r.Body))
	var m resources.ProjectMembership
	Expect(r.Decode(&m)).To(Succeed())
	return &m
}

// token signs p in to one hospital.
func token(p person, hospital string) string {
	GinkgoHelper()
	tok, err := srv.LoginFull(p.Email, password, hospital)
	Expect(err).NotTo(HaveOccurred())
	return tok.AccessToken
}

// call sends a request to the hospital API with `Authorization: Token …`.
func call(tok, method, path string, body any) *fixtures.Response {
	GinkgoHelper()
	headers := []string{"Content-Type", "application/json"}
	if tok != "" {
		headers = append(headers, "Authorization", "Token "+tok)
	}
	return srv.Call(GinkgoT(), method, "api/v2/"+strings.TrimPrefix(path, "/"), "", body, headers...)
}

func obj(r *fixtures.Response) map[string]any {
	GinkgoHelper()
	m := r.JSON()
	Expect(m).NotTo(BeNil(), string(r.Body))
	return m
}

func list(r *fixtures.Response) []map[string]any {
	GinkgoHelper()
	var out []map[string]any
	Expect(r.Decode(&out)).To(Succeed(), string(r.Body))
	return out
}

// practitionerID is the id of a membership's Practitioner.
func practitionerID(m *resources.ProjectMembership) string {
	return strings.TrimPrefix(m.Profile.Reference, "Practitioner/")
}

// membershipsOf lists the core memberships of p's User in hospital.
func membershipsOf(p person, hospital string) []*resources.ProjectMembership {
	GinkgoHelper()
	ctx := context.Background()
	users, err := admin.Search[*resources.User](ctx, srv.App.Resources, "", "User", url.Values{"email": {p.Email}})
	Expect(err).NotTo(HaveOccurred())
	Expect(users).To(HaveLen(1))
	mems, err := admin.Search[*resources.ProjectMembership](ctx, srv.App.Resources, hospital, "ProjectMembership",
		url.Values{"user": {"User/" + users[0].ID}})
	Expect(err).NotTo(HaveOccurred())
	return mems
}

// read reads a membership from the core.
func read(id string) *resources.ProjectMembership {
	GinkgoHelper()
	return fixtures.Read[*resources.ProjectMembership](GinkgoT(), srv, "ProjectMembership", id)
}
