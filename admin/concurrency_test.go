package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"unicode"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// mixedCase spells s with letters upper-cased by the bits of n.
func mixedCase(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if (n>>(i%8))&1 == 1 {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// secondProcess starts another Roster on s's database, as a second process
// sharing it would: its own connection pool, its own router.
func secondProcess(s *fixtures.Server) *fixtures.Server {
	GinkgoHelper()
	a, err := app.New(context.Background(), s.App.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
	Expect(err).NotTo(HaveOccurred())
	h := httptest.NewServer(a.Echo)
	DeferCleanup(func() {
		h.Close()
		a.Close()
	})
	return &fixtures.Server{App: a, HTTP: h, URL: h.URL + "/", DefaultProject: s.DefaultProject, AdminToken: s.AdminToken}
}

type answer struct {
	status int
	id     string
	body   string
}

// inviteAll sends the invites at once, spread over servers, and returns the answers.
func inviteAll(servers []*fixtures.Server, token string, projects []string, bodies []map[string]any) []answer {
	return fixtures.Concurrently(len(bodies), func(i int) answer {
		s := servers[i%len(servers)]
		r, err := s.Do("POST", invitePath(projects[i%len(projects)]), token, bodies[i])
		if err != nil {
			return answer{body: err.Error()}
		}
		id, _ := r.JSON()["id"].(string)
		return answer{status: r.Status, id: id, body: string(r.Body)}
	})
}

func statuses(as []answer) map[int]int {
	out := map[int]int{}
	for _, a := range as {
		out[a.status]++
	}
	return out
}

var _ = Describe("Concurrent invites", func() {
	const n = 20
	var (
		p      project
		email  string
		bodies []map[string]any
	)

	BeforeEach(func() {
		p = newProject(srv)
		email = "dr.who-" + uniq() + "@x.com"
		bodies = nil
		for i := range n {
			bodies = append(bodies, practitioner(mixedCase(email, i*37+1)))
		}
	})

	// exactlyOne checks the invitee exists once, with one membership in each of projects.
	exactlyOne := func(projects ...string) {
		GinkgoHelper()
		Expect(users(srv, email)).To(HaveLen(1))
		for _, pid := range projects {
			var mine int
			for _, m := range memberships(srv, pid) {
				if display(m, "user") == email {
					mine++
				}
			}
			Expect(mine).To(Equal(1), "memberships of the invitee in "+pid)
			Expect(mails(srv, pid, email)).To(HaveLen(1))
		}
	}

	It("of one email in mixed case yield one User, one profile, one membership; the others are 409", func() {
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 1, 409: n - 1}), "%v", as)
		for _, a := range as {
			if a.status == 409 {
				Expect(a.body).To(ContainSubstring("User is already a member of this project"))
			}
		}
		exactlyOne(p.ID)
		Expect(profiles(srv, "Practitioner", email)).To(HaveLen(1))
	})

	It("of 50 invites of one email in mixed case yield one membership and one invitation, even beside a forced one", func() {
		var many []map[string]any
		for i := range 50 {
			many = append(many, practitioner(mixedCase(email, i*37+1)))
		}
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, many)
		Expect(statuses(as)).To(Equal(map[int]int{200: 1, 409: 49}), "%v", as)
		exactlyOne(p.ID)
		r := do(srv, "GET", "admin/projects/"+p.ID+"/invites?email="+email, p.Token, nil)
		Expect(r.JSON()["total"]).To(BeNumerically("==", 1), string(r.Body))

		By("a forced membership beside it leaving the guarantee in place for ordinary invites")
		forced := invite(srv, p.Token, p.ID, with(practitioner(email), "forceNewMembership", true))
		Expect(forced.Status).To(Equal(200), string(forced.Body))
		as = inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, many)
		Expect(statuses(as)).To(Equal(map[int]int{409: 50}), "%v", as)
		var mine int
		for _, m := range memberships(srv, p.ID) {
			if display(m, "user") == email {
				mine++
			}
		}
		Expect(mine).To(Equal(2), "the first and the forced one")
	})

	It("with upsert all answer 200 with the same membership", func() {
		for i := range bodies {
			bodies[i] = with(bodies[i], "upsert", true)
		}
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: n}), "%v", as)
		for _, a := range as {
			Expect(a.id).To(Equal(as[0].id))
		}
		exactlyOne(p.ID)
		Expect(profiles(srv, "Practitioner", email)).To(HaveLen(1))
	})

	It("of one email into several projects at once yield one User and a membership in each", func() {
		var pids []string
		for range 5 {
			pids = append(pids, newProject(srv).ID)
		}
		as := inviteAll([]*fixtures.Server{srv}, srv.AdminToken, pids, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 5, 409: n - 5}), "%v", as)
		exactlyOne(pids...)
		Expect(profiles(srv, "Practitioner", email)).To(HaveLen(5), "one profile per project")
	})

	It("of one patient email yield one project-scoped User", func() {
		for i := range bodies {
			bodies[i] = with(bodies[i], "resourceType", "Patient")
		}
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 1, 409: n - 1}), "%v", as)
		exactlyOne(p.ID)
		Expect(profiles(srv, "Patient", email)).To(HaveLen(1))
	})

	It("of one externalId without email yield one membership", func() {
		ext := "ext-" + uniq()
		for i := range bodies {
			bodies[i] = with(bodies[i], "email", nil, "externalId", ext)
		}
		as := inviteAll([]*fixtures.Server{srv}, p.Token, []string{p.ID}, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: 1, 409: n - 1}), "%v", as)
		var mine int
		for _, m := range memberships(srv, p.ID) {
			if m["externalId"] == ext {
				mine++
			}
		}
		Expect(mine).To(Equal(1))
	})

	It("through two Roster processes sharing one database yield one User, one profile, one membership", func() {
		servers := []*fixtures.Server{srv, secondProcess(srv)}
		var pids []string
		for range 3 {
			pids = append(pids, newProject(srv).ID)
		}
		for i := range bodies {
			bodies[i] = with(bodies[i], "upsert", true)
		}
		as := inviteAll(servers, srv.AdminToken, pids, bodies)
		Expect(statuses(as)).To(Equal(map[int]int{200: n}), "%v", as)
		exactlyOne(pids...)
		Expect(profiles(srv, "Practitioner", email)).To(HaveLen(3))
	})
})
