package auth

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/resources"
)

// Kinds of one-time link.
const (
	LinkSetPassword = "setpassword" // invite: choose a first password (7 days)
	LinkReset       = "reset"       // password reset (1 hour)
	LinkVerify      = "verify"      // email verification
)

// MaxLinkFailures wrong secrets kill a link.
const MaxLinkFailures = 5

// Link is a one-time link (its secret is only ever stored hashed).
type Link struct {
	ID         string
	Kind       string
	UserID     string
	ProjectID  string
	SecretHash string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
	RevokedAt  time.Time
	Failures   int
	Data       string
}

// LinkStore is the storage one-time links need.
type LinkStore interface {
	CreateLink(ctx context.Context, l *Link) error
	// RevokeLinks revokes every unused link of a user of that kind.
	RevokeLinks(ctx context.Context, userID, kind string) error
	RevokeLink(ctx context.Context, id string) error
	GetLink(ctx context.Context, id string) (*Link, error)
	// UseLink marks it used if still unused; false when another request won.
	UseLink(ctx context.Context, id string) (bool, error)
	// FailLink counts a wrong secret.
	FailLink(ctx context.Context, id string) error
}

// CreateLink issues a one-time link for userID; a newer link of the same
// kind kills the older ones. It returns the link id and its secret.
func (s *Service) CreateLink(ctx context.Context, kind, userID, projectID string, ttl time.Duration, data string) (id, secret string, err error) {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return "", "", resources.Unavailable("links unsupported")
	}
	secret = Secret()
	now := s.now().UTC()
	l := &Link{ID: uuid.NewString(), Kind: kind, UserID: userID, ProjectID: projectID, SecretHash: HashSecret(secret),
		CreatedAt: now, ExpiresAt: now.Add(ttl), Data: data}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := ls.RevokeLinks(ctx, userID, kind); err != nil {
			return err
		}
		return ls.CreateLink(ctx, l)
	})
	return l.ID, secret, err
}

// ErrLinkInvalid is the one answer for a link that is unknown, wrong,
// expired, revoked or used — callers that must say which use LinkState.
var ErrLinkInvalid = resources.Invalid("secret", "This link is invalid or has expired")

// RedeemLink checks id and secret and consumes the link (exactly once, even
// under concurrent redemptions). kinds restricts which kinds are accepted.
func (s *Service) RedeemLink(ctx context.Context, id, secret string, kinds ...string) (*Link, error) {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return nil, resources.Unavailable("links unsupported")
	}
	l, err := ls.GetLink(ctx, id)
	if err != nil {
		return nil, ErrLinkInvalid
	}
	if !kindIn(l.Kind, kinds) {
		return nil, ErrLinkInvalid
	}
	if subtle.ConstantTimeCompare([]byte(l.SecretHash), []byte(HashSecret(secret))) != 1 {
		_ = ls.FailLink(ctx, id)
		return nil, ErrLinkInvalid
	}
	if l.Failures >= MaxLinkFailures || !l.UsedAt.IsZero() || !l.RevokedAt.IsZero() || s.now().After(l.ExpiresAt) {
		return l, ErrLinkInvalid
	}
	won, err := ls.UseLink(ctx, id)
	if err != nil {
		return nil, err
	}
	if !won {
		return l, ErrLinkInvalid
	}
	return l, nil
}

// RevokeLink kills a link at once.
func (s *Service) RevokeLink(ctx context.Context, id string) error {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return resources.Unavailable("links unsupported")
	}
	return ls.RevokeLink(ctx, id)
}

func kindIn(k string, kinds []string) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}
