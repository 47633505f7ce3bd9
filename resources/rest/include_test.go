package rest_test

import (
	"fmt"
	"net/http"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// byMode are the "Type/id"s of a searchset's entries, by search mode.
func byMode(b map[string]any) map[string][]string {
	GinkgoHelper()
	out := map[string][]string{"match": {}, "include": {}}
	for _, e := range entries(b) {
		res := e["resource"].(map[string]any)
		mode := e["search"].(map[string]any)["mode"].(string)
		Expect(e["fullUrl"]).To(Equal(fullURL(res["resourceType"].(string) + "/" + res["id"].(string))))
		out[mode] = append(out[mode], res["resourceType"].(string)+"/"+res["id"].(string))
	}
	return out
}

// refs are "Type/{label}"s resolved to "Type/id"s.
func (f fixture) refs(typeLabels ...string) []string {
	GinkgoHelper()
	out := []string{}
	for _, tl := range typeLabels {
		out = append(out, f.expand(tl))
	}
	return out
}

var _ = Describe("_include and _revinclude", func() {
	Describe("in one project", Ordered, ContinueOnFailure, func() {
		var t tenant
		var f fixture

		BeforeAll(func() {
			t = newTenant()
			f = clinic(t)
			admin := search(t.Token, "ProjectMembership", "profile.name=admin")
			Expect(resourceIDs(admin)).To(HaveLen(1), "the tenant admin's own membership")
			f["m-admin"] = resourceIDs(admin)[0]
			f["admin"] = resourceIDs(search(t.Token, "Practitioner", "_has:ProjectMembership:profile:_id="+f["m-admin"]))[0]
		})

		DescribeTable("adds the referenced or referring resources, marked include",
			func(typ, query string, matches, included []string) {
				got := byMode(search(t.Token, typ, f.expand(query)+"&_count=100"))
				Expect(got["match"]).To(ConsistOf(f.refs(matches...)))
				Expect(got["include"]).To(ConsistOf(f.refs(included...)))
			},
			Entry("memberships with their profiles", "ProjectMembership", "_include=ProjectMembership:profile",
				[]string{"ProjectMembership/{m-doc}", "ProjectMembership/{m-nurse}", "ProjectMembership/{m-ada}", "ProjectMembership/{m-admin}"},
				[]string{"Practitioner/{doc}", "Practitioner/{nurse}", "Patient/{ada}", "Practitioner/{admin}"}),
			Entry("only the profiles of the page's matches", "ProjectMembership", "_id={m-doc}&_include=ProjectMembership:profile",
				[]string{"ProjectMembership/{m-doc}"}, []string{"Practitioner/{doc}"}),
			Entry("only profiles of the target type", "ProjectMembership", "_id={m-doc},{m-ada}&_include=ProjectMembership:profile:Patient",
				[]string{"ProjectMembership/{m-doc}", "ProjectMembership/{m-ada}"}, []string{"Patient/{ada}"}),
			Entry("several _include parameters", "ProjectMembership", "_id={m-doc}&_include=ProjectMembership:profile&_include=ProjectMembership:user",
				[]string{"ProjectMembership/{m-doc}"}, []string{"Practitioner/{doc}", "User/{doc-user}"}),
			Entry("every reference of the type (Type:*)", "ProjectMembership", "_id={m-doc}&_include=ProjectMembership:*",
				[]string{"ProjectMembership/{m-doc}"}, []string{"Practitioner/{doc}", "User/{doc-user}", "Project/{project}"}),
			Entry("every reference (*)", "RelatedPerson", "_include=*",
				[]string{"RelatedPerson/{byron}", "RelatedPerson/{sara}"}, []string{"Patient/{ada}", "Patient/{alan}"}),
			Entry("the same resource once, however many point at it", "RelatedPerson", "_id={byron}&_include=RelatedPerson:patient&_include=*",
				[]string{"RelatedPerson/{byron}"}, []string{"Patient/{ada}"}),
			Entry("the resources pointing at the matches (_revinclude)", "Practitioner", "_id={doc},{nurse}&_revinclude=ProjectMembership:profile",
				[]string{"Practitioner/{doc}", "Practitioner/{nurse}"}, []string{"ProjectMembership/{m-doc}", "ProjectMembership/{m-nurse}"}),
			Entry("_revinclude of a type whose reference has a target", "Patient", "_revinclude=RelatedPerson:patient",
				[]string{"Patient/{ada}", "Patient/{alan}"}, []string{"RelatedPerson/{byron}", "RelatedPerson/{sara}"}),
			Entry(":iterate follows the included resources' references", "Practitioner",
				"_id={doc}&_revinclude=ProjectMembership:profile&_include:iterate=ProjectMembership:user",
				[]string{"Practitioner/{doc}"}, []string{"ProjectMembership/{m-doc}", "User/{doc-user}"}),
			Entry(":iterate over several rounds, each resource once", "Practitioner",
				"_id={doc}&_revinclude=ProjectMembership:profile&_include:iterate=ProjectMembership:user&_revinclude:iterate=ProjectMembership:user",
				[]string{"Practitioner/{doc}"}, []string{"ProjectMembership/{m-doc}", "User/{doc-user}"}),
			Entry("no match, nothing to include", "ProjectMembership", "_id=none&_include=ProjectMembership:profile", nil, nil),
			Entry("a match is never repeated as an include", "Practitioner",
				"_id={doc}&_revinclude=ProjectMembership:profile&_include:iterate=ProjectMembership:profile",
				[]string{"Practitioner/{doc}"}, []string{"ProjectMembership/{m-doc}"}),
		)

		It("adds every resource of every type pointing at a match for _revinclude=*", func() {
			got := byMode(search(t.Token, "Patient", f.expand("_id={ada}&_revinclude=*")))
			Expect(got["match"]).To(ConsistOf(f.refs("Patient/{ada}")))
			Expect(got["include"]).To(ContainElements(f.refs("RelatedPerson/{byron}", "ProjectMembership/{m-ada}")))
			// The audit trail's events name the Patient as their entity.
			others := []string{}
			for _, ref := range got["include"] {
				if ref != f.expand("RelatedPerson/{byron}") && ref != f.expand("ProjectMembership/{m-ada}") {
					others = append(others, ref)
				}
			}
			Expect(others).To(HaveEach(HavePrefix("AuditEvent/")))
			audit := byMode(search(t.Token, "AuditEvent", f.expand("entity=Patient/{ada}&_count=100")))["match"]
			Expect(others).To(ConsistOf(audit))
		})

		It("lists the matches first and pages only the matches", func() {
			b := search(t.Token, "ProjectMembership", "_include=ProjectMembership:profile&_count=1&_total=accurate")
			es := entries(b)
			Expect(es).To(HaveLen(2))
			Expect(es[0]["search"]).To(HaveKeyWithValue("mode", "match"))
			Expect(es[1]["search"]).To(HaveKeyWithValue("mode", "include"))
			Expect(b["total"]).To(BeEquivalentTo(4), "total counts matches only")
			Expect(links(b)["next"].Query().Get("_include")).To(Equal("ProjectMembership:profile"))
		})

		It("keeps the order a sort asks for", func() {
			for _, sort := range []string{"name", "-name"} {
				got := byMode(search(t.Token, "RelatedPerson", "_sort="+sort+"&_include=RelatedPerson:patient"))
				want := f.refs("RelatedPerson/{byron}", "RelatedPerson/{sara}")
				if sort == "-name" {
					slices.Reverse(want)
				}
				Expect(got["match"]).To(Equal(want))
				Expect(got["include"]).To(ConsistOf(f.refs("Patient/{ada}", "Patient/{alan}")))
			}
		})

		It("answers a batch's search entry with its includes", func() {
			r := call("POST", "fhir/R4/", t.Token, bundleOf("batch",
				entry("GET", f.expand("RelatedPerson?_id={byron}&_include=RelatedPerson:patient"), nil, "")))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			got := byMode(entries(body(r))[0]["resource"].(map[string]any))
			Expect(got["match"]).To(ConsistOf(f.refs("RelatedPerson/{byron}")))
			Expect(got["include"]).To(ConsistOf(f.refs("Patient/{ada}")))
		})

		DescribeTable("rejects with 400 naming the parameter",
			func(typ, query, param string) {
				o := outcome(call("GET", fhir(typ+"?"+query), t.Token, nil), http.StatusBadRequest)
				Expect(expressions(o)).To(ContainElement(param))
			},
			Entry("an unknown type", "ProjectMembership", "_include=Spaceship:profile", "_include"),
			Entry("an unknown parameter", "ProjectMembership", "_include=ProjectMembership:colour", "_include"),
			Entry("a parameter that is not a reference", "ProjectMembership", "_include=ProjectMembership:active", "_include"),
			Entry("another type than the searched one, without :iterate", "Practitioner", "_include=ProjectMembership:user", "_include"),
			Entry("an unknown target type", "ProjectMembership", "_include=ProjectMembership:profile:Spaceship", "_include"),
			Entry("a target type the reference never leads to", "RelatedPerson", "_include=RelatedPerson:patient:Practitioner", "_include"),
			Entry("no parameter", "ProjectMembership", "_include=ProjectMembership", "_include"),
			Entry("an unknown modifier", "ProjectMembership", "_include:deep=ProjectMembership:profile", "_include:deep"),
			Entry("_revinclude with an unknown parameter", "Practitioner", "_revinclude=ProjectMembership:colour", "_revinclude"),
		)
	})

	Describe("a resource both included and matched", func() {
		It("is a match on the page, and included when it is past the page", func() {
			t := newTenant()
			doc := create(t.Token, person("Practitioner", "Selfref", []string{"Doc"}, nil))["id"].(string)
			user := create(t.Token, map[string]any{"resourceType": "User", "firstName": "Self", "lastName": "Ref",
				"email": "selfref." + t.Project[:8] + "@example.com", "project": ref("Project", t.Project)})["id"].(string)
			m1 := "ProjectMembership/" + create(t.Token, membership(user, "Practitioner/"+doc, nil))["id"].(string)
			m2 := "ProjectMembership/" + create(t.Token, membership(user, m1, nil))["id"].(string)
			m3 := "ProjectMembership/" + create(t.Token, membership(user, m2, nil))["id"].(string)

			// Newest first: m3 (pointing at m2), m2 (at m1), m1 (at the
			// Practitioner), then the tenant admin's own membership.
			b := search(t.Token, "ProjectMembership", "_include=ProjectMembership:profile&_count=2")
			got := byMode(b)
			Expect(got["match"]).To(Equal([]string{m3, m2}))
			Expect(got["include"]).To(Equal([]string{m1}), "m2 is a match; m1, past the page, is included")
			Expect(links(b)).To(HaveKey("next"))

			got = byMode(search(t.Token, "ProjectMembership", "_include=ProjectMembership:profile&_count=3"))
			Expect(got["match"]).To(Equal([]string{m3, m2, m1}))
			Expect(got["include"]).To(Equal([]string{"Practitioner/" + doc}))
		})
	})

	Describe("across projects", func() {
		var a, b tenant
		var ours, theirs fixture

		BeforeEach(func() {
			a, b = newTenant(), newTenant()
			ours, theirs = fixture{}, fixture{}
			theirs["patient"] = create(b.Token, person("Patient", "Elsewhere", []string{"Bea"}, nil))["id"].(string)
			ours["patient"] = create(a.Token, person("Patient", "Here", []string{"Abe"}, nil))["id"].(string)
			// A's RelatedPerson points at B's Patient, B's at A's: references
			// are not checked on write, so each project holds a pointer into the other.
			ours["related"] = create(a.Token, person("RelatedPerson", "Pointer", nil, map[string]any{"patient": ref("Patient", theirs["patient"])}))["id"].(string)
			theirs["related"] = create(b.Token, person("RelatedPerson", "Pointer", nil, map[string]any{"patient": ref("Patient", ours["patient"])}))["id"].(string)
		})

		It("never includes another project's resource", func() {
			got := byMode(search(a.Token, "RelatedPerson", "_include=RelatedPerson:patient"))
			Expect(got["match"]).To(ConsistOf("RelatedPerson/" + ours["related"]))
			Expect(got["include"]).To(BeEmpty())
		})

		It("never reverse-includes another project's resource", func() {
			got := byMode(search(a.Token, "Patient", "_revinclude=RelatedPerson:patient"))
			Expect(got["match"]).To(ConsistOf("Patient/" + ours["patient"]))
			Expect(got["include"]).To(BeEmpty())
		})

		It("never matches through another project's resources", func() {
			Expect(resourceIDs(search(a.Token, "RelatedPerson", "patient.name=elsewhere"))).To(BeEmpty())
			Expect(resourceIDs(search(a.Token, "Patient", "_has:RelatedPerson:patient:name=pointer"))).To(BeEmpty())
			Expect(resourceIDs(search(b.Token, "Patient", "_has:RelatedPerson:patient:name=pointer"))).To(BeEmpty())
		})

		It("lets the super admin include and chain across projects, as it reads across them", func() {
			got := byMode(search(srv.AdminToken, "RelatedPerson", "_id="+ours["related"]+"&_include=RelatedPerson:patient"))
			Expect(got["match"]).To(ConsistOf("RelatedPerson/" + ours["related"]))
			Expect(got["include"]).To(ConsistOf("Patient/" + theirs["patient"]))
			Expect(resourceIDs(search(srv.AdminToken, "RelatedPerson", "_id="+ours["related"]+"&patient.name=elsewhere"))).To(ConsistOf(ours["related"]))
		})

		Describe("a member who is not a project admin", func() {
			var member string

			BeforeEach(func() {
				member = signInMember(a.Project)
			})

			It("gets no resource of a type it may not search through an include", func() {
				got := byMode(search(member, "Practitioner", "name=member&_revinclude=ProjectMembership:profile"))
				Expect(got["match"]).To(HaveLen(1))
				Expect(got["include"]).To(BeEmpty())
				Expect(byMode(search(a.Token, "Practitioner", "name=member&_revinclude=ProjectMembership:profile"))["include"]).To(HaveLen(1),
					"the admin sees the membership")
			})

			It("is refused a chain through a type it may not search (403)", func() {
				outcome(call("GET", fhir("Practitioner?_has:ProjectMembership:profile:active=true"), member, nil), http.StatusForbidden)
			})
		})
	})
})

// Roster's processes sharing a database each keep a cache of included
// resources; a write one of them commits is on the next page any of them
// answers.
var _ = Describe("_include with several processes on one database", Ordered, func() {
	var (
		other *fixtures.Server
		t     tenant
		f     fixture
	)
	BeforeAll(func() {
		other = fixtures.Start(GinkgoT(), fixtures.Options{Beside: srv})
		DeferCleanup(other.Close)
		t = newTenant()
		f = clinic(t)
	})
	// profiles are the names and versions of the Practitioners srv
	// includes with the doctor's and the nurse's memberships.
	profiles := func() []string {
		GinkgoHelper()
		out := []string{}
		for _, e := range entries(search(t.Token, "ProjectMembership", f.expand("_id={m-doc},{m-nurse}&_include=ProjectMembership:profile"))) {
			res := e["resource"].(map[string]any)
			if e["search"].(map[string]any)["mode"] == "include" {
				name := res["name"].([]any)[0].(map[string]any)["family"]
				out = append(out, fmt.Sprintf("%s v%s", name, res["meta"].(map[string]any)["versionId"]))
			}
		}
		return out
	}
	// write sends a request to the other process as its super admin.
	write := func(method, path string, body any, want int, headers ...string) {
		GinkgoHelper()
		r, err := other.Do(method, fhir(path), other.AdminToken, body, headers...)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(want), string(r.Body))
	}

	It("shows a profile another process updated", func() {
		Expect(profiles()).To(ConsistOf("Chalmers v1", "Windsor v1"))
		doc := body(call("GET", fhir(f.expand("Practitioner/{doc}")), t.Token, nil))
		doc["name"] = []any{map[string]any{"family": "Chalmers-Moore", "given": []any{"Peter"}}}
		write("PUT", f.expand("Practitioner/{doc}"), doc, http.StatusOK)
		Expect(profiles()).To(ConsistOf("Chalmers-Moore v2", "Windsor v1"))
	})

	It("shows a profile another process patched, and leaves out one it deleted", func() {
		write("PATCH", f.expand("Practitioner/{nurse}"), []any{map[string]any{"op": "replace", "path": "/name/0/family", "value": "Windsor-Hale"}}, http.StatusOK,
			"Content-Type", "application/json-patch+json")
		Expect(profiles()).To(ConsistOf("Chalmers-Moore v2", "Windsor-Hale v2"))
		write("DELETE", f.expand("Practitioner/{doc}"), nil, http.StatusOK)
		Expect(profiles()).To(ConsistOf("Windsor-Hale v2"))
	})
})
