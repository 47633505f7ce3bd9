package auth

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Roster as an OpenID Connect provider: discovery, the authorization-code
// flow through Roster's own sign-in page, id tokens, userinfo and
// RP-initiated logout. The handlers are thin and written here rather than
// taken from a provider framework: a login is Roster's Login row, the token
// endpoint is the Medplum-compatible one, and errors go through the one
// error path (see docs/architecture.md).

// tokenAuthMethods are the client authentication methods of the token
// endpoint.
var tokenAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}

// Issuer is the OpenID Connect issuer: ROSTER_BASE_URL without its
// trailing slash.
func (s *Service) Issuer() string { return strings.TrimSuffix(s.keys.issuer, "/") }

// registerOIDC mounts the provider's routes.
func (s *Service) registerOIDC(e *echo.Echo) {
	e.GET("/.well-known/openid-configuration", s.handleDiscovery)
	e.GET("/.well-known/smart-configuration", s.handleSMARTConfiguration)
	page := rest.On(SignInErrors)
	e.GET("/oauth2/assets/:file", handleAsset)
	e.GET("/oauth2/authorize", s.handleAuthorize, page)
	e.POST("/oauth2/authorize", s.handleAuthorizeSubmit, page)
	e.GET("/oauth2/callback", s.handleUpstreamCallback, page)
	userinfo := []echo.MiddlewareFunc{rest.On(OAuthErrors), s.prefetchUser, s.bearerRequired()}
	e.GET("/oauth2/userinfo", s.handleUserInfo, userinfo...)
	e.POST("/oauth2/userinfo", s.handleUserInfo, userinfo...)
	// /oauth2/logout is Medplum's (a bearer token's login ends) and, for a
	// browser sent by a relying party without one, RP-initiated logout.
	req := s.Required()
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		e.Add(m, "/oauth2/logout", func(c echo.Context) error {
			if c.Request().Header.Get("Authorization") != "" {
				return req(s.handleLogout)(c)
			}
			rest.SetSurface(c, SignInErrors)
			return s.handleEndSession(c)
		})
	}
}

// serverMetadata is what the OpenID Connect and SMART discovery documents
// share: the endpoints and what they accept.
func (s *Service) serverMetadata() map[string]any {
	base := s.Issuer()
	return map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth2/authorize",
		"token_endpoint":                        base + "/oauth2/token",
		"userinfo_endpoint":                     base + "/oauth2/userinfo",
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"scopes_supported":                      smartScopesSupported,
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported": tokenAuthMethods,
		"code_challenge_methods_supported":      []string{"S256"},
	}
}

// metadataDocument answers a discovery document: the shared metadata with
// the document's own.
func (s *Service) metadataDocument(c echo.Context, own map[string]any) error {
	doc := s.serverMetadata()
	maps.Copy(doc, own)
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, doc)
}

func (s *Service) handleDiscovery(c echo.Context) error {
	return s.metadataDocument(c, map[string]any{
		"end_session_endpoint":                  s.Issuer() + "/oauth2/logout",
		"response_modes_supported":              []string{"query"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{Alg},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
			"name", "given_name", "family_name", "email", "email_verified", "fhirUser"},
		"prompt_values_supported":                        []string{"none", "login"},
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"authorization_response_iss_parameter_supported": true,
	})
}

// authzParams are the parameters of an authorization request Roster reads;
// the sign-in page carries them from step to step.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "login_hint", "aud"}

// Limits on what an authorization request may ask Roster to keep.
const (
	maxScope = 2048
	maxNonce = 512
	maxState = 2048
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	params url.Values // authzParams as sent
	client *resources.ClientApplication
	// confidential: the client has a secret (it authenticates at the token
	// endpoint); a public one must use PKCE with S256.
	confidential bool
	// refusal is an error to send back to the client's redirect URI.
	refusal *resources.Error
}

func (ar *authzRequest) get(name string) string { return ar.params.Get(name) }

// grant is what the request asks a login to keep.
func (ar *authzRequest) grant() grant {
	return grant{scope: ar.scope(), nonce: ar.get("nonce"), redirectURI: ar.get("redirect_uri")}
}

