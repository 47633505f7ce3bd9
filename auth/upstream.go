package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"github.com/samber/lo"
	"golang.org/x/oauth2"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// Sign-in through an external identity provider, configured as Medplum
// does (identityProvider on the ClientApplication or, for every client of
// a project, on the Project). The sign-in page offers it; Roster runs the
// authorization-code flow against it as a relying party — PKCE (S256),
// state and nonce, through golang.org/x/oauth2 and coreos/go-oidc, which
// validates the id_token (signature from the provider's JWKS, iss, aud,
// exp) — and matches the user by verified email or, with useSubject, by
// the membership's externalId. The sign-in then goes on as a password one
// would: the second factor, the choice of membership, the code.
//
// The round trip's state is kept server-side: only its hash is stored,
// with the authorization request, the nonce and the hash of a binding
// secret set as a cookie in the browser that started it; the callback
// takes the row once, within UpstreamTTL, and only in that browser. The
// PKCE verifier is derived from the binding secret, so it is stored
// nowhere.

// UpstreamState is a sign-in through an identity provider in flight.
type UpstreamState = store.UpstreamState

// UpstreamStore is the storage sign-ins through identity providers need.
type UpstreamStore interface {
	// AddUpstreamState stores st, purging states started before before.
	AddUpstreamState(ctx context.Context, st *UpstreamState, before time.Time) error
	// TakeUpstreamState reads and deletes a state, once; NotFound when
	// there is none of that hash.
	TakeUpstreamState(ctx context.Context, hash string) (*UpstreamState, error)
}

// UpstreamTTL is how long a sign-in may spend at the identity provider.
const UpstreamTTL = 10 * time.Minute

// upstreamCookie holds the binding secret of the browser's sign-in in flight.
const upstreamCookie = "roster.upstream"

// upstreamScopes are asked of every identity provider.
var upstreamScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// upstream is an identity provider an authorization request may use:
// source says whose it is, the client's or the client's project's.
type upstream struct {
	source string
	idp    *resources.IdentityProvider
}

// label names the provider on the sign-in page: its host.
func (u upstream) label() string {
	for _, raw := range []string{u.idp.Issuer, u.idp.AuthorizeURL} {
		if p, err := url.Parse(raw); err == nil && p.Host != "" {
			return p.Host
		}
	}
	return "your organization"
}

// flight is what the callback needs of a sign-in sent upstream.
type flight struct {
	Params  url.Values `json:"params"` // the authorization request
	Source  string     `json:"source"`
	Nonce   string     `json:"nonce"`
	Binding string     `json:"binding"` // hash of the browser's binding secret
}

// The refusals of the round trip, shown on the sign-in pages.
var (
	errUpstreamState = resources.Invalid("state", "This sign-in has expired, was already used, or was started in another browser. "+
		"Go back to the application and sign in again.")
	errUpstreamUnknown = resources.Invalid("provider", "This application does not sign in through that identity provider.")
)

// upstreamFailed is a sign-in the identity provider's answer did not
// complete; what was wrong goes to the log, not the page.
func upstreamFailed(u upstream, why string) *resources.Error {
	return resources.Invalid("", "The sign-in at %s could not be completed (%s). Try again, or sign in with your password.", u.label(), why)
}

// upstreamUnreachable is a provider Roster could not talk to.
func upstreamUnreachable(u upstream) *resources.Error {
	return resources.Unavailable("%s cannot be reached right now. Try again later, or sign in with your password.", u.label())
}

// UpstreamCallback is the redirect URI to register at identity providers.
func (s *Service) UpstreamCallback() string { return s.keys.issuer + "oauth2/callback" }

// upstreams lists the identity providers a request's sign-in page offers:
// its client's, then its client's project's.
func (s *Service) upstreams(ctx context.Context, ar *authzRequest) []upstream {
	var out []upstream
	if p := ar.client.IdentityProvider; p != nil {
		out = append(out, upstream{"client", p})
	}
	proj, _, err := resources.ReadTyped[*resources.Project](resources.AsSystem(ctx, ""), s.res, "Project", ar.client.Base().Meta.Project)
	if err == nil && proj.IdentityProvider != nil && !(len(out) == 1 && sameProvider(out[0].idp, proj.IdentityProvider)) {
		out = append(out, upstream{"project", proj.IdentityProvider})
	}
	return out
}

