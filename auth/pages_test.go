package auth_test

import (
	"context"
	"net/url"
	"regexp"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

const formPost = "application/x-www-form-urlencoded"

func pagePath(id, secret string) string { return "setpassword/" + id + "/" + secret }

var _ = Describe("The set-password page", func() {
	env := freshPasswordEnv()

	It("serves an accessible form with strict headers, without using the link", func() {
		id, secret := env.link(auth.LinkSetPassword, time.Hour)
		r := env.do("GET", pagePath(id, secret), "", nil)
		Expect(r.Status).To(Equal(200))
		Expect(r.Header.Get("Content-Type")).To(Equal("text/html; charset=UTF-8"))
		Expect(r.Header.Get("Content-Security-Policy")).To(Equal("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"))
		Expect(r.Header.Get("Referrer-Policy")).To(Equal("no-referrer"))
		Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
		Expect(r.Header.Get("X-Content-Type-Options")).To(Equal("nosniff"))

		html := string(r.Body)
		Expect(html).To(ContainSubstring(`<html lang="en">`))
		Expect(html).To(ContainSubstring(`<label for="password">`))
		Expect(html).To(MatchRegexp(`<input id="password" name="password" type="password" autocomplete="new-password"`))
		Expect(html).To(MatchRegexp(`id="error"[^>]*role="alert"[^>]*aria-live="assertive"`))
		Expect(html).To(MatchRegexp(`role="status" aria-live="polite"`))
		Expect(html).To(ContainSubstring(`<form id="setpassword-form" method="post"`))
		Expect(html).To(ContainSubstring(env.email), "the page names the account")
		Expect(html).To(ContainSubstring(`<script src="../assets/page.js" defer></script>`))
		Expect(regexp.MustCompile(`<script[^>]*>[^<]+</script>`).FindString(html)).To(BeEmpty(), "no inline script")
		Expect(html).NotTo(ContainSubstring("style="), "no inline style")
		Expect(html).NotTo(ContainSubstring("<style"))

		Expect(env.storedLink(id).UsedAt).To(BeZero(), "GET does not consume the link")
		Expect(env.setPassword(id, secret, "still-works-after-get").Status).To(Equal(200))
	})

	It("serves its script and stylesheet from embedded files", func() {
		js := env.do("GET", "setpassword/assets/page.js", "", nil)
		Expect(js.Status).To(Equal(200))
		Expect(js.Header.Get("Content-Type")).To(HavePrefix("text/javascript"))
		Expect(string(js.Body)).To(ContainSubstring("fetch("))
		css := env.do("GET", "setpassword/assets/page.css", "", nil)
		Expect(css.Status).To(Equal(200))
		Expect(css.Header.Get("Content-Type")).To(HavePrefix("text/css"))
		Expect(env.do("GET", "setpassword/assets/setpassword.html", "", nil).Status).To(Equal(404))
	})

	DescribeTable("says what is wrong with a link it cannot use",
		func(arrange func() (id, secret string), status int, text string) {
			id, secret := arrange()
			r := env.do("GET", pagePath(id, secret), "", nil)
			Expect(r.Status).To(Equal(status))
			Expect(r.Header.Get("Referrer-Policy")).To(Equal("no-referrer"))
			Expect(string(r.Body)).To(ContainSubstring(text))
			Expect(string(r.Body)).NotTo(ContainSubstring("<form"))
		},
		Entry("already used", func() (string, string) {
			id, secret := env.link(auth.LinkReset, time.Hour)
			Expect(env.setPassword(id, secret, "first-use-of-this-link").Status).To(Equal(200))
			return id, secret
		}, 410, "already been used"),
		Entry("expired", func() (string, string) {
			id, secret := env.link(auth.LinkReset, time.Millisecond)
			time.Sleep(5 * time.Millisecond)
			return id, secret
		}, 410, "has expired"),
		Entry("replaced by a newer link", func() (string, string) {
			id, secret := env.link(auth.LinkReset, time.Hour)
			env.link(auth.LinkReset, time.Hour)
			return id, secret
		}, 410, "newer one"),
		Entry("unknown", func() (string, string) {
			return "3f1c2a9e-0000-4000-8000-000000000000", auth.Secret()
		}, 404, "This link is invalid"),
		Entry("with a wrong secret", func() (string, string) {
			id, _ := env.link(auth.LinkReset, time.Hour)
			return id, auth.Secret()
		}, 404, "This link is invalid"),
	)

	It("counts a wrong secret on the page toward killing the link", func() {
		id, _ := env.link(auth.LinkReset, time.Hour)
		Expect(env.do("GET", pagePath(id, auth.Secret()), "", nil).Status).To(Equal(404))
		Expect(env.storedLink(id).Failures).To(Equal(1))
	})

	It("works without JavaScript: the form posts to the page itself", func() {
		id, secret := env.link(auth.LinkSetPassword, time.Hour)
		r := env.do("POST", pagePath(id, secret), "", "password=short", "Content-Type", formPost)
		Expect(r.Status).To(Equal(400))
		Expect(r.Header.Get("Content-Security-Policy")).NotTo(BeEmpty())
		Expect(string(r.Body)).To(MatchRegexp(`role="alert" aria-live="assertive">Password must be at least 8 characters<`))
		Expect(string(r.Body)).To(ContainSubstring(`aria-invalid="true"`))
		Expect(env.storedLink(id).UsedAt).To(BeZero())

		r = env.do("POST", pagePath(id, secret), "", "password="+url.QueryEscape("no-js password!"), "Content-Type", formPost)
		Expect(r.Status).To(Equal(200))
		Expect(string(r.Body)).To(ContainSubstring("Your password has been set."))
		Expect(string(r.Body)).NotTo(ContainSubstring("<form"))
		Expect(env.canLogin(env.email, "no-js password!")).To(BeTrue())
		Expect(env.do("GET", "auth/me", env.token, nil).Status).To(Equal(401))

		r = env.do("POST", pagePath(id, secret), "", "password=another-password", "Content-Type", formPost)
		Expect(r.Status).To(Equal(410))
		Expect(string(r.Body)).To(ContainSubstring("already been used"))
	})

	It("keeps the link's secret out of the request log", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		Expect(env.do("GET", pagePath(id, secret), "", nil).Status).To(Equal(200))
		Expect(env.log.String()).To(ContainSubstring("/setpassword/" + id + "/REDACTED"))
		Expect(env.log.String()).NotTo(ContainSubstring(secret))
	})
})

