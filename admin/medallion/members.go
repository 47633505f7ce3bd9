package medallion

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
)

// Validation messages, as Django REST framework words them.
const (
	msgRequired     = "This field is required."
	msgInvalidEmail = "Enter a valid email address."
	msgBool         = "Must be a valid boolean."
	msgDuplicate    = "A member with this email already exists in this organization."
	msgEmailTaken   = "A user with this email already exists."
)

// CreateMemberRequest is the body of POST /members/. Provider is an object
// or a one-element list of one (Medallion's own sample sends the latter).
type CreateMemberRequest struct {
	Role string `json:"role"`
	User struct {
		Email     string `json:"email"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	} `json:"user"`
	Provider  json.RawMessage `json:"provider"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
}

type providerRequest struct {
	Profession *string `json:"profession"`
}

// decodeBody reads a JSON object body; a malformed one is DRF's parse error.
func decodeBody(c echo.Context, v any) error {
	body, err := dialect.Body(c, resources.Invalid("", "JSON parse error - request body is empty or not a JSON object."))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resources.Invalid("", "JSON parse error - %s", jsonReason(err))
	}
	return nil
}

func jsonReason(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return te.Field + " has the wrong type"
	}
	return "the body is not valid JSON"
}

// parseProvider accepts {profession} or [{profession}]; present reports
// whether a provider was sent at all.
func parseProvider(raw json.RawMessage) (prof string, present bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	var one providerRequest
	if raw[0] == '[' {
		var list []providerRequest
		if json.Unmarshal(raw, &list) != nil || len(list) != 1 {
			return "", true, fieldError("provider", "Expected a provider object (or a list holding exactly one).")
		}
		one = list[0]
	} else if json.Unmarshal(raw, &one) != nil {
		return "", true, fieldError("provider", "Invalid data. Expected a dictionary, but got "+jsonKind(raw)+".")
	}
	if one.Profession != nil {
		prof = strings.TrimSpace(*one.Profession)
	}
	return prof, true, nil
}

func jsonKind(raw []byte) string {
	switch raw[0] {
	case '"':
		return "str"
	case 't', 'f':
		return "bool"
	case '[':
		return "list"
	}
	return "int"
}

func isProviderRole(role string) bool { return role == RoleProvider || role == RoleSuperProvider }

func choiceError(field, v string) error {
	return fieldError(field, `"`+v+`" is not a valid choice.`)
}

func (s *Service) handleCreateMember(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	if err := p.requireManage(); err != nil {
		return err
	}
	var req CreateMemberRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	out, err := s.CreateMember(ctx, p.org(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// CreateMember adds a member to the organization through the core invite
// (no mail: Medallion invites separately), then records what Medallion
// knows: the role on the membership, the profession on the Practitioner.
// A member whose email is already in the organization is refused with
// nothing written. The caller in ctx must administer the organization.
func (s *Service) CreateMember(ctx context.Context, org string, req CreateMemberRequest) (*MemberJSON, error) {
	var issues []resources.Issue
	role := strings.TrimSpace(req.Role)
	switch {
	case role == "":
		issues = append(issues, resources.Issue{Code: "required", Expression: "role", Message: msgRequired})
	case !slices.Contains(Roles, role):
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "role", Message: `"` + role + `" is not a valid choice.`})
	}
	email := resources.EmailKey(req.User.Email)
	switch {
	case email == "":
		issues = append(issues, resources.Issue{Code: "required", Expression: "user.email", Message: msgRequired})
	case resources.EmailProblem(email) != nil:
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "user.email", Message: invalidEmail(email)})
	}
	prof, hasProvider, err := parseProvider(req.Provider)
	if err != nil {
		e, _ := resources.AsError(err)
		issues = append(issues, e.Issues...)
	} else if hasProvider && role != "" && !isProviderRole(role) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "provider",
			Message: "Only provider and super_provider members have a provider profile."})
	}
	if len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	first := strings.TrimSpace(firstNonEmpty(req.User.FirstName, req.FirstName))
	last := strings.TrimSpace(firstNonEmpty(req.User.LastName, req.LastName))
	// The core profile needs a name; Medallion's members may have none, so
	// the invite gets the email's local part and the real (possibly empty)
	// names are written back below.
	local, _, _ := strings.Cut(email, "@")

	var out *MemberJSON
	err = s.res.InTx(ctx, func(ctx context.Context) error {
		policy, err := s.ensurePolicy(ctx, org, role)
		if err != nil {
			return err
		}
		m := &resources.ProjectMembership{Admin: lo.ToPtr(!restricted(role)), Active: lo.ToPtr(true), AccessPolicy: policy}
		m.ResourceType = "ProjectMembership"
		m.Extension = []resources.Extension{resources.NewExtension(RoleURL, "valueCode", role)}
		res, err := s.admin.InviteUser(ctx, org, admin.InviteRequest{
			ResourceType: "Practitioner", FirstName: firstNonEmpty(first, local), LastName: firstNonEmpty(last, local),
			Email: email, SendEmail: lo.ToPtr(false), NoInvitation: true, Membership: m,
		})
		if err != nil {
			if resources.IsKind(err, resources.KindConflict) {
				return fieldError("user.email", msgDuplicate)
			}
			return err
		}
		sys := admin.AsAuthor(ctx, org)
		if res.UserCreated && (res.User.FirstName != first || res.User.LastName != last) {
			u := *res.User
			u.FirstName, u.LastName, u.Meta = first, last, nil
			if _, err := s.res.Update(admin.AsAuthor(ctx, ""), &u, u.ID, ""); err != nil {
				return err
			}
		}
		if pr, ok := res.Profile.(*resources.Practitioner); ok && (res.ProfileCreated || isProviderRole(role)) {
			next := *pr
			next.Meta = nil
			if res.ProfileCreated {
				next.Name = []resources.HumanName{personName(first, last, email)}
			}
			if isProviderRole(role) && prof != "" {
				setProfession(&next, prof)
			}
			if _, err := s.res.Update(sys, &next, next.ID, ""); err != nil {
				return err
			}
		}
		out, err = s.memberView(ctx, res.Membership)
		return err
	})
	return out, err
}

