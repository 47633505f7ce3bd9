package admin

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// The statuses of an invitation, as the API says them: pending until its
// link is used or its user signs in through the membership (accepted),
// expired once pending past its expiry, revoked by an admin.
const (
	InvitationPending  = store.InvitationPending
	InvitationAccepted = store.InvitationAccepted
	InvitationExpired  = store.InvitationExpired
	InvitationRevoked  = store.InvitationRevoked
)

// Kinds of invitation: what the invite mailed, and so what a resend mails
// and whether an admin may be handed a link.
const (
	// invitationNewUser: the invite made the User, without a password; its
	// mails carry a set-password link.
	invitationNewUser = "setpassword"
	// invitationPassword: the invite made the User with a password; its
	// mails say where to sign in.
	invitationPassword = "password"
	// invitationExisting: the User existed; its mails say where to sign in.
	invitationExisting = "existing"
)

// Default and largest page of the admin lists (invites, members), as the
// project's mail list.
const (
	DefaultPageCount = mail.DefaultListCount
	MaxPageCount     = mail.MaxListCount
)

// InvitationStore is the storage of the core's invitations; package store
// implements it.
type InvitationStore interface {
	CreateInvitation(ctx context.Context, inv *store.Invitation) error
	// Invitation reads one (NotFound when unknown).
	Invitation(ctx context.Context, id string) (*store.Invitation, error)
	// Invitations returns a page, newest first, and how many match.
	Invitations(ctx context.Context, q store.InvitationQuery) ([]*store.Invitation, int, error)
	// MembershipInvitations returns the invitations of a project's memberships, newest first.
	MembershipInvitations(ctx context.Context, projectID string, membershipIDs []string) ([]*store.Invitation, error)
	// UpdateInvitation writes inv while its stored status is still from.
	UpdateInvitation(ctx context.Context, inv *store.Invitation, from string) (bool, error)
	// AcceptInvitationByLink and AcceptInvitationOfMembership mark the
	// pending invitation whose current link, or whose membership, it is
	// accepted; false when there is none.
	AcceptInvitationByLink(ctx context.Context, linkID string, at time.Time) (bool, error)
	AcceptInvitationOfMembership(ctx context.Context, membershipID string, at time.Time) (bool, error)
	// FollowEmail moves the user's pending invitations to a new address.
	FollowEmail(ctx context.Context, userID, email string) error
	// UserSignedIn reports whether a login was ever recorded for the user.
	UserSignedIn(ctx context.Context, userID string) (bool, error)
}

// Invitation is an invitation as the admin API answers it.
type Invitation struct {
	ID         string               `json:"id"`
	Membership resources.Reference  `json:"membership"`
	Email      string               `json:"email"`
	Status     string               `json:"status"`
	InvitedBy  *resources.Reference `json:"invitedBy,omitempty"`
	Created    time.Time            `json:"created"`
	Expires    time.Time            `json:"expires"`
	Accepted   *time.Time           `json:"accepted,omitempty"`
	Revoked    *time.Time           `json:"revoked,omitempty"`
	Sent       int                  `json:"sent"`
	LastSent   *time.Time           `json:"lastSent,omitempty"`
}

// InvitationPage is the answer of GET /admin/projects/{projectId}/invites.
type InvitationPage struct {
	Invites []Invitation `json:"invites"`
	Total   int          `json:"total"`
	Count   int          `json:"_count"`
	Offset  int          `json:"_offset"`
}

// InvitationLink is a fresh one-time link an admin hands over.
type InvitationLink struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// InvitationQuery selects a page of a project's invitations.
type InvitationQuery struct {
	Status       string // "" or one of the Invitation… statuses
	Email        string
	MembershipID string // "" for all, else this membership's only
	OldestFirst  bool   // oldest first instead of newest
	Count        int
	Offset       int
}

// stamp is the time now as invitations keep it: UTC, to the microsecond.
func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// status is the invitation's status now: a pending one past its expiry is
// expired.
func (s *Service) status(row *store.Invitation) string {
	if row.Status == store.InvitationPending && !s.now().Before(row.ExpiresAt) {
		return InvitationExpired
	}
	return row.Status
}

