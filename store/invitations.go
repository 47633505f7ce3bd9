package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/rosterhq/roster/resources"
)

const invitationColumns = "id, project_id, membership_id, user_id, email, kind, status, invited_by, link_id, sent_count, " +
	"created_at, expires_at, accepted_at, revoked_at, last_sent_at"

func scanInvitation(sc rowScanner) (*Invitation, error) {
	var (
		inv                                       Invitation
		created, expires, accepted, revoked, sent int64
	)
	if err := sc.Scan(&inv.ID, &inv.ProjectID, &inv.MembershipID, &inv.UserID, &inv.Email, &inv.Kind, &inv.Status,
		&inv.InvitedBy, &inv.LinkID, &inv.SentCount, &created, &expires, &accepted, &revoked, &sent); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, resources.NotFound("Invitation not found")
		}
		return nil, translate(err)
	}
	inv.CreatedAt, inv.ExpiresAt = fromMicro(created), fromMicro(expires)
	inv.AcceptedAt, inv.RevokedAt, inv.LastSentAt = fromMicro(accepted), fromMicro(revoked), fromMicro(sent)
	return &inv, nil
}

// CreateInvitation stores a new invitation; in a bulk transaction (an
// invite's) it goes out with the held-back creates.
func (s *Store) CreateInvitation(ctx context.Context, inv *Invitation) error {
	if p := deferred(ctx); p != nil {
		p.invitations = append(p.invitations, inv)
		return s.newestInvitation(ctx, inv) // held back too, after its membership's row
	}
	_, err := s.exec(ctx, "INSERT INTO invitations ("+invitationColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		inv.ID, inv.ProjectID, inv.MembershipID, inv.UserID, inv.Email, inv.Kind, inv.Status, inv.InvitedBy, inv.LinkID,
		inv.SentCount, micro(inv.CreatedAt), micro(inv.ExpiresAt), micro(inv.AcceptedAt), micro(inv.RevokedAt), micro(inv.LastSentAt))
	if err != nil {
		return err
	}
	return s.newestInvitation(ctx, inv)
}

