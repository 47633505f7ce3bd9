package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// Test mode (ROSTER_TEST_MODE=1) mounts /_test/ for behaviour suites in any
// language: a fresh project per scenario, the mail an address got, a clock
// to move, an empty database. Nothing there asks for a credential, so it is
// refused on any listen address another machine can reach unless
// ROSTER_TEST_MODE_ALLOW_REMOTE=1 says the network is the suite's own (a CI
// service container).

const testModeWarning = "TEST MODE IS ON: /_test/ is mounted and anyone who reaches this server can create projects, " +
	"read every mail, move the clock and empty the database; never run it with data that matters"

// listenAddrs are the addresses this process listens on (empty: none of
// its own, as when a test embeds the router in its own listener).
func (c *Config) listenAddrs() []string { return []string{c.Addr, c.MetricsAddr} }

// checkTestMode refuses test mode on a listen address that is not loopback,
// unless TestModeAllowRemote is set too.
func (c *Config) checkTestMode() error {
	if !c.TestMode || c.TestModeAllowRemote {
		return nil
	}
	for _, addr := range c.listenAddrs() {
		if addr != "" && !loopback(addr) {
			return fmt.Errorf("ROSTER_TEST_MODE=1 refused: listen address %q is not loopback-only, so other machines "+
				"could reach /_test/; listen on 127.0.0.1 or [::1] (e.g. ROSTER_ADDR=127.0.0.1:8080), or, inside a CI "+
				"service container whose network is the suite's own, set ROSTER_TEST_MODE_ALLOW_REMOTE=1 as well", addr)
		}
	}
	return nil
}

// loopback reports whether addr (host:port) listens on loopback alone: an
// empty host is every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (a *App) registerTestMode(e *echo.Echo) {
	g := e.Group("/_test")
	g.POST("/projects", a.handleTestProject)
	g.GET("/mail", a.handleTestMail)
	g.GET("/clock", a.handleTestClock)
	g.POST("/clock", a.handleTestClock)
	g.POST("/reset", a.handleTestReset)
}

// TestProject is what POST /_test/projects answers: a new project, an
// admin of it who can sign in, that admin's access token, and an admin
// ClientApplication with its secret (the project's API key for dialects).
type TestProject struct {
	Project     *resources.Project      `json:"project"`
	Admin       TestAdmin               `json:"admin"`
	AccessToken string                  `json:"accessToken"`
	Client      *admin.ClientWithSecret `json:"client"`
}

// TestAdmin is a TestProject's admin: a Practitioner with a password.
type TestAdmin struct {
	Email      string              `json:"email"`
	Password   string              `json:"password"`
	User       resources.Reference `json:"user"`
	Profile    resources.Reference `json:"profile"`
	Membership resources.Reference `json:"membership"`
}

// TestProject makes a project no other scenario shares (name "" gets a
// unique one), its admin through the core invite, the admin's token through
// the core sign-in, and an admin client.
func (a *App) TestProject(ctx context.Context, name string) (*TestProject, error) {
	tag := uuid.NewString()[:8]
	if strings.TrimSpace(name) == "" {
		name = "Test project " + tag
	}
	rec, err := a.Admin.CreateProject(resources.AsSystem(ctx, ""), name, "Made by POST /_test/projects")
	if err != nil {
		return nil, err
	}
	res, err := resources.Unmarshal(rec)
	if err != nil {
		return nil, err
	}
	out := &TestProject{Project: res.(*resources.Project)}
	id, yes, no := rec.ID, true, false
	out.Admin.Email, out.Admin.Password = "admin-"+tag+"@example.com", auth.Secret()[:24]
	inv, err := a.Admin.InviteUser(resources.AsSystem(ctx, id), id, admin.InviteRequest{ResourceType: "Practitioner",
		FirstName: "Test", LastName: "Admin", Email: out.Admin.Email, Password: out.Admin.Password, Admin: &yes, SendEmail: &no})
	if err != nil {
		return nil, err
	}
	out.Admin.User, out.Admin.Profile = inv.Membership.User, inv.Membership.Profile
	out.Admin.Membership = resources.Reference{Reference: "ProjectMembership/" + inv.Membership.ID}
	if out.Client, err = a.Admin.CreateClient(resources.AsSystem(ctx, id), id, "Test client", "", true); err != nil {
		return nil, err
	}
	login, err := a.Auth.Login(ctx, auth.LoginRequest{Email: out.Admin.Email, Password: out.Admin.Password, ProjectID: id}, "", "roster test mode")
	if err != nil {
		return nil, err
	}
	tok, err := a.Auth.Exchange(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {login.Code}}, "", "")
	if err != nil {
		return nil, err
	}
	out.AccessToken = tok.AccessToken
	return out, nil
}

