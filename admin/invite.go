package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Outcomes of an invite, as InviteResult.Outcome and the Roster-Invite-Outcome
// response header say them.
const (
	InviteCreated   = "created"   // a new membership was created
	InviteUpdated   = "updated"   // upsert changed the existing membership
	InviteUnchanged = "unchanged" // upsert found the membership already as asked
	// Outcomes of an invite that did not happen, as Meter counts them.
	InviteRefused = "refused" // the request was at fault (invalid, conflicting, forbidden)
	InviteFailed  = "failed"  // the server was (an untyped error, the database unavailable)
)

// Scopes of an invited User (InviteRequest.Scope).
const (
	ScopeProject = "project" // the User belongs to the project (User.project set)
	ScopeServer  = "server"  // the User may be a member of several projects
)

// InviteOutcomeHeader is the response header of the invite endpoint saying
// what happened (created, updated or unchanged): the body is the membership
// either way, as in Medplum.
const InviteOutcomeHeader = "Roster-Invite-Outcome"

// SetPasswordLinkTTL is how long the link in a welcome mail works.
const SetPasswordLinkTTL = 7 * 24 * time.Hour

// Mail kinds the invite queues.
const (
	MailKindWelcome = "welcome" // a new user: how to sign in for the first time
	MailKindInvite  = "invite"  // an existing user added to one more project
)

var profileTypes = []string{"Patient", "Practitioner", "RelatedPerson"}

// InviteRequest is Medplum's InviteRequest: the body of
// POST /admin/projects/{projectId}/invite, and what vendor dialects pass to
// Service.Invite.
type InviteRequest struct {
	// ResourceType is the profile's type: Patient, Practitioner or RelatedPerson.
	ResourceType string `json:"resourceType"`
	// FirstName and LastName name a profile created by the invite.
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	// Email identifies the User (trimmed and lower-cased); optional with ExternalID.
	Email string `json:"email,omitempty"`
	// ExternalID is the membership's id in an external identity provider; it
	// makes the User project-scoped.
	ExternalID string `json:"externalId,omitempty"`
	// Password is set on a User the invite creates; no set-password link is sent then.
	Password string `json:"password,omitempty"`
	// SendEmail false suppresses the invite mail.
	SendEmail *bool `json:"sendEmail,omitempty"`
	// NoInvitation keeps the invite from recording an invitation for the
	// membership it creates: a caller (a dialect) that invites later, with
	// InviteMembership, sets it. Not part of the API's body.
	NoInvitation bool `json:"-"`
	// Membership holds fields of the resulting ProjectMembership (admin,
	// profile, accessPolicy, access, externalId, active, …). Project, user
	// and invitedBy are the server's.
	Membership *resources.ProjectMembership `json:"membership,omitempty"`
	// Scope overrides the User's default scope (project for patients and
	// externalId invites, server otherwise); externalId invites are always
	// project-scoped.
	Scope string `json:"scope,omitempty"`
	// Upsert updates the user's existing membership of the same profile
	// instead of answering 409.
	Upsert bool `json:"upsert,omitempty"`
	// ForceNewMembership creates a membership even when the user has one.
	ForceNewMembership bool `json:"forceNewMembership,omitempty"`
	// Patient is the Patient a new RelatedPerson relates to.
	Patient *resources.Reference `json:"patient,omitempty"`
	// MFARequired makes a User the invite creates enroll a second factor
	// at its first sign-in (User.mfaRequired, as Medplum); an existing
	// user keeps its own setting.
	MFARequired bool `json:"mfaRequired,omitempty"`

	// AccessPolicy, Access and Admin are Medplum's older top-level forms of
	// the membership fields; Membership's win.
	AccessPolicy *resources.Reference                `json:"accessPolicy,omitempty"`
	Access       []resources.ProjectMembershipAccess `json:"access,omitempty"`
	Admin        *bool                               `json:"admin,omitempty"`
}

