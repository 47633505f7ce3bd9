package dialect

import (
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// Gate lets a dialect's callers in: it reads the request's credential
// under the dialect's Rules with the core's one parser, authenticates it
// with the core, and answers the dialect's own errors when it cannot.
type Gate struct {
	Auth  *auth.Service
	Rules auth.CredentialRules
	// Missing is the answer to a request without a credential.
	Missing error
	// Unreadable is the answer to an Authorization header the rules do not
	// read (Missing when nil).
	Unreadable error
	// Refused is the answer to a credential the core refuses (the core's
	// own 401 when nil). Other failures, a database down say, pass through.
	Refused error
}

// Caller authenticates c's request: its API key when the rules read one
// and it carries one, else its access token. The credential is returned
// too, so a dialect can tell an API key's caller from a token's.
func (g *Gate) Caller(c echo.Context) (*resources.Caller, auth.Credential, error) {
	cred := g.Rules.Read(c)
	ctx := c.Request().Context()
	var cl *resources.Caller
	var err error
	switch {
	case cred.APIKey != "":
		cl, err = g.Auth.AuthenticateAPIKey(ctx, cred.APIKey)
	case cred.Token != "":
		cl, err = g.Auth.Authenticate(ctx, cred.Token)
	case cred.Header && g.Unreadable != nil:
		return nil, cred, g.Unreadable
	default:
		return nil, cred, g.Missing
	}
	if err != nil && g.Refused != nil && resources.IsKind(err, resources.KindUnauthorized) {
		err = g.Refused
	}
	return cl, cred, err
}
