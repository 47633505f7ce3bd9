package admin_test

import (
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// memberIDs lists the membershipIds of GET …/members?query, in order, and
// the total.
func memberIDs(p project, query url.Values) ([]string, int) {
	GinkgoHelper()
	r := do(srv, "GET", "admin/projects/"+p.ID+"/members?"+query.Encode(), p.token(), nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	var ids []string
	for _, m := range asSlice(r.JSON()["members"]) {
		ids = append(ids, m.(map[string]any)["membershipId"].(string))
	}
	return ids, int(r.JSON()["total"].(float64))
}

// memberRow is the member's entry in the project's list.
func memberRow(p project, membershipID string) map[string]any {
	GinkgoHelper()
	r := do(srv, "GET", "admin/projects/"+p.ID+"/members?_count=1000", p.token(), nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	for _, m := range asSlice(r.JSON()["members"]) {
		if m.(map[string]any)["membershipId"] == membershipID {
			return m.(map[string]any)
		}
	}
	return nil
}

func named(first, last, email string) map[string]any {
	return map[string]any{"resourceType": "Practitioner", "firstName": first, "lastName": last, "email": email}
}

var _ = Describe("The members list's filters and orders", func() {
	var (
		p                        project
		owner                    string // the project admin's own membership
		ada, grace, alan, edsger invited
	)

	BeforeEach(func() {
		p = newProject(srv)
		ids, _ := memberIDs(p, url.Values{})
		Expect(ids).To(HaveLen(1))
		owner = ids[0]
		ada = inviteInto(srv, p, named("Ada", "Lovelace", "ada-"+uniq()+"@analytical.example"))
		grace = inviteInto(srv, p, with(named("Grace", "Hopper", "grace-"+uniq()+"@navy.example"), "password", invitePassword))
		alan = inviteInto(srv, p, named("Alan", "Turing", "alan-"+uniq()+"@bletchley.example"))
		edsger = inviteInto(srv, p, named("Edsger", "Dijkstra", "edsger-"+uniq()+"@eindhoven.example"))
		_, err := srv.LoginFull(grace.email, invitePassword, p.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(alan.act("revoke").Status).To(Equal(200)) // alan's membership goes inactive
	})

	It("shows each member's email and last sign-in", func() {
		g := memberRow(p, grace.membership)
		Expect(g).To(HaveKeyWithValue("email", grace.email))
		Expect(instant(g["lastSignIn"])).To(BeTemporally("~", time.Now(), time.Minute))
		a := memberRow(p, ada.membership)
		Expect(a).To(HaveKeyWithValue("email", ada.email))
		Expect(a).NotTo(HaveKey("lastSignIn"), "never signed in")
	})

	DescribeTable("filters by text in the name or the email, ignoring case, with the total of the matches",
		func(q func() string, want func() []string) {
			ids, total := memberIDs(p, url.Values{"q": {q()}, "_sort": {"name"}})
			Expect(ids).To(Equal(want()))
			Expect(total).To(Equal(len(want())))
		},
		Entry("a last name, in another case", func() string { return "LOVEL" }, func() []string { return []string{ada.membership} }),
		Entry("a full name", func() string { return "grace hopper" }, func() []string { return []string{grace.membership} }),
		Entry("part of an email", func() string { return "@bletchley" }, func() []string { return []string{alan.membership} }),
		Entry("a letter in several names", func() string { return "ra" }, func() []string { return []string{edsger.membership, grace.membership} }),
		Entry("LIKE's wildcards, literally", func() string { return "%" }, func() []string { return nil }),
		Entry("nothing", func() string { return "zz-nobody" }, func() []string { return nil }),
	)

	DescribeTable("filters by activity and by the invitation's status",
		func(query url.Values, want func() []string) {
			query.Set("_sort", "name")
			ids, total := memberIDs(p, query)
			Expect(ids).To(Equal(want()))
			Expect(total).To(Equal(len(want())))
		},
		Entry("active", url.Values{"active": {"true"}}, func() []string {
			return []string{ada.membership, edsger.membership, grace.membership, owner}
		}),
		Entry("deactivated", url.Values{"active": {"false"}}, func() []string { return []string{alan.membership} }),
		Entry("pending", url.Values{"invitation": {"pending"}}, func() []string { return []string{ada.membership, edsger.membership} }),
		Entry("accepted", url.Values{"invitation": {"accepted"}}, func() []string { return []string{grace.membership} }),
		Entry("revoked", url.Values{"invitation": {"revoked"}}, func() []string { return []string{alan.membership} }),
		Entry("active and pending, with text", url.Values{"active": {"true"}, "invitation": {"pending"}, "q": {"dijk"}},
			func() []string { return []string{edsger.membership} }),
	)

	It("tells an expired invitation from a pending one by the server's clock", func() {
		advanceClock(8 * 24 * time.Hour)
		Expect(ada.act("resend").Status).To(Equal(200)) // a resend renews it
		ids, _ := memberIDs(p, url.Values{"invitation": {"expired"}})
		Expect(ids).To(ConsistOf(edsger.membership))
		ids, _ = memberIDs(p, url.Values{"invitation": {"pending"}})
		Expect(ids).To(ConsistOf(ada.membership))
		Expect(memberRow(p, edsger.membership)["invitation"]).To(HaveKeyWithValue("status", "expired"))
	})

	DescribeTable("sorts both ways, the membership id breaking ties",
		func(sort string, want func() []string) {
			ids, _ := memberIDs(p, url.Values{"_sort": {sort}})
			Expect(ids).To(Equal(want()))
		},
		Entry("by name", "name", func() []string {
			return []string{ada.membership, alan.membership, edsger.membership, grace.membership, owner}
		}),
		Entry("by name, reversed", "-name", func() []string {
			return []string{owner, grace.membership, edsger.membership, alan.membership, ada.membership}
		}),
		Entry("by email (the owner's is clinic-…)", "email", func() []string {
			return []string{ada.membership, alan.membership, owner, edsger.membership, grace.membership}
		}),
		Entry("by last sign-in, most recent first", "-lastSignIn", func() []string {
			// The owner signed in when the project was made, Grace after;
			// the others never did, and come by id, reversed too.
			never := []string{ada.membership, alan.membership, edsger.membership}
			sort.Sort(sort.Reverse(sort.StringSlice(never)))
			return append([]string{grace.membership, owner}, never...)
		}),
		Entry("by last change, oldest first", "_lastUpdated", func() []string {
			return []string{owner, ada.membership, grace.membership, edsger.membership, alan.membership}
		}),
		Entry("by last change, newest first (the default's order)", "-_lastUpdated", func() []string {
			return []string{alan.membership, edsger.membership, grace.membership, ada.membership, owner}
		}),
	)

	It("pages through a filtered order", func() {
		ids, total := memberIDs(p, url.Values{"active": {"true"}, "_sort": {"name"}, "_count": {"2"}, "_offset": {"1"}})
		Expect(total).To(Equal(4))
		Expect(ids).To(Equal([]string{edsger.membership, grace.membership}))
	})

	It("follows a change of email, a change of activity, and a deletion", func() {
		next := "countess-" + uniq() + "@analytical.example"
		r := do(srv, "POST", "fhir/R4/User/"+ada.user+"/$update-email", p.Token, map[string]any{"email": next})
		Expect(r.Status).To(Equal(200), string(r.Body))
		ids, _ := memberIDs(p, url.Values{"q": {"countess"}})
		Expect(ids).To(Equal([]string{ada.membership}))
		Expect(memberRow(p, ada.membership)).To(HaveKeyWithValue("email", next))

		r = do(srv, "POST", "admin/projects/"+p.ID+"/members/"+alan.membership, p.Token, map[string]any{"active": true})
		Expect(r.Status).To(Equal(200), string(r.Body))
		ids, _ = memberIDs(p, url.Values{"active": {"false"}})
		Expect(ids).To(BeEmpty())

		Expect(do(srv, "DELETE", "admin/projects/"+p.ID+"/members/"+edsger.membership, p.Token, nil).Status).To(Equal(200))
		ids, total := memberIDs(p, url.Values{})
		Expect(ids).NotTo(ContainElement(edsger.membership))
		Expect(total).To(Equal(4))
	})

	It("lists a membership written through FHIR, whoever wrote it", func() {
		pr := newPractitioner(srv, p.Token, "fhir-"+uniq()+"@example.com")
		user := create(srv, srv.AdminToken, map[string]any{"resourceType": "User", "firstName": "Rosalind", "lastName": "Franklin",
			"email": "rosalind-" + uniq() + "@kings.example"})
		m := create(srv, p.Token, map[string]any{"resourceType": "ProjectMembership", "user": map[string]any{"reference": "User/" + user},
			"profile": map[string]any{"reference": "Practitioner/" + pr, "display": "Rosalind Franklin"}})
		ids, _ := memberIDs(p, url.Values{"q": {"rosalind"}})
		Expect(ids).To(Equal([]string{m}))
		Expect(memberRow(p, m)).To(HaveKeyWithValue("invitation", BeNil()))
	})

	It("lists a membership a transaction Bundle writes before its User, with the User's email", func() {
		email := "bundled-" + uniq() + "@example.com"
		r := do(srv, "POST", "fhir/R4", p.Token, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"fullUrl": "urn:uuid:6c1a4f0e-0000-4000-8000-000000000001", "request": map[string]any{"method": "POST", "url": "ProjectMembership"},
				"resource": map[string]any{"resourceType": "ProjectMembership",
					"user":    map[string]any{"reference": "urn:uuid:6c1a4f0e-0000-4000-8000-000000000002"},
					"profile": map[string]any{"reference": "urn:uuid:6c1a4f0e-0000-4000-8000-000000000003", "display": "Bea Bundled"}}},
			map[string]any{"fullUrl": "urn:uuid:6c1a4f0e-0000-4000-8000-000000000002", "request": map[string]any{"method": "POST", "url": "User"},
				"resource": map[string]any{"resourceType": "User", "firstName": "Bea", "lastName": "Bundled", "email": email,
					"project": map[string]any{"reference": "Project/" + p.ID}}},
			map[string]any{"fullUrl": "urn:uuid:6c1a4f0e-0000-4000-8000-000000000003", "request": map[string]any{"method": "POST", "url": "Practitioner"},
				"resource": map[string]any{"resourceType": "Practitioner", "name": []any{map[string]any{"given": []any{"Bea"}, "family": "Bundled"}}}},
		}})
		Expect(r.Status).To(Equal(200), string(r.Body))
		ids, _ := memberIDs(p, url.Values{"q": {email}})
		Expect(ids).To(HaveLen(1), "found by the email of a User written after it")
	})

	It("sorts and finds a name longer than an index entry may be by its first 256 bytes", func() {
		long := strings.Repeat("Wolfeschlegelsteinhausenbergerdorff", 100)
		m := inviteInto(srv, p, named("Hubert", long, "long-"+uniq()+"@example.com"))
		ids, _ := memberIDs(p, url.Values{"q": {"hubert wolfeschlegel"}})
		Expect(ids).To(Equal([]string{m.membership}))
		Expect(memberRow(p, m.membership)).To(HaveKeyWithValue("name", "Hubert "+long), "the list shows the whole name")
	})

	DescribeTable("answers bad parameters with 400 naming each",
		func(query string, fields ...string) {
			r := do(srv, "GET", "admin/projects/"+p.ID+"/members?"+query, p.Token, nil)
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(expressions(r)).To(ConsistOf(fields))
		},
		Entry("an unknown status", "invitation=lost", "invitation"),
		Entry("active not a boolean", "active=maybe", "active"),
		Entry("an unknown order", "_sort=birthDate", "_sort"),
		Entry("a control character in q", "q=a%00b", "q"),
		Entry("a q too long", "q="+strings.Repeat("x", 201), "q"),
		Entry("several at once", "_sort=-x&active=1&_count=0", "_sort", "active", "_count"),
	)
})

var _ = Describe("GET /admin/projects", func() {
	It("lists the projects the caller's user administers, by name, with its membership in each", func() {
		a, b := newProject(srv), newProject(srv)
		email := emailFor("two-hats")
		Expect(srv.AddMember(a.ID, email, "Mary", "Twohats", fixtures.AdminPassword, true)).To(Succeed())
		inviteInto(srv, b, with(named("Mary", "Twohats", email), "membership", map[string]any{"admin": true}))
		inviteInto(srv, newProject(srv), named("Mary", "Twohats", email))
		tok, err := srv.LoginFull(email, fixtures.AdminPassword, a.ID)
		Expect(err).NotTo(HaveOccurred())

		r := do(srv, "GET", "admin/projects", tok.AccessToken, nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
		Expect(r.JSON()["total"]).To(BeNumerically("==", 2), "not the project where the user is a member only")
		var ids []string
		for _, v := range asSlice(r.JSON()["projects"]) {
			pr := v.(map[string]any)
			ids = append(ids, pr["id"].(string))
			Expect(pr["name"]).To(HavePrefix("Clinic "))
			Expect(pr["membership"]).NotTo(BeEmpty())
		}
		Expect(ids).To(ConsistOf(a.ID, b.ID))

		r = do(srv, "GET", "admin/projects?_count=1&_offset=1", tok.AccessToken, nil)
		Expect(asSlice(r.JSON()["projects"])).To(HaveLen(1))
	})

	It("lists none for a member who administers nothing, every project for the super admin, and refuses no token", func() {
		p := newProject(srv)
		_, token := member(srv, p.ID)
		r := do(srv, "GET", "admin/projects", token, nil)
		Expect(r.Status).To(Equal(200))
		Expect(r.JSON()["total"]).To(BeNumerically("==", 0))
		Expect(asSlice(r.JSON()["projects"])).To(BeEmpty())

		r = do(srv, "GET", "admin/projects?_count=1000", srv.AdminToken, nil)
		Expect(r.Status).To(Equal(200))
		var ids []string
		for _, v := range asSlice(r.JSON()["projects"]) {
			ids = append(ids, v.(map[string]any)["id"].(string))
		}
		Expect(ids).To(ContainElements(p.ID, srv.DefaultProject))

		Expect(do(srv, "GET", "admin/projects", "", nil).Status).To(Equal(401))
		Expect(do(srv, "GET", "admin/projects?_count=0", srv.AdminToken, nil).Status).To(Equal(400))
	})
})