func sameProvider(a, b *resources.IdentityProvider) bool {
	return a.AuthorizeURL == b.AuthorizeURL && a.ClientID == b.ClientID
}

// upstreamOf is the request's identity provider of that source.
func (s *Service) upstreamOf(ctx context.Context, ar *authzRequest, source string) (upstream, bool) {
	for _, u := range s.upstreams(ctx, ar) {
		if u.source == source {
			return u, true
		}
	}
	return upstream{}, false
}

// offerUpstreams puts the request's identity providers on the sign-in
// form v; the form's redirect to each is allowed by the page's CSP.
func (s *Service) offerUpstreams(ctx context.Context, ar *authzRequest, v *oidcView) {
	for _, u := range s.upstreams(ctx, ar) {
		v.Upstreams = append(v.Upstreams, upstreamChoice{Source: u.source, Label: u.label()})
		v.Targets = append(v.Targets, u.idp.AuthorizeURL)
	}
}

// startUpstream sends the browser to the identity provider of source
// with a new state, nonce and PKCE challenge.
func (s *Service) startUpstream(c echo.Context, ar *authzRequest, source string) error {
	ctx := c.Request().Context()
	u, ok := s.upstreamOf(ctx, ar, source)
	if !ok {
		return s.signInError(c, errUpstreamUnknown, ar, signInView{Error: errUpstreamUnknown.Message})
	}
	us, ok := s.store.(UpstreamStore)
	if !ok {
		return resources.Unavailable("identity providers unsupported")
	}
	// The provider is found (and its keys located) now, so a broken
	// configuration says so before the user signs in there.
	if _, err := s.upstreamProvider(ctx, u.idp); err != nil {
		s.logUpstream(ctx, u, "discovery", err)
		e := upstreamUnreachable(u)
		return s.signInError(c, e, ar, signInView{Error: e.Message})
	}
	state, binding, nonce := Secret(), Secret(), Secret()
	data, err := json.Marshal(flight{Params: ar.params, Source: source, Nonce: nonce, Binding: HashSecret(binding)})
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if err := us.AddUpstreamState(ctx, &UpstreamState{Hash: HashSecret(state), Data: string(data), CreatedAt: now}, now.Add(-UpstreamTTL)); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: upstreamCookie, Value: binding, Path: "/oauth2/", MaxAge: int(UpstreamTTL.Seconds()),
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	conf := s.upstreamOAuth(u.idp)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(upstreamVerifier(binding))))
}

// handleUpstreamCallback is where identity providers send the browser
// back: the sign-in goes on from the authorization request it started
// with, as the user the provider vouches for.
func (s *Service) handleUpstreamCallback(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, binding, err := s.takeFlight(c, q.Get("state"))
	if err != nil {
		return err
	}
	ar, err := s.authorization(ctx, f.Params)
	if err != nil {
		return err
	}
	if ar.refusal != nil {
		return s.refuse(c, ar, ar.refusal)
	}
	u, ok := s.upstreamOf(ctx, ar, f.Source)
	if !ok {
		return s.signInError(c, errUpstreamUnknown, ar, signInView{Error: errUpstreamUnknown.Message})
	}
	if e := q.Get("error"); e != "" {
		// The provider's own words stay out of the page: only its code.
		s.logUpstream(ctx, u, "authorize", errors.New(e+": "+q.Get("error_description")))
		refused := upstreamFailed(u, "it answered "+truncate(e, 64))
		return s.signInError(c, refused, ar, signInView{Error: refused.Message})
	}
	who, err := s.upstreamIdentity(ctx, u, q.Get("code"), upstreamVerifier(binding), f.Nonce)
	if err != nil {
		if e, ok := resources.AsError(err); ok {
			return s.signInError(c, e, ar, signInView{Error: e.Message})
		}
		return err
	}
	resp, err := s.upstreamLogin(ctx, ar, u, who, c.RealIP(), c.Request().UserAgent())
	return s.nextStep(c, ar, url.Values{}, resp, err)
}

