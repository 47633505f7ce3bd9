package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// device is a browser signing in: its own cookie jar, so its own device
// secret.
type device struct {
	h      *harness
	client *http.Client
}

func (h *harness) newDevice() *device {
	jar, _ := cookiejar.New(nil)
	return &device{h: h, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// post sends a JSON body from the device.
func (d *device) post(path string, body any) *fixtures.Response {
	GinkgoHelper()
	r, err := d.send(path, body)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// send is post without assertions, for goroutines.
func (d *device) send(path string, body any) (*fixtures.Response, error) {
	raw, _ := body.(string)
	if raw == "" {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	}
	req, err := http.NewRequest("POST", d.h.srv.URL+path, strings.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &fixtures.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// login posts /auth/login for a, naming a's project, with extra fields.
func (d *device) login(a account, extra map[string]any) *fixtures.Response {
	GinkgoHelper()
	_, challenge := pkce("S256")
	return d.post("auth/login", fixtures.With(map[string]any{"email": a.Email, "password": a.Password,
		"codeChallenge": challenge, "codeChallengeMethod": "S256", "projectId": a.Project}, mapArgs(extra)...))
}

func mapArgs(m map[string]any) []any {
	var out []any
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// expectSignedIn expects {login, code} and that the code buys tokens.
func (d *device) expectSignedIn(r *fixtures.Response) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	Expect(r.JSON()).To(HaveKey("code"), string(r.Body))
	Expect(r.JSON()).NotTo(HaveKey("verificationRequired"))
}

// expectAsked expects the answer asking for a code; sent says whether it
// mailed one.
func expectAsked(r *fixtures.Response, sent bool) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
	want := map[string]any{"verificationRequired": true}
	if sent {
		want["verificationSent"] = true
	}
	Expect(r.JSON()).To(Equal(want))
}

// expectCodeRefused expects a 400 OperationOutcome on verificationCode
// saying what.
func expectCodeRefused(r *fixtures.Response, what string) {
	GinkgoHelper()
	o := expectOutcome(r, http.StatusBadRequest)
	issue := o["issue"].([]any)[0].(map[string]any)
	Expect(issue["expression"]).To(Equal([]any{"verificationCode"}), string(r.Body))
	Expect(string(r.Body)).To(ContainSubstring(what))
}

// verifyNewDevices turns a project's new-device verification on (or off),
// as the super admin through the FHIR API.
func (h *harness) verifyNewDevices(project string, on bool) {
	GinkgoHelper()
	p := h.do("GET", "fhir/R4/Project/"+project, h.srv.AdminToken, nil)
	Expect(p.Status).To(Equal(http.StatusOK), string(p.Body))
	body := p.JSON()
	delete(body, "extension")
	if on {
		body["extension"] = []any{map[string]any{"url": auth.ExtLoginVerification, "valueCode": auth.VerifyNewDevices}}
	}
	r := h.do("PUT", "fhir/R4/Project/"+project, h.srv.AdminToken, body)
	Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
}

var codePattern = regexp.MustCompile(`code is (\d{6})\.`)

// codes are the verification codes mailed to email in project, oldest
// first.
func (h *harness) codes(project, email string) []string {
	GinkgoHelper()
	msgs, err := h.srv.App.Store.ListMail(context.Background(), project, 1000)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for i := len(msgs) - 1; i >= 0; i-- { // ListMail is newest first
		if m := msgs[i]; m.Kind == "login-verification" && m.To == email {
			c := codePattern.FindStringSubmatch(m.Text)
			Expect(c).To(HaveLen(2), m.Text)
			out = append(out, c[1])
		}
	}
	return out
}

// lastCode is the newest code mailed to a.
func (h *harness) lastCode(a account) string {
	GinkgoHelper()
	codes := h.codes(a.Project, a.Email)
	Expect(codes).NotTo(BeEmpty())
	return codes[len(codes)-1]
}

// otherThan is a 6-digit code that is not code.
func otherThan(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

var _ = Describe("New-device verification", Ordered, ContinueOnFailure, func() {
	h := sharedHarness()
	var member account

	BeforeEach(func() {
		admin := h.newAdmin()
		member = h.newMember(admin.Project)
		h.verifyNewDevices(admin.Project, true)
	})

	It("asks an unknown device for a code, mails one, and mails no second while it is pending", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		codes := h.codes(member.Project, member.Email)
		Expect(codes).To(HaveLen(1))
		Expect(codes[0]).To(MatchRegexp(`^\d{6}$`))

		expectAsked(d.login(member, nil), false)
		Expect(h.codes(member.Project, member.Email)).To(HaveLen(1))
	})

	It("signs the device in with the right code and remembers it; another device is still asked", func() {
		d := h.newDevice()
		expectAsked(d.login(member, map[string]any{"deviceName": "Work laptop"}), true)
		d.expectSignedIn(d.login(member, map[string]any{"verificationCode": h.lastCode(member)}))
		d.expectSignedIn(d.login(member, nil))
		d.expectSignedIn(d.login(member, nil))
		Expect(h.codes(member.Project, member.Email)).To(HaveLen(1))

		expectAsked(h.newDevice().login(member, nil), true)
	})

	It("gives the full sign-in: the code it releases buys tokens", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		verifier, challenge := pkce("S256")
		r := d.post("auth/login", map[string]any{"email": member.Email, "password": member.Password, "projectId": member.Project,
			"codeChallenge": challenge, "codeChallengeMethod": "S256", "verificationCode": h.lastCode(member)})
		d.expectSignedIn(r)
		t := h.exchange(r.JSON()["code"].(string), verifier)
		Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
		Expect(h.works(t.JSON()["access_token"].(string))).To(BeTrue())
	})

	It("lets the device in once without remembering it when rememberDevice is false", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		d.expectSignedIn(d.login(member, map[string]any{"verificationCode": h.lastCode(member), "rememberDevice": false}))
		expectAsked(d.login(member, nil), true)
		Expect(h.codes(member.Project, member.Email)).To(HaveLen(2))
	})

	It("counts wrong codes and kills the code after five; signing in again mails a new one that works", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		code := h.lastCode(member)
		for range 5 {
			expectCodeRefused(d.login(member, map[string]any{"verificationCode": otherThan(code)}), "Invalid verification code")
		}
		expectCodeRefused(d.login(member, map[string]any{"verificationCode": code}), "Too many wrong codes")

		expectAsked(d.login(member, nil), true)
		fresh := h.lastCode(member)
		d.expectSignedIn(d.login(member, map[string]any{"verificationCode": fresh}))
	})

	It("takes a code only on the device it was mailed for", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		code := h.lastCode(member)
		expectCodeRefused(h.newDevice().login(member, map[string]any{"verificationCode": code}), "No verification code is pending")
		d.expectSignedIn(d.login(member, map[string]any{"verificationCode": code}))
	})

	It("lets a code in once when 20 sign-ins race with it", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		code := h.lastCode(member)
		_, challenge := pkce("S256")
		body := map[string]any{"email": member.Email, "password": member.Password, "projectId": member.Project,
			"codeChallenge": challenge, "codeChallengeMethod": "S256", "verificationCode": code, "rememberDevice": false}
		answers := fixtures.Race(20, func(int) (*fixtures.Response, error) { return d.send("auth/login", body) })
		var in, refused int
		for _, a := range answers {
			Expect(a.Err).NotTo(HaveOccurred())
			switch a.Status {
			case http.StatusOK:
				Expect(a.JSON()).To(HaveKey("code"), string(a.Body))
				in++
			case http.StatusBadRequest:
				Expect(string(a.Body)).To(ContainSubstring("verificationCode"))
				refused++
			default:
				Fail("unexpected answer " + string(a.Body))
			}
		}
		Expect(in).To(Equal(1))
		Expect(refused).To(Equal(19))
		expectAsked(d.login(member, nil), true)
	})

	It("never mails a code for a wrong password", func() {
		r := h.newDevice().login(account{Email: member.Email, Password: "not-the-password", Project: member.Project}, nil)
		expectOutcome(r, http.StatusBadRequest)
		Expect(h.codes(member.Project, member.Email)).To(BeEmpty())
	})

	It("keeps the device secret in an HttpOnly cookie on /auth/", func() {
		r := h.newDevice().login(member, nil)
		expectAsked(r, true)
		cookie := r.Header.Get("Set-Cookie")
		Expect(cookie).To(HavePrefix(auth.DeviceCookie + "="))
		Expect(cookie).To(ContainSubstring("Path=/auth/"))
		Expect(cookie).To(ContainSubstring("HttpOnly"))
	})

	It("trusts no device on the body's word", func() {
		r := h.newDevice().login(member, map[string]any{"TrustDevice": true, "trustDevice": true, "Device": "x", "Lockout": map[string]any{"Failures": 1}})
		expectAsked(r, true)
	})

	It("refuses malformed codes as a client error", func() {
		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		expectOutcome(d.login(member, map[string]any{"verificationCode": 123456}), http.StatusBadRequest)
		expectCodeRefused(d.login(member, map[string]any{"verificationCode": strings.Repeat("9", 5000)}), "Invalid verification code")
	})

	When("the login names no project and the user has several memberships", func() {
		It("checks the device of the project chosen at /auth/profile", func() {
			other := h.newAdmin()
			prac := h.do("POST", "fhir/R4/Practitioner", other.Token, map[string]any{"resourceType": "Practitioner",
				"name": []any{map[string]any{"family": "Twice"}}})
			Expect(prac.Status).To(Equal(http.StatusCreated))
			m := h.do("POST", "fhir/R4/ProjectMembership", other.Token, map[string]any{"resourceType": "ProjectMembership",
				"user":    map[string]any{"reference": "User/" + member.UserID},
				"profile": map[string]any{"reference": "Practitioner/" + prac.JSON()["id"].(string)}})
			Expect(m.Status).To(Equal(http.StatusCreated), string(m.Body))

			d := h.newDevice()
			_, challenge := pkce("S256")
			start := d.post("auth/login", map[string]any{"email": member.Email, "password": member.Password,
				"codeChallenge": challenge, "codeChallengeMethod": "S256"})
			Expect(start.Status).To(Equal(http.StatusOK), string(start.Body))
			var chosen, plain string
			for _, raw := range start.JSON()["memberships"].([]any) {
				mm := raw.(map[string]any)
				if mm["project"].(map[string]any)["reference"] == "Project/"+member.Project {
					chosen = mm["id"].(string)
				} else {
					plain = mm["id"].(string)
				}
			}
			Expect(chosen).NotTo(BeEmpty())
			expectAsked(d.post("auth/profile", map[string]any{"login": start.JSON()["login"], "profile": chosen}), true)
			p := d.post("auth/profile", map[string]any{"login": start.JSON()["login"], "profile": plain})
			Expect(p.Status).To(Equal(http.StatusOK), string(p.Body))
			Expect(p.JSON()).To(HaveKey("code"), "the other project does not verify devices")

			d.expectSignedIn(d.login(member, map[string]any{"verificationCode": h.lastCode(member)}))
		})
	})

	When("the project does not verify new devices", func() {
		It("asks no code and sets no device cookie", func() {
			h.verifyNewDevices(member.Project, false)
			r := h.newDevice().login(member, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.JSON()).To(HaveKey("code"))
			Expect(r.Header.Get("Set-Cookie")).To(BeEmpty())
			Expect(h.codes(member.Project, member.Email)).To(BeEmpty())
		})
	})
})

var _ = Describe("New-device verification codes", func() {
	It("are refused once expired, and signing in again mails a new one", func() {
		h := &harness{srv: fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
			c.Verification = auth.Verification{CodeTTL: time.Second}
		}})}
		DeferCleanup(h.srv.Close)
		admin := h.newAdmin()
		member := h.newMember(admin.Project)
		h.verifyNewDevices(admin.Project, true)

		d := h.newDevice()
		expectAsked(d.login(member, nil), true)
		code := h.lastCode(member)
		time.Sleep(1100 * time.Millisecond)
		expectCodeRefused(d.login(member, map[string]any{"verificationCode": code}), "expired")
		o := d.login(member, map[string]any{"verificationCode": code}).JSON()
		Expect(o["issue"].([]any)[0]).To(HaveKeyWithValue("code", "expired"))

		expectAsked(d.login(member, nil), true)
		d.expectSignedIn(d.login(member, map[string]any{"verificationCode": h.lastCode(member)}))
	})
})
