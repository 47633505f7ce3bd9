package store

import (
	"context"
	"time"

	"github.com/rosterhq/roster/auth"
)

var _ auth.ThrottleStore = (*Store)(nil)

// HitThrottle counts one attempt on key in one statement, so concurrent
// attempts — from any process — each get their own count: an ended window
// restarts at 1, an open one goes up by 1.
func (s *Store) HitThrottle(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	at, until := now.UnixMicro(), now.Add(window).UnixMicro()
	var hits int
	var expires int64
	err := s.queryRow(ctx, `INSERT INTO throttles (key, hits, expires_at) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
  hits = CASE WHEN throttles.expires_at <= ? THEN 1 ELSE throttles.hits + 1 END,
  expires_at = CASE WHEN throttles.expires_at <= ? THEN excluded.expires_at ELSE throttles.expires_at END
RETURNING hits, expires_at`, key, until, at, at).Scan(&hits, &expires)
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return hits, fromMicro(expires), nil
}

// RefundThrottle takes one attempt back from key's open window.
func (s *Store) RefundThrottle(ctx context.Context, key string, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE throttles SET hits = hits - 1 WHERE key = ? AND hits > 0 AND expires_at > ?", key, now.UnixMicro())
	return err
}

// ResetThrottle forgets key's count.
func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM throttles WHERE key = ?", key)
	return err
}

// PurgeThrottles deletes the counts whose window has ended.
func (s *Store) PurgeThrottles(ctx context.Context, now time.Time) error {
	_, err := s.exec(ctx, "DELETE FROM throttles WHERE expires_at <= ?", now.UnixMicro())
	return err
}
