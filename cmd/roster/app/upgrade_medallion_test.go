package app_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

// Migration 18: Medallion's own invites table becomes rows of the core's
// invitations, of the same ids, and goes.
var _ = Describe("Upgrading a database with Medallion's own invites table", func() {
	srv := freshDBServer()

	It("reads each invite back as before through Medallion's API, and the pending one still resends and is accepted", func() {
		ctx := context.Background()
		name := "Upgrade org " + fixtures.Uniq()
		org, err := srv.CreateProject(name)
		Expect(err).NotTo(HaveOccurred())
		r := srv.Call(GinkgoT(), "POST", "admin/projects/"+org+"/client", srv.AdminToken, map[string]any{"name": "medallion key", "admin": true})
		Expect(r.Status).To(Equal(201), string(r.Body))
		key := r.JSON()["secret"].(string)
		call := func(method, path string, body any) *fixtures.Response {
			GinkgoHelper()
			return srv.Call(GinkgoT(), method, "p/api/v1/organizations/"+path, "", body,
				"Content-Type", "application/json", "Accept", "application/json", "x-api-key", key)
		}
		member := func(tag string) (id, userID, email string) {
			GinkgoHelper()
			email = fixtures.Email(tag)
			r := call("POST", "members/", map[string]any{"role": "auditor", "user": map[string]any{"email": email}})
			Expect(r.Status).To(Equal(201), string(r.Body))
			return r.JSON()["id"].(string), r.JSON()["user"].(map[string]any)["id"].(string), email
		}
		pendingM, pendingU, pendingEmail := member("pending")
		acceptedM, acceptedU, acceptedEmail := member("accepted")
		revokedM, revokedU, revokedEmail := member("revoked")

		// The pending invite's live link, as Medallion made it.
		oldLink, oldSecret, err := srv.App.Auth.CreateLink(ctx, auth.LinkSetPassword, pendingU, org, 7*24*time.Hour, `{"medallionInvite":"minv-pending"}`)
		Expect(err).NotTo(HaveOccurred())

		now := time.Now().UTC().Truncate(time.Microsecond)
		at := func(d time.Duration) time.Time { return now.Add(d) }
		micros := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
		type row struct {
			id, membership, user, link, status, email string
			sent                                      int
			created, updated, expires                 time.Time
		}
		rows := []row{
			{"minv-pending", pendingM, pendingU, oldLink, "pending", pendingEmail, 2, at(-3 * time.Hour), at(-time.Hour), at(-time.Hour + 7*24*time.Hour)},
			{"minv-accepted", acceptedM, acceptedU, "link-used", "accepted", acceptedEmail, 1, at(-2 * time.Hour), at(-90 * time.Minute), at(-2*time.Hour + 7*24*time.Hour)},
			{"minv-revoked", revokedM, revokedU, "link-killed", "revoked", revokedEmail, 3, at(-time.Hour), at(-30 * time.Minute), at(-45*time.Minute + 7*24*time.Hour)},
		}

		By("putting back the table migration 4 made, with the rows Roster wrote in it before migration 18")
		stmts := append(srv.App.Store.MigrationSQL(4), "DELETE FROM schema_migrations WHERE version = 18")
		for _, x := range rows {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO medallion_invites (id, project_id, membership_id, user_id, link_id, status, email, sent_count, created_at, updated_at, expires_at)
VALUES ('%s', '%s', '%s', '%s', '%s', '%s', '%s', %d, %s, %s, %s)`, x.id, org, x.membership, x.user, x.link, x.status, x.email, x.sent,
				micros(x.created), micros(x.updated), micros(x.expires)))
		}
		for _, stmt := range stmts {
			_, err := srv.DB.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		tables := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'medallion_invites'"
		if srv.Config.DatabaseURL != "" {
			tables = "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'medallion_invites' AND schemaname = current_schema()"
		}
		var n int
		Expect(srv.DB.QueryRowContext(ctx, tables).Scan(&n)).To(Succeed())
		Expect(n).To(BeZero(), "Medallion's table is gone")

		stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
		By("reading each invite back as before, by id and in the list, oldest first")
		for _, x := range rows {
			r := call("GET", "invites/"+x.id+"/", nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).To(Equal(map[string]any{"id": x.id, "membership_id": x.membership, "organization": org,
				"email": x.email, "status": x.status, "created": stamp(x.created), "modified": stamp(x.updated),
				"expires_at": stamp(x.expires)}))
			core := srv.Call(GinkgoT(), "GET", "admin/projects/"+org+"/invites/"+x.id, srv.AdminToken, nil)
			Expect(core.Status).To(Equal(200), string(core.Body))
			Expect(core.JSON()).To(HaveKeyWithValue("sent", BeEquivalentTo(x.sent)), x.id)
		}
		list := call("GET", org+"/invites/", nil)
		Expect(list.Status).To(Equal(200), string(list.Body))
		Expect(list.JSON()["count"]).To(BeEquivalentTo(3))
		var ids []string
		for _, it := range list.JSON()["results"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		Expect(ids).To(Equal([]string{"minv-pending", "minv-accepted", "minv-revoked"}))

		By("refusing to resend the accepted and the revoked ones, as before")
		r = call("POST", "invites/minv-accepted/resend/", nil)
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"detail": "This invite was already accepted and cannot be resent."}))
		r = call("POST", "invites/minv-revoked/resend/", nil)
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"detail": "This invite was revoked and cannot be resent."}))

		By("resending the pending one: a new link, the old one dead, and the new one accepts it")
		r = call("POST", "invites/minv-pending/resend/", nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("status", "pending"))
		core := srv.Call(GinkgoT(), "GET", "admin/projects/"+org+"/invites/minv-pending", srv.AdminToken, nil)
		Expect(core.JSON()).To(HaveKeyWithValue("sent", BeEquivalentTo(3)))
		var kind, text string
		Expect(srv.DB.QueryRowContext(ctx, "SELECT kind, body_text FROM outbox WHERE to_addr = '"+pendingEmail+"' ORDER BY created_at DESC LIMIT 1").
			Scan(&kind, &text)).To(Succeed())
		Expect(kind).To(Equal("medallion-invite"))
		Expect(text).To(ContainSubstring(name))
		id, secret, err := srv.SetPasswordLink(text)
		Expect(err).NotTo(HaveOccurred())
		Expect(id).NotTo(Equal(oldLink))
		refused, err := srv.SetPassword(oldLink, oldSecret, "upgrade-member-pw-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(refused.Status).To(Equal(400), string(refused.Body))
		ok, err := srv.SetPassword(id, secret, "upgrade-member-pw-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(ok.Status).To(Equal(200), string(ok.Body))
		r = call("GET", "invites/minv-pending/", nil)
		Expect(r.JSON()).To(HaveKeyWithValue("status", "accepted"))
		Expect(strings.ToLower(r.JSON()["email"].(string))).To(Equal(strings.ToLower(pendingEmail)))
	})
})
