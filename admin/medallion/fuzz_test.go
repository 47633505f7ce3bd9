package medallion_test

import (
	"strings"
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
	s := fixtures.Start(f, fixtures.Options{})
	f.Cleanup(s.Close)
	project, err := s.CreateProject("Fuzz org")
	if err != nil {
		f.Fatal(err)
	}
	r, err := s.Do("POST", "admin/projects/"+project+"/client", s.AdminToken, map[string]any{"name": "fuzz key", "admin": true})
	if err != nil || r.Status != 201 {
		f.Fatalf("client: %v %v", err, r)
	}
	key := r.JSON()["secret"].(string)
	r, err = s.Do("POST", "p/api/v1/organizations/members/", "", map[string]any{"role": "admin",
		"user": map[string]any{"email": "fuzz-target@example.com"}}, "x-api-key", key)
	if err != nil || r.Status != 201 {
		f.Fatalf("member: %v %v", err, r)
	}
	target := r.JSON()["id"].(string)

	f.Fuzz(func(t *testing.T, patch bool, body []byte) {
		method, path := "POST", "p/api/v1/organizations/members/"
		if patch {
			method, path = "PATCH", "p/api/v1/organizations/members/"+target+"/"
		}
		r, err := s.Do(method, path, "", body, "x-api-key", key, "Content-Type", "application/json")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status >= 500 || !strings.HasPrefix(strings.TrimSpace(string(r.Body)), "{") {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
	})
}
