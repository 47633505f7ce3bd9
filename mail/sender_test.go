package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/store"
)

// fastMail is sender tuning for tests: quick polls and retries.
var fastMail = mail.Options{PollInterval: 20 * time.Millisecond, RetryBase: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond}

// mailEnv is a fresh Roster whose log the spec reads.
type mailEnv struct {
	srv *fixtures.Server
	log *fixtures.LogBuffer
}

func startRoster(configure func(*app.Config)) *mailEnv {
	GinkgoHelper()
	e := &mailEnv{log: &fixtures.LogBuffer{}}
	e.srv = fixtures.Start(GinkgoT(), fixtures.Options{Log: e.log, Configure: func(c *app.Config) {
		c.Mail = fastMail
		if configure != nil {
			configure(c)
		}
	}})
	DeferCleanup(e.srv.Close)
	return e
}

func (e *mailEnv) do(method, path, token string, body any) *fixtures.Response {
	GinkgoHelper()
	r, err := e.srv.Do(method, path, token, body)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// member adds a member with a password to project and returns their email.
func (e *mailEnv) member(project string, admin bool) string {
	GinkgoHelper()
	email := "someone-" + strings.ToLower(auth.Secret()[:10]) + "@example.com"
	Expect(e.srv.AddMember(project, email, "Sam", "Someone", "member-password", admin)).To(Succeed())
	return email
}

// reset asks for a password reset mail through the API.
func (e *mailEnv) reset(email, project string) {
	GinkgoHelper()
	Expect(e.do("POST", "auth/resetpassword", "", map[string]string{"email": email, "projectId": project}).Status).To(Equal(200))
}

// deliveries reads GET /admin/projects/{project}/mail as the super admin.
func (e *mailEnv) deliveries(project string) []map[string]any {
	GinkgoHelper()
	r := e.do("GET", "admin/projects/"+project+"/mail", e.srv.AdminToken, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	var out []map[string]any
	Expect(r.Decode(&out)).To(Succeed())
	return out
}

// only is the one delivery of a project (the spec expects exactly one).
func (e *mailEnv) only(project string) func() map[string]any {
	return func() map[string]any {
		d := e.deliveries(project)
		if len(d) != 1 {
			return nil
		}
		return d[0]
	}
}

func (e *mailEnv) stored(id string) *mail.Message {
	GinkgoHelper()
	m, err := e.srv.App.Store.GetMail(context.Background(), id)
	Expect(err).NotTo(HaveOccurred())
	return m
}

var _ = Describe("Mail delivery", func() {
	When("no SMTP server is configured", func() {
		It("records each mail as logged with one log line, never its body", func() {
			env := startRoster(nil)
			project := env.srv.DefaultProject
			email := env.member(project, false)
			env.reset(email, project)

			Eventually(env.only(project)).WithTimeout(5 * time.Second).Should(And(
				HaveKeyWithValue("status", "logged"),
				HaveKeyWithValue("kind", "reset"),
				HaveKeyWithValue("to", email),
				HaveKeyWithValue("attempts", BeEquivalentTo(0)),
			))
			d := env.deliveries(project)[0]
			m := env.stored(d["id"].(string))
			Expect(m.Text).To(ContainSubstring(env.srv.App.Config.AppURL+"setpassword/"), "nothing lost: the mail and its link are kept")

			lines := []string{}
			for _, l := range strings.Split(env.log.String(), "\n") {
				if strings.Contains(l, "mail not sent") {
					lines = append(lines, l)
				}
			}
			Expect(lines).To(HaveLen(1))
			Expect(lines[0]).To(And(ContainSubstring("to="+email), ContainSubstring("kind=reset"), ContainSubstring(`subject="Reset your Roster password"`)))
			Expect(env.log.String()).NotTo(ContainSubstring("setpassword/"), "the secret link never reaches the log")
		})
	})

	Describe("GET /admin/projects/{projectId}/mail", func() {
		var (
			env                    *mailEnv
			project, token, admin1 string
		)

		BeforeEach(func() {
			env = startRoster(nil)
			var err error
			project, token, admin1, err = env.srv.ProjectAdmin("Mail Clinic")
			Expect(err).NotTo(HaveOccurred())
		})

		It("shows the project's admins every message's delivery state, newest first, never the body", func() {
			first := env.member(project, false)
			env.reset(first, project)
			second := env.member(project, false)
			env.reset(second, project)

			var list []map[string]any
			Eventually(func() []map[string]any {
				r := env.do("GET", "admin/projects/"+project+"/mail", token, nil)
				Expect(r.Status).To(Equal(200))
				Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
				list = nil
				Expect(r.Decode(&list)).To(Succeed())
				return list
			}).WithTimeout(5 * time.Second).Should(HaveEach(HaveKeyWithValue("status", "logged")))
			Expect(list).To(HaveLen(2))
			Expect(list[0]["to"]).To(Equal(second), "newest first")
			Expect(list[1]["to"]).To(Equal(first))
			for _, d := range list {
				keys := []string{}
				for k := range d {
					keys = append(keys, k)
				}
				Expect(keys).To(ConsistOf("id", "kind", "to", "subject", "status", "attempts", "lastError", "createdAt"))
				Expect(d["subject"]).To(Equal("Reset your Roster password"))
				Expect(d["createdAt"]).To(MatchRegexp(`^\d{4}-\d\d-\d\dT`))
			}

			r := env.do("GET", "admin/projects/"+project+"/mail?_count=1", token, nil)
			var page []map[string]any
			Expect(r.Decode(&page)).To(Succeed())
			Expect(page).To(HaveLen(1))
			Expect(page[0]["to"]).To(Equal(second))
			Expect(env.do("GET", "admin/projects/"+project+"/mail?_count=0", token, nil).Status).To(Equal(400))
		})

		It("refuses everyone but the project's admins and the super admin", func() {
			env.reset(admin1, project)
			_, otherToken, _, err := env.srv.ProjectAdmin("Other Clinic")
			Expect(err).NotTo(HaveOccurred())
			memberEmail := env.member(project, false)
			memberToken, err := env.srv.Login(memberEmail, "member-password")
			Expect(err).NotTo(HaveOccurred())

			path := "admin/projects/" + project + "/mail"
			Expect(env.do("GET", path, "", nil).Status).To(Equal(401))
			Expect(env.do("GET", path, memberToken, nil).Status).To(Equal(403))
			r := env.do("GET", path, otherToken, nil)
			Expect(r.Status).To(Equal(403))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
			Expect(env.do("GET", "admin/projects/00000000-0000-4000-8000-000000000000/mail", token, nil).Status).To(Equal(404))
			Expect(env.do("GET", "admin/projects/00000000-0000-4000-8000-000000000000/mail", env.srv.AdminToken, nil).Status).To(Equal(404))
			Expect(env.do("GET", path, env.srv.AdminToken, nil).Status).To(Equal(200))
			Expect(env.do("GET", path, token, nil).Status).To(Equal(200))
		})
	})

	When("the SMTP server is up", func() {
		It("delivers a reset mail with its link and a Message-ID made from the outbox id", func() {
			mp := fixtures.Mailpit(GinkgoT())
			env := startRoster(func(c *app.Config) { c.SMTPURL = mp.SMTPURL })
			project := env.srv.DefaultProject
			email := env.member(project, false)
			env.reset(email, project)

			Eventually(mp.Count).WithArguments(email).WithTimeout(10 * time.Second).Should(Equal(1))
			msgs, err := mp.Messages(email)
			Expect(err).NotTo(HaveOccurred())
			Expect(msgs[0].Subject).To(Equal("Reset your Roster password"))
			Expect(msgs[0].To).To(HaveExactElements(HaveField("Address", email)))
			Expect(msgs[0].From.Address).To(Equal("noreply@127.0.0.1"))

			Eventually(env.only(project)).WithTimeout(5 * time.Second).Should(HaveKeyWithValue("status", "sent"))
			d := env.deliveries(project)[0]
			Expect(d["attempts"]).To(BeEquivalentTo(1))
			Expect(d["sentAt"]).NotTo(BeNil())
			Expect(d["lastError"]).To(BeEmpty())
			Expect(msgs[0].MessageID).To(Equal(d["id"].(string) + "@127.0.0.1"))

			link, err := mp.FirstURL(msgs[0].ID, env.srv.App.Config.AppURL+"setpassword/")
			Expect(err).NotTo(HaveOccurred())
			page := env.do("GET", strings.TrimPrefix(link, env.srv.URL), "", nil)
			Expect(page.Status).To(Equal(200))
			Expect(string(page.Body)).To(ContainSubstring("Choose a new password"))
		})
	})

	When("the SMTP server is down, then up", func() {
		It("retries with backoff, records the error without secrets, and delivers exactly once", func() {
			mp := fixtures.NewMailpitProcess(GinkgoT()) // not started yet: SMTP is down
			env := startRoster(func(c *app.Config) {
				c.SMTPURL = mp.SMTPURL()
				c.Mail.MaxAttempts = 1000
			})
			project := env.srv.DefaultProject
			email := env.member(project, false)
			start := time.Now()
			env.reset(email, project)
			Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second), "an SMTP outage never blocks the request")

			Eventually(env.only(project)).WithTimeout(10 * time.Second).Should(And(
				HaveKeyWithValue("status", "pending"),
				HaveKeyWithValue("attempts", BeNumerically(">=", 3)),
				HaveKeyWithValue("lastError", ContainSubstring("connection refused")),
				HaveKey("nextAttemptAt"),
			))
			d := env.deliveries(project)[0]
			Expect(d["lastError"]).NotTo(ContainSubstring("mailpit-pw"))
			Expect(env.log.String()).NotTo(ContainSubstring("mailpit-pw"))

			Expect(mp.Start()).To(Succeed())
			client := mp.Client()
			Eventually(client.Count).WithArguments(email).WithTimeout(10 * time.Second).Should(Equal(1))
			Eventually(env.only(project)).WithTimeout(5 * time.Second).Should(And(
				HaveKeyWithValue("status", "sent"), HaveKeyWithValue("lastError", ""), Not(HaveKey("nextAttemptAt"))))
			Consistently(client.Count).WithArguments(email).WithTimeout(time.Second).Should(Equal(1), "delivered exactly once")

			// And down again: a new mail waits, nothing is lost.
			Expect(mp.Stop()).To(Succeed())
			other := env.member(project, false)
			env.reset(other, project)
			Eventually(func() []map[string]any { return env.deliveries(project) }).WithTimeout(5 * time.Second).
				Should(ContainElement(And(HaveKeyWithValue("to", other), HaveKeyWithValue("status", "pending"), HaveKeyWithValue("attempts", BeNumerically(">=", 1)))))
			Expect(mp.Start()).To(Succeed())
			Eventually(client.Count).WithArguments(other).WithTimeout(10 * time.Second).Should(Equal(1))
			Expect(client.Count(email)).To(Equal(1))
		})
	})

	When("the SMTP server never answers", func() {
		It("gives up after the maximum number of attempts and says why", func() {
			env := startRoster(func(c *app.Config) {
				c.SMTPURL = "smtp://" + fixtures.FreeAddr(GinkgoT()) // nothing listens there
				c.Mail.MaxAttempts = 3
				c.Mail.RetryBase, c.Mail.RetryMax = 20*time.Millisecond, 40*time.Millisecond
			})
			project := env.srv.DefaultProject
			env.reset(env.member(project, false), project)
			Eventually(env.only(project)).WithTimeout(10 * time.Second).Should(And(
				HaveKeyWithValue("status", "failed"),
				HaveKeyWithValue("attempts", BeEquivalentTo(3)),
				HaveKeyWithValue("lastError", ContainSubstring("connection refused")),
			))
			Consistently(env.only(project)).WithTimeout(300 * time.Millisecond).Should(HaveKeyWithValue("attempts", BeEquivalentTo(3)))
			Expect(env.log.String()).To(ContainSubstring("mail failed: giving up"))
		})
	})

	DescribeTable("records a failed delivery's error word for word, whatever the SMTP password",
		func(password string) {
			env := startRoster(func(c *app.Config) {
				c.SMTPURL = "smtp://roster:" + url.QueryEscape(password) + "@" + fixtures.FreeAddr(GinkgoT()) // nothing listens there
				c.Mail.MaxAttempts = 1
			})
			project := env.srv.DefaultProject
			env.reset(env.member(project, false), project)
			Eventually(env.only(project)).WithTimeout(10 * time.Second).Should(And(
				HaveKeyWithValue("status", "failed"),
				HaveKeyWithValue("lastError", MatchRegexp(`^dial failed: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`)),
			))
			if len(password) > 3 {
				Expect(env.log.String()).NotTo(ContainSubstring(password))
			}
		},
		Entry("with the password p, a letter of the message", "p"),
		Entry("with a realistic password", "Tr0ub4dor&3-horse"),
	)

	When("a sender dies in the middle of a send", func() {
		It("loses nothing: another sender takes the message when the lease runs out", func() {
			env := startRoster(func(c *app.Config) { c.Mail.Disabled = true })
			project := env.srv.DefaultProject
			env.reset(env.member(project, false), project)
			Expect(env.deliveries(project)).To(HaveExactElements(HaveKeyWithValue("status", "pending")))

			// The dying sender: it claims with a short lease and never reports back.
			now := time.Now().UTC()
			claimed, err := env.srv.App.Store.ClaimMail(context.Background(), now, now.Add(time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(claimed).NotTo(BeNil())
			Expect(claimed.Attempts).To(Equal(1))

			survivor, err := mail.NewSender(env.srv.App.Store, nil, "", fastMail, slog.New(slog.NewTextHandler(env.log, nil)))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(survivor.Start())
			Consistently(env.only(project)).WithTimeout(500*time.Millisecond).Should(HaveKeyWithValue("status", "pending"), "the lease holds")
			Eventually(env.only(project)).WithTimeout(5 * time.Second).Should(HaveKeyWithValue("status", "logged"))
			Expect(strings.Count(env.log.String(), "mail not sent")).To(Equal(1))
		})
	})

	When("several senders share one outbox", func() {
		It("sends every message exactly once", func() {
			mp := fixtures.Mailpit(GinkgoT())
			env := startRoster(func(c *app.Config) { c.Mail.Disabled = true })
			project := env.srv.DefaultProject
			ctx := context.Background()
			const n = 20
			tag := strings.ToLower(auth.Secret()[:8])
			for i := range n {
				Expect(env.srv.App.Mail.Enqueue(ctx, mail.Message{ProjectID: project, Kind: "test", To: fmt.Sprintf("many-%s-%02d@example.com", tag, i),
					Subject: fmt.Sprintf("Message %d", i), Text: "hello"})).To(Succeed())
			}
			// Three "processes": each its own connection pool and sender.
			cfg := env.srv.App.Config
			for range 3 {
				st, err := store.Open(store.Options{DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath})
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(st.Close)
				s, err := mail.NewSender(st, nil, mp.SMTPURL, fastMail, slog.New(slog.NewTextHandler(env.log, nil)))
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(s.Start())
			}
			Eventually(func() []map[string]any { return env.deliveries(project) }).WithTimeout(20 * time.Second).
				Should(And(HaveLen(n), HaveEach(And(HaveKeyWithValue("status", "sent"), HaveKeyWithValue("attempts", BeEquivalentTo(1))))))
			for i := range n {
				Expect(mp.Count(fmt.Sprintf("many-%s-%02d@example.com", tag, i))).To(Equal(1), "message %d", i)
			}
		})
	})

	When("the app stops while a message is in flight", func() {
		It("finishes that message and records it as sent", func() {
			smtp := newSlowSMTP(700 * time.Millisecond)
			env := startRoster(func(c *app.Config) { c.SMTPURL = "smtp://" + smtp.Addr })
			project := env.srv.DefaultProject
			env.reset(env.member(project, false), project)
			Eventually(smtp.dataStarted).WithTimeout(5 * time.Second).Should(BeClosed())

			stopped := make(chan struct{})
			go func() {
				env.srv.App.Stop()
				close(stopped)
			}()
			Consistently(stopped).WithTimeout(300*time.Millisecond).ShouldNot(BeClosed(), "Stop waits for the send")
			Eventually(stopped).WithTimeout(10 * time.Second).Should(BeClosed())
			Expect(env.deliveries(project)).To(HaveExactElements(And(HaveKeyWithValue("status", "sent"), HaveKeyWithValue("attempts", BeEquivalentTo(1)))))
			Expect(smtp.delivered()).To(Equal(1))
		})
	})
})

// slowSMTP is an SMTP stub that takes its time acknowledging a message, to
// catch a sender in the middle of a send.
type slowSMTP struct {
	*fixtures.SMTPStub
	dataStarted chan struct{} // closed when the first message has been read
	once        sync.Once
	mu          sync.Mutex
	count       int
}

func newSlowSMTP(delay time.Duration) *slowSMTP {
	GinkgoHelper()
	s := &slowSMTP{dataStarted: make(chan struct{})}
	s.SMTPStub = fixtures.StartSMTPStub(GinkgoT(), func(string) bool {
		s.once.Do(func() { close(s.dataStarted) })
		time.Sleep(delay)
		s.mu.Lock()
		s.count++
		s.mu.Unlock()
		return true
	})
	return s
}

func (s *slowSMTP) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}