// InviteResult is everything an invite did, for callers (vendor dialects)
// that need more than the membership.
type InviteResult struct {
	Membership *resources.ProjectMembership
	User       *resources.User
	// Profile is the member's *resources.Patient, *resources.Practitioner or
	// *resources.RelatedPerson.
	Profile resources.Resource
	// Outcome is InviteCreated, InviteUpdated or InviteUnchanged.
	Outcome string
	// UserCreated and ProfileCreated say whether the invite created them.
	UserCreated    bool
	ProfileCreated bool
	// MailQueued says a mail went into the outbox (MailKindWelcome or MailKindInvite).
	MailQueued bool
	MailKind   string
	// InvitationID is the invitation recorded for a created membership
	// ("" when the invite created none).
	InvitationID string
}

// Invite runs Medplum's invite algorithm in projectID for the caller in ctx
// and returns the resulting membership. See InviteUser.
func (s *Service) Invite(ctx context.Context, projectID string, req InviteRequest) (*resources.ProjectMembership, error) {
	res, err := s.InviteUser(ctx, projectID, req)
	if err != nil {
		return nil, err
	}
	return res.Membership, nil
}

// InviteUser invites a user into projectID: it finds or creates the User
// (by email, in the right scope), finds or creates the profile, creates or
// upserts the ProjectMembership and queues the invite mail — all in one
// transaction, serialized with every other invite of the same email or
// externalId, so concurrent invites (in any process sharing the database)
// yield one User, one profile and one membership. The caller must
// administer the project. If ctx already carries a transaction the invite
// joins it, so a dialect can add its own writes atomically.
func (s *Service) InviteUser(ctx context.Context, projectID string, req InviteRequest) (*InviteResult, error) {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return s.invite(ctx, project, req)
}

// invite is InviteUser into a project whose admin rights were checked,
// counted by outcome.
func (s *Service) invite(ctx context.Context, project *resources.Project, req InviteRequest) (*InviteResult, error) {
	out, err := s.inviteOnce(ctx, project, req)
	if s.Meter != nil {
		switch {
		case err == nil:
			s.Meter.Invite(out.Outcome)
		case resources.IsKind(err, resources.KindUnavailable):
			s.Meter.Invite(InviteFailed)
		default:
			_, typed := resources.AsError(err)
			s.Meter.Invite(lo.Ternary(typed, InviteRefused, InviteFailed))
		}
	}
	return out, err
}

