package admin_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

var _ = Describe("POST /admin/projects/{projectId}/invite", func() {
	var (
		p     project
		email string
		body  map[string]any
		token string
		resp  *fixtures.Response
	)

	BeforeEach(func() {
		p = newProject(srv)
		email = emailFor("dr")
		body = practitioner(email)
		token = p.Token
	})

	act := func() { resp = invite(srv, token, p.ID, body) }

	// nothingWritten checks a refused invite left no trace.
	nothingWritten := func(members int) {
		GinkgoHelper()
		Expect(users(srv, email)).To(BeEmpty())
		Expect(profiles(srv, "Practitioner", email)).To(BeEmpty())
		Expect(memberships(srv, p.ID)).To(HaveLen(members))
		Expect(mails(srv, p.ID, email)).To(BeEmpty())
	}

	Describe("who may invite", func() {
		var other project
		BeforeEach(func() { other = newProject(srv) })

		DescribeTable("answers by caller",
			func(who func() (tok, projectID string), status int) {
				tok, projectID := who()
				before := len(memberships(srv, p.ID))
				r := invite(srv, tok, projectID, body)
				Expect(r.Status).To(Equal(status), string(r.Body))
				if status != 200 {
					Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
					nothingWritten(before)
				} else {
					Expect(r.JSON()["resourceType"]).To(Equal("ProjectMembership"))
				}
			},
			Entry("a project admin into its own project", func() (string, string) { return p.Token, p.ID }, 200),
			Entry("the super admin into any project", func() (string, string) { return srv.AdminToken, p.ID }, 200),
			Entry("a project admin into another project: 403", func() (string, string) { return other.Token, p.ID }, 403),
			Entry("a member who is not an admin: 403", func() (string, string) {
				_, t := member(srv, p.ID)
				return t, p.ID
			}, 403),
			Entry("a project admin into an unknown project: 404", func() (string, string) { return p.Token, "no-such-project" }, 404),
			Entry("the super admin into an unknown project: 404", func() (string, string) { return srv.AdminToken, "no-such-project" }, 404),
			Entry("nobody signed in: 401", func() (string, string) { return "", p.ID }, 401),
			Entry("a bad token: 401", func() (string, string) { return "not-a-token", p.ID }, 401),
		)

		It("lets an admin ClientApplication of the project invite with Basic credentials", func() {
			r := do(srv, "POST", "admin/projects/"+p.ID+"/client", p.Token, map[string]any{"name": "HR sync", "admin": true})
			Expect(r.Status).To(Equal(201), string(r.Body))
			basic := base64.StdEncoding.EncodeToString([]byte(r.JSON()["id"].(string) + ":" + r.JSON()["secret"].(string)))
			r = do(srv, "POST", invitePath(p.ID), "", body, "Authorization", "Basic "+basic)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(ref(r.JSON(), "invitedBy")).To(HavePrefix("ClientApplication/"))
		})

		It("refuses before looking at the body", func() {
			r := invite(srv, other.Token, p.ID, "{not json")
			Expect(r.Status).To(Equal(403))
		})
	})

	Describe("validation", func() {
		var otherPatient, ownPatient, otherPolicy, otherPractitioner string
		BeforeEach(func() {
			other := newProject(srv)
			otherPatient = newPatient(srv, other.Token)
			otherPolicy = newPolicy(srv, other.Token)
			otherPractitioner = newPractitioner(srv, other.Token, emailFor("x"))
			ownPatient = newPatient(srv, p.Token)
		})

		DescribeTable("answers 400 with one issue per bad field, writing nothing",
			func(edit func(b map[string]any) map[string]any, want ...string) {
				b := edit(practitioner(email))
				for k, v := range b {
					if s, ok := v.(string); ok {
						s = strings.ReplaceAll(s, "{otherPatient}", otherPatient)
						s = strings.ReplaceAll(s, "{ownPatient}", ownPatient)
						b[k] = s
					}
				}
				if m, ok := b["membership"].(map[string]any); ok {
					for k, v := range m {
						if r, ok := v.(map[string]any); ok {
							s := r["reference"].(string)
							s = strings.ReplaceAll(s, "{otherPolicy}", otherPolicy)
							s = strings.ReplaceAll(s, "{otherPractitioner}", otherPractitioner)
							s = strings.ReplaceAll(s, "{ownPatient}", ownPatient)
							m[k] = map[string]any{"reference": s}
						}
					}
				}
				if pt, ok := b["patient"].(map[string]any); ok {
					s := pt["reference"].(string)
					s = strings.ReplaceAll(s, "{otherPatient}", otherPatient)
					b["patient"] = map[string]any{"reference": s}
				}
				r := invite(srv, p.Token, p.ID, b)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(expressions(r)).To(ConsistOf(want))
				nothingWritten(1)
			},
			Entry("resourceType missing", edit("resourceType", nil), "resourceType"),
			Entry("resourceType not a profile type", edit("resourceType", "Organization"), "resourceType"),
			Entry("firstName missing", edit("firstName", nil), "firstName"),
			Entry("firstName blank", edit("firstName", "   "), "firstName"),
			Entry("lastName missing", edit("lastName", nil), "lastName"),
			Entry("firstName with U+0000", edit("firstName", "Ann\u0000"), "firstName"),
			Entry("lastName with a control character", edit("lastName", "Lee\u0007"), "lastName"),
			Entry("neither email nor externalId", edit("email", nil), "email"),
			Entry("malformed email", edit("email", "dr.who-at-example.com"), "email"),
			Entry("email with a display name", edit("email", "Dr <a@b.com>"), "email"),
			Entry("password shorter than 8", edit("password", "short"), "password"),
			Entry("password longer than 72 bytes", edit("password", strings.Repeat("é", 37)), "password"),
			Entry("scope neither project nor server", edit("scope", "galaxy"), "scope"),
			Entry("a field of the wrong type", edit("firstName", 42), "firstName"),
			Entry("mfaRequired not a boolean", edit("mfaRequired", "yes"), "mfaRequired"),
			Entry("several bad fields at once", func(b map[string]any) map[string]any {
				return map[string]any{"password": "x"}
			}, "resourceType", "firstName", "lastName", "email", "password"),
			Entry("RelatedPerson without a patient", edit("resourceType", "RelatedPerson"), "patient"),
			Entry("RelatedPerson with a patient that does not exist", edit("resourceType", "RelatedPerson", "patient", map[string]any{"reference": "Patient/nope"}), "patient"),
			Entry("RelatedPerson with another project's patient", edit("resourceType", "RelatedPerson", "patient", map[string]any{"reference": "Patient/{otherPatient}"}), "patient"),
			Entry("RelatedPerson with a patient that is not a Patient reference", edit("resourceType", "RelatedPerson", "patient", map[string]any{"reference": "Practitioner/x"}), "patient"),
			Entry("membership with an unknown element", edit("membership", map[string]any{"admn": true}), "membership.admn"),
			Entry("membership.profile of another project", edit("membership", map[string]any{"profile": map[string]any{"reference": "Practitioner/{otherPractitioner}"}}), "membership.profile"),
			Entry("membership.profile of another type", edit("membership", map[string]any{"profile": map[string]any{"reference": "Patient/{ownPatient}"}}), "membership.profile"),
			Entry("membership.accessPolicy that does not exist", edit("membership", map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/nope"}}), "membership.accessPolicy"),
			Entry("membership.accessPolicy of another project", edit("membership", map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/{otherPolicy}"}}), "membership.accessPolicy"),
			Entry("a top-level accessPolicy that does not exist", edit("accessPolicy", map[string]any{"reference": "AccessPolicy/nope"}), "accessPolicy"),
		)

		It("answers 400 for a body that is not a JSON object", func() {
			r := invite(srv, p.Token, p.ID, "[1,2]")
			Expect(r.Status).To(Equal(400))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
		})
	})

	Describe("a new practitioner", func() {
		JustBeforeEach(act)

		BeforeEach(func() {
			body = with(body, "email", "  "+strings.ToUpper(email[:1])+email[1:]+"  ")
		})

		It("answers 200 with the membership, its references displayed, as Medplum does", func() {
			Expect(resp.Status).To(Equal(200), string(resp.Body))
			Expect(resp.Header.Get(admin.InviteOutcomeHeader)).To(Equal("created"))
			m := resp.JSON()
			Expect(m["resourceType"]).To(Equal("ProjectMembership"))
			Expect(m["id"]).NotTo(BeEmpty())
			Expect(ref(m, "project")).To(Equal("Project/" + p.ID))
			Expect(ref(m, "user")).To(HavePrefix("User/"))
			Expect(display(m, "user")).To(Equal(email))
			Expect(ref(m, "profile")).To(HavePrefix("Practitioner/"))
			Expect(display(m, "profile")).To(Equal("Gregory House"))
			Expect(m["meta"].(map[string]any)["project"]).To(Equal(p.ID))
		})

		It("records the inviting admin's profile as invitedBy", func() {
			r := do(srv, "GET", "auth/me", p.Token, nil)
			adminProfile := r.JSON()["profile"].(map[string]any)
			Expect(ref(resp.JSON(), "invitedBy")).To(Equal("Practitioner/" + adminProfile["id"].(string)))
		})

		It("creates one server-scoped User with the email trimmed and lower-cased", func() {
			us := users(srv, email)
			Expect(us).To(HaveLen(1))
			Expect(us[0]["email"]).To(Equal(email))
			Expect(us[0]).NotTo(HaveKey("project"))
			Expect(us[0]["firstName"]).To(Equal("Gregory"))
			Expect(ref(resp.JSON(), "user")).To(Equal("User/" + us[0]["id"].(string)))
		})

		It("creates the profile with the name and the email as a telecom", func() {
			ps := profiles(srv, "Practitioner", email)
			Expect(ps).To(HaveLen(1))
			Expect(ps[0]["name"]).To(Equal([]any{map[string]any{"given": []any{"Gregory"}, "family": "House"}}))
			Expect(ps[0]["telecom"]).To(ContainElement(HaveKeyWithValue("value", email)))
			Expect(ps[0]["meta"].(map[string]any)["project"]).To(Equal(p.ID))
		})

		It("leaves the user without a usable password", func() {
			_, err := srv.Login(email, fixtures.AdminPassword)
			Expect(err).To(HaveOccurred())
		})

		It("queues a welcome mail with a one-time set-password link valid 7 days", func() {
			ms := mails(srv, p.ID, email)
			Expect(ms).To(HaveLen(1))
			Expect(ms[0].Kind).To(Equal(admin.MailKindWelcome))
			link := regexp.MustCompile(regexp.QuoteMeta(srv.App.Config.AppURL) + `setpassword/([^/\s]+)/([^/\s"<]+)`).FindStringSubmatch(ms[0].Text)
			Expect(link).NotTo(BeNil(), ms[0].Text)
			Expect(ms[0].HTML).To(ContainSubstring(link[0]))
			l, err := srv.App.Store.GetLink(context.Background(), link[1])
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Kind).To(Equal(auth.LinkSetPassword))
			Expect(l.UserID).To(Equal(idOf(ref(resp.JSON(), "user"))))
			Expect(l.ExpiresAt.Sub(l.CreatedAt)).To(Equal(7 * 24 * time.Hour))
			Expect(l.SecretHash).To(Equal(auth.HashSecret(link[2])), "only the hash of the secret is kept")
		})
	})

	Describe("user scope", func() {
		DescribeTable("project-scoped users for patients, externalId invites and scope: project",
			func(edit func(b map[string]any) map[string]any, projectScoped bool) {
				b := edit(body)
				r := invite(srv, p.Token, p.ID, b)
				Expect(r.Status).To(Equal(200), string(r.Body))
				u := do(srv, "GET", "fhir/R4/"+ref(r.JSON(), "user"), srv.AdminToken, nil).JSON()
				if projectScoped {
					Expect(ref(u, "project")).To(Equal("Project/" + p.ID))
					Expect(u["meta"].(map[string]any)["project"]).To(Equal(p.ID))
				} else {
					Expect(u).NotTo(HaveKey("project"))
				}
			},
			Entry("Practitioner: server", edit(), false),
			Entry("Patient: project", edit("resourceType", "Patient"), true),
			Entry("Patient with scope server: server", edit("resourceType", "Patient", "scope", "server"), false),
			Entry("Practitioner with scope project: project", edit("scope", "project"), true),
			Entry("Practitioner with an externalId: project", edit("externalId", "ext-"+uniq()), true),
			Entry("externalId without email: project", edit("email", nil, "externalId", "ext-"+uniq()), true),
			Entry("externalId with scope server: still project", edit("externalId", "ext-"+uniq(), "scope", "server"), true),
		)

		It("keeps a project-scoped and a server-scoped user of one email apart", func() {
			other := newProject(srv)
			Expect(invite(srv, p.Token, p.ID, with(body, "resourceType", "Patient")).Status).To(Equal(200))
			Expect(invite(srv, other.Token, other.ID, body).Status).To(Equal(200))
			Expect(users(srv, email)).To(HaveLen(2))
		})

		It("refuses a second account at the other scope in the same project (409) unless forced", func() {
			Expect(invite(srv, p.Token, p.ID, with(body, "resourceType", "Patient")).Status).To(Equal(200))
			r := invite(srv, p.Token, p.ID, body)
			Expect(r.Status).To(Equal(409), string(r.Body))
			Expect(message(r)).To(Equal("User is already a member of this project"))
			Expect(users(srv, email)).To(HaveLen(1))
			r = invite(srv, p.Token, p.ID, with(body, "forceNewMembership", true))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(users(srv, email)).To(HaveLen(2))
		})
	})

	Describe("an existing user", func() {
		JustBeforeEach(act)

		var other project
		var first *fixtures.Response
		BeforeEach(func() {
			other = newProject(srv)
			first = invite(srv, other.Token, other.ID, with(body, "password", "first-password"))
			Expect(first.Status).To(Equal(200), string(first.Body))
		})

		It("is reused, in any letter case, with a membership of its own in each project", func() {
			Expect(resp.Status).To(Equal(200), string(resp.Body))
			Expect(ref(resp.JSON(), "user")).To(Equal(ref(first.JSON(), "user")))
			Expect(resp.JSON()["id"]).NotTo(Equal(first.JSON()["id"]))
			Expect(users(srv, email)).To(HaveLen(1))
			Expect(ref(resp.JSON(), "profile")).NotTo(Equal(ref(first.JSON(), "profile")), "a profile per project")
		})

		It("gets a 'you were added' mail naming the project, and no link", func() {
			ms := mails(srv, p.ID, email)
			Expect(ms).To(HaveLen(1))
			Expect(ms[0].Kind).To(Equal(admin.MailKindInvite))
			name := do(srv, "GET", "admin/projects/"+p.ID, p.Token, nil).JSON()["project"].(map[string]any)["name"].(string)
			Expect(ms[0].Subject).To(Equal("You were added to " + name))
			Expect(ms[0].Text).To(ContainSubstring(name))
			Expect(ms[0].Text).NotTo(ContainSubstring("setpassword"))
		})

		When("the invite gives a password", func() {
			BeforeEach(func() { body = with(body, "password", "second-password") })
			It("does not change the existing user's password", func() {
				Expect(resp.Status).To(Equal(200))
				_, err := srv.LoginFull(email, "first-password", other.ID)
				Expect(err).NotTo(HaveOccurred())
				_, err = srv.LoginFull(email, "second-password", p.ID)
				Expect(err).To(HaveOccurred())
			})
		})
	})

	When("a password is given", func() {
		JustBeforeEach(act)

		BeforeEach(func() { body = with(body, "password", "lib3rty0rDe4th!") })
		It("sets it, so the invitee can sign in, and mails no set-password link", func() {
			Expect(resp.Status).To(Equal(200), string(resp.Body))
			tok, err := srv.LoginFull(email, "lib3rty0rDe4th!", "")
			Expect(err).NotTo(HaveOccurred())
			Expect(tok.Profile.Reference).To(Equal(ref(resp.JSON(), "profile")))
			ms := mails(srv, p.ID, email)
			Expect(ms).To(HaveLen(1))
			Expect(ms[0].Kind).To(Equal(admin.MailKindWelcome))
			Expect(ms[0].Text).NotTo(ContainSubstring("setpassword"))
			Expect(ms[0].Text).To(ContainSubstring(srv.App.Config.AppURL + "signin"))
		})
	})

	When("mfaRequired is true", func() {
		JustBeforeEach(act)

		BeforeEach(func() { body = with(body, "password", "lib3rty0rDe4th!", "mfaRequired", true) })
		It("makes the new user enroll a second factor at the first sign-in, before any code", func() {
			Expect(resp.Status).To(Equal(200), string(resp.Body))
			r, err := srv.Do("POST", "auth/login", "", map[string]any{"email": email, "password": "lib3rty0rDe4th!",
				"codeChallenge": strings.Repeat("c", 43), "codeChallengeMethod": "S256"})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("mfaEnrollRequired", true))
			Expect(r.JSON()).NotTo(HaveKey("code"))
			Expect(users(srv, email)).To(ConsistOf(HaveKeyWithValue("mfaRequired", true)))
		})

		It("leaves an existing user's own setting alone, as Medplum does", func() {
			other := emailFor("other")
			first := invite(srv, p.Token, p.ID, with(practitioner(other), "password", "lib3rty0rDe4th!"))
			Expect(first.Status).To(Equal(200), string(first.Body))
			np := newProject(srv)
			again := invite(srv, np.Token, np.ID, with(practitioner(other), "mfaRequired", true))
			Expect(again.Status).To(Equal(200), string(again.Body))
			Expect(users(srv, other)).To(ConsistOf(Not(HaveKey("mfaRequired"))))
		})
	})

	When("sendEmail is false", func() {
		JustBeforeEach(act)

		BeforeEach(func() { body = with(body, "sendEmail", false) })
		It("queues no mail and creates no link", func() {
			Expect(resp.Status).To(Equal(200))
			Expect(mails(srv, p.ID, email)).To(BeEmpty())
		})
	})

	When("there is no email", func() {
		JustBeforeEach(act)

		BeforeEach(func() { body = with(body, "email", nil, "externalId", "okta|"+uniq()) })
		It("invites by externalId, set on the membership, and mails nothing", func() {
			Expect(resp.Status).To(Equal(200), string(resp.Body))
			Expect(resp.JSON()["externalId"]).To(Equal(body["externalId"]))
			all, err := srv.App.Store.ListMail(context.Background(), p.ID, 100)
			Expect(err).NotTo(HaveOccurred())
			Expect(all).To(BeEmpty())
		})
		It("finds the same user and profile again by the externalId", func() {
			again := invite(srv, p.Token, p.ID, with(body, "upsert", true))
			Expect(again.Status).To(Equal(200), string(again.Body))
			Expect(again.Header.Get(admin.InviteOutcomeHeader)).To(Equal("unchanged"))
			Expect(again.JSON()["id"]).To(Equal(resp.JSON()["id"]))
			Expect(ref(again.JSON(), "profile")).To(Equal(ref(resp.JSON(), "profile")))
		})
	})

	Describe("the profile", func() {
		JustBeforeEach(act)

		When("the project has a profile of that type with the email", func() {
			var existing string
			BeforeEach(func() { existing = newPractitioner(srv, p.Token, strings.ToUpper(email)) })
			It("reuses it, keeping its name", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				Expect(ref(resp.JSON(), "profile")).To(Equal("Practitioner/" + existing))
				Expect(display(resp.JSON(), "profile")).To(Equal("Lisa Cuddy"))
				Expect(profiles(srv, "Practitioner", email)).To(HaveLen(1))
			})
		})

		When("only a profile of another type has the email", func() {
			BeforeEach(func() {
				newPractitioner(srv, p.Token, email)
				body = with(body, "resourceType", "Patient")
			})
			It("creates one of the requested type", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				Expect(ref(resp.JSON(), "profile")).To(HavePrefix("Patient/"))
				Expect(profiles(srv, "Patient", email)).To(HaveLen(1))
			})
		})

		When("two profiles of that type have the email", func() {
			BeforeEach(func() {
				newPractitioner(srv, p.Token, email)
				newPractitioner(srv, p.Token, email)
			})
			It("answers 412 multiple-matches and writes nothing", func() {
				Expect(resp.Status).To(Equal(412), string(resp.Body))
				Expect(code(resp)).To(Equal("multiple-matches"))
				Expect(users(srv, email)).To(BeEmpty())
				Expect(memberships(srv, p.ID)).To(HaveLen(1))
				Expect(mails(srv, p.ID, email)).To(BeEmpty())
			})
		})

		When("membership.profile names one", func() {
			var chosen string
			BeforeEach(func() {
				chosen = newPractitioner(srv, p.Token, emailFor("other"))
				body = with(body, "membership", map[string]any{"profile": map[string]any{"reference": "Practitioner/" + chosen}})
			})
			It("uses it", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				Expect(ref(resp.JSON(), "profile")).To(Equal("Practitioner/" + chosen))
				Expect(profiles(srv, "Practitioner", email)).To(BeEmpty())
			})
		})

		When("a RelatedPerson is invited for a patient", func() {
			var patient string
			BeforeEach(func() {
				patient = newPatient(srv, p.Token)
				body = with(body, "resourceType", "RelatedPerson", "patient", map[string]any{"reference": "Patient/" + patient})
			})
			It("creates the RelatedPerson for that patient, with a server-scoped user", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				rp := do(srv, "GET", "fhir/R4/"+ref(resp.JSON(), "profile"), p.Token, nil).JSON()
				Expect(rp["resourceType"]).To(Equal("RelatedPerson"))
				Expect(ref(rp, "patient")).To(Equal("Patient/" + patient))
				Expect(users(srv, email)[0]).NotTo(HaveKey("project"))
			})
		})
	})

	Describe("the membership", func() {
		JustBeforeEach(act)

		var first *fixtures.Response
		BeforeEach(func() {
			first = invite(srv, p.Token, p.ID, body)
			Expect(first.Status).To(Equal(200), string(first.Body))
		})

		It("is not made twice: 409 'User is already a member of this project', nothing written, no mail", func() {
			Expect(resp.Status).To(Equal(409), string(resp.Body))
			Expect(resp.JSON()["resourceType"]).To(Equal("OperationOutcome"))
			Expect(message(resp)).To(Equal("User is already a member of this project"))
			Expect(memberships(srv, p.ID)).To(HaveLen(2))
			Expect(mails(srv, p.ID, email)).To(HaveLen(1))
		})

		When("upsert is set with the same profile", func() {
			BeforeEach(func() {
				body = with(body, "upsert", true, "membership", map[string]any{"admin": true})
			})
			It("updates the membership in place, keeping its id, and mails nothing more", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				Expect(resp.Header.Get(admin.InviteOutcomeHeader)).To(Equal("updated"))
				Expect(resp.JSON()["id"]).To(Equal(first.JSON()["id"]))
				Expect(resp.JSON()["admin"]).To(BeTrue())
				Expect(resp.JSON()["meta"].(map[string]any)["versionId"]).To(Equal("2"))
				Expect(memberships(srv, p.ID)).To(HaveLen(2))
				Expect(mails(srv, p.ID, email)).To(HaveLen(1))
			})
			It("changes nothing when repeated", func() {
				again := invite(srv, p.Token, p.ID, body)
				Expect(again.Status).To(Equal(200))
				Expect(again.Header.Get(admin.InviteOutcomeHeader)).To(Equal("unchanged"))
				Expect(again.JSON()["meta"].(map[string]any)["versionId"]).To(Equal("2"))
			})
		})

		// anotherProfile sets flag, and a membership with a profile of
		// its own.
		anotherProfile := func(flag string) {
			other := newPractitioner(srv, p.Token, emailFor("other"))
			body = with(body, flag, true, "membership", map[string]any{"profile": map[string]any{"reference": "Practitioner/" + other}})
		}

		When("upsert is set with another profile", func() {
			BeforeEach(func() { anotherProfile("upsert") })
			It("answers 409 and writes nothing", func() {
				Expect(resp.Status).To(Equal(409), string(resp.Body))
				Expect(message(resp)).To(Equal("User is already a member of this project with a different profile"))
				Expect(memberships(srv, p.ID)).To(HaveLen(2))
			})
		})

		When("forceNewMembership is set with another profile", func() {
			BeforeEach(func() { anotherProfile("forceNewMembership") })
			It("creates a second membership for the same user", func() {
				Expect(resp.Status).To(Equal(200), string(resp.Body))
				Expect(resp.JSON()["id"]).NotTo(Equal(first.JSON()["id"]))
				Expect(ref(resp.JSON(), "user")).To(Equal(ref(first.JSON(), "user")))
				Expect(memberships(srv, p.ID)).To(HaveLen(3))
			})
		})
	})

	Describe("membership fields", func() {
		It("applies membership's admin, active, externalId and access policies", func() {
			policy := newPolicy(srv, p.Token)
			r := invite(srv, p.Token, p.ID, with(body, "membership", map[string]any{
				"admin": true, "active": true, "externalId": "hr-17",
				"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy},
				"access":       []any{map[string]any{"policy": map[string]any{"reference": "AccessPolicy/" + policy}}},
			}))
			Expect(r.Status).To(Equal(200), string(r.Body))
			m := r.JSON()
			Expect(m["admin"]).To(BeTrue())
			Expect(m["active"]).To(BeTrue())
			Expect(m["externalId"]).To(Equal("hr-17"))
			Expect(ref(m, "accessPolicy")).To(Equal("AccessPolicy/" + policy))
			Expect(m["access"]).To(HaveLen(1))
		})

		It("accepts Medplum's older top-level admin and accessPolicy", func() {
			policy := newPolicy(srv, p.Token)
			r := invite(srv, p.Token, p.ID, with(body, "admin", true, "accessPolicy", map[string]any{"reference": "AccessPolicy/" + policy}))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["admin"]).To(BeTrue())
			Expect(ref(r.JSON(), "accessPolicy")).To(Equal("AccessPolicy/" + policy))
		})

		It("never lets the body choose project, user or invitedBy", func() {
			r := invite(srv, p.Token, p.ID, with(body, "membership", map[string]any{
				"project":   map[string]any{"reference": "Project/elsewhere"},
				"user":      map[string]any{"reference": "User/someone"},
				"invitedBy": map[string]any{"reference": "Practitioner/someone"},
			}))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(ref(r.JSON(), "project")).To(Equal("Project/" + p.ID))
			Expect(ref(r.JSON(), "user")).NotTo(Equal("User/someone"))
			Expect(ref(r.JSON(), "invitedBy")).NotTo(Equal("Practitioner/someone"))
		})

		It("keeps the membership externalId unique within a project (409), not across projects", func() {
			ext := "emp-" + uniq()
			Expect(invite(srv, p.Token, p.ID, with(body, "externalId", ext)).Status).To(Equal(200))
			second := emailFor("second")
			r := invite(srv, p.Token, p.ID, with(practitioner(second), "externalId", ext))
			Expect(r.Status).To(Equal(409), string(r.Body))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
			Expect(users(srv, second)).To(BeEmpty(), "the user created before the clash is rolled back")
			Expect(mails(srv, p.ID, second)).To(BeEmpty())

			other := newProject(srv)
			Expect(invite(srv, other.Token, other.ID, with(practitioner(second), "externalId", ext)).Status).To(Equal(200))
		})

		It("gives patients the project's default patient access policy", func() {
			policy := newPolicy(srv, p.Token)
			proj := do(srv, "GET", "fhir/R4/Project/"+p.ID, srv.AdminToken, nil).JSON()
			proj["defaultPatientAccessPolicy"] = map[string]any{"reference": "AccessPolicy/" + policy}
			Expect(do(srv, "PUT", "fhir/R4/Project/"+p.ID, srv.AdminToken, proj).Status).To(Equal(200))
			r := invite(srv, p.Token, p.ID, with(body, "resourceType", "Patient"))
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(ref(r.JSON(), "accessPolicy")).To(Equal("AccessPolicy/" + policy))
		})
	})
})

