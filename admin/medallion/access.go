package medallion

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// Django REST framework's stock messages, which Medallion's API answers with.
const (
	msgNoCredentials = "Authentication credentials were not provided."
	msgBadCredential = "Incorrect authentication credentials."
	msgForbidden     = "You do not have permission to perform this action."
	msgNotFound      = "Not found."
)

// principal is who calls a Medallion route and what their role lets them do.
type principal struct {
	caller *resources.Caller
	apiKey bool   // the organization's API key: every right
	role   string // the member's Medallion role (bearer tokens)
}

type principalKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// org is the organization (project) the principal acts in.
func (p *principal) org() string { return p.caller.Project }

// manages reports whether the principal may create and change members and invites.
func (p *principal) manages() bool {
	return p.apiKey || p.role == RoleAdmin || p.role == RoleSuperProvider
}

// readsOrg reports whether the principal may see every member and invite.
func (p *principal) readsOrg() bool {
	return p.manages() || p.role == RoleAuditor || p.role == RoleMedicalStaffProfessional
}

// sees reports whether the principal may see membership id: a provider sees
// only their own.
func (p *principal) sees(membershipID string) bool {
	return p.readsOrg() || (p.role == RoleProvider && membershipID == p.caller.MembershipID)
}

// requireManage refuses writes to principals that only read.
func (p *principal) requireManage() error {
	if !p.manages() {
		return resources.Forbidden(msgForbidden)
	}
	return nil
}

// authenticate resolves `x-api-key` (the organization's key) or a member's
// bearer token; anything else is 401 before the handler runs.
func (s *Service) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	bad := resources.Unauthorized(msgBadCredential)
	gate := &dialect.Gate{Auth: s.auth, Rules: auth.CredentialRules{APIKey: "x-api-key", Schemes: []string{"Bearer"}},
		Missing: resources.Unauthorized(msgNoCredentials), Unreadable: bad, Refused: bad}
	return func(c echo.Context) error {
		req := c.Request()
		caller, cred, err := gate.Caller(c)
		if err != nil {
			return err
		}
		p := &principal{caller: caller, apiKey: cred.APIKey != ""}
		if p.apiKey {
			// The key of an admin client is the organization's and
			// administers it. A client made without admin rights has only
			// a member's rights on the core API; its secret must not buy
			// more here (it could rename the admins' logins and take them
			// over), so it is refused.
			if !caller.Admin {
				return resources.Forbidden(msgForbidden)
			}
		} else if p.role, err = s.callerRole(req.Context(), caller); err != nil {
			return err
		}
		ctx := resources.WithCaller(req.Context(), caller)
		ctx = context.WithValue(ctx, principalKey{}, p)
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// callerRole is the Medallion role of a bearer token's membership: its role
// extension, else "admin" for a project admin; "" means no Medallion rights.
func (s *Service) callerRole(ctx context.Context, c *resources.Caller) (string, error) {
	if c.MembershipID == "" {
		return "", nil
	}
	m, _, err := resources.ReadTyped[*resources.ProjectMembership](admin.AsAuthor(ctx, c.Project), s.res, "ProjectMembership", c.MembershipID)
	if err != nil {
		return "", err
	}
	if role := roleOf(m); role != "" {
		return role, nil
	}
	if c.Admin {
		return RoleAdmin, nil
	}
	return "", nil
}

// roleOf reads a membership's Medallion role ("" when it has none).
func roleOf(m *resources.ProjectMembership) string {
	var role string
	resources.ExtensionValue(m.Extension, RoleURL, "valueCode", &role)
	return role
}
