package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// MailKindEmailChanged is the kind of the notices an email change mails to
// the old and the new address.
const MailKindEmailChanged = "email-changed"

// UpdateEmailOperation is the FHIR operation that changes a User's login
// email: POST /fhir/R4/User/{id}/$update-email, as Medplum names it.
const UpdateEmailOperation = "$update-email"

// EmailUpdate is a change of a User's login email: the parameters of
// POST /fhir/R4/User/{id}/$update-email.
type EmailUpdate struct {
	// Email is the new address; it is trimmed and lower-cased.
	Email string
	// SendEmail false mails no notice (Medplum's sendEmail); otherwise the
	// old and the new address are both told.
	SendEmail *bool
}

// UpdateEmail changes userID's login email to email, with the notices
// mailed. See ChangeEmail.
func (s *Service) UpdateEmail(ctx context.Context, userID, email string) (*resources.User, error) {
	return s.ChangeEmail(ctx, userID, EmailUpdate{Email: email})
}

// ChangeEmail changes a User's login email and everything of the user's that
// carries the old address, in one transaction: the User (its emailVerified
// becomes false, as in Medplum), the email telecom of each of its profiles
// (the old address replaced, the new one added where there was none), a
// name that was the old address (a profile made without names), the
// memberships' displays; the links mailed to the old address die, the
// invitations follow (invitationsFollowEmail), and both addresses are told.
// The audit trail records the change (audit's User write hook).
//
// The caller in ctx must administer every project the user belongs to, or
// be the super admin; a user the caller cannot see at all is 404, one it
// may see but not change 403. Then the address is checked (400 naming
// email) and must be free (409): no other account in the same scope may
// have it, nor any server-scoped account, since sign-in could not tell them
// apart. Changing it to the current address writes nothing.
func (s *Service) ChangeEmail(ctx context.Context, userID string, req EmailUpdate) (*resources.User, error) {
	c := resources.CallerFrom(ctx)
	if c == nil {
		return nil, auth.ErrUnauthenticated
	}
	ch := &emailChange{s: s, caller: c, email: resources.EmailKey(req.Email), notify: req.SendEmail == nil || *req.SendEmail}
	err := s.res.InTx(AsAuthor(ctx, ""), func(ctx context.Context) error {
		return ch.run(ctx, userID)
	})
	if err != nil {
		return nil, err
	}
	return ch.user, nil
}

// emailChange is one email change's working state inside its transaction.
type emailChange struct {
	s      *Service
	caller *resources.Caller
	email  string
	notify bool

	user     *resources.User
	old      string
	mems     []*resources.ProjectMembership
	projects []string // the user's projects, sorted
}

func (ch *emailChange) run(ctx context.Context, userID string) error {
	if err := ch.load(ctx, userID); err != nil {
		return err
	}
	if err := ch.authorize(); err != nil {
		return err
	}
	switch {
	case ch.email == "":
		return resources.Invalids([]resources.Issue{{Code: "required", Expression: "email", Message: "Email is required"}})
	case !resources.ValidEmail(ch.email):
		_, err := resources.NormalizeEmail(ch.email)
		return resources.Invalid("email", "%s", err)
	case ch.email == ch.old:
		return nil
	}
	steps := []func(context.Context) error{ch.lock, ch.checkFree, ch.updateUser, ch.updateProfiles,
		ch.revokeLinks, ch.followInvitations, ch.mailNotices}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// load reads the User and its memberships (in every project).
func (ch *emailChange) load(ctx context.Context, userID string) error {
	u, _, err := resources.ReadTyped[*resources.User](ctx, ch.s.res, "User", userID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return resources.NotFound("User not found")
		}
		return err
	}
	mems, err := Search[*resources.ProjectMembership](ctx, ch.s.res, "", "ProjectMembership", url.Values{"user": {"User/" + u.ID}})
	if err != nil {
		return err
	}
	ch.user, ch.old, ch.mems = u, u.Email, mems
	var projects []string
	if u.Project != nil {
		projects = append(projects, strings.TrimPrefix(u.Project.Reference, "Project/"))
	}
	for _, m := range mems {
		projects = append(projects, strings.TrimPrefix(m.Project.Reference, "Project/"))
	}
	sort.Strings(projects)
	ch.projects = slices.Compact(projects)
	return nil
}

