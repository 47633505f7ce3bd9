package auth

import (
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// The sign-in, membership choice and sign-out pages of the OpenID Connect
// provider. They look like the set-password page (its stylesheet), need
// no JavaScript, and every form they post carries a CSRF token that must
// match the browser's CSRF cookie (the double-submit pattern): another
// site can make a browser post, but not read the cookie to fill the field.

var signInTemplate = template.Must(template.ParseFS(staticFiles, "static/signin.html"))

// csrfCookie holds the browser's CSRF token for the /oauth2/ pages.
const csrfCookie = "roster.csrf"

// oidcView is what the sign-in template renders.
type oidcView struct {
	State   string // signin, choose, mfa, enroll, recovery, logout, signedout, error
	Title   string
	Message string
	Error   string
	Client  string // the client's name, for "to continue to …"
	Action  string // where the form posts, relative to /oauth2/
	Step    string
	CSRF    string
	Hidden  []field
	Email   string
	Verify  bool // the sign-in form asks for the new-device code
	Login   string
	Choices []choice
	// Upstreams are the identity providers the sign-in page offers.
	Upstreams []upstreamChoice
	// The enrollment form's secret: its otpauth:// URI (posted back, so a
	// wrong first code shows the same one), as a QR code and as the key
	// to type.
	EnrollURI string
	EnrollQR  template.URL
	EnrollKey string
	// RecoveryCodes are shown once, right after enrollment; Continue is
	// then the link on to the client (its redirect URI with the code).
	RecoveryCodes []string
	Continue      template.URL
	// Targets are the URIs the forms' answers may redirect to (the
	// client's redirect URI, an identity provider's authorize URL): the
	// page's CSP lets the forms go there.
	Targets []string
}

// upstreamChoice is an identity provider's button on the sign-in page.
type upstreamChoice struct{ Source, Label string }

type field struct{ Name, Value string }

type choice struct {
	ID, Label string
	Checked   bool
}

// signInView is the sign-in form's own part of an oidcView.
type signInView struct {
	Email, Error, Message string
	Verify                bool
}

// SignInErrors is the surface of the provider's pages: an error is the
// page prepared for it (signInError) or, for one that reached it
// unprepared, a page saying what went wrong; never a redirect.
var SignInErrors = &rest.Surface{Name: "Sign-in page", Render: renderSignInError}

const oidcViewKey = "auth.oidcView"

func renderSignInError(c echo.Context, status int, e *resources.Error) error {
	v, ok := c.Get(oidcViewKey).(oidcView)
	if !ok {
		v = oidcView{State: "error", Title: "Sign-in failed", Message: e.Message}
		switch {
		case e.Kind == resources.KindTooMany:
			v.Title = "Too many attempts"
		case status >= 500:
			v.Title, v.Message = "Something went wrong", "Something went wrong on our side. Please try again later."
		}
	}
	return renderOIDC(c, status, v)
}

func renderOIDC(c echo.Context, status int, v oidcView) error {
	csp := PageCSP
	// Browsers hold a form's redirects to form-action as well.
	action := "form-action 'self'"
	for _, t := range v.Targets {
		if src := cspSource(t); src != "" && !strings.Contains(action, " "+src) {
			action += " " + src
		}
	}
	csp = strings.Replace(csp, "form-action 'self'", action, 1)
	if v.EnrollQR != "" {
		csp = strings.Replace(csp, "default-src 'none';", "default-src 'none'; img-src data:;", 1)
	}
	return renderHTML(c, status, signInTemplate, v, csp)
}

// cspSource is the CSP source expression of uri's origin: scheme://host,
// or scheme: for a native app's private-use scheme ("" when none is safe).
func cspSource(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

// requestView is the part every form of a request's pages shares.
func (s *Service) requestView(c echo.Context, ar *authzRequest, state, title string) oidcView {
	v := oidcView{State: state, Title: title, Client: ar.client.Name, Action: "authorize", CSRF: s.csrfToken(c),
		Targets: []string{ar.get("redirect_uri")}}
	names := make([]string, 0, len(ar.params))
	for k := range ar.params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v.Hidden = append(v.Hidden, field{k, ar.params.Get(k)})
	}
	return v
}

func (s *Service) signInForm(c echo.Context, ar *authzRequest, sv signInView) oidcView {
	v := s.requestView(c, ar, "signin", "Sign in")
	v.Step, v.Email, v.Error, v.Message, v.Verify = "signin", sv.Email, sv.Error, sv.Message, sv.Verify
	s.offerUpstreams(c.Request().Context(), ar, &v)
	if ar.client.SignInForm != nil && ar.client.SignInForm.WelcomeString != "" && v.Message == "" {
		v.Message = ar.client.SignInForm.WelcomeString
	}
	return v
}

func (s *Service) renderSignIn(c echo.Context, status int, ar *authzRequest, sv signInView) error {
	return renderOIDC(c, status, s.signInForm(c, ar, sv))
}

// signInError shows the sign-in form again with what went wrong; e's kind
// chooses the status.
func (s *Service) signInError(c echo.Context, e *resources.Error, ar *authzRequest, sv signInView) error {
	c.Set(oidcViewKey, s.signInForm(c, ar, sv))
	return e
}

// renderChoice asks which of the user's memberships to sign in with.
func (s *Service) renderChoice(c echo.Context, ar *authzRequest, resp *LoginResponse) error {
	v := s.requestView(c, ar, "choose", "Choose a profile")
	v.Step, v.Login = "choose", resp.Login
	if len(resp.RecoveryCodes) > 0 {
		v.Message, v.RecoveryCodes = msgRecovery, resp.RecoveryCodes
	}
	for i, raw := range resp.Memberships {
		var m resources.ProjectMembership
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		label := m.Profile.Display
		if label == "" {
			label = m.Profile.Reference
		}
		if m.Project.Display != "" {
			label += " — " + m.Project.Display
		}
		v.Choices = append(v.Choices, choice{ID: m.ID, Label: label, Checked: i == 0})
	}
	return renderOIDC(c, http.StatusOK, v)
}

// What the second-factor pages say.
const (
	msgMFA      = "Your account has two-step sign-in. Enter the code your authenticator app shows now, or one of your recovery codes."
	msgEnroll   = "This project requires two-step sign-in. Scan the QR code with an authenticator app (or type the key into it), then enter the 6-digit code it shows."
	msgRecovery = "Two-step sign-in is on. Each of these recovery codes signs you in once if you lose your authenticator app. They are shown only now: keep them somewhere safe."
)

// secondFactorForm asks login, held for its second factor, for a code
// (step mfa) or for the first code of a new authenticator (step enroll,
// showing the secret of enrollURI).
func (s *Service) secondFactorForm(c echo.Context, ar *authzRequest, step, loginID, enrollURI string) oidcView {
	v := s.requestView(c, ar, step, "Two-step sign-in")
	v.Step, v.Login, v.Message = step, loginID, msgMFA
	if step == "enroll" {
		v.Title, v.Message, v.EnrollURI = "Set up two-step sign-in", msgEnroll, enrollURI
		if key, err := otp.NewKeyFromURL(enrollURI); err == nil && key.Type() == "totp" {
			v.EnrollKey = key.Secret()
			if qr, err := qrCode(key); err == nil {
				v.EnrollQR = template.URL(qr) // a data: URL made here, from a PNG
			}
		}
	}
	return v
}

// renderRecovery shows the recovery codes of the second factor the user
// just enrolled, then links on to the client with the code.
func (s *Service) renderRecovery(c echo.Context, ar *authzRequest, resp *LoginResponse) error {
	u, err := s.answerURL(ar, url.Values{"code": {resp.Code}})
	if err != nil {
		return err
	}
	v := s.requestView(c, ar, "recovery", "Save your recovery codes")
	v.Message, v.RecoveryCodes = msgRecovery, resp.RecoveryCodes
	if safeLink(u) {
		v.Continue = template.URL(u.String()) // a redirect URI registered on the client
	}
	return renderOIDC(c, http.StatusOK, v)
}

// safeLink reports whether u may be a link on Roster's pages: not a scheme
// that runs or embeds content.
func safeLink(u *url.URL) bool {
	switch strings.ToLower(u.Scheme) {
	case "", "javascript", "data", "vbscript", "file", "blob":
		return false
	}
	return true
}

// csrfToken is the browser's CSRF token, set as a cookie on first use.
func (s *Service) csrfToken(c echo.Context) string {
	if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 128 {
		return ck.Value
	}
	token := Secret()
	c.SetCookie(&http.Cookie{Name: csrfCookie, Value: token, Path: "/oauth2/", HttpOnly: true,
		Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	// Later calls in this request see it too.
	c.Request().AddCookie(&http.Cookie{Name: csrfCookie, Value: token})
	return token
}

// errCSRF refuses a form that did not come from Roster's own page in this
// browser.
var errCSRF = resources.Forbidden("This form has expired or did not come from this site. Go back to the application and try again.")

func checkCSRF(c echo.Context, sent string) error {
	ck, err := c.Cookie(csrfCookie)
	if err != nil || sent == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(sent)) != 1 {
		return errCSRF
	}
	return nil
}

// postForm is a POST's form body alone: the pages post to URLs without a
// query, and a parameter must not come twice.
func postForm(c echo.Context) (url.Values, error) {
	if err := c.Request().ParseForm(); err != nil {
		return nil, resources.Invalid("", "Expected a form")
	}
	return c.Request().PostForm, nil
}
