package hospital

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
)

// MembershipJSON is a membership as the vendor answers it.
type MembershipJSON struct {
	ID             string    `json:"id"`
	Medic          MedicJSON `json:"medic"`
	Hospital       string    `json:"hospital"`
	TypeMembership string    `json:"type_membership"`
	IsActive       bool      `json:"is_active"`
	IsDeleted      bool      `json:"is_deleted"`
	DateJoined     string    `json:"date_joined"`
}

// MedicJSON is the medic of a membership: its Practitioner in that hospital.
type MedicJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// CreatedJSON is the answer to a create: the membership with the medic as an id.
type CreatedJSON struct {
	ID             string `json:"id"`
	Medic          string `json:"medic"`
	Hospital       string `json:"hospital"`
	TypeMembership string `json:"type_membership"`
	IsActive       bool   `json:"is_active"`
	IsDeleted      bool   `json:"is_deleted"`
	DateJoined     string `json:"date_joined"`
}

// Page is the paginated list of the caller's memberships (Django REST
// framework's).
type Page = dialect.Page[MembershipJSON]

// DefaultPageSize is the page size of GET /management/memberships/ (?page_size= changes it, up to MaxPageSize).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// view renders a membership with its medic.
func (s *Service) view(ctx context.Context, m *resources.ProjectMembership) (MembershipJSON, error) {
	hospital := strings.TrimPrefix(m.Project.Reference, "Project/")
	out := MembershipJSON{ID: m.ID, Hospital: hospital, TypeMembership: typeOf(m), IsActive: current(m), IsDeleted: deleted(m)}
	sys := admin.AsAuthor(ctx, hospital)
	if rec, err := s.res.VRead(sys, "ProjectMembership", m.ID, "1"); err == nil {
		out.DateJoined = rec.LastUpdated.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	id := strings.TrimPrefix(m.Profile.Reference, "Practitioner/")
	out.Medic.ID = id
	p, _, err := resources.ReadTyped[*resources.Practitioner](sys, s.res, "Practitioner", id)
	switch {
	case err == nil:
		out.Medic.Name = displayName(p.Name)
		for _, cp := range p.Telecom {
			if cp.System == "email" {
				out.Medic.Email = cp.Value
				break
			}
		}
	case isGone(err):
		out.Medic.Name = m.Profile.Display
	default:
		return out, err
	}
	if uid, ok := strings.CutPrefix(m.User.Reference, "User/"); ok && out.Medic.Email == "" {
		if u, _, err := resources.ReadTyped[*resources.User](admin.AsAuthor(ctx, ""), s.res, "User", uid); err == nil {
			out.Medic.Email = u.Email
		}
	}
	return out, nil
}

func isGone(err error) bool {
	return resources.IsKind(err, resources.KindGone, resources.KindNotFound)
}

func displayName(names []resources.HumanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	if n.Text != "" {
		return n.Text
	}
	return strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " "))
}

func (s *Service) handleList(c echo.Context) error {
	ctx := c.Request().Context()
	me := medicFrom(ctx)
	at, err := dialect.ReadPageNumber(c, len(me.mems), DefaultPageSize, MaxPageSize)
	if err != nil {
		return err
	}
	results := []MembershipJSON{}
	for _, m := range dialect.Window(me.mems, at.Offset(), at.Size) {
		v, err := s.view(ctx, m)
		if err != nil {
			return err
		}
		results = append(results, v)
	}
	return c.JSON(http.StatusOK, dialect.PageNumberPage(c, results, len(me.mems), at))
}

// membership reads a medic membership by id (404 when none).
func (s *Service) membership(ctx context.Context, id string) (*resources.ProjectMembership, error) {
	m, _, err := resources.ReadTyped[*resources.ProjectMembership](admin.AsAuthor(ctx, ""), s.res, "ProjectMembership", id)
	if err != nil {
		if isGone(err) {
			return nil, resources.NotFound(MsgNotFound)
		}
		return nil, err
	}
	if !strings.HasPrefix(m.User.Reference, "User/") || !strings.HasPrefix(m.Profile.Reference, "Practitioner/") {
		return nil, resources.NotFound(MsgNotFound)
	}
	return m, nil
}

