package mediumone_test

import (
	"net/url"
	"testing"

	"github.com/rosterhq/roster/fixtures"
)

// FuzzMediumOneParamList sends arbitrary param_list values to
// GET /mediumone/user_update as a tenant admin: a malformed list is a 400
// {"error": …}, a good one updates the user, nothing is a 5xx. Seed corpus:
// testdata/fuzz/FuzzMediumOneParamList/.
//
//	go test -run='^$' -fuzz='^FuzzMediumOneParamList$' -fuzztime=10s ./admin/mediumone
func FuzzMediumOneParamList(f *testing.F) {
	s, _, token := fixtures.FuzzProjectAdmin(f, "Fuzz tenant")
	const target = "fuzz-user@example.com"
	for _, path := range []string{"user_create?user_name=" + target + "&full_name=Fuzz+User", "tenant_add_user?user_name=" + target + "&role=tenant-user"} {
		if r := s.Call(f, "GET", "mediumone/"+path, token, nil); r.Status != 200 {
			f.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}

	f.Fuzz(func(t *testing.T, paramList string) {
		q := url.Values{"user_name": {target}, "param_list": {paramList}}
		if r := s.Call(t, "GET", "mediumone/user_update?"+q.Encode(), token, nil); !fixtures.NoServerError(r) {
			t.Fatalf("param_list %q: %d %s", paramList, r.Status, r.Body)
		}
	})
}
