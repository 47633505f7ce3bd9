package admin_test

import (
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Offboarding: deleting a user's last membership", func() {
	var p project
	BeforeEach(func() { p = newProject(srv) })

	memberPath := func(m map[string]any) string { return "admin/projects/" + p.ID + "/members/" + m["id"].(string) }

	When("the user is project-scoped", func() {
		var (
			email, userID, token string
			m                    map[string]any
		)
		BeforeEach(func() {
			email = emailFor("leaver")
			userID, _, m = projectScoped(p, email)
			var err error
			token, err = srv.Login(email, fixtures.AdminPassword)
			Expect(err).NotTo(HaveOccurred())
			Expect(do(srv, "GET", "auth/me", token, nil).Status).To(Equal(200))
		})

		It("deletes the User: its token stops at the next request, its password stops, the deletion is audited", func() {
			r := do(srv, "DELETE", memberPath(m), p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))

			Expect(do(srv, "GET", "auth/me", token, nil).Status).To(Equal(401))
			Expect(do(srv, "GET", "fhir/R4/Practitioner", token, nil).Status).To(Equal(401))
			Expect(do(srv, "GET", "fhir/R4/User/"+userID, srv.AdminToken, nil).Status).To(Equal(410))
			Expect(do(srv, "GET", "fhir/R4/User/"+userID, p.Token, nil).Status).To(Equal(410))
			Expect(users(srv, email)).To(BeEmpty())
			_, err := srv.Login(email, fixtures.AdminPassword)
			Expect(err).To(HaveOccurred())

			events := do(srv, "GET", "fhir/R4/AuditEvent?subtype="+url.QueryEscape(audit.SubtypeSystem+"|"+audit.UserDelete.Code)+
				"&entity=User/"+userID, p.Token, nil)
			Expect(events.Status).To(Equal(200), string(events.Body))
			Expect(events.Resources()).To(HaveLen(1))
			Expect(events.Resources()[0]).To(HaveKeyWithValue("action", "D"))
		})

		It("lets the same email be invited again, as a new user", func() {
			Expect(do(srv, "DELETE", memberPath(m), p.Token, nil).Status).To(Equal(200))
			r := invite(srv, p.Token, p.ID, with(practitioner(email), "scope", "project", "password", fixtures.AdminPassword))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.Header.Get("Roster-Invite-Outcome")).To(Equal("created"))
			again := idOf(ref(r.JSON(), "user"))
			Expect(again).NotTo(Equal(userID))
			Expect(users(srv, email)).To(HaveLen(1))
			_, err := srv.Login(email, fixtures.AdminPassword)
			Expect(err).NotTo(HaveOccurred())
		})

		It("keeps the User while it has another membership", func() {
			second := newPractitioner(srv, p.Token, emailFor("second"))
			r := invite(srv, p.Token, p.ID, with(practitioner(email), "scope", "project", "forceNewMembership", true,
				"membership", map[string]any{"profile": map[string]any{"reference": "Practitioner/" + second}}))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(idOf(ref(r.JSON(), "user"))).To(Equal(userID))

			Expect(do(srv, "DELETE", memberPath(m), p.Token, nil).Status).To(Equal(200))
			Expect(do(srv, "GET", "fhir/R4/User/"+userID, srv.AdminToken, nil).Status).To(Equal(200))
			Expect(do(srv, "DELETE", memberPath(r.JSON()), p.Token, nil).Status).To(Equal(200))
			Expect(do(srv, "GET", "fhir/R4/User/"+userID, srv.AdminToken, nil).Status).To(Equal(410))
		})

		It("leaves everything as it was when the delete is refused", func() {
			Expect(do(srv, "DELETE", memberPath(m), token, nil).Status).To(Equal(403))
			Expect(do(srv, "GET", "fhir/R4/User/"+userID, srv.AdminToken, nil).Status).To(Equal(200))
			Expect(do(srv, "GET", "auth/me", token, nil).Status).To(Equal(200))
		})
	})

	It("keeps a server-scoped User, which other projects may share", func() {
		email := emailFor("stayer")
		r := invite(srv, p.Token, p.ID, with(practitioner(email), "password", fixtures.AdminPassword, "sendEmail", false))
		Expect(r.Status).To(Equal(200), string(r.Body))
		userID := idOf(ref(r.JSON(), "user"))
		Expect(do(srv, "DELETE", memberPath(r.JSON()), p.Token, nil).Status).To(Equal(200))
		Expect(do(srv, "GET", "fhir/R4/User/"+userID, srv.AdminToken, nil).Status).To(Equal(200))
		Expect(users(srv, email)).To(HaveLen(1))
		r = invite(srv, p.Token, p.ID, practitioner(email))
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(idOf(ref(r.JSON(), "user"))).To(Equal(userID))
	})
})
