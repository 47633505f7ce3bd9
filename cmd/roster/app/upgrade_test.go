package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Migrations that rewrite search rows: a database written before them must
// search as before. Migration 9 moves date rows to resources.DateKey and
// drops the num index.
var _ = Describe("Upgrading a database written by an earlier Roster", func() {
	srv := freshDBServer()

	// perDatabase is the SQLite or the PostgreSQL form of a statement.
	perDatabase := func(sqlite, postgres string) string {
		if srv.Config.DatabaseURL != "" {
			return postgres
		}
		return sqlite
	}
	// putBack runs the statements that return the database to an earlier
	// Roster's schema.
	putBack := func(stmts ...string) {
		GinkgoHelper()
		for _, stmt := range stmts {
			_, err := srv.DB.ExecContext(context.Background(), stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}
	}

	born := func(query string) []string {
		GinkgoHelper()
		var out []string
		for _, p := range srv.bundle("Patient?" + query + "&_sort=birthdate") {
			out = append(out, p["birthDate"].(string))
		}
		return out
	}

	It("rewrites the old date rows, so date searches find them again", func() {
		for _, d := range []string{"1931-07-02", "1969-12-31", "1970-01-01", "1985-03-04", "2001"} {
			srv.send("POST", "Patient", map[string]any{
				"resourceType": "Patient", "name": []map[string]any{{"family": "Upgrade"}}, "birthDate": d}, 201)
		}
		Expect(born("birthdate=ge1969-12-31&birthdate=lt1986")).To(Equal([]string{"1969-12-31", "1970-01-01", "1985-03-04"}))

		By("putting the rows and the schema back as migration 8 left them")
		ctx := context.Background()
		asWritten := perDatabase("json_extract(r.content, '$.birthDate')", "r.content::json->>'birthDate'")
		putBack(
			"UPDATE search_index SET value = (SELECT "+asWritten+" FROM resources r WHERE r.type = search_index.type AND r.id = search_index.id) WHERE param = 'birthdate'",
			"DELETE FROM schema_migrations WHERE version = 9",
			"CREATE INDEX search_index_num ON search_index (project_id, type, param, num)",
		)
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
		Expect(srv.DB.QueryRowContext(ctx, q).Scan(&indexes)).To(Succeed())
		Expect(indexes).To(Equal(0))
	})

	// Migration 11: email and phone are answered from telecom's rows; the
	// rows that repeated them go, and searches by them still find people.
	It("drops the email and phone rows that repeated telecom's, and still finds people by them", func() {
		id := srv.send("POST", "Patient", map[string]any{
			"resourceType": "Patient", "name": []map[string]any{{"family": "Telecom"}},
			"telecom": []map[string]any{{"system": "email", "value": "Tele.Com@Example.org"}, {"system": "phone", "value": "+1-555-0142"}}}, 201)["id"].(string)
		found := func(query string) int {
			GinkgoHelper()
			return len(patientIDs(srv.Server, query))
		}
		rows := func(param string) int {
			GinkgoHelper()
			var n int
			Expect(srv.DB.QueryRow("SELECT COUNT(*) FROM search_index WHERE type = 'Patient' AND id = '" + id + "' AND param = '" + param + "'").Scan(&n)).To(Succeed())
			return n
		}
		Expect(rows("email")+rows("phone")).To(BeZero(), "new writes index telecom only")
		Expect(rows("telecom")).To(Equal(2))

		By("putting back the rows migration 10 left")
		ctx := context.Background()
		putBack(
			"INSERT INTO search_index (type, id, project_id, param, system, value, num) SELECT type, id, project_id, 'email', '', value, 0 FROM search_index WHERE id = '"+id+"' AND param = 'telecom' AND system = 'email'",
			"INSERT INTO search_index (type, id, project_id, param, system, value, num) SELECT type, id, project_id, 'phone', '', value, 0 FROM search_index WHERE id = '"+id+"' AND param = 'telecom' AND system = 'phone'",
			"DELETE FROM schema_migrations WHERE version = 11",
		)
		Expect(rows("email") + rows("phone")).To(Equal(2))

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		Expect(rows("email") + rows("phone")).To(BeZero())
		Expect(rows("telecom")).To(Equal(2))
		Expect(found("email=tele.com@example.org")).To(Equal(1))
		Expect(found("phone=%2B1-555-0142")).To(Equal(1))
		Expect(found("telecom=email|TELE.COM@example.org")).To(Equal(1))
	})

	// Migration 12: the history table keeps superseded versions only.
	It("drops the history rows that repeated current versions, and still serves every version", func() {
		id := srv.send("POST", "Patient", map[string]any{
			"resourceType": "Patient", "name": []map[string]any{{"family": "Versions"}}}, 201)["id"].(string)
		srv.send("PUT", "Patient/"+id, map[string]any{
			"resourceType": "Patient", "id": id, "name": []map[string]any{{"family": "Versions", "given": []string{"Two"}}}}, 200)
		historyRows := func() int {
			GinkgoHelper()
			var n int
			Expect(srv.DB.QueryRow("SELECT COUNT(*) FROM resource_history WHERE type = 'Patient' AND id = '" + id + "'").Scan(&n)).To(Succeed())
			return n
		}
		versions := func() []string {
			GinkgoHelper()
			var out []string
			for _, v := range srv.bundle("Patient/" + id + "/_history") {
				out = append(out, v["meta"].(map[string]any)["versionId"].(string))
			}
			return out
		}
		Expect(historyRows()).To(Equal(1), "only version 1 was superseded")
		Expect(versions()).To(Equal([]string{"2", "1"}))

		By("putting back the copy of the current version Roster wrote before migration 12")
		ctx := context.Background()
		putBack(
			"INSERT INTO resource_history (type, id, project_id, version, last_updated, deleted, content) SELECT type, id, project_id, version, last_updated, deleted, content FROM resources WHERE id = '"+id+"'",
			"DELETE FROM schema_migrations WHERE version = 12",
		)
		Expect(versions()).To(Equal([]string{"2", "2", "1"}), "the copy shows twice before migrating")

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		Expect(historyRows()).To(Equal(1))
		Expect(versions()).To(Equal([]string{"2", "1"}))
		for _, v := range []string{"1", "2"} {
			srv.send("GET", "Patient/"+id+"/_history/"+v, nil, 200)
		}
	})

	// Migration 13: on PostgreSQL the primary key carries each resource's
	// project, date and deleted flag, from which filtered searches choose
	// their page; on SQLite it changes nothing.
	It("widens the primary key, and filtered searches page as before", func() {
		var newestFirst []string
		for _, given := range []string{"One", "Two", "Three", "Four", "Five"} {
			id := srv.send("POST", "Patient", map[string]any{
				"resourceType": "Patient", "name": []map[string]any{{"family": "Pagekey", "given": []string{given}}}}, 201)["id"].(string)
			newestFirst = append([]string{id}, newestFirst...)
			time.Sleep(3 * time.Millisecond) // distinct lastUpdated values
		}
		page := func(offset int) []string {
			GinkgoHelper()
			return patientIDs(srv.Server, fmt.Sprintf("family=pagekey&_count=2&_offset=%d", offset))
		}
		pages := func() []string {
			GinkgoHelper()
			return append(append(page(0), page(2)...), page(4)...)
		}
		Expect(pages()).To(Equal(newestFirst))
		postgres := srv.Config.DatabaseURL != ""
		primaryKey := func() string {
			GinkgoHelper()
			var def string
			Expect(srv.DB.QueryRow("SELECT indexdef FROM pg_indexes WHERE indexname = 'resources_pkey' AND schemaname = current_schema()").Scan(&def)).To(Succeed())
			return def
		}

		By("putting the primary key back as migration 12 left it")
		ctx := context.Background()
		stmts := []string{"DELETE FROM schema_migrations WHERE version = 13"}
		if postgres {
			stmts = append(stmts, "ALTER TABLE resources DROP CONSTRAINT resources_pkey, ADD CONSTRAINT resources_pkey PRIMARY KEY (type, id)")
		}
		putBack(stmts...)
		if postgres {
			Expect(primaryKey()).NotTo(ContainSubstring("INCLUDE"))
		}

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		if postgres {
			Expect(primaryKey()).To(HaveSuffix("(type, id) INCLUDE (project_id, last_updated, deleted)"))
		}
		Expect(pages()).To(Equal(newestFirst))
	})
	// Migration 14: a string parameter's search rows carry their
	// resource's date, from which prefix searches choose their page on
	// PostgreSQL.
	It("dates the search rows, and filtered searches list the latest change first as before", func() {
		var ids []string
		for _, given := range []string{"One", "Two", "Three"} {
			ids = append(ids, srv.send("POST", "Patient", map[string]any{
				"resourceType": "Patient", "name": []map[string]any{{"family": "Rowdate", "given": []string{given}}}}, 201)["id"].(string))
			time.Sleep(3 * time.Millisecond) // distinct lastUpdated values
		}
		srv.send("PUT", "Patient/"+ids[0], map[string]any{
			"resourceType": "Patient", "id": ids[0], "name": []map[string]any{{"family": "Rowdate", "given": []string{"Uno"}}}}, 200)
		latest := []string{ids[0], ids[2], ids[1]}
		Expect(patientIDs(srv.Server, "family=rowdate")).To(Equal(latest))

		By("putting the search rows and their index back as migration 13 left them")
		ctx := context.Background()
		lookup := perDatabase("CREATE INDEX search_index_lookup ON search_index (project_id, type, param, value, id)",
			"CREATE INDEX search_index_lookup ON search_index (project_id, type, param, value) INCLUDE (id)")
		putBack(
			"DROP INDEX search_index_sorted",
			"ALTER TABLE search_index DROP COLUMN last_updated",
			lookup,
			"DELETE FROM schema_migrations WHERE version = 14",
		)

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		var undated int
		Expect(srv.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM search_index s JOIN resources r ON r.type = s.type AND r.id = s.id
			WHERE s.type = 'Patient' AND CASE WHEN s.param IN ('name', 'family', 'given') THEN s.last_updated <> r.last_updated
			ELSE s.last_updated <> 0 END`).Scan(&undated)).To(Succeed())
		Expect(undated).To(BeZero(), "a string parameter's rows carry their resource's date, the others 0")
		Expect(patientIDs(srv.Server, "family=rowdate")).To(Equal(latest))
		Expect(patientIDs(srv.Server, "name=rowdate&_count=1&_offset=1")).To(Equal(latest[1:2]))
	})

	// Migration 19: each version records the interaction that wrote it;
	// history infers the method of versions written before.
	It("records each version's method from then on, and infers it for older versions", func() {
		id := srv.send("POST", "Patient", map[string]any{
			"resourceType": "Patient", "name": []map[string]any{{"family": "Methods"}}}, 201)["id"].(string)
		patch := func() {
			GinkgoHelper()
			srv.request("PATCH", "Patient/"+id, `[{"op":"add","path":"/active","value":true}]`, 200,
				"Content-Type", "application/json-patch+json")
		}
		methods := func() []string {
			GinkgoHelper()
			var b struct {
				Entry []struct{ Request struct{ Method string } } `json:"entry"`
			}
			Expect(srv.request("GET", "Patient/"+id+"/_history", nil, 200).Decode(&b)).To(Succeed())
			var out []string
			for _, e := range b.Entry {
				out = append(out, e.Request.Method)
			}
			return out
		}
		patch()
		Expect(methods()).To(Equal([]string{"PATCH", "POST"}))

		By("putting the tables back as migration 18 left them")
		putBack("ALTER TABLE resources DROP COLUMN method", "ALTER TABLE resource_history DROP COLUMN method",
			"DELETE FROM schema_migrations WHERE version = 19")

		By("migrating")
		Expect(srv.App.Store.Migrate(context.Background())).To(Succeed())
		patch()
		Expect(methods()).To(Equal([]string{"PATCH", "PUT", "POST"}), "the older patch's method was not recorded")
	})

	// Migration 15 (PostgreSQL): the tables every search reads are vacuumed
	// once a hundredth of them has changed, so index-only scans stay so.
	It("has the search tables vacuumed sooner than PostgreSQL's default", func() {
		if srv.Config.DatabaseURL == "" {
			Skip("autovacuum is PostgreSQL's")
		}
		options := func(table string) []string {
			GinkgoHelper()
			var opts sql.NullString
			Expect(srv.DB.QueryRow("SELECT array_to_string(reloptions, ' ') FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace", table).Scan(&opts)).To(Succeed())
			return strings.Fields(opts.String)
		}
		tuned := ConsistOf("autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_insert_scale_factor=0.01", "autovacuum_analyze_scale_factor=0.02")
		By("putting the tables back as migration 14 left them")
		putBack("ALTER TABLE search_index RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)",
			"ALTER TABLE resources RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)",
			"DELETE FROM schema_migrations WHERE version = 15")
		Expect(options("search_index")).To(BeEmpty())

		By("migrating")
		Expect(srv.App.Store.Migrate(context.Background())).To(Succeed())
		Expect(options("search_index")).To(tuned)
		Expect(options("resources")).To(tuned)
	})
})
