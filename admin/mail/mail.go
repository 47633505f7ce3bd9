// Package mail is Roster's durable outbox: messages are written in the same
// transaction as the act that causes them, and a background sender delivers
// them over SMTP with retries, so no invite or reset is lost or blocked by
// the mail server.
package mail

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Delivery states of a message.
const (
	StatusPending = "pending" // waiting for (another) attempt
	StatusSent    = "sent"
	StatusFailed  = "failed" // gave up after MaxAttempts
	StatusLogged  = "logged" // no SMTP configured: recorded and logged only
)

// Message is one outgoing email.
type Message struct {
	ID            string
	ProjectID     string
	Kind          string // e.g. "invite", "welcome", "reset"
	To            string
	Subject       string
	Text          string
	HTML          string
	Status        string
	Attempts      int
	LastError     string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	SentAt        time.Time
	// LockedUntil is the lease of the sender working on the message.
	LockedUntil time.Time
}

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