func (s *Service) invitationView(row *store.Invitation) Invitation {
	out := Invitation{ID: row.ID, Membership: resources.Reference{Reference: "ProjectMembership/" + row.MembershipID},
		Email: row.Email, Status: s.status(row), Created: row.CreatedAt, Expires: row.ExpiresAt, Sent: row.SentCount,
		Accepted: timeOrNil(row.AcceptedAt), Revoked: timeOrNil(row.RevokedAt), LastSent: timeOrNil(row.LastSentAt)}
	if row.InvitedBy != "" {
		out.InvitedBy = &resources.Reference{Reference: row.InvitedBy}
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nameInvitation gives the invitation of a membership the invite created
// its id, for the audit trail to name before it is written.
func (inv *invitation) nameInvitation(context.Context) error {
	if inv.out.Outcome == InviteCreated && inv.s.invitations != nil && !inv.req.NoInvitation {
		inv.out.InvitationID = uuid.NewString()
	}
	return nil
}

// newInvitation writes the invitation of a membership an invite just
// created, in the invite's transaction; on PostgreSQL it goes out with the
// invite's held-back creates (resources.DeferInserts), in one statement.
func (inv *invitation) newInvitation(ctx context.Context) error {
	if inv.out.InvitationID == "" {
		return nil
	}
	now := inv.s.stamp()
	kind := invitationExisting
	switch {
	case inv.out.UserCreated && inv.req.Password == "":
		kind = invitationNewUser
	case inv.out.UserCreated:
		kind = invitationPassword
	}
	row := &store.Invitation{ID: inv.out.InvitationID, ProjectID: inv.project.ID, MembershipID: inv.out.Membership.ID,
		UserID: inv.out.User.ID, Email: resources.EmailKey(inv.out.User.Email), Kind: kind, Status: store.InvitationPending,
		InvitedBy: inv.inviter.Profile, LinkID: inv.linkID, CreatedAt: now, ExpiresAt: now.Add(SetPasswordLinkTTL)}
	if inv.out.MailQueued {
		row.SentCount, row.LastSentAt = 1, now
	}
	return inv.s.invitations.CreateInvitation(ctx, row)
}

// Invitation reads an invitation of projectID; project admins only. One of
// another project is 404, as if it did not exist.
func (s *Service) Invitation(ctx context.Context, projectID, id string) (*Invitation, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	row, err := s.invitation(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	out := s.invitationView(row)
	return &out, nil
}

func (s *Service) invitation(ctx context.Context, projectID, id string) (*store.Invitation, error) {
	row, err := s.invitations.Invitation(ctx, id)
	if err != nil || row.ProjectID != projectID {
		if err == nil || resources.IsKind(err, resources.KindNotFound) {
			return nil, resources.NotFound("Invitation not found")
		}
		return nil, err
	}
	return row, nil
}

// Invitations lists a page of projectID's invitations, newest first;
// project admins only.
func (s *Service) Invitations(ctx context.Context, projectID string, q InvitationQuery) (*InvitationPage, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	return s.invitationPage(ctx, projectID, q, checkPage(q.Count, q.Offset))
}

// invitationPage is Invitations once the caller's rights were checked;
// issues are the paging's.
func (s *Service) invitationPage(ctx context.Context, projectID string, q InvitationQuery, issues []resources.Issue) (*InvitationPage, error) {
	switch q.Status {
	case "", InvitationPending, InvitationAccepted, InvitationExpired, InvitationRevoked:
	default:
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "status",
			Message: "status must be pending, accepted, expired or revoked"})
	}
	q.Email = resources.EmailKey(q.Email)
	if resources.ControlChar(q.Email) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "email", Message: "email must not contain control characters"})
	}
	if q.MembershipID != "" && !fhirID.MatchString(q.MembershipID) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "membership", Message: "membership must be a membership id"})
	}
	if len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	rows, total, err := s.invitations.Invitations(ctx, store.InvitationQuery{ProjectID: projectID, Status: q.Status,
		Email: q.Email, MembershipID: q.MembershipID, OldestFirst: q.OldestFirst, Now: s.now(), Limit: q.Count, Offset: q.Offset})
	if err != nil {
		return nil, err
	}
	out := &InvitationPage{Invites: make([]Invitation, 0, len(rows)), Total: total, Count: q.Count, Offset: q.Offset}
	for _, row := range rows {
		out.Invites = append(out.Invites, s.invitationView(row))
	}
	return out, nil
}

// fhirID is FHIR's id: 1 to 64 letters, digits, '-' and '.'.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// checkPage validates a page's size and start.
func checkPage(count, offset int) []resources.Issue {
	var issues []resources.Issue
	if count < 1 || count > MaxPageCount {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "_count",
			Message: "_count must be between 1 and " + strconv.Itoa(MaxPageCount)})
	}
	if offset < 0 {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "_offset", Message: "_offset must be a non-negative integer"})
	}
	return issues
}