// Invitation reads one invitation (NotFound when unknown).
func (s *Store) Invitation(ctx context.Context, id string) (*Invitation, error) {
	return scanInvitation(s.queryRow(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE id = ?", id))
}

// Invitations returns one page of a project's invitations, newest first,
// and how many match. The page comes from (project_id, created_at, id)
// read backwards, or from (project_id, email) for one email.
func (s *Store) Invitations(ctx context.Context, q InvitationQuery) ([]*Invitation, int, error) {
	where := " WHERE project_id = ?"
	args := []any{q.ProjectID}
	if q.Email != "" {
		where += " AND email = ?"
		args = append(args, q.Email)
	}
	if q.MembershipID != "" {
		where += " AND membership_id = ?"
		args = append(args, q.MembershipID)
	}
	switch q.Status {
	case "":
	case InvitationPending:
		where += " AND status = ? AND expires_at > ?"
		args = append(args, InvitationPending, micro(q.Now))
	case InvitationExpired:
		where += " AND status = ? AND expires_at <= ?"
		args = append(args, InvitationPending, micro(q.Now))
	default:
		where += " AND status = ?"
		args = append(args, q.Status)
	}
	var total int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM invitations"+where, args...).Scan(&total); err != nil {
		return nil, 0, translate(err)
	}
	if total <= q.Offset || q.Limit <= 0 {
		return nil, total, nil
	}
	order := " ORDER BY created_at DESC, id DESC"
	if q.OldestFirst {
		order = " ORDER BY created_at, id"
	}
	out, err := s.invitations(ctx, "SELECT "+invitationColumns+" FROM invitations"+where+
		order+" LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	return out, total, err
}

// MembershipInvitations returns the invitations of a project's memberships
// (at most a page's worth of ids), newest first.
func (s *Store) MembershipInvitations(ctx context.Context, projectID string, membershipIDs []string) ([]*Invitation, error) {
	if len(membershipIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(membershipIDs)+1)
	for _, id := range membershipIDs {
		args = append(args, id)
	}
	args = append(args, projectID)
	return s.invitations(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE membership_id IN (?"+
		strings.Repeat(", ?", len(membershipIDs)-1)+") AND project_id = ? ORDER BY created_at DESC, id DESC", args...)
}

func (s *Store) invitations(ctx context.Context, query string, args ...any) ([]*Invitation, error) {
	rows, err := s.query(ctx, query, args...)
	return scanAll(rows, err, scanInvitation)
}

// UpdateInvitation writes what a resend, a new link or a revocation
// changes, only while the stored status is still from: false when another
// request (an acceptance, say) changed it first.
func (s *Store) UpdateInvitation(ctx context.Context, inv *Invitation, from string) (bool, error) {
	ok, err := s.claim(ctx, "UPDATE invitations SET status = ?, link_id = ?, sent_count = ?, expires_at = ?, accepted_at = ?, "+
		"revoked_at = ?, last_sent_at = ? WHERE id = ? AND status = ?",
		inv.Status, inv.LinkID, inv.SentCount, micro(inv.ExpiresAt), micro(inv.AcceptedAt), micro(inv.RevokedAt),
		micro(inv.LastSentAt), inv.ID, from)
	if err != nil || !ok {
		return ok, err
	}
	_, err = s.exec(ctx, "UPDATE member_directory SET invitation_status = ?, invitation_expires = ? WHERE membership_id = ? AND invitation_id = ?",
		inv.Status, micro(inv.ExpiresAt), inv.MembershipID, inv.ID)
	return true, err
}

// AcceptInvitationByLink marks accepted the pending invitation whose
// current link is linkID; false when there is none (another link, or
// already accepted or revoked).
func (s *Store) AcceptInvitationByLink(ctx context.Context, linkID string, at time.Time) (bool, error) {
	if linkID == "" {
		return false, nil
	}
	// link_id <> '' names the link index's predicate, so a generic plan
	// may use it.
	ok, err := s.claim(ctx, "UPDATE invitations SET status = ?, accepted_at = ? WHERE link_id = ? AND link_id <> '' AND status = ?",
		InvitationAccepted, micro(at), linkID, InvitationPending)
	if err != nil || !ok {
		return ok, err
	}
	// The invitation keeps its link id once accepted: it finds its row.
	_, err = s.exec(ctx, `UPDATE member_directory SET invitation_status = ?
  WHERE membership_id IN (SELECT membership_id FROM invitations WHERE link_id = ? AND link_id <> '')
    AND invitation_id IN (SELECT id FROM invitations WHERE link_id = ? AND link_id <> '')`, InvitationAccepted, linkID, linkID)
	return true, err
}

// AcceptInvitationOfMembership marks accepted the pending invitation of a
// membership; false when it has none pending.
func (s *Store) AcceptInvitationOfMembership(ctx context.Context, membershipID string, at time.Time) (bool, error) {
	ok, err := s.claim(ctx, "UPDATE invitations SET status = ?, accepted_at = ? WHERE membership_id = ? AND status = ?",
		InvitationAccepted, micro(at), membershipID, InvitationPending)
	if err != nil || !ok {
		return ok, err
	}
	_, err = s.exec(ctx, "UPDATE member_directory SET invitation_status = ? WHERE membership_id = ? AND invitation_status = ?",
		InvitationAccepted, membershipID, InvitationPending)
	return true, err
}

// FollowEmail moves userID's pending invitations to email (the user's
// address changed), in the statement's transaction.
func (s *Store) FollowEmail(ctx context.Context, userID, email string) error {
	// status = 'pending' names the user index's predicate, so a generic
	// plan may use it.
	_, err := s.exec(ctx, "UPDATE invitations SET email = ? WHERE user_id = ? AND status = 'pending'", email, userID)
	return err
}

// UserSignedIn reports whether a login was ever recorded for userID.
func (s *Store) UserSignedIn(ctx context.Context, userID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM logins WHERE user_id = ? LIMIT 1) l", userID).Scan(&n)
	return n > 0, translate(err)
}
