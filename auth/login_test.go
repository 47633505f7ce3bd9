package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Password login", Ordered, ContinueOnFailure, func() {
	h := sharedHarness()
	var acct account

	BeforeEach(func() {
		acct = h.newAdmin()
	})

	Describe("with PKCE", func() {
		DescribeTable("issues tokens for the right verifier",
			func(method string) {
				verifier, challenge := pkce(method)
				r := h.startLogin(acct.Email, acct.Password, challenge, method, nil)
				Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
				login := r.JSON()
				Expect(login["login"]).NotTo(BeEmpty())
				Expect(login["code"]).NotTo(BeEmpty())

				t := h.exchange(login["code"].(string), verifier)
				Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
				tok := t.JSON()
				Expect(tok).To(HaveKeyWithValue("token_type", "Bearer"))
				Expect(tok).To(HaveKeyWithValue("expires_in", BeNumerically("==", 3600)))
				Expect(tok["access_token"]).NotTo(BeEmpty())
				Expect(tok["refresh_token"]).NotTo(BeEmpty())
				Expect(tok["project"]).To(HaveKeyWithValue("reference", "Project/"+acct.Project))
				Expect(tok["profile"]).To(HaveKeyWithValue("reference", HavePrefix("Practitioner/")))
				Expect(h.works(tok["access_token"].(string))).To(BeTrue())

				_, claims := jwtParts(tok["access_token"].(string))
				Expect(claims).To(HaveKeyWithValue("login_id", login["login"]))
				sess, err := h.srv.App.Store.Session(context.Background(), login["login"].(string))
				Expect(err).NotTo(HaveOccurred())
				Expect(sess.Login.UserID).To(Equal(acct.UserID))
				Expect(sess.Login.ProjectID).To(Equal(acct.Project))
				Expect(sess.Login.RevokedAt.IsZero()).To(BeTrue())
			},
			Entry("S256", "S256"),
			Entry("plain", "plain"),
		)

		DescribeTable("refuses a wrong or missing verifier with invalid_grant",
			func(method string, verifierFor func(right string) string) {
				verifier, challenge := pkce(method)
				r := h.startLogin(acct.Email, acct.Password, challenge, method, nil)
				Expect(r.Status).To(Equal(http.StatusOK))
				expectOAuthError(h.exchange(r.JSON()["code"].(string), verifierFor(verifier)), http.StatusBadRequest, "invalid_grant")
			},
			Entry("S256, another verifier", "S256", func(string) string { v, _ := pkce("S256"); return v }),
			Entry("S256, the challenge sent as the verifier", "S256", func(right string) string { _, c := pkce("S256"); return c }),
			Entry("S256, no verifier", "S256", func(string) string { return "" }),
			Entry("plain, another verifier", "plain", func(string) string { v, _ := pkce("plain"); return v }),
			Entry("plain, no verifier", "plain", func(string) string { return "" }),
		)

		It("takes each code once, and a replayed code ends the login it made", func() {
			verifier, challenge := pkce("S256")
			code := h.startLogin(acct.Email, acct.Password, challenge, "S256", nil).JSON()["code"].(string)
			first := h.exchange(code, verifier)
			Expect(first.Status).To(Equal(http.StatusOK))
			token := first.JSON()["access_token"].(string)
			Expect(h.works(token)).To(BeTrue())

			expectOAuthError(h.exchange(code, verifier), http.StatusBadRequest, "invalid_grant")
			Expect(h.works(token)).To(BeFalse(), "a stolen code's tokens are revoked")
			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {first.JSON()["refresh_token"].(string)}}), http.StatusBadRequest, "invalid_grant")
		})

		It("refuses a code that was never issued", func() {
			verifier, _ := pkce("S256")
			expectOAuthError(h.exchange("made-up-code", verifier), http.StatusBadRequest, "invalid_grant")
		})

		It("refuses an unknown challenge method", func() {
			r := h.startLogin(acct.Email, acct.Password, "abc", "S512", nil)
			Expect(expectOutcome(r, http.StatusBadRequest)["issue"]).To(ContainElement(HaveKeyWithValue("expression", ContainElement("codeChallengeMethod"))))
		})
	})

	It("answers a wrong email and a wrong password identically", func() {
		_, challenge := pkce("S256")
		wrongPassword := h.startLogin(acct.Email, "not-the-password", challenge, "S256", nil)
		wrongEmail := h.startLogin("nobody-"+acct.Email, acct.Password, challenge, "S256", nil)
		Expect(wrongPassword.Status).To(Equal(http.StatusBadRequest))
		Expect(wrongEmail.Status).To(Equal(wrongPassword.Status))
		Expect(wrongEmail.Body).To(Equal(wrongPassword.Body))
		Expect(wrongEmail.Header.Get("Content-Type")).To(Equal(wrongPassword.Header.Get("Content-Type")))
		expectOutcome(wrongEmail, http.StatusBadRequest)
	})

	It("matches the email case-insensitively", func() {
		_, challenge := pkce("S256")
		r := h.startLogin(strings.ToUpper(acct.Email), acct.Password, challenge, "S256", nil)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	})

	DescribeTable("requires an email and a password",
		func(email, password, missing string) {
			_, challenge := pkce("S256")
			o := expectOutcome(h.startLogin(email, password, challenge, "S256", nil), http.StatusBadRequest)
			Expect(o["issue"]).To(ContainElement(HaveKeyWithValue("expression", ContainElement(missing))))
		},
		Entry("no email", "", "whatever-password", "email"),
		Entry("no password", "someone@example.com", "", "password"),
	)

	Describe("GET /auth/me", func() {
		It("answers the project, membership, profile and user of the caller", func() {
			r := h.do("GET", "auth/me", acct.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			me := r.JSON()
			Expect(me["project"]).To(And(HaveKeyWithValue("resourceType", "Project"), HaveKeyWithValue("id", acct.Project)))
			m := h.membership(acct.UserID)
			Expect(me["membership"]).To(And(HaveKeyWithValue("resourceType", "ProjectMembership"), HaveKeyWithValue("id", m["id"])))
			Expect(me["membership"]).To(HaveKeyWithValue("admin", true))
			profileRef := m["profile"].(map[string]any)["reference"].(string)
			Expect(me["profile"]).To(HaveKeyWithValue("resourceType", "Practitioner"))
			Expect("Practitioner/" + me["profile"].(map[string]any)["id"].(string)).To(Equal(profileRef))
			Expect(me["user"]).To(And(HaveKeyWithValue("resourceType", "User"), HaveKeyWithValue("id", acct.UserID),
				HaveKeyWithValue("email", acct.Email)))
			Expect(string(r.Body)).NotTo(ContainSubstring("passwordHash"))
		})

		It("answers 401 without credentials", func() {
			expectOutcome(h.do("GET", "auth/me", "", nil), http.StatusUnauthorized)
		})
	})

	Describe("refresh tokens", func() {
		It("rotate: each is taken once and replaced", func() {
			tok := h.signIn(acct.Email, acct.Password)
			first := tok["refresh_token"].(string)

			r := h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			second := r.JSON()["refresh_token"].(string)
			Expect(second).NotTo(BeEmpty())
			Expect(second).NotTo(Equal(first))
			Expect(h.works(r.JSON()["access_token"].(string))).To(BeTrue())
			Expect(r.JSON()["project"]).To(HaveKeyWithValue("reference", "Project/"+acct.Project))

			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}}),
				http.StatusBadRequest, "invalid_grant")
			again := h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second}})
			Expect(again.Status).To(Equal(http.StatusOK), "the newest refresh token still works")
		})

		It("refuses an unknown refresh token", func() {
			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}),
				http.StatusBadRequest, "invalid_grant")
		})
	})

	DescribeTable("the token endpoint refuses a malformed request",
		func(values url.Values, code string) {
			expectOAuthError(h.form("oauth2/token", values), http.StatusBadRequest, code)
		},
		Entry("no grant_type", url.Values{}, "invalid_request"),
		Entry("an unknown grant_type", url.Values{"grant_type": {"password"}}, "unsupported_grant_type"),
		Entry("no code", url.Values{"grant_type": {"authorization_code"}}, "invalid_request"),
	)

	Describe("POST /oauth2/logout", func() {
		It("revokes the login at once", func() {
			tok := h.signIn(acct.Email, acct.Password)
			access := tok["access_token"].(string)
			Expect(h.works(access)).To(BeTrue())

			r := h.do("POST", "oauth2/logout", access, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(h.works(access)).To(BeFalse())
			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}),
				http.StatusBadRequest, "invalid_grant")

			_, claims := jwtParts(access)
			sess, err := h.srv.App.Store.Session(context.Background(), claims["login_id"].(string))
			Expect(err).NotTo(HaveOccurred())
			Expect(sess.Login.RevokedAt.IsZero()).To(BeFalse())
			Expect(h.works(acct.Token)).To(BeTrue(), "the user's other logins go on")
		})
	})

	Describe("POST /auth/changepassword", func() {
		It("refuses a wrong old password and keeps the password", func() {
			r := h.do("POST", "auth/changepassword", acct.Token, map[string]any{"oldPassword": "wrong-password", "newPassword": "brand-new-password"})
			o := expectOutcome(r, http.StatusBadRequest)
			Expect(o["issue"]).To(ContainElement(HaveKeyWithValue("expression", ContainElement("oldPassword"))))
			h.signIn(acct.Email, acct.Password)
			Expect(h.works(acct.Token)).To(BeTrue())
		})

		It("refuses a new password that is too short", func() {
			r := h.do("POST", "auth/changepassword", acct.Token, map[string]any{"oldPassword": acct.Password, "newPassword": "short"})
			o := expectOutcome(r, http.StatusBadRequest)
			Expect(o["issue"]).To(ContainElement(HaveKeyWithValue("expression", ContainElement("newPassword"))))
		})

		It("sets the new password and ends every other login", func() {
			other := h.signIn(acct.Email, acct.Password)["access_token"].(string)
			before, err := h.srv.App.Store.PasswordHash(context.Background(), acct.UserID)
			Expect(err).NotTo(HaveOccurred())

			r := h.do("POST", "auth/changepassword", acct.Token, map[string]any{"oldPassword": acct.Password, "newPassword": "brand-new-password"})
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))

			Expect(h.works(acct.Token)).To(BeTrue(), "the login that changed it goes on")
			Expect(h.works(other)).To(BeFalse())
			after, err := h.srv.App.Store.PasswordHash(context.Background(), acct.UserID)
			Expect(err).NotTo(HaveOccurred())
			Expect(after).NotTo(Equal(before))

			_, challenge := pkce("S256")
			expectOutcome(h.startLogin(acct.Email, acct.Password, challenge, "S256", nil), http.StatusBadRequest)
			h.signIn(acct.Email, "brand-new-password")
		})
	})

	Describe("a user with several memberships", func() {
		var second string

		BeforeEach(func() {
			other := h.newAdmin()
			second = other.Project
			prac := h.do("POST", "fhir/R4/Practitioner", other.Token, map[string]any{"resourceType": "Practitioner",
				"name": []any{map[string]any{"family": "Twice"}}})
			Expect(prac.Status).To(Equal(http.StatusCreated))
			m := h.do("POST", "fhir/R4/ProjectMembership", other.Token, map[string]any{"resourceType": "ProjectMembership",
				"user":    map[string]any{"reference": "User/" + acct.UserID},
				"profile": map[string]any{"reference": "Practitioner/" + prac.JSON()["id"].(string)}})
			Expect(m.Status).To(Equal(http.StatusCreated), string(m.Body))
		})

		It("chooses one: {login, memberships}, then /auth/profile gives the code", func() {
			verifier, challenge := pkce("S256")
			r := h.startLogin(acct.Email, acct.Password, challenge, "S256", nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			login := r.JSON()
			Expect(login).NotTo(HaveKey("code"))
			mems := login["memberships"].([]any)
			Expect(mems).To(HaveLen(2))
			var chosen string
			for _, raw := range mems {
				m := raw.(map[string]any)
				Expect(m).To(HaveKeyWithValue("resourceType", "ProjectMembership"))
				if m["project"].(map[string]any)["reference"] == "Project/"+second {
					chosen = m["id"].(string)
				}
			}
			Expect(chosen).NotTo(BeEmpty())

			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {""}, "code_verifier": {verifier}}),
				http.StatusBadRequest, "invalid_request")

			p := h.do("POST", "auth/profile", "", map[string]any{"login": login["login"], "profile": chosen})
			Expect(p.Status).To(Equal(http.StatusOK), string(p.Body))
			Expect(p.JSON()).To(HaveKeyWithValue("login", login["login"]))
			t := h.exchange(p.JSON()["code"].(string), verifier)
			Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
			Expect(t.JSON()["project"]).To(HaveKeyWithValue("reference", "Project/"+second))
			me := h.do("GET", "auth/me", t.JSON()["access_token"].(string), nil)
			Expect(me.JSON()["project"]).To(HaveKeyWithValue("id", second))

			expectOutcome(h.do("POST", "auth/profile", "", map[string]any{"login": login["login"], "profile": chosen}), http.StatusBadRequest)
		})

		It("refuses a profile that is not one of the user's", func() {
			_, challenge := pkce("S256")
			login := h.startLogin(acct.Email, acct.Password, challenge, "S256", nil).JSON()
			stranger := h.membership(h.newAdmin().UserID)["id"]
			expectOutcome(h.do("POST", "auth/profile", "", map[string]any{"login": login["login"], "profile": stranger}), http.StatusBadRequest)
		})

		It("goes straight to a code when the login names the project", func() {
			tok, err := h.srv.LoginFull(acct.Email, acct.Password, second)
			Expect(err).NotTo(HaveOccurred())
			Expect(tok.Project.Reference).To(Equal("Project/" + second))
		})
	})

	Describe("a deactivated membership", func() {
		var member account

		BeforeEach(func() {
			member = h.newMember(acct.Project)
			Expect(h.works(member.Token)).To(BeTrue())
		})

		It("stops its tokens on the next request", func() {
			refresh := h.signIn(member.Email, member.Password)["refresh_token"].(string)
			m := h.membership(member.UserID)
			m["active"] = false
			r := h.do("PUT", "fhir/R4/ProjectMembership/"+m["id"].(string), acct.Token, m)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(h.membership(member.UserID)).To(HaveKeyWithValue("active", false))

			Expect(h.works(member.Token)).To(BeFalse())
			expectOutcome(h.do("GET", "fhir/R4/Patient", member.Token, nil), http.StatusUnauthorized)
			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}),
				http.StatusBadRequest, "invalid_grant")
			_, challenge := pkce("S256")
			expectOutcome(h.startLogin(member.Email, member.Password, challenge, "S256", nil), http.StatusBadRequest)
			Expect(h.works(acct.Token)).To(BeTrue(), "the admin who did it is unaffected")
		})

		It("changes what its tokens may do on the next request when the user is made super admin, and back", func() {
			setAdmin := func(admin bool) {
				GinkgoHelper()
				u := h.do("GET", "fhir/R4/User/"+member.UserID, h.srv.AdminToken, nil).JSON()
				u["admin"] = admin
				Expect(h.do("PUT", "fhir/R4/User/"+member.UserID, h.srv.AdminToken, u).Status).To(Equal(http.StatusOK))
			}
			project := map[string]string{"name": "Made by a super admin"}
			Expect(h.do("POST", "admin/projects", member.Token, project).Status).To(Equal(http.StatusForbidden))
			setAdmin(true)
			r := h.do("POST", "admin/projects", member.Token, project)
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			setAdmin(false)
			Expect(h.do("POST", "admin/projects", member.Token, project).Status).To(Equal(http.StatusForbidden))
		})

		It("stops its tokens and its refresh token when the user is deleted", func() {
			refresh := h.signIn(member.Email, member.Password)["refresh_token"].(string)
			r := h.do("DELETE", "fhir/R4/User/"+member.UserID, h.srv.AdminToken, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(h.works(member.Token)).To(BeFalse())
			expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}),
				http.StatusBadRequest, "invalid_grant")
			Expect(h.works(acct.Token)).To(BeTrue(), "the admin of the project is unaffected")
		})

		It("stops its tokens when the membership is deleted", func() {
			m := h.membership(member.UserID)
			Expect(h.do("DELETE", "fhir/R4/ProjectMembership/"+m["id"].(string), acct.Token, nil).Status).To(Equal(http.StatusOK))
			Expect(h.works(member.Token)).To(BeFalse())
		})
	})
})
