package medable_test

import (
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Medable accounts", func() {
	var (
		o          org
		jane, john string
		janeDev    *device
		janeID     string
	)

	BeforeEach(func() {
		o = newOrg()
		jane, john = email("jane"), email("john")
		janeDev = newDevice()
		janeID = register(janeDev, o, jane)["_id"].(string)
		register(newDevice(), o, john)
	})

	Describe("reading", func() {
		It("lists the org's accounts to its admins, with bearer tokens too", func() {
			r := bearer("GET", o.base()+"accounts", o.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			l := r.JSON()
			Expect(l["object"]).To(Equal("list"))
			Expect(l["hasMore"]).To(BeFalse())
			var emails []any
			for _, a := range l["data"].([]any) {
				Expect(a).To(HaveKeyWithValue("object", "account"))
				emails = append(emails, a.(map[string]any)["email"])
			}
			Expect(emails).To(ConsistOf(jane, john, o.Email))
			for _, a := range l["data"].([]any) {
				if a.(map[string]any)["email"] == o.Email {
					Expect(a).To(HaveKeyWithValue("roles", []any{"000000000000000000000004"}))
				}
			}

			r = bearer("GET", o.base()+"accounts?limit=1&skip=1", o.Token, nil)
			Expect(r.JSON()["data"]).To(HaveLen(1))
			Expect(r.JSON()["hasMore"]).To(BeTrue())
			expectFault(bearer("GET", o.base()+"accounts?limit=0", o.Token, nil), 400, "cortex.invalidArgument.unspecified")
			r = bearer("GET", o.base()+"accounts", srv.AdminToken, nil)
			Expect(r.Status).To(Equal(200), "the super admin administers every org")
		})

		It("refuses the list to a non-admin", func() {
			expectFault(janeDev.do("GET", o.base()+"accounts", nil), 403, "cortex.accessDenied.instanceRead")
		})

		It("reads an account by id: one's own, or any for an admin; others' are not found", func() {
			a := expectAccount(janeDev.do("GET", o.base()+"accounts/"+janeID, nil))
			Expect(a["email"]).To(Equal(jane))
			expectAccount(bearer("GET", o.base()+"accounts/"+janeID, o.Token, nil))
			johnID := userByEmail(john)["id"].(string)
			expectFault(janeDev.do("GET", o.base()+"accounts/"+johnID, nil), 404, "cortex.notFound.account")
			expectFault(bearer("GET", o.base()+"accounts/no-such-id", o.Token, nil), 404, "cortex.notFound.account")
		})

		It("answers /accounts/me from the cookie or a bearer token of any Roster login", func() {
			me := expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
			Expect(me["_id"]).To(Equal(janeID))
			tok, err := srv.LoginFull(jane, password, o.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(expectAccount(bearer("GET", o.base()+"accounts/me", tok.AccessToken, nil))["_id"]).To(Equal(janeID))
		})

		It("sets the session cookie HttpOnly and SameSite=Lax, scoped to the org", func() {
			r := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": password})
			Expect(r.Status).To(Equal(200))
			var sid string
			for _, c := range r.Header.Values("Set-Cookie") {
				if len(c) > 7 && c[:7] == "md.sid=" {
					sid = c
				}
			}
			Expect(sid).To(ContainSubstring("HttpOnly"))
			Expect(sid).To(ContainSubstring("SameSite=Lax"))
			Expect(sid).To(ContainSubstring("Path=/medable/" + o.ID + "/"))
			Expect(sid).NotTo(ContainSubstring("Secure"), "the test server is plain http")
		})

		It("needs a session: none, a bad one and another org's are faults", func() {
			expectFault(newDevice().do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
			expectFault(bearer("GET", o.base()+"accounts/me", "garbage", nil), 403, "cortex.accessDenied.notLoggedIn")
			other := newOrg()
			expectFault(bearer("GET", o.base()+"accounts/me", other.Token, nil), 403, "cortex.accessDenied.sessionOrgMismatch")
		})

		It("names the org by id or by its unique name; unknown and ambiguous names are the documented fault", func() {
			tok, err := srv.LoginFull(jane, password, o.ID)
			Expect(err).NotTo(HaveOccurred())
			expectAccount(bearer("GET", "medable/"+o.Name+"/v2/accounts/me", tok.AccessToken, nil))
			expectAccount(bearer("GET", "medable/"+o.Name+"/accounts/me", tok.AccessToken, nil))
			f := expectFault(bearer("GET", "medable/no-such-org-"+uniq()+"/v2/accounts/me", tok.AccessToken, nil), 404, "cortex.notFound.env")
			Expect(f["code"]).To(Equal("kOrgControlInvalidOrg"))

			dup := "dup-" + uniq()
			_, err = srv.CreateProject(dup)
			Expect(err).NotTo(HaveOccurred())
			_, err = srv.CreateProject(dup)
			Expect(err).NotTo(HaveOccurred())
			expectFault(newDevice().do("POST", "medable/"+dup+"/v2/accounts/login", map[string]any{"email": jane, "password": password}),
				404, "cortex.notFound.env")
		})

		It("answers an unknown route with a fault", func() {
			expectFault(bearer("GET", o.base()+"nothing-here", o.Token, nil), 404, "cortex.notFound.unspecified")
		})
	})

	Describe("updating with PUT and PATCH", func() {
		It("changes properties with PUT and answers the account", func() {
			a := expectAccount(janeDev.do("PUT", o.base()+"accounts/"+janeID, map[string]any{
				"name": map[string]any{"first": "Janet"}, "mobile": "+447700900123", "dob": "1985-12-31", "gender": "m", "tz": "Europe/London"}))
			Expect(a["name"]).To(Equal(map[string]any{"first": "Janet", "last": "Doe"}))
			Expect(a["mobile"]).To(Equal("+447700900123"))
			Expect(a["dob"]).To(Equal("1985-12-31"))
			Expect(a["gender"]).To(Equal("m"))
			Expect(a["tz"]).To(Equal("Europe/London"))
			Expect(userByEmail(jane)["firstName"]).To(Equal("Janet"))
		})

		It("applies one PATCH op or a list, set and unset", func() {
			a := expectAccount(janeDev.do("PATCH", o.base()+"accounts/me", map[string]any{"op": "set", "path": "name.last", "value": "Roe"}))
			Expect(a["name"]).To(Equal(map[string]any{"first": "Jane", "last": "Roe"}))
			a = expectAccount(janeDev.do("PATCH", o.base()+"accounts/"+janeID, []any{
				map[string]any{"op": "set", "path": "tz", "value": "Asia/Tokyo"},
				map[string]any{"op": "unset", "path": "mobile"},
				map[string]any{"op": "set", "path": "name", "value": map[string]any{"first": "Joan"}},
			}))
			Expect(a["tz"]).To(Equal("Asia/Tokyo"))
			Expect(a).NotTo(HaveKey("mobile"))
			Expect(a["name"]).To(Equal(map[string]any{"first": "Joan", "last": "Roe"}))
		})

		It("lets an org admin update another account, and nobody else", func() {
			expectAccount(bearer("PATCH", o.base()+"accounts/"+janeID, o.Token, map[string]any{"op": "set", "path": "gender", "value": "m"}))
			johnDev := newDevice()
			expectAccount(johnDev.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password}))
			expectFault(johnDev.do("PUT", o.base()+"accounts/"+janeID, map[string]any{"gender": "f"}), 404, "cortex.notFound.account")
			Expect(expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))["gender"]).To(Equal("m"))
		})

		DescribeTable("refuses any change of email, and then changes nothing",
			func(method string, body any) {
				before := expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
				f := expectFault(janeDev.do(method, o.base()+"accounts/"+janeID, body), 403, "cortex.accessDenied.notWritable")
				Expect(f["path"]).To(Equal("account.email"))
				after := expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
				Expect(after).To(Equal(before))
			},
			Entry("PUT with other changes", "PUT", map[string]any{"email": "new@example.com", "name": map[string]any{"first": "X"}}),
			Entry("PATCH set", "PATCH", map[string]any{"op": "set", "path": "email", "value": "new@example.com"}),
			Entry("PATCH list with an email op last", "PATCH", []any{
				map[string]any{"op": "set", "path": "tz", "value": "Asia/Tokyo"},
				map[string]any{"op": "set", "path": "email", "value": "new@example.com"}}),
			Entry("PATCH unset", "PATCH", map[string]any{"op": "unset", "path": "email"}),
		)

		It("accepts the same email back unchanged", func() {
			expectAccount(janeDev.do("PUT", o.base()+"accounts/me", map[string]any{"email": jane, "tz": "UTC"}))
		})

		DescribeTable("validates like registration, all or nothing",
			func(method string, body any, status int, errCode, path string) {
				before := expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
				f := expectFault(janeDev.do(method, o.base()+"accounts/me", body), status, errCode)
				if errCode == "cortex.invalidArgument.validation" {
					Expect(children(f)).To(HaveKeyWithValue(path, Not(BeEmpty())))
				} else if path != "" {
					Expect(f["path"]).To(Equal(path))
				}
				Expect(expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))).To(Equal(before))
			},
			Entry("bad mobile", "PUT", map[string]any{"tz": "Asia/Tokyo", "mobile": "12"}, 400, "cortex.invalidArgument.validation", "account.mobile"),
			Entry("bad dob", "PATCH", map[string]any{"op": "set", "path": "dob", "value": "yesterday"}, 400, "cortex.invalidArgument.validation", "account.dob"),
			Entry("bad gender", "PUT", map[string]any{"gender": "x"}, 400, "cortex.invalidArgument.validation", "account.gender"),
			Entry("bad tz", "PUT", map[string]any{"tz": "Nowhere/Land"}, 400, "cortex.invalidArgument.validation", "account.tz"),
			Entry("empty first name", "PUT", map[string]any{"name": map[string]any{"first": ""}}, 400, "cortex.invalidArgument.validation", "account.name.first"),
			Entry("unset a last name", "PATCH", map[string]any{"op": "unset", "path": "name.last"}, 400, "cortex.invalidArgument.validation", "account.name.last"),
			Entry("a number for a string", "PUT", map[string]any{"tz": 3}, 400, "cortex.invalidArgument.validation", "account.tz"),
			Entry("an unknown property", "PUT", map[string]any{"favouriteColour": "blue"}, 404, "cortex.notFound.property", "account.favouriteColour"),
			Entry("a read-only property", "PUT", map[string]any{"roles": []any{"000000000000000000000004"}}, 403, "cortex.accessDenied.notWritable", "account.roles"),
			Entry("the state", "PATCH", map[string]any{"op": "set", "path": "state", "value": "verified"}, 403, "cortex.accessDenied.notWritable", "account.state"),
			Entry("an unknown op", "PATCH", map[string]any{"op": "push", "path": "tz", "value": "UTC"}, 501, "cortex.unsupportedOperation.patchOp", ""),
			Entry("no op", "PATCH", map[string]any{"path": "tz", "value": "UTC"}, 501, "cortex.unsupportedOperation.patchOp", ""),
			Entry("set without a value", "PATCH", map[string]any{"op": "set", "path": "tz"}, 400, "cortex.invalidArgument.valueExpectedForPatchValue", ""),
			Entry("a path not a string", "PATCH", map[string]any{"op": "set", "path": 3, "value": "x"}, 400, "cortex.invalidArgument.stringExpectedforPatchPath", ""),
			Entry("an entry not an object", "PATCH", []any{"tz"}, 400, "cortex.invalidArgument.objectExpectedForPatchOperation", ""),
			Entry("an empty list", "PATCH", []any{}, 400, "cortex.invalidArgument.emptyOperationsPayload", ""),
			Entry("a PUT body not an object", "PUT", "[]", 400, "cortex.invalidArgument.invalidJSON", ""),
		)
	})

	Describe("verification mail", func() {
		It("resends a new token and kills the old one; a verified account has nothing to resend", func() {
			first := tokenIn(jane, 1)
			expectOK(janeDev.do("POST", o.base()+"accounts/me/resend-verification", nil))
			second := tokenIn(jane, 2)
			Expect(second).NotTo(Equal(first))
			expectFault(newDevice().do("POST", o.base()+"token/"+url.PathEscape(first), nil), 404, "cortex.notFound.accountToken")
			expectFault(newDevice().do("POST", newOrg().base()+"token/"+second, nil), 404, "cortex.notFound.accountToken")
			expectOK(newDevice().do("POST", o.base()+"token", map[string]any{"token": second}))
			expectFault(janeDev.do("POST", o.base()+"accounts/me/resend-verification", nil), 409, "cortex.conflict.accountAlreadyVerified")
		})
	})

	Describe("passwords", func() {
		for _, prefix := range []string{"v2/", ""} {
			It("updates the password at /"+prefix+"accounts/me/update-password: the session stays, other logins end", func() {
				other := newDevice()
				expectAccount(other.do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": password}))
				path := "medable/" + o.ID + "/" + prefix + "accounts/me/update-password"

				expectFault(janeDev.do("POST", path, map[string]any{"current": "wrong-password", "password": "brand-new-password"}),
					403, "cortex.accessDenied.badPassword")
				expectFault(janeDev.do("POST", path, map[string]any{"current": password, "password": password}),
					403, "cortex.accessDenied.duplicatePassword")
				f := expectFault(janeDev.do("POST", path, map[string]any{"current": password, "password": "short"}),
					400, "cortex.invalidArgument.validation")
				Expect(children(f)).To(Equal(map[string]string{"password": "cortex.invalidArgument.passwordStrength"}))

				expectOK(janeDev.do("POST", path, map[string]any{"current": password, "password": "brand-new-password"}))
				expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
				expectFault(other.do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
				expectAccount(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": "brand-new-password"}))
			})
		}

		It("answers a reset request the same whether or not the account exists, mailing only an account", func() {
			nobody := email("nobody")
			a := newDevice().do("POST", o.base()+"accounts/request-password-reset", map[string]any{"email": jane})
			b := newDevice().do("POST", o.base()+"accounts/request-password-reset", map[string]any{"email": nobody})
			expectOK(a)
			Expect(b.Status).To(Equal(a.Status))
			Expect(b.Body).To(Equal(a.Body))
			Expect(mailText(jane, 2)).To(ContainSubstring("Token: "))
			Consistently(func() int { return mailCount(nobody) }, "300ms").Should(BeZero())
			// Another org's account is no account of this org.
			c := newDevice().do("POST", newOrg().base()+"accounts/request-password-reset", map[string]any{"email": jane})
			Expect(c.Body).To(Equal(a.Body))
			Consistently(func() int { return mailCount(jane) }, "300ms").Should(Equal(2))
		})

		It("keeps a reset token alive through a weak password and refuses forged ones", func() {
			expectOK(newDevice().do("POST", o.base()+"accounts/request-password-reset", map[string]any{"email": jane}))
			token := tokenIn(jane, 2)
			f := expectFault(newDevice().do("POST", o.base()+"accounts/reset-password", map[string]any{"password": "weak", "token": token}),
				400, "cortex.invalidArgument.validation")
			Expect(children(f)).To(HaveKeyWithValue("password", "cortex.invalidArgument.passwordStrength"))
			expectFault(newDevice().do("POST", o.base()+"accounts/reset-password", map[string]any{"password": "brand-new-password", "token": "forged.token"}),
				404, "cortex.notFound.passwordResetToken")
			expectFault(newDevice().do("POST", newOrg().base()+"accounts/reset-password", map[string]any{"password": "brand-new-password", "token": token}),
				404, "cortex.notFound.passwordResetToken")
			expectOK(newDevice().do("POST", o.base()+"accounts/reset-password", map[string]any{"password": "brand-new-password", "token": token}))
			expectFault(janeDev.do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
		})
	})

	Describe("login", func() {
		It("throttles repeated wrong passwords, even a right one after them", func() {
			for i := 0; i < 5; i++ {
				expectFault(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": "wrong-password"}),
					403, "cortex.accessDenied.invalidCredentials")
			}
			r := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password})
			expectFault(r, 429, "cortex.throttled.unspecified")
			Expect(r.Header.Get("Retry-After")).To(MatchRegexp(`^[1-9][0-9]*$`))
			expectAccount(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": password}))
		})

		It("answers an unknown email and a wrong password alike", func() {
			a := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": email("nobody"), "password": password})
			b := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": "wrong-password"})
			expectFault(a, 403, "cortex.accessDenied.invalidCredentials")
			Expect(a.Body).To(Equal(b.Body))
		})

		It("refuses an account of another org", func() {
			expectFault(newDevice().do("POST", newOrg().base()+"accounts/login", map[string]any{"email": jane, "password": password}),
				403, "cortex.accessDenied.invalidCredentials")
		})

		It("refuses a member whose membership was deactivated, as it refuses an unknown email, and ends the session", func() {
			expectAccount(janeDev.do("GET", o.base()+"accounts/me", nil))
			r, err := srv.Do("GET", "fhir/R4/ProjectMembership?user=User/"+janeID, srv.AdminToken, nil)
			Expect(err).NotTo(HaveOccurred())
			entries, _ := r.JSON()["entry"].([]any)
			Expect(entries).To(HaveLen(1), string(r.Body))
			m := entries[0].(map[string]any)["resource"].(map[string]any)
			m["active"] = false
			r, err = srv.Do("PUT", "fhir/R4/ProjectMembership/"+m["id"].(string), srv.AdminToken, m)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))

			refused := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": jane, "password": password})
			expectFault(refused, 403, "cortex.accessDenied.invalidCredentials")
			unknown := newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": email("nobody"), "password": password})
			Expect(refused.Body).To(Equal(unknown.Body))
			Expect(janeDev.do("GET", o.base()+"accounts/me", nil).Status).To(BeNumerically(">=", 400))
			expectAccount(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password}))
		})

		It("requires email and password", func() {
			f := expectFault(newDevice().do("POST", o.base()+"accounts/login", map[string]any{}), 400, "cortex.invalidArgument.validation")
			Expect(children(f)).To(Equal(map[string]string{"email": "cortex.invalidArgument.required", "password": "cortex.invalidArgument.required"}))
		})

		It("refuses, in Medable's words, an account that signs in with a second factor, and starts no session", func() {
			mail := email("mfa")
			Expect(srv.AddMember(o.ID, mail, "Mia", "Factor", fixtures.AdminPassword, false)).To(Succeed())
			tok, err := srv.LoginFull(mail, fixtures.AdminPassword, o.ID)
			Expect(err).NotTo(HaveOccurred())
			_, _, err = srv.EnrollMFA(tok.AccessToken, srv.App.Clock.Now())
			Expect(err).NotTo(HaveOccurred())

			dev := newDevice()
			f := expectFault(dev.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": fixtures.AdminPassword}),
				403, "cortex.accessDenied.unspecified")
			Expect(f["reason"]).To(ContainSubstring("second factor"))
			Expect(dev.do("GET", o.base()+"accounts/me", nil).Status).To(Equal(403))
			// A wrong password still reads as any refused sign-in.
			expectFault(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": "wrong-password"}),
				403, "cortex.accessDenied.invalidCredentials")
		})

		It("signs a practitioner member in too: accounts are any member of the org", func() {
			mail := email("doc")
			Expect(srv.AddMember(o.ID, mail, "Greg", "House", fixtures.AdminPassword, false)).To(Succeed())
			a := expectAccount(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": fixtures.AdminPassword}))
			Expect(a["name"]).To(Equal(map[string]any{"first": "Greg", "last": "House"}))
		})
	})

	Describe("login verification", func() {
		BeforeEach(func() {
			requireVerification(o)
			mailText(john, 1) // the verification mail is in before anything is counted
		})

		It("mails a code that works once; singleUse does not remember the location", func() {
			d := newDevice()
			before := mailCount(john)
			expectFault(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password}), 200, "cortex.success.newLocation")
			code := codeIn(john, before+1)
			expectAccount(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password,
				"location": map[string]any{"verificationToken": code, "singleUse": true}}))
			expectFault(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password}), 200, "cortex.success.newLocation")
			Expect(codeIn(john, before+2)).To(HaveLen(6))
		})

		It("kills a code after five wrong tries", func() {
			d := newDevice()
			before := mailCount(john)
			expectFault(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password}), 200, "cortex.success.newLocation")
			code := codeIn(john, before+1)
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			for i := 0; i < 5; i++ {
				expectFault(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password,
					"location": map[string]any{"verificationToken": wrong}}), 400, "cortex.invalidArgument.locationToken")
			}
			expectFault(d.do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": password,
				"location": map[string]any{"verificationToken": code}}), 400, "cortex.invalidArgument.locationToken")
		})

		It("never asks for a code with a wrong password", func() {
			before := mailCount(john)
			expectFault(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": john, "password": "wrong-password"}),
				403, "cortex.accessDenied.invalidCredentials")
			Consistently(func() int { return mailCount(john) }, "300ms").Should(Equal(before))
		})
	})
})
