package admin_test

import (
	"context"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/fixtures"
)

// updateEmailPath is the $update-email operation of a User.
func updateEmailPath(userID string) string { return "fhir/R4/User/" + userID + "/$update-email" }

// emailParameters is the operation's body as Medplum's client sends it.
func emailParameters(email string, more ...map[string]any) map[string]any {
	params := []any{map[string]any{"name": "email", "valueString": email}}
	for _, p := range more {
		params = append(params, p)
	}
	return map[string]any{"resourceType": "Parameters", "parameter": params}
}

// projectScoped invites a project-scoped Practitioner with a password into
// p and answers the user's and the profile's ids and the membership.
func projectScoped(p project, email string, extra ...any) (userID, profileID string, m map[string]any) {
	GinkgoHelper()
	body := with(practitioner(email), append([]any{"scope", "project", "password", fixtures.AdminPassword, "sendEmail", false}, extra...)...)
	r := invite(srv, p.Token, p.ID, body)
	Expect(r.Status).To(Equal(200), string(r.Body))
	m = r.JSON()
	return idOf(ref(m, "user")), idOf(ref(m, "profile")), m
}

// read GETs a resource as the super admin and fails the spec unless it is there.
func read(path string) *fixtures.Response {
	GinkgoHelper()
	r := do(srv, "GET", path, srv.AdminToken, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r
}

func versionOf(path string) string {
	GinkgoHelper()
	return read(path).JSON()["meta"].(map[string]any)["versionId"].(string)
}

var _ = Describe("POST /fhir/R4/User/{id}/$update-email", func() {
	var (
		p              project
		old, next      string
		userID, pracID string
		membership     map[string]any
	)

	BeforeEach(func() {
		p = newProject(srv)
		old, next = emailFor("old"), emailFor("new")
		// A profile made without names carries the address as its name.
		pracID = create(srv, p.Token, map[string]any{"resourceType": "Practitioner",
			"name":    []any{map[string]any{"text": old}},
			"telecom": []any{map[string]any{"system": "phone", "value": "555-0100"}, map[string]any{"system": "email", "value": old}}})
		userID, _, membership = projectScoped(p, old, "membership", map[string]any{"profile": map[string]any{"reference": "Practitioner/" + pracID}})
		Expect(display(membership, "profile")).To(Equal(old))
	})

	It("moves the User, its profile's telecom and name, and its membership to the new address, audits it and signs in with it", func() {
		r := do(srv, "POST", updateEmailPath(userID), p.Token, emailParameters("  "+strings.ToUpper(next)+" ",
			map[string]any{"name": "updateProfileTelecom", "valueBoolean": true}))
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()).To(And(HaveKeyWithValue("resourceType", "User"), HaveKeyWithValue("id", userID),
			HaveKeyWithValue("email", next), HaveKeyWithValue("emailVerified", false)))

		prac := read("fhir/R4/Practitioner/" + pracID).JSON()
		Expect(prac["telecom"]).To(Equal([]any{
			map[string]any{"system": "phone", "value": "555-0100"},
			map[string]any{"system": "email", "value": next},
		}))
		Expect(prac["name"]).To(Equal([]any{map[string]any{"text": next}}))
		m := read("admin/projects/" + p.ID + "/members/" + membership["id"].(string)).JSON()
		Expect(display(m, "user")).To(Equal(next))
		Expect(display(m, "profile")).To(Equal(next))

		By("leaving the old address nowhere on the user's resources")
		for _, path := range []string{"fhir/R4/User/" + userID, "fhir/R4/Practitioner/" + pracID,
			"fhir/R4/ProjectMembership/" + membership["id"].(string), "admin/projects/" + p.ID} {
			Expect(string(read(path).Body)).NotTo(ContainSubstring(old), path)
		}
		Expect(users(srv, old)).To(BeEmpty())
		Expect(profiles(srv, "Practitioner", old)).To(BeEmpty())
		Expect(profiles(srv, "Practitioner", next)).To(HaveLen(1))

		By("recording the change in the audit trail, by the admin")
		events := do(srv, "GET", "fhir/R4/AuditEvent?subtype="+url.QueryEscape(audit.SubtypeSystem+"|"+audit.EmailChange.Code)+
			"&entity=User/"+userID, p.Token, nil)
		Expect(events.Status).To(Equal(200), string(events.Body))
		Expect(events.Resources()).To(HaveLen(1))
		ev := events.Resources()[0]
		Expect(ev["entity"].([]any)[0].(map[string]any)["detail"]).To(ContainElement(
			map[string]any{"type": "email", "valueString": old + " → " + next}))
		me := do(srv, "GET", "auth/me", p.Token, nil).JSON()
		Expect(ev["agent"].([]any)[0].(map[string]any)["altId"]).To(Equal("User/" + me["user"].(map[string]any)["id"].(string)))

		By("telling both addresses")
		Expect(mails(srv, p.ID, old)).To(ContainElement(HaveField("Kind", admin.MailKindEmailChanged)))
		Expect(mails(srv, p.ID, next)).To(ContainElement(HaveField("Kind", admin.MailKindEmailChanged)))

		By("moving its pending invitation to the new address")
		for addr, want := range map[string]int{old: 0, next: 1} {
			list := do(srv, "GET", "admin/projects/"+p.ID+"/invites?status=pending&email="+url.QueryEscape(addr), p.Token, nil)
			Expect(list.Status).To(Equal(200), string(list.Body))
			Expect(list.JSON()["invites"]).To(HaveLen(want), addr)
		}

		By("signing in with the new address only")
		_, err := srv.Login(next, fixtures.AdminPassword)
		Expect(err).NotTo(HaveOccurred())
		_, err = srv.Login(old, fixtures.AdminPassword)
		Expect(err).To(HaveOccurred())
	})

	It("accepts a plain {email} body; sendEmail false mails nothing; the same address again writes nothing", func() {
		r := do(srv, "POST", updateEmailPath(userID), p.Token, map[string]any{"email": next, "sendEmail": false})
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("email", next))
		Expect(mails(srv, p.ID, next)).To(BeEmpty())
		version := versionOf("fhir/R4/User/" + userID)

		r = do(srv, "POST", updateEmailPath(userID), p.Token, map[string]any{"email": strings.ToUpper(next)})
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(versionOf("fhir/R4/User/" + userID)).To(Equal(version))
	})

	It("adds the address to a profile that did not carry it, keeping its other contacts", func() {
		bare := create(srv, p.Token, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Doe"}},
			"telecom": []any{map[string]any{"system": "email", "value": "home-" + uniq() + "@example.org"}}})
		home := read("fhir/R4/Patient/" + bare).JSON()["telecom"].([]any)[0]
		r := invite(srv, p.Token, p.ID, map[string]any{"resourceType": "Patient", "firstName": "Jo", "lastName": "Doe",
			"email": emailFor("pat"), "sendEmail": false, "membership": map[string]any{"profile": map[string]any{"reference": "Patient/" + bare}}})
		Expect(r.Status).To(Equal(200), string(r.Body))
		r = do(srv, "POST", updateEmailPath(idOf(ref(r.JSON(), "user"))), p.Token, emailParameters(next))
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(read("fhir/R4/Patient/" + bare).JSON()["telecom"]).To(Equal([]any{home,
			map[string]any{"system": "email", "use": "work", "value": next}}))
	})

	DescribeTable("bad input: 400 naming the parameter, nothing written",
		func(body any, want string) {
			before := versionOf("fhir/R4/User/" + userID)
			r := do(srv, "POST", updateEmailPath(userID), p.Token, body)
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(expressions(r)).To(ConsistOf(want))
			Expect(versionOf("fhir/R4/User/" + userID)).To(Equal(before))
			Expect(users(srv, old)).To(HaveLen(1))
		},
		Entry("no email", map[string]any{"resourceType": "Parameters", "parameter": []any{}}, "email"),
		Entry("an empty email", emailParameters("  "), "email"),
		Entry("not an address", emailParameters("not-an-address"), "email"),
		Entry("an address with a display name", map[string]any{"email": "Jane <jane@example.com>"}, "email"),
		Entry("email as a boolean", map[string]any{"resourceType": "Parameters",
			"parameter": []any{map[string]any{"name": "email", "valueBoolean": true}}}, "email"),
		Entry("email given twice", emailParameters(emailFor("a"), map[string]any{"name": "email", "valueString": emailFor("b")}), "email"),
		Entry("a plain body's email as a number", map[string]any{"email": 5}, "email"),
		Entry("a plain body without email", map[string]any{"mail": "x@example.com"}, "email"),
		Entry("sendEmail not a boolean", map[string]any{"email": emailFor("a"), "sendEmail": "no"}, "sendEmail"),
		Entry("updateProfileTelecom as a string", emailParameters(emailFor("a"),
			map[string]any{"name": "updateProfileTelecom", "valueString": "true"}), "updateProfileTelecom"),
		Entry("another resource", map[string]any{"resourceType": "Patient"}, "resourceType"),
	)

	It("answers 400 for a body that is no JSON object", func() {
		r := do(srv, "POST", updateEmailPath(userID), p.Token, `["x@example.com"]`)
		Expect(r.Status).To(Equal(400), string(r.Body))
		Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
	})

	Describe("an address another account has: 409, nothing written", func() {
		check := func(taken string) {
			GinkgoHelper()
			before := versionOf("fhir/R4/User/" + userID)
			r := do(srv, "POST", updateEmailPath(userID), p.Token, emailParameters(strings.ToUpper(taken)))
			Expect(r.Status).To(Equal(409), string(r.Body))
			Expect(expressions(r)).To(ConsistOf("email"))
			Expect(versionOf("fhir/R4/User/" + userID)).To(Equal(before))
			Expect(read("fhir/R4/Practitioner/" + pracID).JSON()["name"]).To(Equal([]any{map[string]any{"text": old}}))
			Expect(mails(srv, p.ID, taken)).To(BeEmpty())
		}

		It("refuses one of another user of the project", func() {
			taken := emailFor("taken")
			projectScoped(p, taken)
			check(taken)
		})

		It("refuses one of a server-scoped user", func() {
			taken := emailFor("server")
			Expect(srv.AddMember(newProject(srv).ID, taken, "Sam", "Server", fixtures.AdminPassword, false)).To(Succeed())
			check(taken)
		})

		It("lets a project-scoped user of another project keep the same address", func() {
			same := emailFor("elsewhere")
			projectScoped(newProject(srv), same)
			r := do(srv, "POST", updateEmailPath(userID), p.Token, emailParameters(same))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(users(srv, same)).To(HaveLen(2))
		})
	})

	Describe("who may", func() {
		var other project
		BeforeEach(func() { other = newProject(srv) })

		DescribeTable("admins of every project of the user, or the super admin",
			func(who func() string, status int) {
				r := do(srv, "POST", updateEmailPath(userID), who(), emailParameters(next))
				Expect(r.Status).To(Equal(status), string(r.Body))
				if status != 200 {
					Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
					Expect(users(srv, old)).To(HaveLen(1))
					Expect(users(srv, next)).To(BeEmpty())
				}
			},
			Entry("the project's admin", func() string { return p.Token }, 200),
			Entry("the super admin", func() string { return srv.AdminToken }, 200),
			Entry("a member of the project", func() string { _, tok := member(srv, p.ID); return tok }, 403),
			Entry("the user itself", func() string {
				tok, err := srv.Login(old, fixtures.AdminPassword)
				Expect(err).NotTo(HaveOccurred())
				return tok
			}, 403),
			Entry("another project's admin (who cannot see the user)", func() string { return other.Token }, 404),
			Entry("nobody signed in", func() string { return "" }, 401),
		)

		It("is 404 for an unknown user and for another type", func() {
			Expect(do(srv, "POST", updateEmailPath("nope"), p.Token, emailParameters(next)).Status).To(Equal(404))
			Expect(do(srv, "POST", "fhir/R4/Patient/"+userID+"/$update-email", p.Token, emailParameters(next)).Status).To(Equal(404))
		})

		When("the user is server-scoped", func() {
			var shared, sharedID string
			BeforeEach(func() {
				shared = emailFor("shared")
				Expect(srv.AddMember(p.ID, shared, "Sue", "Shared", fixtures.AdminPassword, false)).To(Succeed())
				sharedID = users(srv, shared)[0]["id"].(string)
			})

			It("lets the admin of its only project change it", func() {
				r := do(srv, "POST", updateEmailPath(sharedID), p.Token, emailParameters(next))
				Expect(r.Status).To(Equal(200), string(r.Body))
				Expect(users(srv, next)).To(HaveLen(1))
			})

			It("refuses the admin of one of its projects when it has others (403), lets the super admin", func() {
				r := invite(srv, other.Token, other.ID, practitioner(shared))
				Expect(r.Status).To(Equal(200), string(r.Body))
				Expect(idOf(ref(r.JSON(), "user"))).To(Equal(sharedID))
				Expect(do(srv, "POST", updateEmailPath(sharedID), p.Token, emailParameters(next)).Status).To(Equal(403))
				Expect(do(srv, "POST", updateEmailPath(sharedID), other.Token, emailParameters(next)).Status).To(Equal(403))
				Expect(users(srv, shared)).To(HaveLen(1))
				Expect(do(srv, "POST", updateEmailPath(sharedID), srv.AdminToken, emailParameters(next)).Status).To(Equal(200))
				Expect(users(srv, next)).To(HaveLen(1))
			})
		})

		It("refuses a project admin the super admin's address (403)", func() {
			me := do(srv, "GET", "auth/me", srv.AdminToken, nil).JSON()
			superID := me["user"].(map[string]any)["id"].(string)
			defaultProject := srv.App.DefaultProject(context.Background())
			// An admin of the super admin's own project.
			email := emailFor("default-admin")
			Expect(srv.AddMember(defaultProject, email, "Dee", "Fault", fixtures.AdminPassword, true)).To(Succeed())
			tok, err := srv.LoginFull(email, fixtures.AdminPassword, defaultProject)
			Expect(err).NotTo(HaveOccurred())
			r := do(srv, "POST", updateEmailPath(superID), tok.AccessToken, emailParameters(next))
			Expect(r.Status).To(Equal(403), string(r.Body))
		})
	})
})
