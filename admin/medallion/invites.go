package medallion

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
)

// MailKindInvite is the outbox kind of Medallion sign-up invitations.
const MailKindInvite = "medallion-invite"

// CreateInviteRequest is the body of POST /{organization_id}/invites/.
type CreateInviteRequest struct {
	MembershipID string `json:"membership_id"`
}

// Medallion's invites are the core's invitations (admin): an invite's id
// is its invitation's, its status the invitation's status now. The dialect
// words the mail and Medallion's errors; the core keeps the invitations,
// their links and their lifecycle.

// inviteOptions are how Medallion's invites differ from the core's: their
// mails are Medallion's, and a revoked invite leaves its member active to
// be invited again.
var inviteOptions = admin.InvitationOptions{Mail: inviteMail, KeepMembership: true}

// inviteMail is Medallion's sign-up mail carrying the core's set-password link.
func inviteMail(name, link string) mail.Message {
	return mail.Message{Kind: MailKindInvite, Subject: "You are invited to join " + name,
		Text: "You were invited to join " + name + ".\n\nTo sign up, choose your password here (the link works once, for 7 days):\n\n" +
			link + "\n\nIf you did not expect this invitation, ignore this email.\n"}
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
	return c.JSON(http.StatusCreated, inviteView(p.org(), inv))
}

// CreateInvite invites a member to sign up: the core's invitation of the
// membership, mailing its set-password link. A member with a pending or
// accepted invite is refused (resend the pending one); a revoked or
// expired one may be replaced by a new invite.
func (s *Service) CreateInvite(ctx context.Context, m *resources.ProjectMembership) (*admin.Invitation, error) {
	org := strings.TrimPrefix(m.Project.Reference, "Project/")
	inv, err := s.admin.InviteMembership(ctx, org, m.ID, inviteOptions)
	switch {
	case errors.Is(err, admin.ErrMembershipInactive):
		return nil, fieldError("membership_id", "This member is not active.")
	case errors.Is(err, admin.ErrInvitationPending):
		return nil, fieldError("membership_id", "This member already has a pending invite; resend it instead.")
	case errors.Is(err, admin.ErrInvitationAccepted):
		return nil, fieldError("membership_id", "This member has already accepted an invite.")
	case errors.Is(err, admin.ErrNoInvitationEmail):
		return nil, fieldError("membership_id", "This member has no email address.")
	}
	return inv, err
}

// invite reads an invite of the principal's organization that the
// principal may see; anything else is 404.
func (s *Service) invite(ctx context.Context, p *principal, id string) (*admin.Invitation, error) {
	inv, err := s.admin.Invitation(admin.AsAuthor(ctx, p.org()), p.org(), id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return nil, resources.NotFound(msgNotFound)
		}
		return nil, err
	}
	if !p.sees(inviteMembership(inv)) {
		return nil, resources.NotFound(msgNotFound)
	}
	return inv, nil
}

func inviteMembership(inv *admin.Invitation) string {
	return strings.TrimPrefix(inv.Membership.Reference, "ProjectMembership/")
}

func (s *Service) handleGetInvite(c echo.Context) error {
	ctx := c.Request().Context()
	inv, err := s.invite(ctx, principalFrom(ctx), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, inviteView(principalFrom(ctx).org(), inv))
}

func (s *Service) handleListInvites(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	if err := orgFromPath(c, p); err != nil {
		return err
	}
	at := dialect.ReadLimitOffset(c, DefaultLimit, MaxLimit)
	q := admin.InvitationQuery{MembershipID: c.QueryParam("membership_id"), OldestFirst: true, Count: at.Limit, Offset: at.Offset}
	if !p.readsOrg() {
		if q.MembershipID != "" && q.MembershipID != p.caller.MembershipID {
			return c.JSON(http.StatusOK, dialect.LimitOffsetPage[InviteJSON](c, nil, 0, at))
		}
		q.MembershipID = p.caller.MembershipID
	}
	page, err := s.admin.Invitations(admin.AsAuthor(ctx, p.org()), p.org(), q)
	if err != nil {
		return err
	}
	out := make([]InviteJSON, 0, len(page.Invites))
	for i := range page.Invites {
		out = append(out, inviteView(p.org(), &page.Invites[i]))
	}
	return c.JSON(http.StatusOK, dialect.LimitOffsetPage(c, out, page.Total, at))
}

// handleInviteAction is the handler of a manager's POST on the invite in
// the path (resend, revoke): an invite the principal cannot see is 404
// before a principal who only reads is 403; the answer is the invite after
// act.
func (s *Service) handleInviteAction(act func(ctx context.Context, inv *admin.Invitation) (*admin.Invitation, error)) echo.HandlerFunc {
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
		if inv, err = act(ctx, inv); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, inviteView(p.org(), inv))
	}
}

// ResendInvite mails a pending (or expired) invite again with a fresh link
// (the core's resend; the old link dies). A revoked or accepted invite is
// refused with Medallion's words.
func (s *Service) ResendInvite(ctx context.Context, inv *admin.Invitation) (*admin.Invitation, error) {
	switch inv.Status {
	case admin.InvitationRevoked:
		return nil, resources.Invalid("", "This invite was revoked and cannot be resent.")
	case admin.InvitationAccepted:
		return nil, resources.Invalid("", "This invite was already accepted and cannot be resent.")
	}
	return s.admin.ResendInvitationWith(ctx, principalFrom(ctx).org(), inv.ID, inviteOptions)
}

// RevokeInvite kills the invite's link at once (the core's revocation,
// keeping the member active). Revoking a revoked invite changes nothing;
// an accepted one cannot be revoked (deactivate the member instead).
func (s *Service) RevokeInvite(ctx context.Context, inv *admin.Invitation) (*admin.Invitation, error) {
	if inv.Status == admin.InvitationAccepted {
		return nil, resources.Invalid("", "This invite was already accepted and cannot be revoked; deactivate the member instead.")
	}
	return s.admin.RevokeInvitationWith(ctx, principalFrom(ctx).org(), inv.ID, inviteOptions)
}
