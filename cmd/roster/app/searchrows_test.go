package app_test

import (
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// An update rewrites the search rows that changed and a delete removes them all: what is
// left in search_index must be exactly what the current content writes, or
// searches find a resource by a value it no longer has; and a string
// parameter's rows carry the resource's current date, from which prefix
// searches choose their page on PostgreSQL.
var _ = Describe("A resource's search rows", func() {
	srv := freshDBServer()

	// rowsOf lists what search_index holds for Patient/id.
	rowsOf := func(id string) []string {
		GinkgoHelper()
		rows, err := srv.DB.Query("SELECT param, system, value FROM search_index WHERE type = 'Patient' AND id = '" + id + "'")
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
		return rowsOf(srv.send("POST", "Patient", twin, 201)["id"].(string))
	}
	found := func(query string) []string {
		GinkgoHelper()
		return patientIDs(srv.Server, query)
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
		created := srv.send("POST", "Patient", patient("Before", "Ann", "ann@before.example", "1970-01-01", mrn, other), 201)
		id := created["id"].(string)
		Expect(rowsOf(id)).To(HaveLen(9))
		Expect(found("identifier=" + url.QueryEscape("http://example.org/other|RW-1"))).To(ConsistOf(id))

		By("an update that changes some values and keeps the rest")
		updated := patient("After", "Ann", "ann@after.example", "1980-02-02", mrn)
		updated["id"] = id
		updated = srv.send("PUT", "Patient/"+id, updated, 200)
		Expect(rowsOf(id)).To(Equal(written(updated)))
		Expect(found("family=before")).To(BeEmpty())
		Expect(found("email=ann@before.example")).To(BeEmpty())
		Expect(found("birthdate=1970-01-01")).To(BeEmpty())
		Expect(found("identifier="+url.QueryEscape("http://example.org/other|RW-1"))).To(BeEmpty(), "the same value under another system went")
		Expect(found("identifier="+url.QueryEscape("http://example.org/mrn|RW-1"))).To(ContainElement(id), "the row kept stays")
		Expect(found("family=after&email=ann@after.example&birthdate=1980-02-02&_id=" + id)).To(ConsistOf(id))

		By("a JSON Patch")
		patched := srv.send("PATCH", "Patient/"+id, []map[string]any{{"op": "replace", "path": "/name/0/given/0", "value": "Bea"}}, 200,
			"Content-Type", "application/json-patch+json")
		Expect(rowsOf(id)).To(Equal(written(patched)))
		Expect(found("given=ann&_id=" + id)).To(BeEmpty())
		Expect(found("given=bea&_id=" + id)).To(ConsistOf(id))

		By("a delete")
		srv.send("DELETE", "Patient/"+id, nil, 200)
		Expect(rowsOf(id)).To(BeEmpty())
		Expect(found("family=after")).NotTo(ContainElement(id))
	})

	It("sort by a parameter as it is now, not as it was", func() {
		a := srv.send("POST", "Patient", patient("Adams", "A", "a@sort.example", "1990-01-01"), 201)
		b := srv.send("POST", "Patient", patient("Baker", "B", "b@sort.example", "1980-01-01"), 201)
		ids := []string{a["id"].(string), b["id"].(string)}
		Expect(found("_sort=family")).To(Equal(ids))
		Expect(found("_sort=birthdate")).To(Equal([]string{ids[1], ids[0]}))

		moved := patient("Zimmer", "A", "z@sort.example", "1970-01-01")
		moved["id"] = ids[0]
		srv.send("PUT", "Patient/"+ids[0], moved, 200)
		Expect(found("_sort=family")).To(Equal([]string{ids[1], ids[0]}))
		Expect(found("_sort=-birthdate")).To(Equal([]string{ids[1], ids[0]}))
	})
	It("of string parameters carry the resource's current date, so searches list the latest change first", func() {
		var ids []string
		for _, given := range []string{"One", "Two", "Datedine"} {
			ids = append(ids, srv.send("POST", "Patient", patient("Dated", given, strings.ToLower(given)+"@dated.example", "1990-01-01"), 201)["id"].(string))
			time.Sleep(3 * time.Millisecond) // distinct lastUpdated values
		}
		Expect(found("family=dated")).To(Equal([]string{ids[2], ids[1], ids[0]}))
		// rowDates maps each of id's search rows to the date it carries: the
		// resource's own for a string parameter's row, 0 for any other.
		rowDates := func(id string) map[string]int64 {
			GinkgoHelper()
			rows, err := srv.DB.Query("SELECT param, system, value, last_updated FROM search_index WHERE type = 'Patient' AND id = '" + id + "'")
			Expect(err).NotTo(HaveOccurred())
			defer rows.Close()
			out := map[string]int64{}
			for rows.Next() {
				var p, sys, v string
				var d int64
				Expect(rows.Scan(&p, &sys, &v, &d)).To(Succeed())
				out[p+"|"+sys+"|"+v] = d
			}
			Expect(rows.Err()).NotTo(HaveOccurred())
			return out
		}
		ownDate := func(id string) int64 {
			GinkgoHelper()
			var own int64
			Expect(srv.DB.QueryRow("SELECT last_updated FROM resources WHERE type = 'Patient' AND id = '" + id + "'").Scan(&own)).To(Succeed())
			return own
		}
		expectDated := func(id string) {
			GinkgoHelper()
			own := ownDate(id)
			for row, d := range rowDates(id) {
				switch strings.Split(row, "|")[0] {
				case "name", "family", "given":
					Expect(d).To(Equal(own), row)
				default:
					Expect(d).To(BeZero(), row)
				}
			}
		}
		expectDated(ids[0])

		By("updating the oldest: its string rows take the new date, the others stay as they were")
		before := rowDates(ids[0])
		oldest := patient("Dated", "One", "one@dated.example", "1990-01-02")
		oldest["id"] = ids[0]
		updated := srv.send("PUT", "Patient/"+ids[0], oldest, 200)
		expectDated(ids[0])
		after := rowDates(ids[0])
		byParam := func(rows map[string]int64, param string) int64 {
			GinkgoHelper()
			for row, d := range rows {
				if strings.HasPrefix(row, param+"|") {
					return d
				}
			}
			Fail("no " + param + " row")
			return 0
		}
		Expect(byParam(after, "family")).To(BeNumerically(">", byParam(before, "family")))
		Expect(byParam(after, "gender")).To(BeZero())
		latest := []string{ids[0], ids[2], ids[1]}
		Expect(found("family=dated")).To(Equal(latest))

		By("searching by a name several of a Patient's rows match, by several filters, by page")
		Expect(found("name=dated")).To(Equal(latest), "once each, though family and given both match the third")
		Expect(found("family=dated&birthdate=1990-01-01")).To(Equal([]string{ids[2], ids[1]}))
		Expect(found("family=dated&gender=female&name=dated")).To(Equal(latest))
		Expect(found("family=dated&name=datedi")).To(Equal([]string{ids[2]}))
		Expect(found("family=dated&_count=2")).To(Equal(latest[:2]))
		Expect(found("family=dated&_count=2&_offset=2")).To(Equal(latest[2:]))
		Expect(found("family=dated&_id=" + ids[1] + "," + ids[0])).To(Equal([]string{ids[0], ids[1]}))
		lastUpdated := updated["meta"].(map[string]any)["lastUpdated"].(string)
		Expect(found("family=dated&_lastUpdated=" + url.QueryEscape("ge"+lastUpdated))).To(Equal([]string{ids[0]}))
		Expect(found("family=dated&_lastUpdated=" + url.QueryEscape("lt"+lastUpdated))).To(Equal([]string{ids[2], ids[1]}))

		By("deleting the newest")
		srv.send("DELETE", "Patient/"+ids[0], nil, 200)
		Expect(found("family=dated")).To(Equal([]string{ids[2], ids[1]}))
		Expect(found("name=dated&gender=female")).To(Equal([]string{ids[2], ids[1]}))
	})
})
