package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// scope is what the console asks for: an id token (whose nonce proves the
// answer is this sign-in's) and refresh tokens. It asks for no resource
// scope, so its token keeps the membership's full access.
const scope = "openid offline_access"

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	IDToken      string `json:"id_token"`
	Project      *struct {
		Reference string `json:"reference"`
	} `json:"project"`
}

// handleSignIn starts a sign-in: the browser goes to Roster's authorize
// page with a fresh state, nonce and PKCE challenge (S256), kept for the
// callback under a cookie of their own.
func (c *Console) handleSignIn(ec echo.Context) error {
	if c.ensure != nil {
		if err := c.ensure(ec.Request().Context()); err != nil {
			return err
		}
	}
	p := pendingAuth{State: newSecret(), Nonce: newSecret(), Verifier: newSecret(), Next: c.localNext(ec.QueryParam("next"))}
	if _, err := c.store(ec, authCookie, nil, p, authTTL); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(p.Verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {ClientID}, "redirect_uri": {c.absolute(CallbackPath)},
		"scope": {scope}, "state": {p.State}, "nonce": {p.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if hint := ec.QueryParam("login_hint"); hint != "" && len(hint) <= 254 {
		q.Set("login_hint", hint)
	}
	return ec.Redirect(http.StatusFound, c.absolute("oauth2/authorize")+"?"+q.Encode())
}

// localNext is next when it is a console page, else the console's home:
// a sign-in never sends the browser elsewhere.
func (c *Console) localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, c.prefix) ||
		strings.Contains(u.Path, "/../") || strings.HasPrefix(next, "//") {
		return c.prefix
	}
	return u.RequestURI()
}

// handleCallback ends a sign-in: the state must be this browser's, the
// code is exchanged with the PKCE verifier, the id token must carry this
// sign-in's nonce. Someone who administers no project is told so and
// signed out at once.
func (c *Console) handleCallback(ec echo.Context) error {
	k, ok := keysFrom(ec, authCookie)
	var p pendingAuth
	if ok {
		var err error
		if ok, err = c.load(ec, k, &p); err != nil {
			return err
		}
		if err := c.sessions.DeleteConsoleSession(ec.Request().Context(), k.id); err != nil {
			return err
		}
	}
	ec.SetCookie(c.cookie(authCookie, "", -1))
	state := ec.QueryParam("state")
	if !ok || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(p.State)) != 1 {
		return signInFailed("This sign-in has expired or was started in another browser. Sign in again.")
	}
	if e := ec.QueryParam("error"); e != "" {
		msg := ec.QueryParam("error_description")
		if msg == "" {
			msg = e
		}
		return signInFailed("Roster refused the sign-in: " + msg)
	}
	a, err := c.api.do(ec, call{method: http.MethodPost, path: "/oauth2/token", body: url.Values{
		"grant_type": {"authorization_code"}, "code": {ec.QueryParam("code")}, "code_verifier": {p.Verifier},
		"client_id": {ClientID}, "redirect_uri": {c.absolute(CallbackPath)}}})
	if err != nil {
		return err
	}
	var tok tokenAnswer
	if !a.ok() || a.decode(&tok) != nil || tok.AccessToken == "" {
		return signInFailed("The sign-in could not be completed: " + a.refusal().Message)
	}
	if nonceOf(tok.IDToken) != p.Nonce {
		c.revoke(ec, tok.AccessToken)
		return signInFailed("The sign-in answer was not this sign-in's. Sign in again.")
	}
	data := sessionData{Access: tok.AccessToken, Refresh: tok.RefreshToken, Expires: c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)}
	if tok.Project != nil {
		data.Project = strings.TrimPrefix(tok.Project.Reference, "Project/")
	}
	me, err := c.me(ec, data.Access)
	if err != nil {
		return err
	}
	data.Name, data.Email = me.name(), me.User.Email
	projects, err := c.projects(ec, data.Access)
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		c.revoke(ec, data.Access)
		return refused(data)
	}
	// A new sign-in replaces the browser's session, and ends its login.
	if old, ok := keysFrom(ec, sessionCookie); ok {
		var prev sessionData
		if found, err := c.load(ec, old, &prev); err == nil && found {
			c.revoke(ec, prev.Access)
		}
		_ = c.sessions.DeleteConsoleSession(ec.Request().Context(), old.id)
	}
	if _, err := c.store(ec, sessionCookie, nil, data, sessionTTL); err != nil {
		return err
	}
	c.prune(ec)
	next := p.Next
	if next == c.prefix && len(projects) == 1 && projects[0].ID == data.Project {
		next = c.url("projects/" + data.Project + "/members")
	}
	return ec.Redirect(http.StatusSeeOther, next)
}

