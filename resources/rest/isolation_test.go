package rest_test

import (
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// theirs is what project B holds when project A's caller comes looking.
type theirs struct {
	Patient, Membership, User, Project string
}

var _ = Describe("Project isolation", func() {
	var a, b tenant
	var their theirs
	var snapshot map[string]*resources.Record

	record := func(typ, id string) {
		snapshot[typ+"/"+id] = stored(typ, id)
	}

	BeforeEach(func() {
		a, b = newTenant(), newTenant()
		their = theirs{Project: b.Project}
		their.Patient = create(b.Token, person("Patient", "Hidden", []string{"Bea"}, map[string]any{
			"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "B-" + b.Project[:8]}},
		}))["id"].(string)
		their.User = resourceIDs(search(b.Token, "User", "email="+b.Email))[0]
		their.Membership = resourceIDs(search(b.Token, "ProjectMembership", "user="+their.User))[0]
		snapshot = map[string]*resources.Record{}
		record("Patient", their.Patient)
		record("ProjectMembership", their.Membership)
		record("User", their.User)
		record("Project", their.Project)
	})

	expectUnchanged := func() {
		GinkgoHelper()
		for key, before := range snapshot {
			typ, id := key[:len(key)-len(before.ID)-1], before.ID
			after := stored(typ, id)
			Expect(after.Version).To(Equal(before.Version), key)
			Expect(after.Deleted).To(BeFalse(), key)
			Expect(after.Content).To(MatchJSON(before.Content), key)
		}
	}

	DescribeTable("answer 404 to another project's caller, and leave its data unchanged",
		func(act func() *fixtures.Response) {
			outcome(act(), http.StatusNotFound)
			expectUnchanged()
		},
		Entry("read", func() *fixtures.Response { return call("GET", fhir("Patient/"+their.Patient), a.Token, nil) }),
		Entry("vread", func() *fixtures.Response {
			return call("GET", fhir("Patient/"+their.Patient+"/_history/1"), a.Token, nil)
		}),
		Entry("update", func() *fixtures.Response {
			return call("PUT", fhir("Patient/"+their.Patient), a.Token, patient("Overwritten"))
		}),
		Entry("update with the current If-Match", func() *fixtures.Response {
			return call("PUT", fhir("Patient/"+their.Patient), a.Token, patient("Overwritten"), "If-Match", `W/"1"`)
		}),
		Entry("patch", func() *fixtures.Response {
			return call("PATCH", fhir("Patient/"+their.Patient), a.Token, `[{"op":"replace","path":"/name/0/family","value":"Patched"}]`,
				"Content-Type", "application/json-patch+json")
		}),
		Entry("delete", func() *fixtures.Response { return call("DELETE", fhir("Patient/"+their.Patient), a.Token, nil) }),
		Entry("instance history", func() *fixtures.Response {
			return call("GET", fhir("Patient/"+their.Patient+"/_history"), a.Token, nil)
		}),
		Entry("read of an admin-only type (404, not 403)", func() *fixtures.Response {
			return call("GET", fhir("ProjectMembership/"+their.Membership), a.Token, nil)
		}),
		Entry("update of a membership", func() *fixtures.Response {
			return call("PUT", fhir("ProjectMembership/"+their.Membership), a.Token, map[string]any{"resourceType": "ProjectMembership",
				"user": map[string]any{"reference": "User/" + their.User}, "profile": map[string]any{"reference": "Practitioner/x"}, "active": false})
		}),
		Entry("delete of a membership", func() *fixtures.Response {
			return call("DELETE", fhir("ProjectMembership/"+their.Membership), a.Token, nil)
		}),
		Entry("read of the Project itself", func() *fixtures.Response { return call("GET", fhir("Project/"+their.Project), a.Token, nil) }),
		Entry("update of the Project", func() *fixtures.Response {
			return call("PUT", fhir("Project/"+their.Project), a.Token, map[string]any{"resourceType": "Project", "name": "Taken"})
		}),
		Entry("read of the User", func() *fixtures.Response { return call("GET", fhir("User/"+their.User), a.Token, nil) }),
	)

	DescribeTable("show another project's caller nothing in searches and histories",
		func(path func() string) {
			r := call("GET", path(), a.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(entries(body(r))).To(BeEmpty())
			expectUnchanged()
		},
		Entry("search by _id", func() string { return fhir("Patient?_id=" + their.Patient) }),
		Entry("search by identifier", func() string { return fhir("Patient?identifier=B-" + b.Project[:8]) }),
		Entry("search by name", func() string { return fhir("Patient?family=hidden") }),
		Entry("search of memberships by user", func() string { return fhir("ProjectMembership?user=User/" + their.User) }),
		Entry("search of users by email", func() string { return fhir("User?email=" + b.Email) }),
		Entry("search of projects", func() string { return fhir("Project?_id=" + their.Project) }),
		Entry("type history", func() string { return fhir("Patient/_history") }),
	)

	It("keeps other projects out of batch entries", func() {
		r := call("POST", "fhir/R4/", a.Token, bundleOf("batch",
			entry("GET", "Patient/"+their.Patient, nil, ""),
			entry("PUT", "Patient/"+their.Patient, patient("Batched"), ""),
			entry("DELETE", "Patient/"+their.Patient, nil, ""),
			entry("GET", "Patient?_id="+their.Patient, nil, ""),
		))
		Expect(r.Status).To(Equal(http.StatusOK))
		es := entries(body(r))
		Expect(statuses(body(r))).To(HaveExactElements(HavePrefix("404"), HavePrefix("404"), HavePrefix("404"), HavePrefix("200")))
		Expect(entries(es[3]["resource"].(map[string]any))).To(BeEmpty())
		expectUnchanged()
	})

	It("writes a caller's resources to its own project whatever the body claims", func() {
		doc := patient("Planted")
		doc["meta"] = map[string]any{"project": b.Project}
		id := create(a.Token, doc)["id"].(string)
		Expect(stored("Patient", id).Project).To(Equal(a.Project))
		Expect(resourceIDs(search(b.Token, "Patient", "family=planted"))).To(BeEmpty())
	})

	Describe("the super admin", func() {
		It("reads, searches, updates and deletes in any project", func() {
			Expect(call("GET", fhir("Patient/"+their.Patient), srv.AdminToken, nil).Status).To(Equal(http.StatusOK))
			Expect(resourceIDs(search(srv.AdminToken, "Patient", "_id="+their.Patient))).To(ConsistOf(their.Patient))
			Expect(entries(body(call("GET", fhir("Patient/"+their.Patient+"/_history"), srv.AdminToken, nil)))).To(HaveLen(1))

			r := call("PUT", fhir("Patient/"+their.Patient), srv.AdminToken, patient("Hidden", "Edited"))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(meta(body(r))).To(HaveKeyWithValue("project", b.Project), "the resource stays in its project")
			Expect(stored("Patient", their.Patient).Version).To(BeEquivalentTo(2))

			Expect(call("DELETE", fhir("Patient/"+their.Patient), srv.AdminToken, nil).Status).To(Equal(http.StatusOK))
			Expect(stored("Patient", their.Patient).Deleted).To(BeTrue())
		})

		It("creates projects", func() {
			r := call("POST", "admin/projects", srv.AdminToken, map[string]any{"name": "Made by super " + a.Project[:8]})
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			p := body(r)
			Expect(p).To(HaveKeyWithValue("resourceType", "Project"))
			Expect(meta(p)).To(HaveKeyWithValue("project", p["id"]))
			Expect(stored("Project", p["id"].(string)).Project).To(Equal(p["id"]))
		})
	})

	DescribeTable("refuse project creation to anyone but the super admin",
		func(token func() string) {
			name := "Not allowed " + auth.Secret()[:8]
			outcome(call("POST", "admin/projects", token(), map[string]any{"name": name}), http.StatusForbidden)
			outcome(call("POST", fhir("Project"), token(), map[string]any{"resourceType": "Project", "name": name}), http.StatusForbidden)
			Expect(resourceIDs(search(srv.AdminToken, "Project", "name:exact="+url.QueryEscape(name)))).To(BeEmpty())
		},
		Entry("a project admin", func() string { return a.Token }),
	)

	Describe("the super admin flags", func() {
		var ownUser map[string]any

		BeforeEach(func() {
			ownUser = storedJSON("User", resourceIDs(search(a.Token, "User", "email="+a.Email))[0])
		})

		It("cannot be given by a project admin to their own User", func() {
			id := ownUser["id"].(string)
			before := stored("User", id)
			ownUser["admin"] = true
			outcome(call("PUT", fhir("User/"+id), a.Token, ownUser), http.StatusForbidden)
			outcome(call("PATCH", fhir("User/"+id), a.Token, `[{"op":"add","path":"/admin","value":true}]`,
				"Content-Type", "application/json-patch+json"), http.StatusForbidden)
			Expect(stored("User", id).Content).To(MatchJSON(before.Content))
			outcome(call("GET", fhir("Patient/"+their.Patient), a.Token, nil), http.StatusNotFound)
		})

		It("cannot be given by a project admin to a new User", func() {
			doc := map[string]any{"resourceType": "User", "email": "promoted-" + a.Project[:8] + "@example.com", "admin": true}
			outcome(call("POST", fhir("User"), a.Token, doc), http.StatusForbidden)
			r := call("POST", "fhir/R4/", a.Token, bundleOf("transaction", entry("POST", "User", doc, "")))
			outcome(r, http.StatusForbidden)
			Expect(resourceIDs(search(a.Token, "User", "email=promoted-"+a.Project[:8]+"@example.com"))).To(BeEmpty())
		})

		It("cannot be set on a Project by its admin", func() {
			project := storedJSON("Project", a.Project)
			project["superAdmin"] = true
			outcome(call("PUT", fhir("Project/"+a.Project), a.Token, project), http.StatusForbidden)
			Expect(storedJSON("Project", a.Project)).NotTo(HaveKey("superAdmin"))
		})

		It("leaves the rest of the User to the project admin", func() {
			ownUser["firstName"] = "Renamed"
			r := call("PUT", fhir("User/"+ownUser["id"].(string)), a.Token, ownUser)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		})

		It("can be given by the super admin", func() {
			ownUser["admin"] = true
			r := call("PUT", fhir("User/"+ownUser["id"].(string)), srv.AdminToken, ownUser)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(call("GET", fhir("Patient/"+their.Patient), a.Token, nil).Status).To(Equal(http.StatusOK),
				"the promoted user now acts in any project")
		})
	})

	Describe("a member who is not a project admin", func() {
		var member string

		BeforeEach(func() {
			member = signInMember(a.Project)
		})

		DescribeTable("is refused the admin-only types (403) and writes nothing",
			func(typ string, doc map[string]any) {
				before := resourceIDs(search(a.Token, typ, "_count=100"))
				outcome(call("GET", fhir(typ), member, nil), http.StatusForbidden)
				outcome(call("POST", fhir(typ), member, doc), http.StatusForbidden)
				if len(before) > 0 {
					outcome(call("GET", fhir(typ+"/"+before[0]), member, nil), http.StatusForbidden)
					outcome(call("DELETE", fhir(typ+"/"+before[0]), member, nil), http.StatusForbidden)
					outcome(call("GET", fhir(typ+"/"+before[0]+"/_history"), member, nil), http.StatusForbidden)
				}
				Expect(resourceIDs(search(a.Token, typ, "_count=100"))).To(Equal(before))
			},
			Entry("User", "User", map[string]any{"resourceType": "User", "email": "sneaky@example.com"}),
			Entry("ProjectMembership", "ProjectMembership", map[string]any{"resourceType": "ProjectMembership",
				"user": map[string]any{"reference": "User/x"}, "profile": map[string]any{"reference": "Practitioner/x"}, "admin": true}),
			Entry("ClientApplication", "ClientApplication", map[string]any{"resourceType": "ClientApplication", "name": "Sneaky"}),
			Entry("AccessPolicy", "AccessPolicy", map[string]any{"resourceType": "AccessPolicy", "name": "Sneaky"}),
		)

		It("works with the clinical types", func() {
			id := create(member, patient("Routine"))["id"].(string)
			Expect(stored("Patient", id).Project).To(Equal(a.Project))
			Expect(resourceIDs(search(member, "Patient", "family=routine"))).To(ConsistOf(id))
		})

		It("cannot create a client", func() {
			outcome(call("POST", "admin/projects/"+a.Project+"/client", member, map[string]any{"name": "Mine"}), http.StatusForbidden)
			Expect(resourceIDs(search(a.Token, "ClientApplication", "name=mine"))).To(BeEmpty())
		})
	})
})
