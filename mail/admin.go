package mail

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// Lister is the storage the admin listing needs.
type Lister interface {
	// ListMail returns a project's messages, newest first, at most limit.
	ListMail(ctx context.Context, projectID string, limit int) ([]*Message, error)
}

// Default and largest page of GET /admin/projects/{projectId}/mail.
const (
	DefaultListCount = 100
	MaxListCount     = 1000
)

// Delivery is what an admin sees of one message: its delivery state, never
// its body (which may hold a secret link).
type Delivery struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	To            string     `json:"to"`
	Subject       string     `json:"subject"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"lastError"`
	CreatedAt     time.Time  `json:"createdAt"`
	SentAt        *time.Time `json:"sentAt,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"` // pending messages only
}

// DeliveryOf converts a message for the admin listing.
func DeliveryOf(m Message) Delivery {
	d := Delivery{ID: m.ID, Kind: m.Kind, To: m.To, Subject: m.Subject, Status: m.Status, Attempts: m.Attempts,
		LastError: m.LastError, CreatedAt: m.CreatedAt}
	if !m.SentAt.IsZero() {
		t := m.SentAt
		d.SentAt = &t
	}
	if m.Status == StatusPending && !m.NextAttemptAt.IsZero() {
		t := m.NextAttemptAt
		d.NextAttemptAt = &t
	}
	return d
}

// RegisterAdmin mounts GET /admin/projects/{projectId}/mail behind required
// (the authentication middleware). requireAdmin decides who may look: it
// answers 404 for an unknown project and 403 for a caller who does not
// administer it (admin.Service.RequireProjectAdmin).
func RegisterAdmin(e *echo.Echo, required echo.MiddlewareFunc, requireAdmin func(ctx context.Context, projectID string) error, store Lister) {
	e.GET("/admin/projects/:projectId/mail", func(c echo.Context) error {
		ctx := c.Request().Context()
		projectID := c.Param("projectId")
		if err := requireAdmin(ctx, projectID); err != nil {
			return err
		}
		count := DefaultListCount
		if v := c.QueryParam("_count"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxListCount {
				return resources.Invalid("_count", "_count must be between 1 and %d", MaxListCount)
			}
			count = n
		}
		msgs, err := store.ListMail(ctx, projectID, count)
		if err != nil {
			return err
		}
		out := make([]Delivery, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, DeliveryOf(*m))
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, out)
	}, required)
}
