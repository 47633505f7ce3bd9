package app_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// testModeServer starts a Roster in test mode for one spec, with its
// database open to see what requests left there, and the /_test/ client
// an outside suite would use.
func testModeServer(configure func(*app.Config)) (*fixtures.Server, *fixtures.Remote, *sql.DB) {
	GinkgoHelper()
	srv := fixtures.Start(GinkgoT(), fixtures.Options{TestMode: true, Configure: configure})
	DeferCleanup(srv.Close)
	driver, dsn := "sqlite", srv.Config.SQLitePath
	if srv.Config.DatabaseURL != "" {
		driver, dsn = "pgx", srv.Config.DatabaseURL
	}
	db, err := sql.Open(driver, dsn)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	return srv, fixtures.Connect(srv.URL), db
}

func rows(db *sql.DB, query string) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRow(query).Scan(&n)).To(Succeed())
	return n
}

// inviteNew invites a new practitioner into p's project as its admin and
// returns the email; a welcome mail with a set-password link is queued.
func inviteNew(r fixtures.Roster, p *fixtures.TestProject, name string) string {
	GinkgoHelper()
	email := fixtures.Email(name)
	resp, err := r.Do("POST", "admin/projects/"+p.Project.ID+"/invite", p.AccessToken, map[string]any{
		"resourceType": "Practitioner", "firstName": "Mary", "lastName": "Seacole", "email": email})
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Status).To(Equal(200), string(resp.Body))
	return email
}

// lastMail is the newest message to an address.
func lastMail(r fixtures.Roster, to string) fixtures.TestMail {
	GinkgoHelper()
	msgs, err := r.Mail(to)
	Expect(err).NotTo(HaveOccurred())
	Expect(msgs).NotTo(BeEmpty(), "no mail to "+to)
	return msgs[0]
}

