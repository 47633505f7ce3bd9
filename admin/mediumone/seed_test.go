package mediumone_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The example requests of Medium One's document
// (../shared/seeds/001_bb657e9015ed1b31.txt), sent verbatim but for the
// host, the credentials and the tenant ids, which are this server's.
var _ = Describe("Medium One's documented examples", Ordered, func() {
	var t tenant

	BeforeAll(func() {
		t = newTenant()
	})

	It("creates a user: /user_create?full_name=Test+User&user_name=testuser@mediumone.com", func() {
		r := ok("/user_create?full_name=Test+User&user_name=testuser@mediumone.com", srv.AdminToken)
		Expect(string(r.Body)).To(MatchRegexp(uuidPattern.String()))
		Expect(entryFor(userList(ok("/user_list", srv.AdminToken)), "testuser@mediumone.com")["full_name"]).To(Equal("Test User"))
	})

	It("links a user to a tenant as the SA (SA Request)", func() {
		r := ok("/tenant_add_user?tenant_id="+t.ID+"&role=tenant-admin&user_name=example%40example.com", srv.AdminToken)
		Expect(string(r.Body)).To(Equal("null"))
	})

	It("links a user to a tenant as the TA (TA Request)", func() {
		r := ok("/tenant_add_user?role=tenant-admin&user_name=example%40example.com&full_name=exampleUser", t.Token)
		Expect(string(r.Body)).To(Equal("null"))
		e := entryFor(userList(ok("/user_list_in_tenant", t.Token)), "example@example.com")
		Expect(e["tenant_roles"]).To(Equal([]any{map[string]any{"tenant_role": "tenant-admin", "tenant_id": t.ID, "tenant_name": t.Name}}))
	})

	It("lists a tenant's users as the SA and as the TA, in the documented shape", func() {
		sa := ok("/user_list_in_tenant?tenant_id="+t.ID, srv.AdminToken)
		ta := ok("/user_list_in_tenant", t.Token)
		Expect(sa.Body).To(MatchJSON(ta.Body))
		var body map[string][]map[string]any
		Expect(json.Unmarshal(sa.Body, &body)).To(Succeed())
		Expect(body).To(HaveKey("user_list"))
		for _, e := range body["user_list"] {
			Expect(e).To(HaveLen(5))
			Expect(e).To(HaveKey("full_name"))
			Expect(e).To(HaveKey("user_name"))
			Expect(e["api_basic_user"]).To(Equal("u_" + e["user_id"].(string)))
			for _, tr := range e["tenant_roles"].([]any) {
				Expect(tr).To(HaveLen(3))
				Expect(tr).To(HaveKeyWithValue("tenant_id", t.ID))
			}
		}
	})

	It("lists every user: /user_list, in the {\"user_list\": […]} envelope", func() {
		list := userList(ok("/user_list", srv.AdminToken))
		Expect(entryFor(list, "testuser@mediumone.com")).NotTo(BeNil())
		Expect(entryFor(list, "example@example.com")).NotTo(BeNil())
	})

	It("answers /whoami and /myrole", func() {
		who := ok("/whoami", t.Token).JSON()
		Expect(who).To(HaveLen(6))
		Expect(who["role"]).To(Equal("tenant-admin"))
		role := ok("/myrole", t.Token).JSON()
		Expect(role).To(HaveLen(4))
		Expect(role["current_tenant_id"]).To(Equal(t.ID))
	})

	// The document's own query string: its "&param_list" separators were
	// eaten by an HTML entity ("&para" → "¶"), so the published request
	// reads "¶m_list". Both that text and the intended one work.
	const seedQuery = "/user_update?param_list=%7B%22field%22:%22full_name%22,%22value%22:%22Mr+Smith%22%7D¶m_list=%7B%22field%22:%22user_phone%22,%22value%22:%228888888888%22%7D¶m_list=%7B%22field%22:%22street%22,%22value%22:%221+Ocean%22%7D¶m_list=%7B%22field%22:%22street2%22,%22value%22:%22Apt+1%22%7D¶m_list=%7B%22field%22:%22city%22,%22value%22:%22Santa+Cruz%22%7D¶m_list=%7B%22field%22:%22state%22,%22value%22:%22CALIFORNIA%22%7D¶m_list=%7B%22field%22:%22zip%22,%22value%22:%2295062%22%7D¶m_list=%7B%22field%22:%22country%22,%22value%22:%22United+States%22%7D&user_name=testuser%2B8@medium.one"

	DescribeTable("updates a user with the documented query string",
		func(query string) {
			mail := "testuser+8@medium.one"
			ok("/tenant_add_user?role=tenant-user&user_name=testuser%2B8%40medium.one&full_name=Test+Eight", t.Token)
			r := ok(query, t.Token)
			Expect(string(r.Body)).To(Equal("null"))

			who := userByEmail(mail)
			Expect(who["firstName"]).To(Equal("Mr"))
			Expect(who["lastName"]).To(Equal("Smith"))
			e := entryFor(userList(ok("/user_list_in_tenant", t.Token)), mail)
			Expect(e["full_name"]).To(Equal("Mr Smith"))
			prof := fhir(membershipsOf(who["id"].(string))[0]["profile"].(map[string]any)["reference"].(string))
			Expect(prof["telecom"]).To(ContainElement(And(HaveKeyWithValue("system", "phone"), HaveKeyWithValue("value", "8888888888"))))
			Expect(prof["address"]).To(Equal([]any{map[string]any{"line": []any{"1 Ocean", "Apt 1"}, "city": "Santa Cruz",
				"state": "CALIFORNIA", "postalCode": "95062", "country": "United States"}}))

			ok("/user_remove?user_name=testuser%2B8%40medium.one", t.Token)
		},
		Entry("as published (¶m_list)", seedQuery),
		Entry("as intended (&param_list)", strings.ReplaceAll(seedQuery, "¶m_list", "&param_list")),
	)

	It("removes a user from a tenant as the TA and as the SA", func() {
		Expect(string(ok("/tenant_remove_user?user_name=example%40example.com", t.Token).Body)).To(Equal("null"))
		ok("/tenant_add_user?tenant_id="+t.ID+"&role=tenant-admin&user_name=example%40example.com", srv.AdminToken)
		Expect(string(ok("/tenant_remove_user?tenant_id="+t.ID+"&user_name=example%40example.com", srv.AdminToken).Body)).To(Equal("null"))
		Expect(entryFor(userList(ok("/user_list", srv.AdminToken)), "example@example.com")).NotTo(BeNil(), "still in the portal")
	})

	It("deletes a user: /user_remove?user_name=testuser@mediumone.com", func() {
		Expect(string(ok("/user_remove?user_name=testuser@mediumone.com", srv.AdminToken).Body)).To(Equal("null"))
		Expect(entryFor(userList(ok("/user_list", srv.AdminToken)), "testuser@mediumone.com")).To(BeNil())
	})
})
