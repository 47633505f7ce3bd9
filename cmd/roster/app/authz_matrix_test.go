package app_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// The authorization matrix: every kind of caller against every route, one
// DescribeTable whose entries say the status each caller gets. The roles,
// in the column order of the rows below:
//
//	super   the super admin (acts in the Default project, sees every project)
//	admin   an admin of project P
//	member  a Practitioner member of P (no admin, no access policy)
//	auditor a Medallion auditor of P (the read-only Medallion AccessPolicy)
//	patient a Patient invited into P
//	basic   a ClientApplication of P (not admin) by HTTP Basic clientId:secret
//	client  the same ClientApplication by a client_credentials access token
//	none    no credentials
//	other   an admin of another project Q
//
// Every target is P's: a caller of another project is told 404 for P's
// resources (never 403), and 403 on P's admin routes (as the invite issue
// asks). Rows that change state act on a target made afresh for each call.
const (
	rSuper = iota
	rAdmin
	rMember
	rAuditor
	rPatient
	rBasic
	rClient
	rNone
	rOther
	roleCount
)

var roleNames = [roleCount]string{"super admin", "project admin", "member", "Medallion auditor", "patient",
	"client (Basic)", "client (token)", "no credentials", "another project's admin"}

// creds is how a role authenticates.
type creds struct {
	bearer       string
	basicID, key string
}

// header is the Authorization header value for scheme ("Bearer" or "Token").
func (c creds) header(scheme string) string {
	switch {
	case c.bearer != "":
		return scheme + " " + c.bearer
	case c.basicID != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.basicID+":"+c.key))
	}
	return ""
}

// authzWorld is the projects, people and resources the matrix runs against.
type authzWorld struct {
	srv   *fixtures.Server
	p, q  string // project ids
	roles [roleCount]creds
	// Targets in P.
	patient     string // a Patient
	targetUser  string // a User id with a membership in P (no password)
	targetMem   string // that membership
	targetProf  string // its profile, "Practitioner/…"
	auditEvent  string // an AuditEvent of P
	medallionID string // the target membership, as Medallion's member id
	invitation  string // the target membership's invitation
}

const matrixPassword = "granite-Orchard-velvet-5521"

