// Package console is the admin console served at /console/: the pages
// project admins invite and manage their members with. It signs its users
// in through Roster's own OpenID Connect authorize flow, as a public
// client with PKCE, and does everything else through Roster's public HTTP
// API, called in-process with the signed-in user's bearer token — never
// through a use case or the store, so it can do nothing a curl script
// could not. Pages are html/template, assets are embedded, and every form
// works without JavaScript; a small script confirms actions in a dialog,
// refreshes the members table in place and shows a bulk run's progress.
package console

import (
	"context"
	"embed"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources/rest"
)

//go:embed templates static
var files embed.FS

// ClientID is the id of the console's ClientApplication: a public client
// of no project (so members of any project can sign in through it) whose
// redirect URI is {ROSTER_BASE_URL}console/callback.
const ClientID = "roster-console"

// CallbackPath is the console's redirect URI relative to the base URL.
const CallbackPath = "console/callback"

// SessionStore keeps the console's sessions by the hash of the browser's
// secret; package store implements it.
type SessionStore interface {
	PutConsoleSession(ctx context.Context, idHash, sealed string, expires time.Time) error
	ConsoleSession(ctx context.Context, idHash string) (sealed string, expires time.Time, err error)
	DeleteConsoleSession(ctx context.Context, idHash string) error
	DeleteExpiredConsoleSessions(ctx context.Context, before time.Time) error
}

// Options configure the console.
type Options struct {
	// API is Roster's HTTP handler, which the console calls in-process.
	API http.Handler
	// Sessions keeps the sessions.
	Sessions SessionStore
	// BaseURL is ROSTER_BASE_URL, ending in "/": where the browser finds
	// Roster (the authorize page, the console's own pages and cookies).
	BaseURL string
	// EnsureClient makes sure the console's ClientApplication exists with
	// its redirect URI; it is called when a sign-in starts.
	EnsureClient func(ctx context.Context) error
	// SecureCookies marks the cookies Secure (an https base URL).
	SecureCookies bool
	// Now is the clock sessions expire by (nil: time.Now).
	Now func() time.Time
}

// Console serves the admin console.
type Console struct {
	api      *apiClient
	sessions SessionStore
	base     *url.URL // BaseURL
	prefix   string   // the console's path as the browser sees it: {base path}console/
	ensure   func(ctx context.Context) error
	secure   bool
	now      func() time.Time

	// refreshing serializes the token refreshes of one session in this
	// process: a refresh token works once.
	refreshing sync.Map // session id hash → *sync.Mutex
	lastPrune  time.Time
	pruneMu    sync.Mutex
}

// New returns the console.
func New(o Options) *Console {
	base, err := url.Parse(o.BaseURL)
	if err != nil {
		base = &url.URL{Path: "/"}
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	c := &Console{api: &apiClient{h: o.API}, sessions: o.Sessions, base: base, prefix: base.Path + "console/",
		ensure: o.EnsureClient, secure: o.SecureCookies, now: o.Now}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Register mounts the console's routes under /console/.
func (c *Console) Register(e *echo.Echo) {
	g := e.Group("/console", rest.On(Errors), pageHeaders, c.attach)
	e.GET("/console", func(ec echo.Context) error { return ec.Redirect(http.StatusFound, c.prefix) })
	g.GET("/assets/:file", handleAsset)
	g.GET("/signin", c.handleSignIn)
	g.GET("/callback", c.handleCallback)
	g.GET("/signedout", c.handleSignedOut)
	g.POST("/signout", c.handleSignOut, c.signedIn, c.csrf)

	in := g.Group("", c.signedIn)
	in.GET("/", c.handleProjects)
	in.GET("/projects/:project/members", c.handleMembers)
	in.GET("/projects/:project/members/:member", c.handleMember)
	in.GET("/projects/:project/members/:member/:action", c.handleConfirm)
	in.POST("/projects/:project/members/:member/:action", c.handleAction, c.csrf)
	in.GET("/projects/:project/invite", c.handleInviteForm)
	in.POST("/projects/:project/invite", c.handleInvite, c.csrf)
	in.GET("/projects/:project/bulk", c.handleBulkForm)
	in.POST("/projects/:project/bulk/preview", c.handleBulkPreview, c.csrf)
	in.POST("/projects/:project/bulk/run", c.handleBulkRun, c.csrf)
}

// url is the browser's URL of a console path (relative to /console/).
func (c *Console) url(path string) string { return c.prefix + strings.TrimPrefix(path, "/") }

// absolute is the absolute URL of a path relative to the base URL.
func (c *Console) absolute(path string) string {
	u := *c.base
	u.Path += strings.TrimPrefix(path, "/")
	return u.String()
}

// CSP is the console pages' Content-Security-Policy: their own script
// and stylesheets, calls to their own origin, and nothing else.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// attach makes the console known to its error renderer.
func (c *Console) attach(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		ec.Set(consoleKey, c)
		return next(ec)
	}
}

// pageHeaders sets the headers of every console answer.
func pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		setHeaders(ec.Response().Header(), ec.Path())
		return next(ec)
	}
}

// setHeaders sets the headers of a console answer on route path.
func setHeaders(h http.Header, path string) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(path, "/console/assets/") {
		h.Set("Cache-Control", "no-store")
	}
}
