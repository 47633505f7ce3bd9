package store

import (
	"context"
	"time"

	"github.com/rosterhq/roster/resources"
)

// MFA is a user's second factor: a TOTP secret (sealed by auth: encrypted,
// never stored in clear), whether it is enrolled yet, and the last time
// step a code was accepted for, so no code is accepted twice.
type MFA struct {
	UserID     string
	Sealed     string
	CreatedAt  time.Time
	EnrolledAt time.Time // zero while the secret waits for its first code
	LastStep   int64
}

// MFARecoveryCode is one single-use recovery code, kept only as its hash.
type MFARecoveryCode struct {
	Hash   string
	UsedAt time.Time
}

// MFA reads userID's second factor; NotFound when the user has none.
func (s *Store) MFA(ctx context.Context, userID string) (*MFA, error) {
	var m MFA
	var created, enrolled int64
	err := s.queryRow(ctx, "SELECT user_id, sealed_secret, created_at, enrolled_at, last_step FROM mfa_secrets WHERE user_id = ?", userID).
		Scan(&m.UserID, &m.Sealed, &created, &enrolled, &m.LastStep)
	if err != nil {
		return nil, translate(err)
	}
	m.CreatedAt, m.EnrolledAt = fromMicro(created), fromMicro(enrolled)
	return &m, nil
}

// AddMFASecret gives m.UserID the pending secret m unless it has one
// already, and answers the one it has: of concurrent first reads of a
// user's status one secret wins, and every reader shows that one.
func (s *Store) AddMFASecret(ctx context.Context, m *MFA) (*MFA, error) {
	if _, err := s.exec(ctx, `INSERT INTO mfa_secrets (user_id, sealed_secret, created_at) VALUES (?, ?, ?)
ON CONFLICT (user_id) DO NOTHING`, m.UserID, m.Sealed, micro(m.CreatedAt)); err != nil {
		return nil, err
	}
	return s.MFA(ctx, m.UserID)
}

// EnrollMFA marks userID's pending secret enrolled at now, its first code
// having been accepted for step, and replaces the user's recovery codes
// with codeHashes. Of concurrent enrollments exactly one wins: it reports
// whether this one did.
func (s *Store) EnrollMFA(ctx context.Context, userID string, step int64, now time.Time, codeHashes []string) (bool, error) {
	ok, err := s.claim(ctx, "UPDATE mfa_secrets SET enrolled_at = ?, last_step = ? WHERE user_id = ? AND enrolled_at = 0 AND last_step < ?",
		micro(now), step, userID, step)
	if err != nil || !ok {
		return false, err
	}
	if _, err := s.exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return false, err
	}
	for _, h := range codeHashes {
		if _, err := s.exec(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)", userID, h); err != nil {
			return false, err
		}
	}
	return true, nil
}

// UseMFAStep records that a code of step was accepted for userID's
// enrolled secret, if no code of that step or a later one was: it reports
// whether this use won (false is a replay, or a concurrent use).
func (s *Store) UseMFAStep(ctx context.Context, userID string, step int64) (bool, error) {
	return s.claim(ctx, "UPDATE mfa_secrets SET last_step = ? WHERE user_id = ? AND enrolled_at <> 0 AND last_step < ?", step, userID, step)
}

// UseMFARecoveryCode spends userID's unused recovery code of that hash at
// now, once: it reports whether this use won.
func (s *Store) UseMFARecoveryCode(ctx context.Context, userID, codeHash string, now time.Time) (bool, error) {
	return s.claim(ctx, "UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at = 0",
		micro(now), userID, codeHash)
}

// MFARecoveryCodes lists userID's recovery codes, used or not.
func (s *Store) MFARecoveryCodes(ctx context.Context, userID string) ([]MFARecoveryCode, error) {
	rows, err := s.query(ctx, "SELECT code_hash, used_at FROM mfa_recovery_codes WHERE user_id = ? ORDER BY code_hash", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MFARecoveryCode
	for rows.Next() {
		var c MFARecoveryCode
		var used int64
		if err := rows.Scan(&c.Hash, &used); err != nil {
			return nil, translate(err)
		}
		c.UsedAt = fromMicro(used)
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// DeleteMFA forgets userID's secret and recovery codes: it reports whether
// an enrolled secret was there (of concurrent removals one sees it).
func (s *Store) DeleteMFA(ctx context.Context, userID string) (bool, error) {
	if _, err := s.exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return false, err
	}
	var enrolled int64
	err := s.queryRow(ctx, "DELETE FROM mfa_secrets WHERE user_id = ? RETURNING enrolled_at", userID).Scan(&enrolled)
	if err = translate(err); err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return false, nil
		}
		return false, err
	}
	return enrolled != 0, nil
}

// HoldLoginForMFA marks a login as waiting for its second factor (created
// at now); holds older than before are purged on the way, since a login
// abandoned at that step leaves its hold behind.
func (s *Store) HoldLoginForMFA(ctx context.Context, loginID string, now, before time.Time) error {
	if _, err := s.exec(ctx, "DELETE FROM mfa_logins WHERE created_at < ?", micro(before)); err != nil {
		return err
	}
	_, err := s.exec(ctx, "INSERT INTO mfa_logins (login_id, created_at) VALUES (?, ?)", loginID, micro(now))
	return err
}

// LoginHeldForMFA reports whether a login still waits for its second factor.
func (s *Store) LoginHeldForMFA(ctx context.Context, loginID string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM mfa_logins WHERE login_id = ?", loginID).Scan(&n); err != nil {
		return false, translate(err)
	}
	return n > 0, nil
}

// ReleaseLoginForMFA ends a login's wait for its second factor, once: it
// reports whether this call did (false when another did first).
func (s *Store) ReleaseLoginForMFA(ctx context.Context, loginID string) (bool, error) {
	return s.claim(ctx, "DELETE FROM mfa_logins WHERE login_id = ?", loginID)
}
