package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// A session is a random secret in an HttpOnly, SameSite cookie and a row
// found by a hash of it. The row holds the user's tokens sealed
// (AES-256-GCM) under a key derived from the secret alone, so the
// database never holds a usable token and the cookie holds no token at
// all; the CSRF token every change must carry is derived from the secret
// too. A sign-in in progress (its state, nonce and PKCE verifier) is kept
// the same way under a cookie of its own.

const (
	sessionCookie = "roster.console"
	authCookie    = "roster.console.auth"
	// sessionTTL is how long a session lasts, however active; its access
	// token is refreshed as it runs out.
	sessionTTL = 12 * time.Hour
	// authTTL is how long a sign-in may take (an authorization code lives
	// 10 minutes).
	authTTL = 10 * time.Minute
	// refreshAhead is how long before its expiry an access token is
	// refreshed.
	refreshAhead = time.Minute
)

// sessionData is what a session keeps.
type sessionData struct {
	Access  string    `json:"access"`
	Refresh string    `json:"refresh"`
	Expires time.Time `json:"expires"` // the access token's
	// Project is the project the token was issued for; Name and Email say
	// who is signed in.
	Project string `json:"project"`
	Name    string `json:"name"`
	Email   string `json:"email"`
}

// pendingAuth is a sign-in in progress: what the callback must see again.
type pendingAuth struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
}

// secretKeys are what a browser's secret gives: the row's id, the sealing
// cipher and the CSRF token.
type secretKeys struct {
	id   string
	aead cipher.AEAD
	csrf string
}

// newSecret is a fresh random secret, as the cookie carries it.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// keysOf derives a secret's keys; false for a value that is no secret.
func keysOf(secret string) (*secretKeys, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	derive := func(info string) []byte {
		k, _ := hkdf.Key(sha256.New, raw, nil, "roster console "+info, 32)
		return k
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false
	}
	return &secretKeys{id: hex.EncodeToString(derive("id")), aead: aead,
		csrf: base64.RawURLEncoding.EncodeToString(derive("csrf"))}, true
}

func (k *secretKeys) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, []byte(k.id))), nil
}

var errSealed = errors.New("console: a sealed session does not open")

func (k *secretKeys) open(sealed string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return errSealed
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(k.id))
	if err != nil {
		return errSealed
	}
	return json.Unmarshal(plain, v)
}

// cookie is a console cookie: HttpOnly, SameSite=Lax (the sign-in comes
// back by a top-level redirect), scoped to the console's path.
func (c *Console) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: c.prefix, HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	return ck
}

// keysFrom reads the browser's secret from cookie name.
func keysFrom(ec echo.Context, name string) (*secretKeys, bool) {
	ck, err := ec.Cookie(name)
	if err != nil {
		return nil, false
	}
	return keysOf(ck.Value)
}

// store writes v sealed under a secret: a fresh one (set as cookie name)
// when k is nil.
func (c *Console) store(ec echo.Context, name string, k *secretKeys, v any, ttl time.Duration) (*secretKeys, error) {
	if k == nil {
		secret := newSecret()
		k, _ = keysOf(secret)
		ec.SetCookie(c.cookie(name, secret, ttl))
	}
	sealed, err := k.seal(v)
	if err != nil {
		return nil, err
	}
	return k, c.sessions.PutConsoleSession(ec.Request().Context(), k.id, sealed, c.now().Add(ttl))
}

