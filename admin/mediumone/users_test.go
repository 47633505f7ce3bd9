package mediumone_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var uuidPattern = regexp.MustCompile(`^"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"$`)

var _ = Describe("Medium One users and tenants", func() {
	var t tenant

	BeforeEach(func() {
		t = newTenant()
	})

	Describe("/user_create", func() {
		var mail string
		var r *fixtures.Response

		BeforeEach(func() { mail = email("created") })

		JustBeforeEach(func() {
			r = get("user_create"+q("user_name", mail, "full_name", "Test User", "language", "fr"), t.Token)
		})

		It("answers the new user's id as a JSON string and gives the user no tenant role", func() {
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(string(r.Body)).To(MatchRegexp(uuidPattern.String()))
			var id string
			Expect(json.Unmarshal(r.Body, &id)).To(Succeed())

			e := entryFor(userList(ok("user_list", srv.AdminToken)), mail)
			Expect(e).To(Equal(map[string]any{"full_name": "Test User", "user_name": mail, "user_id": id,
				"api_basic_user": "u_" + id, "tenant_roles": []any{}}))
			Expect(entryFor(userList(ok("user_list_in_tenant", t.Token)), mail)).To(BeNil())

			u := userByEmail(mail)
			Expect(u["firstName"]).To(Equal("Test"))
			Expect(u["lastName"]).To(Equal("User"))
			Expect(u["project"]).To(BeNil(), "a server-wide account")
			Expect(u["extension"]).To(ContainElement(HaveKeyWithValue("valueCode", "fr")))
		})

		It("mails a one-time set-password link, never a password", func() {
			Expect(r.Status).To(Equal(200))
			text := mailText(mail, 1)
			Expect(text).To(ContainSubstring(srv.URL + "setpassword/"))
			Expect(strings.ToLower(text)).NotTo(ContainSubstring("password:"))

			setPasswordFromMail(mail, 1, "a-fresh-password")
			_, err := srv.Login(mail, "a-fresh-password")
			Expect(err).To(HaveOccurred(), "no tenant role yet: nothing to sign in to")

			ok("tenant_add_user"+q("user_name", mail, "role", "tenant-user"), t.Token)
			token, err := srv.Login(mail, "a-fresh-password")
			Expect(err).NotTo(HaveOccurred())
			who := ok("whoami", token).JSON()
			Expect(who["role"]).To(Equal("tenant-user"))
			Expect(who["full_name"]).To(Equal("Test User"))
		})

		When("the user already exists", func() {
			BeforeEach(func() {
				ok("user_create"+q("user_name", mail, "full_name", "First Try"), srv.AdminToken)
			})
			It("is 400 and changes nothing", func() {
				Expect(r.Status).To(Equal(400))
				Expect(errorOf(r)).To(ContainSubstring("already exists"))
				Expect(userByEmail(mail)["firstName"]).To(Equal("First"))
				mailText(mail, 1)
				Consistently(func() int { return mailCount(mail) }).WithTimeout(500 * time.Millisecond).Should(Equal(1))
			})
		})

		DescribeTable("invalid parameters are 400",
			func(query string, want string) {
				r := get("user_create"+query, t.Token)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(errorOf(r)).To(ContainSubstring(want))
			},
			Entry("no user_name", q("full_name", "A B"), "user_name"),
			Entry("user_name not an email", q("user_name", "nobody", "full_name", "A B"), "user_name"),
			Entry("no full_name", q("user_name", "x@example.com"), "full_name"),
		)
	})

	Describe("/tenant_add_user", func() {
		It("creates a missing user (the TA must give full_name), who gets the welcome mail", func() {
			mail := email("added")
			r := get("tenant_add_user"+q("role", "tenant-admin", "user_name", mail), t.Token)
			Expect(r.Status).To(Equal(400))
			Expect(errorOf(r)).To(ContainSubstring("full_name"))

			r = ok("tenant_add_user"+q("role", "tenant-admin", "user_name", mail, "full_name", "Ada Lovelace"), t.Token)
			Expect(string(r.Body)).To(Equal("null"))
			e := entryFor(userList(ok("user_list_in_tenant", t.Token)), mail)
			Expect(e["full_name"]).To(Equal("Ada Lovelace"))
			Expect(e["tenant_roles"]).To(Equal([]any{map[string]any{"tenant_role": "tenant-admin", "tenant_id": t.ID, "tenant_name": t.Name}}))

			setPasswordFromMail(mail, 1, "ada-password-1")
			token, err := srv.Login(mail, "ada-password-1")
			Expect(err).NotTo(HaveOccurred())
			Expect(ok("whoami", token).JSON()["role"]).To(Equal("tenant-admin"))
		})

		It("adds an existing user to a second tenant and changes a role on a repeat", func() {
			mail, _ := member(t, false)
			other := newTenant()
			ok("tenant_add_user"+q("tenant_id", other.ID, "role", "tenant-user", "user_name", mail), srv.AdminToken)
			roles := entryFor(userList(ok("user_list", srv.AdminToken)), mail)["tenant_roles"]
			Expect(roles).To(ConsistOf(
				map[string]any{"tenant_role": "tenant-user", "tenant_id": t.ID, "tenant_name": t.Name},
				map[string]any{"tenant_role": "tenant-user", "tenant_id": other.ID, "tenant_name": other.Name}))

			ok("tenant_add_user"+q("role", "tenant-admin", "user_name", mail), other.Token)
			e := entryFor(userList(ok("user_list_in_tenant", other.Token)), mail)
			Expect(e["tenant_roles"]).To(Equal([]any{map[string]any{"tenant_role": "tenant-admin", "tenant_id": other.ID, "tenant_name": other.Name}}))
			e = entryFor(userList(ok("user_list_in_tenant", t.Token)), mail)
			Expect(e["tenant_roles"]).To(Equal([]any{map[string]any{"tenant_role": "tenant-user", "tenant_id": t.ID, "tenant_name": t.Name}}),
				"a tenant's list shows only that tenant")
			Expect(mailText(mail, 1)).To(ContainSubstring(other.Name))
			Consistently(func() int { return mailCount(mail) }).WithTimeout(500*time.Millisecond).Should(Equal(1),
				"told once about the second tenant, not about the role change")
		})

		DescribeTable("invalid parameters are 400",
			func(query func() string, want string) {
				r := get("tenant_add_user"+query(), srv.AdminToken)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(errorOf(r)).To(ContainSubstring(want))
			},
			Entry("SA without tenant_id", func() string { return q("user_name", "a@example.com", "role", "tenant-user") }, "tenant_id"),
			Entry("unknown role", func() string { return q("tenant_id", t.ID, "user_name", "a@example.com", "role", "owner") }, "role"),
			Entry("no role", func() string { return q("tenant_id", t.ID, "user_name", "a@example.com") }, "role"),
			Entry("no user_name", func() string { return q("tenant_id", t.ID, "role", "tenant-user") }, "user_name"),
		)
	})

	Describe("/whoami and /myrole", func() {
		It("describe a tenant-user", func() {
			mail, token := member(t, false)
			who := ok("whoami", token).JSON()
			u := userByEmail(mail)
			Expect(who).To(Equal(map[string]any{"user_id": u["id"], "api_basic_user": "u_" + u["id"].(string), "user_phone": nil,
				"role": "tenant-user", "full_name": "Mia Member", "user_name": mail}))
			Expect(ok("myrole", token).JSON()).To(Equal(map[string]any{
				"tenant_roles":      []any{map[string]any{"tenant_role": "tenant-user", "tenant_id": t.ID, "tenant_name": t.Name}},
				"current_tenant_id": t.ID, "current_tenant_name": t.Name, "current_tenant_role": "tenant-user"}))
		})

		It("call the TA a tenant-admin and the SA a super-admin", func() {
			Expect(ok("whoami", t.Token).JSON()["role"]).To(Equal("tenant-admin"))
			Expect(ok("myrole", t.Token).JSON()["current_tenant_role"]).To(Equal("tenant-admin"))
			Expect(ok("whoami", srv.AdminToken).JSON()["role"]).To(Equal("super-admin"))
			Expect(ok("whoami", srv.AdminToken).JSON()["user_name"]).To(Equal(fixtures.AdminEmail))
		})
	})

	Describe("/user_update", func() {
		var mail string
		BeforeEach(func() { mail, _ = member(t, false) })

		It("changes the name, phone and address of the user and of its profile", func() {
			ok("user_update"+q("user_name", mail,
				"param_list", `{"field":"full_name","value":"Grace Brewster Hopper"}`,
				"param_list", `{"field":"user_phone","value":"+1 555 0100"}`,
				"param_list", `{"field":"street","value":"1 Ocean"}`,
				"param_list", `{"field":"zip","value":"95062"}`), t.Token)
			u := userByEmail(mail)
			Expect(u["firstName"]).To(Equal("Grace Brewster"))
			Expect(u["lastName"]).To(Equal("Hopper"))
			who := userList(ok("user_list_in_tenant", t.Token))
			Expect(entryFor(who, mail)["full_name"]).To(Equal("Grace Brewster Hopper"))

			m := membershipsOf(u["id"].(string))
			Expect(m).To(HaveLen(1))
			prof := fhir(m[0]["profile"].(map[string]any)["reference"].(string))
			Expect(prof["name"]).To(ContainElement(HaveKeyWithValue("family", "Hopper")))
			Expect(prof["telecom"]).To(ContainElement(And(HaveKeyWithValue("system", "phone"), HaveKeyWithValue("value", "+1 555 0100"))))
			Expect(prof["address"]).To(Equal([]any{map[string]any{"line": []any{"1 Ocean"}, "postalCode": "95062"}}))
		})

		It("changes the role in the TA's tenant", func() {
			ok("user_update"+q("user_name", mail, "param_list", `{"field":"role","value":"tenant-admin"}`), t.Token)
			e := entryFor(userList(ok("user_list_in_tenant", t.Token)), mail)
			Expect(e["tenant_roles"].([]any)[0]).To(HaveKeyWithValue("tenant_role", "tenant-admin"))
		})

		DescribeTable("a bad param_list is 400 and nothing changes",
			func(params ...string) {
				before := userByEmail(mail)
				args := []string{"user_name", mail, "param_list", `{"field":"full_name","value":"Changed Name"}`}
				for _, p := range params {
					args = append(args, "param_list", p)
				}
				r := get("user_update"+q(args...), t.Token)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(errorOf(r)).NotTo(BeEmpty())
				after := userByEmail(mail)
				Expect(after["meta"].(map[string]any)["versionId"]).To(Equal(before["meta"].(map[string]any)["versionId"]))
				Expect(after["firstName"]).To(Equal("Mia"))
			},
			Entry("unknown field", `{"field":"favourite_colour","value":"blue"}`),
			Entry("not JSON", `{"field":"city",`),
			Entry("not an object", `["city","x"]`),
			Entry("no value", `{"field":"city"}`),
			Entry("no field", `{"value":"x"}`),
			Entry("an extra key", `{"field":"city","value":"x","other":1}`),
			Entry("a number value", `{"field":"zip","value":95062}`),
			Entry("two objects in one", `{"field":"city","value":"x"}{"field":"zip","value":"1"}`),
			Entry("an unknown role", `{"field":"role","value":"owner"}`),
			Entry("an empty full_name", `{"field":"full_name","value":" "}`),
		)

		It("is 400 without a param_list and 404 for an unknown user", func() {
			r := get("user_update"+q("user_name", mail), t.Token)
			Expect(r.Status).To(Equal(400))
			r = get("user_update"+q("user_name", email("nobody"), "param_list", `{"field":"city","value":"x"}`), t.Token)
			Expect(r.Status).To(Equal(404))
			Expect(errorOf(r)).To(ContainSubstring("not found"))
		})

		It("never lets a TA change the SA", func() {
			r := get("user_update"+q("user_name", fixtures.AdminEmail, "param_list", `{"field":"city","value":"x"}`), t.Token)
			Expect(r.Status).To(Equal(403))
		})
	})

	Describe("/user_remove", func() {
		It("deletes the user from the server: memberships gone, tokens dead at once", func() {
			mail, token := member(t, false)
			other := newTenant()
			ok("tenant_add_user"+q("tenant_id", other.ID, "role", "tenant-user", "user_name", mail), srv.AdminToken)
			id := userByEmail(mail)["id"].(string)

			r := get("user_remove"+q("user_name", mail), t.Token)
			Expect(r.Status).To(Equal(403), "a TA cannot delete a user other tenants share")
			ok("whoami", token)

			Expect(string(ok("user_remove"+q("user_name", mail), srv.AdminToken).Body)).To(Equal("null"))
			Expect(get("whoami", token).Status).To(Equal(401))
			Expect(userByEmail(mail)).To(BeNil())
			Expect(membershipsOf(id)).To(BeEmpty())
			Expect(entryFor(userList(ok("user_list", srv.AdminToken)), mail)).To(BeNil())
			_, err := srv.Login(mail, fixtures.AdminPassword)
			Expect(err).To(HaveOccurred())
			Expect(get("user_remove"+q("user_name", mail), srv.AdminToken).Status).To(Equal(404))
		})

		It("lets a TA delete a user of its tenant alone, and nobody delete the SA", func() {
			mail, token := member(t, false)
			ok("user_remove"+q("user_name", mail), t.Token)
			Expect(get("whoami", token).Status).To(Equal(401))
			Expect(get("user_remove"+q("user_name", fixtures.AdminEmail), srv.AdminToken).Status).To(Equal(403))
		})
	})

	Describe("/tenant_remove_user", func() {
		It("removes only that tenant's membership; the user stays", func() {
			mail, token := member(t, false)
			other := newTenant()
			ok("tenant_add_user"+q("tenant_id", other.ID, "role", "tenant-admin", "user_name", mail), srv.AdminToken)

			Expect(string(ok("tenant_remove_user"+q("user_name", mail), t.Token).Body)).To(Equal("null"))
			Expect(get("whoami", token).Status).To(Equal(401), "the token of the removed membership stops at once")
			Expect(entryFor(userList(ok("user_list_in_tenant", t.Token)), mail)).To(BeNil())
			e := entryFor(userList(ok("user_list", srv.AdminToken)), mail)
			Expect(e["tenant_roles"]).To(Equal([]any{map[string]any{"tenant_role": "tenant-admin", "tenant_id": other.ID, "tenant_name": other.Name}}))

			Expect(get("tenant_remove_user"+q("user_name", mail), t.Token).Status).To(Equal(404), "no longer in the tenant")
			tok, err := srv.Login(mail, fixtures.AdminPassword)
			Expect(err).NotTo(HaveOccurred(), "the user still signs in to the other tenant")
			Expect(ok("whoami", tok).JSON()["role"]).To(Equal("tenant-admin"))
		})
	})
})