// authorize lets the super admin, and an admin of every project the user
// belongs to; a caller in none of them does not see the user (404).
func (ch *emailChange) authorize() error {
	c := ch.caller
	if c.SuperAdmin || c.System {
		return nil
	}
	if !slices.Contains(ch.projects, c.Project) {
		return resources.NotFound("User not found")
	}
	if ch.user.Admin != nil && *ch.user.Admin {
		return resources.Forbidden("Forbidden: only the super admin may change the super admin's email")
	}
	for _, p := range ch.projects {
		if !c.CanAdmin(p) {
			return resources.Forbidden("Forbidden: only an admin of every project the user belongs to may change the user's email")
		}
	}
	return nil
}

// lock serializes the change with every invite (and other change) deciding
// on the new address in the user's scope, and with those creating a
// server-scoped account for it.
func (ch *emailChange) lock(ctx context.Context) error {
	keys := []string{"invite|user|" + userScope(ch.user) + "|" + ch.email}
	if userScope(ch.user) != "" {
		keys = append(keys, "invite|user||"+ch.email)
	}
	sort.Strings(keys)
	return ch.s.res.Store().Lock(ctx, keys...)
}

// errEmailTaken is the 409 of an address another account has.
func errEmailTaken() *resources.Error {
	const msg = "A user with this email already exists"
	return &resources.Error{Kind: resources.KindConflict, Code: "duplicate", Message: msg,
		Issues: []resources.Issue{{Code: "duplicate", Expression: "email", Message: msg}}}
}

// checkFree refuses an address another account of the same scope has (the
// unique key would refuse it too) or a server-scoped account has, or any
// account when this one is server-scoped.
func (ch *emailChange) checkFree(ctx context.Context) error {
	others, err := Search[*resources.User](ctx, ch.s.res, "", "User", url.Values{"email": {tokenValue(ch.email)}})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != ch.user.ID && (userScope(o) == "" || userScope(ch.user) == "" || userScope(o) == userScope(ch.user)) {
			return errEmailTaken()
		}
	}
	return nil
}

// sameAddress says whether v is the old address (in any letter case).
func (ch *emailChange) sameAddress(v string) bool {
	return ch.old != "" && resources.EmailKey(v) == resources.EmailKey(ch.old)
}

// follow is v with the old address replaced by the new one.
func (ch *emailChange) follow(v string) string {
	if ch.sameAddress(v) {
		return ch.email
	}
	return v
}

func (ch *emailChange) updateUser(ctx context.Context) error {
	next := *ch.user
	next.Meta = nil
	next.Email, next.EmailVerified = ch.email, ptr(false)
	next.FirstName, next.LastName = ch.follow(next.FirstName), ch.follow(next.LastName)
	rec, err := ch.s.res.Update(ctx, &next, ch.user.ID, ch.user.Meta.VersionID)
	if err != nil {
		if resources.IsKind(err, resources.KindConflict) {
			return errEmailTaken()
		}
		return err
	}
	u := &resources.User{}
	if err := json.Unmarshal(rec.Content, u); err != nil {
		return err
	}
	ch.user = u
	return nil
}

// updateProfiles moves each profile's email and names, and each
// membership's displays, to the new address.
func (ch *emailChange) updateProfiles(ctx context.Context) error {
	done := map[string]bool{}
	for _, m := range ch.mems {
		ref := m.Profile.Reference
		if typ, _, _ := strings.Cut(ref, "/"); done[ref] || !contains(profileTypes, typ) || !isRef(ref, typ) {
			continue
		}
		done[ref] = true
		if err := ch.updateProfile(ctx, ref); err != nil {
			return err
		}
	}
	for _, m := range ch.mems {
		next := *m
		next.Meta = nil
		next.User.Display, next.Profile.Display = ch.follow(m.User.Display), ch.follow(m.Profile.Display)
		next.UserName = ch.follow(m.UserName)
		if next.User.Display == m.User.Display && next.Profile.Display == m.Profile.Display && next.UserName == m.UserName {
			continue
		}
		if _, err := ch.s.res.Update(ctx, &next, m.ID, m.Meta.VersionID); err != nil {
			return err
		}
	}
	return nil
}