func (s *Service) inviteOnce(ctx context.Context, project *resources.Project, req InviteRequest) (*InviteResult, error) {
	req.normalize()
	if issues := req.validate(); len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	inviter := resources.CallerFrom(ctx)
	inv := &invitation{s: s, project: project, req: req, inviter: inviter}
	// Roster writes as itself, recording the inviter as the author.
	sys := AsAuthor(ctx, project.ID)
	var out *InviteResult
	// All or nothing, so its creates may be written together (a taken key
	// still fails the invite, whenever it surfaces).
	err := s.res.InTx(resources.DeferInserts(sys), func(ctx context.Context) error {
		var err error
		out, err = inv.run(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *InviteRequest) normalize() {
	r.ResourceType = strings.TrimSpace(r.ResourceType)
	r.FirstName = strings.TrimSpace(r.FirstName)
	r.LastName = strings.TrimSpace(r.LastName)
	r.Email = resources.EmailKey(r.Email)
	r.ExternalID = strings.TrimSpace(r.ExternalID)
	r.Scope = strings.TrimSpace(r.Scope)
}

// validate checks what needs no database, one issue per bad field.
func (r *InviteRequest) validate() []resources.Issue {
	var issues []resources.Issue
	add := func(code, expr, msg string) {
		issues = append(issues, resources.Issue{Code: code, Expression: expr, Message: msg})
	}
	switch {
	case r.ResourceType == "":
		add("required", "resourceType", "Resource type is required")
	case !contains(profileTypes, r.ResourceType):
		add("invalid", "resourceType", "Resource type must be Patient, Practitioner or RelatedPerson")
	}
	if r.FirstName == "" {
		add("required", "firstName", "First name is required")
	} else if resources.ControlChar(r.FirstName) {
		add("invalid", "firstName", "First name must not contain control characters")
	}
	if r.LastName == "" {
		add("required", "lastName", "Last name is required")
	} else if resources.ControlChar(r.LastName) {
		add("invalid", "lastName", "Last name must not contain control characters")
	}
	switch {
	case r.Email == "" && r.ExternalID == "":
		add("required", "email", "Either email or externalId is required")
	case r.Email != "":
		if _, err := resources.NormalizeEmail(r.Email); err != nil {
			add("invalid", "email", err.Error())
		}
	}
	if r.Password != "" {
		if err := auth.CheckPasswordRules("password", r.Password, r.Email, r.FirstName, r.LastName); err != nil {
			issues = append(issues, err.Issues...)
		}
	}
	if r.Scope != "" && r.Scope != ScopeProject && r.Scope != ScopeServer {
		add("invalid", "scope", "Scope must be project or server")
	}
	if r.Membership != nil && r.Membership.Profile.Reference != "" {
		if typ, id, ok := strings.Cut(r.Membership.Profile.Reference, "/"); !ok || id == "" || !contains(profileTypes, typ) {
			add("invalid", "membership.profile", "Profile must reference a Patient, Practitioner or RelatedPerson")
		}
	}
	if r.ResourceType == "RelatedPerson" && (r.Membership == nil || r.Membership.Profile.Reference == "") {
		switch {
		case r.Patient == nil || r.Patient.Reference == "":
			add("required", "patient", "Patient is required to create a RelatedPerson")
		case !isRef(r.Patient.Reference, "Patient"):
			add("invalid", "patient", "Patient must be a reference to a Patient resource")
		}
	}
	return issues
}

// template is the membership the request asks for: Medplum's top-level
// fields, overridden by membership's.
func (r *InviteRequest) template() resources.ProjectMembership {
	var m resources.ProjectMembership
	if r.Membership != nil {
		m = *r.Membership
	}
	if m.ExternalID == "" {
		m.ExternalID = r.ExternalID
	}
	if m.AccessPolicy == nil {
		m.AccessPolicy = r.AccessPolicy
	}
	if m.Access == nil {
		m.Access = r.Access
	}
	if m.Admin == nil {
		m.Admin = r.Admin
	}
	m.ResourceType, m.ID, m.Meta = "ProjectMembership", "", nil
	m.Project, m.User, m.InvitedBy = resources.Reference{}, resources.Reference{}, nil
	// Only forceNewMembership makes a membership additional (upsertMembership).
	if lo.ContainsBy(m.Extension, func(e resources.Extension) bool { return e.URL == resources.AdditionalMembershipURL }) {
		m.Extension = resources.SetExtension(m.Extension, resources.AdditionalMembershipURL, "", nil)
	}
	return m
}

// projectScoped applies Medplum's scoping: patients are project-scoped
// unless scope says server, externalId invites always are, and scope:
// project makes anyone so.
func (r *InviteRequest) projectScoped() bool {
	return (r.ResourceType == "Patient" && r.Scope != ScopeServer) || r.ExternalID != "" || r.Scope == ScopeProject
}

func (r *InviteRequest) sendEmail() bool {
	return r.Email != "" && (r.SendEmail == nil || *r.SendEmail)
}

// invitation is one invite's working state inside its transaction.
type invitation struct {
	s       *Service
	project *resources.Project
	req     InviteRequest
	inviter *resources.Caller

	tmpl       resources.ProjectMembership
	scopeRef   string // "" for server-scoped users, else "Project/{id}"
	profileRec *resources.Record
	// byExternalID is the membership an email-less invite found by its externalId.
	byExternalID *resources.ProjectMembership
	// linkID is the set-password link the invite mailed ("" for none).
	linkID string

	out InviteResult
}

func (inv *invitation) projectRef() string { return "Project/" + inv.project.ID }

// system is ctx acting as Roster within project ("" for every project),
// keeping the inviter as author and the transaction.
func (inv *invitation) system(ctx context.Context, project string) context.Context {
	c := *resources.CallerFrom(ctx)
	c.Project = project
	return resources.WithCaller(ctx, &c)
}

func (inv *invitation) run(ctx context.Context) (*InviteResult, error) {
	inv.tmpl = inv.req.template()
	if inv.req.projectScoped() {
		inv.scopeRef = inv.projectRef()
	}
	// Every read comes before the first create, so on PostgreSQL the held-
	// back creates go out together in one statement.
	steps := []func(context.Context) error{inv.lock, inv.checkReferences, inv.findUser, inv.findProfile,
		inv.createUser, inv.createProfile, inv.upsertMembership, inv.queueMail, inv.nameInvitation, inv.record, inv.newInvitation}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return &inv.out, nil
}

// lock serializes every invite deciding on the same user, profile or
// externalId: on PostgreSQL across processes too. Keys are taken in order
// so two invites never wait on each other crosswise.
func (inv *invitation) lock(ctx context.Context) error {
	var keys []string
	if e := inv.req.Email; e != "" {
		keys = append(keys, "invite|user|"+inv.scopeRef+"|"+e, "invite|profile|"+inv.project.ID+"|"+e)
	}
	if x := inv.tmpl.ExternalID; x != "" {
		keys = append(keys, "invite|externalId|"+inv.project.ID+"|"+x)
	}
	sort.Strings(keys)
	return inv.s.res.Store().Lock(ctx, keys...)
}

// checkReferences validates what the request points at — the patient, the
// profile, the access policies — before anything is written.
func (inv *invitation) checkReferences(ctx context.Context) error {
	var issues []resources.Issue
	bad := func(expr, format string, a ...any) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: expr, Message: fmt.Sprintf(format, a...)})
	}
	req := inv.req
	if p := inv.tmpl.Profile.Reference; p != "" {
		rec, ok := inv.s.readInProject(ctx, p, inv.project.ID)
		switch {
		case !ok:
			bad("membership.profile", "Profile does not belong to project")
		case rec.Type != req.ResourceType:
			bad("membership.profile", "Profile resourceType does not match request")
		default:
			inv.profileRec = rec
		}
	} else if req.ResourceType == "RelatedPerson" {
		if _, ok := inv.s.readInProject(ctx, req.Patient.Reference, inv.project.ID); !ok {
			bad("patient", "Patient %s does not exist in this project", req.Patient.Reference)
		}
	}
	issues = append(issues, inv.s.checkPolicies(ctx, inv.project.ID, policyRefs(req))...)
	if len(issues) > 0 {
		return resources.Invalids(issues)
	}
	return nil
}

