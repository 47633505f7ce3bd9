package auth

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// CredentialRules say where a surface reads the credential of a request.
// The core reads a bearer token or HTTP Basic client credentials; each
// vendor dialect configures its own (a Token scheme, an API key header, a
// session cookie). Read is the one parser for all of them.
type CredentialRules struct {
	// Schemes are the Authorization schemes whose value is an access
	// token, matched case-insensitively ("Bearer", "Token").
	Schemes []string
	// Basic reads `Authorization: Basic base64(clientId:secret)`.
	Basic bool
	// APIKey names the header of a static API key ("" for none).
	APIKey string
	// Cookie names the cookie holding an access token, read when the
	// Authorization header holds none of Schemes ("" for none).
	Cookie string
}

// Credential is what a request presents under some CredentialRules.
type Credential struct {
	APIKey                 string
	Token                  string
	ClientID, ClientSecret string
	// Header says an Authorization header was sent, whether or not the
	// rules could read it.
	Header bool
}

// Read reads the credential of c's request.
func (r CredentialRules) Read(c echo.Context) Credential {
	req := c.Request()
	var out Credential
	if r.APIKey != "" {
		out.APIKey = req.Header.Get(r.APIKey)
	}
	h := req.Header.Get("Authorization")
	out.Header = h != ""
	scheme, value, _ := strings.Cut(h, " ")
	value = strings.TrimSpace(value)
	switch {
	case slices.ContainsFunc(r.Schemes, func(s string) bool { return strings.EqualFold(s, scheme) }):
		// The header decides, even when empty: the cookie is not read.
		out.Token = value
		return out
	case r.Basic && strings.EqualFold(scheme, "basic"):
		if raw, err := base64.StdEncoding.DecodeString(value); err == nil {
			id, secret, _ := strings.Cut(string(raw), ":")
			out.ClientID, out.ClientSecret = formDecoded(id), formDecoded(secret)
		}
	}
	if r.Cookie != "" && out.ClientID == "" {
		if ck, err := c.Cookie(r.Cookie); err == nil {
			out.Token = ck.Value
		}
	}
	return out
}

// formDecoded undoes the form-URL-encoding RFC 6749 §2.3.1 has a client
// apply to its id and secret before Basic encoding ("-" may come as %2D).
// Roster's ids and secrets have no "%" or "+" of their own, so a value
// that was not encoded decodes to itself; one that cannot be decoded is
// kept as sent (and fails as a wrong secret).
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// coreCredentials are the rules of the core API, as Medplum's.
var coreCredentials = CredentialRules{Schemes: []string{"Bearer"}, Basic: true}

// Credentials extracts a bearer token or Basic client credentials.
func Credentials(c echo.Context) (bearer, basicID, basicSecret string) {
	cr := coreCredentials.Read(c)
	return cr.Token, cr.ClientID, cr.ClientSecret
}

// Required rejects requests without valid credentials and puts the caller in
// the request context. Bearer tokens and, as Medplum allows, Basic
// clientId:secret are accepted.
func (s *Service) Required() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			caller, err := s.CallerFromRequest(c)
			if err != nil {
				return err
			}
			req := c.Request()
			c.SetRequest(req.WithContext(resources.WithCaller(req.Context(), caller)))
			return next(c)
		}
	}
}

// CallerFromRequest authenticates the request's Authorization header.
func (s *Service) CallerFromRequest(c echo.Context) (*resources.Caller, error) {
	bearer, id, secret := Credentials(c)
	ctx := c.Request().Context()
	switch {
	case bearer != "":
		return s.Authenticate(ctx, bearer)
	case id != "":
		return s.AuthenticateClient(ctx, id, secret)
	}
	return nil, ErrUnauthenticated
}
