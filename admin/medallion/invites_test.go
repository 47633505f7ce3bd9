package medallion_test

import (
	"context"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Medallion invites", func() {
	var (
		o        org
		addr, id string
	)
	BeforeEach(func() {
		o = newOrg()
		addr = email("inv")
		id = o.createMember("auditor", addr, nil)["id"].(string)
	})

	It("creates an invite (201) and mails the core set-password link, which accepts the invite", func() {
		requireMail()
		inv := o.invite(id)
		Expect(inv).To(HaveKeyWithValue("membership_id", id))
		Expect(inv).To(HaveKeyWithValue("status", "pending"))
		Expect(inv).To(HaveKeyWithValue("email", addr))
		Expect(inv).To(HaveKey("id"))

		msgs := mails(addr, 1)
		Expect(msgs[0].Subject).To(ContainSubstring(o.Name))
		lid, secret := setPasswordLink(addr, 1)
		Expect(setPassword(lid, secret, memberPassword).Status).To(Equal(200))

		got := obj(o.call("GET", "invites/"+inv["id"].(string)+"/", nil))
		Expect(got).To(HaveKeyWithValue("status", "accepted"))
		_, err := srv.Login(addr, memberPassword)
		Expect(err).NotTo(HaveOccurred())

		r := o.call("POST", "invites/"+inv["id"].(string)+"/resend/", nil)
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"detail": "This invite was already accepted and cannot be resent."}))
		Expect(o.call("POST", "invites/"+inv["id"].(string)+"/revoke/", nil).Status).To(Equal(400))
		r = o.call("POST", o.ID+"/invites/", map[string]string{"membership_id": id})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"membership_id": []any{"This member has already accepted an invite."}}))
	})

	It("lists invites, filtered by membership_id", func() {
		other := o.createMember("admin", email("inv2"), nil)["id"].(string)
		a := o.invite(id)
		o.invite(other)
		all := obj(o.call("GET", o.ID+"/invites/", nil))
		Expect(all["count"]).To(BeEquivalentTo(2))
		mine := obj(o.call("GET", o.ID+"/invites/?membership_id="+id, nil))
		Expect(mine["count"]).To(BeEquivalentTo(1))
		Expect(mine["results"].([]any)[0]).To(HaveKeyWithValue("id", a["id"]))
	})

	It("refuses a second invite while one is pending", func() {
		o.invite(id)
		r := o.call("POST", o.ID+"/invites/", map[string]string{"membership_id": id})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"membership_id": []any{"This member already has a pending invite; resend it instead."}}))
		r = o.call("POST", o.ID+"/invites/", map[string]string{})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"membership_id": []any{"This field is required."}}))
	})

	It("resends with a fresh link: the old link dies, the new one works", func() {
		requireMail()
		inv := o.invite(id)
		oldID, oldSecret := setPasswordLink(addr, 1)
		r := o.call("POST", "invites/"+inv["id"].(string)+"/resend/", nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(obj(r)).To(HaveKeyWithValue("status", "pending"))
		newID, newSecret := setPasswordLink(addr, 2)
		Expect(newID).NotTo(Equal(oldID))
		Expect(setPassword(oldID, oldSecret, memberPassword).Status).To(Equal(400))
		Expect(setPassword(newID, newSecret, memberPassword).Status).To(Equal(200))
		Expect(obj(o.call("GET", "invites/"+inv["id"].(string)+"/", nil))).To(HaveKeyWithValue("status", "accepted"))
	})

	It("revokes: the mailed link is refused at once, and the invite cannot be resent", func() {
		requireMail()
		inv := o.invite(id)
		lid, secret := setPasswordLink(addr, 1)
		r := o.call("POST", "invites/"+inv["id"].(string)+"/revoke/", nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(obj(r)).To(HaveKeyWithValue("status", "revoked"))
		refused := setPassword(lid, secret, memberPassword)
		Expect(refused.Status).To(Equal(400), string(refused.Body))
		_, err := srv.Login(addr, memberPassword)
		Expect(err).To(HaveOccurred())

		r = o.call("POST", "invites/"+inv["id"].(string)+"/resend/", nil)
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"detail": "This invite was revoked and cannot be resent."}))
		Expect(o.call("POST", "invites/"+inv["id"].(string)+"/revoke/", nil).Status).To(Equal(200))
		// A revoked invite may be replaced by a new one.
		Expect(o.call("POST", o.ID+"/invites/", map[string]string{"membership_id": id}).Status).To(Equal(201))
	})

	It("is 404 to another organization", func() {
		inv := o.invite(id)
		other := newOrg()
		for _, r := range []*fixtures.Response{
			other.call("GET", "invites/"+inv["id"].(string)+"/", nil),
			other.call("POST", "invites/"+inv["id"].(string)+"/resend/", nil),
			other.call("POST", "invites/"+inv["id"].(string)+"/revoke/", nil),
			other.call("GET", o.ID+"/invites/", nil),
			other.call("POST", o.ID+"/invites/", map[string]string{"membership_id": id}),
		} {
			Expect(r.Status).To(Equal(404), string(r.Body))
			Expect(r.JSON()).To(Equal(map[string]any{"detail": "Not found."}))
		}
		Expect(obj(o.call("GET", "invites/"+inv["id"].(string)+"/", nil))).To(HaveKeyWithValue("status", "pending"))
	})
})