func (w *authzWorld) do(method, path string, c creds, scheme string, body any, headers ...string) *fixtures.Response {
	GinkgoHelper()
	if h := c.header(scheme); h != "" {
		headers = append(headers, "Authorization", h)
	}
	r, err := w.srv.Do(method, path, "", body, headers...)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// sys is a context acting as Roster inside P.
func (w *authzWorld) sys() context.Context { return resources.AsSystem(context.Background(), w.p) }

// freshPatient makes a Patient in P and returns its id.
func (w *authzWorld) freshPatient() string {
	GinkgoHelper()
	pt := &resources.Patient{Name: []resources.HumanName{{Family: "Target"}}}
	pt.ResourceType = "Patient"
	rec, err := w.srv.App.Resources.CreateIn(w.sys(), pt, w.p)
	Expect(err).NotTo(HaveOccurred())
	return rec.ID
}

// freshMembership gives the target User one more membership in P (with a
// new profile) and returns its id.
func (w *authzWorld) freshMembership() string {
	GinkgoHelper()
	pr := &resources.Practitioner{Name: []resources.HumanName{{Family: "Extra"}}}
	pr.ResourceType = "Practitioner"
	rec, err := w.srv.App.Resources.CreateIn(w.sys(), pr, w.p)
	Expect(err).NotTo(HaveOccurred())
	m := &resources.ProjectMembership{User: resources.Reference{Reference: "User/" + w.targetUser},
		Profile: resources.Reference{Reference: "Practitioner/" + rec.ID}}
	m.ResourceType = "ProjectMembership"
	mrec, err := w.srv.App.Resources.CreateIn(w.sys(), m, w.p)
	Expect(err).NotTo(HaveOccurred())
	return mrec.ID
}

// invite invites someone into project as token's caller, with a password.
func (w *authzWorld) invite(token, project, typ string, admin bool) (email string, membership map[string]any) {
	GinkgoHelper()
	email = strings.ToLower(typ) + "-" + strings.ToLower(auth.Secret()[:8]) + "@example.com"
	r, err := w.srv.Do("POST", "admin/projects/"+project+"/invite", token, map[string]any{"resourceType": typ,
		"firstName": "Casey", "lastName": "Caller", "email": email, "password": matrixPassword, "sendEmail": false,
		"membership": map[string]any{"admin": admin}})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	return email, r.JSON()
}

func (w *authzWorld) login(email, project string) string {
	GinkgoHelper()
	tok, err := w.srv.LoginFull(email, matrixPassword, project)
	Expect(err).NotTo(HaveOccurred())
	return tok.AccessToken
}

func newAuthzWorld() *authzWorld {
	GinkgoHelper()
	w := &authzWorld{srv: fixtures.Start(GinkgoT(), fixtures.Options{})}
	DeferCleanup(w.srv.Close)
	var err error
	var adminToken, otherToken string
	w.p, adminToken, _, err = w.srv.ProjectAdmin("Matrix P")
	Expect(err).NotTo(HaveOccurred())
	w.q, otherToken, _, err = w.srv.ProjectAdmin("Matrix Q")
	Expect(err).NotTo(HaveOccurred())
	w.roles[rSuper] = creds{bearer: w.srv.AdminToken}
	w.roles[rAdmin] = creds{bearer: adminToken}
	w.roles[rOther] = creds{bearer: otherToken}

	memberEmail, _ := w.invite(adminToken, w.p, "Practitioner", false)
	w.roles[rMember] = creds{bearer: w.login(memberEmail, w.p)}
	patientEmail, _ := w.invite(adminToken, w.p, "Patient", false)
	w.roles[rPatient] = creds{bearer: w.login(patientEmail, w.p)}

	r, err := w.srv.Do("POST", "admin/projects/"+w.p+"/client", adminToken, map[string]any{"name": "Matrix client", "admin": false})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(201), string(r.Body))
	clientID, secret := r.JSON()["id"].(string), r.JSON()["secret"].(string)
	w.roles[rBasic] = creds{basicID: clientID, key: secret}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	r, err = w.srv.Do("POST", "oauth2/token", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	var tok auth.TokenResponse
	Expect(r.Decode(&tok)).To(Succeed())
	w.roles[rClient] = creds{bearer: tok.AccessToken}

	// The auditor: a Medallion member (made with an admin client's key)
	// given a password directly, as signing up would.
	r, err = w.srv.Do("POST", "admin/projects/"+w.p+"/client", adminToken, map[string]any{"name": "Medallion key", "admin": true})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(201), string(r.Body))
	orgKey := r.JSON()["secret"].(string)
	auditorEmail := "auditor-" + strings.ToLower(auth.Secret()[:8]) + "@example.com"
	r, err = w.srv.Do("POST", "p/api/v1/organizations/members/", "", map[string]any{"role": "auditor",
		"user": map[string]any{"email": auditorEmail, "first_name": "Audrey", "last_name": "Auditor"}}, "x-api-key", orgKey)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(201), string(r.Body))
	auditorUser := r.JSON()["user"].(map[string]any)["id"].(string)
	Expect(w.srv.App.Auth.SetPassword(w.sys(), auditorUser, matrixPassword, "")).To(Succeed())
	w.roles[rAuditor] = creds{bearer: w.login(auditorEmail, w.p)}

	// Targets.
	w.patient = w.freshPatient()
	_, tm := w.invite(adminToken, w.p, "Practitioner", false)
	w.targetMem = tm["id"].(string)
	w.targetUser = strings.TrimPrefix(tm["user"].(map[string]any)["reference"].(string), "User/")
	w.targetProf = tm["profile"].(map[string]any)["reference"].(string)
	w.medallionID = w.targetMem
	r, err = w.srv.Do("GET", "admin/projects/"+w.p+"/invites?_count=1", adminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	w.invitation = r.JSON()["invites"].([]any)[0].(map[string]any)["id"].(string)
	r, err = w.srv.Do("GET", "fhir/R4/AuditEvent?_count=1", adminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	events := r.Resources()
	Expect(events).NotTo(BeEmpty())
	w.auditEvent = events[0]["id"].(string)
	return w
}

// route is one row of the matrix: a request made with a role's credentials.
type route struct {
	name string
	call func(w *authzWorld, c creds) *fixtures.Response
	want [roleCount]int
}

// patientBody is a valid Patient.
func patientBody() map[string]any {
	return map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Matrix"}}}
}

// row states one route's expected status for each role, in role order.
func row(name string, call func(w *authzWorld, c creds) *fixtures.Response, want ...int) route {
	if len(want) != roleCount {
		panic(fmt.Sprintf("row %q: %d statuses for %d roles", name, len(want), roleCount))
	}
	r := route{name: name, call: call}
	copy(r.want[:], want)
	return r
}

func bearer(method, path string, body func(w *authzWorld) any, headers ...string) func(w *authzWorld, c creds) *fixtures.Response {
	return func(w *authzWorld, c creds) *fixtures.Response {
		var b any
		if body != nil {
			b = body(w)
		}
		return w.do(method, expand(w, path), c, "Bearer", b, headers...)
	}
}

// freshInvitation invites a new practitioner into P (no mail, no
// password: one who needs a link) and returns the invitation's id.
func (w *authzWorld) freshInvitation() string {
	GinkgoHelper()
	r, err := w.srv.Do("POST", "admin/projects/"+w.p+"/invite", w.srv.AdminToken, map[string]any{"resourceType": "Practitioner",
		"firstName": "Fresh", "lastName": "Invitee", "email": uniqueEmail("fresh"), "sendEmail": false})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	r, err = w.srv.Do("GET", "admin/projects/"+w.p+"/invites?_count=1", w.srv.AdminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	return r.JSON()["invites"].([]any)[0].(map[string]any)["id"].(string)
}

// expand fills {P}, {Q}, {patient}, {member}, {user}, {profile}, {event},
// {invitation}, {freshPatient}, {freshMember}, {freshInvitation} and
// {mfaMember} (the target membership, its user enrolled in MFA) into a path.
func expand(w *authzWorld, path string) string {
	r := strings.NewReplacer("{P}", w.p, "{Q}", w.q, "{patient}", w.patient, "{member}", w.targetMem,
		"{user}", w.targetUser, "{profile}", w.targetProf, "{event}", w.auditEvent, "{invitation}", w.invitation)
	path = r.Replace(path)
	if strings.Contains(path, "{freshInvitation}") {
		path = strings.ReplaceAll(path, "{freshInvitation}", w.freshInvitation())
	}
	if strings.Contains(path, "{freshPatient}") {
		path = strings.ReplaceAll(path, "{freshPatient}", w.freshPatient())
	}
	if strings.Contains(path, "{mfaMember}") {
		path = strings.ReplaceAll(path, "{mfaMember}", w.mfaMember())
	}
	if strings.Contains(path, "{freshMember}") {
		path = strings.ReplaceAll(path, "{freshMember}", w.freshMembership())
	}
	return path
}

// medallion calls a Medallion route: a client presents its secret as
// Medallion's x-api-key, everyone else their bearer token.
func medallion(method, path string, body any) func(w *authzWorld, c creds) *fixtures.Response {
	return func(w *authzWorld, c creds) *fixtures.Response {
		if c.basicID != "" {
			return w.do(method, expand(w, path), creds{}, "", body, "x-api-key", c.key)
		}
		return w.do(method, expand(w, path), c, "Bearer", body)
	}
}

// mfaMember enrolls the target User in MFA (unless it is) and returns its
// membership. The User has no password, so it enrolls through the service
// as itself.
func (w *authzWorld) mfaMember() string {
	GinkgoHelper()
	c := &resources.Caller{UserID: w.targetUser, Project: w.p, MembershipID: w.targetMem, Profile: w.targetProf}
	ctx := resources.WithCaller(context.Background(), c)
	st, err := w.srv.App.Auth.MFAStatus(ctx, c)
	Expect(err).NotTo(HaveOccurred())
	if !st.Enrolled {
		code, err := fixtures.TOTP(st.EnrollURI, time.Now())
		Expect(err).NotTo(HaveOccurred())
		_, err = w.srv.App.Auth.EnrollMFA(ctx, c, code)
		Expect(err).NotTo(HaveOccurred())
	}
	return w.targetMem
}

func uniqueEmail(tag string) string {
	return tag + "-" + strings.ToLower(auth.Secret()[:8]) + "@example.com"
}

// super admin member auditor patient basic client none other
var matrix = []route{
	// FHIR, a clinical type.
	row("POST /fhir/R4/Patient", bearer("POST", "fhir/R4/Patient", func(*authzWorld) any { return patientBody() }),
		201, 201, 201, 403, 201, 201, 201, 401, 201),
	row("GET /fhir/R4/Patient/{id}", bearer("GET", "fhir/R4/Patient/{patient}", nil),
		200, 200, 200, 200, 200, 200, 200, 401, 404),
	row("GET /fhir/R4/Patient?name=", bearer("GET", "fhir/R4/Patient?name=target", nil),
		200, 200, 200, 200, 200, 200, 200, 401, 200),
	row("PUT /fhir/R4/Patient/{id}", bearer("PUT", "fhir/R4/Patient/{patient}", func(w *authzWorld) any {
		b := patientBody()
		b["id"] = w.patient
		return b
	}), 200, 200, 200, 403, 200, 200, 200, 401, 404),
	row("PATCH /fhir/R4/Patient/{id}", bearer("PATCH", "fhir/R4/Patient/{patient}", func(*authzWorld) any {
		return `[{"op":"add","path":"/gender","value":"unknown"}]`
	}, "Content-Type", "application/json-patch+json"), 200, 200, 200, 403, 200, 200, 200, 401, 404),
	row("DELETE /fhir/R4/Patient/{id}", bearer("DELETE", "fhir/R4/Patient/{freshPatient}", nil),
		200, 200, 200, 403, 200, 200, 200, 401, 404),
	// Conditional writes match in the caller's own project only: the super
	// admin (in Default) and another project's admin match nothing there,
	// so their update creates and their delete deletes nothing.
	row("PUT /fhir/R4/Patient?_id=", bearer("PUT", "fhir/R4/Patient?_id={patient}", func(*authzWorld) any { return patientBody() }),
		201, 200, 200, 403, 200, 200, 200, 401, 201),
	row("DELETE /fhir/R4/Patient?_id=", bearer("DELETE", "fhir/R4/Patient?_id={freshPatient}", nil),
		200, 200, 200, 403, 200, 200, 200, 401, 200),
	row("GET /fhir/R4/Patient/{id}/_history", bearer("GET", "fhir/R4/Patient/{patient}/_history", nil),
		200, 200, 200, 200, 200, 200, 200, 401, 404),
	row("GET /fhir/R4/Patient/_history", bearer("GET", "fhir/R4/Patient/_history", nil),
		200, 200, 200, 200, 200, 200, 200, 401, 200),

	// FHIR, an admin-only type.
	row("POST /fhir/R4/ProjectMembership", bearer("POST", "fhir/R4/ProjectMembership", func(w *authzWorld) any {
		return map[string]any{"resourceType": "ProjectMembership", "user": map[string]any{"reference": "User/" + w.targetUser},
			"profile": map[string]any{"reference": "Patient/" + w.freshPatient()}}
	}), 201, 201, 403, 403, 403, 403, 403, 401, 201),
	row("GET /fhir/R4/ProjectMembership/{id}", bearer("GET", "fhir/R4/ProjectMembership/{member}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("GET /fhir/R4/ProjectMembership?user=", bearer("GET", "fhir/R4/ProjectMembership?user=User/{user}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 200),
	row("PUT /fhir/R4/ProjectMembership/{id}", bearer("PUT", "fhir/R4/ProjectMembership/{member}", func(w *authzWorld) any {
		return map[string]any{"resourceType": "ProjectMembership", "id": w.targetMem,
			"user": map[string]any{"reference": "User/" + w.targetUser}, "profile": map[string]any{"reference": w.targetProf}}
	}), 200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("DELETE /fhir/R4/ProjectMembership/{id}", bearer("DELETE", "fhir/R4/ProjectMembership/{freshMember}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("GET /fhir/R4/ProjectMembership/{id}/_history", bearer("GET", "fhir/R4/ProjectMembership/{member}/_history", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("GET /fhir/R4/Project/{P}", bearer("GET", "fhir/R4/Project/{P}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("GET /fhir/R4/User?_count=1", bearer("GET", "fhir/R4/User?_count=1", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 200),

	row("POST /fhir/R4 (transaction writing a ProjectMembership)", bearer("POST", "fhir/R4/", func(w *authzWorld) any {
		return map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{map[string]any{
			"resource": map[string]any{"resourceType": "ProjectMembership", "user": map[string]any{"reference": "User/" + w.targetUser},
				"profile": map[string]any{"reference": "Patient/" + w.freshPatient()}},
			"request": map[string]any{"method": "POST", "url": "ProjectMembership"}}}}
	}), 200, 200, 403, 403, 403, 403, 403, 401, 200),
	row("GET /fhir/R4/metadata", bearer("GET", "fhir/R4/metadata", nil),
		200, 200, 200, 200, 200, 200, 200, 200, 200),

	// FHIR, the audit trail: read by admins, written by nobody.
	row("GET /fhir/R4/AuditEvent", bearer("GET", "fhir/R4/AuditEvent?_count=1", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 200),
	row("GET /fhir/R4/AuditEvent/{id}", bearer("GET", "fhir/R4/AuditEvent/{event}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 404),
	row("POST /fhir/R4/AuditEvent", bearer("POST", "fhir/R4/AuditEvent", func(*authzWorld) any {
		return map[string]any{"resourceType": "AuditEvent", "type": map[string]any{"code": "110114"},
			"recorded": "2024-01-01T00:00:00Z", "agent": []any{map[string]any{"requestor": true}}}
	}), 403, 403, 403, 403, 403, 403, 403, 401, 403),
	row("DELETE /fhir/R4/AuditEvent/{id}", bearer("DELETE", "fhir/R4/AuditEvent/{event}", nil),
		403, 403, 403, 403, 403, 403, 403, 401, 404),

	// Admin API.
	row("POST /admin/projects", bearer("POST", "admin/projects", func(*authzWorld) any { return map[string]any{"name": "Made by matrix"} }),
		201, 403, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}", bearer("GET", "admin/projects/{P}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/invite", bearer("POST", "admin/projects/{P}/invite", func(*authzWorld) any {
		return map[string]any{"resourceType": "Practitioner", "firstName": "Ivy", "lastName": "Invitee", "email": uniqueEmail("inv"), "sendEmail": false}
	}), 200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}/members/{id}", bearer("GET", "admin/projects/{P}/members/{member}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/members/{id}", bearer("POST", "admin/projects/{P}/members/{member}", func(*authzWorld) any {
		return map[string]any{"active": true}
	}), 200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("DELETE /admin/projects/{P}/members/{id}", bearer("DELETE", "admin/projects/{P}/members/{freshMember}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/members/{id}/mfa/reset", bearer("POST", "admin/projects/{P}/members/{mfaMember}/mfa/reset", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/client", bearer("POST", "admin/projects/{P}/client", func(*authzWorld) any {
		return map[string]any{"name": "Another client"}
	}), 201, 201, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}/mail", bearer("GET", "admin/projects/{P}/mail", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}/members", bearer("GET", "admin/projects/{P}/members", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}/invites", bearer("GET", "admin/projects/{P}/invites", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("GET /admin/projects/{P}/invites/{id}", bearer("GET", "admin/projects/{P}/invites/{invitation}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/invites/{id}/resend", bearer("POST", "admin/projects/{P}/invites/{invitation}/resend", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("POST /admin/projects/{P}/invites/{id}/link", bearer("POST", "admin/projects/{P}/invites/{freshInvitation}/link", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("DELETE /admin/projects/{P}/invites/{id}", bearer("DELETE", "admin/projects/{P}/invites/{freshInvitation}", nil),
		200, 200, 403, 403, 403, 403, 403, 401, 403),
	row("GET /auth/me", bearer("GET", "auth/me", nil),
		200, 200, 200, 200, 200, 200, 200, 401, 200),
	row("GET /auth/mfa/status", bearer("GET", "auth/mfa/status", nil),
		200, 200, 200, 200, 200, 403, 403, 401, 200),

	// Vendor dialects, each with its own credential.
	// Medallion: members without a Medallion role see an empty list and
	// no member (404); a client's secret is its x-api-key, refused unless
	// the client is admin.
	row("Medallion GET /p/api/v1/organizations/members/", medallion("GET", "p/api/v1/organizations/members/", nil),
		200, 200, 200, 200, 200, 403, 200, 401, 200),
	row("Medallion PATCH /p/api/v1/organizations/members/{id}/", medallion("PATCH", "p/api/v1/organizations/members/{member}/",
		map[string]any{"is_active": true}), 404, 200, 404, 403, 404, 403, 404, 401, 404),
	row("Medium One GET /mediumone/user_list_in_tenant", bearer("GET", "mediumone/user_list_in_tenant?tenant_id={P}", nil),
		200, 200, 403, 403, 403, 401, 401, 401, 403),
	row("Medium One GET /mediumone/user_create", func(w *authzWorld, c creds) *fixtures.Response {
		return w.do("GET", "mediumone/user_create?full_name=Una+User&user_name="+url.QueryEscape(uniqueEmail("m1")), c, "Bearer", nil)
	}, 200, 200, 403, 403, 403, 401, 401, 401, 200),
	// Medable answers "not logged in" with its fault status 403, and hides
	// accounts a caller may not see (404).
	row("Medable GET /medable/{P}/accounts", bearer("GET", "medable/{P}/accounts", nil),
		200, 200, 403, 403, 403, 403, 403, 403, 403),
	row("Medable PUT /medable/{P}/accounts/{id}", bearer("PUT", "medable/{P}/accounts/{user}", func(*authzWorld) any {
		return map[string]any{"name": map[string]any{"first": "Renamed"}}
	}), 200, 200, 404, 404, 404, 403, 404, 403, 403),
	// Hospital: the medic is the token's Practitioner ("Unauthorized
	// Medic" is the vendor's 401); a PATCH answers 201, as the vendor does.
	row("Hospital GET /api/v2/management/memberships", func(w *authzWorld, c creds) *fixtures.Response {
		return w.do("GET", "api/v2/management/memberships", c, "Token", nil)
	}, 200, 200, 200, 200, 401, 401, 401, 401, 200),
	row("Hospital PATCH /api/v2/management/memberships/{id}", func(w *authzWorld, c creds) *fixtures.Response {
		return w.do("PATCH", "api/v2/management/memberships/"+w.targetMem, c, "Token", map[string]any{"is_active": true})
	}, 404, 201, 401, 401, 401, 401, 401, 401, 404),
}

var _ = Describe("Authorization matrix", Ordered, ContinueOnFailure, func() {
	var w *authzWorld
	BeforeAll(func() { w = newAuthzWorld() })

	entries := []TableEntry{}
	for _, rt := range matrix {
		for role := range roleCount {
			entries = append(entries, Entry(fmt.Sprintf("%s as %s → %d", rt.name, roleNames[role], rt.want[role]), rt, role, rt.want[role]))
		}
	}
	DescribeTable("each role on each route",
		func(rt route, role, want int) {
			r := rt.call(w, w.roles[role])
			Expect(r.Status).To(Equal(want), "%s as %s: %s", rt.name, roleNames[role], r.Body)
		},
		entries,
	)
})
