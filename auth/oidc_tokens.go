package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// IDClaims are the claims of an id_token (OpenID Connect Core §2).
type IDClaims struct {
	jwt.RegisteredClaims
	Nonce    string           `json:"nonce,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	AtHash   string           `json:"at_hash,omitempty"`
	// SID is the login the token was issued for: RP-initiated logout ends it.
	SID string `json:"sid,omitempty"`
	AZP string `json:"azp,omitempty"`
	UserClaims
}

// UserClaims are the claims about the user that scopes ask for: `profile`
// and `email` (OpenID Connect Core §5.4) and SMART's `fhirUser`, the URL of
// the user's profile resource.
type UserClaims struct {
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	FHIRUser      string `json:"fhirUser,omitempty"`
}

// hasScope says whether scope (space-separated) holds want.
func hasScope(scope, want string) bool { return slices.Contains(strings.Fields(scope), want) }

// userClaims are the claims scope grants about u, whose profile is profile
// ("Practitioner/…").
func (s *Service) userClaims(scope string, u *resources.User, profile string) UserClaims {
	var out UserClaims
	if hasScope(scope, "profile") && u != nil {
		out.GivenName, out.FamilyName = u.FirstName, u.LastName
		out.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	if hasScope(scope, "email") && u != nil {
		out.Email, out.EmailVerified = u.Email, u.EmailVerified
	}
	if hasScope(scope, "fhirUser") && profile != "" {
		out.FHIRUser = s.FHIRBase() + "/" + profile
	}
	return out
}

// idToken is the id_token of a login started by an authorization request
// that asked for openid ("" for any other login).
func (s *Service) idToken(l *Login, sess *Session, profile, accessToken string) (string, error) {
	if l.RedirectURI == "" || l.ClientID == "" || !hasScope(l.Scope, "openid") {
		return "", nil
	}
	var u resources.User
	if json.Unmarshal(sess.User, &u) != nil {
		return "", errors.New("id token: unreadable user")
	}
	now := s.now()
	c := &IDClaims{Nonce: l.Nonce, AuthTime: jwt.NewNumericDate(l.CreatedAt), AtHash: atHash(accessToken), SID: l.ID,
		AZP: l.ClientID, UserClaims: s.userClaims(l.Scope, &u, profile)}
	c.Issuer, c.Subject, c.Audience = s.Issuer(), l.UserID, jwt.ClaimStrings{l.ClientID}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(AccessTokenTTL))
	return s.keys.signWithCurrent(c)
}

// atHash is the id_token's at_hash for ES256: the left half of the access
// token's SHA-256, base64url.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// idTokenHint reads an id_token Roster issued, expired or not (OpenID
// Connect RP-Initiated Logout §2: the hint names a past login).
func (s *Service) idTokenHint(ctx context.Context, raw string) (*IDClaims, error) {
	claims := &IDClaims{}
	var kid string
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{Alg}), jwt.WithoutClaimsValidation()).
		ParseWithClaims(raw, claims, s.keys.keyOf(ctx, &kid))
	if err != nil || claims.Issuer != s.Issuer() || claims.SID == "" || len(claims.Audience) != 1 {
		return nil, resources.Invalid("id_token_hint", "The id_token_hint is not an id token of this server")
	}
	return claims, nil
}

// prefetchUser has the request's session lookup read the token's User in
// the same round trip (resources.Prefetch): userinfo then costs what a
// FHIR read does.
func (s *Service) prefetchUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if bearer, _, _ := Credentials(c); bearer != "" {
			if claims, err := s.keys.Verify(req.Context(), bearer); err == nil && claims.Subject != "" {
				c.SetRequest(req.WithContext(resources.WithPrefetch(req.Context(), "User", claims.Subject)))
			}
		}
		return next(c)
	}
}

// bearerRequired is Required for OAuth-protected resources: a refusal says
// so in WWW-Authenticate (RFC 6750 §3).
func (s *Service) bearerRequired() echo.MiddlewareFunc {
	required := s.Required()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := required(next)
		return func(c echo.Context) error {
			err := h(c)
			if e, ok := resources.AsError(err); ok && e.Kind == resources.KindUnauthorized && e.Challenge == "" {
				return &resources.Error{Kind: resources.KindUnauthorized, Code: e.Code, OAuth: "invalid_token", Message: e.Message,
					Challenge: `Bearer realm="roster", error="invalid_token"`}
			}
			return err
		}
	}
}

// userInfo is the answer of /oauth2/userinfo: sub, Medplum's profile
// reference, and the claims the token's scope grants.
type userInfo struct {
	Sub     string `json:"sub"`
	Profile string `json:"profile,omitempty"`
	UserClaims
}

func (s *Service) handleUserInfo(c echo.Context) error {
	ctx := c.Request().Context()
	caller := resources.CallerFrom(ctx)
	if caller.Scope != "" && !hasScope(caller.Scope, "openid") {
		return &resources.Error{Kind: resources.KindForbidden, Code: "forbidden", OAuth: "insufficient_scope",
			Message: "The access token was not granted the openid scope"}
	}
	var u *resources.User
	wantsUser := hasScope(caller.Scope, "profile") || hasScope(caller.Scope, "email")
	if wantsUser && (caller.ClientID == "" || caller.ClientID != caller.UserID) {
		if user, _, err := resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", caller.UserID); err == nil {
			u = user
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, userInfo{Sub: caller.UserID, Profile: caller.Profile, UserClaims: s.userClaims(caller.Scope, u, caller.Profile)})
}

// endSession is a validated RP-initiated logout request.
type endSession struct {
	params   url.Values // the request's parameters, for the confirmation form
	login    string     // the login to end (the hint's sid), if any
	client   *resources.ClientApplication
	redirect string
}

// endSessionRequest validates an RP-initiated logout request (OpenID
// Connect RP-Initiated Logout 1.0 §2-3): a post_logout_redirect_uri must be
// registered on the client the hint (or client_id) names; anything wrong is
// a page, never a redirect.
func (s *Service) endSessionRequest(ctx context.Context, v url.Values) (*endSession, error) {
	es := &endSession{params: url.Values{}}
	for _, p := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
		if val := v.Get(p); val != "" {
			es.params.Set(p, val)
		}
	}
	clientID := es.params.Get("client_id")
	if hint := es.params.Get("id_token_hint"); hint != "" {
		claims, err := s.idTokenHint(ctx, hint)
		if err != nil {
			return nil, err
		}
		if clientID != "" && clientID != claims.Audience[0] {
			return nil, resources.Invalid("client_id", "client_id is not the client the id_token_hint was issued to")
		}
		clientID, es.login = claims.Audience[0], claims.SID
	}
	if clientID != "" {
		r, err := s.readClient(ctx, clientID)
		if err != nil {
			return nil, resources.Invalid("client_id", "Unknown client")
		}
		es.client = r.(*resources.ClientApplication)
	}
	if uri := es.params.Get("post_logout_redirect_uri"); uri != "" {
		if es.client == nil || !registered(es.client, uri) {
			return nil, resources.Invalid("post_logout_redirect_uri", "The post_logout_redirect_uri is not registered for this client")
		}
		es.redirect = uri
	}
	return es, nil
}

// handleEndSession asks the browser's user to confirm signing out, then ends
// the login the id_token_hint names and goes back to the client's
// registered post-logout URI (with state), or says the user is signed out.
func (s *Service) handleEndSession(c echo.Context) error {
	v := c.QueryParams()
	if c.Request().Method == http.MethodPost {
		form, err := postForm(c)
		if err != nil {
			return err
		}
		v = form
	}
	ctx := c.Request().Context()
	es, err := s.endSessionRequest(ctx, v)
	if err != nil {
		return err
	}
	if v.Get("step") != "logout" {
		view := oidcView{State: "logout", Title: "Sign out", Message: "Do you want to sign out of Roster?",
			Action: "logout", Step: "logout", CSRF: s.csrfToken(c), Targets: []string{es.redirect}}
		if es.client != nil {
			view.Client = es.client.Name
		}
		for _, p := range []string{"client_id", "id_token_hint", "post_logout_redirect_uri", "state"} {
			if val := es.params.Get(p); val != "" {
				view.Hidden = append(view.Hidden, field{p, val})
			}
		}
		return renderOIDC(c, http.StatusOK, view)
	}
	if err := checkCSRF(c, v.Get("csrf")); err != nil {
		return err
	}
	if es.login != "" {
		if err := s.endLogin(ctx, es.login); err != nil {
			return err
		}
	}
	if es.redirect != "" {
		u, err := url.Parse(es.redirect)
		if err != nil {
			return resources.Invalid("post_logout_redirect_uri", "The post_logout_redirect_uri is not a URL")
		}
		if st := es.params.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		return c.Redirect(http.StatusSeeOther, u.String())
	}
	return renderOIDC(c, http.StatusOK, oidcView{State: "signedout", Title: "Signed out", Message: "You are signed out."})
}

// endLogin revokes a login (nothing when it already ended).
func (s *Service) endLogin(ctx context.Context, loginID string) error {
	sess, err := s.store.Session(ctx, loginID)
	if resources.IsKind(err, resources.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	l := sess.Login
	if !l.RevokedAt.IsZero() || s.now().After(l.ExpiresAt) {
		return nil
	}
	return s.logout(ctx, &resources.Caller{Project: l.ProjectID, UserID: l.UserID, LoginID: l.ID})
}
