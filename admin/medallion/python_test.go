package medallion_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/medallion"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

var _ = Describe("Medallion's own Code Roundup, run with python3 and requests", func() {
	It("runs unchanged but for base URL, key, organization and addresses, and leaves the organization as documented", func() {
		requireMail()
		o := newOrg()
		tag := fixtures.Uniq()
		stdout := fixtures.RunPython(GinkgoT(), "testdata/code_roundup.py", "MEDALLION_API_KEY="+o.Key, "MEDALLION_ORG_ID="+o.ID,
			"MEDALLION_BASE_URL="+strings.TrimSuffix(srv.URL, "/"), "MEDALLION_TAG="+tag)

		var members []struct {
			Email        string `json:"email"`
			Role         string `json:"role"`
			Profession   string `json:"profession"`
			MembershipID string `json:"membership_id"`
			ProviderID   string `json:"provider_id"`
			InviteID     string `json:"invite_id"`
		}
		Expect(json.Unmarshal(stdout, &members)).To(Succeed(), string(stdout))
		Expect(members).To(HaveLen(4))

		By("the database holding the four members with their roles and professions")
		page := obj(o.call("GET", "members/", nil))
		Expect(page["count"]).To(BeEquivalentTo(4))
		newEmail := "john.doe.new." + tag + "@example.com"
		for i, m := range members {
			pm := membership(m.MembershipID)
			Expect(pm.Project.Reference).To(Equal("Project/" + o.ID))
			Expect(pm.Active == nil || *pm.Active).To(BeTrue(), "reactivated at the end")
			var role string
			resources.ExtensionValue(pm.Extension, medallion.RoleURL, "valueCode", &role)
			Expect(role).To(Equal(m.Role))
			if m.Profession != "" {
				Expect(m.ProviderID).NotTo(BeEmpty())
				Expect(pm.Profile.Reference).To(Equal("Practitioner/" + m.ProviderID))
				Expect(practitioner(m.ProviderID).Qualification[0].Code.Coding[0].Code).To(Equal(m.Profession))
			} else {
				Expect(m.ProviderID).To(BeEmpty())
			}
			want := m.Email
			if i == 0 {
				want = newEmail
			}
			Expect(obj(o.call("GET", "members/"+m.MembershipID+"/", nil))["user"]).To(HaveKeyWithValue("email", want))
		}
		Expect(usersWithEmail(members[0].Email)).To(BeZero())

		By("the invites: the first revoked, the others pending")
		invites := obj(o.call("GET", o.ID+"/invites/", nil))
		Expect(invites["count"]).To(BeEquivalentTo(4))
		for i, m := range members {
			inv := obj(o.call("GET", "invites/"+m.InviteID+"/", nil))
			Expect(inv).To(HaveKeyWithValue("membership_id", m.MembershipID))
			if i == 0 {
				Expect(inv).To(HaveKeyWithValue("status", "revoked"))
			} else {
				Expect(inv).To(HaveKeyWithValue("status", "pending"))
			}
		}

		By("the mailbox: an invite each, the first resent, both addresses of the changed email told")
		for _, m := range members[1:] {
			msgs := mails(m.Email, 1)
			Expect(msgs).To(HaveLen(1))
			Expect(msgs[0].Subject).To(ContainSubstring("invited"))
		}
		old := mails(members[0].Email, 3)
		Expect(old).To(HaveLen(3))
		subjects := []string{old[0].Subject, old[1].Subject, old[2].Subject}
		Expect(subjects).To(ContainElement(ContainSubstring("login email was changed")))
		Expect(subjects).To(HaveEach(Or(ContainSubstring("invited"), ContainSubstring("login email was changed"))))
		Expect(mails(newEmail, 1)[0].Subject).To(ContainSubstring("login email is now"))

		By("the revoked invite's links refused, a pending one accepted")
		for _, msg := range old {
			if !strings.Contains(msg.Subject, "invited") {
				continue
			}
			link, err := mailbox.FirstURL(msg.ID, srv.URL+"setpassword/")
			Expect(err).NotTo(HaveOccurred())
			parts := strings.Split(strings.TrimPrefix(link, srv.URL+"setpassword/"), "/")
			Expect(setPassword(parts[0], parts[1], memberPassword).Status).To(Equal(400))
		}
		id, secret := setPasswordLink(members[2].Email, 1)
		Expect(setPassword(id, secret, memberPassword).Status).To(Equal(200))
		Eventually(func() any { return obj(o.call("GET", "invites/"+members[2].InviteID+"/", nil))["status"] }).
			WithTimeout(5 * time.Second).Should(Equal("accepted"))
	})
})