// readPage reads _count (default DefaultPageCount) and _offset from the
// query string, one issue for each that is not a single integer in range.
func readPage(c echo.Context) (count, offset int, issues []resources.Issue) {
	count = DefaultPageCount
	read := func(name string, dst *int) {
		v, ok := c.QueryParams()[name]
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || len(v) > 1 {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: name, Message: name + " must be a single integer"})
			return
		}
		*dst = n
	}
	read("_count", &count)
	read("_offset", &offset)
	for _, is := range checkPage(count, offset) {
		if !lo.ContainsBy(issues, func(x resources.Issue) bool { return x.Expression == is.Expression }) {
			issues = append(issues, is)
		}
	}
	return count, offset, issues
}

// lockInvitation reads an invitation of projectID for a change, holding
// its lock until the transaction ends, so concurrent resends, links and
// revocations of it happen one after the other.
func (s *Service) lockInvitation(ctx context.Context, projectID, id string) (*store.Invitation, error) {
	if err := s.res.Store().Lock(ctx, "invitation|"+id); err != nil {
		return nil, err
	}
	return s.invitation(ctx, projectID, id)
}

// settled refuses to act on an invitation that was accepted or revoked.
func settled(row *store.Invitation, act string) error {
	switch row.Status {
	case store.InvitationAccepted:
		return resources.Conflict("This invitation was already accepted; it cannot be %s.", act)
	case store.InvitationRevoked:
		return resources.Conflict("This invitation was revoked; it cannot be %s. Invite the user again instead.", act)
	}
	return nil
}

// save writes a changed pending invitation; an acceptance or revocation
// that got in first is a conflict (and the caller's transaction rolls back).
func (s *Service) save(ctx context.Context, row *store.Invitation) error {
	ok, err := s.invitations.UpdateInvitation(ctx, row, store.InvitationPending)
	if err != nil {
		return err
	}
	if !ok {
		return resources.Conflict("The invitation was accepted or revoked meanwhile; read it again.")
	}
	return nil
}

// setPasswordLink issues a fresh set-password link for the invitation's
// user when it is one that chooses its first password: the invitation's
// old link dies (and, as with every new link of its kind, the user's
// other set-password links). It returns "" for a user who signs in with a
// password of their own.
func (s *Service) setPasswordLink(ctx context.Context, row *store.Invitation) (string, error) {
	if row.Kind != invitationNewUser {
		return "", nil
	}
	has, err := s.auth.HasPassword(ctx, row.UserID)
	if err != nil || has {
		return "", err
	}
	if row.LinkID != "" {
		if err := s.auth.RevokeLink(ctx, row.LinkID); err != nil {
			return "", err
		}
	}
	id, secret, err := s.auth.CreateLink(ctx, auth.LinkSetPassword, row.UserID, row.ProjectID, SetPasswordLinkTTL, "")
	if err != nil {
		return "", err
	}
	row.LinkID = id
	return s.AppURL + "setpassword/" + id + "/" + secret, nil
}

// recordInvitationAct writes the AuditEvent of a resend, link or revocation.
func (s *Service) recordInvitationAct(ctx context.Context, act audit.Act, row *store.Invitation, details ...resources.AuditEventDetail) error {
	m := audit.Ref("ProjectMembership/" + row.MembershipID)
	m.Detail = append([]resources.AuditEventDetail{audit.Detail("invitation", row.ID)}, details...)
	u := audit.Ref("User/" + row.UserID)
	u.Name = row.Email
	return audit.Record(ctx, s.res, audit.Event{Act: act, Project: row.ProjectID, Entities: []audit.Entity{m, u}})
}

// ResendInvitation mails a pending (or expired) invitation again: a user
// the invite created gets a new set-password link, and the old one dies at
// once; anyone else is told again where to sign in. The invitation's
// expiry is renewed. An accepted or revoked invitation is a conflict.
func (s *Service) ResendInvitation(ctx context.Context, projectID, id string) (*Invitation, error) {
	return s.ResendInvitationWith(ctx, projectID, id, InvitationOptions{})
}

