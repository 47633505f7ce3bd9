package mediumone

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
)

// inUserTx runs fn in one transaction that first takes the lock on the
// user name email: it serializes the Medium One writes deciding on one user
// name, in every process sharing the database.
func (h *Handler) inUserTx(ctx context.Context, email string, fn func(ctx context.Context) error) error {
	return h.res.InTx(ctx, func(ctx context.Context) error {
		if err := h.res.Store().Lock(ctx, "mediumone|user|"+email); err != nil {
			return err
		}
		return fn(ctx)
	})
}

// userName reads and checks the user_name parameter.
func userName(c echo.Context) (string, error) {
	email := resources.EmailKey(c.QueryParam("user_name"))
	switch e := resources.EmailProblem(email); {
	case email == "":
		return "", resources.Invalid("user_name", "user_name is required")
	case e != nil && e.Malformed:
		return "", resources.Invalid("user_name", "user_name must be an email address")
	case e != nil:
		return "", resources.Invalid("user_name", "user_name is refused: %s", e)
	}
	return email, nil
}

// adminUserName checks the caller is an SA or a TA and reads the user_name
// parameter of a write about one user.
func adminUserName(c echo.Context, cl *resources.Caller) (string, error) {
	if err := requireAdmin(cl); err != nil {
		return "", err
	}
	return userName(c)
}

// tenantUserName resolves the tenant (tenant_id) and reads the user_name of
// a request about one user's place in a tenant.
func (h *Handler) tenantUserName(ctx context.Context, c echo.Context, cl *resources.Caller) (*resources.Project, string, error) {
	tenant, err := h.tenantFor(ctx, cl, c.QueryParam("tenant_id"))
	if err != nil {
		return nil, "", err
	}
	email, err := userName(c)
	if err != nil {
		return nil, "", err
	}
	return tenant, email, nil
}

