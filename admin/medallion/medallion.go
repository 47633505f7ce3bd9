// Package medallion serves Medallion's member and invite API
// (/p/api/v1/organizations/…) over Roster's core: an organization is a
// Project, a member is a ProjectMembership whose User and Practitioner
// profile come from the core invite algorithm, a sign-up invitation mails
// the core's one-time set-password link. What only Medallion knows — a
// member's role, a provider's profession — lives in FHIR extensions and
// elements of those core resources; the invitations themselves, which have
// their own ids, statuses and listing, are kept in a small table.
//
// Callers are the organization's API key (`x-api-key`: the secret of one of
// the project's ClientApplications), which may do everything, or a member's
// own bearer token, which may do what the member's Medallion role allows;
// the same roles are enforced on the core FHIR routes through the
// membership's accessPolicy and a resources.Guard.
package medallion

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// Extension URLs and code systems of the facts only Medallion knows.
const (
	// RoleURL is the ProjectMembership extension (valueCode) holding the
	// member's Medallion role.
	RoleURL = "https://roster.dev/fhir/StructureDefinition/medallion-role"
	// ProfessionSystem is the code system of Practitioner.qualification
	// codes carrying a provider's profession ("MD", "DO", …).
	ProfessionSystem = "https://roster.dev/fhir/CodeSystem/medallion-profession"
)

// Medallion's member roles.
const (
	RoleAdmin                    = "admin"
	RoleAuditor                  = "auditor"
	RoleProvider                 = "provider"
	RoleSuperProvider            = "super_provider"
	RoleMedicalStaffProfessional = "medical_staff_professional"
)

// Roles lists the valid roles in Medallion's documentation order.
var Roles = []string{RoleAdmin, RoleAuditor, RoleProvider, RoleSuperProvider, RoleMedicalStaffProfessional}

// Invite statuses. StatusExpired is never stored: a pending invite whose
// link has expired is shown so.
const (
	StatusPending  = "pending"
	StatusAccepted = "accepted"
	StatusRevoked  = "revoked"
	StatusExpired  = "expired"
)

// Invite is one sign-up invitation of a member.
type Invite = store.MedallionInvite

// InviteQuery selects a page of an organization's invites, oldest first.
type InviteQuery = store.MedallionInviteQuery

// Store is the storage the invitations need; package store implements it.
type Store interface {
	CreateMedallionInvite(ctx context.Context, inv *Invite) error
	// MedallionInvite returns an invite by id (NotFound when unknown).
	MedallionInvite(ctx context.Context, id string) (*Invite, error)
	// MedallionInviteByLink returns the invite whose current link is linkID.
	MedallionInviteByLink(ctx context.Context, linkID string) (*Invite, error)
	// MedallionInvites returns one page of invites and how many match.
	MedallionInvites(ctx context.Context, q InviteQuery) ([]*Invite, int, error)
	// UpdateMedallionInvite writes inv if its stored status is still from;
	// false when another request changed it first.
	UpdateMedallionInvite(ctx context.Context, inv *Invite, from string) (bool, error)
}

// Service is the Medallion dialect.
type Service struct {
	admin  *admin.Service
	auth   *auth.Service
	res    *resources.Service
	store  Store
	now    func() time.Time
	linkTL time.Duration
}

// Register mounts the Medallion routes on e, enforces Medallion roles on the
// core resource pipeline, and marks invites accepted when their link is
// used. st is the storage for invitations.
func Register(e *echo.Echo, adm *admin.Service, authSvc *auth.Service, res *resources.Service, st Store) *Service {
	s := &Service{admin: adm, auth: authSvc, res: res, store: st, now: time.Now, linkTL: admin.SetPasswordLinkTTL}
	res.AddGuard(s.guard)
	prev := authSvc.OnLinkUsed
	authSvc.OnLinkUsed = func(ctx context.Context, l *auth.Link) error {
		if prev != nil {
			if err := prev(ctx, l); err != nil {
				return err
			}
		}
		return s.linkUsed(ctx, l)
	}

	g := dialect.Mount(e, "/p/api/v1/organizations", Errors, s.authenticate)
	route := dialect.Slashed(g)
	route("GET", "/members", s.handleListMembers)
	route("POST", "/members", s.handleCreateMember, adm.IdempotentWrites)
	route("GET", "/members/:id", s.handleGetMember)
	route("PATCH", "/members/:id", s.handlePatchMember)
	route("POST", "/members/:id/change-email", s.handleChangeEmail)
	route("GET", "/invites/:id", s.handleGetInvite)
	route("POST", "/invites/:id/resend", s.handleInviteAction(s.ResendInvite))
	route("POST", "/invites/:id/revoke", s.handleInviteAction(s.RevokeInvite))
	route("GET", "/:org/invites", s.handleListInvites)
	route("POST", "/:org/invites", s.handleCreateInvite, adm.IdempotentWrites)
	return s
}