// takeFlight takes the sign-in in flight of state, once, in the browser
// that started it; it answers the flight and the browser's binding secret.
func (s *Service) takeFlight(c echo.Context, state string) (*flight, string, error) {
	us, ok := s.store.(UpstreamStore)
	if !ok {
		return nil, "", resources.Unavailable("identity providers unsupported")
	}
	if state == "" || len(state) > maxState {
		return nil, "", errUpstreamState
	}
	st, err := us.TakeUpstreamState(c.Request().Context(), HashSecret(state))
	if resources.IsKind(err, resources.KindNotFound) {
		return nil, "", errUpstreamState
	}
	if err != nil {
		return nil, "", err
	}
	binding := ""
	if ck, err := c.Cookie(upstreamCookie); err == nil {
		binding = ck.Value
	}
	c.SetCookie(&http.Cookie{Name: upstreamCookie, Path: "/oauth2/", MaxAge: -1, HttpOnly: true,
		Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	var f flight
	if s.now().After(st.CreatedAt.Add(UpstreamTTL)) || json.Unmarshal([]byte(st.Data), &f) != nil ||
		binding == "" || subtle.ConstantTimeCompare([]byte(HashSecret(binding)), []byte(f.Binding)) != 1 {
		return nil, "", errUpstreamState
	}
	return &f, binding, nil
}

// upstreamVerifier is the PKCE verifier of a sign-in: derived from the
// browser's binding secret (43 characters, as RFC 7636 asks at least).
func upstreamVerifier(binding string) string {
	sum := sha256.Sum256([]byte("roster upstream pkce:" + binding))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// upstreamUser is who an identity provider vouches for.
type upstreamUser struct {
	subject, email string
	verified       bool
}

// upstreamIdentity redeems the provider's code (with the PKCE verifier)
// and validates its id_token: signature, issuer, audience, expiry on
// Roster's clock, the sign-in's nonce, and at_hash when present. Email
// claims missing from the id_token are read from userinfo, whose subject
// must be the id_token's.
func (s *Service) upstreamIdentity(ctx context.Context, u upstream, code, verifier, nonce string) (*upstreamUser, error) {
	if code == "" {
		return nil, upstreamFailed(u, "no code came back")
	}
	prov, err := s.upstreamProvider(ctx, u.idp)
	if err != nil {
		s.logUpstream(ctx, u, "discovery", err)
		return nil, upstreamUnreachable(u)
	}
	ctx = s.upstreamContext(ctx)
	conf := s.upstreamOAuth(u.idp)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		s.logUpstream(ctx, u, "token", err)
		if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) {
			return nil, upstreamFailed(u, "it refused the code")
		}
		return nil, upstreamUnreachable(u)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, upstreamFailed(u, "it sent no id_token")
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: u.idp.ClientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		s.logUpstream(ctx, u, "id_token", err)
		if te := (*oidc.TokenExpiredError)(nil); errors.As(err, &te) {
			return nil, upstreamFailed(u, "its id_token has expired")
		}
		return nil, upstreamFailed(u, "its id_token is not valid")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		s.logUpstream(ctx, u, "id_token", errors.New("nonce mismatch"))
		return nil, upstreamFailed(u, "its id_token is not for this sign-in")
	}
	if idt.AccessTokenHash != "" && idt.VerifyAccessToken(tok.AccessToken) != nil {
		return nil, upstreamFailed(u, "its id_token is not for this access token")
	}
	var claims struct {
		Email    string     `json:"email"`
		Verified *claimBool `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, upstreamFailed(u, "its id_token is not valid")
	}
	who := &upstreamUser{subject: idt.Subject, email: claims.Email, verified: claims.Verified != nil && bool(*claims.Verified)}
	if (who.email == "" || claims.Verified == nil) && prov.UserInfoEndpoint() != "" {
		info, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			s.logUpstream(ctx, u, "userinfo", err)
			return nil, upstreamFailed(u, "its userinfo could not be read")
		}
		if info.Subject != idt.Subject {
			return nil, upstreamFailed(u, "its userinfo is of another user")
		}
		who.email, who.verified = info.Email, info.EmailVerified
	}
	return who, nil
}

// claimBool is a boolean claim, which some providers send as a string.
type claimBool bool

func (b *claimBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(data), `"`) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return errors.New("not a boolean")
	}
	return nil
}

// upstreamLogin signs in the user an identity provider vouches for, into
// the client's project: with useSubject, the member whose membership's
// externalId is the provider's subject; else the user of the verified
// email, if a member. Nobody is created: without a membership the sign-in
// is refused.
func (s *Service) upstreamLogin(ctx context.Context, ar *authzRequest, u upstream, who *upstreamUser, remoteAddr, userAgent string) (*LoginResponse, error) {
	projectID := ar.client.Base().Meta.Project
	refuse := func(as, reason string) (*LoginResponse, error) {
		s.auditLoginFailure(ctx, who.email, projectID, nil, "Sign-in through "+u.label()+": "+reason)
		return nil, resources.Forbidden("You signed in at %s as %s, but that account has no access to %s. "+
			"Ask an administrator of the project to invite you.", u.label(), as, ar.client.Name)
	}
	var user *resources.User
	var mems []*resources.ProjectMembership
	if u.idp.UseSubject != nil && *u.idp.UseSubject {
		found, err := search[*resources.ProjectMembership](ctx, s.res, "ProjectMembership",
			url.Values{"project": {"Project/" + projectID}, "external-id": {who.subject}})
		if err != nil {
			return nil, err
		}
		for _, m := range found {
			if m.IsActive() && m.ExternalID == who.subject && strings.HasPrefix(m.User.Reference, "User/") {
				mems = append(mems, m)
			}
		}
		if who.subject == "" || len(mems) == 0 {
			return refuse(lo.CoalesceOrEmpty(who.email, who.subject), "no membership has the external id")
		}
		user, _, err = resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", strings.TrimPrefix(mems[0].User.Reference, "User/"))
		if err != nil {
			return nil, err
		}
		mems = mems[:1]
	} else {
		if who.email == "" || !who.verified {
			s.auditLoginFailure(ctx, who.email, projectID, nil, "Sign-in through "+u.label()+": email not verified")
			return nil, resources.Forbidden("%s did not confirm an email address for your account, so it cannot sign you in to %s.",
				u.label(), ar.client.Name)
		}
		var err error
		user, err = s.FindUser(ctx, who.email, projectID)
		if resources.IsKind(err, resources.KindNotFound) {
			return refuse(who.email, "no user has the email")
		}
		if err != nil {
			return nil, err
		}
		if mems, err = s.Memberships(ctx, "User/"+user.ID); err != nil {
			return nil, err
		}
		mems = filter(mems, func(m *resources.ProjectMembership) bool { return m.Project.Reference == "Project/"+projectID })
		if len(mems) == 0 {
			return refuse(who.email, "no membership in the project")
		}
	}
	req := ar.loginRequest()
	req.upstream = true
	return s.startLogin(ctx, user, mems, projectID, &req, remoteAddr, userAgent)
}

// upstreamOAuth is the OAuth client Roster is at idp.
func (s *Service) upstreamOAuth(idp *resources.IdentityProvider) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if idp.TokenAuthMethod == "client_secret_post" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURL: s.UpstreamCallback(),
		Endpoint: oauth2.Endpoint{AuthURL: idp.AuthorizeURL, TokenURL: idp.TokenURL, AuthStyle: style}, Scopes: upstreamScopes}
}

