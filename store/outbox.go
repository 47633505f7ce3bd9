package store

import (
	"context"

	"github.com/rosterhq/roster/admin/mail"
)

var _ mail.Store = (*Store)(nil)

// EnqueueMail writes a message to the outbox.
func (s *Store) EnqueueMail(ctx context.Context, m *mail.Message) error {
	_, err := s.exec(ctx, `INSERT INTO outbox (id, project_id, kind, to_addr, subject, body_text, body_html, status, attempts, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.ProjectID, m.Kind, m.To, m.Subject, m.Text, m.HTML, m.Status, m.Attempts,
		micro(m.NextAttemptAt), micro(m.CreatedAt))
	return err
}
