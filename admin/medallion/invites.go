package medallion

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
)

// MailKindInvite is the outbox kind of Medallion sign-up invitations.
const MailKindInvite = "medallion-invite"

// CreateInviteRequest is the body of POST /{organization_id}/invites/.
type CreateInviteRequest struct {
	MembershipID string `json:"membership_id"`
}

// linkData marks a set-password link as a Medallion invite's.
type linkData struct {
	Medallion string `json:"medallionInvite"`
}

// orgFromPath checks the organization in the path is the principal's: any
// other is 404, whether or not it exists.
func orgFromPath(c echo.Context, p *principal) error {
	if c.Param("org") != p.org() {
		return resources.NotFound(msgNotFound)
	}
	return nil
}

func (s *Service) handleCreateInvite(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	if err := orgFromPath(c, p); err != nil {
		return err
	}
	if err := p.requireManage(); err != nil {
		return err
	}
	var req CreateInviteRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.MembershipID) == "" {
		return fieldError("membership_id", msgRequired)
	}
	m, err := s.member(ctx, p, req.MembershipID)
	if err != nil {
		return err
	}
	inv, err := s.CreateInvite(ctx, m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.inviteView(inv))
}

// CreateInvite invites a member to sign up: a set-password link of the core
// mailed to the member. A member with a pending or accepted invite is
// refused (resend the pending one); a revoked or expired one may be
// replaced by a new invite.
func (s *Service) CreateInvite(ctx context.Context, m *resources.ProjectMembership) (*Invite, error) {
	org := strings.TrimPrefix(m.Project.Reference, "Project/")
	if m.Active != nil && !*m.Active {
		return nil, fieldError("membership_id", "This member is not active.")
	}
	var inv *Invite
	err := s.res.InTx(ctx, func(ctx context.Context) error {
		if err := s.res.Store().Lock(ctx, "medallion|invite|"+m.ID); err != nil {
			return err
		}
		existing, _, err := s.store.MedallionInvites(ctx, InviteQuery{ProjectID: org, MembershipID: m.ID, Limit: 1000})
		if err != nil {
			return err
		}
		for _, old := range existing {
			switch s.inviteView(old).Status {
			case StatusPending:
				return fieldError("membership_id", "This member already has a pending invite; resend it instead.")
			case StatusAccepted:
				return fieldError("membership_id", "This member has already accepted an invite.")
			}
		}
		now := s.now().UTC()
		inv = &Invite{ID: uuid.NewString(), ProjectID: org, MembershipID: m.ID, Status: StatusPending,
			UserID: strings.TrimPrefix(m.User.Reference, "User/"), CreatedAt: now, UpdatedAt: now}
		if err := s.send(ctx, inv); err != nil {
			return err
		}
		if err := s.store.CreateMedallionInvite(ctx, inv); err != nil {
			return err
		}
		mem := audit.Ref("ProjectMembership/" + m.ID)
		mem.Detail = []resources.AuditEventDetail{audit.Detail("medallionInvite", inv.ID), audit.Detail("link", inv.LinkID)}
		return audit.Record(ctx, s.res, audit.Event{Act: audit.Invite, Project: org,
			Entities: []audit.Entity{mem, audit.Ref("User/" + inv.UserID)}})
	})
	return inv, err
}

// send issues a fresh set-password link for inv (the core kills the user's
// older ones) and queues the mail carrying it, to the member's current email.
func (s *Service) send(ctx context.Context, inv *Invite) error {
	u, _, err := resources.ReadTyped[*resources.User](admin.AsAuthor(ctx, ""), s.res, "User", inv.UserID)
	if err != nil {
		return err
	}
	if u.Email == "" {
		return fieldError("membership_id", "This member has no email address.")
	}
	data, _ := json.Marshal(linkData{Medallion: inv.ID})
	id, secret, err := s.auth.CreateLink(ctx, auth.LinkSetPassword, u.ID, inv.ProjectID, s.linkTL, string(data))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	inv.LinkID, inv.Email, inv.ExpiresAt, inv.UpdatedAt = id, u.Email, now.Add(s.linkTL), now
	inv.SentCount++
	if s.admin.Mail == nil {
		return nil
	}
	name := s.orgName(ctx, inv.ProjectID)
	link := s.admin.AppURL + "setpassword/" + id + "/" + secret
	return s.admin.Mail.Enqueue(ctx, mail.Message{ProjectID: inv.ProjectID, Kind: MailKindInvite, To: u.Email,
		Subject: "You are invited to join " + name,
		Text: "You were invited to join " + name + ".\n\nTo sign up, choose your password here (the link works once, for 7 days):\n\n" +
			link + "\n\nIf you did not expect this invitation, ignore this email.\n"})
}

