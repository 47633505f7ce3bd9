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
	s := fixtures.Start(f, fixtures.Options{})
	f.Cleanup(s.Close)
	org, token, _, err := s.ProjectAdmin("Fuzz org")
	if err != nil {
		f.Fatal(err)
	}
	r, err := s.Do("GET", "medable/"+org+"/accounts/me", token, nil)
	if err != nil || r.Status != 200 {
		f.Fatalf("me: %v %v", err, r)
	}
	me, _ := r.JSON()["_id"].(string)

	f.Fuzz(func(t *testing.T, patch bool, body []byte) {
		method, path, tok := "POST", "medable/"+org+"/accounts/register", ""
		if patch {
			method, path, tok = "PATCH", "medable/"+org+"/accounts/"+me, token
		}
		r, err := s.Do(method, path, tok, body, "Content-Type", "application/json")
		if err != nil {
			t.Fatal(err)
		}
		// 501 is Medable's own typed fault for an unsupported patch op
		// (cortex.unsupportedOperation.patchOp), not a server error.
		typed501 := r.Status == 501 && strings.Contains(string(r.Body), "cortex.unsupportedOperation")
		if (r.Status >= 500 && !typed501) || !strings.HasPrefix(strings.TrimSpace(string(r.Body)), "{") {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
	})
}
