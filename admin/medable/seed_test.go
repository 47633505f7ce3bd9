package medable_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The requests of Medable's account document
// (../shared/seeds/002_8c574a365f7490c1.txt), sent to the documented paths
// with the org's unique name as your_org_name; only the host and the
// credentials are this server's.
var _ = Describe("Medable's documented account requests", Ordered, func() {
	var (
		o         org
		d         *device
		mail      string
		accountID string
		base      string // https://api.dev.medable.com/your_org_name/ → this server's /medable/{name}/
	)

	BeforeAll(func() {
		o = newOrg()
		d = newDevice()
		mail = email("seed")
		base = "medable/" + o.Name + "/"
	})

	It("POST /your_org_name/v2/accounts/register", func() {
		a := expectAccount(d.do("POST", base+"v2/accounts/register", map[string]any{
			"name": map[string]any{"first": "Sam", "last": "Seed"}, "email": mail, "mobile": "+15555550199",
			"password": password, "dob": "1980-01-15", "gender": "m", "tz": "US/Pacific"}))
		accountID = a["_id"].(string)
	})

	It("GET /your_org_name/v2/accounts/me", func() {
		Expect(expectAccount(d.do("GET", base+"v2/accounts/me", nil))["_id"]).To(Equal(accountID))
	})

	It("GET /your_org_name/v2/accounts/account_id", func() {
		Expect(expectAccount(d.do("GET", base+"v2/accounts/"+accountID, nil))["email"]).To(Equal(mail))
	})

	It("GET /your_org_name/v2/accounts (an org admin)", func() {
		r := bearer("GET", base+"v2/accounts", o.Token, nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()["data"]).To(ContainElement(HaveKeyWithValue("_id", accountID)))
	})

	It("POST /your_org_name/v2/token/{token}", func() {
		expectOK(newDevice().do("POST", base+"v2/token/"+tokenIn(mail, 1), nil))
	})

	It("POST /your_org_name/v2/accounts/me/resend-verification (already verified)", func() {
		expectFault(d.do("POST", base+"v2/accounts/me/resend-verification", nil), 409, "cortex.conflict.accountAlreadyVerified")
	})

	It("PUT /your_org_name/v2/accounts/account_id", func() {
		a := expectAccount(d.do("PUT", base+"v2/accounts/"+accountID, map[string]any{
			"name": map[string]any{"first": "Samuel", "last": "Seed"}, "mobile": "+15555550198", "dob": "1980-01-16", "gender": "m"}))
		Expect(a["name"]).To(Equal(map[string]any{"first": "Samuel", "last": "Seed"}))
		f := expectFault(d.do("PUT", base+"v2/accounts/"+accountID, map[string]any{"email": "changed@example.com"}),
			403, "cortex.accessDenied.notWritable")
		Expect(f["path"]).To(Equal("account.email"))
	})

	It("PATCH /your_org_name/v2/accounts/account_id", func() {
		a := expectAccount(d.do("PATCH", base+"v2/accounts/"+accountID, map[string]any{"op": "set", "path": "mobile", "value": "+15555550197"}))
		Expect(a["mobile"]).To(Equal("+15555550197"))
	})

	It("POST /your_org_name/accounts/me/update-password", func() {
		expectOK(d.do("POST", base+"accounts/me/update-password", map[string]any{"current": password, "password": "seed-password-two"}))
	})

	It("POST /your_org_name/v2/accounts/me/logout", func() {
		expectOK(d.do("POST", base+"v2/accounts/me/logout", nil))
		expectFault(d.do("GET", base+"v2/accounts/me", nil), 403, "cortex.accessDenied.notLoggedIn")
	})

	It("POST /your_org_name/v2/accounts/request-password-reset", func() {
		expectOK(newDevice().do("POST", base+"v2/accounts/request-password-reset", map[string]any{"email": mail}))
	})

	It("POST /your_org_name/accounts/reset-password", func() {
		expectOK(newDevice().do("POST", base+"accounts/reset-password", map[string]any{"password": "seed-password-three", "token": tokenIn(mail, 2)}))
	})

	It("POST /your_org_name/v2/accounts/login, with every location property", func() {
		a := expectAccount(d.do("POST", base+"v2/accounts/login", map[string]any{"email": mail, "password": "seed-password-three",
			"location": map[string]any{"locationName": "Seed phone", "singleUse": false,
				"iosNotificationToken": "apn-token", "gcmRegistrationId": "fcm-id"}}))
		Expect(a["_id"]).To(Equal(accountID))
	})

	It("POST /accounts/login, then with location.verificationToken (the two-factor guide)", func() {
		requireVerification(o)
		fresh := newDevice()
		f := expectFault(fresh.do("POST", base+"accounts/login", map[string]any{"email": mail, "password": "seed-password-three"}),
			200, "cortex.success.newLocation")
		Expect(f).To(HaveKeyWithValue("message", "A new location has been added to the account. Please verify it."))
		expectAccount(fresh.do("POST", base+"accounts/login", map[string]any{"email": mail, "password": "seed-password-three",
			"location": map[string]any{"verificationToken": codeIn(mail, 3)}}))
	})
})
