package admin_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources/rest"
)

// keyed sends a JSON request with an Idempotency-Key and extra headers.
func keyed(s *fixtures.Server, method, path, token, key string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	return do(s, method, path, token, body, append([]string{"Content-Type", "application/json", rest.IdempotencyHeader, key}, headers...)...)
}

// expectReplay checks again is first, replayed.
func expectReplay(first, again *fixtures.Response) {
	GinkgoHelper()
	Expect(again.Status).To(Equal(first.Status))
	Expect(again.Body).To(Equal(first.Body))
	Expect(first.Header.Get(rest.ReplayedHeader)).To(BeEmpty())
	Expect(again.Header.Get(rest.ReplayedHeader)).To(Equal("true"))
}

// membersWithEmail counts the memberships of project whose user has email.
func membersWithEmail(s *fixtures.Server, projectID, email string) int {
	GinkgoHelper()
	us := users(s, email)
	if len(us) == 0 {
		return 0
	}
	n := 0
	for _, m := range memberships(s, projectID) {
		if ref(m, "user") == "User/"+us[0]["id"].(string) {
			n++
		}
	}
	return n
}

var _ = Describe("Idempotency-Key on admin and dialect creates", func() {
	var p project
	var key string
	BeforeEach(func() {
		p = newProject(srv)
		key = "key-" + uniq() + uniq()
	})

	Describe("POST /admin/projects/{id}/invite", func() {
		It("replays the first answer: one user, one membership, one mail", func() {
			addr := emailFor("idem")
			first := keyed(srv, "POST", invitePath(p.ID), p.Token, key, practitioner(addr))
			Expect(first.Status).To(Equal(http.StatusOK), string(first.Body))
			expectReplay(first, keyed(srv, "POST", invitePath(p.ID), p.Token, key, practitioner(addr)))
			Expect(users(srv, addr)).To(HaveLen(1))
			Expect(membersWithEmail(srv, p.ID, addr)).To(Equal(1))
			Expect(mails(srv, p.ID, addr)).To(HaveLen(1))
		})

		It("answers 422 to the same key with another body, inviting no one else", func() {
			addr, other := emailFor("idem"), emailFor("idem-other")
			Expect(keyed(srv, "POST", invitePath(p.ID), p.Token, key, practitioner(addr)).Status).To(Equal(http.StatusOK))
			r := keyed(srv, "POST", invitePath(p.ID), p.Token, key, practitioner(other))
			Expect(r.Status).To(Equal(http.StatusUnprocessableEntity), string(r.Body))
			Expect(expressions(r)).To(ContainElement("Idempotency-Key"))
			Expect(users(srv, other)).To(BeEmpty())
			Expect(mails(srv, p.ID, other)).To(BeEmpty())
		})

		It("lets one of concurrent invites with one key run, across two Roster processes", func() {
			servers := []*fixtures.Server{srv, secondProcess(srv)}
			addr := emailFor("idem-race")
			const n = 10
			answers := fixtures.Race(n, func(i int) (*fixtures.Response, error) {
				return servers[i%2].Do("POST", invitePath(p.ID), p.Token, practitioner(addr),
					"Content-Type", "application/json", rest.IdempotencyHeader, key)
			})
			ran, refused := fixtures.Keyed(answers, http.StatusOK)
			Expect(ran).To(Equal(1))
			for _, r := range refused {
				Expect(r.Err).NotTo(HaveOccurred())
				Expect(r.Status).To(Equal(http.StatusConflict), string(r.Body))
			}
			Expect(users(srv, addr)).To(HaveLen(1))
			Expect(membersWithEmail(srv, p.ID, addr)).To(Equal(1))
			Expect(mails(srv, p.ID, addr)).To(HaveLen(1))
			// And afterwards, from either process, the answer is replayed.
			for _, s := range servers {
				Expect(keyed(s, "POST", invitePath(p.ID), p.Token, key, practitioner(addr)).Header.Get(rest.ReplayedHeader)).To(Equal("true"))
			}
		})
	})

	Describe("Medallion", func() {
		var apiKey string
		BeforeEach(func() {
			r := do(srv, "POST", "admin/projects/"+p.ID+"/client", srv.AdminToken, map[string]any{"name": "medallion key", "admin": true})
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			apiKey = r.JSON()["secret"].(string)
		})
		medallion := func(path, k string, body any) *fixtures.Response {
			GinkgoHelper()
			return keyed(srv, "POST", "p/api/v1/organizations/"+path, "", k, body, "x-api-key", apiKey)
		}

		It("replays member and invite creation: one member, one invite, one mail", func() {
			addr := emailFor("medallion-idem")
			body := map[string]any{"role": "auditor", "user": map[string]any{"email": addr}}
			first := medallion("members/", key, body)
			Expect(first.Status).To(Equal(http.StatusCreated), string(first.Body))
			expectReplay(first, medallion("members/", key, body))
			Expect(membersWithEmail(srv, p.ID, addr)).To(Equal(1))

			memberID := first.JSON()["id"].(string)
			invKey := key + "-invite"
			inv := medallion(p.ID+"/invites/", invKey, map[string]string{"membership_id": memberID})
			Expect(inv.Status).To(Equal(http.StatusCreated), string(inv.Body))
			expectReplay(inv, medallion(p.ID+"/invites/", invKey, map[string]string{"membership_id": memberID}))
			list := do(srv, "GET", "p/api/v1/organizations/"+p.ID+"/invites/?membership_id="+memberID, "", nil, "x-api-key", apiKey)
			Expect(list.JSON()["count"]).To(BeEquivalentTo(1))
			Expect(mails(srv, p.ID, addr)).To(HaveLen(1))

			r := medallion("members/", key, map[string]any{"role": "admin", "user": map[string]any{"email": addr}})
			Expect(r.Status).To(Equal(http.StatusUnprocessableEntity), string(r.Body))
			Expect(r.JSON()).NotTo(HaveKey("resourceType"), "in Medallion's own error shape")
		})
	})

	Describe("hospital memberships", func() {
		It("replays the creation: one membership", func() {
			h2 := newProject(srv)
			boss := emailFor("boss")
			medic := emailFor("medic")
			const pw = "hospital-medic-pw-1"
			for _, j := range []struct{ project, email string }{{p.ID, boss}, {h2.ID, boss}, {p.ID, medic}} {
				r := do(srv, "POST", invitePath(j.project), srv.AdminToken, map[string]any{
					"resourceType": "Practitioner", "firstName": "Hos", "lastName": "Pital", "email": j.email, "password": pw,
					"sendEmail": false, "membership": map[string]any{"admin": j.email == boss}})
				Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			}
			tok, err := srv.LoginFull(boss, pw, p.ID)
			Expect(err).NotTo(HaveOccurred())
			medicProfile := profiles(srv, "Practitioner", medic)
			Expect(medicProfile).To(HaveLen(1))
			body := map[string]any{"medic": medicProfile[0]["id"], "hospital": h2.ID, "type_membership": "MEMBER"}
			post := func(b any) *fixtures.Response {
				return keyed(srv, "POST", "api/v2/management/memberships/", "", key, b, "Authorization", "Token "+tok.AccessToken)
			}
			first := post(body)
			Expect(first.Status).To(Equal(http.StatusCreated), string(first.Body))
			expectReplay(first, post(body))
			Expect(membersWithEmail(srv, h2.ID, medic)).To(Equal(1))
			r := post(map[string]any{"medic": medicProfile[0]["id"], "hospital": h2.ID, "type_membership": "ADMIN"})
			Expect(r.Status).To(Equal(http.StatusUnprocessableEntity))
			Expect(r.JSON()).To(HaveKey("message"), "in the vendor's own error shape")
		})
	})

	Describe("Medable registration", func() {
		It("replays the registration: one account, one verification mail", func() {
			addr := emailFor("medable-idem")
			body := map[string]any{"name": map[string]any{"first": "Jane", "last": "Doe"}, "email": addr, "password": "a-good-long-password"}
			path := "medable/" + p.ID + "/v2/accounts/register"
			first := keyed(srv, "POST", path, "", key, body)
			Expect(first.Status).To(Equal(http.StatusOK), string(first.Body))
			expectReplay(first, keyed(srv, "POST", path, "", key, body))
			Expect(users(srv, addr)).To(HaveLen(1))
			Expect(mails(srv, p.ID, addr)).To(HaveLen(1))
			r := keyed(srv, "POST", path, "", key, map[string]any{"name": map[string]any{"first": "Jane", "last": "Roe"}, "email": addr, "password": "a-good-long-password"})
			Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("object", "fault"))
		})
	})
})
