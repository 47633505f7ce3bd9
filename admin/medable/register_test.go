package medable_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Medable registration", func() {
	var o org

	BeforeEach(func() { o = newOrg() })

	DescribeTable("each validation rule has its fault and nothing is created",
		func(edit func(body map[string]any), path, errCode string) {
			mail := email("invalid")
			body := registration(mail)
			edit(body)
			f := expectFault(newDevice().do("POST", o.base()+"accounts/register", body), 400, "cortex.invalidArgument.validation")
			Expect(f["code"]).To(Equal("kValidationError"))
			Expect(children(f)).To(Equal(map[string]string{path: errCode}))
			Expect(userByEmail(mail)).To(BeNil())
			Consistently(func() int { return mailCount(mail) }, "100ms").Should(BeZero())
		},
		Entry("first name required", func(b map[string]any) { b["name"] = map[string]any{"last": "Doe"} }, "account.name.first", "cortex.invalidArgument.required"),
		Entry("last name required", func(b map[string]any) { b["name"] = map[string]any{"first": "Jane"} }, "account.name.last", "cortex.invalidArgument.required"),
		Entry("first name at most 100 characters", func(b map[string]any) {
			b["name"] = map[string]any{"first": strings.Repeat("a", 101), "last": "Doe"}
		}, "account.name.first", "cortex.invalidArgument.invalidString"),
		Entry("email required", func(b map[string]any) { delete(b, "email") }, "account.email", "cortex.invalidArgument.required"),
		Entry("email format", func(b map[string]any) { b["email"] = "jane-at-example" }, "account.email", "cortex.invalidArgument.emailFormat"),
		Entry("email a string", func(b map[string]any) { b["email"] = 42 }, "account.email", "cortex.invalidArgument.stringExpected"),
		Entry("password required", func(b map[string]any) { delete(b, "password") }, "account.password", "cortex.invalidArgument.required"),
		Entry("password strength", func(b map[string]any) { b["password"] = "short" }, "account.password", "cortex.invalidArgument.passwordStrength"),
		Entry("mobile in E.164", func(b map[string]any) { b["mobile"] = "555-0100" }, "account.mobile", "cortex.invalidArgument.phoneNumberFormat"),
		Entry("mobile with a leading zero", func(b map[string]any) { b["mobile"] = "+0123456" }, "account.mobile", "cortex.invalidArgument.phoneNumberFormat"),
		Entry("dob YYYY-MM-DD", func(b map[string]any) { b["dob"] = "04/02/1990" }, "account.dob", "cortex.invalidArgument.dateOfBirth"),
		Entry("dob a real date", func(b map[string]any) { b["dob"] = "1990-02-30" }, "account.dob", "cortex.invalidArgument.dateOfBirth"),
		Entry("dob in the past", func(b map[string]any) {
			b["dob"] = time.Now().AddDate(1, 0, 0).Format(time.DateOnly)
		}, "account.dob", "cortex.invalidArgument.dateOfBirth"),
		Entry("gender m or f", func(b map[string]any) { b["gender"] = "martian" }, "account.gender", "cortex.invalidArgument.enumValue"),
		Entry("tz an IANA zone", func(b map[string]any) { b["tz"] = "Mars/Olympus_Mons" }, "account.tz", "cortex.invalidArgument.timeZone"),
		Entry("tz not the server's Local", func(b map[string]any) { b["tz"] = "Local" }, "account.tz", "cortex.invalidArgument.timeZone"),
	)

	It("reports every bad property at once, as Medable's documented example", func() {
		f := expectFault(newDevice().do("POST", o.base()+"accounts/register",
			map[string]any{"gender": "martian", "name": map[string]any{"first": "@@"}}), 400, "cortex.invalidArgument.validation")
		Expect(children(f)).To(Equal(map[string]string{
			"account.password": "cortex.invalidArgument.required", "account.name.last": "cortex.invalidArgument.required",
			"account.email": "cortex.invalidArgument.required", "account.gender": "cortex.invalidArgument.enumValue"}))
		for _, c := range f["faults"].([]any) {
			if c.(map[string]any)["path"] == "account.gender" {
				Expect(c).To(HaveKeyWithValue("reason", "One of: m, f"))
			}
		}
	})

	It("accepts the optional properties absent", func() {
		mail := email("minimal")
		a := expectAccount(newDevice().do("POST", o.base()+"accounts/register", map[string]any{
			"name": map[string]any{"first": "Min", "last": "Imal"}, "email": mail, "password": password}))
		Expect(a).NotTo(HaveKey("mobile"))
		Expect(a).NotTo(HaveKey("dob"))
		Expect(a).NotTo(HaveKey("age"))
	})

	It("refuses an email already in the org, in any letter case, with the documented conflict", func() {
		mail := email("taken")
		register(newDevice(), o, mail)
		f := expectFault(newDevice().do("POST", o.base()+"accounts/register", registration(strings.ToUpper(mail))),
			409, "cortex.conflict.duplicateEmail")
		Expect(f["path"]).To(Equal("account.email"))
		f = expectFault(newDevice().do("POST", o.base()+"accounts/register", registration(o.Email)),
			409, "cortex.conflict.duplicateEmail")
		Expect(f["message"]).To(Equal("An account with this email address already exists."))
	})

	It("lets the same email register in another org: emails are unique per org", func() {
		mail := email("twice")
		a := register(newDevice(), o, mail)
		b := register(newDevice(), newOrg(), mail)
		Expect(a["_id"]).NotTo(Equal(b["_id"]))
	})

	It("is the documented invalid-JSON fault for a body that is not an object", func() {
		expectFault(newDevice().do("POST", o.base()+"accounts/register", "[1,2]"), 400, "cortex.invalidArgument.invalidJSON")
		expectFault(newDevice().do("POST", o.base()+"accounts/register", "{"), 400, "cortex.invalidArgument.invalidJSON")
	})

	Describe("with an invite token", func() {
		var mail, id, secret string

		BeforeEach(func() {
			mail = email("invited")
			r, err := srv.Do("POST", "admin/projects/"+o.ID+"/invite", o.Token,
				map[string]any{"resourceType": "Patient", "firstName": "Ivy", "lastName": "Invited", "email": mail})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))
			id, secret, err = srv.SetPasswordLink(mailText(mail, 1))
			Expect(err).NotTo(HaveOccurred())
		})

		It("joins the invited membership, sets the password and counts the email verified", func() {
			a := expectAccount(newDevice().do("POST", o.base()+"accounts/register",
				with(registration(mail), "token", id+"/"+secret)))
			Expect(a["state"]).To(Equal("verified"))
			Expect(a["name"]).To(Equal(map[string]any{"first": "Jane", "last": "Doe"}))
			Expect(a["mobile"]).To(Equal("+15555550100"))
			u := userByEmail(mail)
			Expect(a["_id"]).To(Equal(u["id"]))
			r, err := srv.Do("GET", "fhir/R4/ProjectMembership?user=User/"+u["id"].(string), srv.AdminToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.JSON()["entry"]).To(HaveLen(1), "the invited membership, not a second one")
			expectAccount(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password}))

			f := expectFault(newDevice().do("POST", o.base()+"accounts/register", with(registration(mail), "token", id+"/"+secret)),
				400, "cortex.invalidArgument.connectionToken")
			Expect(f["reason"]).To(ContainSubstring("used"))
		})

		It("takes the whole set-password link as the token too", func() {
			expectAccount(newDevice().do("POST", o.base()+"accounts/register",
				with(registration(mail), "token", map[string]any{"token": srv.URL + "setpassword/" + id + "/" + secret})))
		})

		It("refuses the token for another email, a wrong secret, or in another org", func() {
			expectFault(newDevice().do("POST", o.base()+"accounts/register", with(registration(email("other")), "token", id+"/"+secret)),
				400, "cortex.invalidArgument.connectionToken")
			expectFault(newDevice().do("POST", o.base()+"accounts/register", with(registration(mail), "token", id+"/wrong")),
				400, "cortex.invalidArgument.connectionToken")
			expectFault(newDevice().do("POST", newOrg().base()+"accounts/register", with(registration(mail), "token", id+"/"+secret)),
				400, "cortex.invalidArgument.connectionToken")
			expectAccount(newDevice().do("POST", o.base()+"accounts/register", with(registration(mail), "token", id+"/"+secret)))
		})
	})
})