func (s *Service) handleGet(c echo.Context) error {
	ctx := c.Request().Context()
	me := medicFrom(ctx)
	m, err := s.membership(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if !me.owns(m) && !me.created(m) {
		return resources.NotFound(MsgNotFound)
	}
	v, err := s.view(ctx, m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Service) handleHospitalMedics(c echo.Context) error {
	ctx := c.Request().Context()
	me := medicFrom(ctx)
	hospital := c.Param("hospital")
	if !me.memberOf(hospital) {
		return resources.Unauthorized(MsgUnauthorizedMedic)
	}
	all, err := admin.Search[*resources.ProjectMembership](ctx, s.res, hospital, "ProjectMembership", url.Values{"_sort": {"_id"}})
	if err != nil {
		return err
	}
	out := []MembershipJSON{}
	for _, m := range all {
		if !strings.HasPrefix(m.User.Reference, "User/") || !strings.HasPrefix(m.Profile.Reference, "Practitioner/") {
			continue
		}
		v, err := s.view(ctx, m)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, out)
}

// CreateRequest is the body of POST /management/memberships/. Medic and
// hospital are Roster ids (the medic's Practitioner, the hospital's
// project); numbers are accepted as their decimal text.
type CreateRequest struct {
	Medic          string
	Hospital       string
	TypeMembership string
	IsActive       bool
	IsDeleted      bool
}

// idField reads a string or number id.
func idField(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), strings.TrimSpace(s) != ""
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&n) == nil {
		return n.String(), true
	}
	return "", false
}

func boolField(raw map[string]json.RawMessage, key string) (*bool, error) {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return nil, resources.Invalid(key, "%s must be a boolean", key)
	}
	return &b, nil
}

func typeField(raw map[string]json.RawMessage) (string, bool, error) {
	v, ok := raw["type_membership"]
	if !ok || string(v) == "null" {
		return "", false, nil
	}
	var t string
	if json.Unmarshal(v, &t) != nil {
		return "", true, resources.Invalid("type_membership", "type_membership must be ADMIN or MEMBER")
	}
	t = strings.ToUpper(strings.TrimSpace(t))
	if t != TypeAdmin && t != TypeMember {
		return "", true, resources.Invalid("type_membership", "type_membership must be ADMIN or MEMBER")
	}
	return t, true, nil
}

