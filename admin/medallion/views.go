package medallion

import (
	"context"
	"strings"
	"time"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
	"github.com/samber/lo"
)

// MemberJSON is a Medallion member as the API answers it.
type MemberJSON struct {
	ID           string        `json:"id"`
	Organization string        `json:"organization"`
	Role         string        `json:"role"`
	IsActive     bool          `json:"is_active"`
	User         UserJSON      `json:"user"`
	Provider     *ProviderJSON `json:"provider"`
	Created      string        `json:"created"`
	Modified     string        `json:"modified"`
}

// UserJSON is the member's user account.
type UserJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// ProviderJSON is a provider member's profile (its Practitioner).
type ProviderJSON struct {
	ID         string  `json:"id"`
	Profession *string `json:"profession"`
	FirstName  string  `json:"first_name"`
	LastName   string  `json:"last_name"`
	Email      string  `json:"email"`
}

// InviteJSON is a Medallion invite as the API answers it.
type InviteJSON struct {
	ID           string `json:"id"`
	MembershipID string `json:"membership_id"`
	Organization string `json:"organization"`
	Email        string `json:"email"`
	Status       string `json:"status"`
	Created      string `json:"created"`
	Modified     string `json:"modified"`
	ExpiresAt    string `json:"expires_at"`
}

// Page is Django REST framework's paginated list.
type Page[T any] = dialect.Page[T]

// Paging defaults (Django REST framework's LimitOffsetPagination).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// created is when a resource's first version was written.
func (s *Service) created(ctx context.Context, typ, id string) time.Time {
	rec, err := s.res.VRead(ctx, typ, id, "1")
	if err != nil {
		return time.Time{}
	}
	return rec.LastUpdated
}

// memberView assembles a member's answer from its membership, User and profile.
func (s *Service) memberView(ctx context.Context, m *resources.ProjectMembership) (*MemberJSON, error) {
	project := strings.TrimPrefix(m.Project.Reference, "Project/")
	sys := admin.AsAuthor(ctx, project)
	out := &MemberJSON{ID: m.ID, Organization: project, Role: roleOf(m), IsActive: m.IsActive()}
	if out.Role == "" && m.Admin != nil && *m.Admin {
		out.Role = RoleAdmin
	}
	if m.Meta != nil {
		if t, err := time.Parse(time.RFC3339Nano, m.Meta.LastUpdated); err == nil {
			out.Modified = stamp(t)
		}
	}
	out.Created = stamp(s.created(sys, "ProjectMembership", m.ID))
	if id, ok := strings.CutPrefix(m.User.Reference, "User/"); ok {
		u, _, err := resources.ReadTyped[*resources.User](admin.AsAuthor(ctx, ""), s.res, "User", id)
		if err != nil {
			return nil, err
		}
		out.User = UserJSON{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
	}
	if id, ok := strings.CutPrefix(m.Profile.Reference, "Practitioner/"); ok && (out.Role == RoleProvider || out.Role == RoleSuperProvider) {
		p, _, err := resources.ReadTyped[*resources.Practitioner](sys, s.res, "Practitioner", id)
		if err != nil {
			return nil, err
		}
		out.Provider = providerView(p)
	}
	return out, nil
}

func providerView(p *resources.Practitioner) *ProviderJSON {
	out := &ProviderJSON{ID: p.ID, Profession: profession(p)}
	if len(p.Name) > 0 {
		n := p.Name[0]
		out.FirstName, out.LastName = strings.Join(n.Given, " "), n.Family
	}
	for _, cp := range p.Telecom {
		if cp.System == "email" {
			out.Email = cp.Value
			break
		}
	}
	return out
}

// profession is the Medallion profession on a Practitioner, nil when none.
func profession(p *resources.Practitioner) *string {
	for _, q := range p.Qualification {
		for _, cd := range q.Code.Coding {
			if cd.System == ProfessionSystem && cd.Code != "" {
				return lo.ToPtr(cd.Code)
			}
		}
	}
	return nil
}

// setProfession replaces the Medallion profession qualification of p.
func setProfession(p *resources.Practitioner, prof string) {
	var keep []resources.PractitionerQualification
	for _, q := range p.Qualification {
		medallion := false
		for _, cd := range q.Code.Coding {
			medallion = medallion || cd.System == ProfessionSystem
		}
		if !medallion {
			keep = append(keep, q)
		}
	}
	if prof != "" {
		keep = append(keep, resources.PractitionerQualification{Code: resources.CodeableConcept{
			Coding: []resources.Coding{{System: ProfessionSystem, Code: prof}}, Text: prof}})
	}
	p.Qualification = keep
}

// inviteView renders a core invitation of org as Medallion's invite: its
// status is the core's now (a pending one past its expiry is expired), and
// it was last modified when it was last sent, accepted or revoked.
func inviteView(org string, inv *admin.Invitation) InviteJSON {
	modified := inv.Created
	for _, t := range []*time.Time{inv.LastSent, inv.Accepted, inv.Revoked} {
		if t != nil && t.After(modified) {
			modified = *t
		}
	}
	return InviteJSON{ID: inv.ID, MembershipID: strings.TrimPrefix(inv.Membership.Reference, "ProjectMembership/"),
		Organization: org, Email: inv.Email, Status: inv.Status, Created: stamp(inv.Created), Modified: stamp(modified),
		ExpiresAt: stamp(inv.Expires)}
}
