package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rosterhq/roster/resources"
)

// ClaimIdempotencyKey takes a free or expired key for rec, or answers the
// record holding it. The primary key decides between concurrent claims from
// any process: exactly one INSERT wins.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, rec *resources.IdempotencyRecord, now time.Time) (*resources.IdempotencyRecord, error) {
	for range 3 {
		if _, err := s.exec(ctx, "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?", rec.Key, now.UnixMicro()); err != nil {
			return nil, err
		}
		res, err := s.exec(ctx, `INSERT INTO idempotency_keys (key, request_hash, owner, status, header, body, created_at, expires_at)
VALUES (?, ?, ?, 0, '', '', ?, ?) ON CONFLICT (key) DO NOTHING`, rec.Key, rec.RequestHash, rec.Owner, micro(rec.CreatedAt), micro(rec.ExpiresAt))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil, nil
		}
		held, err := s.idempotencyRecord(ctx, rec.Key)
		if err == nil {
			return held, nil
		}
		if !errors.Is(err, resources.ErrNotFound) {
			return nil, err
		}
		// Released between our INSERT and SELECT: try again.
	}
	return nil, resources.Conflict("A request with this Idempotency-Key is still in progress: retry later")
}

func (s *Store) idempotencyRecord(ctx context.Context, key string) (*resources.IdempotencyRecord, error) {
	var (
		r                resources.IdempotencyRecord
		header, body     string
		created, expires int64
	)
	err := s.queryRow(ctx, "SELECT key, request_hash, owner, status, header, body, created_at, expires_at FROM idempotency_keys WHERE key = ?", key).
		Scan(&r.Key, &r.RequestHash, &r.Owner, &r.Status, &header, &body, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("Idempotency key not found")
	}
	if err != nil {
		return nil, translate(err)
	}
	r.CreatedAt, r.ExpiresAt = fromMicro(created), fromMicro(expires)
	if header != "" {
		if err := json.Unmarshal([]byte(header), &r.Header); err != nil {
			return nil, err
		}
	}
	if r.Body, err = base64.StdEncoding.DecodeString(body); err != nil {
		return nil, err
	}
	return &r, nil
}

// CompleteIdempotencyKey keeps the answer of the request that owns the key.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, key, owner string, status int, header http.Header, body []byte, expires time.Time) error {
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "UPDATE idempotency_keys SET status = ?, header = ?, body = ?, expires_at = ? WHERE key = ? AND owner = ?",
		status, string(h), base64.StdEncoding.EncodeToString(body), micro(expires), key, owner)
	return err
}

// ReleaseIdempotencyKey frees a key its owner still holds in flight.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key, owner string) error {
	_, err := s.exec(ctx, "DELETE FROM idempotency_keys WHERE key = ? AND owner = ? AND status = 0", key, owner)
	return err
}

// PurgeIdempotencyKeys deletes the expired records.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, now time.Time) error {
	_, err := s.exec(ctx, "DELETE FROM idempotency_keys WHERE expires_at <= ?", now.UnixMicro())
	return err
}
