package console_test

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// mailedLink waits for the n-th mail to email and returns the set-password
// link in it.
func mailedLink(email string, n int) string {
	GinkgoHelper()
	text, err := mailpit.WaitText(email, n, 30*time.Second)
	Expect(err).NotTo(HaveOccurred())
	id, secret, err := srv.SetPasswordLink(text)
	Expect(err).NotTo(HaveOccurred())
	return srv.App.Config.AppURL + "setpassword/" + id + "/" + secret
}

// rowText is the text of the members table's row of email, as the browser
// shows it.
func rowText(ctx context.Context, email string) string {
	GinkgoHelper()
	return read(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const row = [...document.querySelectorAll('table.members tbody tr')].find(r => r.textContent.includes(%q));
		return row ? row.innerText : '';
	})()`, email)))
}

// membersPage opens the table, filtered by q.
func membersPage(ctx context.Context, project, q string) {
	GinkgoHelper()
	browse(ctx,
		chromedp.Navigate(srv.URL+"console/projects/"+project+"/members?q="+url.QueryEscape(q)),
		chromedp.WaitVisible(chromedp.CSS("table.members")),
	)
}

// act opens the actions of email's row with the keyboard, picks action,
// and confirms it in the dialog.
func act(ctx context.Context, email, action string) {
	GinkgoHelper()
	id := read(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const row = [...document.querySelectorAll('table.members tbody tr')].find(r => r.textContent.includes(%q));
		return row ? row.id : '';
	})()`, email)))
	Expect(id).NotTo(BeEmpty())
	browse(ctx,
		chromedp.Focus(chromedp.CSS("#"+id+" summary")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#"+id+` a[data-action="`+action+`"]`)),
		chromedp.Focus(chromedp.CSS("#"+id+` a[data-action="`+action+`"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
	)
	Expect(read(ctx, chromedp.Evaluate[string](`document.activeElement.id`))).To(Equal("confirm-title"), "focus moves into the dialog, on its question")
	Expect(read(ctx, chromedp.Evaluate[bool](`document.getElementById('confirm').open`))).To(BeTrue(), "the key that opened it pressed nothing in it")
}

// invited invites a practitioner through the API as admin.
func invited(admin account, first, last, email string) string {
	GinkgoHelper()
	r, err := srv.Do("POST", "admin/projects/"+admin.Project+"/invite", admin.Token, map[string]any{"resourceType": "Practitioner",
		"firstName": first, "lastName": last, "email": email})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r.JSON()["id"].(string)
}

var _ = Describe("The console in a browser", Label("browser"), func() {
	var (
		browser context.Context
		admin   account
	)

	BeforeEach(func() {
		browser = newBrowser()
		admin = newAdmin()
	})

	It("signs in on Roster's page, invites a member, and shows them accepted once they set a password from the mail", func() {
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		Expect(read(browser, chromedp.Location())).To(Equal(srv.URL + "console/projects/" + admin.Project + "/members"))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#project-name")))).To(HavePrefix("Clinic "))

		By("the invite form showing the API's errors beside the fields")
		email := "mary-" + fixtures.Uniq() + "@example.com"
		browse(browser,
			chromedp.Click(chromedp.CSS(`.actions-bar a[href$="/invite"]`)),
			chromedp.WaitVisible(chromedp.CSS("#firstName")),
			chromedp.SendKeys(chromedp.CSS("#firstName"), "Mary"),
			chromedp.SendKeys(chromedp.CSS("#email"), "mary at example"),
			chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#email-error")),
		)
		Expect(read(browser, chromedp.Text(chromedp.CSS("#lastName-error")))).To(Equal("Last name is required"))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#email-error")))).To(ContainSubstring("Invalid email address"))
		Expect(read(browser, chromedp.Evaluate[string](`document.getElementById('email').getAttribute('aria-describedby')`))).To(Equal("email-error"))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#error")))).To(HavePrefix("The invite was refused"))
		screenshot(browser, "invite-errors")

		browse(browser,
			chromedp.SendKeys(chromedp.CSS("#lastName"), "Seacole"),
			chromedp.SetValue(chromedp.CSS("#email"), email),
			chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`main[data-page="Members"]`)),
		)
		Expect(read(browser, chromedp.Text(chromedp.CSS("#status")))).To(Equal("The invitation was sent; the new member is pending."))
		Expect(rowText(browser, email)).To(SatisfyAll(ContainSubstring("Mary Seacole"), ContainSubstring("pending"), ContainSubstring("Active")))

		By("the invitee setting a password with the mailed link")
		link := mailedLink(email, 1)
		browse(browser,
			chromedp.Navigate(link),
			chromedp.WaitVisible(chromedp.CSS("#password")),
			chromedp.SendKeys(chromedp.CSS("#password"), "lantern-tundra-mosaic-88"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`main[data-state="done"]`)),
		)
		membersPage(browser, admin.Project, email)
		Expect(rowText(browser, email)).To(ContainSubstring("accepted"))
		screenshot(browser, "members-filtered")
	})

	It("resends an invitation from the table, in place: the old link dies and the new one works", func() {
		email := "resend-" + fixtures.Uniq() + "@example.com"
		invited(admin, "Rosa", "Send", email)
		old := mailedLink(email, 1)
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		membersPage(browser, admin.Project, email)
		read(browser, chromedp.Evaluate[chromedp.Void](`window.rosterMarker = 42`))

		act(browser, email, "resend")
		Expect(read(browser, chromedp.Text(chromedp.CSS("#confirm-text")))).To(ContainSubstring("the old one stops working"))
		screenshot(browser, "confirm-dialog")
		browse(browser,
			chromedp.Click(chromedp.CSS("#confirm-ok")),
			chromedp.WaitNotVisible(chromedp.CSS("#confirm")),
		)
		Eventually(poll(browser, chromedp.Text(chromedp.CSS("#status")))).
			Should(ContainSubstring("the old link no longer works"))
		Expect(read(browser, chromedp.Evaluate[int](`window.rosterMarker`))).To(Equal(42), "no page load")

		fresh := mailedLink(email, 2)
		Expect(fresh).NotTo(Equal(old))
		r, err := http.Get(old)
		Expect(err).NotTo(HaveOccurred())
		r.Body.Close()
		Expect(r.StatusCode).To(Equal(http.StatusGone), "the old link is dead")
		r, err = http.Get(fresh)
		Expect(err).NotTo(HaveOccurred())
		r.Body.Close()
		Expect(r.StatusCode).To(Equal(http.StatusOK))
	})

	It("revokes an invitation, and the table shows it revoked and the membership deactivated, without a reload", func() {
		email := "revoke-" + fixtures.Uniq() + "@example.com"
		invited(admin, "Rex", "Voke", email)
		link := mailedLink(email, 1)
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		membersPage(browser, admin.Project, email)
		read(browser, chromedp.Evaluate[chromedp.Void](`window.rosterMarker = 7`))
		act(browser, email, "revoke")
		browse(browser, chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotVisible(chromedp.CSS("#confirm")))
		Eventually(func() string { return rowText(browser, email) }).Should(SatisfyAll(ContainSubstring("revoked"), ContainSubstring("Deactivated")))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#status")))).To(Equal("The invitation was revoked."))
		Expect(read(browser, chromedp.Evaluate[int](`window.rosterMarker`))).To(Equal(7))
		Expect(read(browser, chromedp.Evaluate[string](`document.activeElement.tagName`))).To(Equal("SUMMARY"), "focus back on the row's actions")
		r, err := http.Get(link)
		Expect(err).NotTo(HaveOccurred())
		r.Body.Close()
		Expect(r.StatusCode).To(Equal(http.StatusGone))
	})

	It("copies a fresh link for a member when mail is off, and shows the member's page with its events", func() {
		r, err := srv.Do("POST", "admin/projects/"+admin.Project+"/invite", admin.Token, map[string]any{"resourceType": "Practitioner",
			"firstName": "Otto", "lastName": "Offline", "email": "otto-" + fixtures.Uniq() + "@example.com", "sendEmail": false})
		Expect(err).NotTo(HaveOccurred())
		member := r.JSON()["id"].(string)
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		browse(browser,
			chromedp.Navigate(srv.URL+"console/projects/"+admin.Project+"/members/"+member),
			chromedp.WaitVisible(chromedp.CSS(".events")),
			chromedp.Click(chromedp.CSS(`a[data-action="link"]`)),
			chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
			chromedp.Click(chromedp.CSS("#confirm-ok")),
			chromedp.WaitVisible(chromedp.CSS("#confirm-link-input")),
		)
		link := read(browser, chromedp.Value(chromedp.CSS("#confirm-link-input")))
		Expect(link).To(HavePrefix(srv.App.Config.AppURL + "setpassword/"))
		screenshot(browser, "fresh-link")
		resp, err := http.Get(link)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))

		browse(browser, chromedp.Click(chromedp.CSS("#confirm-cancel")))
		Eventually(func() string {
			// The page is being read again: a query may meet no document.
			text, _ := chromedp.Run(within(browser), chromedp.Evaluate[string](`document.querySelector('.events') ? document.querySelector('.events').innerText : ''`))
			return text
		}).WithTimeout(10*time.Second).
			Should(ContainSubstring("Link made to hand over"), "the page is read again once the dialog closes")
		events := read(browser, chromedp.Text(chromedp.CSS(".events")))
		Expect(events).To(ContainSubstring("Invited"))
		Expect(events).To(ContainSubstring("Pat Admin"))
		screenshot(browser, "member")
	})

	It("previews a CSV of 200 rows with a bad one, runs it with progress to 100 %, and gives a result file listing every row", func() {
		tag := fixtures.Uniq()
		var b strings.Builder
		b.WriteString("resourceType,firstName,lastName,email,sendEmail\n")
		for i := 1; i <= 200; i++ {
			email := fmt.Sprintf("row%03d-%s@example.com", i, tag)
			if i == 57 {
				email = "row-57-is-no-address"
			}
			fmt.Fprintf(&b, "Practitioner,Bulk%03d,Person,%s,false\n", i, email)
		}
		file := filepath.Join(GinkgoT().TempDir(), "staff.csv")
		Expect(os.WriteFile(file, []byte(b.String()), 0o644)).To(Succeed())

		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		browse(browser,
			chromedp.Navigate(srv.URL+"console/projects/"+admin.Project+"/bulk"),
			chromedp.WaitVisible(chromedp.CSS("#file")),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
			chromedp.Click(chromedp.CSS(`#bulk-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#bulk-summary")),
		)
		Expect(read(browser, chromedp.Text(chromedp.CSS("#bulk-summary")))).To(HavePrefix("200 rows: 199 ready, 1 with errors"))
		bad := read(browser, chromedp.Text(chromedp.CSS("tr.bad")))
		Expect(bad).To(SatisfyAll(ContainSubstring("58"), ContainSubstring("row-57-is-no-address"), ContainSubstring("Invalid email address")))
		Expect(read(browser, chromedp.Evaluate[int](`document.querySelectorAll('table.preview tbody tr').length`))).To(Equal(200))
		r, err := srv.Do("GET", "admin/projects/"+admin.Project+"/members?q="+tag, admin.Token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.JSON()["total"]).To(BeNumerically("==", 0), "the preview wrote nothing")
		screenshotTop(browser, "bulk-preview")

		read(browser, chromedp.Evaluate[chromedp.Void](`window.rosterMarker = 9;
			window.progressSeen = [];
			new MutationObserver(() => window.progressSeen.push(document.getElementById('bulk-progress').value))
				.observe(document.getElementById('bulk-status'), {childList: true, characterData: true, subtree: true});`))
		browse(browser,
			chromedp.Click(chromedp.CSS(`#bulk-run button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#bulk-download")),
		)
		Expect(read(browser, chromedp.Text(chromedp.CSS("#bulk-status")))).To(Equal("200 of 200 rows (100 %)"))
		Expect(read(browser, chromedp.Evaluate[float64](`document.getElementById('bulk-progress').value`))).To(Equal(200.0))
		Expect(read(browser, chromedp.Evaluate[[]float64](`window.progressSeen`))).To(ContainElement(BeNumerically("<", 200)), "progress was shown along the way")
		Expect(read(browser, chromedp.Evaluate[int](`window.rosterMarker`))).To(Equal(9), "no page load")
		Expect(read(browser, chromedp.Text(chromedp.CSS("#bulk-outcome")))).To(Equal("Done: 200 rows — 199 created, 0 updated, 0 unchanged, 1 failed."))
		screenshotTop(browser, "bulk-result")

		href := read(browser, chromedp.Evaluate[string](`document.getElementById('bulk-download').href`))
		Expect(read(browser, chromedp.Evaluate[string](`document.getElementById('bulk-download').getAttribute('download')`))).To(Equal("invite-result.csv"))
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(href, "data:text/csv;charset=utf-8;base64,"))
		Expect(err).NotTo(HaveOccurred())
		records, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(records).To(HaveLen(201))
		Expect(records[0]).To(Equal([]string{"row", "outcome", "membershipId", "error"}))
		for i, rec := range records[1:] {
			Expect(rec[0]).To(Equal(fmt.Sprint(i + 2)))
			if i+1 == 57 {
				Expect(rec[1]).To(Equal("error"))
				Expect(rec[3]).To(ContainSubstring("Invalid email address"))
				continue
			}
			Expect(rec[1]).To(Equal("created"), "row %s", rec[0])
			Expect(rec[2]).NotTo(BeEmpty())
		}
		r, err = srv.Do("GET", "admin/projects/"+admin.Project+"/members?q="+tag+"&invitation=pending&_count=1", admin.Token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.JSON()["total"]).To(BeNumerically("==", 199))
	})

	It("tells a member who administers nothing, plainly, that the console is not for them", func() {
		email := "plain-member-" + fixtures.Uniq() + "@example.com"
		Expect(srv.AddMember(admin.Project, email, "Mo", "Member", fixtures.AdminPassword, false)).To(Succeed())
		browse(browser, chromedp.Navigate(srv.URL+"console/"), chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), fixtures.AdminPassword),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#error")))
		Expect(read(browser, chromedp.Text(chromedp.CSS("h1")))).To(Equal("Not allowed"))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#error")))).To(ContainSubstring("is not an administrator of any project"))
		screenshot(browser, "refused")
		browse(browser, chromedp.Navigate(srv.URL+"console/projects/"+admin.Project+"/members"), chromedp.WaitVisible(chromedp.CSS("#email")))
		Expect(read(browser, chromedp.Location())).To(HavePrefix(srv.URL+"oauth2/authorize"), "no session was kept")
	})

	It("refuses a form post that lacks the CSRF token, and writes nothing", func() {
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		email := "forged-" + fixtures.Uniq() + "@example.com"
		status := read(browser, chromedp.Evaluate[int](fmt.Sprintf(`fetch('/console/projects/%s/invite', {method: 'POST',
			body: new URLSearchParams({resourceType: 'Practitioner', firstName: 'For', lastName: 'Ged', email: %q})}).then(r => r.status)`,
			admin.Project, email), chromedp.EvalAwaitPromise))
		Expect(status).To(Equal(http.StatusForbidden))
		r, err := srv.Do("GET", "admin/projects/"+admin.Project+"/members?q="+url.QueryEscape(email), admin.Token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.JSON()["total"]).To(BeNumerically("==", 0))
	})

	It("works at phone width and with the keyboard, focus always visible", func() {
		for _, n := range []string{"Ana", "Ben", "Cy"} {
			invited(admin, n, "Phone", strings.ToLower(n)+"-"+fixtures.Uniq()+"@example.com")
		}
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		screenshot(browser, "members")
		browse(browser,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("table.members")),
		)
		Expect(read(browser, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))).To(BeTrue(), "no sideways scrolling")
		Expect(read(browser, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('table.members tbody td')).display`))).To(Equal("grid"), "rows become labelled cards")
		screenshot(browser, "members-phone")
		_, err := chromedp.Call(within(browser), emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		Expect(err).NotTo(HaveOccurred())

		browse(browser, chromedp.Focus(chromedp.CSS("#q")), chromedp.KeyEvent(kb.Tab))
		Expect(read(browser, chromedp.Evaluate[string](`document.activeElement.id`))).To(Equal("filter-status"))
		Expect(read(browser, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))).To(Equal("solid"))
		Expect(read(browser, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineWidth`))).To(Equal("3px"))
		browse(browser, chromedp.Focus(chromedp.CSS("#q")), chromedp.SendKeys(chromedp.CSS("#q"), "ben"+kb.Enter),
			chromedp.WaitVisible(chromedp.CSS("#count")))
		Eventually(poll(browser, chromedp.Text(chromedp.CSS("#count")))).Should(Equal("Showing 1–1 of 1 members"))
	})

	It("lists the projects of someone who administers two, and signs out", func() {
		other := newAdmin()
		r, err := srv.Do("POST", "admin/projects/"+other.Project+"/invite", other.Token, map[string]any{"resourceType": "Practitioner",
			"firstName": "Pat", "lastName": "Admin", "email": admin.Email, "membership": map[string]any{"admin": true}})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(200), string(r.Body))
		browse(browser, chromedp.Navigate(srv.URL+"console/"), chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), admin.Email), chromedp.SendKeys(chromedp.CSS("#password"), fixtures.AdminPassword),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="profile"]`)),
			chromedp.Click(chromedp.CSS(`#choose-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("ul.projects")),
		)
		Expect(read(browser, chromedp.Evaluate[int](`document.querySelectorAll('ul.projects li').length`))).To(Equal(2))
		Expect(read(browser, chromedp.Text(chromedp.CSS("ul.projects")))).To(ContainSubstring("Sign in to open"))
		screenshot(browser, "projects")

		browse(browser, chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`main[data-page="Signed out"]`)))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#status")))).To(Equal("You signed out of the console."))
		browse(browser, chromedp.Navigate(srv.URL+"console/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	})

	It("does an action without JavaScript, confirmed on a page of its own", func() {
		email := "noscript-" + fixtures.Uniq() + "@example.com"
		invited(admin, "Nell", "Script", email)
		_, err := chromedp.Call(within(browser), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		Expect(err).NotTo(HaveOccurred())
		signInBrowser(browser, admin.Email, fixtures.AdminPassword)
		membersPage(browser, admin.Project, email)
		row := read(browser, chromedp.AttributeValue(chromedp.CSS("table.members tbody tr"), "id"))
		browse(browser,
			chromedp.Click(chromedp.CSS("#"+row.Value+" summary")),
			chromedp.Click(chromedp.CSS("#"+row.Value+` a[data-action="deactivate"]`)),
			chromedp.WaitVisible(chromedp.CSS("#action-form")),
		)
		screenshot(browser, "confirm-page")
		browse(browser, chromedp.Click(chromedp.CSS(`#action-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("table.members")))
		Expect(read(browser, chromedp.Text(chromedp.CSS("#status")))).To(Equal("The membership was deactivated."))
		Expect(rowText(browser, email)).To(ContainSubstring("Deactivated"))
	})
})
