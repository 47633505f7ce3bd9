package rest_test

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// entry is a batch or transaction entry.
func entry(method, url string, resource map[string]any, fullURL string) map[string]any {
	e := map[string]any{"request": map[string]any{"method": method, "url": url}}
	if resource != nil {
		e["resource"] = resource
	}
	if fullURL != "" {
		e["fullUrl"] = fullURL
	}
	return e
}

func bundleOf(typ string, es ...map[string]any) map[string]any {
	list := make([]any, len(es))
	for i, e := range es {
		list[i] = e
	}
	return map[string]any{"resourceType": "Bundle", "type": typ, "entry": list}
}

// statuses are the response.status of a response Bundle's entries.
func statuses(b map[string]any) []string {
	GinkgoHelper()
	out := []string{}
	for _, e := range entries(b) {
		out = append(out, e["response"].(map[string]any)["status"].(string))
	}
	return out
}

var _ = Describe("FHIR batch and transaction Bundles", func() {
	t := freshTenant()

	postBundle := func(b map[string]any) *fixtures.Response {
		GinkgoHelper()
		return call("POST", "fhir/R4/", t.Token, b)
	}

	Describe("batch", func() {
		It("runs every entry on its own, a failing one getting its own outcome", func() {
			existing := create(t.Token, patient("Existing", "E"))["id"].(string)
			bad := patient("Broken")
			bad["colour"] = "blue"
			r := postBundle(bundleOf("batch",
				entry("POST", "Patient", patient("Batched", "One"), ""),
				entry("POST", "Patient", bad, ""),
				entry("GET", "Patient/00000000-0000-4000-8000-000000000000", nil, ""),
				entry("PUT", "Patient/"+existing, patient("Existing", "Updated"), ""),
				entry("GET", "Patient?family=batched", nil, ""),
				entry("DELETE", "Patient/"+existing, nil, ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			b := body(r)
			Expect(b).To(HaveKeyWithValue("type", "batch-response"))
			Expect(statuses(b)).To(HaveExactElements(
				HavePrefix("201"), HavePrefix("400"), HavePrefix("404"), HavePrefix("200"), HavePrefix("200"), HavePrefix("200")))

			es := entries(b)
			created := es[0]["resource"].(map[string]any)
			Expect(es[0]["response"]).To(HaveKeyWithValue("location", fullURL("Patient/"+created["id"].(string)+"/_history/1")))
			Expect(es[0]["response"]).To(HaveKeyWithValue("etag", `W/"1"`))
			Expect(storedJSON("Patient", created["id"].(string))["name"]).To(Equal(created["name"]))

			failed := es[1]["response"].(map[string]any)["outcome"].(map[string]any)
			Expect(failed).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
			Expect(issueText(failed)).To(ContainSubstring("colour"))
			Expect(es[2]["response"].(map[string]any)["outcome"]).To(HaveKeyWithValue("resourceType", "OperationOutcome"))

			Expect(es[3]["resource"]).To(HaveKeyWithValue("meta", HaveKeyWithValue("versionId", "2")))
			searchset := es[4]["resource"].(map[string]any)
			Expect(searchset).To(HaveKeyWithValue("type", "searchset"))
			Expect(resourceIDs(searchset)).To(ConsistOf(created["id"]))

			Expect(stored("Patient", existing).Deleted).To(BeTrue())
			Expect(resourceIDs(search(t.Token, "Patient", "family=broken"))).To(BeEmpty())
		})
	})

	Describe("transaction", func() {
		It("creates every entry and resolves urn:uuid references between them", func() {
			patientURN := "urn:uuid:6c7e2a1e-0000-4000-8000-000000000001"
			// The RelatedPerson comes first: references resolve in any order.
			r := postBundle(bundleOf("transaction",
				entry("POST", "RelatedPerson", person("RelatedPerson", "Carer", []string{"Cat"}, map[string]any{
					"patient": map[string]any{"reference": patientURN},
				}), "urn:uuid:6c7e2a1e-0000-4000-8000-000000000002"),
				entry("POST", "Patient", patient("Cared", "For"), patientURN),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			b := body(r)
			Expect(b).To(HaveKeyWithValue("type", "transaction-response"))
			Expect(statuses(b)).To(HaveExactElements(HavePrefix("201"), HavePrefix("201")))

			es := entries(b)
			related := es[0]["resource"].(map[string]any)
			pat := es[1]["resource"].(map[string]any)
			Expect(related["patient"]).To(HaveKeyWithValue("reference", "Patient/"+pat["id"].(string)))
			Expect(es[1]["fullUrl"]).To(Equal(fullURL("Patient/" + pat["id"].(string))))

			Expect(storedJSON("RelatedPerson", related["id"].(string))["patient"]).To(HaveKeyWithValue("reference", "Patient/"+pat["id"].(string)))
			Expect(stored("Patient", pat["id"].(string)).Project).To(Equal(t.Project))
			Expect(resourceIDs(search(t.Token, "RelatedPerson", "patient="+pat["id"].(string)))).To(ConsistOf(related["id"]))
		})

		It("points references at the existing resource when a conditional create matches", func() {
			existing := create(t.Token, person("Patient", "Known", nil, map[string]any{
				"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "K-" + t.Project[:8]}},
			}))["id"].(string)
			patientURN := "urn:uuid:6c7e2a1e-0000-4000-8000-000000000003"
			cond := entry("POST", "Patient", person("Patient", "Known", nil, map[string]any{
				"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "K-" + t.Project[:8]}},
			}), patientURN)
			cond["request"].(map[string]any)["ifNoneExist"] = "identifier=http://example.org/mrn|K-" + t.Project[:8]
			r := postBundle(bundleOf("transaction", cond,
				entry("POST", "RelatedPerson", person("RelatedPerson", "Carer", nil, map[string]any{
					"patient": map[string]any{"reference": patientURN},
				}), ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			es := entries(body(r))
			Expect(statuses(body(r))).To(HaveExactElements(HavePrefix("200"), HavePrefix("201")))
			Expect(es[0]["resource"]).To(HaveKeyWithValue("id", existing))
			Expect(es[1]["resource"]).To(HaveKeyWithValue("patient", HaveKeyWithValue("reference", "Patient/"+existing)))
			Expect(resourceIDs(search(t.Token, "Patient", "family=known"))).To(ConsistOf(existing))
		})

		It("creates a conditional entry that matches nothing, and later entries point at it", func() {
			patientURN := "urn:uuid:6c7e2a1e-0000-4000-8000-000000000004"
			cond := entry("POST", "Patient", person("Patient", "Unknown", nil, map[string]any{
				"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "U-" + t.Project[:8]}},
			}), patientURN)
			cond["request"].(map[string]any)["ifNoneExist"] = "identifier=http://example.org/mrn|U-" + t.Project[:8]
			r := postBundle(bundleOf("transaction", cond,
				entry("POST", "RelatedPerson", person("RelatedPerson", "Carer", nil, map[string]any{
					"patient": map[string]any{"reference": patientURN},
				}), ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(statuses(body(r))).To(HaveExactElements(HavePrefix("201"), HavePrefix("201")))
			es := entries(body(r))
			created := es[0]["resource"].(map[string]any)["id"].(string)
			Expect(es[1]["resource"]).To(HaveKeyWithValue("patient", HaveKeyWithValue("reference", "Patient/"+created)))
			Expect(resourceIDs(search(t.Token, "Patient", "identifier=http://example.org/mrn|U-"+t.Project[:8]))).To(ConsistOf(created))
		})

		DescribeTable("is all-or-nothing: one failing entry fails the Bundle and nothing it did remains",
			func(status int, failing func(existing string) map[string]any) {
				existing := create(t.Token, patient("Existing", "E"))["id"].(string)
				before := stored("Patient", existing)

				r := postBundle(bundleOf("transaction",
					entry("POST", "Patient", patient("Rollback", "One"), "urn:uuid:6c7e2a1e-0000-4000-8000-000000000010"),
					entry("PUT", "Patient/"+existing, patient("Existing", "Changed"), ""),
					entry("POST", "Practitioner", person("Practitioner", "Rollback", nil, nil), ""),
					failing(existing),
				))
				o := outcome(r, status)
				Expect(issueText(o)).To(ContainSubstring("entry"), "the outcome points at the failing entry")

				Expect(resourceIDs(search(t.Token, "Patient", "family=rollback"))).To(BeEmpty())
				Expect(resourceIDs(search(t.Token, "Practitioner", "family=rollback"))).To(BeEmpty())
				after := stored("Patient", existing)
				Expect(after.Version).To(Equal(before.Version))
				Expect(after.Content).To(MatchJSON(before.Content))
				history := body(call("GET", fhir("Patient/_history"), t.Token, nil))
				Expect(entries(history)).To(HaveLen(1), "only the existing Patient's first version")
			},
			Entry("an invalid resource", http.StatusBadRequest, func(string) map[string]any {
				bad := patient("Broken")
				bad["colour"] = "blue"
				return entry("POST", "Patient", bad, "")
			}),
			Entry("an update of a missing resource", http.StatusNotFound, func(string) map[string]any {
				return entry("PUT", "Patient/00000000-0000-4000-8000-000000000000", patient("Missing"), "")
			}),
			Entry("a stale ifMatch", http.StatusPreconditionFailed, func(existing string) map[string]any {
				e := entry("PUT", "Patient/"+existing, patient("Existing", "Stale"), "")
				e["request"].(map[string]any)["ifMatch"] = `W/"1"`
				return e
			}),
			Entry("a business rule (a duplicate user email)", http.StatusConflict, func(string) map[string]any {
				return entry("POST", "User", map[string]any{"resourceType": "User", "email": strings.ToUpper(t.Email)}, "")
			}),
		)
	})

	Describe("transaction with unique keys among many creates", func() {
		// Creates of a transaction may be written together, unique keys
		// included: a taken key must still fail the Bundle, name the entry
		// it came from and leave nothing behind.
		patients := func(n int, family string) []map[string]any {
			out := make([]map[string]any, n)
			for i := range out {
				out[i] = entry("POST", "Patient", patient(family, "P"+strings.Repeat("i", i+1)), "")
			}
			return out
		}
		user := func(email string) map[string]any {
			return entry("POST", "User", map[string]any{"resourceType": "User", "email": email,
				"project": map[string]any{"reference": "Project/" + t.Project}}, "")
		}
		bundle := func(es ...[]map[string]any) map[string]any {
			var all []map[string]any
			for _, e := range es {
				all = append(all, e...)
			}
			return bundleOf("transaction", all...)
		}

		It("stores users beside patients, and refuses the same users again", func() {
			email := "batched-" + t.Project[:8] + "@example.org"
			b := bundle(patients(5, "Uniq"), []map[string]any{user(email)}, patients(5, "Uniq"))
			r := postBundle(b)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(resourceIDs(search(t.Token, "Patient", "family=uniq"))).To(HaveLen(10))

			again := postBundle(bundle(patients(3, "Again"), []map[string]any{user(strings.ToUpper(email))}))
			o := outcome(again, http.StatusConflict)
			Expect(issueText(o)).To(ContainSubstring("Transaction entry 3: A user with this email already exists"))
			Expect(resourceIDs(search(t.Token, "Patient", "family=again"))).To(BeEmpty())
		})

		It("names the entry whose email was taken, not the entry being run when the batch was written", func() {
			// The tenant admin's own User is server-wide (no project).
			taken := entry("POST", "User", map[string]any{"resourceType": "User", "email": t.Email}, "")
			b := bundle(patients(4, "Taken"), []map[string]any{taken}, patients(20, "Taken"))
			o := outcome(postBundle(b), http.StatusConflict)
			Expect(issueText(o)).To(ContainSubstring("Transaction entry 4: A user with this email already exists"))
			Expect(resourceIDs(search(t.Token, "Patient", "family=taken"))).To(BeEmpty())
		})

		It("refuses one email given twice in the same Bundle, naming the second", func() {
			email := "twice-" + t.Project[:8] + "@example.org"
			b := bundle([]map[string]any{user(email)}, patients(2, "Twice"), []map[string]any{user(email)})
			o := outcome(postBundle(b), http.StatusConflict)
			Expect(issueText(o)).To(ContainSubstring("Transaction entry 3: A user with this email already exists"))
			Expect(resourceIDs(search(t.Token, "Patient", "family=twice"))).To(BeEmpty())
			// Nothing was claimed: the email is still free.
			r := postBundle(bundle([]map[string]any{user(email)}))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		})
	})

	DescribeTable("rejects a Bundle that cannot be processed",
		func(status int, b any) {
			outcome(call("POST", "fhir/R4/", t.Token, b), status)
		},
		Entry("not a Bundle", http.StatusBadRequest, patient("Lone")),
		Entry("a searchset", http.StatusBadRequest, map[string]any{"resourceType": "Bundle", "type": "searchset"}),
		Entry("an entry without request", http.StatusBadRequest, map[string]any{"resourceType": "Bundle", "type": "batch",
			"entry": []any{map[string]any{"resource": patient("NoRequest")}}}),
		Entry("malformed JSON", http.StatusBadRequest, `{"resourceType":"Bundle",`),
	)
})
