package admin_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// Load specs of the invite (issue 7): more invites at once than
// concurrency_test.go sends, on PostgreSQL only, where writers really run in
// parallel (SQLite has one writer and would only queue them). Bounded: 50
// requests per spec, a minute at most. 20 concurrent redemptions of one
// link are specified in auth/links_test.go.
var _ = Describe("Invites under load", Label("load"), func() {
	const n = 50

	BeforeEach(func() {
		if fixtures.DatabaseURL() == "" {
			Skip("PostgreSQL only: set ROSTER_TEST_DATABASE_URL")
		}
	})

	// invitee counts what exists of email: Users, Practitioners, and its
	// memberships in each of projects.
	invitee := func(email string, projects []string) (nUsers, nProfiles int, perProject map[string]int) {
		GinkgoHelper()
		perProject = map[string]int{}
		for _, pid := range projects {
			for _, m := range memberships(srv, pid) {
				if display(m, "user") == email {
					perProject[pid]++
				}
			}
		}
		return len(users(srv, email)), len(profiles(srv, "Practitioner", email)), perProject
	}

	It("50 concurrent invites of one email in mixed case make 1 User, 1 profile, 1 membership and 1 mail", SpecTimeout(time.Minute), func(_ SpecContext) {
		p := newProject(srv)
		email := "load-" + uniq() + "@example.com"
		bodies := make([]map[string]any, n)
		for i := range bodies {
			bodies[i] = practitioner(mixedCase(email, i*53+7))
		}
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 1, 409: n - 1}), "%v", as)

		nUsers, nProfiles, per := invitee(email, []string{p.ID})
		Expect(nUsers).To(Equal(1))
		Expect(nProfiles).To(Equal(1))
		Expect(per).To(Equal(map[string]int{p.ID: 1}))
		Expect(mails(srv, p.ID, email)).To(HaveLen(1))
	})

	It("one email invited into 10 projects at once makes 1 User and 10 memberships", SpecTimeout(time.Minute), func(_ SpecContext) {
		var pids []string
		for range 10 {
			pids = append(pids, newProject(srv).ID)
		}
		email := "load-" + uniq() + "@example.com"
		bodies := make([]map[string]any, n) // 5 per project, in mixed case
		for i := range bodies {
			bodies[i] = practitioner(mixedCase(email, i*29+3))
		}
		as := inviteAll([]*fixtures.Server{srv}, srv.AdminToken, pids, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 10, 409: n - 10}), "%v", as)

		nUsers, nProfiles, per := invitee(email, pids)
		Expect(nUsers).To(Equal(1))
		Expect(nProfiles).To(Equal(10), "one profile per project")
		Expect(per).To(HaveLen(10))
		for _, pid := range pids {
			Expect(per).To(HaveKeyWithValue(pid, 1))
			Expect(mails(srv, pid, email)).To(HaveLen(1))
		}
	})
})
