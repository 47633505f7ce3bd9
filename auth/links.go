package auth

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
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
type Link = store.Link

// LinkStore is the storage one-time links need.
type LinkStore interface {
	CreateLink(ctx context.Context, l *Link) error
	// RevokeLinks revokes every unused link of a user of that kind.
	RevokeLinks(ctx context.Context, userID, kind string) error
	RevokeLink(ctx context.Context, id string) error
	GetLink(ctx context.Context, id string) (*Link, error)
	// UseLink marks it used if still unused, live and failed fewer than
	// maxFailures times; false when another request won.
	UseLink(ctx context.Context, id string, maxFailures int) (bool, error)
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
		if err := ls.CreateLink(ctx, l); err != nil {
			return err
		}
		return s.auditLinkIssued(ctx, l)
	})
	return l.ID, secret, err
}

// Why a link cannot be used. The messages are what the set-password page and
// POST /auth/setpassword say; a link is only ever described as expired, used
// or replaced to someone who holds its secret — to anyone else it is invalid.
// Each blames id, the link: one expired, used or replaced was named by its
// id with the right secret; an invalid one may be an unknown id or a wrong
// secret, which the answer never tells apart (whether an id exists stays
// unknown to whoever lacks its secret), so it too blames the link.
var (
	ErrLinkInvalid  = resources.Invalid("id", "This link is invalid. Check that you opened the whole link from the email, or ask for a new one.")
	ErrLinkExpired  = resources.Invalid("id", "This link has expired. Ask for a new one.")
	ErrLinkUsed     = resources.Invalid("id", "This link has already been used. If that was not you, ask for a new one.")
	ErrLinkReplaced = resources.Invalid("id", "This link is no longer valid: a newer one was sent. Use the most recent email.")
)

// LinkStatus is what a link's holder may be told about it.
type LinkStatus string

// The states LinkState reports.
const (
	LinkValid    LinkStatus = "valid"
	LinkExpired  LinkStatus = "expired"
	LinkUsed     LinkStatus = "used"
	LinkReplaced LinkStatus = "replaced" // revoked, normally by a newer link of its kind
	LinkInvalid  LinkStatus = "invalid"  // unknown id, wrong secret, wrong kind, or killed by wrong secrets
)

// Err is the error matching a status that is not LinkValid (nil for it).
func (st LinkStatus) Err() error {
	switch st {
	case LinkValid:
		return nil
	case LinkExpired:
		return ErrLinkExpired
	case LinkUsed:
		return ErrLinkUsed
	case LinkReplaced:
		return ErrLinkReplaced
	}
	return ErrLinkInvalid
}

// linkState tells what a link is without consuming it, for a page that must
// show the right message before anything is submitted. A wrong secret
// counts toward MaxLinkFailures here too, and whether an id exists is never
// told apart from a wrong secret. The link is returned only when valid.
// Call it outside a transaction, so a counted failure is not rolled back.
func (s *Service) linkState(ctx context.Context, id, secret string, kinds ...string) (LinkStatus, *Link, error) {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return LinkInvalid, nil, resources.Unavailable("links unsupported")
	}
	if id == "" || secret == "" {
		return LinkInvalid, nil, nil
	}
	// Wrong guesses are throttled per client address; per link,
	// MaxLinkFailures wrong secrets kill it.
	att, err := s.beginAttempt(ctx, throttleLink, "", audit.Address(ctx))
	if err != nil {
		return LinkInvalid, nil, err
	}
	l, err := ls.GetLink(ctx, id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			// Compare anyway, so an unknown id costs what a known one does.
			_ = subtle.ConstantTimeCompare([]byte(HashSecret(id)), []byte(HashSecret(secret)))
			att.fail(ctx)
			return LinkInvalid, nil, nil
		}
		return LinkInvalid, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(l.SecretHash), []byte(HashSecret(secret))) != 1 {
		att.fail(ctx)
		if err := ls.FailLink(ctx, id); err != nil {
			return LinkInvalid, nil, err
		}
		return LinkInvalid, nil, nil
	}
	att.succeed(ctx)
	switch {
	case !kindIn(l.Kind, kinds), l.Failures >= MaxLinkFailures:
		return LinkInvalid, nil, nil
	case !l.UsedAt.IsZero():
		return LinkUsed, nil, nil
	case !l.RevokedAt.IsZero():
		return LinkReplaced, nil, nil
	case !s.now().Before(l.ExpiresAt):
		return LinkExpired, nil, nil
	}
	return LinkValid, l, nil
}

// RedeemLink checks id and secret and consumes the link (exactly once, even
// under concurrent redemptions). kinds restricts which kinds are accepted.
// Outside a transaction a wrong secret is counted even though an error is
// returned; inside one, the caller's rollback would undo the count — check
// with LinkState first, as SetPasswordWithLink does.
func (s *Service) RedeemLink(ctx context.Context, id, secret string, kinds ...string) (*Link, error) {
	st, l, err := s.LinkState(ctx, id, secret, kinds...)
	if err != nil {
		return nil, err
	}
	if st != LinkValid {
		return nil, st.Err()
	}
	if err := s.useLink(ctx, l.ID); err != nil {
		return nil, err
	}
	return l, nil
}

// useLink consumes a checked link; the loser of a race hears "already used".
func (s *Service) useLink(ctx context.Context, id string) error {
	won, err := s.store.(LinkStore).UseLink(ctx, id, MaxLinkFailures)
	if err != nil {
		return err
	}
	if !won {
		return ErrLinkUsed
	}
	return s.auditLinkUse(ctx, id)
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
