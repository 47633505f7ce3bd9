package hospital_test

import (
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/hospital"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

var (
	invalidToken      = map[string]any{"message": "Invalid Token"}
	unauthorizedMedic = map[string]any{"message": "Unauthorized Medic"}
	notFound          = map[string]any{"message": "Not found"}
	duplicate         = map[string]any{"message": "Membership already exists please edit instead of trying to create it again."}
)

var _ = Describe("Hospital API credentials", func() {
	DescribeTable("refuse a missing or bad token with Invalid Token",
		func(header string) {
			r, err := srv.Do("GET", "api/v2/management/memberships/", "", nil, "Authorization", header)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(401))
			Expect(r.JSON()).To(Equal(invalidToken))
		},
		Entry("no header", ""),
		Entry("a garbage token", "Token not-a-token"),
		Entry("another scheme", "Basic Zm9vOmJhcg=="),
	)

	It("refuses a valid token that is not a medic's (a Patient) with Unauthorized Medic", func() {
		h := newHospital()
		p := newPerson("Pat", "Ient")
		r, err := srv.Do("POST", "admin/projects/"+h+"/invite", srv.AdminToken, map[string]any{
			"resourceType": "Patient", "firstName": p.First, "lastName": p.Last, "email": p.Email, "password": password, "sendEmail": false})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))
		r = call(token(p, h), "GET", "management/memberships/", nil)
		Expect(r.Status).To(Equal(401))
		Expect(r.JSON()).To(Equal(unauthorizedMedic))
	})
})