func (s *Service) handleCreate(c echo.Context) error {
	ctx := c.Request().Context()
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var req CreateRequest
	var ok bool
	if req.Medic, ok = idField(raw["medic"]); !ok {
		return resources.Invalid("medic", "medic is required")
	}
	if req.Hospital, ok = idField(raw["hospital"]); !ok {
		return resources.Invalid("hospital", "hospital is required")
	}
	t, given, err := typeField(raw)
	if err != nil {
		return err
	}
	if !given {
		return resources.Invalid("type_membership", "type_membership is required")
	}
	req.TypeMembership = t
	for key, dst := range map[string]*bool{"is_active": &req.IsActive, "is_deleted": &req.IsDeleted} {
		b, err := boolField(raw, key)
		if err != nil {
			return err
		}
		if b != nil {
			*dst = *b
		}
	}
	out, err := s.Create(ctx, medicFrom(ctx), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// Create adds a medic to a hospital through the core invite. Only an ADMIN
// of the hospital may; the medic must be one the caller can see (a
// Practitioner of a hospital the caller belongs to). Checking for an
// existing membership and creating one happen under a lock on the pair, so
// of two admins adding the same medic at once one wins and one gets 409.
func (s *Service) Create(ctx context.Context, me *medic, req CreateRequest) (*CreatedJSON, error) {
	adm := me.adminOf(req.Hospital)
	if adm == nil {
		return nil, resources.Unauthorized(MsgUnauthorizedMedic)
	}
	user, prac, err := s.resolveMedic(ctx, me, req.Medic)
	if err != nil {
		return nil, err
	}
	if user.Project != nil {
		return nil, resources.Invalid("medic", "This medic's account belongs to one hospital only and cannot join another")
	}
	if user.Email == "" {
		return nil, resources.Invalid("medic", "This medic has no email address")
	}
	first, last := "", ""
	if len(prac.Name) > 0 {
		first, last = strings.Join(prac.Name[0].Given, " "), prac.Name[0].Family
	}
	first, last = orDefault(first, orDefault(user.FirstName, user.Email)), orDefault(last, orDefault(user.LastName, user.Email))
	var out *CreatedJSON
	actx := me.adminCaller(ctx, adm)
	err = s.res.InTx(actx, func(ctx context.Context) error {
		if err := s.res.Store().Lock(ctx, "hospital|membership|"+req.Hospital+"|"+user.ID); err != nil {
			return err
		}
		existing, err := admin.Search[*resources.ProjectMembership](ctx, s.res, req.Hospital, "ProjectMembership", url.Values{"user": {"User/" + user.ID}})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return resources.Conflict(MsgDuplicate)
		}
		m := &resources.ProjectMembership{Admin: lo.ToPtr(req.TypeMembership == TypeAdmin), Active: lo.ToPtr(!req.IsDeleted)}
		m.ResourceType = "ProjectMembership"
		m.Extension = []resources.Extension{resources.NewExtension(CurrentURL, "valueBoolean", req.IsActive)}
		res, err := s.admin.InviteUser(ctx, req.Hospital, admin.InviteRequest{ResourceType: "Practitioner",
			FirstName: first, LastName: last, Email: user.Email, Membership: m})
		if err != nil {
			if resources.IsKind(err, resources.KindConflict) {
				return resources.Conflict(MsgDuplicate)
			}
			return err
		}
		if req.IsActive {
			if err := s.clearCurrent(ctx, user.ID, res.Membership.ID); err != nil {
				return err
			}
		}
		v, err := s.view(ctx, res.Membership)
		if err != nil {
			return err
		}
		out = &CreatedJSON{ID: v.ID, Medic: v.Medic.ID, Hospital: v.Hospital, TypeMembership: v.TypeMembership,
			IsActive: v.IsActive, IsDeleted: v.IsDeleted, DateJoined: v.DateJoined}
		return nil
	})
	return out, err
}

func orDefault(v, d string) string {
	if strings.TrimSpace(v) == "" {
		return d
	}
	return v
}

// resolveMedic finds the User behind a medic id — a Practitioner that is a
// member's profile in a hospital the caller belongs to. Anything else is
// reported as a medic that does not exist.
func (s *Service) resolveMedic(ctx context.Context, me *medic, id string) (*resources.User, *resources.Practitioner, error) {
	missing := resources.Invalid("medic", "Invalid pk \"%s\" - object does not exist.", id)
	mems, err := admin.Search[*resources.ProjectMembership](ctx, s.res, "", "ProjectMembership", url.Values{"profile": {"Practitioner/" + id}})
	if err != nil {
		return nil, nil, err
	}
	for _, m := range mems {
		hospital := strings.TrimPrefix(m.Project.Reference, "Project/")
		uid, ok := strings.CutPrefix(m.User.Reference, "User/")
		if !ok || (!me.memberOf(hospital) && !me.owns(m)) {
			continue
		}
		u, _, err := resources.ReadTyped[*resources.User](admin.AsAuthor(ctx, ""), s.res, "User", uid)
		if err != nil {
			return nil, nil, err
		}
		p, _, err := resources.ReadTyped[*resources.Practitioner](admin.AsAuthor(ctx, hospital), s.res, "Practitioner", id)
		if err != nil {
			return nil, nil, err
		}
		return u, p, nil
	}
	return nil, nil, missing
}

// clearCurrent unmarks every other membership of the user as current, so a
// medic has at most one current hospital.
func (s *Service) clearCurrent(ctx context.Context, userID, keep string) error {
	if err := s.res.Store().Lock(ctx, "hospital|current|"+userID); err != nil {
		return err
	}
	mems, err := s.userMemberships(ctx, userID)
	if err != nil {
		return err
	}
	for _, m := range mems {
		if m.ID == keep || !current(m) {
			continue
		}
		next := *m
		next.Meta = nil
		next.Extension = resources.SetExtension(next.Extension, CurrentURL, "valueBoolean", false)
		if _, err := s.res.Update(admin.AsAuthor(ctx, strings.TrimPrefix(m.Project.Reference, "Project/")), &next, m.ID, m.Meta.VersionID); err != nil {
			return err
		}
	}
	return nil
}

// editable reads a membership the caller may change: an ADMIN of its
// hospital may change anything, its own medic only is_active (ownOnly).
// Others in the hospital get "Unauthorized Medic"; outsiders 404.
func (s *Service) editable(ctx context.Context, me *medic, id string) (m *resources.ProjectMembership, ownOnly bool, err error) {
	m, err = s.membership(ctx, id)
	if err != nil {
		return nil, false, err
	}
	hospital := strings.TrimPrefix(m.Project.Reference, "Project/")
	switch {
	case me.adminOf(hospital) != nil:
		return m, false, nil
	case me.owns(m):
		return m, true, nil
	case me.memberOf(hospital), me.created(m):
		return nil, false, resources.Unauthorized(MsgUnauthorizedMedic)
	}
	return nil, false, resources.NotFound(MsgNotFound)
}

func (s *Service) handleDelete(c echo.Context) error {
	ctx := c.Request().Context()
	me := medicFrom(ctx)
	m, ownOnly, err := s.editable(ctx, me, c.Param("id"))
	if err != nil {
		return err
	}
	if ownOnly {
		return resources.Unauthorized(MsgUnauthorizedMedic)
	}
	v, err := s.change(ctx, m, func(next *resources.ProjectMembership) { next.Active = lo.ToPtr(false) }, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (s *Service) handlePatch(c echo.Context) error {
	ctx := c.Request().Context()
	me := medicFrom(ctx)
	m, ownOnly, err := s.editable(ctx, me, c.Param("id"))
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	t, hasType, err := typeField(raw)
	if err != nil {
		return err
	}
	del, err := boolField(raw, "is_deleted")
	if err != nil {
		return err
	}
	act, err := boolField(raw, "is_active")
	if err != nil {
		return err
	}
	if ownOnly && (hasType || del != nil) {
		return resources.Unauthorized(MsgUnauthorizedMedic)
	}
	v, err := s.change(ctx, m, func(next *resources.ProjectMembership) {
		if hasType {
			next.Admin = lo.ToPtr(t == TypeAdmin)
		}
		if del != nil {
			next.Active = lo.ToPtr(!*del)
		}
		if act != nil {
			next.Extension = resources.SetExtension(next.Extension, CurrentURL, "valueBoolean", *act)
		}
	}, act != nil && *act)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// change applies edit to m in one transaction (clearing the medic's other
// current hospital when makeCurrent) and renders the result.
func (s *Service) change(ctx context.Context, m *resources.ProjectMembership, edit func(*resources.ProjectMembership), makeCurrent bool) (MembershipJSON, error) {
	var out MembershipJSON
	hospital := strings.TrimPrefix(m.Project.Reference, "Project/")
	err := s.res.InTx(ctx, func(ctx context.Context) error {
		if makeCurrent {
			if err := s.clearCurrent(ctx, strings.TrimPrefix(m.User.Reference, "User/"), m.ID); err != nil {
				return err
			}
		}
		next := *m
		next.Meta = nil
		edit(&next)
		rec, err := s.res.Update(admin.AsAuthor(ctx, hospital), &next, m.ID, m.Meta.VersionID)
		if err != nil {
			return err
		}
		var saved resources.ProjectMembership
		if err := json.Unmarshal(rec.Content, &saved); err != nil {
			return err
		}
		out, err = s.view(ctx, &saved)
		return err
	})
	return out, err
}