// load reads what is kept under k into v; false when there is nothing
// (any more).
func (c *Console) load(ec echo.Context, k *secretKeys, v any) (bool, error) {
	sealed, expires, err := c.sessions.ConsoleSession(ec.Request().Context(), k.id)
	if resources.IsKind(err, resources.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !c.now().Before(expires) || k.open(sealed, v) != nil {
		return false, nil
	}
	return true, nil
}

// session is the signed-in request's session.
type session struct {
	keys *secretKeys
	data sessionData
}

const sessionKey = "console.session"

func sessionOf(ec echo.Context) *session {
	s, _ := ec.Get(sessionKey).(*session)
	return s
}

// signedIn loads the browser's session, with a live access token,
// before the handler runs. Without one a page asks to sign in, and a
// change is refused.
func (c *Console) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		k, ok := keysFrom(ec, sessionCookie)
		var data sessionData
		if ok {
			var err error
			if ok, err = c.load(ec, k, &data); err != nil {
				return err
			}
		}
		if ok && !c.now().Add(refreshAhead).Before(data.Expires) {
			var err error
			if ok, err = c.refresh(ec, k, &data); err != nil {
				return err
			}
		}
		if !ok {
			ec.SetCookie(c.cookie(sessionCookie, "", -1))
			if ec.Request().Method == http.MethodGet && !wantsJSON(ec) {
				return ec.Redirect(http.StatusFound, c.url("signin")+"?next="+url.QueryEscape(ec.Request().URL.RequestURI()))
			}
			return errSignedOut
		}
		ec.Set(sessionKey, &session{keys: k, data: data})
		err := next(ec)
		if resources.IsKind(err, resources.KindUnauthorized) {
			// The API no longer takes the token (the login was ended, the
			// membership deactivated): the session is over.
			if derr := c.sessions.DeleteConsoleSession(ec.Request().Context(), k.id); derr != nil {
				return derr
			}
			ec.SetCookie(c.cookie(sessionCookie, "", -1))
		}
		return err
	}
}

var errSignedOut = resources.Unauthorized("Your session has ended. Sign in again.")

// refresh renews the session's access token with its refresh token (which
// works once: concurrent requests of a session in this process wait for
// one refresh). False when the login has ended: the session goes.
func (c *Console) refresh(ec echo.Context, k *secretKeys, data *sessionData) (bool, error) {
	return c.refreshFor(ec, k, data, refreshAhead)
}

// refreshFor is refresh of a token that must still live for ahead.
func (c *Console) refreshFor(ec echo.Context, k *secretKeys, data *sessionData, ahead time.Duration) (bool, error) {
	mu, _ := c.refreshing.LoadOrStore(k.id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer func() {
		mu.(*sync.Mutex).Unlock()
		c.refreshing.Delete(k.id)
	}()
	// Another request may have refreshed it meanwhile.
	if ok, err := c.load(ec, k, data); err != nil || !ok {
		return false, err
	}
	if c.now().Add(ahead).Before(data.Expires) {
		return true, nil
	}
	a, err := c.api.do(ec, call{method: http.MethodPost, path: "/oauth2/token", body: url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {data.Refresh}, "client_id": {ClientID}}})
	if err != nil {
		return false, err
	}
	var tok tokenAnswer
	if !a.ok() || a.decode(&tok) != nil || tok.AccessToken == "" {
		return false, c.sessions.DeleteConsoleSession(ec.Request().Context(), k.id)
	}
	data.Access, data.Expires = tok.AccessToken, c.now().Add(time.Duration(tok.ExpiresIn)*time.Second)
	if tok.RefreshToken != "" {
		data.Refresh = tok.RefreshToken
	}
	sealed, err := k.seal(data)
	if err != nil {
		return false, err
	}
	_, expires, err := c.sessions.ConsoleSession(ec.Request().Context(), k.id)
	if err != nil {
		return false, err
	}
	return true, c.sessions.PutConsoleSession(ec.Request().Context(), k.id, sealed, expires)
}

// csrf refuses a change that does not carry the session's CSRF token, in
// the form's csrf field or the X-CSRF-Token header.
func (c *Console) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		s := sessionOf(ec)
		sent := ec.Request().Header.Get("X-CSRF-Token")
		if sent == "" {
			sent = ec.FormValue("csrf")
		}
		if s == nil || sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(s.keys.csrf)) != 1 {
			return errCSRF
		}
		return next(ec)
	}
}

var errCSRF = resources.Forbidden("This form has expired or did not come from this console. Go back, reload the page and try again.")

// wantsJSON tells a call of the console's script, which wants JSON back.
func wantsJSON(ec echo.Context) bool {
	return strings.Contains(ec.Request().Header.Get("Accept"), "application/json")
}