var _ = Describe("Hospital memberships", func() {
	var (
		h1, h2                 string
		boss, medic, colleague person
		bossTok                string
		medicH1                *resources.ProjectMembership
	)
	BeforeEach(func() {
		h1, h2 = newHospital(), newHospital()
		boss, medic, colleague = newPerson("Elizabeth", "Blackwell"), newPerson("Matilde", "Montoya"), newPerson("Alexander", "Fleming")
		join(boss, h1, true)
		join(boss, h2, true)
		medicH1 = join(medic, h1, false)
		join(colleague, h2, false)
		bossTok = token(boss, h1)
	})

	add := func(tok, medicID, hosp, typ string) *fixtures.Response {
		return call(tok, "POST", "management/memberships/", map[string]any{"medic": medicID, "hospital": hosp, "type_membership": typ})
	}

	Describe("create", func() {
		It("lets an ADMIN of the hospital add a medic they can see (201), through the core invite", func() {
			r := add(bossTok, practitionerID(medicH1), h2, "MEMBER")
			Expect(r.Status).To(Equal(201), string(r.Body))
			got := obj(r)
			Expect(got).To(HaveKeyWithValue("hospital", h2))
			Expect(got).To(HaveKeyWithValue("type_membership", "MEMBER"))
			Expect(got).To(HaveKeyWithValue("is_active", false))
			Expect(got).To(HaveKeyWithValue("is_deleted", false))
			Expect(got["medic"]).To(BeAssignableToTypeOf(""))
			Expect(got["date_joined"]).NotTo(BeEmpty())

			mems := membershipsOf(medic, h2)
			Expect(mems).To(HaveLen(1))
			Expect(mems[0].ID).To(Equal(got["id"]))
			Expect(*mems[0].Admin).To(BeFalse())
			Expect(mems[0].Profile.Reference).To(Equal("Practitioner/" + got["medic"].(string)))
			Expect(mems[0].InvitedBy.Reference).NotTo(BeEmpty())

			Expect(add(bossTok, practitionerID(medicH1), h2, "ADMIN").JSON()).To(Equal(duplicate))
			Expect(add(bossTok, practitionerID(medicH1), h2, "ADMIN").Status).To(Equal(409))
			Expect(membershipsOf(medic, h2)).To(HaveLen(1))
		})

		It("makes an ADMIN membership the core's admin flag, and accepts is_active and is_deleted", func() {
			r := call(bossTok, "POST", "management/memberships/", map[string]any{"medic": practitionerID(medicH1), "hospital": h2,
				"type_membership": "ADMIN", "is_active": true, "is_deleted": false})
			Expect(r.Status).To(Equal(201), string(r.Body))
			m := read(obj(r)["id"].(string))
			Expect(*m.Admin).To(BeTrue())
			var cur bool
			Expect(resources.ExtensionValue(m.Extension, hospital.CurrentURL, "valueBoolean", &cur)).To(BeTrue())
			Expect(cur).To(BeTrue())
		})

		It("refuses a MEMBER of the hospital with Unauthorized Medic, writing nothing", func() {
			r := add(token(colleague, h2), practitionerID(medicH1), h2, "MEMBER")
			Expect(r.Status).To(Equal(401))
			Expect(r.JSON()).To(Equal(unauthorizedMedic))
			r = add(token(medic, h1), practitionerID(medicH1), h2, "MEMBER")
			Expect(r.JSON()).To(Equal(unauthorizedMedic))
			Expect(membershipsOf(medic, h2)).To(BeEmpty())
		})

		It("refuses medics the admin cannot see and bad bodies with 400", func() {
			stranger := join(newPerson("Stran", "Ger"), newHospital(), false)
			for _, body := range []map[string]any{
				{"medic": practitionerID(stranger), "hospital": h2, "type_membership": "MEMBER"},
				{"medic": "no-such-medic", "hospital": h2, "type_membership": "MEMBER"},
				{"hospital": h2, "type_membership": "MEMBER"},
				{"medic": practitionerID(medicH1), "hospital": h2, "type_membership": "OWNER"},
				{"medic": practitionerID(medicH1), "hospital": h2},
			} {
				r := call(bossTok, "POST", "management/memberships/", body)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(obj(r)).To(HaveKey("message"))
			}
			Expect(membershipsOf(medic, h2)).To(BeEmpty())
		})

		It("gives two admins adding the same medic at once one membership and one 409", func() {
			other := newPerson("Other", "Admin")
			join(other, h1, false)
			join(other, h2, true)
			toks := []string{bossTok, token(other, h2)}
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i := range toks {
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					statuses[i] = add(toks[i], practitionerID(medicH1), h2, "MEMBER").Status
				}()
			}
			wg.Wait()
			Expect(statuses).To(ConsistOf(201, 409))
			Expect(membershipsOf(medic, h2)).To(HaveLen(1))
		})
	})

	Describe("reading", func() {
		var created map[string]any
		BeforeEach(func() {
			r := add(bossTok, practitionerID(medicH1), h2, "MEMBER")
			Expect(r.Status).To(Equal(201))
			created = obj(r)
		})

		It("lists the caller's memberships, paginated", func() {
			r := call(token(medic, h1), "GET", "management/memberships/", nil)
			Expect(r.Status).To(Equal(200))
			page := obj(r)
			Expect(page["count"]).To(BeEquivalentTo(2))
			Expect(page["next"]).To(BeNil())
			Expect(page["previous"]).To(BeNil())
			results := page["results"].([]any)
			Expect(results).To(HaveLen(2))
			hospitals := []any{results[0].(map[string]any)["hospital"], results[1].(map[string]any)["hospital"]}
			Expect(hospitals).To(ConsistOf(h1, h2))
			first := results[0].(map[string]any)
			Expect(first["medic"]).To(HaveKeyWithValue("name", "Matilde Montoya"))
			Expect(first["medic"]).To(HaveKeyWithValue("email", medic.Email))
			Expect(first).To(HaveKey("date_joined"))

			paged := obj(call(token(medic, h1), "GET", "management/memberships/?page_size=1", nil))
			Expect(paged["results"]).To(HaveLen(1))
			Expect(paged["next"]).To(ContainSubstring("page=2"))
		})

		It("shows one membership to its medic and its creator, 404 to anyone else", func() {
			id := created["id"].(string)
			r := call(token(medic, h2), "GET", "management/memberships/"+id, nil)
			Expect(r.Status).To(Equal(200))
			Expect(obj(r)).To(HaveKeyWithValue("id", id))
			Expect(call(bossTok, "GET", "management/memberships/"+id, nil).Status).To(Equal(200))
			r = call(token(colleague, h2), "GET", "management/memberships/"+id, nil)
			Expect(r.Status).To(Equal(404))
			Expect(r.JSON()).To(Equal(notFound))
			Expect(call(bossTok, "GET", "management/memberships/00000000-0000-0000-0000-000000000000", nil).JSON()).To(Equal(notFound))
		})

		It("lists a hospital's medics to its members, Unauthorized Medic to others", func() {
			r := call(token(colleague, h2), "GET", "memberships/"+h2, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			medics := list(r)
			Expect(medics).To(HaveLen(3))
			names := []any{}
			for _, m := range medics {
				Expect(m).To(HaveKeyWithValue("hospital", h2))
				names = append(names, m["medic"].(map[string]any)["name"])
			}
			Expect(names).To(ConsistOf("Elizabeth Blackwell", "Alexander Fleming", "Matilde Montoya"))
			r = call(token(colleague, h2), "GET", "memberships/"+h1, nil)
			Expect(r.Status).To(Equal(401))
			Expect(r.JSON()).To(Equal(unauthorizedMedic))
		})
	})

	Describe("changing", func() {
		var id string
		BeforeEach(func() {
			r := add(bossTok, practitionerID(medicH1), h2, "MEMBER")
			Expect(r.Status).To(Equal(201))
			id = obj(r)["id"].(string)
		})

		It("soft-deletes with DELETE (201): the medic's token for that hospital stops; PATCH is_deleted false undoes it", func() {
			medicTok := token(medic, h2)
			Expect(call(medicTok, "GET", "management/memberships/", nil).Status).To(Equal(200))
			r := call(bossTok, "DELETE", "management/memberships/"+id, nil)
			Expect(r.Status).To(Equal(201), string(r.Body))
			Expect(obj(r)).To(HaveKeyWithValue("is_deleted", true))
			Expect(obj(r)["medic"]).To(HaveKey("id"))
			Expect(*read(id).Active).To(BeFalse())
			r = call(medicTok, "GET", "management/memberships/", nil)
			Expect(r.Status).To(Equal(401))
			Expect(r.JSON()).To(Equal(invalidToken))
			// Still listed (deleted) to the medic from their other hospital.
			page := obj(call(token(medic, h1), "GET", "management/memberships/", nil))
			Expect(page["count"]).To(BeEquivalentTo(2))

			r = call(bossTok, "PATCH", "management/memberships/"+id, map[string]any{"is_deleted": false})
			Expect(r.Status).To(Equal(201), string(r.Body))
			Expect(obj(r)).To(HaveKeyWithValue("is_deleted", false))
			Expect(call(medicTok, "GET", "management/memberships/", nil).Status).To(Equal(200))
		})

		It("changes type_membership with PATCH (201), moving the core admin flag", func() {
			r := call(bossTok, "PATCH", "management/memberships/"+id, map[string]any{"type_membership": "ADMIN"})
			Expect(r.Status).To(Equal(201))
			Expect(obj(r)).To(HaveKeyWithValue("type_membership", "ADMIN"))
			Expect(*read(id).Admin).To(BeTrue())
			r = call(bossTok, "PATCH", "management/memberships/"+id, map[string]any{"is_deleted": false, "type_membership": "MEMBER"})
			Expect(r.Status).To(Equal(201))
			Expect(*read(id).Admin).To(BeFalse())
		})

		It("keeps MEMBERs from editing (Unauthorized Medic) and outsiders out (404)", func() {
			colTok := token(colleague, h2)
			for _, r := range []*fixtures.Response{
				call(colTok, "DELETE", "management/memberships/"+id, nil),
				call(colTok, "PATCH", "management/memberships/"+id, map[string]any{"type_membership": "ADMIN"}),
				call(token(medic, h2), "PATCH", "management/memberships/"+id, map[string]any{"type_membership": "ADMIN"}),
				call(token(medic, h2), "DELETE", "management/memberships/"+id, nil),
			} {
				Expect(r.Status).To(Equal(401), string(r.Body))
				Expect(r.JSON()).To(Equal(unauthorizedMedic))
			}
			outsider := newPerson("Out", "Sider")
			h3 := newHospital()
			join(outsider, h3, true)
			r := call(token(outsider, h3), "DELETE", "management/memberships/"+id, nil)
			Expect(r.Status).To(Equal(404))
			Expect(r.JSON()).To(Equal(notFound))
			Expect(*read(id).Admin).To(BeFalse())
			Expect(read(id).Active == nil || *read(id).Active).To(BeTrue())
		})

		It("keeps at most one current hospital (is_active) per medic", func() {
			medicTok := token(medic, h1)
			r := call(medicTok, "PATCH", "management/memberships/"+medicH1.ID, map[string]any{"is_active": true})
			Expect(r.Status).To(Equal(201), string(r.Body))
			Expect(obj(r)).To(HaveKeyWithValue("is_active", true))
			r = call(bossTok, "PATCH", "management/memberships/"+id, map[string]any{"is_active": true})
			Expect(r.Status).To(Equal(201))
			page := obj(call(medicTok, "GET", "management/memberships/", nil))
			current := 0
			for _, m := range page["results"].([]any) {
				if m.(map[string]any)["is_active"] == true {
					current++
					Expect(m).To(HaveKeyWithValue("id", id))
				}
			}
			Expect(current).To(Equal(1))
		})
	})
})
