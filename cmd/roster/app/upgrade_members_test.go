package app_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// Migration 27: the member directory the members list reads is written for
// the memberships stored before it, with their users' emails and last
// sign-ins.
var _ = Describe("Upgrading a database to the member directory", func() {
	srv := freshDBServer()

	It("lists every membership stored before, with its email and last sign-in, in every order", func() {
		ctx := context.Background()
		project, token, adminEmail, err := srv.ProjectAdmin("Directory " + fixtures.Uniq())
		Expect(err).NotTo(HaveOccurred())
		zoe, yuri := fixtures.Email("zoe"), fixtures.Email("yuri")
		Expect(srv.AddMember(project, zoe, "Zoe", "Zimmer", "a-good-long-password", false)).To(Succeed())
		Expect(srv.AddMember(project, yuri, "Yuri", "Young", "a-good-long-password", false)).To(Succeed())
		_, err = srv.LoginFull(yuri, "a-good-long-password", project)
		Expect(err).NotTo(HaveOccurred())
		xena := fixtures.Email("xena")
		r, err := srv.Do("POST", "admin/projects/"+project+"/invite", token, map[string]any{"resourceType": "Practitioner",
			"firstName": "Xena", "lastName": "Xu", "email": xena})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))

		By("putting the database back as it was before migration 27")
		for _, stmt := range []string{"DROP TABLE member_directory", "DROP INDEX invitations_membership_created",
			"CREATE INDEX invitations_membership ON invitations (membership_id)", "DELETE FROM schema_migrations WHERE version = 27"} {
			_, err := srv.DB.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())

		list := func(query string) []map[string]any {
			GinkgoHelper()
			r, err := srv.Do("GET", "admin/projects/"+project+"/members?"+query, token, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))
			var out []map[string]any
			for _, m := range r.JSON()["members"].([]any) {
				out = append(out, m.(map[string]any))
			}
			return out
		}
		byName := list("_sort=-name")
		Expect(byName).To(HaveLen(4))
		Expect([]any{byName[0]["name"], byName[1]["name"], byName[2]["name"], byName[3]["name"]}).
			To(Equal([]any{"Zoe Zimmer", "Yuri Young", "Xena Xu", "Pat Admin"}))
		Expect(byName[2]["invitation"]).To(HaveKeyWithValue("status", "pending"), "the newest invitation, found again")
		Expect(list("invitation=pending")).To(HaveLen(1))
		byName = append(byName[:2], byName[3])
		Expect(byName[0]).To(HaveKeyWithValue("email", zoe))
		Expect(byName[0]).NotTo(HaveKey("lastSignIn"))
		signedIn, err := time.Parse(time.RFC3339Nano, byName[1]["lastSignIn"].(string))
		Expect(err).NotTo(HaveOccurred())
		Expect(signedIn).To(BeTemporally("~", time.Now(), time.Minute))
		Expect(byName[2]).To(HaveKeyWithValue("email", strings.ToLower(adminEmail)), "as the address is kept: normalized")
		Expect(list("q=young")).To(HaveLen(1))
		Expect(list("_sort=-lastSignIn")[0]["name"]).To(Equal("Yuri Young"))
	})
})
