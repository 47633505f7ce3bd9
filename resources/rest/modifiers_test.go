package rest_test

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Search modifiers and meta parameters", Ordered, ContinueOnFailure, func() {
	var t tenant
	var f fixture

	BeforeAll(func() {
		t = newTenant()
		f = fixture{}
		tag := func(system, code string) map[string]any { return map[string]any{"system": system, "code": code} }
		f["tagged"] = create(t.Token, person("Patient", "Modifier", []string{"Tia"}, map[string]any{
			"gender": "female", "birthDate": "1980-01-01",
			"telecom":    []any{map[string]any{"system": "email", "value": "tia@example.org"}},
			"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "M-1"}},
			"meta": map[string]any{
				"tag":      []any{tag("http://example.org/tags", "vip"), tag("http://example.org/tags", "research")},
				"security": []any{tag("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")},
				"profile":  []any{"http://example.org/StructureDefinition/special-patient"},
			},
		}))["id"].(string)
		f["plain"] = create(t.Token, person("Patient", "Modifier", []string{"Pia"}, map[string]any{
			"gender":     "male",
			"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "M-2"}},
			"meta":       map[string]any{"tag": []any{tag("http://example.org/other", "vip")}},
		}))["id"].(string)
		f["bare"] = create(t.Token, person("Patient", "Modifier", []string{"Bo"}, nil))["id"].(string)

		f["doc"] = create(t.Token, person("Practitioner", "Modifier", []string{"Doc"}, nil))["id"].(string)
		f["user"] = create(t.Token, map[string]any{"resourceType": "User", "firstName": "Mod", "email": "mod-" + t.Project[:8] + "@example.com"})["id"].(string)
		logical := map[string]any{"reference": "Practitioner/" + f["doc"],
			"identifier": map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}}
		f["m-logical"] = create(t.Token, map[string]any{"resourceType": "ProjectMembership", "user": ref("User", f["user"]),
			"profile": logical})["id"].(string)
		f["rp"] = create(t.Token, person("RelatedPerson", "Modifier", []string{"Rue"}, map[string]any{
			"patient": map[string]any{"reference": "Patient/" + f["tagged"],
				"identifier": map[string]any{"system": "http://example.org/mrn", "value": "M-1"}}}))["id"].(string)
	})

	DescribeTable("matches",
		func(typ, query string, want ...string) {
			query = f.expand(query) + "&_count=100"
			if typ == "Patient" || typ == "RelatedPerson" {
				query += "&family=modifier" // the fixture's people alone
			}
			got := resourceIDs(search(t.Token, typ, query))
			Expect(f.labels(got)).To(ConsistOf(want))
		},
		Entry(":missing=true on a token", "Patient", "gender:missing=true", "bare"),
		Entry(":missing=false on a token", "Patient", "gender:missing=false", "tagged", "plain"),
		Entry(":missing=true on a date", "Patient", "birthdate:missing=true", "plain", "bare"),
		Entry(":missing on a parameter answered by another's rows (email)", "Patient", "email:missing=false", "tagged"),
		Entry(":missing=true on a string covering others (name)", "Patient", "name:missing=true"),
		Entry(":missing on a reference", "RelatedPerson", "patient:missing=false", "rp"),
		Entry(":missing on _tag", "Patient", "_tag:missing=true", "bare"),
		Entry(":not on a token", "Patient", "gender:not=female", "plain", "bare"),
		Entry(":not with several values (none of them)", "Patient", "gender:not=female,male", "bare"),
		Entry(":not on system|code", "Patient", "identifier:not=http://example.org/mrn|M-1", "plain", "bare"),
		Entry(":not ANDed with another filter", "Patient", "gender:not=female&gender:missing=false", "plain"),
		Entry("_tag by system|code", "Patient", "_tag=http://example.org/tags|vip", "tagged"),
		Entry("_tag by code alone", "Patient", "_tag=vip", "tagged", "plain"),
		Entry("_tag, several values ORed", "Patient", "_tag=research,http://example.org/other|vip", "tagged", "plain"),
		Entry("_tag:not", "Patient", "_tag:not=http://example.org/tags|vip", "plain", "bare"),
		Entry("_security", "Patient", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", "tagged"),
		Entry("_profile", "Patient", "_profile=http://example.org/StructureDefinition/special-patient", "tagged"),
		Entry("_profile, not by prefix", "Patient", "_profile=http://example.org/StructureDefinition"),
		Entry("_profile:missing", "Patient", "_profile:missing=false", "tagged"),
		Entry(":identifier on a reference", "ProjectMembership", "profile:identifier=http://hl7.org/fhir/sid/us-npi|1234567893", "m-logical"),
		Entry(":identifier by value alone", "ProjectMembership", "profile:identifier=1234567893", "m-logical"),
		Entry(":identifier with the wrong system", "ProjectMembership", "profile:identifier=http://example.org/mrn|1234567893"),
		Entry(":identifier is the reference's, not the target's", "RelatedPerson", "patient:identifier=http://example.org/mrn|M-1", "rp"),
		Entry(":identifier never matches the literal reference", "RelatedPerson", "patient:identifier={tagged}"),
	)

	It("keeps the profile, tags and security labels the client sent", func() {
		m := meta(storedJSON("Patient", f["tagged"]))
		Expect(m["tag"]).To(HaveLen(2))
		Expect(m["security"]).To(HaveLen(1))
		Expect(m["profile"]).To(ConsistOf("http://example.org/StructureDefinition/special-patient"))
	})

	It("finds a resource by a tag added later, and no longer by one removed", func() {
		doc := storedJSON("Patient", f["bare"])
		doc["meta"] = map[string]any{"tag": []any{map[string]any{"system": "http://example.org/tags", "code": "late"}}}
		r := call("PUT", fhir("Patient/"+f["bare"]), t.Token, doc)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(resourceIDs(search(t.Token, "Patient", "_tag=late"))).To(ConsistOf(f["bare"]))
		delete(doc, "meta")
		r = call("PUT", fhir("Patient/"+f["bare"]), t.Token, doc)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(resourceIDs(search(t.Token, "Patient", "_tag=late"))).To(BeEmpty())
	})

	DescribeTable("rejects with 400 naming the parameter, and never ignores it",
		func(query, param string) {
			o := outcome(call("GET", fhir("Patient?"+query), t.Token, nil), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement(param))
			Expect(issueText(o)).NotTo(BeEmpty())
		},
		Entry(":missing with a value other than true or false", "gender:missing=maybe", "gender:missing"),
		Entry(":missing on _id", "_id:missing=true", "_id:missing"),
		Entry(":not on a string", "family:not=x", "family:not"),
		Entry(":not on a date", "birthdate:not=1980", "birthdate:not"),
		Entry(":contains on a token", "gender:contains=mal", "gender:contains"),
		Entry(":text on a token", "gender:text=male", "gender:text"),
		Entry(":in on a token", "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", "gender:in"),
		Entry(":below on _profile", "_profile:below=http://example.org", "_profile:below"),
		Entry(":identifier on a parameter that is not a reference", "gender:identifier=x", "gender:identifier"),
		Entry("_text", "_text=cough", "_text"),
		Entry("_content", "_content=cough", "_content"),
		Entry("_list", "_list=42", "_list"),
		Entry("_type", "_type=Patient", "_type"),
		Entry("_query", "_query=everything", "_query"),
		Entry("_filter", "_filter=name%20eq%20x", "_filter"),
		Entry("_containedType", "_containedType=contained", "_containedType"),
		Entry("_total with an unknown value", "_total=maybe", "_total"),
		Entry("a modifier on _count", "_count:exact=2", "_count:exact"),
		Entry("_summary with an unknown value", "_summary=short", "_summary"),
		Entry("_summary and _elements together", "_summary=true&_elements=name", "_elements"),
		Entry("_elements naming no element", "_elements=name,colour", "_elements"),
	)

	Describe("Prefer: handling", func() {
		DescribeTable("lenient ignores what Roster does not support, and its self link leaves it out",
			func(query string, ignored string) {
				r := call("GET", fhir("Patient?family=modifier&"+query), t.Token, nil, "Prefer", "handling=lenient")
				Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
				b := body(r)
				var matched []string
				var outcomes []map[string]any
				for _, e := range entries(b) {
					res := e["resource"].(map[string]any)
					switch e["search"].(map[string]any)["mode"] {
					case "match":
						matched = append(matched, res["id"].(string))
					case "outcome":
						outcomes = append(outcomes, res)
					}
				}
				Expect(f.labels(matched)).To(ConsistOf("tagged", "plain", "bare"))
				Expect(outcomes).To(HaveLen(1), "an OperationOutcome tells what was ignored")
				Expect(outcomes[0]["resourceType"]).To(Equal("OperationOutcome"))
				Expect(expressions(outcomes[0])).To(ConsistOf(ignored))
				self := links(b)["self"]
				Expect(self.Query()).NotTo(HaveKey(ignored))
				Expect(self.Query().Get("family")).To(Equal("modifier"))
				Expect(links(b)["first"].Query()).NotTo(HaveKey(ignored))

				o := outcome(call("GET", fhir("Patient?family=modifier&"+query), t.Token, nil, "Prefer", "handling=strict"), http.StatusBadRequest)
				Expect(expressions(o)).To(ContainElement(ignored))
				outcome(call("GET", fhir("Patient?family=modifier&"+query), t.Token, nil), http.StatusBadRequest)
			},
			Entry("an unknown parameter", "colour=blue", "colour"),
			Entry("an unsupported result parameter", "_contained=true", "_contained"),
			Entry("an unsupported modifier", "gender:text=female", "gender:text"),
			Entry("a chain through an unknown parameter", "organization.name=x", "organization.name"),
		)

		It("still refuses an invalid value of a supported parameter", func() {
			o := outcome(call("GET", fhir("Patient?birthdate=yesterday"), t.Token, nil, "Prefer", "handling=lenient"), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("birthdate"))
		})

		It("takes handling among other preferences", func() {
			r := call("GET", fhir("Patient?family=modifier&colour=blue"), t.Token, nil, "Prefer", "return=minimal, handling=lenient")
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(entries(body(r))).To(HaveLen(4), "three matches and the outcome")
		})

		It("applies to POST _search too", func() {
			r := call("POST", fhir("Patient/_search"), t.Token, "family=modifier&colour=blue",
				"Content-Type", "application/x-www-form-urlencoded", "Prefer", "handling=lenient")
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(entries(body(r))).To(HaveLen(4), "three matches and the outcome")
			Expect(strings.Contains(links(body(r))["self"].RawQuery, "colour")).To(BeFalse())
		})
	})
})
