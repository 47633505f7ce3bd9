package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// expectWeak checks a 400 OperationOutcome refusing a weak password on
// expression, saying why without repeating it.
func expectWeak(r *fixtures.Response, expression, password, why string) {
	GinkgoHelper()
	texts, exprs := issueTexts(expectOutcomeResponse(r))
	Expect(exprs).To(ContainElement(expression))
	Expect(strings.Join(texts, " ")).To(And(ContainSubstring("too easy to guess"), ContainSubstring(why)))
	Expect(string(r.Body)).NotTo(ContainSubstring(password), "the message never repeats the password")
}

func expectOutcomeResponse(r *fixtures.Response) *fixtures.Response {
	GinkgoHelper()
	expectOutcome(r, http.StatusBadRequest)
	return r
}

var _ = Describe("Weak passwords", Ordered, func() {
	// One server: a refused password changes nothing, and the spec that
	// sets one works on an account of its own.
	var env *passwordEnv
	BeforeAll(func() { env = unthrottled() })

	DescribeTable("are refused by POST /auth/changepassword with the reason, and the password stays",
		func(weak func(email string) string, why string) {
			pw := weak(env.email)
			r := env.do("POST", "auth/changepassword", env.token, map[string]string{"oldPassword": env.password, "newPassword": pw},
				"Content-Type", "application/json")
			expectWeak(r, "newPassword", pw, why)
			Expect(env.canLogin(env.email, env.password)).To(BeTrue())
		},
		Entry("a common password", func(string) string { return "password123" }, "commonly used password"),
		Entry("a common password in l33t", func(string) string { return "P@ssw0rd!" }, "commonly used password"),
		Entry("a keyboard walk", func(string) string { return "zxcvbnm,./" }, "keyboard patterns"),
		Entry("a repeated character", func(string) string { return "aaaaaaaaaaaa" }, "repeated characters"),
		Entry("a sequence", func(string) string { return "abcdefghijkl" }, "sequences"),
		Entry("the account's own email", func(email string) string { return email }, "your name or email"),
		Entry("the account's name and a year", func(string) string { return "morgan1990" }, "name"),
	)

	It("accepts a strong password", func() {
		email, password, _, token := env.addMember(env.project)
		r := env.do("POST", "auth/changepassword", token, map[string]string{"oldPassword": password, "newPassword": "plum-orchard-lantern-42"},
			"Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(env.canLogin(email, "plum-orchard-lantern-42")).To(BeTrue())
	})

	It("are refused by POST /auth/setpassword without using the link, also when built from the account's email", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		expectWeak(env.setPassword(id, secret, "password123"), "password", "password123", "commonly used")
		local, _, _ := strings.Cut(env.email, "@")
		expectWeak(env.setPassword(id, secret, local), "password", local, "your name or email")
		Expect(env.storedLink(id).UsedAt.IsZero()).To(BeTrue(), "the link stays usable")
	})

	It("are refused by the set-password page, which keeps its form and the link", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		r := env.do("POST", "setpassword/"+id+"/"+secret, "", "password=password123", "Content-Type", "application/x-www-form-urlencoded")
		Expect(r.Status).To(Equal(http.StatusBadRequest))
		Expect(string(r.Body)).To(ContainSubstring("too easy to guess"))
		Expect(string(r.Body)).To(ContainSubstring(`<form id="setpassword-form"`))
		Expect(env.storedLink(id).UsedAt.IsZero()).To(BeTrue())
	})

	It("are refused by an invite that sets a password, naming the field", func() {
		email := "weak-" + strings.ToLower(auth.Secret()[:6]) + "@example.com"
		r := env.do("POST", "admin/projects/"+env.project+"/invite", env.srv.AdminToken, map[string]any{
			"resourceType": "Practitioner", "firstName": "Rosalind", "lastName": "Franklin", "email": email,
			"password": "rosalind1920", "sendEmail": false})
		expectWeak(r, "password", "rosalind1920", "your name or email")
		_, err := env.srv.App.Auth.FindUser(context.Background(), email, "")
		Expect(err).To(HaveOccurred(), "nothing was created")
	})

	It("are refused by a Medable registration with its password-strength fault", func() {
		email := "weak-" + strings.ToLower(auth.Secret()[:6]) + "@example.com"
		r := env.do("POST", "medable/"+env.project+"/accounts/register", "", map[string]any{
			"name": map[string]any{"first": "Jane", "last": "Doe"}, "email": email, "password": "password123"},
			"Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
		Expect(string(r.Body)).To(ContainSubstring("cortex.invalidArgument.passwordStrength"))
	})

	It("stop the first start when ROSTER_ADMIN_PASSWORD is weak, creating nothing", func() {
		cfg := app.Config{SQLitePath: GinkgoT().TempDir() + "/weak.db", AdminEmail: "boss@example.com", AdminPassword: "password123"}
		if base := fixtures.DatabaseURL(); base != "" {
			dbURL, drop, err := fixtures.FreshPostgres(base)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(drop)
			cfg.DatabaseURL = dbURL
		}
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		_, err := app.New(context.Background(), cfg, quiet)
		Expect(err).To(MatchError(And(ContainSubstring("ROSTER_ADMIN_PASSWORD"), ContainSubstring("too easy to guess"))))
		Expect(err.Error()).NotTo(ContainSubstring("password123"))

		cfg.AdminPassword = "plum-orchard-lantern-42"
		a, err := app.New(context.Background(), cfg, quiet)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(a.Close)
		Expect(a.Bootstrap.Created).To(BeTrue(), "the refused start left the database empty")
	})
})
