package admin_test

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// FuzzInviteBody sends arbitrary bodies to POST
// /admin/projects/{projectId}/invite as the project's admin. Whatever the
// body, the answer is a 4xx or a success, never a 5xx; an invite that
// succeeds came from Unicode text and made a User whose email is in its
// one normalized form. Seeds: long names, text that is not UTF-8,
// look-alike and over-long emails (fixtures.HostileText).
//
//	go test -run='^$' -fuzz='^FuzzInviteBody$' -fuzztime=1000x ./admin
func FuzzInviteBody(f *testing.F) {
	s, project, token := fixtures.FuzzProjectAdmin(f, "Fuzz invite")
	for _, text := range fixtures.HostileText {
		for _, body := range []string{
			`{"resourceType":"Practitioner","firstName":"%s","lastName":"Fuzz","email":"fuzz@example.com","sendEmail":false}`,
			`{"resourceType":"Patient","firstName":"Ada","lastName":"Fuzz","email":"%s","scope":"project"}`,
			`{"resourceType":"RelatedPerson","firstName":"Ada","lastName":"%s","externalId":"%s"}`,
		} {
			f.Add([]byte(strings.ReplaceAll(body, "%s", text)))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := s.Call(t, "POST", "admin/projects/"+project+"/invite", token, body, "Content-Type", "application/json")
		if r.Status >= 500 {
			t.Fatalf("invite: %d %s", r.Status, r.Body)
		}
		if r.Status >= 300 {
			return
		}
		if rest.CheckText(body) != nil {
			t.Fatalf("invited from a body that is not Unicode text: %.300s", r.Body)
		}
		display, _ := r.JSON()["user"].(map[string]any)["display"].(string)
		if resources.ValidEmail(display) && resources.EmailKey(display) != display {
			t.Fatalf("the invited user's email %q is not in its normalized form", display)
		}
	})
}
