package console_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/console"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// sessionRow reads what the database holds of the visitor's session, and
// opens it as the console does, with the key only the cookie's secret
// gives.
func sessionRow(v *visitor) (sealed string, data map[string]any, found bool) {
	GinkgoHelper()
	ck := v.cookie("roster.console")
	Expect(ck).NotTo(BeNil())
	return sessionOfSecret(ck.Value)
}

// sessionOfSecret is sessionRow of the cookie's secret.
func sessionOfSecret(secret string) (sealed string, data map[string]any, found bool) {
	GinkgoHelper()
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	Expect(err).NotTo(HaveOccurred())
	Expect(raw).To(HaveLen(32), "the cookie is a 256-bit secret, nothing else")
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, raw, nil, "roster console "+info, 32)
		Expect(err).NotTo(HaveOccurred())
		return k
	}
	id := hex.EncodeToString(derive("id"))
	sealed, _, err = srv.App.Store.ConsoleSession(context.Background(), id)
	if resources.IsKind(err, resources.KindNotFound) {
		return "", nil, false
	}
	Expect(err).NotTo(HaveOccurred())
	block, err := aes.NewCipher(derive("seal"))
	Expect(err).NotTo(HaveOccurred())
	aead, err := cipher.NewGCM(block)
	Expect(err).NotTo(HaveOccurred())
	box, err := base64.RawURLEncoding.DecodeString(sealed)
	Expect(err).NotTo(HaveOccurred())
	n := aead.NonceSize()
	plain, err := aead.Open(nil, box[:n], box[n:], []byte(id))
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(plain, &data)).To(Succeed())
	return sealed, data, true
}

