package app_test

import (
	"database/sql"
	"net/url"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// An update touches only the search rows that changed and a delete removes
// them all: what is left in search_index must be exactly what the current
// content writes, or searches find a resource by a value it no longer has.
var _ = Describe("A resource's search rows", func() {
	var (
		srv *fixtures.Server
		db  *sql.DB
	)
	BeforeEach(func() { srv, db = startWithDatabase() })

	send := func(method, path string, body any, want int, headers ...string) map[string]any {
		GinkgoHelper()
		r, err := srv.Do(method, "fhir/R4/"+path, srv.AdminToken, body, headers...)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(want), string(r.Body))
		if len(r.Body) == 0 {
			return nil
		}
		return r.JSON()
	}
	// rowsOf lists what search_index holds for Patient/id.
	rowsOf := func(id string) []string {
		GinkgoHelper()
		rows, err := db.Query("SELECT param, system, value FROM search_index WHERE type = 'Patient' AND id = '" + id + "'")
		Expect(err).NotTo(HaveOccurred())
		defer rows.Close()
		var out []string
		for rows.Next() {
			var p, s, v string
			Expect(rows.Scan(&p, &s, &v)).To(Succeed())
			out = append(out, p+"|"+s+"|"+v)
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
		sort.Strings(out)
		return out
	}
	// written is what a new Patient of the same content writes.
	written := func(patient map[string]any) []string {
		GinkgoHelper()
		twin := map[string]any{}
		for k, v := range patient {
			if k != "id" && k != "meta" {
				twin[k] = v
			}
		}
		return rowsOf(send("POST", "Patient", twin, 201)["id"].(string))
	}
	found := func(query string) []string {
		GinkgoHelper()
		return patientIDs(srv, query)
	}
	patient := func(family, given, email, birth string, ids ...map[string]any) map[string]any {
		return map[string]any{"resourceType": "Patient",
			"name":       []any{map[string]any{"family": family, "given": []string{given}}},
			"telecom":    []any{map[string]any{"system": "email", "value": email}, map[string]any{"system": "phone", "value": "+1-555-0199"}},
			"birthDate":  birth,
			"identifier": ids,
			"gender":     "female",
		}
	}
	mrn := map[string]any{"system": "http://example.org/mrn", "value": "RW-1"}
	other := map[string]any{"system": "http://example.org/other", "value": "RW-1"}

	It("are exactly what the current content writes after an update, a patch and a delete", func() {
		created := send("POST", "Patient", patient("Before", "Ann", "ann@before.example", "1970-01-01", mrn, other), 201)
		id := created["id"].(string)
		Expect(rowsOf(id)).To(HaveLen(9))
		Expect(found("identifier=" + url.QueryEscape("http://example.org/other|RW-1"))).To(ConsistOf(id))

		By("an update that changes some values and keeps the rest")
		updated := patient("After", "Ann", "ann@after.example", "1980-02-02", mrn)
		updated["id"] = id
		updated = send("PUT", "Patient/"+id, updated, 200)
		Expect(rowsOf(id)).To(Equal(written(updated)))
		Expect(found("family=before")).To(BeEmpty())
		Expect(found("email=ann@before.example")).To(BeEmpty())
		Expect(found("birthdate=1970-01-01")).To(BeEmpty())
		Expect(found("identifier="+url.QueryEscape("http://example.org/other|RW-1"))).To(BeEmpty(), "the same value under another system went")
		Expect(found("identifier="+url.QueryEscape("http://example.org/mrn|RW-1"))).To(ContainElement(id), "the row kept stays")
		Expect(found("family=after&email=ann@after.example&birthdate=1980-02-02&_id=" + id)).To(ConsistOf(id))

		By("a JSON Patch")
		patched := send("PATCH", "Patient/"+id, []map[string]any{{"op": "replace", "path": "/name/0/given/0", "value": "Bea"}}, 200,
			"Content-Type", "application/json-patch+json")
		Expect(rowsOf(id)).To(Equal(written(patched)))
		Expect(found("given=ann&_id=" + id)).To(BeEmpty())
		Expect(found("given=bea&_id=" + id)).To(ConsistOf(id))

		By("a delete")
		send("DELETE", "Patient/"+id, nil, 200)
		Expect(rowsOf(id)).To(BeEmpty())
		Expect(found("family=after")).NotTo(ContainElement(id))
	})

	It("sort by a parameter as it is now, not as it was", func() {
		a := send("POST", "Patient", patient("Adams", "A", "a@sort.example", "1990-01-01"), 201)
		b := send("POST", "Patient", patient("Baker", "B", "b@sort.example", "1980-01-01"), 201)
		ids := []string{a["id"].(string), b["id"].(string)}
		Expect(found("_sort=family")).To(Equal(ids))
		Expect(found("_sort=birthdate")).To(Equal([]string{ids[1], ids[0]}))

		moved := patient("Zimmer", "A", "z@sort.example", "1970-01-01")
		moved["id"] = ids[0]
		send("PUT", "Patient/"+ids[0], moved, 200)
		Expect(found("_sort=family")).To(Equal([]string{ids[1], ids[0]}))
		Expect(found("_sort=-birthdate")).To(Equal([]string{ids[1], ids[0]}))
	})
})
