package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Register mounts the Medplum-compatible auth routes on e.
func (s *Service) Register(e *echo.Echo) {
	e.POST("/auth/login", s.handleLogin)
	e.POST("/auth/profile", s.handleProfile)
	e.POST("/auth/method", s.handleMethod)
	e.POST("/oauth2/token", s.handleToken, rest.On(OAuthErrors))
	e.GET("/.well-known/jwks.json", s.handleJWKS)
	// Per-route middleware: a group with an empty prefix would catch every
	// unknown path and answer 401 instead of 404.
	req := s.Required()
	e.GET("/auth/me", s.handleMe, req)
	e.POST("/auth/changepassword", s.handleChangePassword, req)
	s.registerOIDC(e)
}

// DecodeJSON strictly decodes a JSON request body into v.
func DecodeJSON(c echo.Context, v any) error {
	body, err := rest.ReadBody(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		// A value of the wrong type is named, as a missing one would be.
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			return resources.Invalid(te.Field, "%s must be a %s", te.Field, te.Type)
		}
		return resources.Invalid("", "Request body must be a JSON object")
	}
	return nil
}

// answer runs a JSON route: it decodes the body into a Req, runs fn and
// answers what fn returns.
func answer[Req, Resp any](c echo.Context, fn func(ctx context.Context, req Req) (Resp, error)) error {
	var req Req
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	resp, err := fn(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Service) handleLogin(c echo.Context) error {
	return answer(c, func(ctx context.Context, req LoginRequest) (*LoginResponse, error) {
		req.Device, req.TrustDevice, req.Lockout = s.deviceCookie(c), false, Lockout{}
		return s.Login(ctx, req, c.RealIP(), c.Request().UserAgent())
	})
}

// deviceCookie reads (or gives the browser) the device secret of the core
// sign-in, when a project asks for it.
func (s *Service) deviceCookie(c echo.Context) func() string {
	return func() string { return DeviceSecret(c, DeviceCookie, "/auth/", s.SecureCookies) }
}

// profileRequest is the body of POST /auth/profile.
type profileRequest struct {
	Login   string `json:"login"`
	Profile string `json:"profile"`
}

func (s *Service) handleProfile(c echo.Context) error {
	return answer(c, func(ctx context.Context, req profileRequest) (*LoginResponse, error) {
		return s.ChooseProfile(ctx, req.Login, req.Profile, s.deviceCookie(c))
	})
}

func (s *Service) handleToken(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	form, err := rest.ReadForm(c)
	if err != nil {
		return err
	}
	_, id, secret := Credentials(c)
	resp, err := s.Exchange(c.Request().Context(), form, id, secret)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// OAuthBody is the body of an RFC 6749 error answer.
type OAuthBody struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// OAuthErrors is the token endpoint's surface: every error is RFC 6749's
// {error, error_description}, with the status of its kind (an OAuth error
// is a 400; a throttled client a 429 with Retry-After).
var OAuthErrors = &rest.Surface{Name: "OAuth", Render: renderOAuth}

// oauthCodes is the RFC 6749 code of an error that carries none, by kind;
// any kind not listed is invalid_request.
var oauthCodes = map[resources.Kind]string{
	0:                          "server_error",
	resources.KindUnauthorized: "invalid_client",
	resources.KindForbidden:    "unauthorized_client",
	resources.KindTooMany:      "slow_down",
	resources.KindUnavailable:  "temporarily_unavailable",
}

func renderOAuth(c echo.Context, status int, e *resources.Error) error {
	body := OAuthBody{Code: e.OAuth, Description: e.Message}
	if body.Code == "" {
		body.Code = oauthCodes[e.Kind]
	}
	if body.Code == "" {
		body.Code = "invalid_request"
	}
	return c.JSON(status, body)
}

func (s *Service) handleJWKS(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, s.keys.JWKS())
}

func (s *Service) handleMe(c echo.Context) error {
	ctx := c.Request().Context()
	caller := resources.CallerFrom(ctx)
	sys := resources.AsSystem(ctx, "")
	out := map[string]any{}
	if rec, err := s.res.Read(sys, "Project", caller.Project); err == nil {
		out["project"] = json.RawMessage(rec.Content)
	}
	if rec, err := s.res.Read(sys, "ProjectMembership", caller.MembershipID); err == nil {
		out["membership"] = json.RawMessage(rec.Content)
	}
	if typ, id, ok := strings.Cut(caller.Profile, "/"); ok {
		if rec, err := s.res.Read(sys, typ, id); err == nil {
			out["profile"] = json.RawMessage(rec.Content)
		}
	}
	if caller.ClientID == "" || caller.ClientID != caller.UserID {
		if rec, err := s.res.Read(sys, "User", caller.UserID); err == nil {
			out["user"] = json.RawMessage(rec.Content)
		}
	}
	out["config"] = map[string]any{"resourceType": "UserConfiguration", "id": caller.MembershipID, "menu": []any{}}
	enrolled := false
	if caller.ClientID == "" || caller.ClientID != caller.UserID {
		var err error
		if enrolled, err = s.MFAEnrolled(ctx, caller.UserID); err != nil {
			return err
		}
	}
	out["security"] = map[string]any{"mfaEnrolled": enrolled}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) handleChangePassword(c echo.Context) error {
	var req struct {
		OldPassword string `json:"oldPassword"`
		NewPassword string `json:"newPassword"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.ChangePassword(ctx, resources.CallerFrom(ctx), req.OldPassword, req.NewPassword); err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, rest.AllOK("Password changed"))
}

func (s *Service) handleLogout(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.Logout(ctx, resources.CallerFrom(ctx)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"ok": true})
}

// handleMethod answers Medplum's POST /auth/method {email}, which Medplum's
// sign-in form asks before the password: {} tells it to go on with the
// password. (Medplum answers {domain, authorizeUrl} for an email domain
// with an identity provider of its own; Roster's identity providers belong
// to clients and projects and are offered on /oauth2/authorize.)
func (s *Service) handleMethod(c echo.Context) error {
	return answer(c, func(_ context.Context, req struct {
		Email string `json:"email"`
	}) (map[string]any, error) {
		if _, err := resources.NormalizeEmail(req.Email); err != nil {
			return nil, resources.Invalid("email", "Valid email address is required")
		}
		return map[string]any{}, nil
	})
}