// nonceOf reads the nonce of an id token the token endpoint answered
// in-process (its signature needs no check: it came straight from Roster).
func nonceOf(idToken string) string {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return claims.Nonce
}

// revoke ends the login of an access token (best effort: the session goes
// either way).
func (c *Console) revoke(ec echo.Context, access string) {
	_, _ = c.api.do(ec, call{method: http.MethodPost, path: "/oauth2/logout", token: access})
}

// prune drops expired sessions, at most once an hour per process.
func (c *Console) prune(ec echo.Context) {
	c.pruneMu.Lock()
	due := c.now().Sub(c.lastPrune) > time.Hour
	if due {
		c.lastPrune = c.now()
	}
	c.pruneMu.Unlock()
	if due {
		_ = c.sessions.DeleteExpiredConsoleSessions(ec.Request().Context(), c.now())
	}
}

// handleSignOut ends the login at Roster (its tokens stop working at once)
// and the session.
func (c *Console) handleSignOut(ec echo.Context) error {
	s := sessionOf(ec)
	a, err := c.api.do(ec, call{method: http.MethodPost, path: "/oauth2/logout", token: s.data.Access})
	if err != nil {
		return err
	}
	if !a.ok() && a.Status != http.StatusUnauthorized {
		return resources.Unavailable("Roster could not end the sign-in; try again.")
	}
	if err := c.sessions.DeleteConsoleSession(ec.Request().Context(), s.keys.id); err != nil {
		return err
	}
	ec.SetCookie(c.cookie(sessionCookie, "", -1))
	return ec.Redirect(http.StatusSeeOther, c.url("signedout"))
}

func (c *Console) handleSignedOut(ec echo.Context) error {
	return c.render(ec, http.StatusOK, "signedout", page{Title: "Signed out", Notice: "You signed out of the console."})
}

// meAnswer is the part of GET /auth/me the console reads.
type meAnswer struct {
	User struct {
		Email     string `json:"email"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Admin     bool   `json:"admin"`
	} `json:"user"`
	Profile struct {
		Name []struct {
			Given  []string `json:"given"`
			Family string   `json:"family"`
		} `json:"name"`
	} `json:"profile"`
}

func (m *meAnswer) name() string {
	if n := strings.TrimSpace(m.User.FirstName + " " + m.User.LastName); n != "" {
		return n
	}
	return m.User.Email
}

func (c *Console) me(ec echo.Context, token string) (*meAnswer, error) {
	var me meAnswer
	if err := c.get(ec, token, "/auth/me", &me); err != nil {
		return nil, err
	}
	return &me, nil
}

// projectEntry is a project the signed-in user administers.
type projectEntry struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Membership string `json:"membership"`
	// Owner is the project's owner ("User/…"), when the page read it.
	Owner string `json:"-"`
}

// projects lists every project the token's user administers.
func (c *Console) projects(ec echo.Context, token string) ([]projectEntry, error) {
	var out []projectEntry
	for offset := 0; ; offset += 1000 {
		var page struct {
			Projects []projectEntry `json:"projects"`
			Total    int            `json:"total"`
		}
		if err := c.get(ec, token, "/admin/projects?_count=1000&_offset="+itoa(offset), &page); err != nil {
			return nil, err
		}
		out = append(out, page.Projects...)
		if len(page.Projects) < 1000 {
			return out, nil
		}
	}
}

// get reads a JSON answer of the API into v; a refusal is an *apiError.
func (c *Console) get(ec echo.Context, token, path string, v any) error {
	a, err := c.api.do(ec, call{method: http.MethodGet, path: path, token: token})
	if err != nil {
		return err
	}
	if !a.ok() {
		return a.refusal()
	}
	return a.decode(v)
}
