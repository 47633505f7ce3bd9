// Package audit writes Roster's audit trail: every security-relevant act —
// sign-ins and their failures, sign-outs, token refreshes, invites,
// membership and email changes, deleted accounts, password sets and resets,
// one-time link use and refusal, client secrets, signing-key rotation,
// second factors enrolled, removed and reset —
// becomes a FHIR R4 AuditEvent, written as Roster itself in the transaction
// of the act, so an act that rolls back leaves no trace and one that
// commits always leaves one.
//
// Record writes one event; Install hooks the resource pipeline so that every
// write of a ProjectMembership (through FHIR, the admin API, an invite or a
// vendor dialect) and every change of a User's email is recorded without the
// writer having to remember; Middleware gives events the client's address.
package audit

import (
	"context"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// Code systems of the codings Roster writes.
const (
	// DICOM holds the event types (110114 User Authentication, 110113
	// Security Alert) and the DICOM subtypes (110122 Login, 110123 Logout,
	// 110136 Security Roles Changed, 110137 User Security Attributes
	// Changed, 110129 Security Configuration).
	DICOM = "http://dicom.nema.org/resources/ontology/DCM"
	// SubtypeSystem names each of Roster's acts (login, invite, …).
	SubtypeSystem = "https://roster.dev/fhir/CodeSystem/audit-event-subtype"

	entityTypeSystem = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	objectRoleSystem = "http://terminology.hl7.org/CodeSystem/object-role"
	agentTypeSystem  = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	sourceTypeSystem = "http://terminology.hl7.org/CodeSystem/security-source-type"
)

// Event types (AuditEvent.type).
var (
	TypeUserAuthentication = resources.Coding{System: DICOM, Code: "110114", Display: "User Authentication"}
	TypeSecurityAlert      = resources.Coding{System: DICOM, Code: "110113", Display: "Security Alert"}
)

// Outcomes (AuditEvent.outcome).
const (
	Success      = "0"
	MinorFailure = "4"  // the act was refused (wrong password, bad link, …)
	SeriousFail  = "8"  // the act failed
	MajorFailure = "12" // the act failed badly
)

// Actions (AuditEvent.action).
const (
	ActionCreate  = "C"
	ActionRead    = "R"
	ActionUpdate  = "U"
	ActionDelete  = "D"
	ActionExecute = "E"
)

// Act is one kind of security-relevant act: its type, Roster subtype code
// (searchable as subtype=SubtypeSystem|Code), DICOM subtype and action.
type Act struct {
	Code    string
	Display string
	Type    resources.Coding
	Action  string
	dicom   *resources.Coding
}

func dcm(code, display string) *resources.Coding {
	return &resources.Coding{System: DICOM, Code: code, Display: display}
}

// The acts Roster records.
var (
	Login          = Act{"login", "Sign-in", TypeUserAuthentication, ActionExecute, dcm("110122", "Login")}
	Logout         = Act{"logout", "Sign-out", TypeUserAuthentication, ActionExecute, dcm("110123", "Logout")}
	TokenRefresh   = Act{"token-refresh", "Token refresh", TypeUserAuthentication, ActionExecute, nil}
	LinkUse        = Act{"link-use", "One-time link used", TypeUserAuthentication, ActionExecute, nil}
	LinkRefusal    = Act{"link-refusal", "One-time link refused", TypeUserAuthentication, ActionExecute, nil}
	Invite         = Act{"invite", "Invite", TypeSecurityAlert, ActionCreate, dcm("110136", "Security Roles Changed")}
	InviteResend   = Act{"invite-resend", "Invitation mailed again", TypeSecurityAlert, ActionUpdate, nil}
	InviteLink     = Act{"invite-link", "Invitation link handed to an admin", TypeSecurityAlert, ActionUpdate, nil}
	InviteRevoke   = Act{"invite-revoke", "Invitation revoked", TypeSecurityAlert, ActionUpdate, dcm("110136", "Security Roles Changed")}
	MemberCreate   = Act{"membership-create", "Membership created", TypeSecurityAlert, ActionCreate, dcm("110136", "Security Roles Changed")}
	MemberUpdate   = Act{"membership-update", "Membership changed", TypeSecurityAlert, ActionUpdate, dcm("110136", "Security Roles Changed")}
	MemberDelete   = Act{"membership-delete", "Membership deleted", TypeSecurityAlert, ActionDelete, dcm("110136", "Security Roles Changed")}
	EmailChange    = Act{"email-change", "Login email changed", TypeSecurityAlert, ActionUpdate, dcm("110137", "User Security Attributes Changed")}
	UserDelete     = Act{"user-delete", "Account deleted", TypeSecurityAlert, ActionDelete, dcm("110137", "User Security Attributes Changed")}
	PasswordSet    = Act{"password-set", "Password set", TypeSecurityAlert, ActionUpdate, dcm("110137", "User Security Attributes Changed")}
	PasswordReset  = Act{"password-reset", "Password reset with a link", TypeSecurityAlert, ActionUpdate, dcm("110137", "User Security Attributes Changed")}
	PasswordChange = Act{"password-change", "Password changed by its user", TypeSecurityAlert, ActionUpdate,
		dcm("110137", "User Security Attributes Changed")}
	ResetRequest = Act{"password-reset-request", "Password reset link requested", TypeSecurityAlert, ActionExecute, nil}
	ClientSecret = Act{"client-secret", "Client secret created", TypeSecurityAlert, ActionCreate, dcm("110137", "User Security Attributes Changed")}
	KeyRotation  = Act{"key-rotate", "Signing key rotated", TypeSecurityAlert, ActionCreate, dcm("110129", "Security Configuration")}
	MFAEnroll    = Act{"mfa-enroll", "Second factor enrolled", TypeSecurityAlert, ActionCreate, dcm("110137", "User Security Attributes Changed")}
	MFADisable   = Act{"mfa-disable", "Second factor removed by its user", TypeSecurityAlert, ActionDelete,
		dcm("110137", "User Security Attributes Changed")}
	MFAReset = Act{"mfa-reset", "Second factor reset by a project admin", TypeSecurityAlert, ActionDelete,
		dcm("110137", "User Security Attributes Changed")}
)

// Subtype is the coding a search for act uses: subtype=SubtypeSystem|code.
func (a Act) Subtype() resources.Coding {
	return resources.Coding{System: SubtypeSystem, Code: a.Code, Display: a.Display}
}

// Agent is who acted. Who is their face in the project — the membership's
// profile (Practitioner/…, Patient/…) or a ClientApplication — and User
// their account ("User/…", kept as agent.altId).
type Agent struct {
	Who  *resources.Reference
	User string
	// Name says who acted when there is no account (the email a failed
	// sign-in tried).
	Name string
}

// Entity is something the act concerns.
type Entity struct {
	What        resources.Reference
	Name        string
	Description string
	// Detail holds named values (what changed, an outcome, a link id).
	Detail []resources.AuditEventDetail
}

// Detail is one named value of an Entity.
func Detail(name, value string) resources.AuditEventDetail {
	return resources.AuditEventDetail{Type: name, ValueString: value}
}

// Ref is the Entity of "Type/id".
func Ref(ref string) Entity { return Entity{What: resources.Reference{Reference: ref}} }

// Event is one act to record.
type Event struct {
	Act Act
	// Project is where the event is filed, so that project's admins see it;
	// "" files it in the super admin's Default project.
	Project string
	// Outcome is Success unless set; Reason says why a failure failed.
	Outcome string
	Reason  string
	// Agent is who acted; nil means the caller in the context (Roster itself
	// when there is none or it is a system caller without a profile).
	Agent    *Agent
	Entities []Entity
}

// Record writes e as an AuditEvent, joining the context's transaction: the
// event commits or rolls back with the act it records. Call it from inside
// the act's InTx; a refusal that returns an error must be recorded in a
// transaction of its own (or none), else the rollback takes the record too.
func Record(ctx context.Context, res *resources.Service, e Event) error {
	project := e.Project
	if project == "" {
		var err error
		if project, err = HomeProject(ctx, res); err != nil || project == "" {
			return err // no Default project (yet): nowhere to file it
		}
	}
	ev := build(ctx, e)
	ev.Recorded = res.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	_, err := res.CreateIn(resources.AsSystem(ctx, project), ev, project)
	return err
}

// RecordEach writes e once in each of projects (once in the Default project
// when there are none): an act about a User who belongs to several projects
// is seen by the admins of each.
func RecordEach(ctx context.Context, res *resources.Service, projects []string, e Event) error {
	if len(projects) == 0 {
		projects = []string{""}
	}
	for _, p := range projects {
		e.Project = p
		if err := Record(ctx, res, e); err != nil {
			return err
		}
	}
	return nil
}

func build(ctx context.Context, e Event) *resources.AuditEvent {
	ev := &resources.AuditEvent{Type: e.Act.Type, Action: e.Act.Action, Outcome: e.Outcome, OutcomeDesc: e.Reason}
	ev.ResourceType = "AuditEvent"
	if ev.Outcome == "" {
		ev.Outcome = Success
	}
	ev.Subtype = []resources.Coding{e.Act.Subtype()}
	if e.Act.dicom != nil {
		ev.Subtype = append(ev.Subtype, *e.Act.dicom)
	}
	ev.Agent = []resources.AuditEventAgent{agent(ctx, e.Agent)}
	ev.Source = resources.AuditEventSource{Site: "Roster", Observer: resources.Reference{Display: "Roster"},
		Type: []resources.Coding{{System: sourceTypeSystem, Code: "4", Display: "Application Server"}}}
	for _, en := range e.Entities {
		what := en.What
		ae := resources.AuditEventEntity{Name: en.Name, Description: en.Description, Detail: en.Detail}
		if what.Reference != "" || what.Display != "" {
			ae.What = &what
		}
		ae.Type, ae.Role = entityKind(what.Reference)
		ev.Entity = append(ev.Entity, ae)
	}
	return ev
}

// agent describes who acted: a, else the context's caller, else Roster.
func agent(ctx context.Context, a *Agent) resources.AuditEventAgent {
	out := resources.AuditEventAgent{Requestor: ptr(true)}
	if a == nil {
		a = &Agent{}
		if c := resources.CallerFrom(ctx); c != nil && (c.Profile != "" || c.UserID != "") {
			a.Who = c.ProfileRef()
			if c.UserID != "" {
				a.User = "User/" + c.UserID
				if (c.ClientID != "" && c.ClientID == c.UserID) || c.Profile == "ClientApplication/"+c.UserID {
					a.User = "ClientApplication/" + c.UserID
				}
			}
		}
	}
	out.Who, out.AltID, out.Name = a.Who, a.User, a.Name
	switch {
	case a.Who == nil && a.User == "" && a.Name == "":
		// Roster acting on its own (bootstrap, a rotation from the command line).
		out.Who, out.Requestor = &resources.Reference{Display: "Roster"}, ptr(false)
		out.Type = &resources.CodeableConcept{Coding: []resources.Coding{{System: DICOM, Code: "110150", Display: "Application"}}}
	case strings.HasPrefix(a.User, "ClientApplication/"):
		out.Type = &resources.CodeableConcept{Coding: []resources.Coding{{System: DICOM, Code: "110150", Display: "Application"}}}
	default:
		out.Type = &resources.CodeableConcept{Coding: []resources.Coding{{System: agentTypeSystem, Code: "humanuser", Display: "human user"}}}
	}
	if addr := Address(ctx); addr != "" && out.Requestor != nil && *out.Requestor {
		out.Network = &resources.AuditEventNetwork{Address: addr, Type: "2"}
	}
	return out
}

// entityKind types an entity by what it references.
func entityKind(ref string) (*resources.Coding, *resources.Coding) {
	typ, _, _ := strings.Cut(ref, "/")
	person := &resources.Coding{System: entityTypeSystem, Code: "1", Display: "Person"}
	object := &resources.Coding{System: entityTypeSystem, Code: "2", Display: "System Object"}
	switch typ {
	case "User":
		return person, &resources.Coding{System: objectRoleSystem, Code: "11", Display: "Security User Entity"}
	case "Patient":
		return person, &resources.Coding{System: objectRoleSystem, Code: "1", Display: "Patient"}
	case "Practitioner":
		return person, &resources.Coding{System: objectRoleSystem, Code: "15", Display: "Practitioner"}
	case "RelatedPerson":
		return person, &resources.Coding{System: objectRoleSystem, Code: "4", Display: "Domain Resource"}
	case "ProjectMembership", "AccessPolicy":
		return object, &resources.Coding{System: objectRoleSystem, Code: "13", Display: "Security Resource"}
	case "ClientApplication":
		return object, &resources.Coding{System: objectRoleSystem, Code: "11", Display: "Security User Entity"}
	}
	return object, nil
}

// HomeProject is the super admin's Default project, where acts that belong
// to no project are filed ("" when there is none).
func HomeProject(ctx context.Context, res *resources.Service) (string, error) {
	t, _ := resources.Lookup("Project")
	q, err := resources.ParseQuery(t, url.Values{"name:exact": {"Default"}, "_sort": {"_lastUpdated"}})
	if err != nil {
		return "", err
	}
	projects, err := resources.SearchTyped[*resources.Project](resources.AsSystem(ctx, ""), res, q)
	if err != nil {
		return "", err
	}
	for _, p := range projects {
		if p.SuperAdmin != nil && *p.SuperAdmin {
			return p.ID, nil
		}
	}
	if len(projects) > 0 {
		return projects[0].ID, nil
	}
	return "", nil
}

// UserProjects lists the projects an act about userID is filed in: the
// project of a project-scoped User, else the project of each of its
// memberships (none: the Default project).
func UserProjects(ctx context.Context, res *resources.Service, userID string) ([]string, error) {
	sys := resources.AsSystem(ctx, "")
	if rec, err := res.Read(sys, "User", userID); err == nil && rec.Project != "" {
		return []string{rec.Project}, nil
	}
	t, _ := resources.Lookup("ProjectMembership")
	q, err := resources.ParseQuery(t, url.Values{"user": {"User/" + userID}})
	if err != nil {
		return nil, err
	}
	q.Count = resources.MaxCount
	mems, err := resources.SearchTyped[*resources.ProjectMembership](sys, res, q)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range mems {
		if p := strings.TrimPrefix(m.Project.Reference, "Project/"); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ---- the client's address, for agent.network ----

type addressKey struct{}

// WithAddress returns ctx carrying the client's network address, which
// events recorded under it put in agent.network (and auth's throttles
// count by).
func WithAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addressKey{}, addr)
}

// Address is the client address ctx carries ("" when none).
func Address(ctx context.Context) string {
	a, _ := ctx.Value(addressKey{}).(string)
	return a
}

// Middleware puts every request's client address (c.RealIP(): the socket's
// peer unless the router's IPExtractor trusts a proxy header) in its context.
func Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(WithAddress(r.Context(), c.RealIP())))
		return next(c)
	}
}

func ptr[T any](v T) *T { return &v }
