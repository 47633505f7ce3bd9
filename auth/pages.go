package auth

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

//go:embed static
var staticFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(staticFiles, "static/setpassword.html"))

// PageCSP is the Content-Security-Policy of the set-password page: its own
// script and stylesheet, calls to its own origin, and nothing else.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// What the page says in each state.
const (
	msgDone = "Your password has been set. You can now sign in with your new password."
)

// pageView is what the set-password template renders.
type pageView struct {
	State   string // form, done, expired, used, replaced, invalid
	Title   string
	Message string
	Form    bool
	Error   string
	ID      string
	Secret  string
	Email   string
	Min     int
	Max     int
}

var linkTitles = map[LinkStatus]string{
	LinkExpired:  "Link expired",
	LinkUsed:     "Link already used",
	LinkReplaced: "Link replaced",
	LinkInvalid:  "Link not valid",
}

// registerPages mounts the page an emailed link opens:
// GET and POST /setpassword/{id}/{secret}, and its assets. The page is
// relative-linked throughout, so it also works behind a proxy that mounts
// Roster under a path (ROSTER_APP_URL=https://host/roster/).
func (s *Service) registerPages(e *echo.Echo) {
	e.GET("/setpassword/assets/:file", handleAsset)
	page := rest.On(PageErrors)
	e.GET("/setpassword/:id/:secret", s.handlePage, page, redactSecretPath)
	e.POST("/setpassword/:id/:secret", s.handlePageSubmit, page, redactSecretPath)
}

// redactSecretPath keeps the link's secret out of the request log, which
// records the path after the handler ran.
func redactSecretPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		r := c.Request()
		u := *r.URL
		u.Path, u.RawPath = "/setpassword/"+c.Param("id")+"/REDACTED", ""
		r2 := r.WithContext(r.Context())
		r2.URL = &u
		c.SetRequest(r2)
		return err
	}
}

func (s *Service) handlePage(c echo.Context) error {
	ctx := c.Request().Context()
	id, secret := c.Param("id"), c.Param("secret")
	st, l, err := s.LinkState(ctx, id, secret, LinkSetPassword, LinkReset)
	if err != nil {
		return err
	}
	if st != LinkValid {
		return linkPageError(c, st)
	}
	return renderPage(c, http.StatusOK, s.formView(c, l, id, secret, ""))
}

// handlePageSubmit is the page without JavaScript: the form posts here and
// goes through the same service call as POST /auth/setpassword.
func (s *Service) handlePageSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	id, secret := c.Param("id"), c.Param("secret")
	form, err := rest.ReadForm(c)
	if err != nil {
		return err
	}
	err = s.SetPasswordWithLink(ctx, id, secret, form.Get("password"))
	if err == nil {
		return renderPage(c, http.StatusOK, pageView{State: "done", Title: "Password set", Message: msgDone})
	}
	e, ok := resources.AsError(err)
	if !ok || e.Kind != resources.KindInvalid {
		return err
	}
	switch err {
	case ErrLinkInvalid:
		return linkPageError(c, LinkInvalid)
	case ErrLinkExpired:
		return linkPageError(c, LinkExpired)
	case ErrLinkUsed:
		return linkPageError(c, LinkUsed)
	case ErrLinkReplaced:
		return linkPageError(c, LinkReplaced)
	}
	// The password broke a rule: show the form again with the reason. The
	// link is untouched (rules are checked before it is redeemed).
	msg := e.Message
	if len(e.Issues) > 0 {
		msg = e.Issues[0].Message
	}
	st, l, lerr := s.LinkState(ctx, id, secret, LinkSetPassword, LinkReset)
	if lerr != nil {
		return lerr
	}
	if st != LinkValid {
		return linkPageError(c, st)
	}
	return pageError(c, e, s.formView(c, l, id, secret, msg))
}

func (s *Service) formView(c echo.Context, l *Link, id, secret, errMsg string) pageView {
	v := pageView{State: "form", Title: "Choose your password", Form: true, Error: errMsg, ID: id, Secret: secret,
		Min: MinPassword, Max: MaxPassword}
	if l.Kind == LinkReset {
		v.Title = "Choose a new password"
	}
	if rec, err := s.res.Read(resources.AsSystem(c.Request().Context(), ""), "User", l.UserID); err == nil {
		var u resources.User
		if json.Unmarshal(rec.Content, &u) == nil {
			v.Email = u.Email
		}
	}
	return v
}

// PageErrors is the surface of the set-password page: every error is the
// page, in the state the handler prepared (pageError) or, for an error
// that reached it unprepared, in one said by its status.
var PageErrors = &rest.Surface{Name: "HTML page", Render: renderPageError}

const pageViewKey = "auth.pageView"

// pageError is e shown as the page v; e's kind chooses the status.
func pageError(c echo.Context, e *resources.Error, v pageView) error {
	c.Set(pageViewKey, v)
	return e
}

// linkPageError is the page of a link that cannot be used: an invalid one
// is not found, an expired, used or replaced one is gone.
func linkPageError(c echo.Context, st LinkStatus) error {
	e, _ := resources.AsError(st.Err())
	out := resources.Gone("%s", e.Message)
	if st == LinkInvalid {
		out = resources.NotFound("%s", e.Message)
	}
	return pageError(c, out, pageView{State: string(st), Title: linkTitles[st], Message: e.Message})
}

func renderPageError(c echo.Context, status int, e *resources.Error) error {
	v, ok := c.Get(pageViewKey).(pageView)
	if !ok {
		v = pageView{State: "error", Title: http.StatusText(status), Message: e.Message}
		switch {
		case e.Kind == resources.KindTooMany:
			v = pageView{State: "throttled", Title: "Too many attempts", Message: e.Message}
		case status >= 500:
			v.Title, v.Message = "Something went wrong", "Something went wrong on our side. Please try again later."
		}
	}
	return renderPage(c, status, v)
}

func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func renderPage(c echo.Context, status int, v pageView) error {
	return renderHTML(c, status, pageTemplate, v, PageCSP)
}

// renderHTML renders one of auth's pages with its headers and CSP.
func renderHTML(c echo.Context, status int, t *template.Template, v any, csp string) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return err
	}
	h := c.Response().Header()
	pageHeaders(h)
	h.Set("Content-Security-Policy", csp)
	return c.HTMLBlob(status, buf.Bytes())
}

var assetTypes = map[string]string{
	"page.js":  "text/javascript; charset=utf-8",
	"page.css": "text/css; charset=utf-8",
}

func handleAsset(c echo.Context) error {
	name := path.Base(c.Param("file"))
	typ, ok := assetTypes[name]
	if !ok {
		return resources.NotFound("Not found")
	}
	b, err := staticFiles.ReadFile("static/" + name)
	if err != nil {
		return resources.NotFound("Not found")
	}
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, typ, b)
}
