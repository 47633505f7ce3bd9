package medallion_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures"
)

// FuzzMedallionMemberBody posts arbitrary bodies to the Medallion member
// routes — POST /members/ (with its provider object or one-element list of
// one) and PATCH /members/{id}/ — with the organization's API key. Whatever
// the body, the answer is a DRF-shaped 4xx or a success, never a 5xx. Seed
// corpus: testdata/fuzz/FuzzMedallionMemberBody/.
//
//	go test -run='^$' -fuzz='^FuzzMedallionMemberBody$' -fuzztime=10s ./admin/medallion
func FuzzMedallionMemberBody(f *testing.F) {
	s := fixtures.FuzzServer(f)
	project, err := s.CreateProject("Fuzz org")
	if err != nil {
		f.Fatal(err)
	}
	r := s.Call(f, "POST", "admin/projects/"+project+"/client", s.AdminToken, map[string]any{"name": "fuzz key", "admin": true})
	key, _ := r.JSON()["secret"].(string)
	if r.Status != 201 || key == "" {
		f.Fatalf("client: %d %s", r.Status, r.Body)
	}
	headers := []string{"x-api-key", key, "Content-Type", "application/json"}
	r = s.Call(f, "POST", "p/api/v1/organizations/members/", "", map[string]any{"role": "admin",
		"user": map[string]any{"email": "fuzz-target@example.com"}}, headers...)
	target, _ := r.JSON()["id"].(string)
	if r.Status != 201 || target == "" {
		f.Fatalf("member: %d %s", r.Status, r.Body)
	}

	fixtures.SeedWrites(f, []string{`{"role":"admin","user":{"email":"%s"}}`,
		`{"role":"provider","user":{"email":"fuzz-seed@example.com","first_name":"%s"},"provider":{"profession":"MD"}}`},
		[]string{`{"role":"%s"}`})
	s.FuzzWrites(f, fixtures.Write{Method: "POST", Path: "p/api/v1/organizations/members/", Headers: headers},
		fixtures.Write{Method: "PATCH", Path: "p/api/v1/organizations/members/" + target + "/", Headers: headers},
		func(r *fixtures.Response) bool { return fixtures.NoServerError(r) && fixtures.IsObject(r) })
}
