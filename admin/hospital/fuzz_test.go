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
	s := fixtures.Start(f, fixtures.Options{})
	f.Cleanup(s.Close)
	project, token, _, err := s.ProjectAdmin("Fuzz hospital")
	if err != nil {
		f.Fatal(err)
	}
	// The PATCH target is another medic's membership, so a body that ends
	// it does not lock the admin out.
	if err := s.AddMember(project, "fuzz-medic@example.com", "Fuzz", "Medic", "cobalt-Prairie-window-3381", false); err != nil {
		f.Fatal(err)
	}
	r, err := s.Do("GET", "fhir/R4/ProjectMembership?_count=100", token, nil)
	if err != nil || r.Status != 200 {
		f.Fatalf("memberships: %v %v", err, r)
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
	target := ""
	if err := r.Decode(&bundle); err == nil {
		for _, e := range bundle.Entry {
			if e.Resource.User.Display == "fuzz-medic@example.com" {
				target = e.Resource.ID
			}
		}
	}
	if target == "" {
		f.Fatalf("no membership to patch: %s", r.Body)
	}

	f.Fuzz(func(t *testing.T, patch bool, body []byte) {
		method, path := "POST", "api/v2/management/memberships"
		if patch {
			method, path = "PATCH", "api/v2/management/memberships/"+target
		}
		r, err := s.Do(method, path, "", body, "Authorization", "Token "+token, "Content-Type", "application/json")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
	})
}