var _ = Describe("Signing in to the console", func() {
	It("goes through Roster's authorize page as a public client with PKCE into an HttpOnly, SameSite session whose tokens are sealed", func() {
		admin := newAdmin()
		v := newVisitor()
		start := v.get("/console/signin")
		authz, err := url.Parse(start.location)
		Expect(err).NotTo(HaveOccurred())
		q := authz.Query()
		Expect(q.Get("client_id")).To(Equal(console.ClientID))
		Expect(q.Get("redirect_uri")).To(Equal(srv.URL + "console/callback"))
		Expect(q.Get("code_challenge_method")).To(Equal("S256"))
		Expect(q.Get("code_challenge")).To(HaveLen(43))
		Expect(q.Get("state")).NotTo(BeEmpty())
		Expect(q.Get("nonce")).NotTo(BeEmpty())
		Expect(start.header.Get("Set-Cookie")).To(ContainSubstring("HttpOnly"))

		By("the console's client: public (no secret), of no project, with exactly its redirect URI")
		r, err := srv.Do("GET", "fhir/R4/ClientApplication/"+console.ClientID, srv.AdminToken, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("redirectUri", srv.URL+"console/callback"))
		Expect(r.JSON()).NotTo(HaveKey("redirectUris"))

		v = newVisitor()
		done := v.signIn(admin.Email, fixtures.AdminPassword)
		Expect(done.status).To(Equal(http.StatusSeeOther), done.body)
		Expect(done.location).To(Equal("/console/projects/"+admin.Project+"/members"), "one project: straight to its members")
		cookie := done.header.Values("Set-Cookie")
		Expect(cookie).To(ContainElement(SatisfyAll(HavePrefix("roster.console="), ContainSubstring("HttpOnly"),
			ContainSubstring("SameSite=Lax"), ContainSubstring("Path=/console/"))))

		By("the database holding only ciphertext, which the cookie's secret opens")
		sealed, data, found := sessionRow(v)
		Expect(found).To(BeTrue())
		Expect(sealed).NotTo(ContainSubstring(data["access"].(string)[:20]))
		Expect(sealed).NotTo(ContainSubstring("access"))
		me, err := srv.Do("GET", "auth/me", data["access"].(string), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(me.Status).To(Equal(200))
		Expect(me.JSON()["membership"]).To(HaveKeyWithValue("admin", true))

		page := v.get(done.location)
		Expect(page.status).To(Equal(200))
		Expect(page.header.Get("Content-Security-Policy")).To(Equal(console.CSP))
		Expect(page.header.Get("Cache-Control")).To(Equal("no-store"))
		Expect(page.header.Get("X-Frame-Options")).To(Equal("DENY"))
		Expect(page.body).To(ContainSubstring(strings.ToLower(admin.Email)))
	})

	It("refuses a callback whose state is not this browser's sign-in, and one without a sign-in at all", func() {
		v := newVisitor()
		v.get("/console/signin")
		r := v.get("/console/callback?code=made-up&state=not-the-state")
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(r.body).To(ContainSubstring("started in another browser"))
		r = newVisitor().get("/console/callback?code=made-up&state=x")
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(v.cookie("roster.console")).To(BeNil())
	})

	It("tells someone who administers no project so, in plain words, and keeps no session", func() {
		admin := newAdmin()
		email := "member-" + fixtures.Uniq() + "@example.com"
		Expect(srv.AddMember(admin.Project, email, "Mary", "Member", fixtures.AdminPassword, false)).To(Succeed())
		v := newVisitor()
		r := v.signIn(email, fixtures.AdminPassword)
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body).To(ContainSubstring(email + " is not an administrator of any project"))
		Expect(v.cookie("roster.console")).To(BeNil())
	})

	It("asks a visitor without a session to sign in, coming back to the page asked for, and refuses its changes", func() {
		admin := newAdmin()
		v := newVisitor()
		path := "/console/projects/" + admin.Project + "/members?q=x"
		r := v.get(path)
		Expect(r.status).To(Equal(http.StatusFound))
		Expect(r.location).To(Equal("/console/signin?next=" + url.QueryEscape(path)))
		r = v.post("/console/projects/"+admin.Project+"/invite", url.Values{"firstName": {"X"}})
		Expect(r.status).To(Equal(http.StatusUnauthorized))

		start := v.get("/console/signin?next=" + url.QueryEscape(path))
		page := v.get(start.location)
		form := formOf(page.body)
		form.Set("email", admin.Email)
		form.Set("password", fixtures.AdminPassword)
		back := v.post("/oauth2/authorize", form)
		done := v.get(back.location)
		Expect(done.location).To(Equal(path))

		By("never sending the browser elsewhere")
		for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/oauth2/logout", "/console/../admin/"} {
			Expect(newVisitor().get("/console/signin?next=" + url.QueryEscape(next)).status).To(Equal(http.StatusFound))
		}
	})

	It("refreshes the access token as it runs out, and ends the session after 12 hours or with its login", func() {
		admin := newAdmin()
		v := newVisitor()
		home := v.signIn(admin.Email, fixtures.AdminPassword).location
		_, before, _ := sessionRow(v)

		advanceClock(59*time.Minute + 30*time.Second)
		Expect(v.get(home).status).To(Equal(http.StatusOK))
		_, after, found := sessionRow(v)
		Expect(found).To(BeTrue())
		Expect(after["access"]).NotTo(Equal(before["access"]), "a new access token")
		Expect(after["refresh"]).NotTo(Equal(before["refresh"]), "rotated with its refresh token")
		Expect(v.get(home).status).To(Equal(http.StatusOK), "and it works")

		By("a login ended elsewhere ending the session")
		secret := v.cookie("roster.console").Value
		_, err := srv.Do("POST", "oauth2/logout", after["access"].(string), nil)
		Expect(err).NotTo(HaveOccurred())
		r := v.get(home)
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(r.body).To(ContainSubstring("Sign in"))
		Expect(v.cookie("roster.console")).To(BeNil())
		_, _, found = sessionOfSecret(secret)
		Expect(found).To(BeFalse())

		By("12 hours ending any session")
		v2 := newVisitor()
		home = v2.signIn(admin.Email, fixtures.AdminPassword).location
		advanceClock(12*time.Hour + time.Minute)
		r = v2.get(home)
		Expect(r.status).To(Equal(http.StatusFound))
		Expect(r.location).To(HavePrefix("/console/signin?next="))
	})

	It("signs out: the login ends at Roster at once, and the session is gone", func() {
		admin := newAdmin()
		v := newVisitor()
		done := v.signIn(admin.Email, fixtures.AdminPassword)
		_, data, _ := sessionRow(v)
		page := v.get(done.location)

		r := v.post("/console/signout", url.Values{})
		Expect(r.status).To(Equal(http.StatusForbidden), "sign-out is a change: it needs the CSRF token too")
		r = v.post("/console/signout", url.Values{"csrf": {csrfOf(page.body)}})
		Expect(r.status).To(Equal(http.StatusSeeOther))
		Expect(r.location).To(Equal("/console/signedout"))

		me, err := srv.Do("GET", "auth/me", data["access"].(string), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(me.Status).To(Equal(http.StatusUnauthorized), "the token died with its login")
		refresh, err := srv.Do("POST", "oauth2/token", "", "grant_type=refresh_token&client_id="+console.ClientID+"&refresh_token="+data["refresh"].(string),
			"Content-Type", "application/x-www-form-urlencoded")
		Expect(err).NotTo(HaveOccurred())
		Expect(refresh.Status).To(Equal(http.StatusBadRequest), "and its refresh token")
		Expect(v.get(done.location).status).To(Equal(http.StatusFound), "signed out: asked to sign in")
	})
})