// ResendInvitationWith is ResendInvitation with a set-password link's mail
// worded by opt.Mail.
func (s *Service) ResendInvitationWith(ctx context.Context, projectID, id string, opt InvitationOptions) (*Invitation, error) {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return nil, err
	}
	var out Invitation
	err = s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		row, err := s.lockInvitation(ctx, projectID, id)
		if err != nil {
			return err
		}
		if err := settled(row, "resent"); err != nil {
			return err
		}
		if row.Email == "" || s.Mail == nil {
			return resources.Conflict("This invitation has no email address to send to; ask for a link instead.")
		}
		link, err := s.setPasswordLink(ctx, row)
		if err != nil {
			return err
		}
		msg := mail.Message{ProjectID: projectID, To: row.Email}
		name, signIn := project.Name, s.AppURL+"signin"
		switch {
		case link != "":
			msg = s.setPasswordMail(project, row, link, opt)
		case row.Kind == invitationPassword:
			msg.Kind, msg.Subject = MailKindWelcome, "Welcome to "+name
			msg.Text, msg.HTML = mailBody("You were invited to "+name+".",
				"Your account is ready; sign in here with the password you were given:", signIn)
		default:
			msg.Kind, msg.Subject = MailKindInvite, "You were added to "+name
			msg.Text, msg.HTML = mailBody("You were added to "+name+".",
				"The next time you sign in, you will see "+name+" as an option. You can sign in here:", signIn)
		}
		if err := s.Mail.Enqueue(ctx, msg); err != nil {
			return err
		}
		now := s.stamp()
		row.SentCount++
		row.LastSentAt, row.ExpiresAt = now, now.Add(SetPasswordLinkTTL)
		if err := s.save(ctx, row); err != nil {
			return err
		}
		out = s.invitationView(row)
		return s.recordInvitationAct(ctx, audit.InviteResend, row, audit.Detail("mail", msg.Kind), audit.Detail("sent", strconv.Itoa(row.SentCount)))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// NewInvitationLink gives an admin a fresh one-time set-password link of a
