package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const outboxColumns = "id, project_id, kind, to_addr, subject, body_text, body_html, status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at"

func scanMail(sc rowScanner) (*Mail, error) {
	var m Mail
	var next, locked, created, sent int64
	if err := sc.Scan(&m.ID, &m.ProjectID, &m.Kind, &m.To, &m.Subject, &m.Text, &m.HTML, &m.Status, &m.Attempts,
		&next, &locked, &m.LastError, &created, &sent); err != nil {
		return nil, err
	}
	m.NextAttemptAt, m.LockedUntil, m.CreatedAt, m.SentAt = fromMicro(next), fromMicro(locked), fromMicro(created), fromMicro(sent)
	return &m, nil
}

// EnqueueMail writes a message to the outbox.
func (s *Store) EnqueueMail(ctx context.Context, m *Mail) error {
	_, err := s.exec(ctx, `INSERT INTO outbox (id, project_id, kind, to_addr, subject, body_text, body_html, status, attempts, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.ProjectID, m.Kind, m.To, m.Subject, m.Text, m.HTML, m.Status, m.Attempts,
		micro(m.NextAttemptAt), micro(m.CreatedAt))
	return err
}

// ClaimMail leases the oldest due pending message. One statement picks and
// leases it; on PostgreSQL the pick skips rows another process is leasing
// right now (FOR UPDATE SKIP LOCKED) and the outer WHERE is re-checked
// against the latest row version, on SQLite the single writer already
// serializes claimers. A cheap read first keeps idle polls from taking
// SQLite's write lock.
func (s *Store) ClaimMail(ctx context.Context, now, leaseUntil time.Time) (*Mail, error) {
	var one int
	err := s.queryRow(ctx, "SELECT 1 FROM outbox WHERE status = ? AND next_attempt_at <= ? AND locked_until <= ? LIMIT 1",
		MailPending, micro(now), micro(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	lock := ""
	if s.postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var m *Mail
	err = s.lone(ctx, func(ctx context.Context) error {
		var err error
		m, err = scanMail(s.queryRow(ctx, `UPDATE outbox SET locked_until = ?, attempts = attempts + 1
WHERE id = (SELECT id FROM outbox WHERE status = ? AND next_attempt_at <= ? AND locked_until <= ? ORDER BY next_attempt_at, id LIMIT 1`+lock+`)
AND status = ? AND locked_until <= ?
RETURNING `+outboxColumns, micro(leaseUntil), MailPending, micro(now), micro(now), MailPending, micro(now)))
		if errors.Is(err, sql.ErrNoRows) {
			m, err = nil, nil // another sender took it
		}
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return m, nil
}

// FinishMail records an attempt's outcome and releases the lease.
func (s *Store) FinishMail(ctx context.Context, m *Mail) error {
	return s.lone(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, sent_at = ?, locked_until = 0 WHERE id = ?",
			m.Status, m.Attempts, m.LastError, micro(m.NextAttemptAt), micro(m.SentAt), m.ID)
		return err
	})
}

// lone runs a write that needs no transaction of its own. On SQLite it
// still goes to the one writing connection, in the queue every
// transaction waits in: sent through a reading connection it would wait
// for the write lock in SQLite's busy handler, which sleeps, and a
// sender's two writes per message then held up every invite writing at
// the time (a thousand invites with mail took 8.5 s, 6.2 s once queued).
func (s *Store) lone(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.postgres {
		return fn(ctx)
	}
	return s.InTx(ctx, fn)
}

// ListMail returns a project's messages, newest first.
func (s *Store) ListMail(ctx context.Context, projectID string, limit int) ([]*Mail, error) {
	rows, err := s.query(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE project_id = ? ORDER BY created_at DESC, id DESC LIMIT ?", projectID, limit)
	return scanAll(rows, err, scanMail)
}

// GetMail reads one message, body included (for Roster itself and tests,
// never for an HTTP answer).
func (s *Store) GetMail(ctx context.Context, id string) (*Mail, error) {
	m, err := scanMail(s.queryRow(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
	if err != nil {
		return nil, translate(err)
	}
	return m, nil
}

// PendingMail counts the messages waiting to be sent and says when the
// oldest of them was queued (zero when none): the outbox's backlog, read at
// each metrics scrape from the pending messages' own index.
func (s *Store) PendingMail(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	if err := s.queryRow(ctx, "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = ?", MailPending).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, translate(err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	return n, fromMicro(oldest.Int64), nil
}

// MailTo returns the messages to one address (in any letter case), newest
// first, bodies included: test mode's GET /_test/mail, never a production
// route.
func (s *Store) MailTo(ctx context.Context, to string, limit int) ([]*Mail, error) {
	rows, err := s.query(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE lower(to_addr) = lower(?) ORDER BY created_at DESC, id DESC LIMIT ?", to, limit)
	return scanAll(rows, err, scanMail)
}
