package main_test

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// What this file adds to the fault specs of issue 7. The rest are elsewhere:
// SIGTERM during load in e2e_test.go ("on SIGTERM finishes in-flight
// requests…"), a sender that claims a message and never reports back in
// mail/sender_test.go, 20 concurrent link redemptions in
// auth/links_test.go. Missing was a real process killed in the middle of
// an SMTP conversation.
var _ = Describe("The mail sender killed mid-delivery", Label("fault"), func() {
	It("delivers the message once after a restart, with the same Message-ID", SpecTimeout(2*time.Minute), func(_ SpecContext) {
		if os.Getenv("ROSTER_TEST_DATABASE_URL") == "" {
			Skip("PostgreSQL only: set ROSTER_TEST_DATABASE_URL")
		}
		smtp := newStallSMTP()
		smtp.stall.Store(true)
		db := newTestDatabase()
		env := db.env(append(adminEnv(), "ROSTER_SMTP_URL=smtp://"+smtp.Addr, "ROSTER_MAIL_POLL_INTERVAL=100ms",
			"ROSTER_MAIL_SEND_TIMEOUT=2s", "ROSTER_MAIL_LEASE=4s", "ROSTER_MAIL_RETRY_BASE=100ms")...)

		By("a reset mail is in the middle of its DATA when the process is killed")
		first := startRoster(env)
		admin := first.login(e2eAdminEmail, e2eAdminPassword)
		Expect(admin.do("POST", "auth/resetpassword", map[string]any{"email": e2eAdminEmail}).status).To(Equal(200))
		Eventually(smtp.dataIn, 20*time.Second).Should(BeClosed())
		Expect(first.cmd.Process.Kill()).To(Succeed())
		Eventually(first.exited, 10*time.Second).Should(BeTrue())
		Expect(smtp.acknowledged()).To(BeEmpty(), "the server never accepted the message")

		By("after a restart the lease runs out and the message is delivered, once")
		smtp.stall.Store(false)
		second := startRoster(env)
		Eventually(smtp.acknowledged, 30*time.Second, 100*time.Millisecond).Should(HaveLen(1))
		Consistently(smtp.acknowledged, 2*time.Second, 100*time.Millisecond).Should(HaveLen(1))
		Expect(smtp.received()).To(HaveLen(2), "the interrupted attempt and the delivery")
		Expect(smtp.received()[0]).To(Equal(smtp.received()[1]), "both attempts carry the same Message-ID")

		c := second.login(e2eAdminEmail, e2eAdminPassword)
		project := c.do("GET", "auth/me", nil).json()["project"].(map[string]any)["id"].(string)
		var list []map[string]any
		Expect(json.Unmarshal(c.do("GET", "admin/projects/"+project+"/mail", nil).body, &list)).To(Succeed())
		Expect(list).To(HaveLen(1))
		Expect(list[0]).To(And(HaveKeyWithValue("status", "sent"), HaveKeyWithValue("attempts", BeEquivalentTo(2))))
	})
})

// stallSMTP is an SMTP stub that, while stall is set, takes a message's
// DATA and never answers it — a delivery caught in flight.
type stallSMTP struct {
	*fixtures.SMTPStub
	stall  atomic.Bool
	dataIn chan struct{} // closed when a stalled DATA has been read
	once   sync.Once
	mu     sync.Mutex
	seen   []string // Message-IDs of every DATA read
	acked  []string // Message-IDs answered 250
}

func newStallSMTP() *stallSMTP {
	GinkgoHelper()
	s := &stallSMTP{dataIn: make(chan struct{})}
	s.SMTPStub = fixtures.StartSMTPStub(GinkgoT(), func(msg string) bool {
		id := messageID(msg)
		s.mu.Lock()
		s.seen = append(s.seen, id)
		s.mu.Unlock()
		if s.stall.Load() {
			s.once.Do(func() { close(s.dataIn) })
			return false
		}
		s.mu.Lock()
		s.acked = append(s.acked, id)
		s.mu.Unlock()
		return true
	})
	return s
}

// messageID is the Message-ID of a message's text, "" if it has none.
func messageID(msg string) string {
	for _, l := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (s *stallSMTP) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func (s *stallSMTP) acknowledged() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}
