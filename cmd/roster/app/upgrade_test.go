package app_test

import (
	"context"
	"database/sql"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// Migration 9 moves date search rows to resources.DateKey and drops the num
// index; a database written before it must search by date as before.
var _ = Describe("Upgrading a database written before migration 9", func() {
	var (
		srv *fixtures.Server
		db  *sql.DB
	)
	BeforeEach(func() {
		srv = fixtures.Start(GinkgoT(), fixtures.Options{})
		DeferCleanup(srv.Close)
		var err error
		if srv.Config.DatabaseURL != "" {
			db, err = sql.Open("pgx", srv.Config.DatabaseURL)
		} else {
			db, err = sql.Open("sqlite", srv.Config.SQLitePath)
		}
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(db.Close)
	})

	born := func(query string) []string {
		GinkgoHelper()
		r, err := srv.Do("GET", "fhir/R4/Patient?"+query+"&_sort=birthdate", srv.AdminToken, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))
		var b struct {
			Entry []struct {
				Resource struct {
					BirthDate string `json:"birthDate"`
				} `json:"resource"`
			} `json:"entry"`
		}
		Expect(r.Decode(&b)).To(Succeed())
		var out []string
		for _, e := range b.Entry {
			out = append(out, e.Resource.BirthDate)
		}
		return out
	}

	It("rewrites the old date rows, so date searches find them again", func() {
		for _, d := range []string{"1931-07-02", "1969-12-31", "1970-01-01", "1985-03-04", "2001"} {
			r, err := srv.Do("POST", "fhir/R4/Patient", srv.AdminToken, map[string]any{
				"resourceType": "Patient", "name": []map[string]any{{"family": "Upgrade"}}, "birthDate": d})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(201), string(r.Body))
		}
		Expect(born("birthdate=ge1969-12-31&birthdate=lt1986")).To(Equal([]string{"1969-12-31", "1970-01-01", "1985-03-04"}))

		By("putting the rows and the schema back as migration 8 left them")
		ctx := context.Background()
		asWritten := "json_extract(r.content, '$.birthDate')"
		if srv.Config.DatabaseURL != "" {
			asWritten = "r.content::json->>'birthDate'"
		}
		for _, stmt := range []string{
			"UPDATE search_index SET value = (SELECT " + asWritten + " FROM resources r WHERE r.type = search_index.type AND r.id = search_index.id) WHERE param = 'birthdate'",
			"DELETE FROM schema_migrations WHERE version = 9",
			"CREATE INDEX search_index_num ON search_index (project_id, type, param, num)",
		} {
			_, err := db.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}
		// Old rows hold the date as written, which no date range matches now.
		Expect(born("birthdate=ge1969-12-31&birthdate=lt1986")).To(BeEmpty())

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		Expect(born("birthdate=ge1969-12-31&birthdate=lt1986")).To(Equal([]string{"1969-12-31", "1970-01-01", "1985-03-04"}))
		Expect(born("birthdate=lt1970")).To(Equal([]string{"1931-07-02", "1969-12-31"}))
		Expect(born("birthdate=2001")).To(Equal([]string{"2001"}))
		Expect(born("birthdate=1970-01-01")).To(Equal([]string{"1970-01-01"}))

		var indexes int
		q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'search_index_num'"
		if srv.Config.DatabaseURL != "" {
			q = "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'search_index_num' AND schemaname = current_schema()"
		}
		Expect(db.QueryRowContext(ctx, q).Scan(&indexes)).To(Succeed())
		Expect(indexes).To(Equal(0))
	})
})
