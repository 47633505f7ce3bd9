package app_test

import (
	"context"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Migration 24: search rows and unique keys hold bounded keys. Values an
// older Roster wrote whole (up to what PostgreSQL's index took, any length
// on SQLite) are rewritten, so they are found and kept unique as before.
var _ = Describe("Upgrading long values an earlier Roster indexed whole", func() {
	srv := freshDBServer()

	It("rewrites them as bounded keys, so searches and unique keys work on them again", func() {
		family := strings.Repeat("adalovelace", 200)[:2000] // lower case: folded is as sent
		mrn := strings.Repeat("MRN-", 375)
		ext := strings.Repeat("ext-", 375)
		id := srv.send("POST", "Patient", map[string]any{"resourceType": "Patient", "name": []map[string]any{{"family": family}},
			"identifier": []map[string]any{{"system": "urn:mrn", "value": mrn}}}, 201)["id"].(string)
		user := srv.send("POST", "User", map[string]any{"resourceType": "User", "firstName": "Long", "externalId": ext}, 201)["id"].(string)
		exact := "family:exact=" + family
		Expect(patientIDs(srv.Server, exact)).To(ConsistOf(id))

		By("putting the rows back as migration 18 left them: whole values")
		ctx := context.Background()
		for _, stmt := range []string{
			"UPDATE search_index SET value = system WHERE id = '" + id + "' AND param IN ('family', 'name')",
			"UPDATE search_index SET value = '" + mrn + "' WHERE id = '" + id + "' AND param = 'identifier'",
			"UPDATE unique_keys SET key = 'User.externalId||" + ext + "' WHERE type = 'User' AND id = '" + user + "'",
			"DELETE FROM schema_migrations WHERE version = 24",
		} {
			_, err := srv.DB.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}
		Expect(patientIDs(srv.Server, exact)).To(BeEmpty(), "a whole value is not the key a search looks for")

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		Expect(patientIDs(srv.Server, exact)).To(ConsistOf(id))
		Expect(patientIDs(srv.Server, "family="+family[:1500])).To(ConsistOf(id))
		Expect(patientIDs(srv.Server, "name="+family[:30])).To(ConsistOf(id))
		Expect(patientIDs(srv.Server, "identifier="+url.QueryEscape("urn:mrn|"+mrn))).To(ConsistOf(id))
		srv.request("POST", "User", map[string]any{"resourceType": "User", "firstName": "Twin", "externalId": ext}, 409)
	})
})
