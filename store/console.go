package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rosterhq/roster/resources"
)

// The admin console's sessions (migration 28): the browser holds a random
// secret, the row is found by its hash and holds what the console keeps —
// sealed by the console under a key only that secret gives — until it
// expires.

// PutConsoleSession writes the session whose secret hashes to idHash.
func (s *Store) PutConsoleSession(ctx context.Context, idHash, sealed string, expires time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO console_sessions (id_hash, sealed, created_at, expires_at) VALUES (?, ?, ?, ?)
  ON CONFLICT (id_hash) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at`,
		idHash, sealed, s.nowMicro(), micro(expires))
	return err
}

// ConsoleSession reads a session (NotFound when there is none).
func (s *Store) ConsoleSession(ctx context.Context, idHash string) (string, time.Time, error) {
	var sealed string
	var expires int64
	err := s.queryRow(ctx, "SELECT sealed, expires_at FROM console_sessions WHERE id_hash = ?", idHash).Scan(&sealed, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, resources.NotFound("Session not found")
	}
	return sealed, fromMicro(expires), translate(err)
}

// DeleteConsoleSession ends a session (nothing when there is none).
func (s *Store) DeleteConsoleSession(ctx context.Context, idHash string) error {
	_, err := s.exec(ctx, "DELETE FROM console_sessions WHERE id_hash = ?", idHash)
	return err
}

// DeleteExpiredConsoleSessions drops the sessions that expired before t.
func (s *Store) DeleteExpiredConsoleSessions(ctx context.Context, t time.Time) error {
	_, err := s.exec(ctx, "DELETE FROM console_sessions WHERE expires_at < ?", micro(t))
	return err
}
