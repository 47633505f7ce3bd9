package console_test

import (
	"testing"

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

var _ = BeforeSuite(func() {
	mailpit = fixtures.Mailpit(GinkgoT())
	srv = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.SMTPURL = mailpit.SMTPURL }})
	DeferCleanup(srv.Close)
})
