package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// ProjectDetails is the answer of GET /admin/projects/{projectId}: the
// project and its members, in the shape Medplum's admin API used.
type ProjectDetails struct {
	Project ProjectSummary  `json:"project"`
	Members []MemberSummary `json:"members"`
}

// ProjectSummary names a project.
type ProjectSummary struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// MemberSummary is one member of a project: Medplum's fields
// (membershipId, profile, user, name, accessPolicy, role) plus the
// membership's admin and active flags and externalId.
type MemberSummary struct {
	MembershipID string               `json:"membershipId"`
	Profile      string               `json:"profile"`
	User         string               `json:"user"`
	Name         string               `json:"name,omitempty"`
	AccessPolicy *resources.Reference `json:"accessPolicy,omitempty"`
	// Role is "owner" (the project's owner), "admin" or "member".
	Role       string `json:"role"`
	Admin      bool   `json:"admin"`
	Active     bool   `json:"active"`
	ExternalID string `json:"externalId,omitempty"`
}

// ProjectDetails lists projectID and its members; project admins only.
func (s *Service) ProjectDetails(ctx context.Context, projectID string) (*ProjectDetails, error) {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return nil, err
	}
	mems, err := s.allMemberships(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := &ProjectDetails{Project: ProjectSummary{ID: project.ID, Name: project.Name}, Members: make([]MemberSummary, 0, len(mems))}
	for _, m := range mems {
		out.Members = append(out.Members, summarize(project, m))
	}
	sort.SliceStable(out.Members, func(i, j int) bool {
		a, b := strings.ToLower(out.Members[i].Name), strings.ToLower(out.Members[j].Name)
		if a != b {
			return a < b
		}
		return out.Members[i].MembershipID < out.Members[j].MembershipID
	})
	return out, nil
}

// summarize is membership m of project as the admin lists show it.
func summarize(project *resources.Project, m *resources.ProjectMembership) MemberSummary {
	role := "member"
	switch {
	case project.Owner != nil && project.Owner.Reference != "" && m.User.Reference == project.Owner.Reference:
		role = "owner"
	case m.Admin != nil && *m.Admin:
		role = "admin"
	}
	return MemberSummary{
		MembershipID: m.ID, Profile: m.Profile.Reference, User: m.User.Reference, Name: m.Profile.Display,
		AccessPolicy: m.AccessPolicy, Role: role, Admin: m.Admin != nil && *m.Admin,
		Active: m.IsActive(), ExternalID: m.ExternalID,
	}
}

// allMemberships pages through every membership of projectID.
func (s *Service) allMemberships(ctx context.Context, projectID string) ([]*resources.ProjectMembership, error) {
	t, _ := resources.Lookup("ProjectMembership")
	var out []*resources.ProjectMembership
	for offset := 0; ; offset += resources.MaxCount {
		q, err := resources.ParseQuery(t, url.Values{"_sort": {"_id"}})
		if err != nil {
			return nil, err
		}
		q.Count, q.Offset = resources.MaxCount, offset
		page, err := resources.SearchTyped[*resources.ProjectMembership](resources.AsSystem(ctx, projectID), s.res, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < resources.MaxCount {
			return out, nil
		}
	}
}

// Member reads one membership of projectID; project admins only. A
// membership of another project is 404, as if it did not exist.
func (s *Service) Member(ctx context.Context, projectID, membershipID string) (*resources.ProjectMembership, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	return s.member(ctx, projectID, membershipID)
}

func (s *Service) member(ctx context.Context, projectID, membershipID string) (*resources.ProjectMembership, error) {
	m, _, err := resources.ReadTyped[*resources.ProjectMembership](resources.AsSystem(ctx, projectID), s.res, "ProjectMembership", membershipID)
	if err != nil || m.Project.Reference != "Project/"+projectID {
		if err == nil || resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil, resources.NotFound("Membership not found")
		}
		return nil, err
	}
	return m, nil
}

// MemberUpdate is a change to a membership. Nil fields are left as they are.
type MemberUpdate struct {
	Admin  *bool
	Active *bool
	// Profile must be a Patient, Practitioner or RelatedPerson of the project
	// (or the current profile).
	Profile *resources.Reference
	// AccessPolicy must be an AccessPolicy of the project; an empty
	// Reference removes the policy.
	AccessPolicy *resources.Reference
	// Access replaces the parameterized policies; an empty slice removes them.
	Access *[]resources.ProjectMembershipAccess
	// ExternalID replaces the external id (unique in the project); "" removes it.
	ExternalID *string
	// User and Project, when given (a client posting the whole membership
	// back), must be the stored ones: they cannot change.
	User    *resources.Reference
	Project *resources.Reference
}

