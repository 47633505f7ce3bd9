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
	s := fixtures.Start(f, fixtures.Options{})
	f.Cleanup(s.Close)
	_, token, _, err := s.ProjectAdmin("Fuzz tenant")
	if err != nil {
		f.Fatal(err)
	}
	const target = "fuzz-user@example.com"
	r, err := s.Do("GET", "mediumone/user_create?user_name="+target+"&full_name=Fuzz+User", token, nil)
	if err != nil || r.Status != 200 {
		f.Fatalf("user_create: %v %v", err, r)
	}
	r, err = s.Do("GET", "mediumone/tenant_add_user?user_name="+target+"&role=tenant-user", token, nil)
	if err != nil || r.Status != 200 {
		f.Fatalf("tenant_add_user: %v %v", err, r)
	}

	f.Fuzz(func(t *testing.T, paramList string) {
		q := url.Values{"user_name": {target}, "param_list": {paramList}}
		r, err := s.Do("GET", "mediumone/user_update?"+q.Encode(), token, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status >= 500 {
			t.Fatalf("param_list %q: %d %s", paramList, r.Status, r.Body)
		}
	})
}
