// Package mediumone serves Medium One's user and tenant API (the "custom
// page" endpoints of its portal) under /mediumone/ as a thin dialect over
// Roster's core: a Medium One tenant is a Project (tenant_id = project id),
// a user is a server-scoped User, the tenant roles tenant-admin and
// tenant-user are a ProjectMembership with admin true or false, the super
// admin (SA) is Roster's super admin and a tenant admin (TA) a project admin.
// Users and memberships are created by the core invite algorithm; the
// Medium One facts that FHIR has no field for on a User (phone, address,
// language) are FHIR extensions on the User, mirrored into the natural
// elements (telecom, address, name) of the user's profiles.
//
// Every endpoint is a GET with query parameters, authenticated by a bearer
// token only (never a cookie, never HTTP Basic). Errors are {"error": "…"}
// with the status Medium One documents (400 for a bad request, 403 for a
// tenant or role the caller may not act on).
package mediumone

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// Medium One's roles, as whoami, myrole and the user lists name them.
const (
	RoleTenantAdmin = "tenant-admin"
	RoleTenantUser  = "tenant-user"
	RoleSuperAdmin  = "super-admin"
	// RoleSuperUser is accepted nowhere and never answered: Roster has one
	// kind of super admin.
	RoleSuperUser = "super-user"
)

// Extension URLs of the Medium One facts kept on a User.
const (
	ExtPhone    = "https://roster.dev/fhir/StructureDefinition/mediumone-phone"    // valueString
	ExtAddress  = "https://roster.dev/fhir/StructureDefinition/mediumone-address"  // valueAddress
	ExtLanguage = "https://roster.dev/fhir/StructureDefinition/mediumone-language" // valueCode
)

// LoginRevoker ends every login of a user; store.Store implements it.
type LoginRevoker interface {
	// RevokeUserLogins revokes every login of userID except keep ("" for all).
	RevokeUserLogins(ctx context.Context, userID, keep string) error
}

// Handler serves the Medium One endpoints.
type Handler struct {
	res    *resources.Service
	auth   *auth.Service
	admin  *admin.Service
	logins LoginRevoker
}

// New returns the Medium One dialect over the core services; logins ends a
// removed user's logins.
func New(res *resources.Service, authSvc *auth.Service, adminSvc *admin.Service, logins LoginRevoker) *Handler {
	return &Handler{res: res, auth: authSvc, admin: adminSvc, logins: logins}
}

// Register mounts the endpoints under /mediumone/.
func (h *Handler) Register(e *echo.Echo) {
	g := dialect.Mount(e, "/mediumone", Errors, h.authenticate)
	g.GET("/user_create", h.userCreate)
	g.GET("/tenant_add_user", h.tenantAddUser)
	g.GET("/user_list_in_tenant", h.userListInTenant)
	g.GET("/user_list", h.userList)
	g.GET("/whoami", h.whoami)
	g.GET("/myrole", h.myrole)
	g.GET("/user_update", h.userUpdate)
	g.GET("/user_remove", h.userRemove)
	g.GET("/tenant_remove_user", h.tenantRemoveUser)
}

// authenticate accepts only "Authorization: Bearer …" with a user's token.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	gate := &dialect.Gate{Auth: h.auth, Rules: auth.CredentialRules{Schemes: []string{"Bearer"}},
		Missing: resources.Unauthorized("A bearer token is required")}
	return func(c echo.Context) error {
		caller, _, err := gate.Caller(c)
		if err != nil {
			return err
		}
		if caller.ClientID != "" && caller.ClientID == caller.UserID {
			return resources.Unauthorized("A user's bearer token is required")
		}
		c.SetRequest(c.Request().WithContext(resources.WithCaller(c.Request().Context(), caller)))
		return next(c)
	}
}

// kind is what the caller is in Medium One's terms.
type kind int

const (
	tenantUser kind = iota
	tenantAdmin
	superAdmin
)

func kindOf(c *resources.Caller) kind {
	switch {
	case c.SuperAdmin:
		return superAdmin
	case c.Admin:
		return tenantAdmin
	}
	return tenantUser
}

// roleName is the whoami role of a caller.
func roleName(c *resources.Caller) string {
	switch kindOf(c) {
	case superAdmin:
		return RoleSuperAdmin
	case tenantAdmin:
		return RoleTenantAdmin
	}
	return RoleTenantUser
}

func caller(c echo.Context) (context.Context, *resources.Caller) {
	ctx := c.Request().Context()
	return ctx, resources.CallerFrom(ctx)
}

// requireAdmin refuses tenant users: every write and list needs an SA or a TA.
func requireAdmin(cl *resources.Caller) error {
	if kindOf(cl) == tenantUser {
		return resources.Forbidden("Forbidden: SA or TA required")
	}
	return nil
}

// tenantFor resolves the tenant a request acts on. An SA must name it (it
// must exist); a TA acts on its own tenant, and naming another is 403. The
// documented "t_" basic-user prefix is accepted.
func (h *Handler) tenantFor(ctx context.Context, cl *resources.Caller, param string) (*resources.Project, error) {
	id := strings.TrimPrefix(strings.TrimSpace(param), "t_")
	switch kindOf(cl) {
	case superAdmin:
		if id == "" {
			return nil, resources.Invalid("tenant_id", "tenant_id is required")
		}
	case tenantAdmin:
		if id == "" {
			id = cl.Project
		}
		if id != cl.Project {
			return nil, resources.Forbidden("Forbidden: a TA acts only on its own tenant")
		}
	default:
		return nil, resources.Forbidden("Forbidden: SA or TA required")
	}
	p, _, err := resources.ReadTyped[*resources.Project](resources.AsSystem(ctx, ""), h.res, "Project", id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil, resources.NotFound("Tenant not found")
		}
		return nil, err
	}
	return p, nil
}

// writeJSON answers a JSON value (a string, null, or an object) exactly:
// "null" is the body.
func writeJSON(c echo.Context, v any) error {
	return dialect.JSON(c, http.StatusOK, echo.MIMEApplicationJSON, v)
}
