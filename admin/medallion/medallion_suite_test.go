package medallion_test

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/fixtures/suite"
)

func TestMedallion(t *testing.T) {
	suite.Run(t, "Medallion dialect")
}

var (
	srv     *fixtures.Server
	mailbox *fixtures.MailpitClient // nil when no Mailpit can run here
)

var _ = BeforeSuite(func() {
	if _, ok := fixtures.MailpitBinary(); ok || os.Getenv("ROSTER_TEST_MAILPIT_URL") != "" || os.Getenv("CI") != "" {
		mailbox = fixtures.Mailpit(GinkgoT())
	}
	srv = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
		if mailbox != nil {
			c.SMTPURL = mailbox.SMTPURL
		}
		c.Mail.PollInterval = 100 * time.Millisecond
	}})
	DeferCleanup(srv.Close)
})

// requireMail skips a spec that reads the mailbox when no Mailpit runs here
// (never under CI, where fixtures.Mailpit fails instead).
func requireMail() {
	GinkgoHelper()
	if mailbox == nil {
		Skip("no Mailpit on this machine (go install github.com/axllent/mailpit@v1.27.11)")
	}
}

// org is one Medallion organization: a project and its API key.
type org struct {
	ID, Key, Name string
}

// newOrg creates a project and a ClientApplication whose secret is the API key.
func newOrg() org {
	GinkgoHelper()
	name := "Org " + fixtures.Uniq()
	id, err := srv.CreateProject(name)
	Expect(err).NotTo(HaveOccurred())
	r := srv.Call(GinkgoT(), "POST", "admin/projects/"+id+"/client", srv.AdminToken, map[string]any{"name": "medallion key", "admin": true})
	Expect(r.Status).To(Equal(201), string(r.Body))
	secret, _ := r.JSON()["secret"].(string)
	Expect(secret).NotTo(BeEmpty())
	return org{ID: id, Key: secret, Name: name}
}

// email is a fresh address for one test (Mailpit may be shared).
func email(tag string) string {
	return fmt.Sprintf("%s-%s@medallion.example.com", tag, fixtures.Uniq())
}

// call sends a request to the Medallion API with the org's API key.
func (o org) call(method, path string, body any) *fixtures.Response {
	GinkgoHelper()
	return do(method, path, body, "x-api-key", o.Key)
}

// asMember sends a request with a member's bearer token.
func asMember(token, method, path string, body any) *fixtures.Response {
	GinkgoHelper()
	return do(method, path, body, "Authorization", "Bearer "+token)
}

func do(method, path string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	return srv.Call(GinkgoT(), method, "p/api/v1/organizations/"+strings.TrimPrefix(path, "/"), "", body,
		append([]string{"Content-Type", "application/json", "Accept", "application/json"}, headers...)...)
}

func obj(r *fixtures.Response) map[string]any {
	GinkgoHelper()
	m := r.JSON()
	Expect(m).NotTo(BeNil(), string(r.Body))
	return m
}

// createMember creates a member and returns its answer.
func (o org) createMember(role, addr string, extra map[string]any) map[string]any {
	GinkgoHelper()
	body := map[string]any{"role": role, "user": map[string]any{"email": addr}}
	for k, v := range extra {
		body[k] = v
	}
	r := o.call("POST", "members/", body)
	Expect(r.Status).To(Equal(201), string(r.Body))
	return obj(r)
}

// invite creates an invite for a member and returns its answer.
func (o org) invite(memberID string) map[string]any {
	GinkgoHelper()
	r := o.call("POST", o.ID+"/invites/", map[string]string{"membership_id": memberID})
	Expect(r.Status).To(Equal(201), string(r.Body))
	return obj(r)
}

// mails returns the messages to addr, newest first, waiting for count of them.
func mails(addr string, count int) []fixtures.MailpitMessage {
	GinkgoHelper()
	requireMail()
	var msgs []fixtures.MailpitMessage
	Eventually(func() int {
		var err error
		msgs, err = mailbox.Messages(addr)
		Expect(err).NotTo(HaveOccurred())
		return len(msgs)
	}).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(BeNumerically(">=", count))
	return msgs
}

// setPasswordLink is the id and secret of the newest set-password link mailed to addr.
func setPasswordLink(addr string, count int) (id, secret string) {
	GinkgoHelper()
	msgs := mails(addr, count)
	link, err := mailbox.FirstURL(msgs[0].ID, srv.URL+"setpassword/")
	Expect(err).NotTo(HaveOccurred())
	u, err := url.Parse(link)
	Expect(err).NotTo(HaveOccurred())
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	Expect(parts).To(HaveLen(3), link)
	return parts[1], parts[2]
}

// setPassword redeems a link through the core API.
func setPassword(id, secret, password string) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.SetPassword(id, secret, password)
	Expect(err).NotTo(HaveOccurred())
	return r
}

const memberPassword = "medallion-member-pw-1"

// signUp invites a new member, follows the mailed link and signs them in.
func (o org) signUp(role, addr string, extra map[string]any) (member map[string]any, token string) {
	GinkgoHelper()
	member = o.createMember(role, addr, extra)
	o.invite(member["id"].(string))
	id, secret := setPasswordLink(addr, 1)
	r := setPassword(id, secret, memberPassword)
	Expect(r.Status).To(Equal(200), string(r.Body))
	token, err := srv.Login(addr, memberPassword)
	Expect(err).NotTo(HaveOccurred())
	return member, token
}
