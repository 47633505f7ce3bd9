package rest_test

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// ref is a Reference element.
func ref(typ, id string) map[string]any { return map[string]any{"reference": typ + "/" + id} }

// membership is a ProjectMembership of user with profile (a "Type/id").
func membership(user, profile string, extra map[string]any) map[string]any {
	typ, id, _ := strings.Cut(profile, "/")
	m := map[string]any{"resourceType": "ProjectMembership", "user": ref("User", user), "profile": ref(typ, id)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// clinic is a small graph of references in one tenant: Patients, the
// RelatedPersons pointing at them, Practitioners and the memberships
// whose profiles they are.
func clinic(t tenant) fixture {
	GinkgoHelper()
	f := fixture{}
	f["ada"] = create(t.Token, person("Patient", "Lovelace", []string{"Ada"}, map[string]any{
		"gender": "female", "birthDate": "1815-12-10",
		"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "ADA-1"}},
	}))["id"].(string)
	f["alan"] = create(t.Token, person("Patient", "Turing", []string{"Alan"}, map[string]any{"gender": "male"}))["id"].(string)
	f["byron"] = create(t.Token, person("RelatedPerson", "Byron", []string{"Anne"}, map[string]any{"patient": ref("Patient", f["ada"])}))["id"].(string)
	f["sara"] = create(t.Token, person("RelatedPerson", "Turing", []string{"Sara"}, map[string]any{"patient": ref("Patient", f["alan"])}))["id"].(string)
	f["doc"] = create(t.Token, person("Practitioner", "Chalmers", []string{"Peter"}, nil))["id"].(string)
	f["nurse"] = create(t.Token, person("Practitioner", "Windsor", []string{"Anna"}, nil))["id"].(string)
	suffix := t.Project[:8]
	user := func(label, first string) {
		f[label] = create(t.Token, map[string]any{"resourceType": "User", "firstName": first, "lastName": "Clinic",
			"email": label + "." + suffix + "@example.com", "project": ref("Project", t.Project)})["id"].(string)
	}
	user("doc-user", "Doc")
	user("nurse-user", "Nurse")
	user("ada-user", "Ada")
	f["m-doc"] = create(t.Token, membership(f["doc-user"], "Practitioner/"+f["doc"], nil))["id"].(string)
	f["m-nurse"] = create(t.Token, membership(f["nurse-user"], "Practitioner/"+f["nurse"], map[string]any{"active": false}))["id"].(string)
	f["m-ada"] = create(t.Token, membership(f["ada-user"], "Patient/"+f["ada"], nil))["id"].(string)
	f["suffix"], f["project"] = suffix, t.Project
	return f
}

// expand puts the fixture's ids in place of {label}s.
func (f fixture) expand(s string) string {
	for label, id := range f {
		s = strings.ReplaceAll(s, "{"+label+"}", id)
	}
	return s
}

var _ = Describe("Chained search and _has", Ordered, ContinueOnFailure, func() {
	var t tenant
	var f fixture

	BeforeAll(func() {
		t = newTenant()
		f = clinic(t)
	})

	DescribeTable("matches through references",
		func(typ, query string, want ...string) {
			got := resourceIDs(search(t.Token, typ, f.expand(query)+"&_count=100"))
			Expect(f.labels(got)).To(ConsistOf(want))
		},
		Entry("a RelatedPerson by its patient's name", "RelatedPerson", "patient.name=lovelace", "byron"),
		Entry("by the patient's name, case-insensitively by prefix", "RelatedPerson", "patient.family=TUR", "sara"),
		Entry("by the patient's family :exact", "RelatedPerson", "patient.family:exact=Turing", "sara"),
		Entry("by the patient's family :exact, not a prefix", "RelatedPerson", "patient.family:exact=Tur"),
		Entry("with the type modifier", "RelatedPerson", "patient:Patient.gender=female", "byron"),
		Entry("by the patient's identifier", "RelatedPerson", "patient.identifier=http://example.org/mrn|ADA-1", "byron"),
		Entry("by the patient's _id", "RelatedPerson", "patient._id={alan}", "sara"),
		Entry("by a date of the patient", "RelatedPerson", "patient.birthdate=lt1900", "byron"),
		Entry("by the patient's :missing", "RelatedPerson", "patient.birthdate:missing=true", "sara"),
		Entry("by a token :not of the patient", "RelatedPerson", "patient.gender:not=female", "sara"),
		Entry("several values ORed", "RelatedPerson", "patient.name=lovelace,turing", "byron", "sara"),
		Entry("ANDed with the resource's own parameters", "RelatedPerson", "patient.name=turing&given=sara", "sara"),
		Entry("ANDed, matching nothing", "RelatedPerson", "patient.name=lovelace&given=sara"),
		Entry("a chain matching nothing", "RelatedPerson", "patient.name=nobody"),
		Entry("memberships by the Practitioner profile's name", "ProjectMembership", "profile:Practitioner.name=chalmers", "m-doc"),
		Entry("memberships by a profile of any type", "ProjectMembership", "profile.name=lovelace", "m-ada"),
		Entry("the type modifier leaves other types out", "ProjectMembership", "profile:Practitioner.name=lovelace"),
		Entry("memberships by the user's email", "ProjectMembership", "user.email=nurse-user.{suffix}@example.com", "m-nurse"),
		Entry("two references deep", "ProjectMembership", "user:User.project:Project._id={project}", "m-doc", "m-nurse", "m-ada"),
		Entry("Patients a RelatedPerson of a name points at (_has)", "Patient", "_has:RelatedPerson:patient:name=byron", "ada"),
		Entry("_has matching nothing", "Patient", "_has:RelatedPerson:patient:name=nobody"),
		Entry("Practitioners whose membership is inactive (_has)", "Practitioner", "_has:ProjectMembership:profile:active=false", "nurse"),
		Entry("_has with a chain inside", "Practitioner", "_has:ProjectMembership:profile:user.email=doc-user.{suffix}@example.com", "doc"),
		Entry("_has within _has", "Project", "_has:User:project:_has:ProjectMembership:user:active=false", "project"),
		Entry("_has ANDed with a plain parameter", "Patient", "_has:RelatedPerson:patient:name=byron&gender=male"),
	)

	It("pages and counts a chained search like any other", func() {
		b := search(t.Token, "RelatedPerson", "patient.name=lovelace,turing&_count=1&_total=accurate")
		Expect(b["total"]).To(BeEquivalentTo(2))
		Expect(entries(b)).To(HaveLen(1))
		Expect(links(b)["next"].Query().Get("patient.name")).To(Equal("lovelace,turing"))
	})

	DescribeTable("rejects with 400 naming the parameter",
		func(typ, query, param string) {
			o := outcome(call("GET", fhir(typ+"?"+query), t.Token, nil), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement(param))
		},
		Entry("a chain on a parameter that is not a reference", "Patient", "name.family=x", "name.family"),
		Entry("an unknown chained parameter", "RelatedPerson", "patient.colour=x", "patient.colour"),
		Entry("a type the reference never leads to", "RelatedPerson", "patient:Practitioner.name=x", "patient:Practitioner.name"),
		Entry("a type modifier that is no type", "ProjectMembership", "profile:Spaceship.name=x", "profile:Spaceship.name"),
		Entry("a bad value in the chained parameter", "RelatedPerson", "patient.birthdate=yesterday", "patient.birthdate"),
		Entry("_has five references deep", "Patient", strings.Repeat("_has:ProjectMembership:profile:", 5)+"active=true",
			strings.Repeat("_has:ProjectMembership:profile:", 5)+"active"),
		Entry("_has on an unknown type", "Patient", "_has:Spaceship:patient:name=x", "_has:Spaceship:patient:name"),
		Entry("_has through a parameter that is not a reference", "Patient", "_has:RelatedPerson:name:name=x", "_has:RelatedPerson:name:name"),
		Entry("_has through a reference to another type", "Practitioner", "_has:RelatedPerson:patient:name=x", "_has:RelatedPerson:patient:name"),
		Entry("_has without its parameter", "Patient", "_has:RelatedPerson:patient=x", "_has:RelatedPerson:patient"),
		Entry("_has with an unknown parameter", "Patient", "_has:RelatedPerson:patient:colour=x", "_has:RelatedPerson:patient:colour"),
	)
})
