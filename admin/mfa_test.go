package admin_test

import (
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Resetting a member's MFA (POST /admin/projects/{projectId}/members/{membershipId}/mfa/reset)", func() {
	// member is a signed-in Practitioner of a project; admin runs it.
	type member struct {
		email, password, token, userID, membership string
	}
	var (
		project, adminToken string
		m                   member
	)
	join := func(projectID string) member {
		GinkgoHelper()
		email, password := "mfa-"+uniq()+"@example.com", "mfa-member-password-1"
		Expect(srv.AddMember(projectID, email, "Mo", "Factor", password, false)).To(Succeed())
		token, err := srv.Login(email, password)
		Expect(err).NotTo(HaveOccurred())
		u := users(srv, email)[0]
		mems := search(srv, "ProjectMembership", url.Values{"user": {"User/" + u["id"].(string)}})
		Expect(mems).To(HaveLen(1))
		return member{email, password, token, u["id"].(string), mems[0]["id"].(string)}
	}
	reset := func(projectID, membershipID, token string, body any) *fixtures.Response {
		GinkgoHelper()
		return do(srv, "POST", "admin/projects/"+projectID+"/members/"+membershipID+"/mfa/reset", token, body)
	}
	status := func(token string) map[string]any {
		GinkgoHelper()
		r := do(srv, "GET", "auth/mfa/status", token, nil)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		return r.JSON()
	}

	BeforeEach(func() {
		var err error
		project, adminToken, _, err = srv.ProjectAdmin("MFA reset " + uniq())
		Expect(err).NotTo(HaveOccurred())
		m = join(project)
		_, _, err = srv.EnrollMFA(m.token, clockNow())
		Expect(err).NotTo(HaveOccurred())
	})

	It("removes the member's second factor: the next sign-in needs none, the member is mailed, the act audited", func() {
		r := reset(project, m.membership, adminToken, nil)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("resourceType", "OperationOutcome"))

		Expect(status(m.token)).To(HaveKeyWithValue("enrolled", false))
		_, err := srv.Login(m.email, m.password) // a code straight from the password
		Expect(err).NotTo(HaveOccurred())

		sent := mails(srv, project, m.email)
		Expect(sent).NotTo(BeEmpty())
		Expect(sent[len(sent)-1].Kind).To(Equal("mfa-reset"))

		r = do(srv, "GET", "fhir/R4/AuditEvent?subtype="+url.QueryEscape(audit.SubtypeSystem+"|"+audit.MFAReset.Code), adminToken, nil)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		events := r.Resources()
		Expect(events).To(HaveLen(1))
		Expect(events[0]["entity"]).To(ContainElements(
			HaveKeyWithValue("what", HaveKeyWithValue("reference", "User/"+m.userID)),
			HaveKeyWithValue("what", HaveKeyWithValue("reference", "ProjectMembership/"+m.membership))))
		Expect(events[0]["agent"]).To(ContainElement(HaveKeyWithValue("who", HaveKeyWithValue("reference", HavePrefix("Practitioner/")))))

		By("answering 400 to a second reset: nothing is enrolled")
		Expect(expressions(reset(project, m.membership, adminToken, map[string]any{}))).To(ContainElement("token"))
	})

	It("takes Medplum's method, totp, and refuses any other naming it", func() {
		r := reset(project, m.membership, adminToken, map[string]any{"method": "email"})
		Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
		Expect(expressions(r)).To(ContainElement("method"))
		Expect(status(m.token)).To(HaveKeyWithValue("enrolled", true))
		Expect(reset(project, m.membership, adminToken, map[string]any{"method": "totp"}).Status).To(Equal(http.StatusOK))
	})

	DescribeTable("is for the project's admins",
		func(who func() (projectID, membershipID, token string), want int) {
			p, mem, token := who()
			r := reset(p, mem, token, nil)
			Expect(r.Status).To(Equal(want), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
			Expect(status(m.token)).To(HaveKeyWithValue("enrolled", want != http.StatusOK))
		},
		Entry("the super admin", func() (string, string, string) { return project, m.membership, srv.AdminToken }, http.StatusOK),
		Entry("a member who is not admin", func() (string, string, string) {
			return project, m.membership, join(project).token
		}, http.StatusForbidden),
		Entry("the member itself", func() (string, string, string) { return project, m.membership, m.token }, http.StatusForbidden),
		Entry("another project's admin", func() (string, string, string) {
			_, other, _, err := srv.ProjectAdmin("MFA other " + uniq())
			Expect(err).NotTo(HaveOccurred())
			return project, m.membership, other
		}, http.StatusForbidden),
		Entry("another project's admin naming the member under its own project", func() (string, string, string) {
			q, other, _, err := srv.ProjectAdmin("MFA other " + uniq())
			Expect(err).NotTo(HaveOccurred())
			return q, m.membership, other
		}, http.StatusNotFound),
		Entry("an unknown membership", func() (string, string, string) {
			return project, "00000000-0000-0000-0000-000000000000", adminToken
		}, http.StatusNotFound),
		Entry("no credentials", func() (string, string, string) { return project, m.membership, "" }, http.StatusUnauthorized),
	)
})
