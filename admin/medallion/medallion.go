// Package medallion serves Medallion's member and invite API
// (/p/api/v1/organizations/…) over Roster's core: an organization is a
// Project, a member is a ProjectMembership whose User and Practitioner
// profile come from the core invite algorithm, a sign-up invitation mails
// the core's one-time set-password link. What only Medallion knows — a
// member's role, a provider's profession — lives in FHIR extensions and
// elements of those core resources; its invites are the core's invitations
// (admin), translated.
//
// Callers are the organization's API key (`x-api-key`: the secret of one of
// the project's ClientApplications), which may do everything, or a member's
// own bearer token, which may do what the member's Medallion role allows;
// the same roles are enforced on the core FHIR routes through the
// membership's accessPolicy and a resources.Guard.
package medallion

import (
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
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

// Service is the Medallion dialect.
type Service struct {
	admin *admin.Service
	auth  *auth.Service
	res   *resources.Service
}

// Register mounts the Medallion routes on e, enforces Medallion roles on the
// core resource pipeline. Invites are the core's invitations, which the
// core marks accepted when their link is used.
func Register(e *echo.Echo, adm *admin.Service, authSvc *auth.Service, res *resources.Service) *Service {
	s := &Service{admin: adm, auth: authSvc, res: res}
	res.AddGuard(s.guard)

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