// policyRefs lists the access policies a request names, with the element
// that names each.
func policyRefs(req InviteRequest) []namedRef {
	var out []namedRef
	if req.Membership != nil {
		if req.Membership.AccessPolicy != nil {
			out = append(out, namedRef{"membership.accessPolicy", req.Membership.AccessPolicy.Reference})
		}
		for i, a := range req.Membership.Access {
			out = append(out, namedRef{"membership.access[" + strconv.Itoa(i) + "].policy", a.Policy.Reference})
		}
	}
	if req.AccessPolicy != nil {
		out = append(out, namedRef{"accessPolicy", req.AccessPolicy.Reference})
	}
	for i, a := range req.Access {
		out = append(out, namedRef{"access[" + strconv.Itoa(i) + "].policy", a.Policy.Reference})
	}
	return out
}

type namedRef struct{ expr, ref string }

// checkPolicies reports each reference that is not an AccessPolicy of projectID.
func (s *Service) checkPolicies(ctx context.Context, projectID string, refs []namedRef) []resources.Issue {
	var issues []resources.Issue
	for _, r := range refs {
		if !isRef(r.ref, "AccessPolicy") {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: r.expr, Message: "Access policy must be a reference to an AccessPolicy"})
			continue
		}
		if _, ok := s.readInProject(ctx, r.ref, projectID); !ok {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: r.expr, Message: "Access policy " + r.ref + " does not exist in this project"})
		}
	}
	return issues
}

