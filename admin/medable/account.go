package medable

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/resources"
)

// RoleAdministrator is the id of Medable's built-in Administrator role,
// which an org admin (a project admin) holds.
const RoleAdministrator = "000000000000000000000004"

// Account is Medable's Account object: a view over a User and its profile
// in the org.
type Account struct {
	ID                 string   `json:"_id"`
	Object             string   `json:"object"`
	Email              string   `json:"email"`
	Name               Name     `json:"name"`
	Mobile             string   `json:"mobile,omitempty"`
	Dob                string   `json:"dob,omitempty"`
	Age                *int     `json:"age,omitempty"`
	Gender             string   `json:"gender,omitempty"`
	Tz                 string   `json:"tz,omitempty"`
	Roles              []string `json:"roles"`
	InheritedRoles     []string `json:"inherited_roles"`
	State              string   `json:"state"`
	Locked             bool     `json:"locked"`
	ActivationRequired bool     `json:"activationRequired"`
	Favorite           bool     `json:"favorite"`
	Shared             bool     `json:"shared"`
	Created            string   `json:"created"`
	Updated            string   `json:"updated"`
}

// Name is an account holder's name.
type Name struct {
	First string `json:"first"`
	Last  string `json:"last"`
}

// account is what an Account is made of.
type account struct {
	user       *resources.User
	membership *resources.ProjectMembership
	profile    resources.Resource
}

// person points at the elements of a profile an account reads and writes.
type person struct {
	name      *[]resources.HumanName
	telecom   *[]resources.ContactPoint
	gender    *string
	birthDate *string
	ext       *[]resources.Extension
}

func personOf(r resources.Resource) (person, bool) {
	switch p := r.(type) {
	case *resources.Patient:
		return person{&p.Name, &p.Telecom, &p.Gender, &p.BirthDate, &p.Extension}, true
	case *resources.Practitioner:
		return person{&p.Name, &p.Telecom, &p.Gender, &p.BirthDate, &p.Extension}, true
	case *resources.RelatedPerson:
		return person{&p.Name, &p.Telecom, &p.Gender, &p.BirthDate, &p.Extension}, true
	}
	return person{}, false
}

// mobile is the profile's mobile phone: its first phone of use "mobile".
func (p person) mobile() string {
	for _, cp := range *p.telecom {
		if cp.System == "phone" && cp.Use == "mobile" {
			return cp.Value
		}
	}
	return ""
}

func (p person) setMobile(v string) {
	out := (*p.telecom)[:0:0]
	done := false
	for _, cp := range *p.telecom {
		if cp.System == "phone" && cp.Use == "mobile" && !done {
			done = true
			if v == "" {
				continue
			}
			cp.Value = v
		}
		out = append(out, cp)
	}
	if !done && v != "" {
		out = append(out, resources.ContactPoint{System: "phone", Use: "mobile", Value: v})
	}
	*p.telecom = out
}

func (p person) setName(first, last string) {
	n := resources.HumanName{Family: last}
	if first != "" {
		n.Given = []string{first}
	}
	if len(*p.name) == 0 {
		*p.name = []resources.HumanName{n}
		return
	}
	cur := &(*p.name)[0]
	cur.Given, cur.Family, cur.Text = n.Given, n.Family, ""
}

// Medable's genders and FHIR's administrative genders.
var (
	toFHIRGender   = map[string]string{"m": "male", "f": "female"}
	fromFHIRGender = map[string]string{"male": "m", "female": "f", "other": "o", "unknown": "u"}
)

