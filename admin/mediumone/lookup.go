package mediumone

import (
	"context"
	"net/url"
	"strings"

	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
)

// findUser returns the server-scoped User whose login is email, nil if none:
// Medium One users are server-wide accounts.
func (h *Handler) findUser(ctx context.Context, email string) (*resources.User, error) {
	users, err := dialect.SearchAll[*resources.User](ctx, h.res, "", "User", url.Values{"email": {resources.EmailKey(email)}})
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Project == nil {
			return u, nil
		}
	}
	return nil, nil
}

// mustFindUser is findUser with a 404 when there is none.
func (h *Handler) mustFindUser(ctx context.Context, email string) (*resources.User, error) {
	u, err := h.findUser(ctx, email)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, resources.NotFound("User not found")
	}
	return u, nil
}

// userMemberships is mustFindUser with every membership of the user.
func (h *Handler) userMemberships(ctx context.Context, email string) (*resources.User, []*resources.ProjectMembership, error) {
	u, err := h.mustFindUser(ctx, email)
	if err != nil {
		return nil, nil, err
	}
	mems, err := h.memberships(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	return u, mems, nil
}

// memberships lists every membership of a user in every project, active or not.
func (h *Handler) memberships(ctx context.Context, userID string) ([]*resources.ProjectMembership, error) {
	return dialect.SearchAll[*resources.ProjectMembership](ctx, h.res, "", "ProjectMembership", url.Values{"user": {"User/" + userID}})
}

// usersByID reads Users by id, in batches.
func (h *Handler) usersByID(ctx context.Context, ids []string) (map[string]*resources.User, error) {
	out := map[string]*resources.User{}
	for _, chunk := range lo.Chunk(lo.Uniq(ids), 200) {
		users, err := dialect.SearchAll[*resources.User](ctx, h.res, "", "User", url.Values{"_id": {strings.Join(chunk, ",")}})
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out[u.ID] = u
		}
	}
	return out, nil
}

// projectNames maps project ids to names.
func (h *Handler) projectNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, chunk := range lo.Chunk(lo.Uniq(ids), 200) {
		ps, err := dialect.SearchAll[*resources.Project](ctx, h.res, "", "Project", url.Values{"_id": {strings.Join(chunk, ",")}})
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.ID] = p.Name
		}
	}
	return out, nil
}

// projectOf is the id of a membership's project.
func projectOf(m *resources.ProjectMembership) string {
	return strings.TrimPrefix(m.Project.Reference, "Project/")
}

// userIDOf is the User id of a membership ("" for a client's).
func userIDOf(m *resources.ProjectMembership) string {
	id, ok := strings.CutPrefix(m.User.Reference, "User/")
	if !ok {
		return ""
	}
	return id
}

// rolesOf is the tenant roles of active memberships, optionally of one project only.
func (h *Handler) rolesOf(ctx context.Context, mems []*resources.ProjectMembership, onlyProject string) ([]TenantRole, error) {
	mems = lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool {
		return m.IsActive() && (onlyProject == "" || projectOf(m) == onlyProject)
	})
	names, err := h.projectNames(ctx, lo.Map(mems, func(m *resources.ProjectMembership, _ int) string { return projectOf(m) }))
	if err != nil {
		return nil, err
	}
	roles := []TenantRole{}
	seen := map[string]bool{}
	for _, m := range mems {
		p := projectOf(m)
		if seen[p] {
			continue
		}
		seen[p] = true
		roles = append(roles, TenantRole{TenantRole: roleOf(m), TenantID: p, TenantName: names[p]})
	}
	sortRoles(roles)
	return roles, nil
}
