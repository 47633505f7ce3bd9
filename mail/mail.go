// Package mail is Roster's durable outbox: messages are written in the same
// transaction as the act that causes them, and a background sender delivers
// them over SMTP with retries, so no invite or reset is lost or blocked by
// the mail server.
package mail

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/store"
)

// Delivery states of a message.
const (
	StatusPending = store.MailPending // waiting for (another) attempt
	StatusSent    = store.MailSent
	StatusFailed  = store.MailFailed // gave up after MaxAttempts
	StatusLogged  = store.MailLogged // no SMTP configured: recorded and logged only
)

// Message is one outgoing email.
type Message = store.Mail

// Store is the outbox's storage.
type Store interface {
	EnqueueMail(ctx context.Context, m *Message) error
}

// Outbox queues messages.
type Outbox struct {
	store  Store
	now    func() time.Time
	notify chan struct{}
}

// NewOutbox returns an outbox over store.
func NewOutbox(store Store) *Outbox {
	return &Outbox{store: store, now: time.Now, notify: make(chan struct{}, 1)}
}

// SetClock makes now the outbox's clock (time.Now by default), which dates
// messages and schedules their first attempt; give the Sender the same.
// Call it before use.
func (o *Outbox) SetClock(now func() time.Time) {
	if now != nil {
		o.now = now
	}
}

// Enqueue records m for delivery inside the context's transaction, then
// nudges this process's sender so it need not wait for its next poll.
func (o *Outbox) Enqueue(ctx context.Context, m Message) error {
	now := o.now().UTC()
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	m.Status, m.CreatedAt, m.NextAttemptAt = StatusPending, now, now
	if err := o.store.EnqueueMail(ctx, &m); err != nil {
		return err
	}
	o.Kick()
	return nil
}

// Kick wakes the sender listening on this outbox; it never blocks.
func (o *Outbox) Kick() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// Notify is the channel Kick signals.
func (o *Outbox) Notify() <-chan struct{} { return o.notify }
