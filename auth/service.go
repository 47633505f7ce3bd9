package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/samber/lo"
	"golang.org/x/crypto/bcrypt"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
)

// Lifetimes of the things a login hands out.
var (
	AccessTokenTTL = time.Hour
	CodeTTL        = 10 * time.Minute
	LoginTTL       = 30 * 24 * time.Hour
)

// Service runs logins and checks credentials.
type Service struct {
	store Store
	res   *resources.Service
	keys  *Keys
	now   func() time.Time

	// Mail queues outgoing mail; AppURL is the base of links in mails.
	Mail   *mail.Outbox
	AppURL string

	// OnLinkUsed, when set, is told of every set-password or reset link
	// redeemed through POST /auth/setpassword, inside the transaction that
	// consumes it: an error rolls the redemption back. Dialects chain onto it
	// while the app is wired (e.g. to mark a vendor's invite accepted).
	OnLinkUsed func(ctx context.Context, l *Link) error

	// OnSignIn, when set, is told of every sign-in of a User once its login
	// is bound to membership m (at /auth/login with one membership, or at
	// the profile choice), inside the transaction that records it: an error
	// fails the sign-in. The admin service marks the membership's
	// invitation accepted through it. Client logins are not told.
	OnSignIn func(ctx context.Context, l *Login, m *resources.ProjectMembership) error

	// Limits throttle failed logins, reset requests and link redemptions
	// (DefaultLimits unless the app configures others).
	Limits Limits

	// Verification tunes new-device verification (DefaultVerification
	// where zero).
	Verification Verification
	// SecureCookies marks the cookies auth sets Secure (Roster is served
	// over https).
	SecureCookies bool

	// Meter, when set, counts sign-ins and throttle refusals for the
	// operator's metrics.
	Meter Meter

	// Log, when set, receives what the pages do not say: why an identity
	// provider's answer was refused.
	Log *slog.Logger
	// UpstreamClient talks to identity providers (default: a 10-second
	// timeout).
	UpstreamClient *http.Client

	verificationAliases []string

	dummyOnce sync.Once
	dummy     string

	purgeMu  sync.Mutex
	purgedAt time.Time

	callers callerCache
}

// Meter counts auth's events for the metrics (package telemetry).
type Meter interface {
	// SignIn counts a sign-in of kind SignInUser or SignInClient.
	SignIn(kind string, succeeded bool)
	// Throttled counts an attempt a throttle refused, by what was being
	// throttled: login, client, reset, link or lockout.
	Throttled(kind string)
}

// Kinds of sign-in Meter counts.
const (
	SignInUser   = "user"   // email and password (POST /auth/login, every dialect's login)
	SignInClient = "client" // client credentials at POST /oauth2/token
)

// countSignIn tells the Meter, if any, of a sign-in.
func (s *Service) countSignIn(kind string, succeeded bool) {
	if s.Meter != nil {
		s.Meter.SignIn(kind, succeeded)
	}
}

// NewService returns the auth service.
func NewService(store Store, res *resources.Service, keys *Keys) *Service {
	return &Service{store: store, res: res, keys: keys, now: time.Now, Limits: DefaultLimits}
}

// SetClock makes now the service's clock (time.Now by default): the one
// that issues and judges logins, codes and links. Call it before serving.
func (s *Service) SetClock(now func() time.Time) {
	if now != nil {
		s.now = now
	}
}

// Keys returns the signing keys.
func (s *Service) Keys() *Keys { return s.keys }

