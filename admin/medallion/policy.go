package medallion

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/resources"
)

// Roles that are not project admins carry one of these AccessPolicies (one
// per organization and role, with an id derived from both, so it is found
// without a lookup and created at most once). The policy's content says the
// rule in Medplum's terms; the guard below enforces it on every core
// operation of a member's token.
var policyNamespace = uuid.MustParse("7d1b3c52-93c4-4f7e-9a55-2f0f4e6b8a10")

// policyID is the id of role's AccessPolicy in project.
func policyID(project, role string) string {
	return uuid.NewSHA1(policyNamespace, []byte(project+"|"+role)).String()
}

// restricted reports whether role gets an AccessPolicy (and is no project admin).
func restricted(role string) bool {
	return role == RoleAuditor || role == RoleProvider || role == RoleMedicalStaffProfessional
}

// policyFor returns the AccessPolicy a role's members carry in project.
func policyFor(project, role string) *resources.AccessPolicy {
	p := &resources.AccessPolicy{Name: "Medallion " + role}
	p.ResourceType = "AccessPolicy"
	p.Extension = []resources.Extension{resources.NewExtension(RoleURL, "valueCode", role)}
	switch role {
	case RoleProvider:
		p.Resource = []resources.AccessPolicyResource{{ResourceType: "Practitioner", Criteria: "Practitioner?_id=%profile.id"}}
	default:
		p.Resource = []resources.AccessPolicyResource{{ResourceType: "*", Readonly: lo.ToPtr(true)}}
	}
	return p
}

// ensurePolicy makes sure role's AccessPolicy exists in project and returns
// its reference (nil for roles without one). ctx must carry a transaction.
func (s *Service) ensurePolicy(ctx context.Context, project, role string) (*resources.Reference, error) {
	if !restricted(role) {
		return nil, nil
	}
	id := policyID(project, role)
	sys := admin.AsAuthor(ctx, project)
	if err := s.res.Store().Lock(ctx, "medallion|policy|"+id); err != nil {
		return nil, err
	}
	_, err := s.res.Read(sys, "AccessPolicy", id)
	switch {
	case err == nil:
	case resources.IsKind(err, resources.KindNotFound):
		if _, err := s.res.CreateWithID(sys, policyFor(project, role), project, id); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return &resources.Reference{Reference: "AccessPolicy/" + id, Display: "Medallion " + role}, nil
}

// guard enforces Medallion roles on the core resource pipeline for tokens
// of members whose accessPolicy is one of Medallion's: auditors and medical
// staff professionals only read; a provider reads and edits only their own
// Practitioner profile (searches are narrowed to it, other resources are
// 404, creating anything is 403). Other callers pass untouched.
func (s *Service) guard(_ context.Context, c *resources.Caller, a *resources.Access) error {
	if c.AccessPolicy == "" {
		return nil
	}
	id, ok := strings.CutPrefix(c.AccessPolicy, "AccessPolicy/")
	if !ok {
		return nil
	}
	switch id {
	case policyID(c.Project, RoleAuditor), policyID(c.Project, RoleMedicalStaffProfessional):
		if a.Write {
			return resources.Forbidden("Forbidden: this Medallion role may only read")
		}
		return nil
	case policyID(c.Project, RoleProvider):
		own, isPractitioner := strings.CutPrefix(c.Profile, "Practitioner/")
		switch {
		case a.ID != "":
			if a.Type != "Practitioner" || !isPractitioner || a.ID != own {
				return resources.NotFound("Not found")
			}
		case a.Query != nil && a.Type == "Practitioner" && isPractitioner:
			a.Query.Filters = append(a.Query.Filters, resources.Filter{Code: "_id",
				Values: []resources.FilterValue{{Op: "eq", Value: own}}})
		default:
			return resources.Forbidden("Forbidden: a Medallion provider may only see their own profile")
		}
	}
	return nil
}
