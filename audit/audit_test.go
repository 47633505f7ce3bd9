package audit_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
)

func ids(evs []map[string]any) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, ev["id"].(string))
	}
	return out
}

// me is the caller's profile reference and User reference, from /auth/me.
func me(token string) (profile, user string) {
	GinkgoHelper()
	r := do("GET", "auth/me", token, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	b := r.JSON()
	return field(b, "membership", "profile", "reference").(string), "User/" + field(b, "user", "id").(string)
}

var _ = Describe("The audit trail", func() {
	var p project

	BeforeEach(func() {
		p = newProject()
	})

	Describe("signing in", func() {
		var m member
		BeforeEach(func() { m = p.invite(false) })

		It("records a sign-in in the member's project, found by date, agent, altid, entity, type, outcome and action", func() {
			before := time.Now().UTC().Add(-2 * time.Second).Format(time.RFC3339)
			loginFull(m.Email, memberPassword, "")

			evs := events(p.Token, of(audit.Login, "entity", m.User))
			Expect(evs).To(HaveLen(1))
			ev := evs[0]
			Expect(ev).To(And(HaveKeyWithValue("outcome", "0"), HaveKeyWithValue("action", "E"), HaveKey("recorded")))
			Expect(field(ev, "type", "code")).To(Equal("110114"))
			Expect(field(ev, "meta", "project")).To(Equal(p.ID))
			Expect(field(ev, "agent", 0, "who", "reference")).To(Equal(m.Profile))
			Expect(field(ev, "agent", 0, "altId")).To(Equal(m.User))
			Expect(field(ev, "agent", 0, "requestor")).To(BeTrue())
			Expect(field(ev, "agent", 0, "network", "address")).NotTo(BeEmpty())
			Expect(field(ev, "source", "observer", "display")).To(Equal("Roster"))
			Expect(whats(ev)).To(ConsistOf(m.User, "ProjectMembership/"+m.Membership))

			id := ev["id"].(string)
			for _, q := range []url.Values{
				{"date": {"ge" + before}}, {"agent": {m.Profile}}, {"altid": {m.User}},
				{"entity": {"ProjectMembership/" + m.Membership}}, {"type": {audit.DICOM + "|110114"}},
				{"outcome": {"0"}}, {"action": {"E"}}, {"subtype": {audit.DICOM + "|110122"}},
			} {
				Expect(ids(events(p.Token, q))).To(ContainElement(id), "%v", q)
			}
			for _, q := range []url.Values{
				{"date": {"lt" + before}}, {"outcome": {"4"}}, {"type": {audit.DICOM + "|110113"}}, {"action": {"C"}},
			} {
				Expect(ids(events(p.Token, q))).NotTo(ContainElement(id), "%v", q)
			}
		})

		It("records a wrong password as a failure in the user's project", func() {
			Expect(tryLogin(m.Email, "wrong-"+memberPassword, "")).To(Equal(http.StatusBadRequest))
			evs := events(p.Token, of(audit.Login, "altid", m.User, "outcome", "4"))
			Expect(evs).To(HaveLen(1))
			Expect(evs[0]).To(HaveKeyWithValue("outcomeDesc", "Email or password is invalid"))
			Expect(field(evs[0], "agent", 0, "name")).To(Equal(m.Email))
			Expect(events(p.Token, of(audit.Login, "altid", m.User, "outcome", "0"))).To(BeEmpty())
		})

		It("records an unknown email in the project it named, else in the super admin's Default project", func() {
			named, anywhere := "ghost-"+uniq()+"@example.com", "ghost-"+uniq()+"@example.com"
			Expect(tryLogin(named, memberPassword, p.ID)).To(Equal(http.StatusBadRequest))
			Expect(tryLogin(anywhere, memberPassword, "")).To(Equal(http.StatusBadRequest))

			agents := func(evs []map[string]any) map[string]string { // agent name -> project
				out := map[string]string{}
				for _, ev := range evs {
					if n, ok := field(ev, "agent", 0, "name").(string); ok {
						out[n] = field(ev, "meta", "project").(string)
					}
				}
				return out
			}
			Expect(agents(events(p.Token, of(audit.Login, "outcome", "4")))).To(Equal(map[string]string{named: p.ID}))
			Expect(agents(events(srv.AdminToken, of(audit.Login, "outcome", "4")))).To(HaveKeyWithValue(anywhere, srv.DefaultProject))
		})

		It("records a sign-out", func() {
			tok := loginFull(m.Email, memberPassword, "")
			Expect(do("POST", "oauth2/logout", tok.AccessToken, nil).Status).To(Equal(200))
			evs := events(p.Token, of(audit.Logout, "altid", m.User))
			Expect(evs).To(HaveLen(1))
			Expect(field(evs[0], "agent", 0, "who", "reference")).To(Equal(m.Profile))
			Expect(evs[0]).To(HaveKeyWithValue("outcome", "0"))
		})

		It("records a token refresh, and a refused one after sign-out", func() {
			tok := loginFull(m.Email, memberPassword, "")
			refresh := func(rt string) *http.Response {
				r, err := http.PostForm(srv.URL+"oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				Expect(err).NotTo(HaveOccurred())
				r.Body.Close()
				return r
			}
			Expect(refresh(tok.RefreshToken).StatusCode).To(Equal(200))
			evs := events(p.Token, of(audit.TokenRefresh, "altid", m.User))
			Expect(evs).To(HaveLen(1))
			Expect(evs[0]).To(HaveKeyWithValue("outcome", "0"))
			Expect(field(evs[0], "agent", 0, "who", "reference")).To(Equal(m.Profile))

			next := loginFull(m.Email, memberPassword, "")
			Expect(do("POST", "oauth2/logout", next.AccessToken, nil).Status).To(Equal(200))
			Expect(refresh(next.RefreshToken).StatusCode).To(Equal(400))
			failed := events(p.Token, of(audit.TokenRefresh, "altid", m.User, "outcome", "4"))
			Expect(failed).To(HaveLen(1))
			Expect(failed[0]).To(HaveKeyWithValue("outcomeDesc", "Login revoked or expired"))
		})
	})

	Describe("invites and memberships", func() {
		It("records the invite and the membership it made: who invited whom into which membership", func() {
			adminProfile, adminUser := me(p.Token)
			m := p.invite(true)

			inv := events(p.Token, of(audit.Invite, "entity", "ProjectMembership/"+m.Membership))
			Expect(inv).To(HaveLen(1))
			Expect(inv[0]).To(HaveKeyWithValue("action", "C"))
			Expect(field(inv[0], "type", "code")).To(Equal("110113"))
			Expect(field(inv[0], "agent", 0, "who", "reference")).To(Equal(adminProfile))
			Expect(field(inv[0], "agent", 0, "altId")).To(Equal(adminUser))
			Expect(whats(inv[0])).To(ConsistOf("ProjectMembership/"+m.Membership, m.User, m.Profile))
			Expect(details(inv[0])).To(And(HaveKeyWithValue("outcome", "created"), HaveKeyWithValue("userCreated", "true")))

			created := events(p.Token, of(audit.MemberCreate, "entity", "ProjectMembership/"+m.Membership))
			Expect(created).To(HaveLen(1))
			Expect(details(created[0])).To(And(HaveKeyWithValue("admin", "true"), HaveKeyWithValue("active", "true")))
			Expect(events(p.Token, of(audit.PasswordSet, "entity", m.User))).To(HaveLen(1), "the invite's password")
			Expect(ids(events(p.Token, url.Values{"agent": {adminProfile}}))).To(ContainElements(inv[0]["id"], created[0]["id"]))
		})

		It("records admin, active and deletion through the admin API and FHIR, each with what changed", func() {
			m := p.invite(false)
			path := "admin/projects/" + p.ID + "/members/" + m.Membership
			Expect(do("POST", path, p.Token, map[string]any{"admin": true}).Status).To(Equal(200))
			Expect(do("POST", path, p.Token, map[string]any{"active": false}).Status).To(Equal(200))
			r := do("PATCH", "fhir/R4/ProjectMembership/"+m.Membership, p.Token, `[{"op":"replace","path":"/admin","value":false}]`,
				"Content-Type", "application/json-patch+json")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(do("POST", path, p.Token, map[string]any{"active": false}).Status).To(Equal(200), "a no-op")
			Expect(do("DELETE", path, p.Token, nil).Status).To(Equal(200))

			ups := events(p.Token, of(audit.MemberUpdate, "entity", "ProjectMembership/"+m.Membership, "_sort", "date"))
			Expect(ups).To(HaveLen(3))
			Expect(details(ups[0])).To(Equal(map[string]string{"admin": "false → true"}))
			Expect(details(ups[1])).To(Equal(map[string]string{"active": "true → false"}))
			Expect(details(ups[2])).To(Equal(map[string]string{"admin": "true → false"}))
			Expect(ups[0]).To(HaveKeyWithValue("action", "U"))
			del := events(p.Token, of(audit.MemberDelete, "entity", "ProjectMembership/"+m.Membership))
			Expect(del).To(HaveLen(1))
			Expect(del[0]).To(HaveKeyWithValue("action", "D"))
			Expect(whats(del[0])).To(ContainElement(m.User))
		})

		It("records a vendor dialect's role change and login email change (Medallion)", func() {
			r := do("POST", "admin/projects/"+p.ID+"/client", p.Token, map[string]any{"name": "Medallion key", "admin": true})
			Expect(r.Status).To(Equal(201), string(r.Body))
			key, clientID := r.JSON()["secret"].(string), r.JSON()["id"].(string)
			med := func(method, path string, body any) map[string]any {
				GinkgoHelper()
				r := do(method, "p/api/v1/organizations/"+path, "", body, "x-api-key", key)
				Expect(r.Status).To(BeNumerically("<", 300), string(r.Body))
				return r.JSON()
			}
			old, next := "old-"+uniq()+"@example.com", "new-"+uniq()+"@example.com"
			created := med("POST", "members/", map[string]any{"role": "admin", "user": map[string]any{"email": old, "first_name": "Ada", "last_name": "Byron"}})
			id := created["id"].(string)
			med("PATCH", "members/"+id+"/", map[string]any{"role": "auditor"})
			med("POST", "members/"+id+"/change-email/", map[string]any{"new_email": next})
			invite := med("POST", p.ID+"/invites/", map[string]any{"membership_id": id})

			ups := events(p.Token, of(audit.MemberUpdate, "entity", "ProjectMembership/"+id))
			Expect(ups).NotTo(BeEmpty())
			role := ups[0]
			Expect(details(role)).To(And(HaveKeyWithValue("admin", "true → false"), HaveKey("accessPolicy"), HaveKey("extension")))
			Expect(field(role, "agent", 0, "altId")).To(Equal("ClientApplication/" + clientID))

			emails := events(p.Token, of(audit.EmailChange))
			Expect(emails).To(HaveLen(1))
			Expect(details(emails[0])).To(HaveKeyWithValue("email", old+" → "+next))
			Expect(whats(emails[0])).To(ConsistOf("User/" + created["user"].(map[string]any)["id"].(string)))

			// Two invites: the core invite that made the member, and
			// Medallion's sign-up invitation, which is a core invitation
			// (its id is the invitation's) mailed once.
			invites := events(p.Token, of(audit.Invite, "entity", "ProjectMembership/"+id, "_sort", "date"))
			Expect(invites).To(HaveLen(2))
			Expect(details(invites[0])).To(HaveKeyWithValue("outcome", "created"))
			Expect(details(invites[1])).To(And(HaveKeyWithValue("invitation", invite["id"]), HaveKeyWithValue("sent", "1")))
		})
	})

	Describe("passwords and links", func() {
		var m member
		BeforeEach(func() { m = p.invite(false) })
		const newPassword = "saffron-Glacier-meadow-4419"

		It("records a reset request, a refused secret, the link's use and the reset, and a reused link", func() {
			Expect(do("POST", "auth/resetpassword", "", map[string]string{"email": m.Email}).Status).To(Equal(200))
			Expect(events(p.Token, of(audit.ResetRequest, "entity", m.User))).To(HaveLen(1))
			id, secret := lastLink(p.ID, m.Email)

			set := func(secret string) int {
				return do("POST", "auth/setpassword", "", map[string]string{"id": id, "secret": secret, "password": newPassword}).Status
			}
			Expect(set("not-" + secret)).To(Equal(400))
			refused := events(p.Token, of(audit.LinkRefusal, "entity", m.User))
			Expect(refused).To(HaveLen(1))
			Expect(refused[0]).To(And(HaveKeyWithValue("outcome", "4"), HaveKeyWithValue("outcomeDesc", "Link invalid")))
			Expect(details(refused[0])).To(HaveKeyWithValue("link", id))

			Expect(set(secret)).To(Equal(200))
			used := events(p.Token, of(audit.LinkUse, "entity", m.User))
			Expect(used).To(HaveLen(1))
			Expect(details(used[0])).To(And(HaveKeyWithValue("link", id), HaveKeyWithValue("kind", "reset")))
			Expect(events(p.Token, of(audit.PasswordReset, "entity", m.User))).To(HaveLen(1))

			Expect(set(secret)).To(Equal(400))
			Expect(events(p.Token, of(audit.LinkRefusal, "entity", m.User, "outcome", "4"))).To(HaveLen(2))
		})

		It("records a password change, and a refused one", func() {
			tok := loginFull(m.Email, memberPassword, "")
			change := func(old string) int {
				return do("POST", "auth/changepassword", tok.AccessToken, map[string]string{"oldPassword": old, "newPassword": newPassword}).Status
			}
			Expect(change("wrong-" + memberPassword)).To(Equal(400))
			Expect(change(memberPassword)).To(Equal(200))
			evs := events(p.Token, of(audit.PasswordChange, "entity", m.User, "_sort", "date"))
			Expect(evs).To(HaveLen(2))
			Expect(evs[0]).To(HaveKeyWithValue("outcome", "4"))
			Expect(evs[1]).To(HaveKeyWithValue("outcome", "0"))
			Expect(field(evs[1], "agent", 0, "who", "reference")).To(Equal(m.Profile))
		})
	})

	Describe("clients and keys", func() {
		It("records a client secret's creation, and the client's grants and refusals", func() {
			adminProfile, _ := me(p.Token)
			r := do("POST", "admin/projects/"+p.ID+"/client", p.Token, map[string]any{"name": "Integration"})
			Expect(r.Status).To(Equal(201), string(r.Body))
			id, secret := r.JSON()["id"].(string), r.JSON()["secret"].(string)
			evs := events(p.Token, of(audit.ClientSecret, "entity", "ClientApplication/"+id))
			Expect(evs).To(HaveLen(1))
			Expect(field(evs[0], "agent", 0, "who", "reference")).To(Equal(adminProfile))

			grant := func(secret string) int {
				r, err := http.PostForm(srv.URL+"oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
				Expect(err).NotTo(HaveOccurred())
				r.Body.Close()
				return r.StatusCode
			}
			Expect(grant(secret)).To(Equal(200))
			Expect(grant("wrong")).To(Equal(400))
			logins := events(p.Token, of(audit.Login, "entity", "ClientApplication/"+id, "_sort", "date"))
			Expect(logins).To(HaveLen(2))
			Expect(logins[0]).To(HaveKeyWithValue("outcome", "0"))
			Expect(logins[1]).To(HaveKeyWithValue("outcome", "4"))
			Expect(field(logins[0], "agent", 0, "altId")).To(Equal("ClientApplication/" + id))
		})

		It("records `roster keys rotate` in the super admin's Default project", func() {
			kid, err := srv.App.RotateKey(context.Background())
			Expect(err).NotTo(HaveOccurred())
			var found map[string]any
			for _, ev := range events(srv.AdminToken, of(audit.KeyRotation)) {
				if details(ev)["kid"] == kid {
					found = ev
				}
			}
			Expect(found).NotTo(BeNil())
			Expect(field(found, "meta", "project")).To(Equal(srv.DefaultProject))
			Expect(field(found, "agent", 0, "who", "display")).To(Equal("Roster"))
			Expect(field(found, "agent", 0, "requestor")).To(BeFalse())
			Expect(events(p.Token, of(audit.KeyRotation))).To(BeEmpty())
		})
	})

	Describe("who reads it, and who writes it", func() {
		var (
			m  member
			ev map[string]any
		)
		BeforeEach(func() {
			m = p.invite(false)
			loginFull(m.Email, memberPassword, "")
			evs := events(p.Token, of(audit.Login, "altid", m.User))
			Expect(evs).To(HaveLen(1))
			ev = evs[0]
		})

		It("refuses a member who is no admin (403)", func() {
			tok := loginFull(m.Email, memberPassword, "")
			Expect(do("GET", "fhir/R4/AuditEvent", tok.AccessToken, nil).Status).To(Equal(403))
			Expect(do("GET", "fhir/R4/AuditEvent/"+ev["id"].(string), tok.AccessToken, nil).Status).To(Equal(403))
		})

		It("shows another project's admin none of it, and the super admin all of it", func() {
			other := newProject()
			Expect(events(other.Token, of(audit.Login, "altid", m.User))).To(BeEmpty())
			Expect(do("GET", "fhir/R4/AuditEvent/"+ev["id"].(string), other.Token, nil).Status).To(Equal(404))
			Expect(ids(events(srv.AdminToken, of(audit.Login, "altid", m.User)))).To(ContainElement(ev["id"]))
		})

		It("lets nobody create, change or delete one — not the project admin, not the super admin, not in a Bundle", func() {
			id := ev["id"].(string)
			body := map[string]any{"resourceType": "AuditEvent", "type": map[string]any{"system": audit.DICOM, "code": "110114"},
				"recorded": "2024-01-01T00:00:00Z", "agent": []any{map[string]any{"requestor": true}},
				"source": map[string]any{"observer": map[string]any{"display": "forged"}}}
			withID := map[string]any{}
			for k, v := range body {
				withID[k] = v
			}
			withID["id"] = id
			for _, token := range []string{p.Token, srv.AdminToken} {
				Expect(do("POST", "fhir/R4/AuditEvent", token, body).Status).To(Equal(403))
				Expect(do("PUT", "fhir/R4/AuditEvent/"+id, token, withID).Status).To(Equal(403))
				Expect(do("PATCH", "fhir/R4/AuditEvent/"+id, token, `[{"op":"replace","path":"/outcome","value":"4"}]`,
					"Content-Type", "application/json-patch+json").Status).To(Equal(403))
				Expect(do("DELETE", "fhir/R4/AuditEvent/"+id, token, nil).Status).To(Equal(403))
				batch := do("POST", "fhir/R4/", token, map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
					map[string]any{"resource": body, "request": map[string]any{"method": "POST", "url": "AuditEvent"}},
					map[string]any{"request": map[string]any{"method": "DELETE", "url": "AuditEvent/" + id}},
				}})
				Expect(batch.Status).To(Equal(200))
				Expect(field(batch.JSON(), "entry", 0, "response", "status")).To(HavePrefix("403"))
				Expect(field(batch.JSON(), "entry", 1, "response", "status")).To(HavePrefix("403"))
				tx := do("POST", "fhir/R4/", token, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
					map[string]any{"resource": body, "request": map[string]any{"method": "POST", "url": "AuditEvent"}},
				}})
				Expect(tx.Status).To(Equal(403))
			}
			r := do("GET", "fhir/R4/AuditEvent/"+id, p.Token, nil)
			Expect(r.Status).To(Equal(200))
			Expect(field(r.JSON(), "meta", "versionId")).To(Equal("1"))
			Expect(r.JSON()).To(HaveKeyWithValue("outcome", "0"))
		})
	})

	Describe("an act that rolls back", func() {
		It("leaves no AuditEvent: a transaction Bundle whose last entry fails", func() {
			m := p.invite(false)
			count := func() int { return len(events(p.Token, of(audit.MemberCreate))) }
			before := count()
			r := do("POST", "fhir/R4/", p.Token, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
				map[string]any{"fullUrl": "urn:uuid:5d5c1b9e-1111-4111-8111-111111111111",
					"resource": map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Rollback"}}},
					"request":  map[string]any{"method": "POST", "url": "Patient"}},
				map[string]any{"resource": map[string]any{"resourceType": "ProjectMembership", "user": map[string]any{"reference": m.User},
					"profile": map[string]any{"reference": "urn:uuid:5d5c1b9e-1111-4111-8111-111111111111"}},
					"request": map[string]any{"method": "POST", "url": "ProjectMembership"}},
				map[string]any{"resource": map[string]any{"resourceType": "Patient", "gender": "robot"},
					"request": map[string]any{"method": "POST", "url": "Patient"}},
			}})
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(count()).To(Equal(before))
			Expect(events(p.Token, of(audit.MemberCreate, "entity", m.User))).To(HaveLen(1), "the invite's own, nothing more")
		})

		It("leaves no AuditEvent: an invite joined to a caller's transaction that fails after it", func() {
			email := "rolled-back-" + uniq() + "@example.com"
			ctx := resources.AsSystem(context.Background(), p.ID)
			err := srv.App.Resources.InTx(ctx, func(ctx context.Context) error {
				res, err := srv.App.Admin.InviteUser(ctx, p.ID, admin.InviteRequest{ResourceType: "Practitioner",
					FirstName: "Roll", LastName: "Back", Email: email, SendEmail: new(bool)})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Outcome).To(Equal(admin.InviteCreated))
				return errors.New("a later step of the caller failed")
			})
			Expect(err).To(HaveOccurred())
			Expect(events(p.Token, of(audit.Invite))).To(BeEmpty(), "no invite of %s may remain", email)
			Expect(events(p.Token, of(audit.MemberCreate))).To(HaveLen(1), "the admin's own membership only")
		})
	})
})