// view renders the Account as of now.
func (h *Handler) view(ctx context.Context, a *account) (Account, error) {
	u := a.user
	out := Account{ID: u.ID, Object: "account", Email: u.Email, Name: Name{First: u.FirstName, Last: u.LastName},
		Roles: []string{}, InheritedRoles: []string{}, State: "unverified"}
	if u.EmailVerified != nil && *u.EmailVerified {
		out.State = "verified"
	}
	if a.membership.Admin != nil && *a.membership.Admin {
		out.Roles = append(out.Roles, RoleAdministrator)
	}
	updated := lastUpdated(u)
	if p, ok := personOf(a.profile); ok {
		out.Mobile = p.mobile()
		out.Gender = fromFHIRGender[*p.gender]
		if d := *p.birthDate; d != "" {
			out.Dob = d
			if born, err := time.Parse(time.DateOnly, d); err == nil {
				age := ageAt(born, h.now())
				out.Age = &age
			}
		}
		resources.ExtensionValue(*p.ext, ExtTZ, "valueString", &out.Tz)
		if t := lastUpdated(a.profile); t.After(updated) {
			updated = t
		}
	}
	out.Updated = stamp(updated)
	out.Created = out.Updated
	if rec, err := h.res.VRead(resources.AsSystem(ctx, ""), "User", u.ID, "1"); err == nil {
		out.Created = stamp(rec.LastUpdated)
	}
	return out, nil
}

func lastUpdated(r resources.Resource) time.Time {
	if m := r.Base().Meta; m != nil {
		t, _ := time.Parse(time.RFC3339Nano, m.LastUpdated)
		return t
	}
	return time.Time{}
}

// stamp formats a date as Medable does (ISO 8601, milliseconds, UTC).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ageAt is the age in whole years on day now of someone born on born.
func ageAt(born, now time.Time) int {
	age := now.Year() - born.Year()
	if now.Month() < born.Month() || (now.Month() == born.Month() && now.Day() < born.Day()) {
		age--
	}
	return age
}

// load reads the account of userID in org: its User, its active membership
// and its profile. Anything missing is Medable's account-not-found.
func (h *Handler) load(ctx context.Context, org *resources.Project, userID string) (*account, error) {
	sys := resources.AsSystem(ctx, "")
	u, _, err := resources.ReadTyped[*resources.User](sys, h.res, "User", userID)
	if err != nil {
		return nil, notFoundOr(err)
	}
	m, err := h.activeMembership(ctx, org, u.ID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fault(ErrAccountNotFound, "", "")
	}
	return h.withProfile(ctx, u, m)
}

// activeMembership is userID's active membership in org, nil when none. It
// searches by user alone and checks "active" here: active=true matches
// nearly every membership of the org, and a plan driven by that filter
// reads them all (auth.Service.Memberships).
func (h *Handler) activeMembership(ctx context.Context, org *resources.Project, userID string) (*resources.ProjectMembership, error) {
	mems, err := admin.Search[*resources.ProjectMembership](ctx, h.res, org.ID, "ProjectMembership",
		url.Values{"user": {"User/" + userID}})
	if err != nil {
		return nil, err
	}
	m, _ := lo.Find(mems, func(m *resources.ProjectMembership) bool { return m.IsActive() })
	return m, nil
}

// withProfile completes an account with its membership's profile.
func (h *Handler) withProfile(ctx context.Context, u *resources.User, m *resources.ProjectMembership) (*account, error) {
	typ, id, _ := strings.Cut(m.Profile.Reference, "/")
	rec, err := h.res.Read(resources.AsSystem(ctx, ""), typ, id)
	if err != nil {
		return nil, notFoundOr(err)
	}
	p, err := resources.Unmarshal(rec)
	if err != nil {
		return nil, err
	}
	return &account{user: u, membership: m, profile: p}, nil
}

// notFoundOr turns a missing resource into account-not-found.
func notFoundOr(err error) error {
	if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
		return fault(ErrAccountNotFound, "", "")
	}
	return err
}

// accountByEmail finds the org's account signing in with email (nil when
// none): a User scoped to the org, or a server-wide User with an active
// membership in it.
func (h *Handler) accountByEmail(ctx context.Context, org *resources.Project, email string) (*resources.User, error) {
	users, err := admin.Search[*resources.User](ctx, h.res, "", "User", url.Values{"email": {resources.EmailKey(email)}})
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Project != nil {
			if u.Project.Reference == "Project/"+org.ID {
				return u, nil
			}
			continue
		}
		m, err := h.activeMembership(ctx, org, u.ID)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return u, nil
		}
	}
	return nil, nil
}

// props are the writable account properties of a request, already checked.
type props struct {
	first, last             *string
	mobile, dob, gender, tz *string // "" clears
}

var (
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	maxString = 100
)

