package medallion_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// fhir calls the core FHIR API with a member's token.
func fhir(token, method, path string, body any) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.Do(method, "fhir/R4/"+path, token, body)
	Expect(err).NotTo(HaveOccurred())
	return r
}

var forbidden = map[string]any{"detail": "You do not have permission to perform this action."}

var _ = Describe("Medallion roles on members' own tokens", Ordered, func() {
	var (
		o                                      org
		colleague                              map[string]any
		auditor, provider, superProv, msp, adm string
		providerMember                         map[string]any
	)
	BeforeAll(func() {
		requireMail()
		o = newOrg()
		colleague = o.createMember("provider", email("colleague"), map[string]any{"provider": map[string]any{"profession": "RN"}})
		_, auditor = o.signUp("auditor", email("auditor"), nil)
		providerMember, provider = o.signUp("provider", email("provider"), map[string]any{"provider": map[string]any{"profession": "MD"}, "first_name": "Jane"})
		_, superProv = o.signUp("super_provider", email("super"), map[string]any{"provider": []any{map[string]any{"profession": "DO"}}})
		_, msp = o.signUp("medical_staff_professional", email("msp"), nil)
		_, adm = o.signUp("admin", email("admin"), nil)
	})

	newMember := func() map[string]any {
		return map[string]any{"role": "auditor", "user": map[string]any{"email": email("new")}}
	}

	It("lets an auditor read everything and write nothing (403)", func() {
		page := obj(asMember(auditor, "GET", "members/", nil))
		Expect(page["count"]).To(BeEquivalentTo(6))
		Expect(asMember(auditor, "GET", "members/"+colleague["id"].(string)+"/", nil).Status).To(Equal(200))
		Expect(asMember(auditor, "GET", o.ID+"/invites/", nil).Status).To(Equal(200))
		for _, r := range []*fixtures.Response{
			asMember(auditor, "POST", "members/", newMember()),
			asMember(auditor, "PATCH", "members/"+colleague["id"].(string)+"/", map[string]any{"is_active": false}),
			asMember(auditor, "POST", "members/"+colleague["id"].(string)+"/change-email/", map[string]any{"new_email": email("x")}),
			asMember(auditor, "POST", o.ID+"/invites/", map[string]any{"membership_id": colleague["id"]}),
		} {
			Expect(r.Status).To(Equal(403), string(r.Body))
			Expect(r.JSON()).To(Equal(forbidden))
		}
		// The same on the core FHIR API, through the membership's accessPolicy.
		Expect(fhir(auditor, "GET", "Practitioner", nil).Status).To(Equal(200))
		pid := colleague["provider"].(map[string]any)["id"].(string)
		read := fhir(auditor, "GET", "Practitioner/"+pid, nil)
		Expect(read.Status).To(Equal(200))
		Expect(fhir(auditor, "PUT", "Practitioner/"+pid, read.Body).Status).To(Equal(403))
		Expect(fhir(auditor, "POST", "Patient", map[string]any{"resourceType": "Patient"}).Status).To(Equal(403))
	})

	It("gives medical staff professionals the auditor's read-only rights", func() {
		Expect(asMember(msp, "GET", "members/", nil).Status).To(Equal(200))
		Expect(asMember(msp, "POST", "members/", newMember()).Status).To(Equal(403))
		Expect(fhir(msp, "POST", "Patient", map[string]any{"resourceType": "Patient"}).Status).To(Equal(403))
	})

	It("lets a provider see and edit only their own profile", func() {
		page := obj(asMember(provider, "GET", "members/", nil))
		Expect(page["count"]).To(BeEquivalentTo(1))
		Expect(page["results"].([]any)[0]).To(HaveKeyWithValue("id", providerMember["id"]))
		Expect(asMember(provider, "GET", "members/"+providerMember["id"].(string)+"/", nil).Status).To(Equal(200))
		Expect(asMember(provider, "GET", "members/"+colleague["id"].(string)+"/", nil).Status).To(Equal(404))
		Expect(asMember(provider, "PATCH", "members/"+providerMember["id"].(string)+"/", map[string]any{"role": "admin"}).Status).To(Equal(403))
		Expect(asMember(provider, "POST", "members/", newMember()).Status).To(Equal(403))
		invites := obj(asMember(provider, "GET", o.ID+"/invites/", nil))
		Expect(invites["count"]).To(BeEquivalentTo(1))

		own := providerMember["provider"].(map[string]any)["id"].(string)
		read := fhir(provider, "GET", "Practitioner/"+own, nil)
		Expect(read.Status).To(Equal(200))
		p := read.JSON()
		p["gender"] = "female"
		Expect(fhir(provider, "PUT", "Practitioner/"+own, p).Status).To(Equal(200))
		Expect(practitioner(own).Gender).To(Equal("female"))

		other := colleague["provider"].(map[string]any)["id"].(string)
		Expect(fhir(provider, "GET", "Practitioner/"+other, nil).Status).To(Equal(404))
		search := fhir(provider, "GET", "Practitioner", nil).JSON()
		Expect(search["entry"]).To(HaveLen(1))
		Expect(fhir(provider, "GET", "Patient", nil).Status).To(Equal(403))
		Expect(fhir(provider, "POST", "Practitioner", map[string]any{"resourceType": "Practitioner"}).Status).To(Equal(403))
	})

	It("lets admins and super providers manage the organization", func() {
		for _, tok := range []string{adm, superProv} {
			r := asMember(tok, "POST", "members/", newMember())
			Expect(r.Status).To(Equal(201), string(r.Body))
			Expect(asMember(tok, "POST", o.ID+"/invites/", map[string]any{"membership_id": obj(r)["id"]}).Status).To(Equal(201))
		}
		Expect(fhir(superProv, "POST", "Patient", map[string]any{"resourceType": "Patient"}).Status).To(Equal(201))
	})

	It("keeps a member's token to their own organization", func() {
		other := newOrg()
		m := other.createMember("auditor", email("elsewhere"), nil)
		Expect(asMember(adm, "GET", "members/"+m["id"].(string)+"/", nil).Status).To(Equal(404))
		Expect(asMember(adm, "GET", other.ID+"/invites/", nil).Status).To(Equal(404))
	})
})
