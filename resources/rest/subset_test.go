package rest_test

import (
	"net/http"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// subsetted is the tag FHIR puts on a resource answered in part.
var subsetted = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

// keys are a JSON object's member names, sorted.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var _ = Describe("_summary and _elements", Ordered, ContinueOnFailure, func() {
	var t tenant
	var f fixture
	var full map[string]any // the Patient as stored

	// every member of the fixture Patient.
	all := []string{"resourceType", "id", "meta", "text", "identifier", "active", "name", "telecom", "gender", "birthDate",
		"deceasedBoolean", "address", "maritalStatus", "multipleBirthInteger", "contact", "communication"}

	BeforeAll(func() {
		t = newTenant()
		f = fixture{}
		full = create(t.Token, person("Patient", "Subset", []string{"Sue"}, map[string]any{
			"text":       map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">Sue Subset</div>`},
			"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "S-1"}},
			"active":     true,
			"telecom":    []any{map[string]any{"system": "phone", "value": "+1-555-0101"}},
			"gender":     "female", "birthDate": "1970-02-03", "deceasedBoolean": false,
			"address":              []any{map[string]any{"city": "Springfield"}},
			"maritalStatus":        map[string]any{"text": "married"},
			"multipleBirthInteger": 2,
			"contact":              []any{map[string]any{"name": map[string]any{"family": "Subset", "given": []any{"Sam"}}}},
			"communication":        []any{map[string]any{"language": map[string]any{"text": "English"}}},
			"meta":                 map[string]any{"tag": []any{map[string]any{"system": "http://example.org/tags", "code": "kept"}}},
		}))
		Expect(keys(full)).To(ConsistOf(all))
		f["sue"] = full["id"].(string)
		f["rp"] = create(t.Token, person("RelatedPerson", "Subset", []string{"Rae"}, map[string]any{
			"patient": ref("Patient", f["sue"]), "gender": "male", "relationship": []any{map[string]any{"text": "sibling"}},
		}))["id"].(string)
	})

	only := func(b map[string]any) map[string]any {
		GinkgoHelper()
		es := entries(b)
		Expect(es).To(HaveLen(1))
		return es[0]["resource"].(map[string]any)
	}
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(k string) bool { return slices.Contains(drop, k) })
	}

	DescribeTable("answers each Patient with exactly these elements",
		func(query string, want []string, marked bool) {
			res := only(search(t.Token, "Patient", "_id="+f["sue"]+"&"+query))
			Expect(keys(res)).To(ConsistOf(want))
			Expect(res["id"]).To(Equal(f["sue"]))
			tags := meta(res)["tag"]
			Expect(tags).To(ContainElement(map[string]any{"system": "http://example.org/tags", "code": "kept"}), "the resource's own tags stay")
			if marked {
				Expect(tags).To(ContainElement(subsetted))
				Expect(tags).To(HaveLen(2), "one SUBSETTED tag")
			} else {
				Expect(tags).NotTo(ContainElement(subsetted))
				Expect(res).To(Equal(full))
			}
		},
		Entry("_summary=true: the summary elements", "_summary=true",
			[]string{"resourceType", "id", "meta", "identifier", "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean", "address"}, true),
		Entry("_summary=data: all but the text", "_summary=data", without("text"), true),
		Entry("_summary=text: the text, id and meta", "_summary=text", []string{"resourceType", "id", "meta", "text"}, true),
		Entry("_summary=false: everything", "_summary=false", all, false),
		Entry("no _summary: everything", "", all, false),
		Entry("_elements: the elements named", "_elements=name,birthDate", []string{"resourceType", "id", "meta", "name", "birthDate"}, true),
		Entry("_elements with a choice element by its base name", "_elements=deceased,multipleBirth",
			[]string{"resourceType", "id", "meta", "deceasedBoolean", "multipleBirthInteger"}, true),
		Entry("_elements naming id and meta", "_elements=id,meta", []string{"resourceType", "id", "meta"}, true),
		Entry("_elements in two parameters", "_elements=name&_elements=gender", []string{"resourceType", "id", "meta", "name", "gender"}, true),
		Entry("_elements with _summary=false", "_elements=gender&_summary=false", []string{"resourceType", "id", "meta", "gender"}, true),
	)

	DescribeTable("keeps a type's mandatory elements",
		func(typ, query string, want ...string) {
			res := only(search(t.Token, typ, f.expand(query)))
			Expect(keys(res)).To(ConsistOf(want))
			Expect(meta(res)["tag"]).To(ContainElement(subsetted))
		},
		Entry("RelatedPerson _elements keeps patient", "RelatedPerson", "_id={rp}&_elements=gender", "resourceType", "id", "meta", "gender", "patient"),
		Entry("RelatedPerson _summary=text keeps patient", "RelatedPerson", "_id={rp}&_summary=text", "resourceType", "id", "meta", "patient"),
		Entry("RelatedPerson _summary=true", "RelatedPerson", "_id={rp}&_summary=true",
			"resourceType", "id", "meta", "patient", "relationship", "name", "gender"),
		Entry("ProjectMembership _summary=true keeps project, user and profile", "ProjectMembership", "_count=1&_summary=true",
			"resourceType", "id", "meta", "project", "user", "profile"),
	)

	It("answers _summary=count with the total and no entries", func() {
		create(t.Token, person("Patient", "Subset", []string{"Sid"}, nil))
		b := search(t.Token, "Patient", "family=subset&_summary=count")
		Expect(b["total"]).To(BeEquivalentTo(2))
		Expect(b).NotTo(HaveKey("entry"))
		Expect(links(b)["self"].Query().Get("_summary")).To(Equal("count"))
		b = search(t.Token, "Patient", "family=subset&_summary=count&_count=10&_include=*")
		Expect(b["total"]).To(BeEquivalentTo(2))
		Expect(b).NotTo(HaveKey("entry"))
	})

	It("cuts down included resources by _summary, and only the matches by _elements", func() {
		b := search(t.Token, "RelatedPerson", "_id="+f["rp"]+"&_include=RelatedPerson:patient&_summary=true")
		es := entries(b)
		Expect(es).To(HaveLen(2))
		Expect(keys(es[1]["resource"].(map[string]any))).To(ConsistOf("resourceType", "id", "meta", "identifier", "active", "name",
			"telecom", "gender", "birthDate", "deceasedBoolean", "address"))
		Expect(meta(es[1]["resource"].(map[string]any))["tag"]).To(ContainElement(subsetted))

		es = entries(search(t.Token, "RelatedPerson", "_id="+f["rp"]+"&_include=RelatedPerson:patient&_elements=gender"))
		Expect(keys(es[0]["resource"].(map[string]any))).To(ConsistOf("resourceType", "id", "meta", "gender", "patient"))
		Expect(es[1]["resource"]).To(Equal(full), "an included resource of another type is whole")
	})

	It("changes nothing stored: a read answers the whole resource", func() {
		search(t.Token, "Patient", "_id="+f["sue"]+"&_summary=true")
		r := call("GET", fhir("Patient/"+f["sue"]), t.Token, nil)
		Expect(r.Status).To(Equal(http.StatusOK))
		Expect(body(r)).To(Equal(full))
		Expect(storedJSON("Patient", f["sue"])).To(Equal(full))
	})
})
