package store

import (
	"context"
	"strings"
	"time"
)

// HitThrottle counts one failure on key in one statement, so concurrent
// failures — from any process — each get their own count: an ended window
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

// ThrottleCounts reads the open windows of keys in one query.
func (s *Store) ThrottleCounts(ctx context.Context, keys []string, now time.Time) (map[string]ThrottleCount, error) {
	out := map[string]ThrottleCount{}
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(keys)+1)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, now.UnixMicro())
	rows, err := s.query(ctx, "SELECT key, hits, expires_at FROM throttles WHERE key IN (?"+strings.Repeat(", ?", len(keys)-1)+") AND expires_at > ?", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var c ThrottleCount
		var until int64
		if err := rows.Scan(&key, &c.Hits, &until); err != nil {
			return nil, err
		}
		c.Until = fromMicro(until)
		out[key] = c
	}
	return out, rows.Err()
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
