package store

import (
	"context"
	"strings"
	"time"

	"github.com/rosterhq/roster/resources"
)

// The member directory (migration 27) is one row per live
// ProjectMembership with what the admin members list filters and sorts
// by — the member's name and email, whether the membership is active, when
// it last changed and when its user last signed in through it — so a page
// of a project's members, in any of its orders, is a range of one index
// rather than a decoding of every membership. admin keeps it in step from
// its write hooks, in the write's transaction.

// Member directory orders (MemberQuery.Sort).
const (
	MemberSortRecent     = "recent" // most recently changed first (the default)
	MemberSortName       = "name"
	MemberSortEmail      = "email"
	MemberSortLastSignIn = "lastSignIn"
)

// MemberEntryOf is the directory row of membership m as stored in rec.
func MemberEntryOf(rec *resources.Record, m *resources.ProjectMembership) MemberEntry {
	return MemberEntry{MembershipID: rec.ID, ProjectID: rec.Project, UserRef: m.User.Reference,
		Name: m.Profile.Display, Active: m.IsActive(), LastUpdated: rec.LastUpdated}
}

// userEmailSQL is the email of the User a directory row names, from the
// User's own search row (its EmailKey), or ” for a client or a user
// without one.
const userEmailSQL = `COALESCE((SELECT value FROM search_index WHERE type = 'User' AND id = ? AND param = 'email' LIMIT 1), '')`

// maxNameKey bounds the name a directory row sorts and is searched by (a
// name may be as long as a FHIR string; an index entry may not).
const maxNameKey = 256

// nameKey is a name as the directory sorts and searches it: folded, its
// first maxNameKey bytes.
func nameKey(name string) string {
	k := resources.Fold(name)
	if len(k) <= maxNameKey {
		return k
	}
	return strings.ToValidUTF8(k[:maxNameKey], "")
}

// PutMember writes (or rewrites) a membership's directory row; its last
// sign-in and newest invitation are kept. In a bulk transaction it waits
// for the creates held back (the User's among them), so it never writes
// them early.
func (s *Store) PutMember(ctx context.Context, e MemberEntry) error {
	userID, _ := strings.CutPrefix(e.UserRef, "User/")
	if !strings.HasPrefix(e.UserRef, "User/") {
		userID = ""
	}
	return s.holdBack(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, `INSERT INTO member_directory (membership_id, project_id, user_ref, name_key, email, active, last_updated)
  VALUES (?, ?, ?, ?, `+userEmailSQL+`, ?, ?)
  ON CONFLICT (membership_id) DO UPDATE SET project_id = excluded.project_id, user_ref = excluded.user_ref,
    name_key = excluded.name_key, email = excluded.email, active = excluded.active, last_updated = excluded.last_updated`,
			e.MembershipID, e.ProjectID, e.UserRef, nameKey(e.Name), userID, e.Active, micro(e.LastUpdated))
		return err
	})
}

// DeleteMember drops a deleted membership's directory row.
func (s *Store) DeleteMember(ctx context.Context, membershipID string) error {
	return s.holdBack(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, "DELETE FROM member_directory WHERE membership_id = ?", membershipID)
		return err
	})
}

// FollowMemberEmail gives every directory row of the user userRef
// ("User/…") its new email (folded).
func (s *Store) FollowMemberEmail(ctx context.Context, userRef, email string) error {
	return s.holdBack(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, "UPDATE member_directory SET email = ? WHERE user_ref = ?", email, userRef)
		return err
	})
}

// MemberSignedIn records that the membership's user signed in through it at.
func (s *Store) MemberSignedIn(ctx context.Context, membershipID string, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE member_directory SET last_sign_in = ? WHERE membership_id = ? AND last_sign_in < ?",
		micro(at), membershipID, micro(at))
	return err
}

