package admin

import (
	"context"
	"strconv"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// InvitationMail words the mail of an invitation that carries a
// set-password link: given the project's name and the link, the message
// (its ProjectID and To are filled in). A caller with mails of its own (a
// dialect) passes one; nil uses the core's welcome mail.
type InvitationMail func(projectName, link string) mail.Message

// InvitationOptions are what a caller may change about how the core makes,
// resends and revokes an invitation.
type InvitationOptions struct {
	// Mail words the mails carrying a set-password link.
	Mail InvitationMail
	// KeepMembership leaves the membership of a revoked invitation active
	// (by default it is deactivated when its user never signed in), so the
	// member may be invited again.
	KeepMembership bool
}

// Why InviteMembership refuses a membership. They are resources errors,
// so they answer as themselves; compare with errors.Is.
var (
	ErrInvitationPending  = resources.Conflict("This membership already has a pending invitation; resend it instead.")
	ErrInvitationAccepted = resources.Conflict("This membership's invitation was already accepted.")
	ErrMembershipInactive = resources.Conflict("This membership is not active.")
	ErrNoInvitationEmail  = resources.Conflict("This membership's user has no email address.")
)

// InviteMembership invites the user of an existing membership of
// projectID to choose a password: a new pending invitation (kind
// set-password) whose set-password link is mailed to the user's email when
// mail is on; project admins only. A membership with a pending (not
// expired) or accepted invitation, an inactive one, or a user without an
// email is refused; a pending invitation that expired, or that was never
// mailed and has no link, is superseded (revoked) by the new one.
func (s *Service) InviteMembership(ctx context.Context, projectID, membershipID string, opt InvitationOptions) (*Invitation, error) {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return nil, err
	}
	inviter := resources.CallerFrom(ctx)
	var out Invitation
	err = s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		if err := s.res.Store().Lock(ctx, "invitation|membership|"+membershipID); err != nil {
			return err
		}
		m, err := s.member(ctx, projectID, membershipID)
		if err != nil {
			return err
		}
		if !m.IsActive() {
			return ErrMembershipInactive
		}
		rows, err := s.invitations.MembershipInvitations(ctx, projectID, []string{membershipID})
		if err != nil {
			return err
		}
		var superseded []*store.Invitation
		for _, row := range rows {
			switch s.status(row) {
			case InvitationPending:
				if row.SentCount > 0 || row.LinkID != "" {
					return ErrInvitationPending
				}
				// Never mailed and without a link (an invite without
				// mail made it): superseded like an expired one.
				superseded = append(superseded, row)
			case InvitationAccepted:
				return ErrInvitationAccepted
			case InvitationExpired:
				superseded = append(superseded, row)
			}
		}
		userID := refID(m.User.Reference, "User/")
		u, _, err := resources.ReadTyped[*resources.User](AsAuthor(ctx, ""), s.res, "User", userID)
		if err != nil {
			return err
		}
		if u.Email == "" {
			return ErrNoInvitationEmail
		}
		for _, old := range superseded {
			if old.LinkID != "" {
				if err := s.auth.RevokeLink(ctx, old.LinkID); err != nil {
					return err
				}
			}
			old.Status, old.RevokedAt, old.LinkID = store.InvitationRevoked, s.stamp(), ""
			if err := s.save(ctx, old); err != nil {
				return err
			}
		}
		linkID, secret, err := s.auth.CreateLink(ctx, auth.LinkSetPassword, userID, projectID, SetPasswordLinkTTL, "")
		if err != nil {
			return err
		}
		now := s.stamp()
		row := &store.Invitation{ID: uuid.NewString(), ProjectID: projectID, MembershipID: m.ID, UserID: userID,
			Email: resources.EmailKey(u.Email), Kind: invitationNewUser, Status: store.InvitationPending, LinkID: linkID,
			CreatedAt: now, ExpiresAt: now.Add(SetPasswordLinkTTL)}
		if inviter != nil {
			row.InvitedBy = inviter.Profile
		}
		if s.Mail != nil {
			if err := s.Mail.Enqueue(ctx, s.setPasswordMail(project, row, s.AppURL+"setpassword/"+linkID+"/"+secret, opt)); err != nil {
				return err
			}
			row.SentCount, row.LastSentAt = 1, now
		}
		if err := s.invitations.CreateInvitation(ctx, row); err != nil {
			return err
		}
		out = s.invitationView(row)
		return s.recordInvitationAct(ctx, audit.Invite, row, audit.Detail("link", linkID),
			audit.Detail("sent", strconv.Itoa(row.SentCount)))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// setPasswordMail is the mail carrying an invitation's set-password link,
// worded by opt.Mail or else the core's welcome.
func (s *Service) setPasswordMail(project *resources.Project, row *store.Invitation, link string, opt InvitationOptions) mail.Message {
	var msg mail.Message
	if opt.Mail != nil {
		msg = opt.Mail(project.Name, link)
	} else {
		msg.Kind, msg.Subject = MailKindWelcome, "Welcome to "+project.Name
		msg.Text, msg.HTML = mailBody("You were invited to "+project.Name+".",
			"Please follow this link to choose your password and create your account (it works once, for 7 days):", link)
	}
	msg.ProjectID, msg.To = row.ProjectID, row.Email
	return msg
}

func refID(ref, prefix string) string {
	if len(ref) > len(prefix) && ref[:len(prefix)] == prefix {
		return ref[len(prefix):]
	}
	return ref
}