// chromium finds the browser for the page specs: /usr/bin/chromium (Debian)
// newBrowser starts a headless Chromium for one spec (fixtures.Browser).
func newBrowser() context.Context {
	GinkgoHelper()
	return fixtures.Browser(GinkgoT())
}

// read runs one browser query, which must succeed, and returns its result.
func read[T any](ctx context.Context, q chromedp.Action[T]) T {
	GinkgoHelper()
	v, err := chromedp.Run(ctx, q)
	Expect(err).NotTo(HaveOccurred())
	return v
}

// within bounds one browser step.
func within(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	DeferCleanup(cancel)
	return c
}

var _ = Describe("The set-password page in a browser", Label("browser"), func() {
	env := freshPasswordEnv()
	var browser context.Context

	BeforeEach(func() {
		browser = newBrowser()
	})

	It("sets the password through the API and says so; the new password signs in", func() {
		id, secret := env.link(auth.LinkSetPassword, 7*24*time.Hour)
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(env.srv.URL+pagePath(id, secret)),
			chromedp.WaitVisible(chromedp.CSS("#password")),
		)).To(Succeed())
		// A marker that a page load would wipe: the script must do the work.
		read(ctx, chromedp.Evaluate[chromedp.Void](`window.rosterMarker = 42`))
		Expect(chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#password"), "browser-chosen-pw"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitNotVisible(chromedp.CSS("#setpassword-form")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#status")))).To(ContainSubstring("Your password has been set"))
		Expect(read(ctx, chromedp.Evaluate[int](`window.rosterMarker`))).To(Equal(42), "no page load: the script posted to /auth/setpassword")
		Expect(env.log.String()).To(MatchRegexp(`method=POST path=/auth/setpassword status=200`))
		Expect(env.log.String()).NotTo(ContainSubstring("method=POST path=/setpassword/"))
		Expect(read(ctx, chromedp.Evaluate[string](`document.activeElement.id`))).To(Equal("status"), "focus moves to the outcome")

		Expect(env.canLogin(env.email, "browser-chosen-pw")).To(BeTrue())
		Expect(env.storedLink(id).UsedAt).NotTo(BeZero())
	})

	It("shows a too-short password in the alert region and keeps the form", func() {
		id, secret := env.link(auth.LinkReset, time.Hour)
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(env.srv.URL+pagePath(id, secret)),
			chromedp.SendKeys(chromedp.CSS("#password"), "short"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#error")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#error")))).To(ContainSubstring("at least 8 characters"))
		Expect(read(ctx, chromedp.Evaluate[string](`document.getElementById('password').getAttribute('aria-invalid')`))).To(Equal("true"))
		Expect(env.storedLink(id).UsedAt).To(BeZero())
	})

	It("works with JavaScript disabled", func() {
		id, secret := env.link(auth.LinkSetPassword, time.Hour)
		ctx := within(browser)
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(env.srv.URL+pagePath(id, secret)),
			chromedp.SendKeys(chromedp.CSS("#password"), "no-script-password"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitReady(chromedp.CSS(`main[data-state="done"]`)),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#status")))).To(ContainSubstring("Your password has been set"))
		Expect(env.log.String()).To(ContainSubstring("method=POST path=/setpassword/"+id+"/REDACTED status=200"), "the form posted to the page")
		Expect(env.log.String()).NotTo(ContainSubstring("path=/auth/setpassword"))
		Expect(env.canLogin(env.email, "no-script-password")).To(BeTrue())
	})

	It("shows an already-used link as already used, without a form", func() {
		id, secret := env.link(auth.LinkSetPassword, time.Hour)
		Expect(env.setPassword(id, secret, "used-elsewhere").Status).To(Equal(200))
		ctx := within(browser)
		Expect(chromedp.Do(ctx,
			chromedp.Navigate(env.srv.URL+pagePath(id, secret)),
			chromedp.WaitVisible(chromedp.CSS("#status")),
		)).To(Succeed())
		Expect(read(ctx, chromedp.Text(chromedp.CSS("#status")))).To(ContainSubstring("already been used"))
		Expect(read(ctx, chromedp.Evaluate[bool](`document.getElementById('setpassword-form') !== null`))).To(BeFalse())
	})
})