// Members returns one page of a project's directory, in q's order, and
// how many rows match. A page in one of the orders is a range of that
// order's index; the filters read the project's rows of it.
func (s *Store) Members(ctx context.Context, q MemberQuery) ([]MemberListing, int, error) {
	from := " FROM member_directory m"
	where := " WHERE m.project_id = ?"
	args := []any{q.ProjectID}
	if q.Text != "" {
		like := "%" + likeEscaper.Replace(resources.Fold(q.Text)) + "%"
		where += ` AND (m.name_key LIKE ? ESCAPE '\' OR m.email LIKE ? ESCAPE '\')`
		args = append(args, like, like)
	}
	if q.Active != nil {
		where += " AND m.active = ?"
		args = append(args, *q.Active)
	}
	switch q.Invitation {
	case "":
	case InvitationPending:
		where += " AND m.invitation_status = ? AND m.invitation_expires > ?"
		args = append(args, InvitationPending, micro(q.Now))
	case InvitationExpired:
		where += " AND m.invitation_status = ? AND m.invitation_expires <= ?"
		args = append(args, InvitationPending, micro(q.Now))
	default:
		where += " AND m.invitation_status = ?"
		args = append(args, q.Invitation)
	}
	var total int
	if err := s.queryRow(ctx, "SELECT COUNT(*)"+from+where, args...).Scan(&total); err != nil {
		return nil, 0, translate(err)
	}
	if total <= q.Offset || q.Limit <= 0 {
		return nil, total, nil
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	var order string
	switch q.Sort {
	case MemberSortName:
		order = " ORDER BY m.name_key" + dir + ", m.membership_id" + dir
	case MemberSortEmail:
		order = " ORDER BY m.email" + dir + ", m.membership_id" + dir
	case MemberSortLastSignIn:
		order = " ORDER BY m.last_sign_in" + dir + ", m.membership_id" + dir
	default:
		// Newest first by default, as the resource index keeps them; Desc
		// asks for it the other way round.
		order = " ORDER BY m.last_updated DESC, m.membership_id"
		if q.Desc {
			order = " ORDER BY m.last_updated, m.membership_id DESC"
		}
	}
	rows, err := s.query(ctx, "SELECT m.membership_id, m.email, m.last_sign_in, m.invitation_id, m.invitation_status, m.invitation_expires"+
		from+where+order+" LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	out, err := scanAll(rows, err, func(sc rowScanner) (MemberListing, error) {
		var l MemberListing
		var signIn, expires int64
		err := sc.Scan(&l.MembershipID, &l.Email, &signIn, &l.InvitationID, &l.InvitationStatus, &expires)
		l.LastSignIn, l.InvitationExpires = fromMicro(signIn), fromMicro(expires)
		return l, err
	})
	return out, total, translate(err)
}

// likeEscaper escapes LIKE's wildcards (and its escape character) in text
// matched literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// fillMemberDirectory (migration 27) writes the directory rows of the
// memberships stored before it, a few hundred at a time in id order, with
// the last sign-in their logins record.
func fillMemberDirectory(ctx context.Context, s *Store) error {
	rows, err := s.query(ctx, "SELECT membership_id, MAX(created_at) FROM logins WHERE membership_id <> '' GROUP BY membership_id")
	type signIn struct {
		id string
		at int64
	}
	signIns, err := scanAll(rows, err, func(sc rowScanner) (signIn, error) {
		var v signIn
		return v, sc.Scan(&v.id, &v.at)
	})
	if err != nil {
		return err
	}
	last := make(map[string]int64, len(signIns))
	for _, v := range signIns {
		last[v.id] = v.at
	}
	const page = 500
	after := ""
	for {
		recs, err := s.collect(s.query(ctx, "SELECT "+recordColumns+" FROM resources WHERE type = 'ProjectMembership' AND deleted = ? AND id > ? ORDER BY id LIMIT ?",
			false, after, page))
		if err != nil {
			return err
		}
		for _, rec := range recs {
			r, err := resources.Unmarshal(rec)
			if err != nil {
				return err
			}
			m, ok := r.(*resources.ProjectMembership)
			if !ok {
				continue
			}
			if err := s.PutMember(ctx, MemberEntryOf(rec, m)); err != nil {
				return err
			}
			if at := last[rec.ID]; at != 0 {
				if err := s.MemberSignedIn(ctx, rec.ID, fromMicro(at)); err != nil {
					return err
				}
			}
		}
		if len(recs) < page {
			break
		}
		after = recs[len(recs)-1].ID
	}
	// Each row's newest invitation, from the (membership_id, created_at,
	// id) index.
	_, err = s.exec(ctx, `UPDATE member_directory SET
  invitation_id = COALESCE((SELECT x.id FROM invitations x WHERE x.membership_id = member_directory.membership_id
    ORDER BY x.created_at DESC, x.id DESC LIMIT 1), ''),
  invitation_status = COALESCE((SELECT x.status FROM invitations x WHERE x.membership_id = member_directory.membership_id
    ORDER BY x.created_at DESC, x.id DESC LIMIT 1), ''),
  invitation_expires = COALESCE((SELECT x.expires_at FROM invitations x WHERE x.membership_id = member_directory.membership_id
    ORDER BY x.created_at DESC, x.id DESC LIMIT 1), 0)`)
	return err
}

// Invitations of a membership keep its directory row's newest invitation
// in step: a new one becomes it; a change of status or expiry is copied
// when it is the one the row names.

// newestInvitation makes inv its membership's newest invitation.
func (s *Store) newestInvitation(ctx context.Context, inv *Invitation) error {
	return s.holdBack(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, "UPDATE member_directory SET invitation_id = ?, invitation_status = ?, invitation_expires = ? WHERE membership_id = ?",
			inv.ID, inv.Status, micro(inv.ExpiresAt), inv.MembershipID)
		return err
	})
}
