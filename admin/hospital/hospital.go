// Package hospital serves the hospital-membership API (/api/v2/…) over
// Roster's core: a hospital is a Project, a medic is a User whose profile in
// each hospital is a Practitioner, a membership is their ProjectMembership.
// `type_membership` ADMIN is the membership's `admin: true`; `is_deleted`
// is `active: false` (so a soft-deleted medic's tokens for that hospital
// stop at once); `is_active` — the medic's current hospital, at most one —
// is a FHIR extension on the membership. Ids are Roster's own: a
// membership's id, its Practitioner's id for the medic, the project's id for
// the hospital.
package hospital

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// CurrentURL is the ProjectMembership extension (valueBoolean) marking the
// medic's current hospital: the vendor's `is_active`.
const CurrentURL = "https://roster.dev/fhir/StructureDefinition/hospital-current"

// The vendor's membership types.
const (
	TypeAdmin  = "ADMIN"
	TypeMember = "MEMBER"
)

// The vendor's documented error messages.
const (
	MsgInvalidToken      = "Invalid Token"
	MsgUnauthorizedMedic = "Unauthorized Medic"
	MsgNotFound          = "Not found"
	MsgDuplicate         = "Membership already exists please edit instead of trying to create it again."
)

// Service is the hospital-membership dialect.
type Service struct {
	admin *admin.Service
	auth  *auth.Service
	res   *resources.Service
}

// Register mounts the hospital-membership routes on e.
func Register(e *echo.Echo, adm *admin.Service, authSvc *auth.Service, res *resources.Service) *Service {
	s := &Service{admin: adm, auth: authSvc, res: res}
	g := dialect.Mount(e, "/api/v2", Errors, s.authenticate)
	route := dialect.Slashed(g)
	route("GET", "/management/memberships", s.handleList)
	route("POST", "/management/memberships", s.handleCreate, adm.IdempotentWrites)
	route("GET", "/management/memberships/:id", s.handleGet)
	route("PATCH", "/management/memberships/:id", s.handlePatch)
	route("DELETE", "/management/memberships/:id", s.handleDelete)
	route("GET", "/memberships/:hospital", s.handleHospitalMedics)
	return s
}

// medic is the caller: the User behind a token whose profile is a
// Practitioner, with every membership of that User in every hospital.
type medic struct {
	caller *resources.Caller
	mems   []*resources.ProjectMembership
}

type medicKey struct{}

func medicFrom(ctx context.Context) *medic {
	m, _ := ctx.Value(medicKey{}).(*medic)
	return m
}

// authenticate accepts `Authorization: Token {access token}` (Bearer too):
// a missing or bad token is "Invalid Token", a token that is not a
// Practitioner's is "Unauthorized Medic".
func (s *Service) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	invalid := resources.Unauthorized(MsgInvalidToken)
	gate := &dialect.Gate{Auth: s.auth, Rules: auth.CredentialRules{Schemes: []string{"Token", "Bearer"}},
		Missing: invalid, Refused: invalid}
	return func(c echo.Context) error {
		caller, _, err := gate.Caller(c)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(caller.Profile, "Practitioner/") || caller.ClientID == caller.UserID {
			return resources.Unauthorized(MsgUnauthorizedMedic)
		}
		ctx := c.Request().Context()
		mems, err := s.userMemberships(ctx, caller.UserID)
		if err != nil {
			return err
		}
		ctx = resources.WithCaller(ctx, caller)
		ctx = context.WithValue(ctx, medicKey{}, &medic{caller: caller, mems: mems})
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// userMemberships lists a User's medic memberships (Practitioner profiles)
// in every hospital, deleted ones included.
func (s *Service) userMemberships(ctx context.Context, userID string) ([]*resources.ProjectMembership, error) {
	all, err := admin.Search[*resources.ProjectMembership](ctx, s.res, "", "ProjectMembership",
		url.Values{"user": {"User/" + userID}, "_sort": {"_id"}})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, m := range all {
		if strings.HasPrefix(m.Profile.Reference, "Practitioner/") {
			out = append(out, m)
		}
	}
	return out, nil
}

// in returns the medic's membership in hospital (nil if none).
func (m *medic) in(hospital string) *resources.ProjectMembership {
	for _, mem := range m.mems {
		if mem.Project.Reference == "Project/"+hospital {
			return mem
		}
	}
	return nil
}

// memberOf reports an undeleted membership in hospital.
func (m *medic) memberOf(hospital string) bool {
	mem := m.in(hospital)
	return mem != nil && !deleted(mem)
}

// adminOf returns the medic's undeleted ADMIN membership in hospital, or nil.
func (m *medic) adminOf(hospital string) *resources.ProjectMembership {
	mem := m.in(hospital)
	if mem == nil || deleted(mem) || mem.Admin == nil || !*mem.Admin {
		return nil
	}
	return mem
}

// created reports whether one of the medic's profiles invited mem.
func (m *medic) created(mem *resources.ProjectMembership) bool {
	if mem.InvitedBy == nil {
		return false
	}
	for _, own := range m.mems {
		if own.Profile.Reference == mem.InvitedBy.Reference {
			return true
		}
	}
	return false
}

// owns reports whether mem is the medic's own.
func (m *medic) owns(mem *resources.ProjectMembership) bool {
	return mem.User.Reference == "User/"+m.caller.UserID
}

// adminCaller acts as the medic's ADMIN membership of hospital, for the core
// invite which checks the caller administers the project.
func (m *medic) adminCaller(ctx context.Context, adm *resources.ProjectMembership) context.Context {
	return resources.WithCaller(ctx, &resources.Caller{Project: strings.TrimPrefix(adm.Project.Reference, "Project/"), Admin: true,
		UserID: m.caller.UserID, MembershipID: adm.ID, LoginID: m.caller.LoginID, Profile: adm.Profile.Reference})
}

func deleted(m *resources.ProjectMembership) bool { return m.Active != nil && !*m.Active }

func current(m *resources.ProjectMembership) bool {
	var b bool
	resources.ExtensionValue(m.Extension, CurrentURL, "valueBoolean", &b)
	return b
}

func typeOf(m *resources.ProjectMembership) string {
	if m.Admin != nil && *m.Admin {
		return TypeAdmin
	}
	return TypeMember
}

// decodeObject reads a JSON object body into fields.
func decodeObject(c echo.Context) (map[string]json.RawMessage, error) {
	return dialect.Object(c, nil, resources.Invalid("", "JSON parse error - the body must be a JSON object"))
}
