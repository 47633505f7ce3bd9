package app_test

import (
	"fmt"
	"net/url"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// On PostgreSQL concurrent creates share statements (group commit): each
// request must still get its own resource, stored whole and findable, and
// answer only once it is stored.
var _ = Describe("Concurrent creates", func() {
	It("each store their own resource, readable and searchable when answered", func() {
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
					entries, _ := s.JSON()["entry"].([]any)
					res.found = len(entries)
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
})
