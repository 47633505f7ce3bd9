package admin_test

import (
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Member administration", func() {
	var (
		p            project
		memberEmail  string
		memberToken  string
		membershipID string
	)

	BeforeEach(func() {
		p = newProject(srv)
		memberEmail, memberToken = member(srv, p.ID)
		r := do(srv, "GET", "auth/me", memberToken, nil)
		Expect(r.Status).To(Equal(200))
		membershipID = r.JSON()["membership"].(map[string]any)["id"].(string)
	})

	memberPath := func() string { return "admin/projects/" + p.ID + "/members/" + membershipID }

	Describe("GET /admin/projects/{projectId}", func() {
		It("lists the project and its members in Medplum's shape", func() {
			r := do(srv, "GET", "admin/projects/"+p.ID, p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["project"]).To(HaveKeyWithValue("id", p.ID))
			Expect(r.JSON()["project"]).To(HaveKey("name"))
			members := r.JSON()["members"].([]any)
			Expect(members).To(HaveLen(2))
			var roles []string
			for _, m := range members {
				mm := m.(map[string]any)
				Expect(mm).To(HaveKey("membershipId"))
				Expect(mm["profile"]).To(HavePrefix("Practitioner/"))
				Expect(mm["user"]).To(HavePrefix("User/"))
				Expect(mm["active"]).To(BeTrue())
				roles = append(roles, mm["role"].(string))
				if mm["membershipId"] == membershipID {
					Expect(mm["name"]).To(Equal("Mary Member"))
					Expect(mm["admin"]).To(BeFalse())
				}
			}
			Expect(roles).To(ConsistOf("admin", "member"))
		})
	})

	Describe("permissions", func() {
		var other project
		BeforeEach(func() { other = newProject(srv) })

		DescribeTable("project admins only; another project's membership is 404",
			func(method string, path func() string, who func() string, status int) {
				var body any
				if method == "POST" {
					body = map[string]any{"admin": false}
				}
				r := do(srv, method, path(), who(), body)
				Expect(r.Status).To(Equal(status), string(r.Body))
				if status >= 400 {
					Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
				}
			},
			Entry("GET project as its admin", "GET", func() string { return "admin/projects/" + p.ID }, func() string { return p.Token }, 200),
			Entry("GET project as the super admin", "GET", func() string { return "admin/projects/" + p.ID }, func() string { return srv.AdminToken }, 200),
			Entry("GET project as a member", "GET", func() string { return "admin/projects/" + p.ID }, func() string { return memberToken }, 403),
			Entry("GET project as another project's admin", "GET", func() string { return "admin/projects/" + p.ID }, func() string { return other.Token }, 403),
			Entry("GET unknown project", "GET", func() string { return "admin/projects/nope" }, func() string { return p.Token }, 404),
			Entry("GET project signed out", "GET", func() string { return "admin/projects/" + p.ID }, func() string { return "" }, 401),

			Entry("GET member as admin", "GET", memberPath, func() string { return p.Token }, 200),
			Entry("GET member as the super admin", "GET", memberPath, func() string { return srv.AdminToken }, 200),
			Entry("GET member as a member", "GET", memberPath, func() string { return memberToken }, 403),
			Entry("GET member as another project's admin", "GET", memberPath, func() string { return other.Token }, 403),
			Entry("GET member through another project", "GET", func() string { return "admin/projects/" + other.ID + "/members/" + membershipID },
				func() string { return other.Token }, 404),
			Entry("GET unknown member", "GET", func() string { return "admin/projects/" + p.ID + "/members/nope" }, func() string { return p.Token }, 404),

			Entry("POST member as admin", "POST", memberPath, func() string { return p.Token }, 200),
			Entry("POST member as a member", "POST", memberPath, func() string { return memberToken }, 403),
			Entry("POST member as another project's admin", "POST", memberPath, func() string { return other.Token }, 403),
			Entry("POST member through another project", "POST", func() string { return "admin/projects/" + other.ID + "/members/" + membershipID },
				func() string { return other.Token }, 404),

			Entry("DELETE member as a member", "DELETE", memberPath, func() string { return memberToken }, 403),
			Entry("DELETE member as another project's admin", "DELETE", memberPath, func() string { return other.Token }, 403),
			Entry("DELETE member through another project", "DELETE", func() string { return "admin/projects/" + other.ID + "/members/" + membershipID },
				func() string { return other.Token }, 404),
			Entry("DELETE member as admin", "DELETE", memberPath, func() string { return p.Token }, 200),
		)
	})

	Describe("GET …/members/{membershipId}", func() {
		It("answers the membership", func() {
			r := do(srv, "GET", memberPath(), p.Token, nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.JSON()["resourceType"]).To(Equal("ProjectMembership"))
			Expect(r.JSON()["id"]).To(Equal(membershipID))
		})
	})

	Describe("POST …/members/{membershipId}", func() {
		It("updates admin, and the change takes effect at the member's next request", func() {
			Expect(do(srv, "GET", "admin/projects/"+p.ID, memberToken, nil).Status).To(Equal(403))
			r := do(srv, "POST", memberPath(), p.Token, map[string]any{"admin": true})
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["admin"]).To(BeTrue())
			Expect(r.JSON()["meta"].(map[string]any)["versionId"]).To(Equal("2"))
			Expect(do(srv, "GET", "admin/projects/"+p.ID, memberToken, nil).Status).To(Equal(200))
		})

		It("accepts the whole membership posted back, as Medplum's app does", func() {
			m := do(srv, "GET", memberPath(), p.Token, nil).JSON()
			m["admin"] = true
			r := do(srv, "POST", memberPath(), p.Token, m)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["admin"]).To(BeTrue())
		})

		It("writes nothing when nothing changes", func() {
			r := do(srv, "POST", memberPath(), p.Token, map[string]any{"active": true, "admin": false})
			Expect(r.Status).To(Equal(200))
			Expect(r.JSON()["meta"].(map[string]any)["versionId"]).To(Equal("1"))
		})

		It("sets and clears the access policy", func() {
			policy := newPolicy(srv, p.Token)
			r := do(srv, "POST", memberPath(), p.Token, map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy}})
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(ref(r.JSON(), "accessPolicy")).To(Equal("AccessPolicy/" + policy))
			r = do(srv, "POST", memberPath(), p.Token, `{"accessPolicy": null}`)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).NotTo(HaveKey("accessPolicy"))
		})

		It("changes the profile to another of the project's, with its display", func() {
			other := newPractitioner(srv, p.Token, emailFor("prof"))
			r := do(srv, "POST", memberPath(), p.Token, map[string]any{"profile": map[string]any{"reference": "Practitioner/" + other}})
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(ref(r.JSON(), "profile")).To(Equal("Practitioner/" + other))
			Expect(display(r.JSON(), "profile")).To(Equal("Lisa Cuddy"))
			Expect(do(srv, "GET", "auth/me", memberToken, nil).JSON()["profile"]).To(HaveKeyWithValue("id", other))
		})

		DescribeTable("validation: 400 with the bad field, nothing written",
			func(body func(otherProfile, otherPolicy string) any, want ...string) {
				other := newProject(srv)
				otherProfile := newPractitioner(srv, other.Token, emailFor("o"))
				otherPolicy := newPolicy(srv, other.Token)
				r := do(srv, "POST", memberPath(), p.Token, body(otherProfile, otherPolicy))
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(expressions(r)).To(ConsistOf(want))
				m := do(srv, "GET", memberPath(), p.Token, nil).JSON()
				Expect(m["meta"].(map[string]any)["versionId"]).To(Equal("1"))
			},
			Entry("a profile of another project", func(op, _ string) any {
				return map[string]any{"profile": map[string]any{"reference": "Practitioner/" + op}}
			}, "profile"),
			Entry("a profile that does not exist", func(_, _ string) any {
				return map[string]any{"profile": map[string]any{"reference": "Practitioner/nope"}}
			}, "profile"),
			Entry("a profile that is not a person", func(_, _ string) any {
				return map[string]any{"profile": map[string]any{"reference": "Project/nope"}}
			}, "profile"),
			Entry("an access policy of another project", func(_, pol string) any {
				return map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/" + pol}}
			}, "accessPolicy"),
			Entry("an access entry naming a missing policy", func(_, _ string) any {
				return map[string]any{"access": []any{map[string]any{"policy": map[string]any{"reference": "AccessPolicy/nope"}}}}
			}, "access[0].policy"),
			Entry("admin not a boolean", func(_, _ string) any { return map[string]any{"admin": "yes"} }, "admin"),
			Entry("an unknown element", func(_, _ string) any { return map[string]any{"superpowers": true} }, "superpowers"),
			Entry("another user", func(_, _ string) any { return map[string]any{"user": map[string]any{"reference": "User/someone"}} }, "user"),
			Entry("another project", func(_, _ string) any {
				return map[string]any{"project": map[string]any{"reference": "Project/elsewhere"}}
			}, "project"),
			Entry("another resource type", func(_, _ string) any { return map[string]any{"resourceType": "Patient"} }, "resourceType"),
			Entry("another id", func(_, _ string) any { return map[string]any{"resourceType": "ProjectMembership", "id": "other"} }, "id"),
			Entry("several at once", func(op, pol string) any {
				return map[string]any{"profile": map[string]any{"reference": "Practitioner/" + op},
					"accessPolicy": map[string]any{"reference": "AccessPolicy/" + pol}}
			}, "profile", "accessPolicy"),
		)

		It("keeps the externalId unique in the project (409)", func() {
			Expect(do(srv, "POST", memberPath(), p.Token, map[string]any{"externalId": "emp-1"}).Status).To(Equal(200))
			_, tok := member(srv, p.ID)
			second := do(srv, "GET", "auth/me", tok, nil).JSON()["membership"].(map[string]any)["id"].(string)
			r := do(srv, "POST", "admin/projects/"+p.ID+"/members/"+second, p.Token, map[string]any{"externalId": "emp-1"})
			Expect(r.Status).To(Equal(409), string(r.Body))
		})

		When("the membership is deactivated", func() {
			var refresh string
			BeforeEach(func() {
				tok, err := srv.LoginFull(memberEmail, fixtures.AdminPassword, p.ID)
				Expect(err).NotTo(HaveOccurred())
				memberToken, refresh = tok.AccessToken, tok.RefreshToken
				Expect(do(srv, "GET", "fhir/R4/Practitioner", memberToken, nil).Status).To(Equal(200))
				r := do(srv, "POST", memberPath(), p.Token, map[string]any{"active": false})
				Expect(r.Status).To(Equal(200), string(r.Body))
				Expect(r.JSON()["active"]).To(BeFalse())
			})

			It("refuses the member's existing token at the very next request", func() {
				Expect(do(srv, "GET", "fhir/R4/Practitioner", memberToken, nil).Status).To(Equal(401))
				Expect(do(srv, "GET", "auth/me", memberToken, nil).Status).To(Equal(401))
			})

			It("refuses its refresh token and new logins", func() {
				r, err := srv.HTTP.Client().PostForm(srv.URL+"oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
				Expect(err).NotTo(HaveOccurred())
				r.Body.Close()
				Expect(r.StatusCode).To(Equal(400))
				_, err = srv.Login(memberEmail, fixtures.AdminPassword)
				Expect(err).To(HaveOccurred())
			})

			It("lets the token work again once reactivated", func() {
				Expect(do(srv, "POST", memberPath(), p.Token, map[string]any{"active": true}).Status).To(Equal(200))
				Expect(do(srv, "GET", "fhir/R4/Practitioner", memberToken, nil).Status).To(Equal(200))
			})

			It("shows the member inactive in the project listing", func() {
				r := do(srv, "GET", "admin/projects/"+p.ID, p.Token, nil)
				for _, m := range r.JSON()["members"].([]any) {
					if m.(map[string]any)["membershipId"] == membershipID {
						Expect(m.(map[string]any)["active"]).To(BeFalse())
					}
				}
			})
		})
	})

	Describe("DELETE …/members/{membershipId}", func() {
		It("deletes the membership, keeps the User, and cuts the member's token", func() {
			userRef := do(srv, "GET", memberPath(), p.Token, nil).JSON()["user"].(map[string]any)["reference"].(string)
			r := do(srv, "DELETE", memberPath(), p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
			Expect(do(srv, "GET", memberPath(), p.Token, nil).Status).To(Equal(404))
			Expect(do(srv, "GET", "fhir/R4/"+userRef, srv.AdminToken, nil).Status).To(Equal(200))
			Expect(users(srv, memberEmail)).To(HaveLen(1))
			Expect(memberships(srv, p.ID)).To(HaveLen(1))
			Expect(do(srv, "GET", "fhir/R4/Practitioner", memberToken, nil).Status).To(Equal(401))
		})

		It("lets the user be invited again afterwards", func() {
			Expect(do(srv, "DELETE", memberPath(), p.Token, nil).Status).To(Equal(200))
			r := invite(srv, p.Token, p.ID, practitioner(memberEmail))
			Expect(r.Status).To(Equal(200), string(r.Body))
		})

		It("shows the super admin as the owner of the Default project made at first start", func() {
			def := srv.App.Bootstrap.ProjectID
			r := do(srv, "GET", "admin/projects/"+def, srv.AdminToken, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			var roles []any
			for _, m := range r.JSON()["members"].([]any) {
				if mm := m.(map[string]any); mm["user"] == "User/"+srv.App.Bootstrap.UserID {
					roles = append(roles, mm["role"])
				}
			}
			Expect(roles).To(Equal([]any{"owner"}))
		})

		It("refuses to delete the project owner's membership", func() {
			owned := newProject(srv)
			proj := do(srv, "GET", "fhir/R4/Project/"+owned.ID, srv.AdminToken, nil).JSON()
			me := do(srv, "GET", "auth/me", owned.Token, nil).JSON()
			proj["owner"] = map[string]any{"reference": "User/" + me["user"].(map[string]any)["id"].(string)}
			Expect(do(srv, "PUT", "fhir/R4/Project/"+owned.ID, srv.AdminToken, proj).Status).To(Equal(200))
			mid := me["membership"].(map[string]any)["id"].(string)
			r := do(srv, "DELETE", "admin/projects/"+owned.ID+"/members/"+mid, owned.Token, nil)
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(message(r)).To(Equal("Cannot delete the owner of the project"))
			roles := do(srv, "GET", "admin/projects/"+owned.ID, owned.Token, nil).JSON()["members"].([]any)
			Expect(roles[0].(map[string]any)["role"]).To(Equal("owner"))
		})
	})
})