// checkName validates a name part.
func checkName(v *validation, path string, s *string, required bool) {
	switch {
	case s == nil && required, s != nil && strings.TrimSpace(*s) == "":
		v.add(ErrRequired, path, "Required property")
	case s != nil && len([]rune(strings.TrimSpace(*s))) > maxString:
		v.add(ErrInvalidString, path, "Enter text between 1 and 100 characters in length")
	}
}

// checkProps validates the optional properties every write shares; p's
// values are normalized in place.
func checkProps(v *validation, p *props, now time.Time) {
	trim := func(s *string) {
		if s != nil {
			*s = strings.TrimSpace(*s)
		}
	}
	trim(p.first)
	trim(p.last)
	trim(p.mobile)
	trim(p.dob)
	trim(p.gender)
	trim(p.tz)
	if p.mobile != nil && *p.mobile != "" && !e164.MatchString(*p.mobile) {
		v.add(ErrPhoneNumber, "account.mobile", "The mobile number must be in E.164 format, e.g. +15555550100")
	}
	if p.dob != nil && *p.dob != "" {
		born, err := time.Parse(time.DateOnly, *p.dob)
		if err != nil || born.After(now) || born.Year() < 1850 {
			v.add(ErrDateOfBirth, "account.dob", "The date of birth must be a past date in the form YYYY-MM-DD")
		}
	}
	if p.gender != nil && *p.gender != "" {
		if _, ok := toFHIRGender[*p.gender]; !ok {
			v.add(ErrEnumValue, "account.gender", "One of: m, f")
		}
	}
	if p.tz != nil && *p.tz != "" {
		if _, err := time.LoadLocation(*p.tz); err != nil || *p.tz == "Local" {
			v.add(ErrTimeZone, "account.tz", "The time zone must be an IANA time zone identifier, e.g. US/Pacific")
		}
	}
}

// applyProfile writes the props into a profile.
func applyProfile(r resources.Resource, p props, first, last string) {
	pe, ok := personOf(r)
	if !ok {
		return
	}
	if p.first != nil || p.last != nil {
		pe.setName(first, last)
	}
	if p.mobile != nil {
		pe.setMobile(*p.mobile)
	}
	if p.dob != nil {
		*pe.birthDate = *p.dob
	}
	if p.gender != nil {
		*pe.gender = toFHIRGender[*p.gender]
	}
	if p.tz != nil {
		var val any
		if *p.tz != "" {
			val = *p.tz
		}
		*pe.ext = resources.SetExtension(*pe.ext, ExtTZ, "valueString", val)
	}
}

// save writes an account's props and, with verified set, its email state;
// User and profile are written only when they change.
func (h *Handler) save(ctx context.Context, a *account, p props, verified *bool) error {
	u := *a.user
	u.Meta = nil
	if p.first != nil {
		u.FirstName = *p.first
	}
	if p.last != nil {
		u.LastName = *p.last
	}
	if verified != nil {
		u.EmailVerified = verified
	}
	if changed(a.user, &u) {
		rec, err := h.res.Update(admin.AsAuthor(ctx, ""), &u, u.ID, a.user.Meta.VersionID)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(rec.Content, a.user); err != nil {
			return err
		}
	}
	prof, err := clone(a.profile)
	if err != nil {
		return err
	}
	applyProfile(prof, p, a.user.FirstName, a.user.LastName)
	if !changed(a.profile, prof) {
		return nil
	}
	b := prof.Base()
	version, project := b.Meta.VersionID, b.Meta.Project
	b.Meta = nil
	rec, err := h.res.Update(admin.AsAuthor(ctx, project), prof, b.ID, version)
	if err != nil {
		return err
	}
	next, err := resources.Unmarshal(rec)
	if err != nil {
		return err
	}
	a.profile = next
	return nil
}

// changed compares two resources ignoring meta.
func changed(a, b resources.Resource) bool {
	ma, mb := a.Base().Meta, b.Base().Meta
	a.Base().Meta, b.Base().Meta = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	a.Base().Meta, b.Base().Meta = ma, mb
	return !bytes.Equal(ja, jb)
}

// clone deep-copies a resource.
func clone(r resources.Resource) (resources.Resource, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	t, _ := resources.Lookup(r.Base().ResourceType)
	out := t.New()
	return out, json.Unmarshal(b, out)
}