// UpdateMember changes a membership of projectID; project admins only. An
// update that changes nothing writes nothing. Deactivating a membership
// (Active false) stops its tokens at the next request.
func (s *Service) UpdateMember(ctx context.Context, projectID, membershipID string, u MemberUpdate) (*resources.ProjectMembership, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	var out *resources.ProjectMembership
	err := s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		cur, err := s.member(ctx, projectID, membershipID)
		if err != nil {
			return err
		}
		next := *cur
		next.Meta = nil
		var issues []resources.Issue
		bad := func(expr, msg string) {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: expr, Message: msg})
		}
		if u.User != nil && u.User.Reference != cur.User.Reference {
			bad("user", "The user of a membership cannot be changed")
		}
		if u.Project != nil && u.Project.Reference != cur.Project.Reference {
			bad("project", "The project of a membership cannot be changed")
		}
		if u.Admin != nil {
			next.Admin = u.Admin
		}
		if u.Active != nil {
			next.Active = u.Active
		}
		if u.ExternalID != nil {
			next.ExternalID = strings.TrimSpace(*u.ExternalID)
		}
		if u.Profile != nil && u.Profile.Reference != cur.Profile.Reference {
			rec, ok := s.readInProject(ctx, u.Profile.Reference, projectID)
			if typ, _, _ := strings.Cut(u.Profile.Reference, "/"); !ok || !contains(profileTypes, typ) {
				bad("profile", "Profile must be a Patient, Practitioner or RelatedPerson of this project")
			} else if r, err := resources.Unmarshal(rec); err == nil {
				next.Profile = reference(r)
			} else {
				return err
			}
		}
		var refs []namedRef
		if u.AccessPolicy != nil {
			if u.AccessPolicy.Reference == "" {
				next.AccessPolicy = nil
			} else {
				next.AccessPolicy = u.AccessPolicy
				refs = append(refs, namedRef{"accessPolicy", u.AccessPolicy.Reference})
			}
		}
		if u.Access != nil {
			next.Access = *u.Access
			if len(next.Access) == 0 {
				next.Access = nil
			}
			for i, a := range next.Access {
				refs = append(refs, namedRef{"access[" + strconv.Itoa(i) + "].policy", a.Policy.Reference})
			}
		}
		issues = append(issues, s.checkPolicies(ctx, projectID, refs)...)
		if len(issues) > 0 {
			return resources.Invalids(issues)
		}
		before := *cur
		before.Meta = nil
		a, _ := json.Marshal(&before)
		b, _ := json.Marshal(&next)
		if string(a) == string(b) {
			out = cur
			return nil
		}
		rec, err := s.res.Update(ctx, &next, cur.ID, cur.Meta.VersionID)
		if err != nil {
			return err
		}
		out = &resources.ProjectMembership{}
		return json.Unmarshal(rec.Content, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteMember removes a membership of projectID; its tokens stop working
// at once. A project-scoped User loses its account with its last
// membership (deleteMembership); a server-scoped one stays. The project
// owner's membership cannot be deleted.
func (s *Service) DeleteMember(ctx context.Context, projectID, membershipID string) error {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return err
	}
	m, err := s.member(ctx, projectID, membershipID)
	if err != nil {
		return err
	}
	if project.Owner != nil && project.Owner.Reference != "" && project.Owner.Reference == m.User.Reference {
		return resources.Invalid("", "Cannot delete the owner of the project")
	}
	return s.deleteMembership(ctx, projectID, m)
}

func (s *Service) handleProjectDetails(c echo.Context) error {
	out, err := s.ProjectDetails(c.Request().Context(), c.Param("projectId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) handleGetMember(c echo.Context) error {
	m, err := s.Member(c.Request().Context(), c.Param("projectId"), c.Param("membershipId"))
	if err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, m)
}

func (s *Service) handleUpdateMember(c echo.Context) error {
	ctx := c.Request().Context()
	projectID, membershipID := c.Param("projectId"), c.Param("membershipId")
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return err
	}
	body, err := rest.ReadBody(c)
	if err != nil {
		return err
	}
	u, err := decodeMemberUpdate(body, membershipID)
	if err != nil {
		return err
	}
	m, err := s.UpdateMember(ctx, projectID, membershipID, u)
	if err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, m)
}

// decodeMemberUpdate reads the body of POST …/members/{id}: a (partial)
// ProjectMembership, as Medplum's app posts it back. Elements present are
// applied; null clears accessPolicy, access and externalId.
func decodeMemberUpdate(body []byte, membershipID string) (MemberUpdate, error) {
	var u MemberUpdate
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return u, resources.Invalid("", "Request body must be a ProjectMembership")
	}
	var m resources.ProjectMembership
	if err := resources.Decode(body, &m); err != nil {
		if de, ok := err.(*resources.DecodeError); ok {
			return u, resources.Invalid(de.Element, "%s", de.Error())
		}
		return u, resources.Invalid("", "Request body must be a ProjectMembership")
	}
	var issues []resources.Issue
	if m.ResourceType != "" && m.ResourceType != "ProjectMembership" {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "resourceType", Message: "resourceType must be ProjectMembership"})
	}
	if m.ID != "" && m.ID != membershipID {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "id", Message: "id does not match the URL"})
	}
	if len(issues) > 0 {
		return u, resources.Invalids(issues)
	}
	has := func(k string) bool { _, ok := raw[k]; return ok }
	if has("admin") {
		u.Admin = ptr(m.Admin != nil && *m.Admin)
	}
	if has("active") {
		u.Active = ptr(m.IsActive())
	}
	if has("profile") {
		u.Profile = &m.Profile
	}
	if has("accessPolicy") {
		u.AccessPolicy = &resources.Reference{}
		if m.AccessPolicy != nil {
			u.AccessPolicy = m.AccessPolicy
		}
	}
	if has("access") {
		u.Access = &m.Access
	}
	if has("externalId") {
		u.ExternalID = &m.ExternalID
	}
	if has("user") {
		u.User = &m.User
	}
	if has("project") {
		u.Project = &m.Project
	}
	return u, nil
}

func (s *Service) handleDeleteMember(c echo.Context) error {
	if err := s.DeleteMember(c.Request().Context(), c.Param("projectId"), c.Param("membershipId")); err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, rest.AllOK("Membership deleted"))
}
