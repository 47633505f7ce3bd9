package store

import (
	"context"
)

// CreateLink stores a one-time link.
func (s *Store) CreateLink(ctx context.Context, l *Link) error {
	_, err := s.exec(ctx, `INSERT INTO links (id, kind, user_id, project_id, secret_hash, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.Kind, l.UserID, l.ProjectID, l.SecretHash, micro(l.CreatedAt), micro(l.ExpiresAt), l.Data)
	return err
}

// RevokeLinks revokes a user's unused links of one kind.
func (s *Store) RevokeLinks(ctx context.Context, userID, kind string) error {
	_, err := s.exec(ctx, "UPDATE links SET revoked_at = ? WHERE user_id = ? AND kind = ? AND used_at = 0 AND revoked_at = 0", s.nowMicro(), userID, kind)
	return err
}

// RevokeLink revokes one link.
func (s *Store) RevokeLink(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at = 0", s.nowMicro(), id)
	return err
}

// GetLink reads a link.
func (s *Store) GetLink(ctx context.Context, id string) (*Link, error) {
	var l Link
	var created, expires, used, revoked int64
	err := s.queryRow(ctx, "SELECT id, kind, user_id, project_id, secret_hash, created_at, expires_at, used_at, revoked_at, failures, data FROM links WHERE id = ?", id).
		Scan(&l.ID, &l.Kind, &l.UserID, &l.ProjectID, &l.SecretHash, &created, &expires, &used, &revoked, &l.Failures, &l.Data)
	if err != nil {
		return nil, translate(err)
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt, l.RevokedAt = fromMicro(created), fromMicro(expires), fromMicro(used), fromMicro(revoked)
	return &l, nil
}

// UseLink consumes a link once: the WHERE clause makes exactly one of any
// number of concurrent redemptions win (on PostgreSQL the losers wait for
// the winner's row lock and then find used_at set), and re-checks what may
// have changed since the caller looked: revocation, failures, expiry.
func (s *Store) UseLink(ctx context.Context, id string, maxFailures int) (bool, error) {
	now := s.nowMicro()
	return s.claim(ctx, "UPDATE links SET used_at = ? WHERE id = ? AND used_at = 0 AND revoked_at = 0 AND failures < ? AND expires_at > ?", now, id, maxFailures, now)
}

// FailLink counts one wrong secret.
func (s *Store) FailLink(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "UPDATE links SET failures = failures + 1 WHERE id = ?", id)
	return err
}
