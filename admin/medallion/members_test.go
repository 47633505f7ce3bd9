package medallion_test

import (
	"context"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/medallion"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// membership reads a membership straight from the core.
func membership(id string) *resources.ProjectMembership {
	GinkgoHelper()
	return fixtures.Read[*resources.ProjectMembership](GinkgoT(), srv, "ProjectMembership", id)
}

// practitioner reads a Practitioner straight from the core.
func practitioner(id string) *resources.Practitioner {
	GinkgoHelper()
	return fixtures.Read[*resources.Practitioner](GinkgoT(), srv, "Practitioner", id)
}

// usersWithEmail counts the Users having addr.
func usersWithEmail(addr string) int {
	GinkgoHelper()
	users, err := admin.Search[*resources.User](context.Background(), srv.App.Resources, "", "User", url.Values{"email": {addr}})
	Expect(err).NotTo(HaveOccurred())
	return len(users)
}

var _ = Describe("Medallion credentials", func() {
	DescribeTable("refuse a request without a valid key, doing nothing",
		func(headers []string, detail string) {
			addr := email("nokey")
			r := do("POST", "members/", map[string]any{"role": "admin", "user": map[string]string{"email": addr}}, headers...)
			Expect(r.Status).To(Equal(401))
			Expect(r.JSON()).To(Equal(map[string]any{"detail": detail}))
			Expect(usersWithEmail(addr)).To(BeZero())
		},
		Entry("no key", []string{}, "Authentication credentials were not provided."),
		Entry("a wrong key", []string{"x-api-key", "not-a-key"}, "Incorrect authentication credentials."),
		Entry("a wrong bearer token", []string{"Authorization", "Bearer nope"}, "Incorrect authentication credentials."),
	)

	It("lists nothing without a key", func() {
		r := do("GET", "members/", nil)
		Expect(r.Status).To(Equal(401))
	})
})

var _ = Describe("Medallion members", func() {
	var o org
	BeforeEach(func() { o = newOrg() })

	When("an admin is created", func() {
		It("answers 201 with the member and writes a User, a Practitioner and a membership carrying the role", func() {
			addr := email("admin")
			m := o.createMember("admin", addr, map[string]any{"last_name": "Doe"})
			Expect(m).To(HaveKeyWithValue("role", "admin"))
			Expect(m).To(HaveKeyWithValue("is_active", true))
			Expect(m).To(HaveKeyWithValue("organization", o.ID))
			Expect(m).To(HaveKeyWithValue("provider", BeNil()))
			Expect(m["user"]).To(SatisfyAll(HaveKeyWithValue("email", addr), HaveKeyWithValue("last_name", "Doe"),
				HaveKeyWithValue("first_name", ""), HaveKey("id")))
			Expect(m["created"]).NotTo(BeEmpty())

			pm := membership(m["id"].(string))
			Expect(pm.Project.Reference).To(Equal("Project/" + o.ID))
			Expect(*pm.Admin).To(BeTrue())
			Expect(pm.AccessPolicy).To(BeNil())
			var role string
			Expect(resources.ExtensionValue(pm.Extension, medallion.RoleURL, "valueCode", &role)).To(BeTrue())
			Expect(role).To(Equal("admin"))
			Expect(pm.Profile.Reference).To(HavePrefix("Practitioner/"))
			Expect(usersWithEmail(addr)).To(Equal(1))
		})
	})

	When("a provider is created", func() {
		It("accepts provider as an object and keeps the profession on the Practitioner", func() {
			m := o.createMember("provider", email("prov"), map[string]any{"provider": map[string]any{"profession": "MD"},
				"first_name": "Jane", "last_name": "Doe"})
			p := m["provider"].(map[string]any)
			Expect(p).To(HaveKeyWithValue("profession", "MD"))
			Expect(p).To(HaveKeyWithValue("first_name", "Jane"))
			pr := practitioner(p["id"].(string))
			Expect(pr.Qualification).To(HaveLen(1))
			Expect(pr.Qualification[0].Code.Coding[0]).To(Equal(resources.Coding{System: medallion.ProfessionSystem, Code: "MD"}))
			Expect(pr.Name[0].Given).To(Equal([]string{"Jane"}))
			Expect(pr.Name[0].Family).To(Equal("Doe"))
			pm := membership(m["id"].(string))
			Expect(*pm.Admin).To(BeFalse())
			Expect(pm.AccessPolicy).NotTo(BeNil())
		})

		It("accepts provider as a one-element list, as Medallion's own sample sends it", func() {
			m := o.createMember("super_provider", email("super"), map[string]any{"provider": []any{map[string]any{"profession": "DO"}}})
			Expect(m["provider"]).To(HaveKeyWithValue("profession", "DO"))
			Expect(*membership(m["id"].(string)).Admin).To(BeTrue())
		})

		It("refuses a list of two providers", func() {
			r := o.call("POST", "members/", map[string]any{"role": "provider", "user": map[string]string{"email": email("two")},
				"provider": []any{map[string]any{"profession": "MD"}, map[string]any{"profession": "DO"}}})
			Expect(r.Status).To(Equal(400))
			Expect(r.JSON()).To(HaveKey("provider"))
		})
	})

	DescribeTable("validation answers 400 with Django REST's field errors and writes nothing",
		func(body map[string]any, want map[string]any) {
			r := o.call("POST", "members/", body)
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(r.JSON()).To(Equal(want))
			if u, ok := body["user"].(map[string]any); ok {
				if e, ok := u["email"].(string); ok && e != "" {
					Expect(usersWithEmail(e)).To(BeZero())
				}
			}
		},
		Entry("an unknown role", map[string]any{"role": "owner", "user": map[string]any{"email": "owner-x@medallion.example.com"}},
			map[string]any{"role": []any{`"owner" is not a valid choice.`}}),
		Entry("no role", map[string]any{"user": map[string]any{"email": "norole-x@medallion.example.com"}},
			map[string]any{"role": []any{"This field is required."}}),
		Entry("no email", map[string]any{"role": "admin", "user": map[string]any{}},
			map[string]any{"user": map[string]any{"email": []any{"This field is required."}}}),
		Entry("a malformed email", map[string]any{"role": "admin", "user": map[string]any{"email": "not-an-email"}},
			map[string]any{"user": map[string]any{"email": []any{"Enter a valid email address."}}}),
		Entry("a provider on a non-provider role", map[string]any{"role": "auditor", "user": map[string]any{"email": "aud-x@medallion.example.com"},
			"provider": map[string]any{"profession": "MD"}},
			map[string]any{"provider": []any{"Only provider and super_provider members have a provider profile."}}),
	)

	It("refuses an email already in the organization (any case) with 400, changing nothing", func() {
		addr := email("dup")
		first := o.createMember("auditor", addr, nil)
		before := membership(first["id"].(string)).Meta.VersionID
		r := o.call("POST", "members/", map[string]any{"role": "admin", "user": map[string]string{"email": "  " + upper(addr)}})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"user": map[string]any{"email": []any{"A member with this email already exists in this organization."}}}))
		Expect(membership(first["id"].(string)).Meta.VersionID).To(Equal(before))
		list := obj(o.call("GET", "members/?user__email="+url.QueryEscape(addr), nil))
		Expect(list["count"]).To(BeEquivalentTo(1))
		Expect(usersWithEmail(addr)).To(Equal(1))
	})

	It("lets the same person be a member of two organizations", func() {
		addr := email("two-orgs")
		o.createMember("admin", addr, nil)
		other := newOrg()
		other.createMember("auditor", addr, nil)
		Expect(usersWithEmail(addr)).To(Equal(1))
	})

	Describe("listing", func() {
		It("filters by user__email case-insensitively and pages Django-style", func() {
			addrs := []string{email("l1"), email("l2"), email("l3")}
			for _, a := range addrs {
				o.createMember("auditor", a, nil)
			}
			r := o.call("GET", "members/?user__email="+url.QueryEscape(upper(addrs[1])), nil)
			Expect(r.Status).To(Equal(200))
			page := obj(r)
			Expect(page["count"]).To(BeEquivalentTo(1))
			Expect(page["next"]).To(BeNil())
			Expect(page["previous"]).To(BeNil())
			Expect(page["results"].([]any)[0].(map[string]any)["user"]).To(HaveKeyWithValue("email", addrs[1]))

			first := obj(o.call("GET", "members/?limit=2", nil))
			Expect(first["count"]).To(BeEquivalentTo(3))
			Expect(first["results"]).To(HaveLen(2))
			Expect(first["previous"]).To(BeNil())
			next, _ := first["next"].(string)
			Expect(next).To(ContainSubstring("offset=2"))
			u, _ := url.Parse(next)
			second := obj(o.call("GET", "members/?"+u.RawQuery, nil))
			Expect(second["results"]).To(HaveLen(1))
			Expect(second["next"]).To(BeNil())
			Expect(second["previous"]).NotTo(BeNil())

			none := obj(o.call("GET", "members/?user__email=nobody@medallion.example.com", nil))
			Expect(none["count"]).To(BeEquivalentTo(0))
			Expect(none["results"]).To(BeEmpty())
		})

		It("does not list the organization's API client or another organization's members", func() {
			o.createMember("admin", email("mine"), nil)
			newOrg().createMember("admin", email("theirs"), nil)
			page := obj(o.call("GET", "members/", nil))
			Expect(page["count"]).To(BeEquivalentTo(1))
		})
	})

	Describe("one member", func() {
		var id, addr string
		BeforeEach(func() {
			addr = email("one")
			id = o.createMember("provider", addr, map[string]any{"provider": map[string]any{"profession": "NP"}})["id"].(string)
		})

		It("is read with GET", func() {
			r := o.call("GET", "members/"+id+"/", nil)
			Expect(r.Status).To(Equal(200))
			Expect(obj(r)["provider"]).To(HaveKeyWithValue("profession", "NP"))
		})

		It("is 404 to another organization, for every route", func() {
			other := newOrg()
			for _, r := range []*fixtures.Response{
				other.call("GET", "members/"+id+"/", nil),
				other.call("PATCH", "members/"+id+"/", map[string]any{"is_active": false}),
				other.call("POST", "members/"+id+"/change-email/", map[string]any{"new_email": email("x")}),
				other.call("POST", other.ID+"/invites/", map[string]any{"membership_id": id}),
			} {
				Expect(r.Status).To(Equal(404), string(r.Body))
				Expect(r.JSON()).To(Equal(map[string]any{"detail": "Not found."}))
			}
			Expect(*membership(id).Active).To(BeTrue())
		})

		It("is 404 when unknown", func() {
			Expect(o.call("GET", "members/00000000-0000-0000-0000-000000000000/", nil).Status).To(Equal(404))
		})

		It("changes role with PATCH, moving the core admin flag and access policy", func() {
			r := o.call("PATCH", "members/"+id+"/", map[string]any{"role": "admin"})
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(obj(r)).To(HaveKeyWithValue("role", "admin"))
			pm := membership(id)
			Expect(*pm.Admin).To(BeTrue())
			Expect(pm.AccessPolicy).To(BeNil())
			r = o.call("PATCH", "members/"+id+"/", map[string]any{"role": "boss"})
			Expect(r.Status).To(Equal(400))
			Expect(r.JSON()).To(Equal(map[string]any{"role": []any{`"boss" is not a valid choice.`}}))
			r = o.call("PATCH", "members/"+id+"/", map[string]any{"is_active": "maybe"})
			Expect(r.Status).To(Equal(400))
			Expect(r.JSON()).To(Equal(map[string]any{"is_active": []any{"Must be a valid boolean."}}))
		})
	})
})

func upper(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c >= 'a' && c <= 'z' {
			out[i] = c - 32
		}
	}
	return string(out)
}
