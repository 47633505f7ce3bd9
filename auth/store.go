// Package auth is Roster's Medplum-compatible authentication: password login
// with PKCE, the OAuth2 token endpoint, JWT access tokens signed with keys
// kept in the database, and the middleware that turns a request's credentials
// into a resources.Caller — checked against the database on every request, so
// a revoked login or a deactivated membership stops working at once.
package auth

import (
	"context"
	"time"

	"github.com/rosterhq/roster/store"
)

// The records auth reads and writes are store's (package store fills them).
type (
	Login      = store.Login
	Session    = store.Session
	Known      = store.Known
	SigningKey = store.SigningKey
)

// Store is the storage auth needs.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	PasswordHash(ctx context.Context, userID string) (string, error)
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// DeletePasswordHash forgets a user's password.
	DeletePasswordHash(ctx context.Context, userID string) error
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
