package rest_test

import (
	"encoding/base64"
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Conditional writes (PUT, PATCH and DELETE of /{type}?criteria)", func() {
	const system = "http://example.org/mrn"
	t := freshTenant()
	var mrn string // an identifier value no other spec uses

	BeforeEach(func() { mrn = "C-" + t.Project[:8] })

	withMRN := func(family, value string) map[string]any {
		return person("Patient", family, []string{"Cond"}, map[string]any{
			"identifier": []any{map[string]any{"system": system, "value": value}},
		})
	}
	criteria := func(value string) string { return "identifier=" + url.QueryEscape(system+"|"+value) }
	matching := func(token, value string) []string {
		GinkgoHelper()
		return resourceIDs(search(token, "Patient", criteria(value)))
	}
	familyOf := func(id string) string {
		GinkgoHelper()
		return storedJSON("Patient", id)["name"].([]any)[0].(map[string]any)["family"].(string)
	}
	renameTo := `[{"op":"replace","path":"/name/0/family","value":"Patched"}]`
	jsonPatch := []string{"Content-Type", "application/json-patch+json"}

	// send runs one conditional write of the MRN's Patients.
	send := func(method, token, value string, headers ...string) *fixtures.Response {
		GinkgoHelper()
		path := fhir("Patient?" + criteria(value))
		switch method {
		case "PUT":
			return call(method, path, token, withMRN("Upserted", value), headers...)
		case "PATCH":
			return call(method, path, token, renameTo, append(jsonPatch, headers...)...)
		}
		return call(method, path, token, nil, headers...)
	}

	DescribeTable("acts on the one match, by how many resources the criteria match",
		func(method string, matches, status int, then func(before []string, r *fixtures.Response)) {
			var before []string
			for i := range matches {
				before = append(before, create(t.Token, withMRN("Existing"+string(rune('A'+i)), mrn))["id"].(string))
			}
			r := send(method, t.Token, mrn)
			Expect(r.Status).To(Equal(status), string(r.Body))
			then(before, r)
		},
		Entry("update, no match: creates the resource (201)", "PUT", 0, http.StatusCreated, func(_ []string, r *fixtures.Response) {
			res := body(r)
			id := res["id"].(string)
			Expect(r.Header.Get("Location")).To(Equal(fullURL("Patient/" + id + "/_history/1")))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"1"`))
			Expect(meta(res)).To(HaveKeyWithValue("project", t.Project))
			Expect(matching(t.Token, mrn)).To(ConsistOf(id))
			Expect(familyOf(id)).To(Equal("Upserted"))
		}),
		Entry("update, one match: updates it (200)", "PUT", 1, http.StatusOK, func(before []string, r *fixtures.Response) {
			Expect(body(r)).To(HaveKeyWithValue("id", before[0]))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"2"`))
			Expect(stored("Patient", before[0]).Version).To(BeEquivalentTo(2))
			Expect(familyOf(before[0])).To(Equal("Upserted"))
			Expect(matching(t.Token, mrn)).To(ConsistOf(before[0]))
		}),
		Entry("update, several matches: 412, nothing changes", "PUT", 2, http.StatusPreconditionFailed, func(before []string, r *fixtures.Response) {
			Expect(issueText(outcome(r, http.StatusPreconditionFailed))).To(ContainSubstring("More than one Patient"))
			for _, id := range before {
				Expect(stored("Patient", id).Version).To(BeEquivalentTo(1))
			}
			Expect(matching(t.Token, mrn)).To(ConsistOf(before))
		}),
		Entry("patch, no match: 404, nothing is created", "PATCH", 0, http.StatusNotFound, func(_ []string, r *fixtures.Response) {
			outcome(r, http.StatusNotFound)
			Expect(matching(t.Token, mrn)).To(BeEmpty())
		}),
		Entry("patch, one match: patches it (200)", "PATCH", 1, http.StatusOK, func(before []string, r *fixtures.Response) {
			Expect(body(r)).To(HaveKeyWithValue("id", before[0]))
			Expect(stored("Patient", before[0]).Version).To(BeEquivalentTo(2))
			Expect(familyOf(before[0])).To(Equal("Patched"))
			Expect(storedJSON("Patient", before[0])["identifier"]).NotTo(BeEmpty(), "the rest of the resource stays")
		}),
		Entry("patch, several matches: 412, nothing changes", "PATCH", 2, http.StatusPreconditionFailed, func(before []string, r *fixtures.Response) {
			outcome(r, http.StatusPreconditionFailed)
			for _, id := range before {
				Expect(stored("Patient", id).Version).To(BeEquivalentTo(1))
			}
		}),
		Entry("delete, no match: 200 saying nothing was deleted", "DELETE", 0, http.StatusOK, func(_ []string, r *fixtures.Response) {
			o := outcome(r, http.StatusOK)
			Expect(o["issue"]).To(ContainElement(HaveKeyWithValue("severity", "information")))
			Expect(issueText(o)).To(ContainSubstring("nothing was deleted"))
		}),
		Entry("delete, one match: deletes it (200), reading it is 410", "DELETE", 1, http.StatusOK, func(before []string, r *fixtures.Response) {
			Expect(issueText(outcome(r, http.StatusOK))).To(ContainSubstring("Deleted Patient/" + before[0]))
			Expect(stored("Patient", before[0]).Deleted).To(BeTrue())
			outcome(call("GET", fhir("Patient/"+before[0]), t.Token, nil), http.StatusGone)
			Expect(matching(t.Token, mrn)).To(BeEmpty())
		}),
		Entry("delete, several matches: 412, nothing is deleted", "DELETE", 2, http.StatusPreconditionFailed, func(before []string, r *fixtures.Response) {
			outcome(r, http.StatusPreconditionFailed)
			Expect(matching(t.Token, mrn)).To(ConsistOf(before))
		}),
	)

	Describe("update", func() {
		var existing string

		BeforeEach(func() {
			existing = create(t.Token, withMRN("Existing", mrn))["id"].(string)
		})

		It("honours If-Match: a stale version is 412, the current one updates", func() {
			outcome(send("PUT", t.Token, mrn, "If-Match", `W/"7"`), http.StatusPreconditionFailed)
			Expect(stored("Patient", existing).Version).To(BeEquivalentTo(1))

			r := send("PUT", t.Token, mrn, "If-Match", `W/"1"`)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(stored("Patient", existing).Version).To(BeEquivalentTo(2))
		})

		It("answers 412 to If-Match when nothing matches, creating nothing", func() {
			outcome(send("PUT", t.Token, mrn+"-none", "If-Match", `W/"1"`), http.StatusPreconditionFailed)
			Expect(matching(t.Token, mrn+"-none")).To(BeEmpty())
		})

		It("accepts the match's own id in the body, and refuses another with 400", func() {
			res := withMRN("Same", mrn)
			res["id"] = existing
			r := call("PUT", fhir("Patient?"+criteria(mrn)), t.Token, res)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))

			res["id"] = "00000000-0000-4000-8000-000000000000"
			o := outcome(call("PUT", fhir("Patient?"+criteria(mrn)), t.Token, res), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("id"))
			Expect(stored("Patient", existing).Version).To(BeEquivalentTo(2))
			Expect(exists("Patient", "00000000-0000-4000-8000-000000000000")).To(BeFalse())
		})

		It("refuses a body id when nothing matches (no update-as-create)", func() {
			res := withMRN("Assigned", mrn+"-new")
			res["id"] = "00000000-0000-4000-8000-0000000000aa"
			outcome(call("PUT", fhir("Patient?"+criteria(mrn+"-new")), t.Token, res), http.StatusBadRequest)
			Expect(exists("Patient", "00000000-0000-4000-8000-0000000000aa")).To(BeFalse())
		})

		It("answers as Prefer asks", func() {
			r := send("PUT", t.Token, mrn, "Prefer", "return=minimal")
			Expect(r.Status).To(Equal(http.StatusOK))
			Expect(r.Body).To(BeEmpty())
			Expect(r.Header.Get("ETag")).To(Equal(`W/"2"`))
		})

		It("creates one resource when concurrent updates with the same criteria match nothing", func() {
			fresh := mrn + "-race"
			answers := fixtures.Race(8, func(int) (*fixtures.Response, error) {
				return srv.Do("PUT", fhir("Patient?"+criteria(fresh)), t.Token, withMRN("Raced", fresh))
			})
			created := 0
			for _, a := range answers {
				Expect(a.Err).NotTo(HaveOccurred())
				Expect(a.Status).To(BeElementOf(http.StatusCreated, http.StatusOK), string(a.Body))
				if a.Status == http.StatusCreated {
					created++
				}
			}
			Expect(created).To(Equal(1))
			ids := matching(t.Token, fresh)
			Expect(ids).To(HaveLen(1))
			Expect(stored("Patient", ids[0]).Version).To(BeEquivalentTo(8), "the others updated it in turn")
		})

		It("applies every one of concurrent updates of one match made without If-Match", func() {
			answers := fixtures.Race(8, func(int) (*fixtures.Response, error) {
				return srv.Do("PUT", fhir("Patient?"+criteria(mrn)), t.Token, withMRN("Raced", mrn))
			})
			for _, a := range answers {
				Expect(a.Err).NotTo(HaveOccurred())
				Expect(a.Status).To(Equal(http.StatusOK), string(a.Body))
			}
			Expect(stored("Patient", existing).Version).To(BeEquivalentTo(9))
			Expect(matching(t.Token, mrn)).To(ConsistOf(existing))
		})
	})

	It("patches with If-Match honoured", func() {
		id := create(t.Token, withMRN("Existing", mrn))["id"].(string)
		outcome(send("PATCH", t.Token, mrn, "If-Match", `W/"2"`), http.StatusPreconditionFailed)
		Expect(familyOf(id)).To(Equal("Existing"))
		Expect(send("PATCH", t.Token, mrn, "If-Match", `W/"1"`).Status).To(Equal(http.StatusOK))
		Expect(familyOf(id)).To(Equal("Patched"))
	})

	DescribeTable("refuses criteria that are not a selective search with 400, writing nothing",
		func(method, query, named string) {
			var res any
			headers := []string{}
			switch method {
			case "PUT":
				res = withMRN("Refused", mrn)
			case "PATCH":
				res, headers = renameTo, jsonPatch
			}
			o := outcome(call(method, fhir("Patient"+query), t.Token, res, headers...), http.StatusBadRequest)
			Expect(issueText(o)).To(ContainSubstring(named))
			Expect(matching(t.Token, mrn)).To(BeEmpty())
		},
		Entry("update with an unknown parameter", "PUT", "?nosuchparam=1", "nosuchparam"),
		Entry("patch with an unknown parameter", "PATCH", "?nosuchparam=1", "nosuchparam"),
		Entry("delete with an unknown parameter", "DELETE", "?nosuchparam=1", "nosuchparam"),
		Entry("update without criteria", "PUT", "", "needs search criteria"),
		Entry("delete without criteria", "DELETE", "", "needs search criteria"),
		Entry("delete with result parameters only", "DELETE", "?_count=1", "needs search criteria"),
	)

	Describe("across projects", func() {
		var other tenant
		var theirs string

		BeforeEach(func() {
			other = newTenant()
			theirs = create(other.Token, withMRN("Theirs", mrn))["id"].(string)
		})

		theirsUnchanged := func() {
			GinkgoHelper()
			rec := stored("Patient", theirs)
			Expect(rec.Version).To(BeEquivalentTo(1))
			Expect(rec.Deleted).To(BeFalse())
			Expect(familyOf(theirs)).To(Equal("Theirs"))
		}

		It("never sees another project's match: update creates in the caller's project", func() {
			r := send("PUT", t.Token, mrn)
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			Expect(body(r)["id"]).NotTo(Equal(theirs))
			Expect(stored("Patient", body(r)["id"].(string)).Project).To(Equal(t.Project))
			theirsUnchanged()
		})

		It("never sees another project's match: patch is 404, delete deletes nothing", func() {
			outcome(send("PATCH", t.Token, mrn), http.StatusNotFound)
			Expect(issueText(outcome(send("DELETE", t.Token, mrn), http.StatusOK))).To(ContainSubstring("nothing was deleted"))
			theirsUnchanged()
		})

		It("matches in the super admin's own project only, though their searches span every project", func() {
			Expect(matching(srv.AdminToken, mrn)).To(ContainElement(theirs))
			r := send("PUT", srv.AdminToken, mrn)
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			mine := body(r)["id"].(string)
			DeferCleanup(func() { call("DELETE", fhir("Patient/"+mine), srv.AdminToken, nil) })
			Expect(stored("Patient", mine).Project).NotTo(Equal(other.Project))
			theirsUnchanged()
		})
	})

	Describe("in Bundles", func() {
		postBundle := func(b map[string]any) *fixtures.Response {
			GinkgoHelper()
			return call("POST", "fhir/R4/", t.Token, b)
		}
		binaryPatch := func(ops string) map[string]any {
			return map[string]any{"resourceType": "Binary", "contentType": "application/json-patch+json",
				"data": base64.StdEncoding.EncodeToString([]byte(ops))}
		}

		It("runs conditional update, patch and delete entries of a transaction, references to an upsert resolved", func() {
			toPatch := create(t.Token, withMRN("ToPatch", mrn+"-p"))["id"].(string)
			toDelete := create(t.Token, withMRN("ToDelete", mrn+"-d"))["id"].(string)
			urn := "urn:uuid:6c7e2a1e-0000-4000-8000-0000000000c1"
			r := postBundle(bundleOf("transaction",
				entry("PUT", "Patient?"+criteria(mrn+"-u"), withMRN("Upserted", mrn+"-u"), urn),
				entry("POST", "RelatedPerson", person("RelatedPerson", "Carer", nil, map[string]any{
					"patient": map[string]any{"reference": urn},
				}), ""),
				entry("PATCH", "Patient?"+criteria(mrn+"-p"), binaryPatch(renameTo), ""),
				entry("DELETE", "Patient?"+criteria(mrn+"-d"), nil, ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			b := body(r)
			Expect(statuses(b)).To(HaveExactElements(HavePrefix("201"), HavePrefix("201"), HavePrefix("200"), HavePrefix("200")))
			es := entries(b)
			upserted := es[0]["resource"].(map[string]any)["id"].(string)
			Expect(matching(t.Token, mrn+"-u")).To(ConsistOf(upserted))
			Expect(es[1]["resource"]).To(HaveKeyWithValue("patient", HaveKeyWithValue("reference", "Patient/"+upserted)))
			Expect(familyOf(toPatch)).To(Equal("Patched"))
			Expect(stored("Patient", toDelete).Deleted).To(BeTrue())

			By("running it again: the upsert now updates, and references point at the existing resource")
			r = postBundle(bundleOf("transaction",
				entry("PUT", "Patient?"+criteria(mrn+"-u"), withMRN("Again", mrn+"-u"), urn),
				entry("POST", "RelatedPerson", person("RelatedPerson", "Carer", nil, map[string]any{
					"patient": map[string]any{"reference": urn},
				}), ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(statuses(body(r))).To(HaveExactElements(HavePrefix("200"), HavePrefix("201")))
			Expect(entries(body(r))[1]["resource"]).To(HaveKeyWithValue("patient", HaveKeyWithValue("reference", "Patient/"+upserted)))
			Expect(familyOf(upserted)).To(Equal("Again"))
			Expect(matching(t.Token, mrn+"-u")).To(ConsistOf(upserted))
		})

		It("rolls a transaction back when a conditional entry matches several", func() {
			create(t.Token, withMRN("One", mrn))
			create(t.Token, withMRN("Two", mrn))
			o := outcome(postBundle(bundleOf("transaction",
				entry("PUT", "Patient?"+criteria(mrn+"-rb"), withMRN("RolledBack", mrn+"-rb"), ""),
				entry("DELETE", "Patient?"+criteria(mrn), nil, ""),
			)), http.StatusPreconditionFailed)
			Expect(issueText(o)).To(ContainSubstring("entry 1"))
			Expect(matching(t.Token, mrn+"-rb")).To(BeEmpty())
			Expect(matching(t.Token, mrn)).To(HaveLen(2))
		})

		It("gives each conditional entry of a batch its own outcome", func() {
			create(t.Token, withMRN("One", mrn))
			create(t.Token, withMRN("Two", mrn))
			r := postBundle(bundleOf("batch",
				entry("PATCH", "Patient?"+criteria(mrn), binaryPatch(renameTo), ""),
				entry("PUT", "Patient?"+criteria(mrn+"-b"), withMRN("Batched", mrn+"-b"), ""),
				entry("PATCH", "Patient?"+criteria(mrn+"-none"), binaryPatch(renameTo), ""),
				entry("DELETE", "Patient?"+criteria(mrn+"-none"), nil, ""),
			))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(statuses(body(r))).To(HaveExactElements(HavePrefix("412"), HavePrefix("201"), HavePrefix("404"), HavePrefix("200")))
			Expect(matching(t.Token, mrn+"-b")).To(HaveLen(1))
			Expect(resourceIDs(search(t.Token, "Patient", "family=patched"))).To(BeEmpty())
		})
	})

	It("reports each interaction in history: the conditional create as PUT, a patch as PATCH", func() {
		r := send("PUT", t.Token, mrn)
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		id := body(r)["id"].(string)
		Expect(send("PATCH", t.Token, mrn).Status).To(Equal(http.StatusOK))
		Expect(send("PUT", t.Token, mrn).Status).To(Equal(http.StatusOK))
		Expect(send("DELETE", t.Token, mrn).Status).To(Equal(http.StatusOK))

		var got []string
		for _, e := range entries(body(call("GET", fhir("Patient/"+id+"/_history"), t.Token, nil))) {
			got = append(got, e["request"].(map[string]any)["method"].(string)+" "+e["response"].(map[string]any)["status"].(string))
		}
		Expect(got).To(Equal([]string{"DELETE 204 No Content", "PUT 200 OK", "PATCH 200 OK", "PUT 201 Created"}))
	})
})