var _ = Describe("Service.InviteUser (the Go API dialects call)", func() {
	It("reports what it created, and joins the caller's transaction", func() {
		p := newProject(srv)
		email := emailFor("go")
		ctx := resources.AsSystem(context.Background(), "")
		res, err := srv.App.Admin.InviteUser(ctx, p.ID, admin.InviteRequest{ResourceType: "Practitioner",
			FirstName: "Go", LastName: "Pher", Email: strings.ToUpper(email)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.UserCreated).To(BeTrue())
		Expect(res.ProfileCreated).To(BeTrue())
		Expect(res.Outcome).To(Equal(admin.InviteCreated))
		Expect(res.MailQueued).To(BeTrue())
		Expect(res.User.Email).To(Equal(email))
		Expect(res.Profile).To(BeAssignableToTypeOf(&resources.Practitioner{}))
		Expect(res.Membership.Profile.Reference).To(Equal("Practitioner/" + res.Profile.Base().ID))

		other := newProject(srv)
		m, err := srv.App.Admin.Invite(ctx, other.ID, admin.InviteRequest{ResourceType: "Practitioner",
			FirstName: "Go", LastName: "Pher", Email: email})
		Expect(err).NotTo(HaveOccurred())
		Expect(m.User.Reference).To(Equal("User/" + res.User.ID))

		// A dialect's own write failing after the invite undoes the invite.
		third := newProject(srv)
		err = srv.App.Resources.InTx(ctx, func(ctx context.Context) error {
			if _, err := srv.App.Admin.InviteUser(ctx, third.ID, admin.InviteRequest{ResourceType: "Patient",
				FirstName: "Rolled", LastName: "Back", Email: email}); err != nil {
				return err
			}
			return resources.Conflict("dialect says no")
		})
		Expect(err).To(MatchError(ContainSubstring("dialect says no")))
		Expect(memberships(srv, third.ID)).To(HaveLen(1))
		Expect(search(srv, "User", url.Values{"email": {email}})).To(HaveLen(1))
	})
})