var _ = Describe("Medallion member lifecycle", func() {
	var o org
	BeforeEach(func() { o = newOrg() })

	It("deactivates a member (their token stops at once) and reactivates them", func() {
		requireMail()
		addr := email("act")
		m, token := o.signUp("admin", addr, map[string]any{"last_name": "Doe"})
		id := m["id"].(string)
		Expect(asMember(token, "GET", "members/", nil).Status).To(Equal(200))
		fhir, err := srv.Do("GET", "fhir/R4/Practitioner", token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(fhir.Status).To(Equal(200))

		r := o.call("PATCH", "members/"+id+"/", map[string]any{"is_active": false})
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(obj(r)).To(HaveKeyWithValue("is_active", false))
		Expect(*membership(id).Active).To(BeFalse())
		Expect(asMember(token, "GET", "members/", nil).Status).To(Equal(401))
		fhir, err = srv.Do("GET", "fhir/R4/Practitioner", token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(fhir.Status).To(Equal(401))

		r = o.call("PATCH", "members/"+id+"/", map[string]any{"is_active": true})
		Expect(r.Status).To(Equal(200))
		Expect(obj(r)).To(HaveKeyWithValue("is_active", true))
		Expect(asMember(token, "GET", "members/", nil).Status).To(Equal(200))
	})

	It("changes the login and profile email, kills links sent to the old address and tells both addresses", func() {
		requireMail()
		addr, next := email("old"), email("new")
		m := o.createMember("provider", addr, map[string]any{"provider": map[string]any{"profession": "MD"}})
		id := m["id"].(string)
		o.invite(id)
		lid, secret := setPasswordLink(addr, 1)

		r := o.call("POST", "members/"+id+"/change-email/", map[string]any{"new_email": strings.ToUpper(next)})
		Expect(r.Status).To(Equal(200), string(r.Body))
		got := obj(r)
		Expect(got["user"]).To(HaveKeyWithValue("email", next))
		Expect(got["provider"]).To(HaveKeyWithValue("email", next))
		Expect(usersWithEmail(addr)).To(BeZero())
		Expect(usersWithEmail(next)).To(Equal(1))

		Expect(setPassword(lid, secret, memberPassword).Status).To(Equal(400))
		oldMail := mails(addr, 2)
		Expect(oldMail[0].Subject).To(ContainSubstring("login email was changed"))
		newMail := mails(next, 1)
		Expect(newMail[0].Subject).To(ContainSubstring("login email is now"))

		// The invite mails the new address now.
		list := obj(o.call("GET", o.ID+"/invites/?membership_id="+id, nil))
		invID := list["results"].([]any)[0].(map[string]any)["id"].(string)
		Expect(o.call("POST", "invites/"+invID+"/resend/", nil).Status).To(Equal(200))
		nid, nsecret := setPasswordLink(next, 2)
		Expect(setPassword(nid, nsecret, memberPassword).Status).To(Equal(200))
		_, err := srv.Login(next, memberPassword)
		Expect(err).NotTo(HaveOccurred())
	})

	It("leaves the old address nowhere: a member made without names shows the new one as the hospital API's medic", func() {
		addr, next := email("bare"), email("moved")
		m := o.createMember("admin", addr, nil)
		id := m["id"].(string)
		userID := m["user"].(map[string]any)["id"].(string)
		Expect(srv.App.Auth.SetPassword(context.Background(), userID, memberPassword, "")).To(Succeed())
		token, err := srv.Login(addr, memberPassword)
		Expect(err).NotTo(HaveOccurred())
		medics := func() []any {
			GinkgoHelper()
			r, err := srv.Do("GET", "api/v2/management/memberships/", "", nil, "Authorization", "Token "+token)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))
			return r.JSON()["results"].([]any)
		}
		// The member has no names: its Practitioner is named by its address.
		Expect(medics()).To(ConsistOf(HaveKeyWithValue("medic", And(HaveKeyWithValue("name", addr), HaveKeyWithValue("email", addr)))))

		r := o.call("POST", "members/"+id+"/change-email/", map[string]any{"new_email": next})
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(obj(r)["user"]).To(HaveKeyWithValue("email", next))

		Expect(medics()).To(ConsistOf(HaveKeyWithValue("medic", And(HaveKeyWithValue("name", next), HaveKeyWithValue("email", next)))))
		pm := membership(id)
		prac := practitioner(strings.TrimPrefix(pm.Profile.Reference, "Practitioner/"))
		for _, v := range []any{prac, pm, obj(o.call("GET", "members/"+id+"/", nil))} {
			b, err := json.Marshal(v)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).NotTo(ContainSubstring(addr))
		}
		Expect(usersWithEmail(addr)).To(BeZero())
	})

	It("refuses an address taken by another account, changing nothing", func() {
		a := o.createMember("auditor", email("a"), nil)
		taken := email("taken")
		o.createMember("auditor", taken, nil)
		r := o.call("POST", "members/"+a["id"].(string)+"/change-email/", map[string]any{"new_email": taken})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"new_email": []any{"A user with this email already exists."}}))
		Expect(obj(o.call("GET", "members/"+a["id"].(string)+"/", nil))["user"]).To(HaveKeyWithValue("email", a["user"].(map[string]any)["email"]))
		r = o.call("POST", "members/"+a["id"].(string)+"/change-email/", map[string]any{"new_email": "nope"})
		Expect(r.Status).To(Equal(400))
		Expect(r.JSON()).To(Equal(map[string]any{"new_email": []any{"Enter a valid email address."}}))
	})

	It("refuses to change the login of an account other organizations share", func() {
		addr := email("shared")
		m := o.createMember("auditor", addr, nil)
		newOrg().createMember("auditor", addr, nil)
		r := o.call("POST", "members/"+m["id"].(string)+"/change-email/", map[string]any{"new_email": email("steal")})
		Expect(r.Status).To(Equal(403))
		Expect(usersWithEmail(addr)).To(Equal(1))
	})
})