// upstreamContext carries the HTTP client that talks to providers.
func (s *Service) upstreamContext(ctx context.Context) context.Context {
	client := s.UpstreamClient
	if client == nil {
		client = defaultUpstreamClient
	}
	return oidc.ClientContext(ctx, client)
}

var defaultUpstreamClient = &http.Client{Timeout: 10 * time.Second}

// upstreamProviders caches each configuration's provider (its issuer and
// key set): an hour, so a changed discovery document is read again.
var upstreamProviders = struct {
	sync.Mutex
	m map[string]cachedProvider
}{m: map[string]cachedProvider{}}

type cachedProvider struct {
	p  *oidc.Provider
	at time.Time
}

const upstreamProviderTTL = time.Hour

// upstreamProvider is idp as go-oidc knows it: Roster's configured
// endpoints, with the issuer and key set's URL from the configuration or,
// where it has none, from the provider's discovery document.
func (s *Service) upstreamProvider(ctx context.Context, idp *resources.IdentityProvider) (*oidc.Provider, error) {
	key := strings.Join([]string{idp.Issuer, idp.JwksURL, idp.AuthorizeURL, idp.TokenURL, idp.UserInfoURL}, "\n")
	upstreamProviders.Lock()
	c, ok := upstreamProviders.m[key]
	upstreamProviders.Unlock()
	if ok && time.Since(c.at) < upstreamProviderTTL {
		return c.p, nil
	}
	ctx = s.upstreamContext(ctx)
	conf := oidc.ProviderConfig{IssuerURL: idp.Issuer, JWKSURL: idp.JwksURL, AuthURL: idp.AuthorizeURL,
		TokenURL: idp.TokenURL, UserInfoURL: idp.UserInfoURL}
	if conf.IssuerURL == "" || conf.JWKSURL == "" {
		d, err := discoverUpstream(ctx, idp)
		if err != nil {
			return nil, err
		}
		var doc struct {
			JWKS       string   `json:"jwks_uri"`
			Algorithms []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := d.p.Claims(&doc); err != nil {
			return nil, err
		}
		conf.IssuerURL, conf.Algorithms = d.issuer, doc.Algorithms
		if conf.JWKSURL == "" {
			conf.JWKSURL = doc.JWKS
		}
	}
	p := conf.NewProvider(ctx)
	upstreamProviders.Lock()
	upstreamProviders.m[key] = cachedProvider{p, time.Now()}
	upstreamProviders.Unlock()
	return p, nil
}

// discovered is a discovery document read and the issuer it is for.
type discovered struct {
	p      *oidc.Provider
	issuer string
}

// discoverUpstream reads the discovery document of idp's issuer: the one
// configured, or else the first of the authorize URL's origin and parent
// paths whose document names that authorize URL (Okta's, Keycloak's and
// Google's issuers are found so; Azure's must be configured).
func discoverUpstream(ctx context.Context, idp *resources.IdentityProvider) (*discovered, error) {
	candidates := []string{idp.Issuer}
	if idp.Issuer == "" {
		candidates = issuerCandidates(idp.AuthorizeURL)
	}
	err := errors.New("no issuer found for " + idp.AuthorizeURL)
	for _, iss := range candidates {
		p, perr := oidc.NewProvider(ctx, iss)
		if mm := (*oidc.IssuerMismatchError)(nil); errors.As(perr, &mm) && strings.TrimSuffix(mm.Discovered, "/") == iss {
			iss = mm.Discovered // an issuer with a trailing slash (Auth0's)
			p, perr = oidc.NewProvider(ctx, iss)
		}
		if perr != nil {
			err = perr
			continue
		}
		if idp.Issuer == "" && p.Endpoint().AuthURL != idp.AuthorizeURL {
			continue
		}
		return &discovered{p, iss}, nil
	}
	return nil, err
}

// issuerCandidates are the issuers an authorize URL may belong to: its
// parent paths, nearest first, down to its origin (at most five).
func issuerCandidates(authorize string) []string {
	u, err := url.Parse(authorize)
	if err != nil {
		return nil
	}
	var out []string
	for path := strings.TrimSuffix(u.Path, "/"); len(out) < 5; {
		i := strings.LastIndex(path, "/")
		if i < 0 {
			break
		}
		path = path[:i]
		out = append(out, u.Scheme+"://"+u.Host+path)
	}
	return out
}

// logUpstream logs what went wrong with a provider at a step, for the
// operator: the page says only what the user can act on.
func (s *Service) logUpstream(ctx context.Context, u upstream, step string, err error) {
	if s.Log != nil {
		s.Log.WarnContext(ctx, "identity provider sign-in failed", "provider", u.label(), "source", u.source, "step", step, "error", err)
	}
}
