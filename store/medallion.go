package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rosterhq/roster/resources"
)

const medallionInviteColumns = "id, project_id, membership_id, user_id, link_id, status, email, sent_count, created_at, updated_at, expires_at"

func scanMedallionInvite(sc interface{ Scan(...any) error }) (*MedallionInvite, error) {
	var (
		inv                       MedallionInvite
		created, updated, expires int64
	)
	if err := sc.Scan(&inv.ID, &inv.ProjectID, &inv.MembershipID, &inv.UserID, &inv.LinkID, &inv.Status, &inv.Email,
		&inv.SentCount, &created, &updated, &expires); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, resources.NotFound("Invite not found")
		}
		return nil, translate(err)
	}
	inv.CreatedAt, inv.UpdatedAt, inv.ExpiresAt = fromMicro(created), fromMicro(updated), fromMicro(expires)
	return &inv, nil
}

// CreateMedallionInvite stores a new invite.
func (s *Store) CreateMedallionInvite(ctx context.Context, inv *MedallionInvite) error {
	_, err := s.exec(ctx, "INSERT INTO medallion_invites ("+medallionInviteColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		inv.ID, inv.ProjectID, inv.MembershipID, inv.UserID, inv.LinkID, inv.Status, inv.Email, inv.SentCount,
		micro(inv.CreatedAt), micro(inv.UpdatedAt), micro(inv.ExpiresAt))
	return err
}

// MedallionInvite reads one invite.
func (s *Store) MedallionInvite(ctx context.Context, id string) (*MedallionInvite, error) {
	return scanMedallionInvite(s.queryRow(ctx, "SELECT "+medallionInviteColumns+" FROM medallion_invites WHERE id = ?", id))
}

// MedallionInviteByLink reads the invite whose current link is linkID.
func (s *Store) MedallionInviteByLink(ctx context.Context, linkID string) (*MedallionInvite, error) {
	return scanMedallionInvite(s.queryRow(ctx, "SELECT "+medallionInviteColumns+" FROM medallion_invites WHERE link_id = ?", linkID))
}

// MedallionInvites lists one page of an organization's invites, oldest first.
func (s *Store) MedallionInvites(ctx context.Context, q MedallionInviteQuery) ([]*MedallionInvite, int, error) {
	where := " WHERE project_id = ?"
	args := []any{q.ProjectID}
	if q.MembershipID != "" {
		where += " AND membership_id = ?"
		args = append(args, q.MembershipID)
	}
	var total int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM medallion_invites"+where, args...).Scan(&total); err != nil {
		return nil, 0, translate(err)
	}
	rows, err := s.query(ctx, "SELECT "+medallionInviteColumns+" FROM medallion_invites"+where+" ORDER BY created_at, id LIMIT ? OFFSET ?",
		append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*MedallionInvite
	for rows.Next() {
		inv, err := scanMedallionInvite(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, inv)
	}
	return out, total, translate(rows.Err())
}

// UpdateMedallionInvite writes inv only while its stored status is still
// from, so of two concurrent changes one wins.
func (s *Store) UpdateMedallionInvite(ctx context.Context, inv *MedallionInvite, from string) (bool, error) {
	return s.claim(ctx, "UPDATE medallion_invites SET link_id = ?, status = ?, email = ?, sent_count = ?, updated_at = ?, expires_at = ? WHERE id = ? AND status = ?",
		inv.LinkID, inv.Status, inv.Email, inv.SentCount, micro(inv.UpdatedAt), micro(inv.ExpiresAt), inv.ID, from)
}