// readInProject reads "Type/id" as Roster; false unless it exists in projectID.
func (s *Service) readInProject(ctx context.Context, ref, projectID string) (*resources.Record, bool) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || id == "" {
		return nil, false
	}
	if _, known := resources.Lookup(typ); !known {
		return nil, false
	}
	rec, err := s.res.Read(resources.AsSystem(ctx, projectID), typ, id)
	if err != nil || rec.Project != projectID {
		return nil, false
	}
	return rec, true
}

// findUser finds the User by email in the invite's scope (or, with no
// email, through the membership holding the externalId).
func (inv *invitation) findUser(ctx context.Context) error {
	req := inv.req
	if req.Email != "" {
		users, err := Search[*resources.User](ctx, inv.s.res, "", "User", url.Values{"email": {tokenValue(req.Email)}})
		if err != nil {
			return err
		}
		var other []*resources.User
		for _, u := range users {
			switch userScope(u) {
			case inv.scopeRef:
				if inv.out.User == nil {
					inv.out.User = u
				}
			case "", inv.projectRef():
				other = append(other, u)
			}
		}
		// Medplum refuses a second account for the same person in the same
		// project at the other scope, unless asked to force it.
		if !req.ForceNewMembership {
			for _, u := range other {
				mems, err := inv.memberships(ctx, u.ID)
				if err != nil {
					return err
				}
				if len(mems) > 0 {
					return resources.Conflict("User is already a member of this project")
				}
			}
		}
	} else if x := inv.tmpl.ExternalID; x != "" {
		mems, err := Search[*resources.ProjectMembership](ctx, inv.s.res, inv.project.ID, "ProjectMembership", url.Values{"external-id": {tokenValue(x)}})
		if err != nil {
			return err
		}
		for _, m := range mems {
			if _, id, ok := strings.Cut(m.User.Reference, "/"); ok && isRef(m.User.Reference, "User") {
				u, _, err := resources.ReadTyped[*resources.User](inv.system(ctx, ""), inv.s.res, "User", id)
				if err != nil {
					return err
				}
				inv.out.User, inv.byExternalID = u, m
				break
			}
		}
	}
	return nil
}

// createUser creates the User findUser did not find.
func (inv *invitation) createUser(ctx context.Context) error {
	req := inv.req
	if inv.out.User != nil {
		return nil
	}
	u := &resources.User{FirstName: req.FirstName, LastName: req.LastName, Email: req.Email}
	if req.MFARequired {
		u.MfaRequired = ptr(true)
	}
	u.ResourceType = "User"
	recProject := ""
	if inv.scopeRef != "" {
		u.Project = &resources.Reference{Reference: inv.scopeRef, Display: inv.project.Name}
		recProject = inv.project.ID
	}
	// A server-scoped User belongs to no project: no project admin may edit
	// an account that other projects share.
	rec, err := inv.s.res.CreateIn(inv.system(ctx, recProject), u, recProject)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(rec.Content, u); err != nil {
		return err
	}
	inv.out.User, inv.out.UserCreated = u, true
	if req.Password != "" {
		return inv.s.auth.SetPassword(ctx, u.ID, req.Password, "")
	}
	return nil
}

func userScope(u *resources.User) string {
	if u.Project == nil {
		return ""
	}
	return u.Project.Reference
}

func (inv *invitation) memberships(ctx context.Context, userID string) ([]*resources.ProjectMembership, error) {
	return Search[*resources.ProjectMembership](ctx, inv.s.res, inv.project.ID, "ProjectMembership",
		url.Values{"user": {"User/" + userID}})
}

