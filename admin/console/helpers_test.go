package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// account is a signed-in person of a spec's own project.
type account struct {
	Project, Email, Token string
}

// newAdmin is a fresh project and its admin (password
// fixtures.AdminPassword), who administers that project alone.
func newAdmin() account {
	GinkgoHelper()
	id, token, email, err := srv.ProjectAdmin("Clinic " + fixtures.Uniq())
	Expect(err).NotTo(HaveOccurred())
	return account{Project: id, Email: email, Token: token}
}

// visitor is a browser without JavaScript, made of an HTTP client that
// keeps cookies and stops at redirects.
type visitor struct{ hc *http.Client }

func newVisitor() *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// answer is what the visitor got.
type answer struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (v *visitor) send(method, target string, form url.Values, headers ...string) answer {
	GinkgoHelper()
	if !strings.HasPrefix(target, "http") {
		target = strings.TrimSuffix(srv.URL, "/") + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	Expect(err).NotTo(HaveOccurred())
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := v.hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(raw)}
}

func (v *visitor) get(target string) answer {
	GinkgoHelper()
	return v.send(http.MethodGet, target, nil)
}

func (v *visitor) post(target string, form url.Values) answer {
	GinkgoHelper()
	return v.send(http.MethodPost, target, form)
}

// cookie is the visitor's cookie name for the console's pages.
func (v *visitor) cookie(name string) *http.Cookie {
	u, _ := url.Parse(srv.URL + "console/")
	for _, c := range v.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formOf is the hidden fields of a page's form.
func formOf(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// signIn runs the console's sign-in as a browser without JavaScript: the
// console sends it to Roster's sign-in page, whose form sends it back to
// the console with a code. It returns the console's last answer.
func (v *visitor) signIn(email, password string) answer {
	GinkgoHelper()
	start := v.get("/console/signin")
	Expect(start.status).To(Equal(http.StatusFound), start.body)
	Expect(start.location).To(HavePrefix(srv.URL + "oauth2/authorize?"))
	page := v.get(start.location)
	Expect(page.status).To(Equal(http.StatusOK), page.body)
	form := formOf(page.body)
	form.Set("email", email)
	form.Set("password", password)
	back := v.post("/oauth2/authorize", form)
	if back.status != http.StatusSeeOther {
		return back
	}
	Expect(back.location).To(HavePrefix(srv.URL + "console/callback?"))
	return v.get(back.location)
}

// csrfOf is the CSRF token of a console page's forms.
func csrfOf(body string) string {
	GinkgoHelper()
	return formOf(body).Get("csrf")
}

// ---- the browser ----

// newBrowser starts a headless Chromium for one spec (fixtures.Browser).
func newBrowser() context.Context {
	GinkgoHelper()
	return fixtures.Browser(GinkgoT(), chromedp.WindowSize(1280, 900))
}

// read runs one browser query, which must succeed, and returns its result.
func read[T any](ctx context.Context, q chromedp.Action[T]) T {
	GinkgoHelper()
	v, err := chromedp.Run(ctx, q)
	Expect(err).NotTo(HaveOccurred())
	return v
}

// poll is a browser query for Eventually, which retries it while it fails:
// a page that is still navigating has no context to run it in.
func poll[T any](ctx context.Context, q chromedp.Action[T]) func() (T, error) {
	return func() (T, error) { return chromedp.Run(within(ctx), q) }
}

// within bounds one browser step.
func within(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	DeferCleanup(cancel)
	return c
}

// browse runs browser steps, which must all succeed.
func browse(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	GinkgoHelper()
	Expect(chromedp.Do(within(ctx), steps...)).To(Succeed())
}

// signInBrowser signs in on Roster's page, starting from the console.
func signInBrowser(ctx context.Context, email, password string) {
	GinkgoHelper()
	browse(ctx,
		chromedp.Navigate(srv.URL+"console/"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	Expect(read(ctx, chromedp.Text(chromedp.CSS("#client")))).To(Equal("Roster console"))
	browse(ctx,
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main[data-page]")),
	)
}

// screenshotDir is where the specs write screenshots of the console's
// pages, one folder per database: $ROSTER_SCREENSHOTS, else
// testdata/screenshots (git-ignored).
func screenshotDir() string {
	dir := os.Getenv("ROSTER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	db := "sqlite"
	if fixtures.DatabaseURL() != "" {
		db = "postgres"
	}
	return filepath.Join(dir, db)
}

// screenshot writes the whole page as a PNG named name.
func screenshot(ctx context.Context, name string) {
	GinkgoHelper()
	save(name, read(within(ctx), chromedp.FullScreenshot(100)))
}

// screenshotTop writes what the window shows of a long page, from its top.
func screenshotTop(ctx context.Context, name string) {
	GinkgoHelper()
	read(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	save(name, read(within(ctx), chromedp.CaptureScreenshot()))
}

func save(name string, png []byte) {
	GinkgoHelper()
	dir := screenshotDir()
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)).To(Succeed())
}
