package console_test

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

func TestConsole(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admin Console Suite")
}

// srv is the suite's server, mailing through mailpit; specs keep out of
// each other's way with projects and emails of their own.
var (
	srv     *fixtures.Server
	mailpit *fixtures.MailpitClient
)

// clock is srv's clock: the real time, moved on by a spec that needs a
// token or a session to run out (advanceClock).
var clock struct{ offset atomic.Int64 }

func clockNow() time.Time { return time.Now().Add(time.Duration(clock.offset.Load())) }

// advanceClock moves srv's clock on by d until the spec ends.
func advanceClock(d time.Duration) {
	clock.offset.Add(int64(d))
	DeferCleanup(func() { clock.offset.Add(-int64(d)) })
}

var _ = BeforeSuite(func() {
	mailpit = fixtures.Mailpit(GinkgoT())
	srv = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
		c.SMTPURL, c.Now = mailpit.SMTPURL, clockNow
	}})
	DeferCleanup(srv.Close)
})