// scope is the scope granted: the one asked, or else the client's default
// scope, or else openid.
func (ar *authzRequest) scope() string {
	if sc := strings.Join(strings.Fields(ar.get("scope")), " "); sc != "" {
		return sc
	}
	if len(ar.client.DefaultScope) > 0 {
		return strings.Join(ar.client.DefaultScope, " ")
	}
	return "openid"
}

// grant is what a login started by an authorization request keeps.
type grant struct{ scope, nonce, redirectURI string }

// authorization validates an authorization request. What cannot be sent
// back to the client — no or an unknown client, a redirect URI not
// registered on it — is err, shown as a page: Roster never redirects to an
// unregistered URI. Anything else wrong is ar.refusal, for the redirect.
func (s *Service) authorization(ctx context.Context, v url.Values) (*authzRequest, error) {
	ar := &authzRequest{params: url.Values{}}
	for _, p := range authzParams {
		if len(v[p]) > 1 {
			return nil, resources.Invalid(p, "The parameter %s is repeated", p)
		}
		if val := v.Get(p); val != "" {
			ar.params.Set(p, val)
		}
	}
	id := ar.get("client_id")
	if id == "" {
		return nil, resources.Invalid("client_id", "The request names no client (client_id)")
	}
	r, err := s.readClient(ctx, id)
	if resources.IsKind(err, resources.KindNotFound) || resources.IsKind(err, resources.KindGone) || resources.IsKind(err, resources.KindInvalid) {
		return nil, resources.Invalid("client_id", "Unknown client")
	}
	if err != nil {
		return nil, err
	}
	ar.client = r.(*resources.ClientApplication)
	redirect := ar.get("redirect_uri")
	if redirect == "" {
		return nil, resources.Invalid("redirect_uri", "The request has no redirect_uri")
	}
	if !registered(ar.client, redirect) {
		return nil, resources.Invalid("redirect_uri", "The redirect_uri is not registered for this client")
	}
	_, err = s.store.ClientSecretHash(ctx, id)
	switch {
	case err == nil:
		ar.confidential = true
	case !resources.IsKind(err, resources.KindNotFound):
		return nil, err
	}
	ar.refusal = ar.check(s.FHIRBase())
	return ar, nil
}

// check is what is wrong with a request whose client and redirect URI are
// right (nil for nothing), as the OAuth error to redirect with.
func (ar *authzRequest) check(fhirBase string) *resources.Error {
	method, challenge := ar.get("code_challenge_method"), ar.get("code_challenge")
	switch {
	case ar.get("response_type") == "":
		return OAuthError("invalid_request", "response_type is required")
	case ar.get("response_type") != "code":
		return OAuthError("unsupported_response_type", "Only the code flow (response_type=code) is supported")
	case ar.client.Status == "off":
		return OAuthError("unauthorized_client", "The client is turned off")
	case challenge == "" && method != "":
		return OAuthError("invalid_request", "code_challenge_method without code_challenge")
	case challenge == "" && !ar.confidential:
		return OAuthError("invalid_request", "A public client must use PKCE: code_challenge with code_challenge_method=S256")
	case challenge != "" && method != "S256":
		return OAuthError("invalid_request", "code_challenge_method must be S256")
	case challenge != "" && (len(challenge) < 43 || len(challenge) > 128):
		return OAuthError("invalid_request", "code_challenge must be 43 to 128 characters")
	case len(ar.get("scope")) > maxScope, len(ar.get("nonce")) > maxNonce, len(ar.get("state")) > maxState:
		return OAuthError("invalid_request", "scope, nonce or state is too long")
	case ar.get("aud") != "" && strings.TrimSuffix(ar.get("aud"), "/") != strings.TrimSuffix(fhirBase, "/"):
		return OAuthError("invalid_request", "aud is not this server's FHIR base URL")
	case slices.Contains(strings.Fields(ar.get("prompt")), "none"):
		// Roster keeps no browser session: a user always signs in (which
		// also satisfies prompt=login).
		return OAuthError("login_required", "The user must sign in")
	}
	return nil
}

// registered says whether uri is one of client's redirect URIs, exactly.
func registered(client *resources.ClientApplication, uri string) bool {
	return uri == client.RedirectURI || slices.Contains(client.RedirectURIs, uri)
}