func (ch *emailChange) updateProfile(ctx context.Context, ref string) error {
	typ, id, _ := strings.Cut(ref, "/")
	rec, err := ch.s.res.Read(ctx, typ, id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil // a deleted profile keeps its history as it was
		}
		return err
	}
	r, err := resources.Unmarshal(rec)
	if err != nil {
		return err
	}
	names, telecom, ok := personElements(r)
	if !ok {
		return nil
	}
	r.Base().Meta = nil
	before, err := json.Marshal(r)
	if err != nil {
		return err
	}
	for i := range *names {
		n := &(*names)[i]
		n.Text, n.Family = ch.follow(n.Text), ch.follow(n.Family)
		for j := range n.Given {
			n.Given[j] = ch.follow(n.Given[j])
		}
	}
	*telecom = ch.followTelecom(*telecom)
	if after, err := json.Marshal(r); err != nil || bytes.Equal(before, after) {
		return err
	}
	_, err = ch.s.res.Update(ctx, r, id, strconv.FormatInt(rec.Version, 10))
	return err
}

// personElements are a profile's names and telecom.
func personElements(r resources.Resource) (*[]resources.HumanName, *[]resources.ContactPoint, bool) {
	switch p := r.(type) {
	case *resources.Patient:
		return &p.Name, &p.Telecom, true
	case *resources.Practitioner:
		return &p.Name, &p.Telecom, true
	case *resources.RelatedPerson:
		return &p.Name, &p.Telecom, true
	}
	return nil, nil, false
}

// followTelecom replaces the old address by the new one (once: a second
// entry of the new address goes) and adds the new one when no entry has it.
func (ch *emailChange) followTelecom(cps []resources.ContactPoint) []resources.ContactPoint {
	out := make([]resources.ContactPoint, 0, len(cps)+1)
	has := false
	for _, cp := range cps {
		if cp.System == "email" {
			cp.Value = ch.follow(cp.Value)
			if resources.EmailKey(cp.Value) == ch.email {
				if has {
					continue
				}
				cp.Value, has = ch.email, true
			}
		}
		out = append(out, cp)
	}
	if !has {
		out = append(out, resources.ContactPoint{System: "email", Use: "work", Value: ch.email})
	}
	return out
}

// revokeLinks kills the one-time links mailed to the old address.
func (ch *emailChange) revokeLinks(ctx context.Context) error {
	return ch.s.auth.RevokeUserLinks(ctx, ch.user.ID)
}

func (ch *emailChange) followInvitations(ctx context.Context) error {
	return ch.s.invitationsFollowEmail(ctx, ch.user.ID, ch.email)
}

// invitationsFollowEmail moves the user's pending invitations to the new
// address inside the email change's transaction (an error rolls the change
// back): a resend then mails the address the user now has. Their links
// were mailed to the old one and died with the change.
func (s *Service) invitationsFollowEmail(ctx context.Context, userID, newEmail string) error {
	if s.invitations == nil {
		return nil
	}
	return s.invitations.FollowEmail(ctx, userID, newEmail)
}

