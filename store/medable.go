package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/resources"
)

// MedableLocation reads one remembered or pending login location.
func (s *Store) MedableLocation(ctx context.Context, userID, projectID, fingerprintHash string) (*MedableLocation, error) {
	var l MedableLocation
	var codeExp, verified, created, used int64
	err := s.queryRow(ctx, `SELECT id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at
FROM medable_locations WHERE user_id = ? AND project_id = ? AND fingerprint_hash = ?`, userID, projectID, fingerprintHash).
		Scan(&l.ID, &l.UserID, &l.ProjectID, &l.FingerprintHash, &l.Name, &l.CodeHash, &codeExp, &l.CodeFailures, &verified, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("Location not found")
	}
	if err != nil {
		return nil, translate(err)
	}
	l.CodeExpiresAt, l.VerifiedAt, l.CreatedAt, l.LastUsedAt = fromMicro(codeExp), fromMicro(verified), fromMicro(created), fromMicro(used)
	return &l, nil
}

// PutMedableLocation creates a location or replaces its pending code.
func (s *Store) PutMedableLocation(ctx context.Context, l *MedableLocation) error {
	if l.ID == "" {
		l.ID = uuid.NewString()
	}
	_, err := s.exec(ctx, `INSERT INTO medable_locations (id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
ON CONFLICT (user_id, project_id, fingerprint_hash) DO UPDATE SET
  name = CASE WHEN excluded.name = '' THEN medable_locations.name ELSE excluded.name END,
  code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at, code_failures = 0,
  verified_at = CASE WHEN excluded.verified_at = 0 THEN medable_locations.verified_at ELSE excluded.verified_at END,
  last_used_at = CASE WHEN excluded.last_used_at = 0 THEN medable_locations.last_used_at ELSE excluded.last_used_at END`,
		l.ID, l.UserID, l.ProjectID, l.FingerprintHash, l.Name, l.CodeHash, micro(l.CodeExpiresAt), micro(l.VerifiedAt), micro(l.CreatedAt), micro(l.LastUsedAt))
	return err
}

// UseMedableLocationCode consumes a pending code once: the WHERE clause
// lets exactly one of concurrent attempts win.
func (s *Store) UseMedableLocationCode(ctx context.Context, id, codeHash string, now time.Time, maxFailures int, remember bool) (bool, error) {
	set := "code_hash = '', code_expires_at = 0, last_used_at = ?"
	args := []any{micro(now)}
	if remember {
		set += ", verified_at = ?"
		args = append(args, micro(now))
	}
	args = append(args, id, codeHash, micro(now), maxFailures)
	return s.claim(ctx, `UPDATE medable_locations SET `+set+`
WHERE id = ? AND code_hash <> '' AND code_hash = ? AND code_expires_at > ? AND code_failures < ?`, args...)
}

// FailMedableLocationCode counts one wrong code.
func (s *Store) FailMedableLocationCode(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "UPDATE medable_locations SET code_failures = code_failures + 1 WHERE id = ?", id)
	return err
}

// TouchMedableLocation records a sign-in from a location.
func (s *Store) TouchMedableLocation(ctx context.Context, id string, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE medable_locations SET last_used_at = ? WHERE id = ?", micro(now), id)
	return err
}

// MedableLoginFailures reads the wrong-password count of key.
func (s *Store) MedableLoginFailures(ctx context.Context, key string) (int, time.Time, error) {
	var n int
	var since int64
	err := s.queryRow(ctx, "SELECT failures, window_start FROM medable_login_failures WHERE key = ?", key).Scan(&n, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return n, fromMicro(since), nil
}

// AddMedableLoginFailure counts one wrong password in one statement, so
// concurrent failures are all counted.
func (s *Store) AddMedableLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) error {
	start := micro(now.Add(-window))
	_, err := s.exec(ctx, `INSERT INTO medable_login_failures (key, failures, window_start) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN medable_login_failures.window_start < ? THEN 1 ELSE medable_login_failures.failures + 1 END,
  window_start = CASE WHEN medable_login_failures.window_start < ? THEN excluded.window_start ELSE medable_login_failures.window_start END`,
		key, micro(now), start, start)
	return err
}

// ClearMedableLoginFailures forgets key's wrong passwords.
func (s *Store) ClearMedableLoginFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM medable_login_failures WHERE key = ?", key)
	return err
}