var _ = Describe("The console's forms", func() {
	var (
		admin account
		v     *visitor
		home  string
		csrf  string
	)

	BeforeEach(func() {
		admin = newAdmin()
		v = newVisitor()
		home = v.signIn(admin.Email, fixtures.AdminPassword).location
		csrf = csrfOf(v.get(home).body)
	})

	members := func(token string, q string) []map[string]any {
		GinkgoHelper()
		r, err := srv.Do("GET", "admin/projects/"+admin.Project+"/members?"+q, token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))
		var out []map[string]any
		for _, m := range r.JSON()["members"].([]any) {
			out = append(out, m.(map[string]any))
		}
		return out
	}

	It("refuses every change without the session's CSRF token, writing nothing", func() {
		email := "nocsrf-" + fixtures.Uniq() + "@example.com"
		form := url.Values{"resourceType": {"Practitioner"}, "firstName": {"No"}, "lastName": {"Token"}, "email": {email}}
		r := v.post("/console/projects/"+admin.Project+"/invite", form)
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body).To(ContainSubstring("did not come from this console"))
		form.Set("csrf", "a-token-of-another-session-ABCDEFGHIJKLMNOPQRSTU")
		Expect(v.post("/console/projects/"+admin.Project+"/invite", form).status).To(Equal(http.StatusForbidden))
		Expect(members(admin.Token, "q="+email)).To(BeEmpty())

		form.Set("csrf", csrf)
		r = v.post("/console/projects/"+admin.Project+"/invite", form)
		Expect(r.status).To(Equal(http.StatusSeeOther), r.body)
		Expect(members(admin.Token, "q="+email)).To(HaveLen(1))
	})

	It("shows the API's errors beside the invite form's fields, and keeps what was typed", func() {
		r := v.post("/console/projects/"+admin.Project+"/invite", url.Values{"csrf": {csrf}, "resourceType": {"Practitioner"},
			"firstName": {"Ada"}, "lastName": {""}, "email": {"not-an-email"}})
		Expect(r.status).To(Equal(http.StatusBadRequest))
		Expect(r.body).To(MatchRegexp(`<input id="lastName"[^>]*aria-invalid="true" aria-describedby="lastName-error">`))
		Expect(r.body).To(ContainSubstring(`<p id="lastName-error" class="field-error">Last name is required</p>`))
		Expect(r.body).To(MatchRegexp(`<input id="email"[^>]*value="not-an-email"[^>]*aria-invalid="true"`))
		Expect(r.body).To(ContainSubstring(`id="email-error"`))
		Expect(r.body).To(MatchRegexp(`<input id="firstName"[^>]*value="Ada"`))
		Expect(r.body).NotTo(ContainSubstring(`firstName-error`))
	})

	It("invites with a link to hand over instead of mail, and with an access policy", func() {
		policy, err := srv.Do("POST", "fhir/R4/AccessPolicy", admin.Token, map[string]any{"resourceType": "AccessPolicy", "name": "Front desk",
			"resource": []any{map[string]any{"resourceType": "Patient"}}})
		Expect(err).NotTo(HaveOccurred())
		form := v.get("/console/projects/" + admin.Project + "/invite")
		Expect(form.body).To(ContainSubstring(`>Front desk</option>`))
		email := "linked-" + fixtures.Uniq() + "@example.com"
		r := v.post("/console/projects/"+admin.Project+"/invite", url.Values{"csrf": {csrf}, "resourceType": {"Practitioner"},
			"firstName": {"Lin"}, "lastName": {"Ked"}, "email": {email}, "deliver": {"link"}, "admin": {"true"},
			"accessPolicy": {"AccessPolicy/" + policy.JSON()["id"].(string)}})
		Expect(r.status).To(Equal(http.StatusOK), r.body)
		link := regexpFind(`<input id="fresh-link" type="text" readonly value="([^"]+)"`, r.body)
		Expect(link).To(HavePrefix(srv.App.Config.AppURL + "setpassword/"))
		Expect(v.get(link).status).To(Equal(200), "the link works")
		Expect(mailpit.Count(email)).To(BeZero(), "nothing was mailed")
		m := members(admin.Token, "q="+email)[0]
		Expect(m).To(HaveKeyWithValue("admin", true))
		Expect(m["invitation"]).To(HaveKeyWithValue("status", "pending"))
		Expect(m["accessPolicy"]).To(HaveKeyWithValue("reference", "AccessPolicy/"+policy.JSON()["id"].(string)))
	})

	It("filters, sorts and pages the table on the server", func() {
		for _, n := range []string{"Zed", "Amy", "Bob"} {
			r := v.post("/console/projects/"+admin.Project+"/invite", url.Values{"csrf": {csrf}, "resourceType": {"Practitioner"},
				"firstName": {n}, "lastName": {"Table"}, "email": {strings.ToLower(n) + "-" + fixtures.Uniq() + "@example.com"}})
			Expect(r.status).To(Equal(http.StatusSeeOther), r.body)
		}
		page := v.get("/console/projects/" + admin.Project + "/members?q=table&sort=name")
		Expect(page.status).To(Equal(200))
		Expect(page.body).To(ContainSubstring("Showing 1–3 of 3 members"))
		Expect(strings.Index(page.body, ">Amy Table<")).To(BeNumerically("<", strings.Index(page.body, ">Bob Table<")))
		Expect(strings.Index(page.body, ">Bob Table<")).To(BeNumerically("<", strings.Index(page.body, ">Zed Table<")))
		Expect(page.body).To(MatchRegexp(`<th scope="col" aria-sort="ascending"><a href="[^"]*sort=-name[^"]*">Name`))
		Expect(page.body).To(ContainSubstring(`<option value="" selected>Any status</option>`))

		page = v.get("/console/projects/" + admin.Project + "/members?q=table&sort=-name&status=pending")
		Expect(strings.Index(page.body, ">Zed Table<")).To(BeNumerically("<", strings.Index(page.body, ">Amy Table<")))
		Expect(page.body).To(ContainSubstring(`<option value="pending" selected>`))
		page = v.get("/console/projects/" + admin.Project + "/members?status=deactivated")
		Expect(page.body).To(ContainSubstring("No members match."))

		fragment := v.get("/console/projects/" + admin.Project + "/members?q=table&fragment=table")
		Expect(fragment.body).To(HavePrefix("\n<p class=\"count\""), "the table alone, for the script")
		Expect(fragment.body).NotTo(ContainSubstring("<html"))
	})

	It("does each action after a confirmation page, without JavaScript, and says so on the table", func() {
		email := "nojs-" + fixtures.Uniq() + "@example.com"
		Expect(v.post("/console/projects/"+admin.Project+"/invite", url.Values{"csrf": {csrf}, "resourceType": {"Practitioner"},
			"firstName": {"Noah"}, "lastName": {"Script"}, "email": {email}}).status).To(Equal(http.StatusSeeOther))
		m := members(admin.Token, "q="+email)[0]
		id := m["membershipId"].(string)
		base := "/console/projects/" + admin.Project + "/members/" + id
		back := "/console/projects/" + admin.Project + "/members?q=nojs"

		confirm := v.get(base + "/deactivate?back=" + url.QueryEscape(back))
		Expect(confirm.status).To(Equal(200))
		Expect(confirm.body).To(ContainSubstring("Deactivate this membership?"))
		Expect(confirm.body).To(ContainSubstring(`<form id="action-form" method="post" action="` + base + `/deactivate">`))
		Expect(members(admin.Token, "q="+email)[0]["active"]).To(BeTrue(), "asking changes nothing")

		r := v.post(base+"/deactivate", url.Values{"csrf": {csrf}, "back": {back}})
		Expect(r.status).To(Equal(http.StatusSeeOther))
		Expect(r.location).To(Equal(back + "&notice=deactivate"))
		Expect(v.get(r.location).body).To(ContainSubstring("The membership was deactivated."))
		Expect(members(admin.Token, "q="+email)[0]["active"]).To(BeFalse())

		r = v.post(base+"/reactivate", url.Values{"csrf": {csrf}, "back": {"https://evil.example/"}})
		Expect(r.location).To(Equal("/console/projects/" + admin.Project + "/members?notice=reactivate"))
		Expect(members(admin.Token, "q="+email)[0]["active"]).To(BeTrue())

		By("changing the email, with the API's refusal beside the field")
		r = v.post(base+"/email", url.Values{"csrf": {csrf}, "email": {"not an email"}})
		Expect(r.status).To(Equal(http.StatusBadRequest))
		Expect(r.body).To(ContainSubstring(`id="email-error"`))
		next := "renamed-" + fixtures.Uniq() + "@example.com"
		Expect(v.post(base+"/email", url.Values{"csrf": {csrf}, "email": {next}}).status).To(Equal(http.StatusSeeOther))
		Expect(members(admin.Token, "q="+next)).To(HaveLen(1))

		By("handing over a fresh link, shown once")
		r = v.post(base+"/link", url.Values{"csrf": {csrf}})
		Expect(r.status).To(Equal(200))
		Expect(regexpFind(`value="([^"]+/setpassword/[^"]+)"`, r.body)).NotTo(BeEmpty())

		By("removing the member")
		r = v.post(base+"/remove", url.Values{"csrf": {csrf}, "back": {base}})
		Expect(r.location).To(Equal("/console/projects/"+admin.Project+"/members?notice=remove"), "not back to the member's own page")
		Expect(members(admin.Token, "q="+next)).To(BeEmpty())
	})

	It("resets a member's second factor", func() {
		email := "mfa-" + fixtures.Uniq() + "@example.com"
		Expect(srv.AddMember(admin.Project, email, "Ma", "Fa", fixtures.AdminPassword, false)).To(Succeed())
		token, err := srv.Login(email, fixtures.AdminPassword)
		Expect(err).NotTo(HaveOccurred())
		_, _, err = srv.EnrollMFA(token, srv.App.Clock.Now())
		Expect(err).NotTo(HaveOccurred())
		id := members(admin.Token, "q="+email)[0]["membershipId"].(string)
		base := "/console/projects/" + admin.Project + "/members/" + id
		Expect(v.get(base + "/mfa-reset").body).To(ContainSubstring("Reset this member"))
		Expect(v.post(base+"/mfa-reset", url.Values{"csrf": {csrf}}).status).To(Equal(http.StatusSeeOther))
		st, err := srv.Do("GET", "auth/mfa/status", token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.JSON()).To(HaveKeyWithValue("enrolled", false))

		r := v.post(base+"/mfa-reset", url.Values{"csrf": {csrf}})
		Expect(r.status).To(Equal(http.StatusBadRequest), "the API's refusal: not enrolled")
		Expect(r.body).To(ContainSubstring("not enrolled"))
	})

	It("shows a member's recent audit events: who invited them, who changed what", func() {
		email := "audited-" + fixtures.Uniq() + "@example.com"
		Expect(v.post("/console/projects/"+admin.Project+"/invite", url.Values{"csrf": {csrf}, "resourceType": {"Practitioner"},
			"firstName": {"Audrey"}, "lastName": {"Trail"}, "email": {email}}).status).To(Equal(http.StatusSeeOther))
		id := members(admin.Token, "q="+email)[0]["membershipId"].(string)
		base := "/console/projects/" + admin.Project + "/members/" + id
		Expect(v.post(base+"/deactivate", url.Values{"csrf": {csrf}}).status).To(Equal(http.StatusSeeOther))
		page := v.get(base)
		Expect(page.status).To(Equal(200))
		Expect(page.body).To(ContainSubstring(`<dd id="member-email">` + email + `</dd>`))
		Expect(page.body).To(MatchRegexp(`<td data-label="What">Membership changed</td>\s*<td data-label="Who">Pat Admin</td>\s*<td data-label="Details">active: true → false</td>`))
		Expect(page.body).To(MatchRegexp(`<td data-label="What">Invited</td>\s*<td data-label="Who">Pat Admin</td>`))
		Expect(strings.Index(page.body, "Membership changed")).To(BeNumerically("<", strings.Index(page.body, ">Invited<")), "newest first")
	})

	It("refuses a project this sign-in cannot manage, offering to sign in to it when it is one of the user's", func() {
		other := newAdmin()
		r := v.get("/console/projects/" + other.Project + "/members")
		Expect(r.status).To(Equal(http.StatusNotFound))

		invite, err := srv.Do("POST", "admin/projects/"+other.Project+"/invite", other.Token, map[string]any{"resourceType": "Practitioner",
			"firstName": "Pat", "lastName": "Admin", "email": admin.Email, "membership": map[string]any{"admin": true}})
		Expect(err).NotTo(HaveOccurred())
		Expect(invite.Status).To(Equal(200), string(invite.Body))
		r = v.get("/console/projects/" + other.Project + "/members")
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body).To(ContainSubstring("this sign-in cannot manage"))
		Expect(r.body).To(ContainSubstring(`href="/console/signin?next=%2Fconsole%2Fprojects%2F` + other.Project + `%2Fmembers"`))
		list := v.get("/console/")
		Expect(list.body).To(ContainSubstring("Sign in to open"))
	})
})

