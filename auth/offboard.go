package auth

import (
	"context"

	"github.com/rosterhq/roster/resources"
)

// LinkKinds are every kind of one-time link.
var LinkKinds = []string{LinkSetPassword, LinkReset, LinkVerify}

// RevokeUserLinks kills every unused one-time link of userID of the kinds
// named (every kind when none is): an address the links were mailed to is
// no longer the user's, or the user is going.
func (s *Service) RevokeUserLinks(ctx context.Context, userID string, kinds ...string) error {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return resources.Unavailable("links unsupported")
	}
	if len(kinds) == 0 {
		kinds = LinkKinds
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		for _, kind := range kinds {
			if err := ls.RevokeLinks(ctx, userID, kind); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForgetUser ends everything that lets userID sign in — every login at
// once, every one-time link, the password, the second factor — for a User
// being deleted, in the context's transaction. A deleted User's tokens are
// refused anyway (the session reads the User); this leaves nothing behind
// to revive.
func (s *Service) ForgetUser(ctx context.Context, userID string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.RevokeUserLogins(ctx, userID, ""); err != nil {
			return err
		}
		if err := s.RevokeUserLinks(ctx, userID); err != nil {
			return err
		}
		if ms, ok := s.store.(MFAStore); ok {
			if _, err := ms.DeleteMFA(ctx, userID); err != nil {
				return err
			}
		}
		return s.store.DeletePasswordHash(ctx, userID)
	})
}
