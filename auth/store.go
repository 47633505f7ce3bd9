// Package auth is Roster's Medplum-compatible authentication: password login
// with PKCE, the OAuth2 token endpoint, JWT access tokens signed with keys
// kept in the database, and the middleware that turns a request's credentials
// into a resources.Caller — checked against the database on every request, so
// a revoked login or a deactivated membership stops working at once.
package auth

import (
	"context"
	"time"
)

// Login is one sign-in: the grant behind an authorization code, its access
// tokens and its refresh token.
type Login struct {
	ID            string
	UserID        string // User id, or ClientApplication id for client logins
	ClientID      string
	MembershipID  string
	ProjectID     string
	CodeHash      string
	CodeChallenge string
	CodeMethod    string
	RefreshHash   string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time
	RemoteAddr    string
	UserAgent     string
}

// Session is what a request's login resolves to right now.
type Session struct {
	Login      Login
	Membership []byte // ProjectMembership JSON; nil when missing or deleted, or unchanged (see Known)
	User       []byte // User JSON (nil for client logins, or unchanged)
	// The versions read (0: missing or deleted).
	MembershipVersion, UserVersion int64
}

// UserLive reports whether the login's User still exists. A client's login
// acts as the client itself (its user id is the client's), with no User
// row; a person's login ends with its User.
func (s *Session) UserLive() bool {
	return s.UserVersion != 0 || s.Login.UserID == s.Login.ClientID
}

// Known names the membership and user versions a caller already holds
// decoded: CurrentSession leaves out their content when they are still the
// current ones.
type Known struct {
	MembershipID      string
	MembershipVersion int64
	UserID            string
	UserVersion       int64
}

// SigningKey is one JWT signing key.
type SigningKey struct {
	KID        string
	Alg        string
	PrivatePEM string
	CreatedAt  time.Time
	RetiredAt  time.Time
}

// Store is the storage auth needs.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	PasswordHash(ctx context.Context, userID string) (string, error)
	SetPasswordHash(ctx context.Context, userID, hash string) error
	CreateLogin(ctx context.Context, l *Login) error
	// LoginByCode finds the login of an authorization code, even a used one
	// (UseCode decides whether this exchange may take it).
	LoginByCode(ctx context.Context, codeHash string) (*Login, error)
	// UseCode marks the code used; false when another request used it first.
	UseCode(ctx context.Context, loginID string) (bool, error)
	LoginByRefresh(ctx context.Context, refreshHash string) (*Login, error)
	// RotateRefresh swaps the refresh hash; false when it was already rotated.
	RotateRefresh(ctx context.Context, loginID, oldHash, newHash string) (bool, error)
	SetLoginMembership(ctx context.Context, loginID, membershipID, projectID string) error
	RotateCode(ctx context.Context, loginID, codeHash string) error
	RevokeLogin(ctx context.Context, loginID string) error
	// RevokeUserLogins revokes every login of userID except keep ("" for all).
	RevokeUserLogins(ctx context.Context, userID, keep string) error
	Session(ctx context.Context, loginID string) (*Session, error)
	// CurrentSession is Session for authenticating a request: content
	// the caller already knows (known) is left out.
	CurrentSession(ctx context.Context, loginID string, known Known) (*Session, error)
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	AddSigningKey(ctx context.Context, k SigningKey) error
	// RetireSigningKey marks a key retired at; false when no unretired key
	// has that kid.
	RetireSigningKey(ctx context.Context, kid string, at time.Time) (bool, error)
	// ClientBySecretHash returns the ClientApplication id owning a secret.
	ClientBySecretHash(ctx context.Context, hash string) (string, error)
	ClientSecretHash(ctx context.Context, clientID string) (string, error)
	SetClientSecretHash(ctx context.Context, clientID, hash string) error
}
