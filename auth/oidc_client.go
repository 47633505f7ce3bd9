package auth

import (
	"context"
	"crypto/subtle"
	"net/url"

	"github.com/rosterhq/roster/resources"
)

// BasicChallenge is the WWW-Authenticate challenge of a client that failed
// HTTP Basic authentication at the token endpoint (RFC 6749 §5.2).
const BasicChallenge = `Basic realm="roster", charset="UTF-8"`

// clientAuth is how a token request authenticates its client: HTTP Basic
// (client_secret_basic) wins over the form's client_id and client_secret
// (client_secret_post); a public client sends its client_id alone.
type clientAuth struct {
	id, secret string
	basic      bool
}

func clientAuthOf(form url.Values, basicID, basicSecret string) clientAuth {
	if basicID != "" {
		return clientAuth{id: basicID, secret: basicSecret, basic: true}
	}
	return clientAuth{id: form.Get("client_id"), secret: form.Get("client_secret")}
}

// failure is err as the token endpoint answers it: an invalid_client after
// HTTP Basic is a 401 that names the scheme to retry with.
func (ca clientAuth) failure(err error) error {
	e, ok := resources.AsError(err)
	if !ok || e.OAuth != "invalid_client" || !ca.basic {
		return err
	}
	return &resources.Error{Kind: resources.KindUnauthorized, Code: "login", OAuth: e.OAuth, Message: e.Message, Challenge: BasicChallenge}
}

// checkClient authenticates the client an authorization code or refresh
// token was issued to (RFC 6749 §4.1.3 and §6). A confidential client — one
// with a secret — must present it; a public client (no secret) may name
// itself; a login made without a client needs nothing, as Medplum's
// /auth/login has it. Credentials of another client than the login's are
// invalid_grant: the grant was not issued to it.
func (s *Service) checkClient(ctx context.Context, loginClient string, ca clientAuth) error {
	if loginClient == "" {
		return nil
	}
	if ca.id != "" && ca.id != loginClient {
		return invalidGrant("The grant was issued to another client")
	}
	hash, err := s.store.ClientSecretHash(ctx, loginClient)
	switch {
	case resources.IsKind(err, resources.KindNotFound):
		return nil
	case err != nil:
		return err
	case ca.secret == "":
		return &resources.Error{Kind: resources.KindUnauthorized, Code: "login", OAuth: "invalid_client",
			Message: "Client authentication is required", Challenge: BasicChallenge}
	case subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(ca.secret))) != 1:
		s.auditClientFailure(ctx, loginClient, errBadClient.Message)
		return errBadClient
	}
	return nil
}
