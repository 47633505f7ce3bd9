package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// page is what every console template renders.
type page struct {
	Title string
	// Set by render: where the console and the shared stylesheet are, who
	// is signed in, and the CSRF token of its forms.
	Prefix string
	Shared string
	User   string
	CSRF   string

	Project *projectEntry // the project the page is about, if any
	Notice  string        // said in the status region
	Error   string        // said in the alert region
	Body    any           // the page's own view
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"when":   when,
	"ago":    ago,
	"number": number,
	"lower":  strings.ToLower,
	"typeOf": func(ref string) string { t, _, _ := strings.Cut(ref, "/"); return t },
	"idOf":   func(ref string) string { _, id, _ := strings.Cut(ref, "/"); return id },
	"add":    func(a, b int) int { return a + b },
	// signinTo is the sign-in that comes back to a project's members.
	"signinTo": func(prefix, project string) string {
		return prefix + "signin?next=" + url.QueryEscape(prefix+"projects/"+project+"/members")
	},
	// invalid marks a field its error names; fieldError is that error,
	// which the field is described by.
	"invalid": func(name string, errs map[string]string) template.HTMLAttr {
		if errs[name] == "" {
			return ""
		}
		return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + template.HTMLEscapeString(name) + `-error"`)
	},
	"fieldError": func(name string, errs map[string]string) template.HTML {
		if errs[name] == "" {
			return ""
		}
		return template.HTML(`<p id="` + template.HTMLEscapeString(name) + `-error" class="field-error">` +
			template.HTMLEscapeString(errs[name]) + `</p>`)
	},
}).ParseFS(files, "templates/*.html"))

// render writes template name as a page with the console's headers.
func (c *Console) render(ec echo.Context, status int, name string, p page) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, c.fill(ec, p)); err != nil {
		return err
	}
	return ec.HTMLBlob(status, buf.Bytes())
}

// renderPart writes template name alone (a part of a page the script
// swaps in), with v as its data.
func (c *Console) renderPart(ec echo.Context, name string, v any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, v); err != nil {
		return err
	}
	return ec.HTMLBlob(http.StatusOK, buf.Bytes())
}

// fill sets what render sets on every page.
func (c *Console) fill(ec echo.Context, p page) page {
	p.Prefix = c.prefix
	p.Shared = c.base.Path + "oauth2/assets/page.css"
	if s := sessionOf(ec); s != nil {
		p.User, p.CSRF = s.data.Name, s.keys.csrf
	}
	return p
}

// Errors is the console's surface: an error is the console's error page —
// or, for its script's calls, {ok: false, message} — in the status the
// one error path chose.
var Errors = &rest.Surface{Name: "Admin console", Render: renderError}

// viewKey holds the console (and the page prepared for an error) for the
// error renderer.
const (
	consoleKey = "console.console"
	errorView  = "console.errorView"
)

// failure is an error to show as a prepared page.
func failure(ec echo.Context, err error, name string, p page) error {
	ec.Set(errorView, preparedPage{name, p})
	return err
}

type preparedPage struct {
	name string
	p    page
}

func renderError(ec echo.Context, status int, e *resources.Error) error {
	msg := e.Message
	if status >= 500 {
		msg = "Something went wrong on our side. Please try again later."
	}
	if wantsJSON(ec) {
		return ec.JSON(status, map[string]any{"ok": false, "message": msg})
	}
	c, _ := ec.Get(consoleKey).(*Console)
	if c == nil {
		// An error that came before the console's routes did (a body over
		// the limit, say): the page as a console at the root would show it.
		c = &Console{base: &url.URL{Path: "/"}, prefix: "/console/"}
		setHeaders(ec.Response().Header(), ec.Path())
	}
	if pp, ok := ec.Get(errorView).(preparedPage); ok {
		return c.render(ec, status, pp.name, pp.p)
	}
	title := http.StatusText(status)
	switch {
	case status == http.StatusForbidden:
		title = "Not allowed"
	case status == http.StatusUnauthorized:
		title = "Signed out"
	case status >= 500:
		title = "Something went wrong"
	}
	return c.render(ec, status, "error", page{Title: title, Error: msg, Body: errorBody{SignIn: status == http.StatusUnauthorized}})
}

// errorBody is the error page's own view.
type errorBody struct {
	SignIn bool // offer to sign in again
	// SwitchTo offers to sign in again choosing the project the page was
	// about (the token is another project's).
	SwitchTo *projectEntry
}

// signInFailed is a sign-in that could not finish.
func signInFailed(msg string) error { return resources.Unauthorized("%s", msg) }

// refused is the answer to someone who administers no project: 403, and
// no session.
func refused(d sessionData) error {
	who := d.Email
	if who == "" {
		who = d.Name
	}
	return resources.Forbidden("%s is not an administrator of any project. The console is for project administrators; ask one of yours to make you one, or sign in with another account.", who)
}

var assetTypes = map[string]string{
	"console.js":  "text/javascript; charset=utf-8",
	"console.css": "text/css; charset=utf-8",
}

func handleAsset(ec echo.Context) error {
	name := path.Base(ec.Param("file"))
	typ, ok := assetTypes[name]
	if !ok {
		return resources.NotFound("Not found")
	}
	b, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		return resources.NotFound("Not found")
	}
	ec.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return ec.Blob(http.StatusOK, typ, b)
}

func itoa(n int) string { return strconv.Itoa(n) }

// when is a time as the tables show it (UTC, to the minute).
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// ago is how long before now t was, roughly.
func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := time.Since(*t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// number writes n with thin spaces between thousands, as 10 000.
func number(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
