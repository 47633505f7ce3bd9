package medable_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// One account's life, end to end through HTTP with its mail read from
// Mailpit: register, verify the email, sign in from a new device with the
// mailed location code, log out, reset the password.
var _ = Describe("A Medable account's story", Ordered, func() {
	var (
		o              org
		mail           string
		phone, laptop  *device
		accountID      string
		newPassword    = "another-good-password"
		locationNumber int // mails to the holder so far
	)

	BeforeAll(func() {
		o = newOrg()
		requireVerification(o)
		mail = email("jane")
		phone, laptop = newDevice(), newDevice()
	})

	It("registers an unverified account and mails a verification token", func() {
		a := register(phone, o, mail)
		accountID = a["_id"].(string)
		Expect(a).To(HaveKeyWithValue("email", mail))
		Expect(a).To(HaveKeyWithValue("name", map[string]any{"first": "Jane", "last": "Doe"}))
		Expect(a).To(HaveKeyWithValue("mobile", "+15555550100"))
		Expect(a).To(HaveKeyWithValue("dob", "1990-04-02"))
		Expect(a).To(HaveKeyWithValue("gender", "f"))
		Expect(a).To(HaveKeyWithValue("tz", "US/Pacific"))
		Expect(a["age"]).To(BeNumerically(">=", 35))
		Expect(a).To(HaveKeyWithValue("state", "unverified"))
		Expect(a).To(HaveKeyWithValue("roles", []any{}))
		Expect(a["created"]).To(MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`))
		Expect(a["updated"]).To(MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`))
		locationNumber = 1
		Expect(mailText(mail, 1)).To(ContainSubstring("Token: "))
	})

	It("is signed in on the registering device, through an HttpOnly cookie", func() {
		me := expectAccount(phone.do("GET", o.base()+"accounts/me", nil))
		Expect(me["_id"]).To(Equal(accountID))
	})

	It("verifies the email with the mailed token, which then is spent", func() {
		token := tokenIn(mail, 1)
		expectOK(newDevice().do("POST", o.base()+"token/"+token, nil))
		Expect(expectAccount(phone.do("GET", o.base()+"accounts/me", nil))["state"]).To(Equal("verified"))
		expectFault(newDevice().do("POST", o.base()+"token", map[string]any{"token": token}), 404, "cortex.notFound.accountToken")
	})

	It("refuses a new device with kNewLocation (status 200) and mails a 6-digit code", func() {
		f := expectFault(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password}),
			200, "cortex.success.newLocation")
		Expect(f["code"]).To(Equal("kNewLocation"))
		Expect(f["name"]).To(Equal("location"))
		locationNumber++
		Expect(codeIn(mail, locationNumber)).To(HaveLen(6))
		expectFault(laptop.do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
	})

	It("keeps refusing the unverified device without the code, mailing nothing more", func() {
		expectFault(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password}),
			403, "cortex.accessDenied.unverifiedLocation")
		Consistently(func() int { return mailCount(mail) }, "300ms").Should(Equal(locationNumber))
	})

	It("refuses a wrong code", func() {
		code := codeIn(mail, locationNumber)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		f := expectFault(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password,
			"location": map[string]any{"verificationToken": wrong}}), 400, "cortex.invalidArgument.locationToken")
		Expect(f["path"]).To(Equal("location.verificationToken"))
	})

	It("signs in with the mailed code and remembers the device", func() {
		code := codeIn(mail, locationNumber)
		a := expectAccount(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password,
			"location": map[string]any{"verificationToken": code, "locationName": "Laptop"}}))
		Expect(a["_id"]).To(Equal(accountID))
		expectAccount(laptop.do("GET", o.base()+"accounts/me", nil))
		// The code is spent: a second use is refused even on the same device.
		expectFault(newDevice().do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password,
			"location": map[string]any{"verificationToken": code}}), 400, "cortex.invalidArgument.locationToken")
	})

	It("logs out: the session ends at once", func() {
		expectOK(laptop.do("POST", o.base()+"accounts/me/logout", nil))
		expectFault(laptop.do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
	})

	It("signs the remembered device in again without a code", func() {
		expectAccount(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password}))
	})

	It("resets a forgotten password with the mailed token", func() {
		before := mailCount(mail)
		expectOK(newDevice().do("POST", o.base()+"accounts/request-password-reset", map[string]any{"email": mail}))
		token := tokenIn(mail, before+1)
		expectOK(newDevice().do("POST", "medable/"+o.ID+"/accounts/reset-password", map[string]any{"password": newPassword, "token": token}))

		expectFault(laptop.do("GET", o.base()+"accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
		expectFault(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": password}),
			403, "cortex.accessDenied.invalidCredentials")
		expectAccount(laptop.do("POST", o.base()+"accounts/login", map[string]any{"email": mail, "password": newPassword}))
		expectFault(newDevice().do("POST", o.base()+"accounts/reset-password", map[string]any{"password": "yet-another-password", "token": token}),
			404, "cortex.notFound.passwordResetToken")
	})
})