// comparePassword compares in constant work whether or not a hash exists:
// the unknown-account path hashes against a dummy of the same cost.
func (s *Service) comparePassword(hash, pw string) bool {
	if hash == "" {
		s.dummyOnce.Do(func() {
			h, _ := bcrypt.GenerateFromPassword([]byte("roster-dummy-password"), BcryptCost)
			s.dummy = string(h)
		})
		_ = bcrypt.CompareHashAndPassword([]byte(s.dummy), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

func search[T resources.Resource](ctx context.Context, res *resources.Service, typ string, params url.Values) ([]T, error) {
	t, _ := resources.Lookup(typ)
	q, err := resources.ParseQuery(t, params)
	if err != nil {
		return nil, err
	}
	q.Count = resources.MaxCount
	return resources.SearchTyped[T](resources.AsSystem(ctx, ""), res, q)
}

// FindUser finds the User signing in with email: the project-scoped user of
// projectID if there is one, else the server-scoped user, else the only
// project-scoped user with that email.
func (s *Service) FindUser(ctx context.Context, email, projectID string) (*resources.User, error) {
	users, err := search[*resources.User](ctx, s.res, "User", url.Values{"email": {resources.EmailKey(email)}})
	if err != nil {
		return nil, err
	}
	var server, scoped []*resources.User
	for _, u := range users {
		if u.Project == nil {
			server = append(server, u)
		} else if projectID == "" || u.Project.Reference == "Project/"+projectID {
			scoped = append(scoped, u)
		}
	}
	switch {
	case projectID != "" && len(scoped) == 1:
		return scoped[0], nil
	case len(server) == 1:
		return server[0], nil
	case len(scoped) == 1:
		return scoped[0], nil
	}
	return nil, resources.NotFound("User not found")
}

// Memberships lists the active memberships of a User or ClientApplication.
// It searches by user alone: a user has a membership per project, while
// active=true matches nearly every membership of the server, and a plan
// that let that filter drive (one of two filter orders did) read all of
// them on each sign-in — a second at a million resources.
func (s *Service) Memberships(ctx context.Context, ref string) ([]*resources.ProjectMembership, error) {
	mems, err := search[*resources.ProjectMembership](ctx, s.res, "ProjectMembership", url.Values{"user": {ref}})
	return lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool { return m.IsActive() }), err
}

// LoginRequest is the body of POST /auth/login.
type LoginRequest struct {
	Email               string `json:"email"`
	Password            string `json:"password"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
	ClientID            string `json:"clientId"`
	ProjectID           string `json:"projectId"`
	Scope               string `json:"scope"`
	Remember            bool   `json:"remember"`
	ResourceType        string `json:"resourceType"`
	Nonce               string `json:"nonce"`
	LaunchID            string `json:"launch"`
	RedirectURI         string `json:"redirectUri"`
	GoogleClientID      string `json:"googleClientId"`

	// New-device verification, in a project that turns it on: the code
	// mailed for this device, whether a right code remembers the device
	// (default true; false lets this one sign-in in), and a name for it.
	VerificationCode string `json:"verificationCode"`
	RememberDevice   *bool  `json:"rememberDevice"`
	DeviceName       string `json:"deviceName"`

	// What only the surface sets, never the body. Device returns the
	// device's secret (a cookie it may have to set), asked for only when
	// the project verifies new devices. TrustDevice remembers the device
	// without a code (the user just registered from it). Lockout is the
	// dialect's account lock in the project, if its vendor documents one.
	Device      func() string `json:"-"`
	TrustDevice bool          `json:"-"`
	Lockout     Lockout       `json:"-"`

	// grant is what an OpenID Connect authorization request asks the login
	// to keep (set by the authorize page only: /auth/login's own scope,
	// nonce and redirectUri are not kept, as before).
	grant grant
	// upstream: an external identity provider signed the user in (no
	// password was checked here, nor is the device).
	upstream bool
}

// LoginResponse is {login, code} or {login, memberships}; or, when the
// project verifies new devices and this one is not known yet,
// {verificationRequired: true, verificationSent}: sign in again with the
// code mailed (verificationSent says whether this answer mailed a new one;
// false, an earlier one is still pending). A user with a second factor
// gets {login, mfaRequired: true}, one who must enroll one first {login,
// mfaEnrollRequired: true, enrollUri, enrollQrCode} (see mfa_login.go);
// RecoveryCodes are shown once, at enrollment.
type LoginResponse struct {
	Login                string            `json:"login,omitempty"`
	Code                 string            `json:"code,omitempty"`
	Memberships          []json.RawMessage `json:"memberships,omitempty"`
	VerificationRequired bool              `json:"verificationRequired,omitempty"`
	VerificationSent     bool              `json:"verificationSent,omitempty"`
	MFARequired          bool              `json:"mfaRequired,omitempty"`
	MFAEnrollRequired    bool              `json:"mfaEnrollRequired,omitempty"`
	EnrollURI            string            `json:"enrollUri,omitempty"`
	EnrollQRCode         string            `json:"enrollQrCode,omitempty"`
	RecoveryCodes        []string          `json:"recoveryCodes,omitempty"`
}

var errBadLogin = &resources.Error{Kind: resources.KindInvalid, Code: "invalid", Message: "Email or password is invalid",
	Issues: []resources.Issue{{Code: "invalid", Expression: "password", Message: "Email or password is invalid"}}}

// Login checks an email and password and starts a login. In a project that
// verifies new devices the device must be known, or the request carry the
// code mailed for it: else the answer asks for one (see LoginResponse).
func (s *Service) Login(ctx context.Context, req LoginRequest, remoteAddr, userAgent string) (*LoginResponse, error) {
	var issues []resources.Issue
	if strings.TrimSpace(req.Email) == "" {
		issues = append(issues, resources.Issue{Code: "required", Expression: "email", Message: "Email is required"})
	}
	if req.Password == "" {
		issues = append(issues, resources.Issue{Code: "required", Expression: "password", Message: "Password is required"})
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != "S256" && req.CodeChallengeMethod != "plain" {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "codeChallengeMethod", Message: "codeChallengeMethod must be S256 or plain"})
	}
	if req.CodeChallengeMethod != "" && req.CodeChallenge == "" {
		issues = append(issues, resources.Issue{Code: "required", Expression: "codeChallenge", Message: "codeChallenge is required with codeChallengeMethod"})
	}
	if len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	projectID := req.ProjectID
	if req.ClientID != "" {
		client, err := s.readClient(ctx, req.ClientID)
		if err != nil {
			return nil, resources.Invalid("clientId", "Client not found")
		}
		if projectID == "" {
			projectID = client.Base().Meta.Project
		}
	}
	if remoteAddr == "" {
		remoteAddr = audit.Address(ctx)
	}
	// A dialect's documented lock is checked first: its refusal is the one
	// its clients know.
	lock, err := s.beginLockout(ctx, req.Lockout, projectID, req.Email)
	if err != nil {
		return nil, err
	}
	att, err := s.beginAttempt(ctx, throttleLogin, req.Email, remoteAddr)
	if err != nil {
		return nil, err
	}
	user, err := s.FindUser(ctx, req.Email, projectID)
	// An unknown email makes the same database round trip and the same
	// bcrypt work as a known one (against a dummy hash).
	hashOf := uuid.NewString()
	if err == nil {
		hashOf = user.ID
	}
	hash, _ := s.store.PasswordHash(ctx, hashOf)
	if err != nil {
		hash = ""
	}
	if !s.comparePassword(hash, req.Password) || user == nil {
		att.fail(ctx)
		lock.fail(ctx)
		s.auditLoginFailure(ctx, req.Email, projectID, user, errBadLogin.Message)
		return nil, errBadLogin
	}
	att.succeed(ctx)
	mems, err := s.Memberships(ctx, "User/"+user.ID)
	if err != nil {
		return nil, err
	}
	if projectID != "" {
		mems = filter(mems, func(m *resources.ProjectMembership) bool { return m.Project.Reference == "Project/"+projectID })
	}
	if len(mems) == 0 {
		lock.fail(ctx)
		s.auditLoginFailure(ctx, req.Email, projectID, user, "User has no active membership in this project")
		return nil, resources.Invalid("projectId", "User has no active membership in this project")
	}
	lock.succeed(ctx)
	return s.startLogin(ctx, user, mems, projectID, &req, remoteAddr, userAgent)
}

// startLogin starts the login of user, whose credentials were checked, as
// req asks: mems are its active memberships (in projectID, when the
// sign-in names one). The new device is checked, unless an upstream
// identity provider signed the user in; the login is held for its second
// factor when the user has one or must enroll one; else it answers the
// code, or the memberships to choose from.
func (s *Service) startLogin(ctx context.Context, user *resources.User, mems []*resources.ProjectMembership, projectID string,
	req *LoginRequest, remoteAddr, userAgent string) (*LoginResponse, error) {
	// The device is checked for the project the login is for; a login that
	// named none and matched several has it checked when one is chosen.
	into := projectID
	if into == "" && len(mems) == 1 {
		into = strings.TrimPrefix(mems[0].Project.Reference, "Project/")
	}
	if into != "" && !req.upstream {
		if ask, err := s.checkDevice(ctx, deviceAttempt{userID: user.ID, user: user, project: into, req: req}); err != nil || ask != nil {
			return ask, err
		}
	}
	now := s.now().UTC()
	l := &Login{ID: uuid.NewString(), UserID: user.ID, ClientID: req.ClientID, CodeChallenge: req.CodeChallenge,
		CodeMethod: req.CodeChallengeMethod, CreatedAt: now, ExpiresAt: now.Add(LoginTTL),
		RemoteAddr: remoteAddr, UserAgent: truncate(userAgent, 250),
		Scope: req.grant.scope, Nonce: req.grant.nonce, RedirectURI: req.grant.redirectURI}
	switch {
	case len(mems) == 1:
		l.MembershipID, l.ProjectID = mems[0].ID, strings.TrimPrefix(mems[0].Project.Reference, "Project/")
	case projectID != "":
		// Several memberships in the project named: the choice stays in it
		// (and its device was checked above).
		l.ProjectID = projectID
	}
	if held, err := s.holdForMFA(ctx, user, mems, l); err != nil || held != nil {
		return held, err
	}
	code := Secret()
	l.CodeHash = HashSecret(code)
	var bound *resources.ProjectMembership
	if len(mems) == 1 {
		bound = mems[0]
	}
	if err := s.createLogin(ctx, l, bound); err != nil {
		return nil, err
	}
	if len(mems) == 1 {
		return &LoginResponse{Login: l.ID, Code: code}, nil
	}
	// The user must choose: the code is only released by /auth/profile.
	out := &LoginResponse{Login: l.ID}
	for _, m := range mems {
		b, _ := json.Marshal(m)
		out.Memberships = append(out.Memberships, b)
	}
	return out, nil
}

// clientMemberships lists a ClientApplication's active memberships in its own
// project. Any project admin can write a membership naming any client; one
// made elsewhere must not move the client (and what it writes) there.
func (s *Service) clientMemberships(ctx context.Context, id string) ([]*resources.ProjectMembership, error) {
	client, err := s.readClient(ctx, id)
	if err != nil {
		return nil, err
	}
	mems, err := s.Memberships(ctx, "ClientApplication/"+id)
	if err != nil {
		return nil, err
	}
	home := "Project/" + client.Base().Meta.Project
	return filter(mems, func(m *resources.ProjectMembership) bool { return m.Project.Reference == home }), nil
}

// ChooseProfile completes a login that matched several memberships. When
// the login named no project, the chosen one's new-device verification
// applies here: device gives the device's secret (as LoginRequest.Device),
// and an unknown device is asked to sign in again naming the project, with
// the code mailed.
func (s *Service) ChooseProfile(ctx context.Context, loginID, membershipID string, device func() string) (*LoginResponse, error) {
	var l *Login
	sess, err := s.store.Session(ctx, loginID)
	if err == nil {
		l = &sess.Login
	}
	if l == nil || !l.RevokedAt.IsZero() || l.MembershipID != "" || s.now().After(l.CreatedAt.Add(CodeTTL)) {
		return nil, resources.Invalid("login", "Login not found or already completed")
	}
	if err := s.requireMFADone(ctx, l.ID); err != nil {
		return nil, err
	}
	mems, err := s.Memberships(ctx, "User/"+l.UserID)
	if err != nil {
		return nil, err
	}
	for _, m := range mems {
		if l.ProjectID != "" && m.Project.Reference != "Project/"+l.ProjectID {
			continue
		}
		if m.ID == membershipID || m.Profile.Reference == membershipID {
			if l.ProjectID == "" {
				into := strings.TrimPrefix(m.Project.Reference, "Project/")
				if ask, err := s.checkDevice(ctx, deviceAttempt{userID: l.UserID, project: into, req: &LoginRequest{Device: device}}); err != nil || ask != nil {
					return ask, err
				}
			}
			code := Secret()
			if err := s.store.InTx(ctx, func(ctx context.Context) error {
				if err := s.store.SetLoginMembership(ctx, l.ID, m.ID, strings.TrimPrefix(m.Project.Reference, "Project/")); err != nil {
					return err
				}
				if err := s.store.RotateCode(ctx, l.ID, HashSecret(code)); err != nil {
					return err
				}
				return s.signedIn(ctx, l, m)
			}); err != nil {
				return nil, err
			}
			s.countSignIn(SignInUser, true)
			return &LoginResponse{Login: l.ID, Code: code}, nil
		}
	}
	return nil, resources.Invalid("profile", "Profile not found")
}

// TokenResponse is the OAuth2 token answer (Medplum's fields).
type TokenResponse struct {
	AccessToken  string               `json:"access_token"`
	RefreshToken string               `json:"refresh_token,omitempty"`
	ExpiresIn    int                  `json:"expires_in"`
	TokenType    string               `json:"token_type"`
	Scope        string               `json:"scope,omitempty"`
	IDToken      string               `json:"id_token,omitempty"`
	Project      *resources.Reference `json:"project,omitempty"`
	Profile      *resources.Reference `json:"profile,omitempty"`
}

// OAuthError is an RFC 6749 error: a 400 that the token endpoint answers
// as {error: code, error_description: description} and any other surface
// as its own 400.
func OAuthError(code, description string) *resources.Error {
	return &resources.Error{Kind: resources.KindInvalid, Code: "invalid", OAuth: code, Message: description}
}

// errBadClient is a wrong client id or secret: the one answer that counts
// toward the client_credentials throttle.
var errBadClient = OAuthError("invalid_client", "Invalid client credentials")

func invalidGrant(desc string) *resources.Error { return OAuthError("invalid_grant", desc) }

// Exchange runs the token endpoint for one grant; basicID and basicSecret
// are the client's HTTP Basic credentials, if it sent any.
func (s *Service) Exchange(ctx context.Context, form url.Values, basicID, basicSecret string) (*TokenResponse, error) {
	ca := clientAuthOf(form, basicID, basicSecret)
	resp, err := s.exchange(ctx, form, ca)
	return resp, ca.failure(err)
}

func (s *Service) exchange(ctx context.Context, form url.Values, ca clientAuth) (*TokenResponse, error) {
	switch form.Get("grant_type") {
	case "authorization_code":
		return s.exchangeCode(ctx, form, ca)
	case "client_credentials":
		id, secret := ca.id, ca.secret
		if id == "" || secret == "" {
			return nil, OAuthError("invalid_request", "Missing client_id or client_secret")
		}
		att, err := s.beginAttempt(ctx, throttleClient, id, audit.Address(ctx))
		if err != nil {
			return nil, err
		}
		resp, err := s.clientCredentials(ctx, id, secret, form.Get("scope"))
		if err == errBadClient {
			att.fail(ctx)
		} else {
			att.succeed(ctx)
		}
		return resp, err
	case "refresh_token":
		return s.refresh(ctx, form.Get("refresh_token"), ca)
	case "":
		return nil, OAuthError("invalid_request", "Missing grant_type")
	}
	return nil, OAuthError("unsupported_grant_type", "Unsupported grant_type")
}

func (s *Service) exchangeCode(ctx context.Context, form url.Values, ca clientAuth) (*TokenResponse, error) {
	code := form.Get("code")
	if code == "" {
		return nil, OAuthError("invalid_request", "Missing code")
	}
	l, err := s.store.LoginByCode(ctx, HashSecret(code))
	if err != nil {
		return nil, invalidGrant("Invalid code")
	}
	if !l.RevokedAt.IsZero() || s.now().After(l.CreatedAt.Add(CodeTTL)) {
		return nil, invalidGrant("Invalid code")
	}
	if l.MembershipID == "" {
		return nil, invalidGrant("Login profile not set")
	}
	if err := s.checkClient(ctx, l.ClientID, ca); err != nil {
		return nil, err
	}
	if l.RedirectURI != "" && form.Get("redirect_uri") != l.RedirectURI {
		return nil, invalidGrant("redirect_uri does not match the authorization request")
	}
	if l.CodeChallenge != "" {
		verifier := form.Get("code_verifier")
		if verifier == "" {
			return nil, invalidGrant("Missing code verifier")
		}
		want := verifier
		if l.CodeMethod == "S256" {
			sum := sha256.Sum256([]byte(verifier))
			want = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(l.CodeChallenge)) != 1 {
			return nil, invalidGrant("Invalid code verifier")
		}
	}
	ok, err := s.store.UseCode(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		// A code used twice is a stolen code: revoke what it produced.
		_ = s.store.RevokeLogin(ctx, l.ID)
		return nil, invalidGrant("Invalid code")
	}
	return s.issue(ctx, l, true)
}

func (s *Service) clientCredentials(ctx context.Context, id, secret, scope string) (*TokenResponse, error) {
	hash, err := s.store.ClientSecretHash(ctx, id)
	if err != nil || subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) != 1 {
		s.auditClientFailure(ctx, id, errBadClient.Message)
		return nil, errBadClient
	}
	mems, err := s.clientMemberships(ctx, id)
	if err != nil || len(mems) == 0 {
		s.auditClientFailure(ctx, id, "Client has no active membership")
		return nil, OAuthError("invalid_client", "Client has no active membership")
	}
	now := s.now().UTC()
	l := &Login{ID: uuid.NewString(), UserID: id, ClientID: id, MembershipID: mems[0].ID,
		ProjectID: strings.TrimPrefix(mems[0].Project.Reference, "Project/"), CreatedAt: now, ExpiresAt: now.Add(AccessTokenTTL),
		Scope: strings.Join(strings.Fields(scope), " ")}
	if err := s.createLogin(ctx, l, mems[0]); err != nil {
		return nil, err
	}
	return s.issue(ctx, l, false)
}

func (s *Service) refresh(ctx context.Context, token string, ca clientAuth) (*TokenResponse, error) {
	if token == "" {
		return nil, OAuthError("invalid_request", "Missing refresh_token")
	}
	old := HashSecret(token)
	l, err := s.store.LoginByRefresh(ctx, old)
	if err != nil || !l.RevokedAt.IsZero() || s.now().After(l.ExpiresAt) {
		if err == nil {
			s.auditRefreshFailure(ctx, l, "Login revoked or expired")
		}
		return nil, invalidGrant("Invalid refresh token")
	}
	if err := s.checkClient(ctx, l.ClientID, ca); err != nil {
		return nil, err
	}
	resp, err := s.tokens(ctx, l)
	if err != nil {
		return nil, err
	}
	refresh := Secret()
	ok, err := s.rotateRefresh(ctx, l, old, HashSecret(refresh), resp.Profile)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalidGrant("Invalid refresh token")
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// issue answers a token request for a login that was just granted.
func (s *Service) issue(ctx context.Context, l *Login, withRefresh bool) (*TokenResponse, error) {
	resp, err := s.tokens(ctx, l)
	if err != nil {
		return nil, err
	}
	if withRefresh {
		refresh := Secret()
		ok, err := s.store.RotateRefresh(ctx, l.ID, "", HashSecret(refresh))
		if err != nil {
			return nil, err
		}
		if ok {
			resp.RefreshToken = refresh
		}
	}
	return resp, nil
}

// tokens signs an access token for the login's current membership.
func (s *Service) tokens(ctx context.Context, l *Login) (*TokenResponse, error) {
	sess, err := s.store.Session(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	var m resources.ProjectMembership
	if sess.Membership == nil || json.Unmarshal(sess.Membership, &m) != nil || (m.Active != nil && !*m.Active) {
		return nil, invalidGrant("Membership is not active")
	}
	if !sess.UserLive() {
		return nil, invalidGrant("User not found")
	}
	exp := s.now().Add(AccessTokenTTL)
	scope := l.Scope
	if scope == "" {
		scope = "openid offline"
	}
	claims := &Claims{LoginID: l.ID, ClientID: l.ClientID, Profile: m.Profile.Reference, Username: l.UserID, Scope: scope}
	claims.Subject = l.UserID
	claims.ExpiresAt = jwt.NewNumericDate(exp)
	at, err := s.keys.Sign(claims)
	if err != nil {
		return nil, err
	}
	idToken, err := s.idToken(l, sess, m.Profile.Reference, at)
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: at, ExpiresIn: int(AccessTokenTTL.Seconds()), TokenType: "Bearer", Scope: claims.Scope, IDToken: idToken,
		Project: &resources.Reference{Reference: m.Project.Reference}, Profile: &resources.Reference{Reference: m.Profile.Reference, Display: m.Profile.Display}}, nil
}

// ErrUnauthenticated is every credential failure: one answer, no detail.
var ErrUnauthenticated = resources.Unauthorized("Unauthorized")

// Authenticate resolves a bearer token into the caller it acts for, checking
// the login and membership in the database on every call.
func (s *Service) Authenticate(ctx context.Context, token string) (*resources.Caller, error) {
	claims, err := s.keys.Verify(ctx, token)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	c, err := s.callerForLogin(ctx, claims.LoginID)
	if err != nil {
		return nil, err
	}
	c.Scope = claims.Scope
	return c, nil
}

// callerForLogin checks the login, its membership and its user in the
// database on every request, so logout and deactivation take effect on the
// next one; what was decoded from a membership and user is reused while
// their versions stay the same.
func (s *Service) callerForLogin(ctx context.Context, loginID string) (*resources.Caller, error) {
	known, cached := s.callers.get(loginID)
	sess, err := s.store.CurrentSession(ctx, loginID, known)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return nil, ErrUnauthenticated
		}
		return nil, err
	}
	l := sess.Login
	if !l.RevokedAt.IsZero() || s.now().After(l.ExpiresAt) || l.MembershipID == "" || sess.MembershipVersion == 0 || !sess.UserLive() {
		return nil, ErrUnauthenticated
	}
	var c resources.Caller
	// The store leaves out a membership or user whose version is the one
	// known; anything else is decoded (only the fields a caller is made of).
	switch {
	case sess.Membership != nil:
		var m sessionMembership
		if json.Unmarshal(sess.Membership, &m) != nil || (m.Active != nil && !*m.Active) {
			return nil, ErrUnauthenticated
		}
		c.Project, c.Admin = strings.TrimPrefix(m.Project.Reference, "Project/"), m.Admin != nil && *m.Admin
		c.MembershipID, c.Profile = m.ID, m.Profile.Reference
		if m.AccessPolicy != nil {
			c.AccessPolicy = m.AccessPolicy.Reference
		}
	case cached != nil && known.MembershipID == l.MembershipID && known.MembershipVersion == sess.MembershipVersion:
		c.Project, c.Admin, c.MembershipID, c.Profile, c.AccessPolicy = cached.Project, cached.Admin, cached.MembershipID, cached.Profile, cached.AccessPolicy
	default:
		return nil, ErrUnauthenticated
	}
	switch {
	case sess.User != nil:
		var u struct {
			Admin *bool `json:"admin"`
		}
		c.SuperAdmin = json.Unmarshal(sess.User, &u) == nil && u.Admin != nil && *u.Admin
	case cached != nil && sess.UserVersion != 0 && known.UserID == l.UserID && known.UserVersion == sess.UserVersion:
		c.SuperAdmin = cached.SuperAdmin
	}
	if cached == nil || sess.Membership != nil || sess.User != nil {
		s.callers.put(loginID, Known{MembershipID: l.MembershipID, MembershipVersion: sess.MembershipVersion, UserID: l.UserID, UserVersion: sess.UserVersion}, c)
	}
	c.UserID, c.LoginID, c.ClientID = l.UserID, l.ID, l.ClientID
	return &c, nil
}

// sessionMembership is the part of a ProjectMembership a request's caller
// is made of.
type sessionMembership struct {
	ID           string               `json:"id"`
	Active       *bool                `json:"active"`
	Admin        *bool                `json:"admin"`
	Project      resources.Reference  `json:"project"`
	Profile      resources.Reference  `json:"profile"`
	AccessPolicy *resources.Reference `json:"accessPolicy"`
}

// AuthenticateClient resolves ClientApplication credentials (HTTP Basic on
// API calls, as Medplum accepts) into a caller.
func (s *Service) AuthenticateClient(ctx context.Context, id, secret string) (*resources.Caller, error) {
	hash, err := s.store.ClientSecretHash(ctx, id)
	if err != nil || subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) != 1 {
		return nil, ErrUnauthenticated
	}
	return s.clientCaller(ctx, id)
}

// AuthenticateAPIKey resolves a client secret alone (a dialect's static API
// key) into the caller of the ClientApplication that owns it.
func (s *Service) AuthenticateAPIKey(ctx context.Context, secret string) (*resources.Caller, error) {
	if secret == "" {
		return nil, ErrUnauthenticated
	}
	id, err := s.store.ClientBySecretHash(ctx, HashSecret(secret))
	if err != nil {
		return nil, ErrUnauthenticated
	}
	return s.clientCaller(ctx, id)
}

func (s *Service) clientCaller(ctx context.Context, id string) (*resources.Caller, error) {
	mems, err := s.clientMemberships(ctx, id)
	if err != nil || len(mems) == 0 {
		return nil, ErrUnauthenticated
	}
	m := mems[0]
	c := &resources.Caller{Project: strings.TrimPrefix(m.Project.Reference, "Project/"), Admin: m.Admin != nil && *m.Admin,
		UserID: id, MembershipID: m.ID, ClientID: id, Profile: m.Profile.Reference}
	if m.AccessPolicy != nil {
		c.AccessPolicy = m.AccessPolicy.Reference
	}
	return c, nil
}

// Logout revokes the caller's login at once.
func (s *Service) Logout(ctx context.Context, c *resources.Caller) error {
	if c.LoginID == "" {
		return resources.Invalid("", "Not signed in with a login")
	}
	return s.logout(ctx, c)
}

// SetPassword validates and stores a user's new password and ends every
// login of that user except keep.
func (s *Service) SetPassword(ctx context.Context, userID, password, keep string) error {
	return s.SetNewPassword(ctx, userID, PasswordToSet(password), keep)
}

// SetNewPassword is SetPassword for a password whose hash may be under way.
func (s *Service) SetNewPassword(ctx context.Context, userID string, pw *NewPassword, keep string) error {
	if err := CheckPasswordRules("password", pw.clear, s.userFacts(ctx, userID)...); err != nil {
		return err
	}
	hash, err := pw.Hash()
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.SetPasswordHash(ctx, userID, hash); err != nil {
			return err
		}
		if err := s.store.RevokeUserLogins(ctx, userID, keep); err != nil {
			return err
		}
		return s.auditUser(ctx, audit.Event{Act: audit.PasswordSet}, userID)
	})
}

// HasPassword reports whether userID has a password to sign in with.
func (s *Service) HasPassword(ctx context.Context, userID string) (bool, error) {
	_, err := s.store.PasswordHash(ctx, userID)
	switch {
	case err == nil:
		return true, nil
	case resources.IsKind(err, resources.KindNotFound):
		return false, nil
	}
	return false, err
}

// ChangePassword checks the old password and sets the new one; the caller's
// other logins end.
func (s *Service) ChangePassword(ctx context.Context, c *resources.Caller, oldPw, newPw string) error {
	if c.ClientID != "" && c.ClientID == c.UserID {
		return resources.Forbidden("Clients have no password")
	}
	if err := CheckPasswordRules("newPassword", newPw, s.userFacts(ctx, c.UserID)...); err != nil {
		return err
	}
	hash, _ := s.store.PasswordHash(ctx, c.UserID)
	if !s.comparePassword(hash, oldPw) {
		s.auditPasswordChangeRefused(ctx, c)
		return resources.Invalid("oldPassword", "Incorrect password")
	}
	hashNew, err := HashPassword(newPw)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.SetPasswordHash(ctx, c.UserID, hashNew); err != nil {
			return err
		}
		if err := s.store.RevokeUserLogins(ctx, c.UserID, c.LoginID); err != nil {
			return err
		}
		return s.auditUser(ctx, audit.Event{Act: audit.PasswordChange}, c.UserID)
	})
}

// CreateClientSecret gives a ClientApplication a new secret and returns it;
// only its hash is kept.
func (s *Service) CreateClientSecret(ctx context.Context, clientID string) (string, error) {
	secret := Secret()
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.SetClientSecretHash(ctx, clientID, HashSecret(secret)); err != nil {
			return err
		}
		return s.auditClientSecret(ctx, clientID)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// userFacts are the User's email and names, which its password must not
// lean on (nil when the user cannot be read).
func (s *Service) userFacts(ctx context.Context, userID string) []string {
	rec, err := s.res.Read(resources.AsSystem(ctx, ""), "User", userID)
	if err != nil {
		return nil
	}
	var u resources.User
	if json.Unmarshal(rec.Content, &u) != nil {
		return nil
	}
	return []string{u.Email, u.FirstName, u.LastName}
}

func (s *Service) readClient(ctx context.Context, id string) (resources.Resource, error) {
	rec, err := s.res.Read(resources.AsSystem(ctx, ""), "ClientApplication", id)
	if err != nil {
		return nil, err
	}
	return resources.Unmarshal(rec)
}

func filter[T any](in []T, keep func(T) bool) []T {
	var out []T
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
