package medable_test

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/fixtures"
)

// FuzzMedableBody sends arbitrary bodies to Medable's account writes — POST
// /medable/{org}/accounts/register (no session) and PATCH
// /medable/{org}/accounts/{id} (an admin's session) — whatever the body, the
// answer is a Medable fault (4xx, or its 501 for an unsupported patch op)
// or a success, never a 500. Seed corpus:
// testdata/fuzz/FuzzMedableBody/.
//
//	go test -run='^$' -fuzz='^FuzzMedableBody$' -fuzztime=10s ./admin/medable
func FuzzMedableBody(f *testing.F) {
	s, org, token := fixtures.FuzzProjectAdmin(f, "Fuzz org")
	r := s.Call(f, "GET", "medable/"+org+"/accounts/me", token, nil)
	me, _ := r.JSON()["_id"].(string)
	if r.Status != 200 || me == "" {
		f.Fatalf("me: %d %s", r.Status, r.Body)
	}

	ctype := []string{"Content-Type", "application/json"}
	fixtures.SeedWrites(f, []string{
		`{"name":{"first":"%s","last":"Doe"},"email":"fuzz-seed@example.com","password":"a-good-long-password-42","mobile":"+15555550100","dob":"1990-04-02","gender":"f","tz":"US/Pacific"}`,
		`{"name":{"first":"Jane","last":"Doe"},"email":"%s","password":"a-good-long-password-42","mobile":"+15555550100","dob":"1990-04-02","gender":"f","tz":"US/Pacific"}`},
		[]string{`{"name":{"first":"%s"}}`, `{"op":"set","path":"name.last","value":"%s"}`})
	s.FuzzWrites(f, fixtures.Write{Method: "POST", Path: "medable/" + org + "/accounts/register", Headers: ctype},
		fixtures.Write{Method: "PATCH", Path: "medable/" + org + "/accounts/" + me, Headers: append(ctype, "Authorization", "Bearer "+token)},
		func(r *fixtures.Response) bool {
			// 501 is Medable's own typed fault for an unsupported patch op
			// (cortex.unsupportedOperation.patchOp), not a server error.
			typed501 := r.Status == 501 && strings.Contains(string(r.Body), "cortex.unsupportedOperation")
			return (fixtures.NoServerError(r) || typed501) && fixtures.IsObject(r)
		})
}