var _ = Describe("Test mode", func() {
	Describe("the switch", func() {
		DescribeTable("without ROSTER_TEST_MODE nothing under /_test/ exists",
			func(method, path string) {
				srv := fixtures.Start(GinkgoT(), fixtures.Options{})
				DeferCleanup(srv.Close)
				r, err := srv.Do(method, path, "", nil)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Status).To(Equal(404), string(r.Body))
				Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
				// The super admin's token opens nothing either.
				r, err = srv.Do(method, path, srv.AdminToken, nil)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Status).To(Equal(404))
			},
			Entry("POST /_test/projects", "POST", "_test/projects"),
			Entry("GET /_test/mail", "GET", "_test/mail?to=admin@example.com"),
			Entry("GET /_test/clock", "GET", "_test/clock"),
			Entry("POST /_test/clock", "POST", "_test/clock"),
			Entry("POST /_test/reset", "POST", "_test/reset"),
		)

		DescribeTable("starts only where other machines cannot reach /_test/",
			func(addr string, allowRemote, starts bool) {
				cfg := freshConfig()
				cfg.AdminEmail, cfg.AdminPassword = fixtures.AdminEmail, fixtures.AdminPassword
				cfg.Addr, cfg.TestMode, cfg.TestModeAllowRemote = addr, true, allowRemote
				var logs logSink
				a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
				if !starts {
					Expect(err).To(MatchError(And(ContainSubstring("ROSTER_TEST_MODE=1 refused"), ContainSubstring(addr),
						ContainSubstring("ROSTER_TEST_MODE_ALLOW_REMOTE=1"))))
					return
				}
				Expect(err).NotTo(HaveOccurred())
				a.Close()
				Expect(logs.text()).To(ContainSubstring("TEST MODE IS ON"), "it says so loudly in the log")
			},
			Entry("every interface (the default :8080) is refused", ":8080", false, false),
			Entry("0.0.0.0 is refused", "0.0.0.0:8080", false, false),
			Entry("[::] is refused", "[::]:8080", false, false),
			Entry("a routable address is refused", "192.0.2.10:8080", false, false),
			Entry("a host name is refused", "roster.example.com:8080", false, false),
			Entry("127.0.0.1 starts", "127.0.0.1:8080", false, true),
			Entry("another 127/8 address starts", "127.0.0.2:8080", false, true),
			Entry("[::1] starts", "[::1]:8080", false, true),
			Entry("localhost starts", "localhost:8080", false, true),
			Entry("every interface starts with ROSTER_TEST_MODE_ALLOW_REMOTE=1 (a CI service container)", ":8080", true, true),
		)
	})

	Describe("POST /_test/projects", func() {
		var (
			srv    *fixtures.Server
			remote *fixtures.Remote
			db     *sql.DB
			p      *fixtures.TestProject
		)
		BeforeEach(func() { srv, remote, db = testModeServer(nil) })
		JustBeforeEach(func() {
			var err error
			p, err = remote.Project()
			Expect(err).NotTo(HaveOccurred())
		})

		It("makes a project, its admin, a token of that admin and an admin client in one call", func() {
			Expect(p.Project.ID).NotTo(BeEmpty())
			Expect(p.Project.Name).To(HavePrefix("Test project "))
			Expect(rows(db, "SELECT count(*) FROM resources WHERE type = 'ProjectMembership' AND project_id = '"+p.Project.ID+"'")).
				To(Equal(2), "the admin's membership and the client's")

			r, err := remote.Do("GET", "admin/projects/"+p.Project.ID, p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), "the token administers the project: %s", r.Body)

			tok, err := srv.LoginFull(p.Admin.Email, p.Admin.Password, "")
			Expect(err).NotTo(HaveOccurred(), "the admin signs in with the email and password answered")
			Expect(tok.Profile.Reference).To(Equal(p.Admin.Profile.Reference))
			Expect(tok.Project.Reference).To(Equal("Project/" + p.Project.ID))

			r, err = remote.Do("GET", "p/api/v1/organizations/members/", "", nil, "x-api-key", p.Client.Secret)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), "the client's secret is the project's API key: %s", r.Body)
			Expect(r.JSON()["count"]).To(BeEquivalentTo(1))
		})

		It("gives every call a project of its own, invisible to the others", func() {
			other, err := remote.Project()
			Expect(err).NotTo(HaveOccurred())
			Expect(other.Project.ID).NotTo(Equal(p.Project.ID))
			Expect(other.Admin.Email).NotTo(Equal(p.Admin.Email))
			r, err := remote.Do("GET", "fhir/R4/Project/"+other.Project.ID, p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(404))
		})

		It("names the project as asked", func() {
			r, err := remote.Do("POST", "_test/projects", "", map[string]string{"name": "Clinic B"})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(201), string(r.Body))
			Expect(r.JSON()["project"]).To(HaveKeyWithValue("name", "Clinic B"))
			r, err = remote.Do("POST", "_test/projects", "", nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(201), "no body at all is a project with a name of its own: %s", r.Body)
			r, err = remote.Do("POST", "_test/projects", "", map[string]string{"colour": "blue"})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(400), "an unknown field is refused")
		})
	})

	Describe("GET /_test/mail", func() {
		var (
			srv    *fixtures.Server
			remote *fixtures.Remote
			p      *fixtures.TestProject
		)
		BeforeEach(func() { srv, remote, p = testModeProject() })

		It("answers an address's mail, newest first, with its set-password link parsed", func() {
			email := inviteNew(remote, p, "mary")
			m := lastMail(remote, strings.ToUpper(email))
			Expect(m.To).To(Equal(email))
			Expect(m.Kind).To(Equal(admin.MailKindWelcome))
			Expect(m.SetPassword).NotTo(BeNil(), m.Text)
			Expect(m.Links).To(ContainElement(m.SetPassword.URL))
			Expect(m.SetPassword.URL).To(Equal(srv.App.Config.AppURL + "setpassword/" + m.SetPassword.ID + "/" + m.SetPassword.Secret))

			r, err := remote.Do("GET", "admin/projects/"+p.Project.ID+"/invites?email="+url.QueryEscape(email), p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			id := r.JSON()["invites"].([]any)[0].(map[string]any)["id"].(string)
			r, err = remote.Do("POST", "admin/projects/"+p.Project.ID+"/invites/"+id+"/resend", p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))

			msgs, err := remote.Mail(email)
			Expect(err).NotTo(HaveOccurred())
			Expect(msgs).To(HaveLen(2))
			Expect(msgs[0].SetPassword.ID).NotTo(Equal(m.SetPassword.ID), "the resent link is first")

			r, err = srv.SetPassword(msgs[0].SetPassword.ID, msgs[0].SetPassword.Secret, "a-long-and-new-passphrase")
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))
		})

		It("answers an empty list for an address with no mail, and 400 without an address", func() {
			msgs, err := remote.Mail("nobody@example.com")
			Expect(err).NotTo(HaveOccurred())
			Expect(msgs).To(BeEmpty())
			r, err := remote.Do("GET", "_test/mail", "", nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(400))
		})

		It("agrees with the in-process helper of the same name", func() {
			email := inviteNew(remote, p, "florence")
			over, err := remote.Mail(email)
			Expect(err).NotTo(HaveOccurred())
			in, err := srv.Mail(email)
			Expect(err).NotTo(HaveOccurred())
			Expect(in).To(HaveLen(1))
			Expect(over[0].ID).To(Equal(in[0].ID))
			Expect(over[0].SetPassword).To(Equal(in[0].SetPassword))
		})
	})

	When("ROSTER_SMTP_URL is set", func() {
		It("sends the mail and still answers it", func() {
			var mu sync.Mutex
			var got []string
			stub := fixtures.StartSMTPStub(GinkgoT(), func(msg string) bool {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, msg)
				return true
			})
			_, remote, _ := testModeServer(func(c *app.Config) {
				c.SMTPURL = "smtp://" + stub.Addr
				c.Mail.PollInterval = 50 * time.Millisecond
			})
			p, err := remote.Project()
			Expect(err).NotTo(HaveOccurred())
			email := inviteNew(remote, p, "sent")
			Eventually(func() string { return lastMail(remote, email).Status }).Should(Equal("sent"))
			m := lastMail(remote, email)
			mu.Lock()
			defer mu.Unlock()
			Expect(got).To(HaveLen(1))
			Expect(strings.ReplaceAll(got[0], "=\r\n", "")).To(ContainSubstring(m.SetPassword.ID))
		})
	})

	Describe("POST /_test/clock", func() {
		var (
			srv    *fixtures.Server
			remote *fixtures.Remote
			p      *fixtures.TestProject
		)
		BeforeEach(func() { srv, remote, p = testModeProject() })

		It("makes a set-password link expire once moved past its seven days", func() {
			first := lastMail(remote, inviteNew(remote, p, "early")).SetPassword
			late := lastMail(remote, inviteNew(remote, p, "late")).SetPassword
			r, err := srv.SetPassword(first.ID, first.Secret, "a-long-and-new-passphrase")
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), "before the clock moves the link works: %s", r.Body)

			before := time.Now()
			now, err := remote.Clock(admin.SetPasswordLinkTTL + time.Minute)
			Expect(err).NotTo(HaveOccurred())
			Expect(now).To(BeTemporally(">=", before.Add(admin.SetPasswordLinkTTL)))

			r, err = srv.SetPassword(late.ID, late.Secret, "a-long-and-new-passphrase")
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(400))
			Expect(string(r.Body)).To(ContainSubstring("expired"))
		})

		It("ends access tokens and pending invitations on the same clock", func() {
			email := inviteNew(remote, p, "pending")
			_, err := remote.Clock(2 * time.Hour)
			Expect(err).NotTo(HaveOccurred())
			r, err := remote.Do("GET", "auth/me", p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(401), "an hour's access token has expired")

			fresh, err := remote.Project()
			Expect(err).NotTo(HaveOccurred(), "a new sign-in works on the moved clock")
			r, err = remote.Do("GET", "auth/me", fresh.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200), string(r.Body))

			_, err = remote.Clock(admin.SetPasswordLinkTTL)
			Expect(err).NotTo(HaveOccurred())
			tok, err := srv.Login(p.Admin.Email, p.Admin.Password)
			Expect(err).NotTo(HaveOccurred())
			r, err = remote.Do("GET", "admin/projects/"+p.Project.ID+"/invites?email="+url.QueryEscape(email), tok, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.JSON()["invites"]).To(ConsistOf(HaveKeyWithValue("status", "expired")))
		})

		It("refuses what is not a positive duration, and GET tells the time", func() {
			for _, body := range []any{map[string]string{"advance": "7 days"}, map[string]string{"advance": "-1h"}, map[string]string{}, "[]"} {
				r, err := remote.Do("POST", "_test/clock", "", body)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Status).To(Equal(400), "%v", body)
			}
			_, err := remote.Clock(90 * time.Minute)
			Expect(err).NotTo(HaveOccurred())
			r, err := remote.Do("GET", "_test/clock", "", nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.JSON()).To(HaveKeyWithValue("offset", "1h30m0s"))
		})
	})

	Describe("POST /_test/reset", func() {
		It("empties the database, puts the clock back and bootstraps the super admin again", func() {
			srv, remote, db := testModeServer(nil)
			p, err := remote.Project()
			Expect(err).NotTo(HaveOccurred())
			inviteNew(remote, p, "gone")
			_, err = remote.Clock(time.Hour)
			Expect(err).NotTo(HaveOccurred())
			keys := rows(db, "SELECT count(*) FROM signing_keys")
			Expect(rows(db, "SELECT count(*) FROM outbox")).To(Equal(1))

			Expect(remote.Reset()).To(Succeed())

			for _, table := range []string{"outbox", "invitations", "links", "client_secrets", "throttles", "idempotency_keys"} {
				Expect(rows(db, "SELECT count(*) FROM "+table)).To(BeZero(), table)
			}
			Expect(rows(db, "SELECT count(*) FROM resources WHERE type = 'Project'")).To(Equal(1), "the Default project alone")
			Expect(rows(db, "SELECT count(*) FROM resources WHERE type = 'User'")).To(Equal(1), "the super admin alone")
			Expect(rows(db, "SELECT count(*) FROM logins")).To(BeZero())
			Expect(rows(db, "SELECT count(*) FROM signing_keys")).To(Equal(keys), "signing keys stay")

			r, err := remote.Do("GET", "auth/me", p.AccessToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(401), "a token of the old data opens nothing")
			r, err = remote.Do("GET", "_test/clock", "", nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.JSON()).To(HaveKeyWithValue("offset", "0s"))

			tok, err := srv.Login(fixtures.AdminEmail, fixtures.AdminPassword)
			Expect(err).NotTo(HaveOccurred(), "the configured super admin signs in again")
			r, err = remote.Do("GET", "fhir/R4/Project", tok, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Resources()).To(ConsistOf(HaveKeyWithValue("name", "Default")))
			_, err = remote.Project()
			Expect(err).NotTo(HaveOccurred(), "and the server goes on serving scenarios")
		})

		It("leaves the fixture server's helpers ready after an in-process reset", func() {
			srv, _, _ := testModeServer(nil)
			old := srv.DefaultProject
			Expect(srv.Reset()).To(Succeed())
			Expect(srv.DefaultProject).NotTo(BeEmpty())
			Expect(srv.DefaultProject).NotTo(Equal(old))
			r, err := srv.Do("GET", "auth/me", srv.AdminToken, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(200))
		})
	})
})

// testModeProject starts a server in test mode and makes one project there
// through /_test/projects.
func testModeProject() (*fixtures.Server, *fixtures.Remote, *fixtures.TestProject) {
	GinkgoHelper()
	srv, remote, _ := testModeServer(nil)
	p, err := remote.Project()
	Expect(err).NotTo(HaveOccurred())
	return srv, remote, p
}