// pending (or expired) invitation to hand over when mail is off; the old
// link dies at once, and the expiry is renewed. It is not a mailing. Only
// an invitation whose user has no password yet has one: a user with a
// password signs in with it (conflict).
func (s *Service) NewInvitationLink(ctx context.Context, projectID, id string) (*InvitationLink, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	var out *InvitationLink
	err := s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		row, err := s.lockInvitation(ctx, projectID, id)
		if err != nil {
			return err
		}
		if err := settled(row, "given a new link"); err != nil {
			return err
		}
		link, err := s.setPasswordLink(ctx, row)
		if err != nil {
			return err
		}
		if link == "" {
			return resources.Conflict("This invitation's user signs in with a password of their own; there is no link to hand over.")
		}
		row.ExpiresAt = s.stamp().Add(SetPasswordLinkTTL)
		if err := s.save(ctx, row); err != nil {
			return err
		}
		out = &InvitationLink{URL: link, Expires: row.ExpiresAt}
		return s.recordInvitationAct(ctx, audit.InviteLink, row, audit.Detail("link", row.LinkID))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeInvitation revokes a pending (or expired) invitation: its link
// dies, and its membership is deactivated if the user never signed in
// anywhere. Revoking a revoked invitation changes nothing; an accepted one
// is a conflict (deactivate the membership instead).
func (s *Service) RevokeInvitation(ctx context.Context, projectID, id string) (*Invitation, error) {
	return s.RevokeInvitationWith(ctx, projectID, id, InvitationOptions{})
}

// RevokeInvitationWith is RevokeInvitation; with opt.KeepMembership the
// membership stays active, to be invited again.
func (s *Service) RevokeInvitationWith(ctx context.Context, projectID, id string, opt InvitationOptions) (*Invitation, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	var out Invitation
	err := s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		row, err := s.lockInvitation(ctx, projectID, id)
		if err != nil {
			return err
		}
		switch row.Status {
		case store.InvitationRevoked:
			out = s.invitationView(row)
			return nil
		case store.InvitationAccepted:
			return resources.Conflict("This invitation was already accepted; it cannot be revoked. Deactivate the membership instead.")
		}
		if row.LinkID != "" {
			if err := s.auth.RevokeLink(ctx, row.LinkID); err != nil {
				return err
			}
		}
		row.Status, row.RevokedAt, row.LinkID = store.InvitationRevoked, s.stamp(), ""
		if err := s.save(ctx, row); err != nil {
			return err
		}
		deactivated := false
		if !opt.KeepMembership {
			if deactivated, err = s.deactivateUnused(ctx, row); err != nil {
				return err
			}
		}
		out = s.invitationView(row)
		return s.recordInvitationAct(ctx, audit.InviteRevoke, row, audit.Detail("membershipDeactivated", strconv.FormatBool(deactivated)))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// deactivateUnused sets the revoked invitation's membership inactive when
// its user never signed in; it reports whether it did.
func (s *Service) deactivateUnused(ctx context.Context, row *store.Invitation) (bool, error) {
	signedIn, err := s.invitations.UserSignedIn(ctx, row.UserID)
	if err != nil || signedIn {
		return false, err
	}
	m, err := s.member(ctx, row.ProjectID, row.MembershipID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return false, nil // deleted meanwhile: nothing to deactivate
		}
		return false, err
	}
	if !m.IsActive() {
		return false, nil
	}
	next := *m
	next.Meta, next.Active = nil, ptr(false)
	if _, err := s.res.Update(ctx, &next, m.ID, m.Meta.VersionID); err != nil {
		return false, err
	}
	return true, nil
}

// invitationLinkUsed marks accepted the invitation whose set-password link
// was just redeemed, in the redemption's transaction (auth.OnLinkUsed).
func (s *Service) invitationLinkUsed(ctx context.Context, l *auth.Link) error {
	if l.Kind != auth.LinkSetPassword {
		return nil
	}
	_, err := s.invitations.AcceptInvitationByLink(ctx, l.ID, s.stamp())
	return err
}

// invitationSignedIn marks accepted the pending invitation of the
// membership a user just signed in through (auth.OnSignIn).
func (s *Service) invitationSignedIn(ctx context.Context, _ *auth.Login, m *resources.ProjectMembership) error {
	_, err := s.invitations.AcceptInvitationOfMembership(ctx, m.ID, s.stamp())
	return err
}

// membershipWritten revokes the pending invitation of a membership that
// is deleted, whoever deletes it, and kills its link: nothing is left to
// resend or accept (a write hook, in the deletion's transaction).
func (s *Service) membershipWritten(ctx context.Context, ch *resources.Change) error {
	if !ch.Record.Deleted {
		return nil
	}
	rows, err := s.invitations.MembershipInvitations(ctx, ch.Record.Project, []string{ch.Record.ID})
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.Status != store.InvitationPending {
			continue
		}
		if row.LinkID != "" {
			if err := s.auth.RevokeLink(ctx, row.LinkID); err != nil {
				return err
			}
		}
		row.Status, row.RevokedAt, row.LinkID = store.InvitationRevoked, s.stamp(), ""
		if _, err := s.invitations.UpdateInvitation(ctx, row, store.InvitationPending); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) handleListInvitations(c echo.Context) error {
	ctx, projectID := c.Request().Context(), c.Param("projectId")
	// Who may look is decided before the query is.
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return err
	}
	q := InvitationQuery{Status: c.QueryParam("status"), Email: c.QueryParam("email"), MembershipID: c.QueryParam("membership")}
	var issues []resources.Issue
	q.Count, q.Offset, issues = readPage(c)
	out, err := s.invitationPage(ctx, projectID, q, issues)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// invitationAct answers one of a project's invitations, after act, as JSON.
// Every answer is no-store: a link's answer is a secret, and the others
// are a state a cache would outlive.
func invitationAct[T any](act func(ctx context.Context, projectID, inviteID string) (T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		out, err := act(c.Request().Context(), c.Param("projectId"), c.Param("inviteId"))
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, out)
	}
}

// MemberPage is the answer of GET /admin/projects/{projectId}/members.
type MemberPage struct {
	Members []MemberWithInvitation `json:"members"`
	Total   int                    `json:"total"`
	Count   int                    `json:"_count"`
	Offset  int                    `json:"_offset"`
}

// MemberWithInvitation is a member as GET /admin/projects/{projectId}
// lists it, with its email, last sign-in and its invitation's id and
// status (null for a membership no invite created).
type MemberWithInvitation struct {
	MemberSummary
	// Email is the member's User's address ("" for a client, or a user
	// without one); LastSignIn when the user last signed in through this
	// membership (nil: never).
	Email      string            `json:"email,omitempty"`
	LastSignIn *time.Time        `json:"lastSignIn,omitempty"`
	Invitation *InvitationStatus `json:"invitation"`
}

// InvitationStatus names an invitation and its status now.
type InvitationStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}