// findProfile uses membership.profile, else the project's profile of that
// type with the same email (two are 412), else the profile of the
// externalId's membership.
func (inv *invitation) findProfile(ctx context.Context) error {
	req := inv.req
	if inv.profileRec != nil {
		r, err := resources.Unmarshal(inv.profileRec)
		inv.out.Profile = r
		return err
	}
	if req.Email != "" {
		t, _ := resources.Lookup(req.ResourceType)
		q, err := resources.ParseQuery(t, url.Values{"email": {tokenValue(req.Email)}})
		if err != nil {
			return err
		}
		q.Count = 2
		recs, _, err := inv.s.res.Search(inv.system(ctx, inv.project.ID), q)
		if err != nil {
			return err
		}
		if len(recs) > 1 {
			return resources.Precondition("multiple-matches", "Multiple %s resources in this project have the email %s", req.ResourceType, req.Email)
		}
		if len(recs) == 1 {
			r, err := resources.Unmarshal(recs[0])
			inv.out.Profile = r
			return err
		}
	} else if m := inv.byExternalID; m != nil && isRef(m.Profile.Reference, req.ResourceType) {
		typ, id, _ := strings.Cut(m.Profile.Reference, "/")
		if rec, err := inv.s.res.Read(inv.system(ctx, inv.project.ID), typ, id); err == nil {
			r, err := resources.Unmarshal(rec)
			inv.out.Profile = r
			return err
		}
	}
	return nil
}

// createProfile creates the profile findProfile did not find.
func (inv *invitation) createProfile(ctx context.Context) error {
	req := inv.req
	if inv.out.Profile != nil {
		return nil
	}
	name := []resources.HumanName{{Given: []string{req.FirstName}, Family: req.LastName}}
	var telecom []resources.ContactPoint
	if req.Email != "" {
		telecom = []resources.ContactPoint{{System: "email", Use: "work", Value: req.Email}}
	}
	var p resources.Resource
	switch req.ResourceType {
	case "Patient":
		p = &resources.Patient{Name: name, Telecom: telecom}
	case "Practitioner":
		p = &resources.Practitioner{Name: name, Telecom: telecom}
	default:
		p = &resources.RelatedPerson{Name: name, Telecom: telecom, Patient: resources.Reference{Reference: req.Patient.Reference}}
	}
	p.Base().ResourceType = req.ResourceType
	rec, err := inv.s.res.CreateIn(inv.system(ctx, inv.project.ID), p, inv.project.ID)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(rec.Content, p); err != nil {
		return err
	}
	inv.out.Profile, inv.out.ProfileCreated = p, true
	return nil
}

// upsertMembership creates the membership, or with upsert updates the one
// of the same profile in place.
func (inv *invitation) upsertMembership(ctx context.Context) error {
	req, user := inv.req, inv.out.User
	profileRef := reference(inv.out.Profile)
	userRef := resources.Reference{Reference: "User/" + user.ID, Display: userDisplay(user)}
	pctx := inv.system(ctx, inv.project.ID)

	m := inv.tmpl
	if req.ResourceType == "Patient" && m.AccessPolicy == nil && len(m.Access) == 0 && inv.project.DefaultPatientAccessPolicy != nil {
		m.AccessPolicy = inv.project.DefaultPatientAccessPolicy
	}
	// A User this invite created has no membership yet.
	var existing []*resources.ProjectMembership
	if !inv.out.UserCreated {
		var err error
		if existing, err = inv.memberships(ctx, user.ID); err != nil {
			return err
		}
	}
	switch {
	case req.ForceNewMembership:
		// Medplum creates another membership regardless. One of the same
		// user and profile as an existing one is marked additional, which
		// exempts it from the one-per-user-and-profile key that every
		// ordinary membership keeps.
		if lo.ContainsBy(existing, func(cur *resources.ProjectMembership) bool { return cur.Profile.Reference == profileRef.Reference }) {
			m.Extension = resources.SetExtension(m.Extension, resources.AdditionalMembershipURL, "valueBoolean", true)
		}
	case len(existing) > 0:
		if !req.Upsert {
			return resources.Conflict("User is already a member of this project")
		}
		for _, cur := range existing {
			if cur.Profile.Reference == profileRef.Reference {
				return inv.update(pctx, cur, m, userRef, profileRef)
			}
		}
		return resources.Conflict("User is already a member of this project with a different profile")
	}
	m.User, m.Profile, m.InvitedBy = userRef, profileRef, inv.inviter.ProfileRef()
	rec, err := inv.s.res.CreateIn(pctx, &m, inv.project.ID)
	if err != nil {
		return err
	}
	return inv.setMembership(rec, InviteCreated)
}

