package admin_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// addressWorld is a project, its admin, a Medallion API key of it, and a
// project-scoped user of it whose email can be changed.
type addressWorld struct {
	project, token, key, userID string
}

func newAddressWorld() *addressWorld {
	GinkgoHelper()
	w := &addressWorld{}
	var err error
	w.project, w.token, _, err = srv.ProjectAdmin("Addresses " + uniq())
	Expect(err).NotTo(HaveOccurred())
	r := do(srv, "POST", "admin/projects/"+w.project+"/client", srv.AdminToken, map[string]any{"name": "key", "admin": true})
	Expect(r.Status).To(Equal(201), string(r.Body))
	w.key = r.JSON()["secret"].(string)
	r = invite(srv, w.token, w.project, with(practitioner("changing-"+uniq()+"@example.com"), "scope", "project", "sendEmail", false))
	Expect(r.Status).To(Equal(200), string(r.Body))
	w.userID = strings.TrimPrefix(r.JSON()["user"].(map[string]any)["reference"].(string), "User/")
	return w
}

// addressPaths are the requests that take an email address, each sending
// one.
var addressPaths = map[string]func(w *addressWorld, email string) *fixtures.Response{
	"invite": func(w *addressWorld, email string) *fixtures.Response {
		return invite(srv, w.token, w.project, with(practitioner(email), "sendEmail", false))
	},
	"FHIR User": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "fhir/R4/User", w.token, map[string]any{"resourceType": "User", "email": email, "firstName": "Ada"})
	},
	"FHIR Practitioner telecom": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "fhir/R4/Practitioner", w.token, map[string]any{"resourceType": "Practitioner",
			"telecom": []any{map[string]any{"system": "email", "value": email}}})
	},
	"$update-email": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "fhir/R4/User/"+w.userID+"/$update-email", w.token, map[string]any{"email": email})
	},
	"password reset": func(_ *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "auth/resetpassword", "", map[string]any{"email": email})
	},
	"Medallion member": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "p/api/v1/organizations/members/", "", map[string]any{"role": "admin", "user": map[string]any{"email": email}},
			"x-api-key", w.key)
	},
	"Medable register": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "POST", "medable/"+w.project+"/v2/accounts/register", "", map[string]any{
			"name": map[string]any{"first": "Jane", "last": "Doe"}, "email": email, "password": "a-good-long-password-42",
			"mobile": "+15555550100", "dob": "1990-04-02", "gender": "f", "tz": "US/Pacific"})
	},
	"Medium One user_create": func(w *addressWorld, email string) *fixtures.Response {
		return do(srv, "GET", "mediumone/user_create?"+url.Values{"user_name": {email}, "full_name": {"Jane Doe"}}.Encode(), w.token, nil)
	},
}

var _ = Describe("Email addresses", func() {
	var w *addressWorld
	BeforeEach(func() { w = newAddressWorld() })

	cases := []struct{ name, email, why string }{
		{"a Cyrillic а among Latin letters", "\u0430lice-%s@example.com", "mixes Cyrillic and Latin letters"},
		{"a Latin name written in Cyrillic look-alikes", "\u0430\u0441\u0435-%s@example.com", "look like the ASCII"},
		{"an invisible character", "al\u200bice-%s@example.com", "invisible character"},
		{"a domain mixing scripts", "alice-%s@p\u0430ypal.com", "mixes Latin and Cyrillic letters"},
		{"65 bytes before the @", strings.Repeat("a", 57) + "-%s@example.com", "at most 64"},
		{"10 000 bytes before the @", strings.Repeat("a", 10000) + "-%s@example.com", "at most 64"},
		{"258 bytes in all", strings.Repeat("a", 53) + "-%s@" + strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 60) + ".example.com", "at most 254"},
		{"a domain that is no host name", "alice-%s@exa_mple.com", "not a valid domain name"},
	}
	var entries []TableEntry
	for _, path := range []string{"invite", "FHIR User", "FHIR Practitioner telecom", "$update-email", "password reset",
		"Medallion member", "Medable register", "Medium One user_create"} {
		for _, c := range cases {
			entries = append(entries, Entry(path+": "+c.name, path, c.email, c.why))
		}
	}
	DescribeTable("are refused with 400 saying why on every path that takes one, creating no account",
		func(path, email, why string) {
			// Digits only: a Latin letter would change what a Cyrillic
			// address mixes.
			email = strings.Replace(email, "%s", fmt.Sprintf("%09d", rand.Uint64()%1e9), 1)
			r := addressPaths[path](w, email)
			Expect(r.Status).To(Equal(400), "%s: %.400s", path, r.Body)
			Expect(string(r.Body)).To(ContainSubstring(why))
			Expect(search(srv, "User", url.Values{"email": {email}})).To(BeEmpty())
		}, entries)

	It("refuses a look-alike of an invited address instead of making a second account beside it", func() {
		latin := "alice-" + uniq() + "@x.com"
		Expect(invite(srv, w.token, w.project, practitioner(latin)).Status).To(Equal(200))
		r := invite(srv, w.token, w.project, practitioner(strings.Replace(latin, "a", "\u0430", 1)))
		Expect(r.Status).To(Equal(400), string(r.Body))
		Expect(r.JSON()["issue"].([]any)[0].(map[string]any)["expression"]).To(Equal([]any{"email"}))
		Expect(search(srv, "User", url.Values{"name": {"Gregory"}, "email": {latin}})).To(HaveLen(1))
	})

	It("keeps one account for every spelling of an address: case, a Unicode or punycode domain", func() {
		local := "ada-" + uniq()
		unicode, punycode := local+"@bücher.example", local+"@xn--bcher-kva.example"
		r := invite(srv, w.token, w.project, with(practitioner(strings.ToUpper(local)+"@BÜCHER.example"), "password", "a-good-long-password-42"))
		Expect(r.Status).To(Equal(200), string(r.Body))
		user := r.JSON()["user"].(map[string]any)["reference"].(string)
		users := search(srv, "User", url.Values{"email": {punycode}})
		Expect(users).To(HaveLen(1))
		Expect(users[0]).To(HaveKeyWithValue("email", unicode), "kept in its Unicode form")

		By("signing in, asking for a reset, and being invited again, by another spelling")
		_, err := srv.Login(strings.ToUpper(punycode), "a-good-long-password-42")
		Expect(err).NotTo(HaveOccurred())
		Expect(addressPaths["password reset"](w, punycode).Status).To(Equal(200))
		other, otherToken, _, err := srv.ProjectAdmin("Other " + uniq())
		Expect(err).NotTo(HaveOccurred())
		r = invite(srv, otherToken, other, practitioner(punycode))
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()["user"].(map[string]any)["reference"]).To(Equal(user))

		By("the dialects seeing the account that is there")
		r = addressPaths["Medallion member"](w, strings.ToUpper(punycode))
		Expect(r.Status).To(Equal(400), string(r.Body))
		Expect(string(r.Body)).To(ContainSubstring("already exists"))
		r = addressPaths["Medium One user_create"](w, punycode)
		Expect(r.Status).To(Equal(400), string(r.Body))
		Expect(string(r.Body)).To(ContainSubstring("User already exists"))
		Expect(search(srv, "User", url.Values{"email": {unicode}})).To(HaveLen(1))
	})
})