// FHIRBase is the base URL of the FHIR API (SMART's aud).
func (s *Service) FHIRBase() string { return s.keys.issuer + "fhir/R4" }

// redirectBack sends the browser to the client's redirect URI with params
// (a code, or an error) and the request's state and Roster's issuer (RFC
// 9207).
func (s *Service) redirectBack(c echo.Context, ar *authzRequest, params url.Values) error {
	u, err := s.answerURL(ar, params)
	if err != nil {
		return err
	}
	status := http.StatusFound
	if c.Request().Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(status, u.String())
}

// answerURL is the client's redirect URI with params, the request's state
// and Roster's issuer.
func (s *Service) answerURL(ar *authzRequest, params url.Values) (*url.URL, error) {
	u, err := url.Parse(ar.get("redirect_uri"))
	if err != nil {
		return nil, resources.Invalid("redirect_uri", "The redirect_uri is not a URL")
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if st := ar.get("state"); st != "" {
		q.Set("state", st)
	}
	q.Set("iss", s.Issuer())
	u.RawQuery = q.Encode()
	return u, nil
}

// refuse redirects with e as an OAuth error.
func (s *Service) refuse(c echo.Context, ar *authzRequest, e *resources.Error) error {
	return s.redirectBack(c, ar, url.Values{"error": {e.OAuth}, "error_description": {e.Message}})
}

// handleAuthorize starts the code flow: a valid request shows the sign-in
// page (OpenID Connect Core §3.1.2.1 lets the request come by GET or POST).
func (s *Service) handleAuthorize(c echo.Context) error {
	return s.startAuthorization(c, c.QueryParams())
}

func (s *Service) startAuthorization(c echo.Context, v url.Values) error {
	ar, err := s.authorization(c.Request().Context(), v)
	if err != nil {
		return err
	}
	if ar.refusal != nil {
		return s.refuse(c, ar, ar.refusal)
	}
	return s.renderSignIn(c, http.StatusOK, ar, signInView{Email: ar.get("login_hint")})
}

// handleAuthorizeSubmit takes the sign-in page's forms (a step names
// which); a POST without one is an authorization request sent by POST.
func (s *Service) handleAuthorizeSubmit(c echo.Context) error {
	form, err := postForm(c)
	if err != nil {
		return err
	}
	step := form.Get("step")
	if step == "" {
		return s.startAuthorization(c, form)
	}
	if err := checkCSRF(c, form.Get("csrf")); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ar, err := s.authorization(ctx, form)
	if err != nil {
		return err
	}
	if ar.refusal != nil {
		return s.refuse(c, ar, ar.refusal)
	}
	var resp *LoginResponse
	switch step {
	case "signin":
		req := ar.loginRequest()
		req.Email, req.Password, req.Device = form.Get("email"), form.Get("password"), s.browserDevice(c)
		req.VerificationCode = strings.TrimSpace(form.Get("verificationCode"))
		resp, err = s.Login(ctx, req, c.RealIP(), c.Request().UserAgent())
	case "choose":
		resp, err = s.chooseFor(ctx, ar, form.Get("login"), form.Get("profile"), s.browserDevice(c))
	case "mfa", "enroll":
		resp, err = s.secondFactorFor(ctx, ar, step, form.Get("login"), form.Get("token"))
	case "upstream":
		return s.startUpstream(c, ar, form.Get("provider"))
	default:
		return resources.Invalid("step", "Unknown step")
	}
	return s.nextStep(c, ar, form, resp, err)
}

// loginRequest is the part of a sign-in the authorization request sets.
func (ar *authzRequest) loginRequest() LoginRequest {
	return LoginRequest{ClientID: ar.get("client_id"), CodeChallenge: ar.get("code_challenge"),
		CodeChallengeMethod: ar.get("code_challenge_method"), grant: ar.grant()}
}

// nextStep decides what the browser sees after a sign-in step: the
// client's redirect URI with the code once the login has one (after the
// recovery codes, when the step enrolled a second factor), the choice of
// membership when it has several, the second factor when the login is
// held for it, or the step's form again saying what is missing or wrong.
func (s *Service) nextStep(c echo.Context, ar *authzRequest, form url.Values, resp *LoginResponse, err error) error {
	switch {
	case err != nil:
		return s.stepFailed(c, ar, form, err)
	case resp.Code != "" && len(resp.RecoveryCodes) > 0:
		return s.renderRecovery(c, ar, resp)
	case resp.Code != "":
		return s.redirectBack(c, ar, url.Values{"code": {resp.Code}})
	case len(resp.Memberships) > 0:
		return s.renderChoice(c, ar, resp)
	case resp.MFARequired:
		return renderOIDC(c, http.StatusOK, s.secondFactorForm(c, ar, "mfa", resp.Login, ""))
	case resp.MFAEnrollRequired:
		return renderOIDC(c, http.StatusOK, s.secondFactorForm(c, ar, "enroll", resp.Login, resp.EnrollURI))
	case resp.VerificationRequired:
		view := signInView{Email: form.Get("email"), Verify: true,
			Message: "We emailed you a code to confirm this device. Enter it with your password."}
		return s.renderSignIn(c, http.StatusOK, ar, view)
	}
	return resources.Invalid("", "The sign-in could not continue")
}

// msgSignInAgain is what a step says of a login it cannot continue.
const msgSignInAgain = "That sign-in has expired or was already used. Please sign in again."

// stepFailed shows the form of the step that failed with what went wrong:
// a wrong code asks for the code again; a login that cannot go on, and
// anything wrong at the first step, shows the sign-in form. Errors that
// are not the user's (a 500, an unavailable database) reach the error
// page unprepared.
func (s *Service) stepFailed(c echo.Context, ar *authzRequest, form url.Values, err error) error {
	e, ok := resources.AsError(err)
	if !ok || (e.Kind != resources.KindInvalid && e.Kind != resources.KindTooMany) {
		return err
	}
	view := signInView{Email: form.Get("email"), Error: e.Message}
	switch step := form.Get("step"); {
	case (step == "mfa" || step == "enroll") && !blames(e, "login"):
		v := s.secondFactorForm(c, ar, step, form.Get("login"), form.Get("enrollUri"))
		v.Error = e.Message
		c.Set(oidcViewKey, v)
		return e
	case step == "choose", step == "mfa", step == "enroll":
		view.Error = msgSignInAgain
	}
	_, view.Verify = form["verificationCode"]
	return s.signInError(c, e, ar, view)
}

// blames reports whether one of e's issues names field.
func blames(e *resources.Error, field string) bool {
	return slices.ContainsFunc(e.Issues, func(i resources.Issue) bool { return i.Expression == field })
}

// requestLogin checks that loginID is a login this request's client
// started (a form may name any).
func (s *Service) requestLogin(ctx context.Context, ar *authzRequest, loginID string, refusal error) error {
	sess, err := s.store.Session(ctx, loginID)
	if err != nil || sess.Login.ClientID != ar.get("client_id") {
		return refusal
	}
	return nil
}

// chooseFor completes a login of this request's client that matched
// several memberships. (The code stays bound to the redirect URI the login
// was started with: the token request must repeat it.)
func (s *Service) chooseFor(ctx context.Context, ar *authzRequest, loginID, profile string, device func() string) (*LoginResponse, error) {
	if err := s.requestLogin(ctx, ar, loginID, resources.Invalid("login", "Login not found or already completed")); err != nil {
		return nil, err
	}
	return s.ChooseProfile(ctx, loginID, profile, device)
}

// secondFactorFor gives a login of this request's client held for its
// second factor the code typed (step mfa), or enrolls the user's new
// authenticator with its first code (step enroll), as /auth/mfa/verify
// and /auth/mfa/login-enroll do.
func (s *Service) secondFactorFor(ctx context.Context, ar *authzRequest, step, loginID, token string) (*LoginResponse, error) {
	if err := s.requestLogin(ctx, ar, loginID, errMFALoginNotHeld); err != nil {
		return nil, err
	}
	if step == "enroll" {
		return s.LoginEnrollMFA(ctx, loginID, token)
	}
	return s.VerifyMFA(ctx, loginID, token)
}

// browserDevice is the device secret of the browser signing in on the
// authorize page, when its project verifies new devices.
func (s *Service) browserDevice(c echo.Context) func() string {
	return func() string { return DeviceSecret(c, DeviceCookie, "/oauth2/", s.SecureCookies) }
}