func (a *App) handleTestProject(c echo.Context) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeOptional(c, &req); err != nil {
		return err
	}
	p, err := a.TestProject(c.Request().Context(), req.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

// TestMail is one message of GET /_test/mail, body included, with the
// links found in it.
type TestMail struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html,omitempty"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	// Links are the URLs in the text, in order.
	Links []string `json:"links"`
	// SetPassword is the one-time set-password link among them, split into
	// what POST /auth/setpassword takes.
	SetPassword *TestLink `json:"setPassword,omitempty"`
}

// TestLink is a set-password link: {APP_URL}setpassword/{id}/{secret}.
type TestLink struct {
	URL    string `json:"url"`
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

var urlPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// TestMail returns the messages queued for an address (any letter case),
// newest first, whether or not they were sent over SMTP.
func (a *App) TestMail(ctx context.Context, to string) ([]TestMail, error) {
	to = strings.TrimSpace(to)
	if to == "" {
		return nil, resources.Invalid("to", "to is required: the address whose mail to show")
	}
	msgs, err := a.Store.MailTo(ctx, to, mail.MaxListCount)
	if err != nil {
		return nil, err
	}
	out := make([]TestMail, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, a.testMail(m))
	}
	return out, nil
}

func (a *App) testMail(m *store.Mail) TestMail {
	t := TestMail{ID: m.ID, Kind: m.Kind, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Status: m.Status,
		Created: m.CreatedAt, Links: []string{}}
	prefix := a.Config.AppURL + "setpassword/"
	for _, link := range urlPattern.FindAllString(m.Text, -1) {
		link = strings.TrimRight(link, ".,;:!?)")
		t.Links = append(t.Links, link)
		if parts := strings.Split(strings.TrimPrefix(link, prefix), "/"); strings.HasPrefix(link, prefix) && len(parts) == 2 {
			t.SetPassword = &TestLink{URL: link, ID: parts[0], Secret: parts[1]}
		}
	}
	return t
}

func (a *App) handleTestMail(c echo.Context) error {
	msgs, err := a.TestMail(c.Request().Context(), c.QueryParam("to"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, msgs)
}

// TestClock is what GET and POST /_test/clock answer.
type TestClock struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"` // how far it was moved on, as a Go duration
}

func (a *App) handleTestClock(c echo.Context) error {
	if c.Request().Method == http.MethodPost {
		var req struct {
			Advance string `json:"advance"`
		}
		if err := decodeOptional(c, &req); err != nil {
			return err
		}
		d, err := time.ParseDuration(req.Advance)
		if err != nil || d <= 0 {
			return resources.Invalid("advance", `advance must be a positive duration such as "168h" or "90m"`)
		}
		a.Clock.Advance(d)
	}
	return c.JSON(http.StatusOK, TestClock{Now: a.Clock.Now().UTC(), Offset: a.Clock.Offset().String()})
}

// Reset empties the database but its schema and signing keys, puts the
// clock back, and bootstraps the configured super admin and Default
// project again, so the server stays usable.
func (a *App) Reset(ctx context.Context) error {
	if err := a.Store.Reset(ctx); err != nil {
		return err
	}
	a.Clock.Rewind()
	if a.first == nil {
		return nil
	}
	_, err := a.Admin.Bootstrap(ctx, a.first)
	return err
}

func (a *App) handleTestReset(c echo.Context) error {
	if err := a.Reset(c.Request().Context()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// decodeOptional decodes a JSON body strictly into v; an empty body leaves
// v as it is.
func decodeOptional(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil || len(strings.TrimSpace(string(body))) == 0 {
		return err // a body over the limit is the error handler's 413
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return resources.Invalid("", "Request body must be a JSON object with only the documented fields")
	}
	return nil
}
