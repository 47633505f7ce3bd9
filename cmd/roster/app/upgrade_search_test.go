package app_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Migration 20: _tag, _security, _profile and the :identifier modifier of
// references search rows older Roster versions never wrote.
var _ = Describe("Upgrading a database whose resources have no meta or reference-identifier search rows", func() {
	srv := freshDBServer()

	It("indexes the tags, security labels, profiles and reference identifiers of the resources stored before", func() {
		ctx := context.Background()
		tagged := srv.send("POST", "Patient", map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Upgraded"}},
			"meta": map[string]any{
				"tag":      []any{map[string]any{"system": "http://example.org/tags", "code": "old"}},
				"security": []any{map[string]any{"system": "http://example.org/sec", "code": "R"}},
				"profile":  []any{"http://example.org/StructureDefinition/old"},
			}}, 201)["id"].(string)
		plain := srv.send("POST", "Patient", map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Upgraded"}}}, 201)["id"].(string)
		related := srv.send("POST", "RelatedPerson", map[string]any{"resourceType": "RelatedPerson",
			"patient": map[string]any{"reference": "Patient/" + plain, "identifier": map[string]any{"system": "http://example.org/mrn", "value": "U-1"}}}, 201)["id"].(string)
		deleted := srv.send("POST", "Patient", map[string]any{"resourceType": "Patient",
			"meta": map[string]any{"tag": []any{map[string]any{"system": "http://example.org/tags", "code": "old"}}}}, 201)["id"].(string)
		srv.send("DELETE", "Patient/"+deleted, nil, 200)
		ids := func(path string) []string {
			GinkgoHelper()
			out := []string{}
			for _, r := range srv.bundle(path) {
				out = append(out, r["id"].(string))
			}
			return out
		}
		searches := map[string][]string{
			"Patient?_tag=http://example.org/tags|old":                    {tagged},
			"Patient?_security=R":                                         {tagged},
			"Patient?_profile=http://example.org/StructureDefinition/old": {tagged},
			"RelatedPerson?patient:identifier=http://example.org/mrn|U-1": {related},
		}
		for path, want := range searches {
			Expect(ids(path)).To(Equal(want), path)
		}

		By("taking out the rows, as an older Roster wrote them")
		for _, stmt := range []string{
			"DELETE FROM search_index WHERE param IN ('_tag', '_security', '_profile') OR param LIKE '%:identifier'",
			"DELETE FROM schema_migrations WHERE version = 20",
		} {
			_, err := srv.DB.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}
		for path := range searches {
			Expect(ids(path)).To(BeEmpty(), path)
		}

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		for path, want := range searches {
			Expect(ids(path)).To(Equal(want), path)
		}
		var rows int
		Expect(srv.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM search_index WHERE id = '"+deleted+"'").Scan(&rows)).To(Succeed())
		Expect(rows).To(BeZero(), "a deleted resource gets no search rows")
		Expect(srv.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM search_index WHERE id = '"+tagged+"' AND param = '_tag'").Scan(&rows)).To(Succeed())
		Expect(rows).To(Equal(1), "each row once")
	})
})