// invite reads an invite of the principal's organization that the
// principal may see; anything else is 404.
func (s *Service) invite(ctx context.Context, p *principal, id string) (*Invite, error) {
	inv, err := s.store.MedallionInvite(ctx, id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return nil, resources.NotFound(msgNotFound)
		}
		return nil, err
	}
	if inv.ProjectID != p.org() || !p.sees(inv.MembershipID) {
		return nil, resources.NotFound(msgNotFound)
	}
	return inv, nil
}

func (s *Service) handleGetInvite(c echo.Context) error {
	ctx := c.Request().Context()
	inv, err := s.invite(ctx, principalFrom(ctx), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.inviteView(inv))
}

func (s *Service) handleListInvites(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	if err := orgFromPath(c, p); err != nil {
		return err
	}
	at := dialect.ReadLimitOffset(c, DefaultLimit, MaxLimit)
	q := InviteQuery{ProjectID: p.org(), MembershipID: c.QueryParam("membership_id"), Limit: at.Limit, Offset: at.Offset}
	if !p.readsOrg() {
		if q.MembershipID != "" && q.MembershipID != p.caller.MembershipID {
			return c.JSON(http.StatusOK, dialect.LimitOffsetPage[InviteJSON](c, nil, 0, at))
		}
		q.MembershipID = p.caller.MembershipID
	}
	invs, total, err := s.store.MedallionInvites(ctx, q)
	if err != nil {
		return err
	}
	out := make([]InviteJSON, 0, len(invs))
	for _, inv := range invs {
		out = append(out, s.inviteView(inv))
	}
	return c.JSON(http.StatusOK, dialect.LimitOffsetPage(c, out, total, at))
}

// handleInviteAction is the handler of a manager's POST on the invite in
// the path (resend, revoke): an invite the principal cannot see is 404
// before a principal who only reads is 403; the answer is the invite after
// act.
func (s *Service) handleInviteAction(act func(ctx context.Context, inv *Invite) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		p := principalFrom(ctx)
		inv, err := s.invite(ctx, p, c.Param("id"))
		if err != nil {
			return err
		}
		if err := p.requireManage(); err != nil {
			return err
		}
		if err := act(ctx, inv); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, s.inviteView(inv))
	}
}

// ResendInvite mails a pending (or expired) invite again with a fresh link;
// the old link dies. A revoked or accepted invite is refused.
func (s *Service) ResendInvite(ctx context.Context, inv *Invite) error {
	switch inv.Status {
	case StatusRevoked:
		return resources.Invalid("", "This invite was revoked and cannot be resent.")
	case StatusAccepted:
		return resources.Invalid("", "This invite was already accepted and cannot be resent.")
	}
	return s.res.InTx(ctx, func(ctx context.Context) error {
		if err := s.send(ctx, inv); err != nil {
			return err
		}
		return s.update(ctx, inv, StatusPending)
	})
}

// update writes inv if it is still in status from; a concurrent change
// (accepted or revoked meanwhile) is a conflict.
func (s *Service) update(ctx context.Context, inv *Invite, from string) error {
	ok, err := s.store.UpdateMedallionInvite(ctx, inv, from)
	if err != nil {
		return err
	}
	if !ok {
		return resources.Conflict("The invite was changed by another request; read it again.")
	}
	return nil
}

// RevokeInvite kills the invite's link at once. Revoking a revoked invite
// changes nothing; an accepted one cannot be revoked (deactivate the member
// instead).
func (s *Service) RevokeInvite(ctx context.Context, inv *Invite) error {
	switch inv.Status {
	case StatusRevoked:
		return nil
	case StatusAccepted:
		return resources.Invalid("", "This invite was already accepted and cannot be revoked; deactivate the member instead.")
	}
	return s.res.InTx(ctx, func(ctx context.Context) error {
		if err := s.auth.RevokeLink(ctx, inv.LinkID); err != nil {
			return err
		}
		inv.Status, inv.UpdatedAt = StatusRevoked, s.now().UTC()
		return s.update(ctx, inv, StatusPending)
	})
}

// linkUsed marks the invite whose link was just redeemed accepted, in the
// redemption's transaction.
func (s *Service) linkUsed(ctx context.Context, l *auth.Link) error {
	var d linkData
	if l.Kind != auth.LinkSetPassword || json.Unmarshal([]byte(l.Data), &d) != nil || d.Medallion == "" {
		return nil
	}
	inv, err := s.store.MedallionInviteByLink(ctx, l.ID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return nil
		}
		return err
	}
	if inv.Status != StatusPending {
		return nil
	}
	inv.Status, inv.UpdatedAt = StatusAccepted, s.now().UTC()
	_, err = s.store.UpdateMedallionInvite(ctx, inv, StatusPending)
	return err
}