// bulkBound is how long 1 000 rows may take: the 10 seconds when
// ROSTER_TIMING is set (run the spec alone: `go test ./...` runs packages
// side by side on the same cores), else three times that, which only a
// run that went wrong (rows serialized on a lock, say) exceeds.
func bulkBound() time.Duration {
	if os.Getenv("ROSTER_TIMING") != "" {
		return 10 * time.Second
	}
	return 30 * time.Second
}

var _ = Describe("A bulk run", Label("slow"), func() {
	It("invites 1 000 rows in under 10 seconds, streaming its progress, and answers every row", func() {
		admin := newAdmin()
		v := newVisitor()
		home := v.signIn(admin.Email, fixtures.AdminPassword).location
		tag := fixtures.Uniq()
		var b strings.Builder
		b.WriteString("resourceType,firstName,lastName,email\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "Practitioner,Bulk%04d,Timed,timed%04d-%s@example.com\n", i, i, tag)
		}
		start := time.Now()
		r := v.send(http.MethodPost, "/console/projects/"+admin.Project+"/bulk/run",
			url.Values{"csrf": {csrfOf(v.get(home).body)}, "csv": {b.String()}}, "Accept", "application/x-ndjson, application/json")
		took := time.Since(start)
		AddReportEntry("1 000 rows", took.String())
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.header.Get("Content-Type")).To(Equal("application/x-ndjson"))
		lines := strings.Split(strings.TrimSpace(r.body), "\n")
		Expect(len(lines)).To(BeNumerically(">", 2), "progress along the way")
		var last struct {
			Done, Total int
			HTML        string
		}
		Expect(json.Unmarshal([]byte(lines[len(lines)-1]), &last)).To(Succeed())
		Expect(last.Done).To(Equal(1000))
		Expect(last.HTML).To(ContainSubstring("1 000 rows — 1 000 created, 0 updated, 0 unchanged, 0 failed."))
		Expect(took).To(BeNumerically("<", bulkBound()))
		list, err := srv.Do("GET", "admin/projects/"+admin.Project+"/members?_count=1&q="+tag, admin.Token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(list.JSON()["total"]).To(BeNumerically("==", 1000))
	})
})

func regexpFind(pattern, s string) string {
	GinkgoHelper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}
