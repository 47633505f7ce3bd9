package hospital_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures"
)

// FuzzHospitalBody sends arbitrary bodies to the hospital dialect's writes —
// POST /api/v2/management/memberships and PATCH …/memberships/{id} — as a
// hospital ADMIN (`Authorization: Token …`). The answer is a 4xx or a
// success, never a 5xx. Seed corpus: testdata/fuzz/FuzzHospitalBody/.
//
//	go test -run='^$' -fuzz='^FuzzHospitalBody$' -fuzztime=10s ./admin/hospital
func FuzzHospitalBody(f *testing.F) {
	s, project, token := fixtures.FuzzProjectAdmin(f, "Fuzz hospital")
	// The PATCH target is another medic's membership, so a body that ends
	// it does not lock the admin out.
	if err := s.AddMember(project, "fuzz-medic@example.com", "Fuzz", "Medic", "cobalt-Prairie-window-3381", false); err != nil {
		f.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				ID   string `json:"id"`
				User struct {
					Display string `json:"display"`
				} `json:"user"`
			} `json:"resource"`
		} `json:"entry"`
	}
	r := s.Call(f, "GET", "fhir/R4/ProjectMembership?_count=100", token, nil)
	target := ""
	if err := r.Decode(&bundle); err == nil {
		for _, e := range bundle.Entry {
			if e.Resource.User.Display == "fuzz-medic@example.com" {
				target = e.Resource.ID
			}
		}
	}
	if target == "" {
		f.Fatalf("no membership to patch: %d %s", r.Status, r.Body)
	}

	headers := []string{"Authorization", "Token " + token, "Content-Type", "application/json"}
	fixtures.SeedWrites(f, []string{`{"medic":"%s","hospital":"` + project + `","type_membership":"ADMIN"}`},
		[]string{`{"type_membership":"%s"}`})
	s.FuzzWrites(f, fixtures.Write{Method: "POST", Path: "api/v2/management/memberships", Headers: headers},
		fixtures.Write{Method: "PATCH", Path: "api/v2/management/memberships/" + target, Headers: headers},
		fixtures.NoServerError)
}
