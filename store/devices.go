package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/resources"
)

// LoginDevice reads the device of (user, project, fingerprint hash); a
// NotFound error when the user never signed in to the project from it.
func (s *Store) LoginDevice(ctx context.Context, userID, projectID, fingerprintHash string) (*LoginDevice, error) {
	var d LoginDevice
	var codeExp, verified, created, used int64
	err := s.queryRow(ctx, `SELECT id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at
FROM login_devices WHERE user_id = ? AND project_id = ? AND fingerprint_hash = ?`, userID, projectID, fingerprintHash).
		Scan(&d.ID, &d.UserID, &d.ProjectID, &d.FingerprintHash, &d.Name, &d.CodeHash, &codeExp, &d.CodeFailures, &verified, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("Device not found")
	}
	if err != nil {
		return nil, translate(err)
	}
	d.CodeExpiresAt, d.VerifiedAt, d.CreatedAt, d.LastUsedAt = fromMicro(codeExp), fromMicro(verified), fromMicro(created), fromMicro(used)
	return &d, nil
}

// PutLoginDevice creates a device or, when (user, project, fingerprint
// hash) has one, replaces its pending code (its failures start again at 0)
// and, when set, its name, verification and last use. It is one statement,
// so concurrent first sign-ins from one device make one row.
func (s *Store) PutLoginDevice(ctx context.Context, d *LoginDevice) error {
	if d.ID == "" {
		d.ID = uuid.NewString()
	}
	_, err := s.exec(ctx, `INSERT INTO login_devices (id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
ON CONFLICT (user_id, project_id, fingerprint_hash) DO UPDATE SET
  name = CASE WHEN excluded.name = '' THEN login_devices.name ELSE excluded.name END,
  code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at, code_failures = 0,
  verified_at = CASE WHEN excluded.verified_at = 0 THEN login_devices.verified_at ELSE excluded.verified_at END,
  last_used_at = CASE WHEN excluded.last_used_at = 0 THEN login_devices.last_used_at ELSE excluded.last_used_at END`,
		d.ID, d.UserID, d.ProjectID, d.FingerprintHash, d.Name, d.CodeHash, micro(d.CodeExpiresAt), micro(d.VerifiedAt), micro(d.CreatedAt), micro(d.LastUsedAt))
	return err
}

// UseLoginDeviceCode consumes device id's pending code if its hash is
// codeHash, it has not expired at now and has failed fewer than
// maxFailures times; remember marks the device verified. The WHERE clause
// lets exactly one of concurrent attempts win: it reports whether this one
// did.
func (s *Store) UseLoginDeviceCode(ctx context.Context, id, codeHash string, now time.Time, maxFailures int, remember bool) (bool, error) {
	set := "code_hash = '', code_expires_at = 0, last_used_at = ?"
	args := []any{micro(now)}
	if remember {
		set += ", verified_at = ?"
		args = append(args, micro(now))
	}
	args = append(args, id, codeHash, micro(now), maxFailures)
	return s.claim(ctx, `UPDATE login_devices SET `+set+`
WHERE id = ? AND code_hash <> '' AND code_hash = ? AND code_expires_at > ? AND code_failures < ?`, args...)
}

// FailLoginDeviceCode counts one wrong code against device id's pending
// code (none pending: nothing to count).
func (s *Store) FailLoginDeviceCode(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "UPDATE login_devices SET code_failures = code_failures + 1 WHERE id = ? AND code_hash <> ''", id)
	return err
}

// TouchLoginDevice records a sign-in from device id.
func (s *Store) TouchLoginDevice(ctx context.Context, id string, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE login_devices SET last_used_at = ? WHERE id = ?", micro(now), id)
	return err
}