// update merges the requested fields into cur; nothing is written when
// they change nothing, so a repeated upsert is a no-op.
func (inv *invitation) update(ctx context.Context, cur *resources.ProjectMembership, want resources.ProjectMembership, userRef, profileRef resources.Reference) error {
	next := *cur
	next.Meta = nil
	next.User, next.Profile = userRef, profileRef
	if want.Identifier != nil {
		next.Identifier = want.Identifier
	}
	if want.Active != nil {
		next.Active = want.Active
	}
	if want.UserName != "" {
		next.UserName = want.UserName
	}
	if want.ExternalID != "" {
		next.ExternalID = want.ExternalID
	}
	if want.AccessPolicy != nil {
		next.AccessPolicy = want.AccessPolicy
	}
	if want.Access != nil {
		next.Access = want.Access
	}
	if want.UserConfiguration != nil {
		next.UserConfiguration = want.UserConfiguration
	}
	if want.Admin != nil {
		next.Admin = want.Admin
	}
	if want.Extension != nil {
		next.Extension = want.Extension
		// Whether a membership is additional is the invite's to say, once.
		if cur.Additional() {
			next.Extension = resources.SetExtension(next.Extension, resources.AdditionalMembershipURL, "valueBoolean", true)
		}
	}
	before := *cur
	before.Meta = nil
	a, _ := json.Marshal(&before)
	b, _ := json.Marshal(&next)
	if bytes.Equal(a, b) {
		inv.out.Membership = cur
		inv.out.Outcome = InviteUnchanged
		return nil
	}
	rec, err := inv.s.res.Update(ctx, &next, cur.ID, cur.Meta.VersionID)
	if err != nil {
		return err
	}
	return inv.setMembership(rec, InviteUpdated)
}

func (inv *invitation) setMembership(rec *resources.Record, outcome string) error {
	var m resources.ProjectMembership
	if err := json.Unmarshal(rec.Content, &m); err != nil {
		return err
	}
	inv.out.Membership, inv.out.Outcome = &m, outcome
	return nil
}

// queueMail puts the invite mail into the outbox, in the invite's
// transaction. Only a new membership is announced: a repeated upsert sends
// nothing.
func (inv *invitation) queueMail(ctx context.Context) error {
	req := inv.req
	if !req.sendEmail() || inv.out.Outcome != InviteCreated || inv.s.Mail == nil {
		return nil
	}
	name := inv.project.Name
	msg := mail.Message{ProjectID: inv.project.ID, To: req.Email}
	signIn := inv.s.AppURL + "signin"
	switch {
	case inv.out.UserCreated && req.Password == "":
		id, secret, err := inv.s.auth.CreateLink(ctx, auth.LinkSetPassword, inv.out.User.ID, inv.project.ID, SetPasswordLinkTTL, "")
		if err != nil {
			return err
		}
		inv.linkID = id
		link := inv.s.AppURL + "setpassword/" + id + "/" + secret
		msg.Kind, msg.Subject = MailKindWelcome, "Welcome to "+name
		msg.Text, msg.HTML = mailBody(
			"You were invited to "+name+".",
			"Please follow this link to choose your password and create your account (it works once, for 7 days):",
			link)
	case inv.out.UserCreated:
		msg.Kind, msg.Subject = MailKindWelcome, "Welcome to "+name
		msg.Text, msg.HTML = mailBody(
			"You were invited to "+name+".",
			"Your account is ready; sign in here with the password you were given:",
			signIn)
	default:
		msg.Kind, msg.Subject = MailKindInvite, "You were added to "+name
		msg.Text, msg.HTML = mailBody(
			"You were added to "+name+".",
			"The next time you sign in, you will see "+name+" as an option. You can sign in here:",
			signIn)
	}
	if err := inv.s.Mail.Enqueue(ctx, msg); err != nil {
		return err
	}
	inv.out.MailQueued, inv.out.MailKind = true, msg.Kind
	return nil
}

