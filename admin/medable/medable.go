// Package medable serves Medable's (Cortex) account API under
// /medable/{org}/ as a thin dialect over Roster's core. An org is a Project,
// named in the path by its id or its unique name. An account is a view over
// a User and its profile in that project: registration runs the core invite
// algorithm (a project-scoped User with a Patient profile), sessions are
// Roster logins whose access token rides in an HttpOnly cookie (a bearer
// token works too), and email verification and password reset are the
// core's one-time links. Medable-only facts live in FHIR extensions (the
// account's time zone on the profile, the org's login-verification switch
// on the Project); the rest uses the profile's natural elements (mobile in
// telecom, dob in birthDate, gender). Errors are Medable faults, with the
// errCodes and statuses of Medable's fault reference.
package medable

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"

	_ "time/tzdata" // tz is checked against the IANA database even where the system has none
)

// Extension URLs of the Medable facts FHIR has no element for.
const (
	// ExtTZ is the account's IANA time zone, on its profile (valueString).
	ExtTZ = "https://roster.dev/fhir/StructureDefinition/medable-tz"
	// ExtLoginVerification on a Project (valueBoolean true) makes a login
	// from an unknown location wait for a code mailed to the account
	// holder: Medable's name for the core's new-device verification
	// (auth.ExtLoginVerification), which either turns on.
	ExtLoginVerification = "https://roster.dev/fhir/StructureDefinition/medable-login-verification"
)

// Cookie names: the session, and the fingerprint that tells locations
// apart (the core's device secret).
const (
	SessionCookie     = "md.sid"
	FingerprintCookie = "md.fingerprint"
)

// AccountLock is Medable's account lock, kept by the core's throttle: five
// failed logins into the org within 15 minutes refuse that account's
// logins (429) until the 15 minutes are over.
var AccountLock = auth.Lockout{Failures: 5, Window: 15 * time.Minute,
	Message: "Too many failed login attempts: try again later"}

// VerifyTTL is how long an email verification token works.
var VerifyTTL = 72 * time.Hour

// Handler serves the Medable endpoints.
type Handler struct {
	res     *resources.Service
	auth    *auth.Service
	admin   *admin.Service
	baseURL string
	secure  bool
	now     func() time.Time
}

// New returns the Medable dialect over the core services; baseURL is
// Roster's public URL (cookies are Secure when it is https).
func New(res *resources.Service, authSvc *auth.Service, adminSvc *admin.Service, baseURL string) *Handler {
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	return &Handler{res: res, auth: authSvc, admin: adminSvc, baseURL: baseURL,
		secure: strings.HasPrefix(baseURL, "https://"), now: res.Now}
}

// Register mounts the routes under /medable/{org}/ and /medable/{org}/v2/:
// Medable's document gives some routes with v2 and some without, so every
// route is served both ways. It also names the org's login-verification
// switch to the core, so an org that sets it verifies new devices on every
// sign-in, Medable's or the core's.
func (h *Handler) Register(e *echo.Echo) {
	h.auth.AliasLoginVerification(ExtLoginVerification)
	g := dialect.Mount(e, "/medable/:org", Errors, h.resolveOrg)
	h.routes(g)
	h.routes(g.Group("/v2"))
}

func (h *Handler) routes(g *echo.Group) {
	s := h.session
	g.GET("/accounts", h.list, s)
	g.GET("/accounts/me", h.me, s)
	g.GET("/accounts/:id", h.read, s)
	g.PUT("/accounts/:id", h.put, s)
	g.PATCH("/accounts/:id", h.patch, s)
	g.POST("/accounts/register", h.register, h.admin.IdempotentWrites)
	g.POST("/accounts/login", h.login)
	g.POST("/accounts/me/logout", h.logout, s)
	g.POST("/accounts/request-password-reset", h.requestPasswordReset)
	g.POST("/accounts/reset-password", h.resetPassword)
	g.POST("/accounts/me/update-password", h.updatePassword, s)
	g.POST("/accounts/me/resend-verification", h.resendVerification, s)
	g.POST("/token", h.verifyEmail)
	g.POST("/token/:token", h.verifyEmail)
}

const orgKey = "medable.org"

