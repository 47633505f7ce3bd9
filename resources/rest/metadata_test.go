package rest_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

var _ = Describe("The CapabilityStatement at /fhir/R4/metadata", func() {
	var cs map[string]any

	BeforeEach(func() {
		r := call("GET", fhir("metadata"), "", nil)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		cs = body(r)
	})

	codes := func(list any) []string {
		out := []string{}
		for _, raw := range list.([]any) {
			m := raw.(map[string]any)
			if c, ok := m["code"]; ok {
				out = append(out, c.(string))
			} else {
				out = append(out, m["name"].(string))
			}
		}
		return out
	}
	restOf := func() map[string]any {
		GinkgoHelper()
		Expect(cs["rest"]).To(HaveLen(1))
		return cs["rest"].([]any)[0].(map[string]any)
	}

	It("is a FHIR R4 server statement served without credentials", func() {
		Expect(cs).To(HaveKeyWithValue("resourceType", "CapabilityStatement"))
		Expect(cs).To(HaveKeyWithValue("fhirVersion", "4.0.1"))
		Expect(cs).To(HaveKeyWithValue("kind", "instance"))
		Expect(restOf()).To(HaveKeyWithValue("mode", "server"))
		Expect(codes(restOf()["interaction"])).To(ContainElements("batch", "transaction"))
	})

	It("lists every type with every interaction and search parameter", func() {
		var names []string
		for _, t := range resources.Types() {
			names = append(names, t.Name)
		}
		Expect(names).To(ContainElements("Project", "User", "Practitioner", "Patient", "RelatedPerson",
			"ProjectMembership", "ClientApplication", "AccessPolicy"))

		byType := map[string]map[string]any{}
		for _, raw := range restOf()["resource"].([]any) {
			r := raw.(map[string]any)
			byType[r["type"].(string)] = r
		}
		Expect(byType).To(HaveLen(len(names)))
		for _, t := range resources.Types() {
			r, ok := byType[t.Name]
			Expect(ok).To(BeTrue(), t.Name)
			if t.SystemWrite {
				Expect(codes(r["interaction"])).To(ConsistOf("read", "vread", "history-instance", "history-type", "search-type"), t.Name)
			} else {
				Expect(codes(r["interaction"])).To(ContainElements("read", "vread", "update", "patch", "delete",
					"history-instance", "history-type", "create", "search-type"), t.Name)
			}
			want := []string{"_id", "_lastUpdated"}
			for _, p := range t.Params {
				want = append(want, p.Code)
			}
			Expect(codes(r["searchParam"])).To(ConsistOf(want), t.Name)
			Expect(r).To(HaveKeyWithValue("conditionalCreate", !t.SystemWrite))
			Expect(r).To(HaveKeyWithValue("versioning", "versioned"))
		}
	})

	It("tells the truth about conditional interactions", func() {
		const patchURL = "http://hl7.org/fhir/5.0/StructureDefinition/extension-CapabilityStatement.rest.resource.conditionalPatch"
		byType := map[string]map[string]any{}
		for _, raw := range restOf()["resource"].([]any) {
			r := raw.(map[string]any)
			byType[r["type"].(string)] = r
		}
		for _, t := range resources.Types() {
			r := byType[t.Name]
			writable := !t.SystemWrite
			Expect(r).To(HaveKeyWithValue("conditionalUpdate", writable), t.Name)
			Expect(r).To(HaveKeyWithValue("conditionalDelete", map[bool]string{true: "single", false: "not-supported"}[writable]), t.Name)
			Expect(r).To(HaveKeyWithValue("conditionalRead", "not-supported"), t.Name)
			Expect(r).To(HaveKeyWithValue("updateCreate", false), t.Name)
			Expect(r["extension"]).To(ConsistOf(map[string]any{"url": patchURL, "valueBoolean": writable}), t.Name)
		}
		Expect(byType["Patient"]).To(HaveKeyWithValue("conditionalUpdate", true))
	})

	It("gives each search parameter its type", func() {
		for _, raw := range restOf()["resource"].([]any) {
			r := raw.(map[string]any)
			if r["type"] != "Patient" {
				continue
			}
			types := map[string]string{}
			for _, p := range r["searchParam"].([]any) {
				m := p.(map[string]any)
				types[m["name"].(string)] = m["type"].(string)
			}
			Expect(types).To(HaveKeyWithValue("family", "string"))
			Expect(types).To(HaveKeyWithValue("identifier", "token"))
			Expect(types).To(HaveKeyWithValue("birthdate", "date"))
			Expect(types).To(HaveKeyWithValue("_lastUpdated", "date"))
		}
	})
})
