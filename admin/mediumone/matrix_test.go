package mediumone_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Who may call what: every endpoint as the SA, as the TA of the tenant the
// request is about, as the TA of another tenant, and as a tenant-user of
// the tenant.
var _ = Describe("Medium One's SA/TA authorization matrix", func() {
	type who int
	const (
		sa who = iota
		taHere
		taOther
		user
	)

	var (
		here, other tenant
		userToken   string
		target      string // a tenant-user of here the writes are about
		tokens      map[who]string
	)

	BeforeEach(func() {
		here, other = newTenant(), newTenant()
		_, userToken = member(here, false)
		target, _ = member(here, false)
		tokens = map[who]string{sa: srv.AdminToken, taHere: here.Token, taOther: other.Token, user: userToken}
	})

	DescribeTable("status by caller",
		func(path func(target string) string, wantSA, wantTAHere, wantTAOther, wantUser int) {
			for _, c := range []struct {
				who  who
				want int
			}{{sa, wantSA}, {taHere, wantTAHere}, {taOther, wantTAOther}, {user, wantUser}} {
				// A fresh target each time: the SA's removal must not
				// decide the TA's answer.
				target := email("target")
				Expect(srv.AddMember(here.ID, target, "Tia", "Target", "target-password", false)).To(Succeed())
				p := path(target)
				r := get(p, tokens[c.who])
				Expect(r.Status).To(Equal(c.want), "caller %d on %s: %s", c.who, p, r.Body)
				if r.Status != 200 {
					Expect(errorOf(r)).NotTo(BeEmpty())
				}
			}
		},
		Entry("user_create", func(string) string { return "user_create" + q("user_name", email("new"), "full_name", "New User") },
			200, 200, 200, 403),
		Entry("tenant_add_user", func(string) string {
			return "tenant_add_user" + q("tenant_id", here.ID, "user_name", email("added"), "role", "tenant-user", "full_name", "Added User")
		}, 200, 200, 403, 403),
		Entry("user_list_in_tenant", func(string) string { return "user_list_in_tenant" + q("tenant_id", here.ID) },
			200, 200, 403, 403),
		Entry("user_list", func(string) string { return "user_list" }, 200, 403, 403, 403),
		Entry("whoami", func(string) string { return "whoami" }, 200, 200, 200, 200),
		Entry("myrole", func(string) string { return "myrole" }, 200, 200, 200, 200),
		Entry("user_update", func(target string) string {
			return "user_update" + q("user_name", target, "param_list", `{"field":"city","value":"Santa Cruz"}`)
		}, 200, 200, 403, 403),
		Entry("tenant_remove_user", func(target string) string {
			return "tenant_remove_user" + q("tenant_id", here.ID, "user_name", target)
		}, 200, 200, 403, 403),
		Entry("user_remove", func(target string) string { return "user_remove" + q("user_name", target) },
			200, 200, 403, 403),
	)

	DescribeTable("refused destructive calls change nothing",
		func(path func() string, caller who) {
			r := get(path(), tokens[caller])
			Expect(r.Status).To(Equal(403), string(r.Body))
			list := userList(ok("user_list_in_tenant"+q("tenant_id", here.ID), srv.AdminToken))
			Expect(entryFor(list, target)).NotTo(BeNil(), "the target is still in the tenant")
		},
		Entry("user_remove by another tenant's TA", func() string { return "user_remove" + q("user_name", target) }, taOther),
		Entry("user_remove by a tenant-user", func() string { return "user_remove" + q("user_name", target) }, user),
		Entry("tenant_remove_user by another tenant's TA", func() string {
			return "tenant_remove_user" + q("tenant_id", here.ID, "user_name", target)
		}, taOther),
		Entry("tenant_remove_user by a tenant-user", func() string {
			return "tenant_remove_user" + q("tenant_id", here.ID, "user_name", target)
		}, user),
	)

	It("accepts bearer tokens only: none, Basic and cookies are 401", func() {
		r := get("whoami", "")
		Expect(r.Status).To(Equal(401))
		Expect(errorOf(r)).NotTo(BeEmpty())
		r = get("whoami", "", "Cookie", "md.sid="+here.Token)
		Expect(r.Status).To(Equal(401))
		r = get("whoami", "", "Authorization", "Basic "+here.Token)
		Expect(r.Status).To(Equal(401))
		r = get("whoami", "not-a-token")
		Expect(r.Status).To(Equal(401))
	})

	It("lets a TA name its own tenant and refuses naming another, even for reads", func() {
		ok("user_list_in_tenant"+q("tenant_id", here.ID), here.Token)
		ok("user_list_in_tenant", here.Token)
		r := get("user_list_in_tenant"+q("tenant_id", other.ID), here.Token)
		Expect(r.Status).To(Equal(403))
		r = get("tenant_add_user"+q("tenant_id", other.ID, "user_name", email("x"), "role", "tenant-user", "full_name", "X Y"), here.Token)
		Expect(r.Status).To(Equal(403))
	})

	It("requires the SA to name the tenant and answers 404 for an unknown one", func() {
		r := get("user_list_in_tenant", srv.AdminToken)
		Expect(r.Status).To(Equal(400))
		Expect(errorOf(r)).To(ContainSubstring("tenant_id"))
		r = get("user_list_in_tenant"+q("tenant_id", "00000000-0000-0000-0000-000000000000"), srv.AdminToken)
		Expect(r.Status).To(Equal(404))
	})
})