// resolveOrg finds the org of the path: a project id, else the one project
// of exactly that name. An unknown or ambiguous name is Medable's
// unrecognized-org fault.
func (h *Handler) resolveOrg(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, err := url.PathUnescape(c.Param("org"))
		if err != nil {
			name = c.Param("org")
		}
		ctx := resources.AsSystem(c.Request().Context(), "")
		p, _, err := resources.ReadTyped[*resources.Project](ctx, h.res, "Project", name)
		if err != nil {
			p = nil
			projects, err := admin.Search[*resources.Project](ctx, h.res, "", "Project", url.Values{"name:exact": {name}})
			if err != nil {
				return err
			}
			for _, cand := range projects {
				if cand.Name != name {
					continue
				}
				if p != nil {
					return fault(ErrOrgNotFound, "More than one organization has this name: use its id", "")
				}
				p = cand
			}
		}
		if p == nil {
			return fault(ErrOrgNotFound, "", "")
		}
		c.Set(orgKey, p)
		return next(c)
	}
}

func orgOf(c echo.Context) *resources.Project { return c.Get(orgKey).(*resources.Project) }

// session authenticates a bearer token, else the session cookie. Another
// project's session is the documented org mismatch (the super admin's works
// everywhere).
func (h *Handler) session(next echo.HandlerFunc) echo.HandlerFunc {
	notLoggedIn := fault(ErrNotLoggedIn, "", "")
	gate := &dialect.Gate{Auth: h.auth, Rules: auth.CredentialRules{Schemes: []string{"Bearer"}, Cookie: SessionCookie},
		Missing: notLoggedIn, Refused: notLoggedIn}
	return func(c echo.Context) error {
		cl, _, err := gate.Caller(c)
		if err != nil {
			return err
		}
		if cl.Project != orgOf(c).ID && !cl.SuperAdmin {
			return fault(ErrSessionOrgMismatch, "", "")
		}
		c.SetRequest(c.Request().WithContext(resources.WithCaller(c.Request().Context(), cl)))
		return next(c)
	}
}

// isAdmin reports whether the caller administers the org.
func isAdmin(cl *resources.Caller, org *resources.Project) bool {
	return cl.SuperAdmin || (cl.Admin && cl.Project == org.ID)
}

// Result is Medable's answer for an operation without an object.
type Result struct {
	Object string `json:"object"`
	Data   any    `json:"data"`
}

func ok(c echo.Context) error {
	return writeJSON(c, http.StatusOK, Result{Object: "result", Data: true})
}

// List is Medable's list answer.
type List struct {
	Object  string    `json:"object"`
	Data    []Account `json:"data"`
	HasMore bool      `json:"hasMore"`
}

func writeJSON(c echo.Context, status int, v any) error {
	return dialect.JSON(c, status, echo.MIMEApplicationJSONCharsetUTF8, v)
}

// cookiePath scopes the session cookie to the org as the client named it.
func cookiePath(c echo.Context) string { return "/medable/" + c.Param("org") + "/" }

func (h *Handler) setSession(c echo.Context, token string, ttl time.Duration) {
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: token, Path: cookiePath(c), MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: cookiePath(c), MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// fingerprint is the request's location fingerprint, issuing a new one
// (a year-long HttpOnly cookie for every org) when it has none.
func (h *Handler) fingerprint(c echo.Context) string {
	return auth.DeviceSecret(c, FingerprintCookie, "/medable/", h.secure)
}

// decodeObject reads a JSON object body into its properties; anything else
// is Medable's invalid-JSON fault.
func decodeObject(c echo.Context) (map[string]json.RawMessage, error) {
	bad := fault(ErrInvalidJSON, "The request body must be a JSON object", "")
	return dialect.Object(c, bad, bad)
}

// readBody reads a request body; an empty one is Medable's invalid-JSON fault.
func readBody(c echo.Context) ([]byte, error) {
	return dialect.Body(c, fault(ErrInvalidJSON, "The request body must be JSON", ""))
}

// stringProp reads a string property: absent or null is nil; another type
// is a stringExpected fault in v.
func stringProp(m map[string]json.RawMessage, key, path string, v *validation) *string {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(ErrStringExpected, path, "String expected")
		return nil
	}
	return &s
}
