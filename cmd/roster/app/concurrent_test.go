package app_test

import (
	"fmt"
	"net/url"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// On PostgreSQL concurrent creates share statements and concurrent updates
// share round trips and commits (group commit): each request must still
// get its own outcome, stored whole and findable when it is answered.
var _ = Describe("Concurrent writes", func() {
	It("creates each store their own resource, readable and searchable when answered", func() {
		srv, db := startWithDatabase()
		const n = 48
		type created struct {
			status int
			id     string
			mrn    string
			found  int // entries a search by the MRN found right after the answer
		}
		results := make([]created, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				defer GinkgoRecover()
				mrn := fmt.Sprintf("MRN-%03d", i)
				r, err := srv.Do("POST", "fhir/R4/Patient", srv.AdminToken, map[string]any{
					"resourceType": "Patient",
					"identifier":   []map[string]any{{"system": "http://example.org/mrn", "value": mrn}},
					"name":         []map[string]any{{"family": fmt.Sprintf("Family%03d", i), "given": []string{"Pat"}}},
					"birthDate":    "1980-01-02",
				})
				Expect(err).NotTo(HaveOccurred())
				res := created{status: r.Status, mrn: mrn}
				if r.Status == 201 {
					res.id, _ = r.JSON()["id"].(string)
					s, err := srv.Do("GET", "fhir/R4/Patient?identifier="+url.QueryEscape("http://example.org/mrn|"+mrn), srv.AdminToken, nil)
					Expect(err).NotTo(HaveOccurred())
					res.found = len(s.Resources())
				}
				results[i] = res
			})
		}
		wg.Wait()

		ids := map[string]bool{}
		for _, res := range results {
			Expect(res.status).To(Equal(201), res.mrn)
			Expect(res.found).To(Equal(1), res.mrn)
			ids[res.id] = true
			r, err := srv.Do("GET", "fhir/R4/Patient/"+res.id, srv.AdminToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200))
			ident := r.JSON()["identifier"].([]any)[0].(map[string]any)
			Expect(ident["value"]).To(Equal(res.mrn))
		}
		Expect(ids).To(HaveLen(n))
		Expect(patientIDs(srv, "family=family0&_count=100")).To(HaveLen(n))

		var stored, rows int
		Expect(db.QueryRow("SELECT COUNT(*) FROM resources WHERE type = 'Patient'").Scan(&stored)).To(Succeed())
		Expect(stored).To(Equal(n))
		Expect(db.QueryRow("SELECT COUNT(*) FROM search_index WHERE type = 'Patient' AND param = 'identifier'").Scan(&rows)).To(Succeed())
		Expect(rows).To(Equal(n))
	})
	It("updates and deletes each change their own resource, and of two updates of one version only one wins", func() {
		srv, db := startWithDatabase()
		send := func(method, path string, body any, headers ...string) (int, map[string]any) {
			r, err := srv.Do(method, "fhir/R4/"+path, srv.AdminToken, body, headers...)
			Expect(err).NotTo(HaveOccurred())
			return r.Status, r.JSON()
		}
		patient := func(id, family, given, mrn string) map[string]any {
			p := map[string]any{
				"resourceType": "Patient",
				"identifier":   []map[string]any{{"system": "http://example.org/mrn", "value": mrn}},
				"name":         []map[string]any{{"family": family, "given": []string{given}}},
			}
			if id != "" {
				p["id"] = id
			}
			return p
		}
		const n, racers, deletes = 24, 8, 8
		ids := make([]string, n+1+deletes)
		for i := range ids {
			status, body := send("POST", "Patient", patient("", fmt.Sprintf("Before%03d", i), "Pat", fmt.Sprintf("OLD-%03d", i)))
			Expect(status).To(Equal(201))
			ids[i] = body["id"].(string)
		}
		contested, doomed := ids[n], ids[n+1:]

		statuses := make([]int, n)
		raced := make([]int, racers)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				defer GinkgoRecover()
				statuses[i], _ = send("PUT", "Patient/"+ids[i],
					patient(ids[i], fmt.Sprintf("After%03d", i), "Pat", fmt.Sprintf("NEW-%03d", i)), "If-Match", `W/"1"`)
			})
		}
		for i := range racers {
			wg.Go(func() {
				defer GinkgoRecover()
				raced[i], _ = send("PUT", "Patient/"+contested,
					patient(contested, "Contested", fmt.Sprintf("Racer%d", i), "OLD-CONTESTED"), "If-Match", `W/"1"`)
			})
		}
		deleted := make([]int, deletes)
		for i, id := range doomed {
			wg.Go(func() {
				defer GinkgoRecover()
				deleted[i], _ = send("DELETE", "Patient/"+id, nil)
			})
		}
		wg.Wait()

		for i, id := range doomed {
			Expect(deleted[i]).To(Equal(200), id)
			status, _ := send("GET", "Patient/"+id, nil)
			Expect(status).To(Equal(410), id)
			var rows int
			Expect(db.QueryRow("SELECT COUNT(*) FROM search_index WHERE type = 'Patient' AND id = '" + id + "'").Scan(&rows)).To(Succeed())
			Expect(rows).To(BeZero(), "a deleted Patient's search rows go")
		}

		for i, status := range statuses {
			Expect(status).To(Equal(200), ids[i])
			_, got := send("GET", "Patient/"+ids[i], nil)
			Expect(got["meta"].(map[string]any)["versionId"]).To(Equal("2"))
			Expect(got["name"].([]any)[0].(map[string]any)["family"]).To(Equal(fmt.Sprintf("After%03d", i)))
			Expect(patientIDs(srv, "identifier="+url.QueryEscape(fmt.Sprintf("http://example.org/mrn|NEW-%03d", i)))).To(Equal([]string{ids[i]}))
			Expect(patientIDs(srv, "identifier="+url.QueryEscape(fmt.Sprintf("http://example.org/mrn|OLD-%03d", i)))).To(BeEmpty())
		}
		Expect(patientIDs(srv, "family=after&_count=100")).To(HaveLen(n))

		winners := 0
		for _, status := range raced {
			Expect(status).To(Or(Equal(200), Equal(412)))
			if status == 200 {
				winners++
			}
		}
		Expect(winners).To(Equal(1), fmt.Sprint(raced))
		_, got := send("GET", "Patient/"+contested, nil)
		Expect(got["meta"].(map[string]any)["versionId"]).To(Equal("2"))

		var superseded int
		Expect(db.QueryRow("SELECT COUNT(*) FROM resource_history WHERE type = 'Patient'").Scan(&superseded)).To(Succeed())
		Expect(superseded).To(Equal(n+1+deletes), "one superseded version per updated or deleted Patient")
	})
})
