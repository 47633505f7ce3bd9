package admin_test

import (
	"io"
	"net/http"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("The invite story over real SMTP (Mailpit)", Label("mailpit"), func() {
	It("mails the invitee a link that sets a password, after which they sign in to their membership", func() {
		mp := fixtures.Mailpit(GinkgoT())
		s := fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.SMTPURL = mp.SMTPURL }})
		DeferCleanup(s.Close)
		p := newProject(s)
		email := emailFor("invitee")

		By("a project admin inviting a practitioner")
		r := invite(s, p.Token, p.ID, practitioner(email))
		Expect(r.Status).To(Equal(200), string(r.Body))
		membership := r.JSON()

		By("the welcome mail arriving")
		Eventually(mp.Count).WithArguments(email).WithTimeout(15 * time.Second).Should(Equal(1))
		msgs, err := mp.Messages(email)
		Expect(err).NotTo(HaveOccurred())
		name := do(s, "GET", "admin/projects/"+p.ID, p.Token, nil).JSON()["project"].(map[string]any)["name"].(string)
		Expect(msgs[0].Subject).To(Equal("Welcome to " + name))
		link, err := mp.FirstURL(msgs[0].ID, s.App.Config.AppURL+"setpassword/")
		Expect(err).NotTo(HaveOccurred())

		By("following the link to the set-password page")
		page, err := http.Get(link)
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(page.Body)
		page.Body.Close()
		Expect(page.StatusCode).To(Equal(200))
		Expect(string(body)).To(ContainSubstring("Choose your password"))

		By("setting a password with the page's form")
		done, err := http.PostForm(link, url.Values{"password": {"my-new-password-1"}})
		Expect(err).NotTo(HaveOccurred())
		body, _ = io.ReadAll(done.Body)
		done.Body.Close()
		Expect(done.StatusCode).To(Equal(200), string(body))
		Expect(string(body)).To(ContainSubstring("Your password has been set"))

		By("signing in as the invitee and seeing the membership and profile in /auth/me")
		token, err := s.Login(email, "my-new-password-1")
		Expect(err).NotTo(HaveOccurred())
		me := do(s, "GET", "auth/me", token, nil)
		Expect(me.Status).To(Equal(200))
		Expect(me.JSON()["membership"]).To(HaveKeyWithValue("id", membership["id"]))
		profile := me.JSON()["profile"].(map[string]any)
		Expect(profile["resourceType"].(string) + "/" + profile["id"].(string)).To(Equal(ref(membership, "profile")))
		Expect(me.JSON()["project"]).To(HaveKeyWithValue("id", p.ID))

		By("the link working only once")
		again, err := http.PostForm(link, url.Values{"password": {"another-password-2"}})
		Expect(err).NotTo(HaveOccurred())
		body, _ = io.ReadAll(again.Body)
		again.Body.Close()
		Expect(string(body)).NotTo(ContainSubstring("Your password has been set"))
		_, err = s.Login(email, "another-password-2")
		Expect(err).To(HaveOccurred())
	})
})