// mailBody renders the plain-text and HTML bodies of an invite mail.
func mailBody(lead, ask, link string) (text, htmlBody string) {
	text = strings.Join([]string{lead, "", ask, "", link, "", "Thank you,", "Roster", ""}, "\n")
	e := html.EscapeString
	htmlBody = "<!DOCTYPE html><html><body><p>" + e(lead) + "</p><p>" + e(ask) + "</p><p><a href=\"" + e(link) + "\">" +
		e(link) + "</a></p><p>Thank you,<br>Roster</p></body></html>"
	return text, htmlBody
}

// reference is a profile's Reference with its display name.
func reference(r resources.Resource) resources.Reference {
	b := r.Base()
	ref := resources.Reference{Reference: b.ResourceType + "/" + b.ID}
	var names []resources.HumanName
	switch p := r.(type) {
	case *resources.Patient:
		names = p.Name
	case *resources.Practitioner:
		names = p.Name
	case *resources.RelatedPerson:
		names = p.Name
	}
	if len(names) > 0 {
		n := names[0]
		ref.Display = n.Text
		if ref.Display == "" {
			ref.Display = strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " "))
		}
	}
	return ref
}

func userDisplay(u *resources.User) string {
	if u.Email != "" {
		return u.Email
	}
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// tokenValue searches a token parameter for exactly v with no system, so a
// "|" inside v (legal in emails and external ids) is not read as one.
func tokenValue(v string) string { return "|" + v }

func isRef(ref, typ string) bool {
	id, ok := strings.CutPrefix(ref, typ+"/")
	return ok && id != "" && !strings.Contains(id, "/")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeInvite reads an invite body: each known element is decoded on its
// own so a mistyped one is reported by name; unknown elements are ignored,
// as Medplum does.
func decodeInvite(body []byte) (InviteRequest, error) {
	var req InviteRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return req, resources.Invalid("", "Request body must be a JSON object")
	}
	var issues []resources.Issue
	field := func(key string, dst any, want string) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: key, Message: key + " must be " + want})
		}
	}
	field("resourceType", &req.ResourceType, "a string")
	field("firstName", &req.FirstName, "a string")
	field("lastName", &req.LastName, "a string")
	field("email", &req.Email, "a string")
	field("externalId", &req.ExternalID, "a string")
	field("password", &req.Password, "a string")
	field("sendEmail", &req.SendEmail, "a boolean")
	field("scope", &req.Scope, "a string")
	field("upsert", &req.Upsert, "a boolean")
	field("forceNewMembership", &req.ForceNewMembership, "a boolean")
	field("mfaRequired", &req.MFARequired, "a boolean")
	field("patient", &req.Patient, "a Reference")
	field("accessPolicy", &req.AccessPolicy, "a Reference")
	field("access", &req.Access, "an array of access entries")
	field("admin", &req.Admin, "a boolean")
	if v, ok := raw["membership"]; ok && string(v) != "null" {
		m := &resources.ProjectMembership{}
		if err := resources.Decode(v, m); err != nil {
			expr, msg := "membership", "membership must be a ProjectMembership"
			if de, ok := err.(*resources.DecodeError); ok {
				if de.Element != "" {
					expr += "." + de.Element
				}
				msg = "membership: " + de.Error()
			}
			issues = append(issues, resources.Issue{Code: "invalid", Expression: expr, Message: msg})
		} else if m.ResourceType != "" && m.ResourceType != "ProjectMembership" {
			issues = append(issues, resources.Issue{Code: "invalid", Expression: "membership.resourceType", Message: "membership must be a ProjectMembership"})
		} else {
			req.Membership = m
		}
	}
	if len(issues) > 0 {
		return req, resources.Invalids(issues)
	}
	return req, nil
}

func (s *Service) handleInvite(c echo.Context) error {
	body, err := rest.ReadBody(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	projectID := c.Param("projectId")
	// Who may invite is decided before the body is looked at.
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return err
	}
	req, err := decodeInvite(body)
	if err != nil {
		return err
	}
	res, err := s.invite(ctx, project, req)
	if err != nil {
		return err
	}
	out, err := json.Marshal(res.Membership)
	if err != nil {
		return err
	}
	c.Response().Header().Set(InviteOutcomeHeader, res.Outcome)
	return c.Blob(http.StatusOK, rest.FHIRJSON, out)
}