func personName(first, last, email string) resources.HumanName {
	n := resources.HumanName{Family: last}
	if first != "" {
		n.Given = []string{first}
	}
	if first == "" && last == "" {
		n.Text = email
	}
	return n
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// member reads a membership of the principal's organization that the
// principal may see; anything else is 404.
func (s *Service) member(ctx context.Context, p *principal, id string) (*resources.ProjectMembership, error) {
	m, _, err := resources.ReadTyped[*resources.ProjectMembership](admin.AsAuthor(ctx, p.org()), s.res, "ProjectMembership", id)
	if err != nil || m.Project.Reference != "Project/"+p.org() || !strings.HasPrefix(m.User.Reference, "User/") || !p.sees(m.ID) {
		if err != nil {
			if !resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
				return nil, err
			}
		}
		return nil, resources.NotFound(msgNotFound)
	}
	return m, nil
}

// memberToManage reads the member in the path for a manager's write and
// decodes the body into req: a member the principal cannot see is 404
// before a principal who only reads is 403.
func (s *Service) memberToManage(ctx context.Context, c echo.Context, p *principal, req any) (*resources.ProjectMembership, error) {
	m, err := s.member(ctx, p, c.Param("id"))
	if err != nil {
		return nil, err
	}
	if err := p.requireManage(); err != nil {
		return nil, err
	}
	if err := decodeBody(c, req); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Service) handleGetMember(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := s.member(ctx, principalFrom(ctx), c.Param("id"))
	if err != nil {
		return err
	}
	out, err := s.memberView(ctx, m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// memberships lists the organization's user members (not its clients),
// oldest id first.
func (s *Service) memberships(ctx context.Context, org string, params url.Values) ([]*resources.ProjectMembership, error) {
	all, err := dialect.SearchAll[*resources.ProjectMembership](ctx, s.res, org, "ProjectMembership", params)
	if err != nil {
		return nil, err
	}
	return lo.Filter(all, func(m *resources.ProjectMembership, _ int) bool {
		return strings.HasPrefix(m.User.Reference, "User/")
	}), nil
}

func (s *Service) handleListMembers(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	org := p.org()
	var all []*resources.ProjectMembership
	if email := resources.EmailKey(c.QueryParam("user__email")); email != "" {
		users, err := admin.Search[*resources.User](ctx, s.res, "", "User", url.Values{"email": {email}})
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Project != nil && u.Project.Reference != "Project/"+org {
				continue
			}
			ms, err := s.memberships(ctx, org, url.Values{"user": {"User/" + u.ID}})
			if err != nil {
				return err
			}
			all = append(all, ms...)
		}
	} else {
		var err error
		if all, err = s.memberships(ctx, org, nil); err != nil {
			return err
		}
	}
	visible := all[:0]
	for _, m := range all {
		if p.sees(m.ID) {
			visible = append(visible, m)
		}
	}
	at := dialect.ReadLimitOffset(c, DefaultLimit, MaxLimit)
	var results []*MemberJSON
	for _, m := range dialect.Window(visible, at.Offset, at.Limit) {
		v, err := s.memberView(ctx, m)
		if err != nil {
			return err
		}
		results = append(results, v)
	}
	return c.JSON(http.StatusOK, dialect.LimitOffsetPage(c, results, len(visible), at))
}

// PatchMemberRequest is the body of PATCH /members/{id}/.
type PatchMemberRequest struct {
	IsActive json.RawMessage `json:"is_active"`
	Role     *string         `json:"role"`
}

func (s *Service) handlePatchMember(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	var req PatchMemberRequest
	m, err := s.memberToManage(ctx, c, p, &req)
	if err != nil {
		return err
	}
	var active *bool
	if len(req.IsActive) > 0 && string(req.IsActive) != "null" {
		var b bool
		if json.Unmarshal(req.IsActive, &b) != nil {
			return fieldError("is_active", msgBool)
		}
		active = &b
	}
	if req.Role != nil && !slices.Contains(Roles, *req.Role) {
		return choiceError("role", *req.Role)
	}
	var out *MemberJSON
	err = s.res.InTx(ctx, func(ctx context.Context) error {
		next := *m
		next.Meta = nil
		if active != nil {
			next.Active = active
		}
		if req.Role != nil && *req.Role != roleOf(m) {
			policy, err := s.ensurePolicy(ctx, p.org(), *req.Role)
			if err != nil {
				return err
			}
			next.Extension = resources.SetExtension(next.Extension, RoleURL, "valueCode", *req.Role)
			next.Admin, next.AccessPolicy = lo.ToPtr(!restricted(*req.Role)), policy
		}
		rec, err := s.res.Update(admin.AsAuthor(ctx, p.org()), &next, m.ID, m.Meta.VersionID)
		if err != nil {
			return err
		}
		var saved resources.ProjectMembership
		if err := json.Unmarshal(rec.Content, &saved); err != nil {
			return err
		}
		out, err = s.memberView(ctx, &saved)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// ChangeEmailRequest is the body of POST /members/{id}/change-email/.
type ChangeEmailRequest struct {
	NewEmail string `json:"new_email"`
}

func (s *Service) handleChangeEmail(c echo.Context) error {
	ctx := c.Request().Context()
	p := principalFrom(ctx)
	var req ChangeEmailRequest
	m, err := s.memberToManage(ctx, c, p, &req)
	if err != nil {
		return err
	}
	out, err := s.ChangeEmail(ctx, m, req.NewEmail)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// ChangeEmail changes a member's login email through the core
// (admin.Service.UpdateEmail: the User, its profiles, the links mailed to
// the old address, both addresses told, in one transaction) and answers the
// member. Only the vendor's words are Medallion's: the field is new_email,
// a taken address and a bad one are DRF field errors, and an account that
// other organizations share (which the organization's admins do not all
// administer) is refused with 403.
func (s *Service) ChangeEmail(ctx context.Context, m *resources.ProjectMembership, newEmail string) (*MemberJSON, error) {
	org := strings.TrimPrefix(m.Project.Reference, "Project/")
	userID := strings.TrimPrefix(m.User.Reference, "User/")
	var out *MemberJSON
	if strings.TrimSpace(newEmail) != "" && resources.EmailProblem(newEmail) != nil {
		return nil, fieldError("new_email", invalidEmail(newEmail))
	}
	err := s.res.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.admin.UpdateEmail(ctx, userID, newEmail); err != nil {
			return changeEmailError(err)
		}
		cur, _, err := resources.ReadTyped[*resources.ProjectMembership](admin.AsAuthor(ctx, org), s.res, "ProjectMembership", m.ID)
		if err != nil {
			return err
		}
		out, err = s.memberView(ctx, cur)
		return err
	})
	return out, err
}

// invalidEmail is DRF's message for an address the core refuses, with the
// core's reason when the address is well-formed but still refused (too
// long, or one that could pass for another).
func invalidEmail(email string) string {
	if e := resources.EmailProblem(email); e != nil && !e.Malformed {
		return strings.TrimSuffix(msgInvalidEmail, ".") + ": it " + e.Reason + "."
	}
	return msgInvalidEmail
}

// changeEmailError words the core's refusals of an email change as
// Medallion does.
func changeEmailError(err error) error {
	e, ok := resources.AsError(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case resources.KindInvalid:
		for _, is := range e.Issues {
			if is.Expression == "email" && is.Code == "required" {
				return fieldError("new_email", msgRequired)
			}
			if is.Expression == "email" {
				return fieldError("new_email", msgInvalidEmail)
			}
		}
	case resources.KindConflict:
		return fieldError("new_email", msgEmailTaken)
	case resources.KindForbidden:
		return resources.Forbidden("This user is a member of other organizations; only they can change their login email.")
	}
	return err
}

// orgName is the organization's (project's) name, or its id.
func (s *Service) orgName(ctx context.Context, org string) string {
	p, _, err := resources.ReadTyped[*resources.Project](admin.AsAuthor(ctx, ""), s.res, "Project", org)
	if err != nil || p.Name == "" {
		return org
	}
	return p.Name
}