// mailNotices tells the old and the new address, in the change's
// transaction; the mail is filed in the caller's project when the user
// belongs to it, else in the user's first.
func (ch *emailChange) mailNotices(ctx context.Context) error {
	if !ch.notify || ch.s.Mail == nil {
		return nil
	}
	project := ""
	switch {
	case slices.Contains(ch.projects, ch.caller.Project):
		project = ch.caller.Project
	case len(ch.projects) > 0:
		project = ch.projects[0]
	}
	name := "Roster"
	if project != "" {
		name = project
		if p, _, err := resources.ReadTyped[*resources.Project](ctx, ch.s.res, "Project", project); err == nil && p.Name != "" {
			name = p.Name
		}
	}
	old, email := ch.old, ch.email
	msgs := []mail.Message{
		{To: old, Subject: "Your " + name + " login email was changed",
			Text: "The login email of your account in " + name + " was changed from " + old + " to " + email +
				".\n\nFrom now on, sign in with " + email + ". Links sent to this address no longer work.\n\n" +
				"If you did not expect this, contact your organization's administrator.\n"},
		{To: email, Subject: "Your " + name + " login email is now " + email,
			Text: "The login email of your account in " + name + " is now " + email + " (it was " + old + ").\n\n" +
				"Sign in with this address from now on.\n"},
	}
	for _, msg := range msgs {
		if msg.To == "" {
			continue
		}
		msg.ProjectID, msg.Kind = project, MailKindEmailChanged
		if err := ch.s.Mail.Enqueue(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// emailUpdateParams are the parameters $update-email knows, email first.
var emailUpdateParams = []string{"email", "sendEmail", "updateProfileTelecom", "skipEmailVerification"}

// decodeEmailUpdate reads the body of $update-email: a FHIR Parameters
// resource (email as valueString; updateProfileTelecom,
// skipEmailVerification and sendEmail as valueBoolean), or a plain JSON
// object with the same names. A parameter of the wrong type is a 400
// naming it; unknown parameters are ignored, as Medplum does.
// updateProfileTelecom and skipEmailVerification are accepted for Medplum's
// clients and change nothing: the profiles always follow, and Roster sends
// no verification mail.
func decodeEmailUpdate(body []byte) (EmailUpdate, error) {
	var req EmailUpdate
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return req, resources.Invalid("", "Request body must be a Parameters resource or a JSON object")
	}
	values := map[string]json.RawMessage{}
	var issues []resources.Issue
	bad := func(expr, msg string) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: expr, Message: msg})
	}
	if rt, ok := raw["resourceType"]; ok {
		var typ string
		if json.Unmarshal(rt, &typ) != nil || typ != "Parameters" {
			return req, resources.Invalid("resourceType", "resourceType must be Parameters")
		}
		var params []struct {
			Name         string          `json:"name"`
			ValueString  json.RawMessage `json:"valueString"`
			ValueBoolean json.RawMessage `json:"valueBoolean"`
		}
		if p, ok := raw["parameter"]; ok && json.Unmarshal(p, &params) != nil {
			return req, resources.Invalid("parameter", "parameter must be a list of {name, value[x]}")
		}
		for _, p := range params {
			if !slices.Contains(emailUpdateParams, p.Name) {
				continue
			}
			want, other, kind := p.ValueBoolean, p.ValueString, "valueBoolean"
			if p.Name == "email" {
				want, other, kind = p.ValueString, p.ValueBoolean, "valueString"
			}
			switch {
			case values[p.Name] != nil:
				bad(p.Name, p.Name+" is given more than once")
			case len(want) > 0:
				values[p.Name] = want
			case len(other) > 0:
				bad(p.Name, p.Name+" must be a "+kind)
			}
		}
	} else {
		values = raw
	}
	if v, ok := values["email"]; ok && string(v) != "null" && json.Unmarshal(v, &req.Email) != nil {
		bad("email", "email must be a string")
	}
	for _, name := range emailUpdateParams[1:] {
		var b *bool
		if v, ok := values[name]; ok && string(v) != "null" && json.Unmarshal(v, &b) != nil {
			bad(name, name+" must be a boolean")
		}
		if name == "sendEmail" {
			req.SendEmail = b
		}
	}
	if len(issues) > 0 {
		return req, resources.Invalids(issues)
	}
	return req, nil
}

func (s *Service) handleUpdateEmail(c echo.Context) error {
	if c.Param("type") != "User" {
		return resources.NotFound("Operation %s is defined on User only", UpdateEmailOperation)
	}
	body, err := rest.ReadBody(c)
	if err != nil {
		return err
	}
	req, err := decodeEmailUpdate(body)
	if err != nil {
		return err
	}
	u, err := s.ChangeEmail(c.Request().Context(), c.Param("id"), req)
	if err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, u)
}