// invite adds email to project through the core invite algorithm, then
// gives a new User and a new profile exactly the Medium One name (the
// invite needs a last name, which a one-word full name has not).
func (h *Handler) invite(ctx context.Context, project, email, first, last, language string, m *resources.ProjectMembership, upsert bool) (*admin.InviteResult, error) {
	inviteLast := last
	if inviteLast == "" {
		inviteLast = first
	}
	res, err := h.admin.InviteUser(ctx, project, admin.InviteRequest{
		ResourceType: "Practitioner", FirstName: first, LastName: inviteLast, Email: email,
		Scope: admin.ScopeServer, Membership: m, Upsert: upsert,
	})
	if err != nil {
		return nil, err
	}
	u := res.User
	if res.UserCreated {
		next := *u
		next.Meta = nil
		next.FirstName, next.LastName = first, last
		next.Extension = resources.SetExtension(next.Extension, ExtLanguage, "valueCode", language)
		rec, err := h.res.Update(admin.AsAuthor(ctx, ""), &next, u.ID, "")
		if err != nil {
			return nil, err
		}
		if err := jsonInto(rec, u); err != nil {
			return nil, err
		}
	}
	if res.ProfileCreated {
		if err := h.editProfile(ctx, res.Profile, func(p person) { p.apply(u, allFields) }); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// userCreate: GET /user_create?user_name&full_name&language (SA or TA) →
// the new user's id. The user gets no tenant role; Roster's invite records
// it as an inactive membership of the caller's tenant, which no Medium One
// answer shows and which grants nothing until /tenant_add_user.
func (h *Handler) userCreate(c echo.Context) error {
	ctx, cl := caller(c)
	email, err := adminUserName(c, cl)
	if err != nil {
		return err
	}
	full := strings.TrimSpace(c.QueryParam("full_name"))
	if full == "" {
		return resources.Invalid("full_name", "full_name is required")
	}
	language := strings.TrimSpace(c.QueryParam("language"))
	if language == "" {
		language = "en"
	}
	first, last := splitName(full)
	var id string
	err = h.inUserTx(ctx, email, func(ctx context.Context) error {
		if u, err := h.findUser(ctx, email); err != nil {
			return err
		} else if u != nil {
			return resources.Invalid("user_name", "User already exists")
		}
		res, err := h.invite(ctx, cl.Project, email, first, last, language,
			&resources.ProjectMembership{Active: lo.ToPtr(false), Admin: lo.ToPtr(false)}, false)
		if err != nil {
			if resources.IsKind(err, resources.KindConflict) {
				return resources.Invalid("user_name", "User already exists")
			}
			return err
		}
		id = res.User.ID
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(c, id)
}

// tenantAddUser: GET /tenant_add_user?tenant_id&user_name&role&full_name →
// null. An existing user gets the role in the tenant (or has it changed); a
// missing one is created (full_name is required of a TA then) and mailed
// the welcome mail with a set-password link.
func (h *Handler) tenantAddUser(c echo.Context) error {
	ctx, cl := caller(c)
	tenant, email, err := h.tenantUserName(ctx, c, cl)
	if err != nil {
		return err
	}
	role := c.QueryParam("role")
	if role != RoleTenantAdmin && role != RoleTenantUser {
		return resources.Invalid("role", "role must be tenant-admin or tenant-user")
	}
	full := strings.TrimSpace(c.QueryParam("full_name"))
	err = h.inUserTx(ctx, email, func(ctx context.Context) error {
		u, err := h.findUser(ctx, email)
		if err != nil {
			return err
		}
		var first, last string
		switch {
		case u != nil:
			first, last = u.FirstName, u.LastName
		case full != "":
			first, last = splitName(full)
		case kindOf(cl) == tenantAdmin:
			return resources.Invalid("full_name", "full_name is required to create a user")
		}
		if first == "" && last == "" {
			first, _, _ = strings.Cut(email, "@")
		} else if first == "" {
			first, last = last, ""
		}
		_, err = h.invite(ctx, tenant.ID, email, first, last, "en",
			&resources.ProjectMembership{Active: lo.ToPtr(true), Admin: lo.ToPtr(role == RoleTenantAdmin)}, true)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(c, nil)
}

// userListInTenant: GET /user_list_in_tenant?tenant_id → {"user_list": […]}
// with each user's role in that tenant only.
func (h *Handler) userListInTenant(c echo.Context) error {
	ctx, cl := caller(c)
	tenant, err := h.tenantFor(ctx, cl, c.QueryParam("tenant_id"))
	if err != nil {
		return err
	}
	mems, err := dialect.SearchAll[*resources.ProjectMembership](ctx, h.res, tenant.ID, "ProjectMembership", nil)
	if err != nil {
		return err
	}
	mems = lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool {
		return m.IsActive() && userIDOf(m) != "" && projectOf(m) == tenant.ID
	})
	users, err := h.usersByID(ctx, lo.Map(mems, func(m *resources.ProjectMembership, _ int) string { return userIDOf(m) }))
	if err != nil {
		return err
	}
	out := UserList{UserList: []UserEntry{}}
	seen := map[string]bool{}
	for _, m := range mems {
		u := users[userIDOf(m)]
		if u == nil || seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		out.UserList = append(out.UserList, entryOf(u, []TenantRole{{TenantRole: roleOf(m), TenantID: tenant.ID, TenantName: tenant.Name}}))
	}
	sortEntries(out.UserList)
	return writeJSON(c, out)
}

// userList: GET /user_list (SA only) → {"user_list": […]} of every user
// with every tenant role.
func (h *Handler) userList(c echo.Context) error {
	ctx, cl := caller(c)
	if kindOf(cl) != superAdmin {
		return resources.Forbidden("Forbidden: SA required")
	}
	users, err := dialect.SearchAll[*resources.User](ctx, h.res, "", "User", nil)
	if err != nil {
		return err
	}
	mems, err := dialect.SearchAll[*resources.ProjectMembership](ctx, h.res, "", "ProjectMembership", nil)
	if err != nil {
		return err
	}
	mems = lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool { return m.IsActive() && userIDOf(m) != "" })
	names, err := h.projectNames(ctx, lo.Map(mems, func(m *resources.ProjectMembership, _ int) string { return projectOf(m) }))
	if err != nil {
		return err
	}
	byUser := lo.GroupBy(mems, userIDOf)
	out := UserList{UserList: make([]UserEntry, 0, len(users))}
	for _, u := range users {
		roles := []TenantRole{}
		seen := map[string]bool{}
		for _, m := range byUser[u.ID] {
			if p := projectOf(m); !seen[p] {
				seen[p] = true
				roles = append(roles, TenantRole{TenantRole: roleOf(m), TenantID: p, TenantName: names[p]})
			}
		}
		sortRoles(roles)
		out.UserList = append(out.UserList, entryOf(u, roles))
	}
	sortEntries(out.UserList)
	return writeJSON(c, out)
}

// me reads the caller's User.
func (h *Handler) me(ctx context.Context, cl *resources.Caller) (*resources.User, error) {
	u, _, err := resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), h.res, "User", cl.UserID)
	if err != nil {
		return nil, resources.Unauthorized("Unauthorized")
	}
	return u, nil
}

// whoami: GET /whoami → the caller.
func (h *Handler) whoami(c echo.Context) error {
	ctx, cl := caller(c)
	u, err := h.me(ctx, cl)
	if err != nil {
		return err
	}
	return writeJSON(c, WhoAmI{UserID: u.ID, APIBasicUser: basicUser(u.ID), UserPhone: userPhone(u), Role: roleName(cl),
		FullName: fullName(u), UserName: u.Email})
}

// myrole: GET /myrole → the caller's tenants and the current one.
func (h *Handler) myrole(c echo.Context) error {
	ctx, cl := caller(c)
	mems, err := h.memberships(ctx, cl.UserID)
	if err != nil {
		return err
	}
	roles, err := h.rolesOf(ctx, mems, "")
	if err != nil {
		return err
	}
	out := MyRole{TenantRoles: roles, CurrentTenantID: cl.Project, CurrentTenantRole: RoleTenantUser}
	if cl.Admin {
		out.CurrentTenantRole = RoleTenantAdmin
	}
	names, err := h.projectNames(ctx, []string{cl.Project})
	if err != nil {
		return err
	}
	out.CurrentTenantName = names[cl.Project]
	return writeJSON(c, out)
}

// target finds the user a write is about and checks the caller may act on
// it: a TA only on users of its own tenant, and nobody but the super admin
// on the super admin.
func (h *Handler) target(ctx context.Context, cl *resources.Caller, email string) (*resources.User, []*resources.ProjectMembership, error) {
	u, mems, err := h.userMemberships(ctx, email)
	if err != nil {
		return nil, nil, err
	}
	if kindOf(cl) != superAdmin {
		if u.Admin != nil && *u.Admin {
			return nil, nil, resources.Forbidden("Forbidden: only the SA may change the SA")
		}
		if !lo.ContainsBy(mems, func(m *resources.ProjectMembership) bool { return projectOf(m) == cl.Project }) {
			return nil, nil, resources.Forbidden("Forbidden: the user is not in your tenant")
		}
	}
	return u, mems, nil
}

// userUpdate: GET /user_update?user_name&param_list=… → null. Every
// param_list entry is checked before anything is written, and all of them
// are applied in one transaction.
func (h *Handler) userUpdate(c echo.Context) error {
	ctx, cl := caller(c)
	email, err := adminUserName(c, cl)
	if err != nil {
		return err
	}
	ups, err := parseParamList(c.QueryParams()["param_list"])
	if err != nil {
		return err
	}
	var role *update
	for i, u := range ups {
		switch u.field {
		case fieldFullName:
			if u.valueOr() == "" {
				return resources.Invalid("param_list", "full_name cannot be empty")
			}
		case fieldRole:
			if v := u.valueOr(); v != RoleTenantAdmin && v != RoleTenantUser {
				return resources.Invalid("param_list", "role must be tenant-admin or tenant-user")
			}
			role = &ups[i]
		}
	}
	touched := lo.SliceToMap(ups, func(u update) (string, bool) { return u.field, true })
	err = h.inUserTx(ctx, email, func(ctx context.Context) error {
		u, mems, err := h.target(ctx, cl, email)
		if err != nil {
			return err
		}
		var roleMem *resources.ProjectMembership
		if role != nil {
			if roleMem, err = h.roleMembership(cl, mems, c.QueryParam("tenant_id")); err != nil {
				return err
			}
		}
		next := *u
		next.Meta = nil
		applyUpdates(&next, ups)
		if _, err := h.res.Update(admin.AsAuthor(ctx, ""), &next, u.ID, u.Meta.VersionID); err != nil {
			return err
		}
		for _, m := range mems {
			if err := h.editProfileRef(ctx, projectOf(m), m.Profile.Reference, func(p person) { p.apply(&next, touched) }); err != nil {
				return err
			}
		}
		if roleMem != nil {
			isAdmin := role.valueOr() == RoleTenantAdmin
			if _, err := h.admin.UpdateMember(ctx, projectOf(roleMem), roleMem.ID, admin.MemberUpdate{Admin: &isAdmin}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(c, nil)
}

// roleMembership picks the membership a role change applies to: the TA's
// tenant; for the SA the tenant_id given, or the user's only tenant.
func (h *Handler) roleMembership(cl *resources.Caller, mems []*resources.ProjectMembership, tenantID string) (*resources.ProjectMembership, error) {
	tenantID = strings.TrimPrefix(strings.TrimSpace(tenantID), "t_")
	if kindOf(cl) != superAdmin {
		tenantID = cl.Project
	}
	if tenantID == "" {
		actives := lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool { return m.IsActive() })
		if len(actives) != 1 {
			return nil, resources.Invalid("tenant_id", "tenant_id is required to change the role of a user who is not in exactly one tenant")
		}
		return actives[0], nil
	}
	for _, m := range mems {
		if projectOf(m) == tenantID && m.IsActive() {
			return m, nil
		}
	}
	return nil, resources.Invalid("tenant_id", "The user has no role in this tenant")
}

// applyUpdates writes the param_list fields into the User.
func applyUpdates(u *resources.User, ups []update) {
	addr := userAddress(u)
	line := func(i int) string {
		if i < len(addr.Line) {
			return addr.Line[i]
		}
		return ""
	}
	street, street2 := line(0), line(1)
	for _, up := range ups {
		v := up.valueOr()
		switch up.field {
		case fieldFullName:
			u.FirstName, u.LastName = splitName(v)
		case fieldPhone:
			var val any
			if v != "" {
				val = v
			}
			u.Extension = resources.SetExtension(u.Extension, ExtPhone, "valueString", val)
		case fieldStreet:
			street = v
		case fieldStreet2:
			street2 = v
		case fieldCity:
			addr.City = v
		case fieldState:
			addr.State = v
		case fieldZip:
			addr.PostalCode = v
		case fieldCountry:
			addr.Country = v
		}
	}
	addr.Line = nil
	switch {
	case street2 != "":
		addr.Line = []string{street, street2}
	case street != "":
		addr.Line = []string{street}
	}
	var val any
	if len(addr.Line) > 0 || addr.City != "" || addr.State != "" || addr.PostalCode != "" || addr.Country != "" {
		val = addr
	}
	u.Extension = resources.SetExtension(u.Extension, ExtAddress, "valueAddress", val)
}

// userRemove: GET /user_remove?user_name → null. The user is deleted from
// the server: every membership goes and every login ends at once. A TA may
// remove only a user who belongs to its tenant alone; profiles (clinical
// records) stay.
func (h *Handler) userRemove(c echo.Context) error {
	ctx, cl := caller(c)
	email, err := adminUserName(c, cl)
	if err != nil {
		return err
	}
	err = h.inUserTx(ctx, email, func(ctx context.Context) error {
		u, mems, err := h.target(ctx, cl, email)
		if err != nil {
			return err
		}
		if u.Admin != nil && *u.Admin {
			return resources.Forbidden("Forbidden: the SA cannot be removed")
		}
		if kindOf(cl) != superAdmin && lo.ContainsBy(mems, func(m *resources.ProjectMembership) bool { return projectOf(m) != cl.Project }) {
			return resources.Forbidden("Forbidden: the user belongs to other tenants too; use /tenant_remove_user")
		}
		for _, m := range mems {
			if err := h.res.Delete(admin.AsAuthor(ctx, projectOf(m)), "ProjectMembership", m.ID); err != nil {
				return err
			}
		}
		if err := h.res.Delete(admin.AsAuthor(ctx, ""), "User", u.ID); err != nil {
			return err
		}
		return h.logins.RevokeUserLogins(ctx, u.ID, "")
	})
	if err != nil {
		return err
	}
	return writeJSON(c, nil)
}

// tenantRemoveUser: GET /tenant_remove_user?tenant_id&user_name → null. Only
// the user's membership of that tenant goes; the user stays.
func (h *Handler) tenantRemoveUser(c echo.Context) error {
	ctx, cl := caller(c)
	tenant, email, err := h.tenantUserName(ctx, c, cl)
	if err != nil {
		return err
	}
	err = h.inUserTx(ctx, email, func(ctx context.Context) error {
		_, mems, err := h.userMemberships(ctx, email)
		if err != nil {
			return err
		}
		mems = lo.Filter(mems, func(m *resources.ProjectMembership, _ int) bool { return projectOf(m) == tenant.ID })
		if len(mems) == 0 {
			return resources.NotFound("The user is not in this tenant")
		}
		for _, m := range mems {
			if err := h.admin.DeleteMember(ctx, tenant.ID, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(c, nil)
}
