package hospital_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("The hospital document's own requests samples, run with python3", func() {
	It("run unchanged but for base URL, token and ids, and leave the database as documented", func() {
		h1, h2 := newHospital(), newHospital()
		boss, medic, target := newPerson("Elizabeth", "Blackwell"), newPerson("Matilde", "Montoya"), newPerson("Ely", "Target")
		bossH1 := join(boss, h1, true)
		join(boss, h2, true)
		medicH1 := join(medic, h1, false)
		targetH2 := join(target, h2, true)

		stdout := fixtures.RunPython(GinkgoT(), "testdata/samples.py",
			"HOSPITAL_BASE_URL="+strings.TrimSuffix(srv.URL, "/"), "HOSPITAL_TOKEN="+token(boss, h1),
			"HOSPITAL_MEMBERSHIP_ID="+bossH1.ID, "HOSPITAL_HOSPITAL_ID="+h1, "HOSPITAL_MEDIC="+practitionerID(medicH1),
			"HOSPITAL_NEW_HOSPITAL="+h2, "HOSPITAL_TARGET_ID="+targetH2.ID)
		var answers []struct {
			Name   string          `json:"name"`
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		Expect(json.Unmarshal(stdout, &answers)).To(Succeed(), string(stdout))
		Expect(answers).To(HaveLen(6))
		byName := map[string]map[string]any{}
		statuses := map[string]int{}
		for _, a := range answers {
			statuses[a.Name] = a.Status
			var m map[string]any
			_ = json.Unmarshal(a.Body, &m)
			byName[a.Name] = m
		}
		Expect(statuses).To(Equal(map[string]int{"list": 200, "get": 200, "medics": 200, "create": 201, "delete": 201, "patch": 201}))
		Expect(byName["list"]["count"]).To(BeEquivalentTo(2))
		Expect(byName["get"]).To(HaveKeyWithValue("id", bossH1.ID))
		Expect(byName["create"]).To(SatisfyAll(HaveKeyWithValue("hospital", h2), HaveKeyWithValue("type_membership", "ADMIN")))
		Expect(byName["delete"]).To(SatisfyAll(HaveKeyWithValue("id", targetH2.ID), HaveKeyWithValue("is_deleted", true)))
		Expect(byName["patch"]).To(SatisfyAll(HaveKeyWithValue("is_deleted", false), HaveKeyWithValue("type_membership", "MEMBER")))

		By("the database")
		created := membershipsOf(medic, h2)
		Expect(created).To(HaveLen(1))
		Expect(*created[0].Admin).To(BeTrue())
		t := read(targetH2.ID)
		Expect(*t.Admin).To(BeFalse())
		Expect(*t.Active).To(BeTrue())
	})
})
