package mail

import (
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gomail "github.com/wneessen/go-mail"
)

var _ = Describe("ROSTER_SMTP_URL", func() {
	DescribeTable("is read into a transport",
		func(raw, host string, port int, ssl bool, policy gomail.TLSPolicy, user string) {
			t, err := parseSMTPURL(raw)
			Expect(err).NotTo(HaveOccurred())
			Expect(t.host).To(Equal(host))
			Expect(t.port).To(Equal(port))
			Expect(t.ssl).To(Equal(ssl))
			Expect(t.policy).To(Equal(policy))
			Expect(t.user).To(Equal(user))
		},
		Entry("localhost without credentials", "smtp://127.0.0.1:1025", "127.0.0.1", 1025, false, gomail.TLSOpportunistic, ""),
		Entry("submission port by default", "smtp://u:p@mail.example.com", "mail.example.com", 587, false, gomail.TLSOpportunistic, "u"),
		Entry("STARTTLS required", "smtp://u:p@mail.example.com:2525?starttls=required", "mail.example.com", 2525, false, gomail.TLSMandatory, "u"),
		Entry("implicit TLS", "smtps://u:p@mail.example.com", "mail.example.com", 465, true, gomail.TLSOpportunistic, "u"),
	)

	DescribeTable("is refused with a message that never repeats the password",
		func(raw, message string) {
			_, err := parseSMTPURL(raw)
			Expect(err).To(MatchError(ContainSubstring(message)))
			Expect(err.Error()).NotTo(ContainSubstring("hunter2"))
		},
		Entry("wrong scheme", "http://u:hunter2@host:25", "scheme"),
		Entry("no host", "smtp://u:hunter2@:25", "missing host"),
		Entry("bad port", "smtp://u:hunter2@host:99999", "invalid port"),
		Entry("bad starttls", "smtp://u:hunter2@host?starttls=maybe", "starttls"),
		Entry("bad auth", "smtp://u:hunter2@host?auth=magic", "auth"),
	)
})

var _ = Describe("The sender's bookkeeping", func() {
	It("keeps line breaks out of last_error, and bounds it", func() {
		t, err := parseSMTPURL("smtp://user:s3cr%2Bt@host:25")
		Expect(err).NotTo(HaveOccurred())
		msg := t.sanitize(errors.New("535 auth failed\r\nfor user " + strings.Repeat("x", 1000)))
		Expect(msg).To(HavePrefix("535 auth failed for user xxx"))
		Expect(msg).NotTo(ContainSubstring("\n"))
		Expect(len(msg)).To(BeNumerically("<=", 504))
	})

	DescribeTable("redacts the password of a URL in an error by the URL's structure, and leaves the rest word for word",
		func(u, want string) {
			t, err := parseSMTPURL("smtp://user:p@127.0.0.1:2525")
			Expect(err).NotTo(HaveOccurred())
			msg := t.sanitize(errors.New("dial tcp 127.0.0.1:2525: connect: connection refused (via " + u + ")"))
			Expect(msg).To(Equal("dial tcp 127.0.0.1:2525: connect: connection refused (via " + want + ")"))
		},
		Entry("a one-letter password that the text also holds", "smtp://user:p@127.0.0.1:2525", "smtp://user:xxxxx@127.0.0.1:2525"),
		Entry("a realistic password", "smtps://user:Tr0ub4dor%263-horse@mail.example.com/x", "smtps://user:xxxxx@mail.example.com/x"),
		Entry("a URL Go cannot parse", "smtp://user:50%zz@host:25", "smtp://user:xxxxx@host:25"),
		Entry("a URL without a password", "smtp://user@host:25", "smtp://user@host:25"),
	)

	It("backs off exponentially with jitter, up to the cap", func() {
		s := &Sender{opts: Options{RetryBase: time.Second, RetryMax: 10 * time.Second}.withDefaults()}
		for range 50 {
			Expect(s.backoff(1)).To(BeNumerically("~", 750*time.Millisecond, 250*time.Millisecond))
			Expect(s.backoff(2)).To(BeNumerically("~", 1500*time.Millisecond, 500*time.Millisecond))
			Expect(s.backoff(3)).To(BeNumerically("~", 3*time.Second, time.Second))
			Expect(s.backoff(20)).To(BeNumerically("~", 7500*time.Millisecond, 2500*time.Millisecond))
		}
	})

	It("keeps a lease longer than a send", func() {
		o := Options{SendTimeout: time.Minute, Lease: time.Second}.withDefaults()
		Expect(o.Lease).To(Equal(2 * time.Minute))
		Expect(Options{}.ForApp("https://roster.example.org/").From).To(Equal("Roster <noreply@roster.example.org>"))
	})
})
