package audit

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/resources"
)

// Install records, through a write hook on res, every write of a
// ProjectMembership (created, changed — admin, active, role, access policy,
// profile — or deleted) and every change of a User's email, whoever makes
// it: FHIR and batch requests, the admin API, invites and the vendor
// dialects all write through res, so none of them can forget.
func Install(res *resources.Service) {
	res.AddWriteHook(func(ctx context.Context, ch *resources.Change) error {
		switch ch.Type.Name {
		case "ProjectMembership":
			return membershipWritten(ctx, res, ch)
		case "User":
			return userWritten(ctx, res, ch)
		}
		return nil
	}, "ProjectMembership", "User")
}

func membershipWritten(ctx context.Context, res *resources.Service, ch *resources.Change) error {
	var cur, prev *resources.ProjectMembership
	if m, ok := ch.Current.(*resources.ProjectMembership); ok {
		cur = m
	}
	if m, ok := ch.Prev.(*resources.ProjectMembership); ok {
		prev = m
	}
	e := Event{Project: ch.Record.Project}
	subject := cur
	switch {
	case ch.Record.Deleted:
		e.Act, subject = MemberDelete, prev
	case prev == nil:
		e.Act = MemberCreate
	default:
		e.Act = MemberUpdate
	}
	if subject == nil {
		return nil
	}
	details := membershipDiff(prev, cur)
	if e.Act.Code == MemberUpdate.Code && len(details) == 0 {
		return nil // only display names moved: nothing security-relevant changed
	}
	m := Ref("ProjectMembership/" + ch.Record.ID)
	m.Detail = details
	m.Description = describe(details)
	e.Entities = []Entity{m}
	if subject.User.Reference != "" {
		u := Entity{What: subject.User}
		e.Entities = append(e.Entities, u)
	}
	if subject.Profile.Reference != "" && subject.Profile.Reference != subject.User.Reference {
		e.Entities = append(e.Entities, Entity{What: subject.Profile})
	}
	return Record(ctx, res, e)
}

// membershipDiff lists what changed between two versions of a membership
// (everything that is set, for a creation; nothing, for a deletion).
func membershipDiff(prev, cur *resources.ProjectMembership) []resources.AuditEventDetail {
	if cur == nil {
		return nil
	}
	var out []resources.AuditEventDetail
	add := func(name, was, now string) {
		switch {
		case prev == nil && now != "":
			out = append(out, Detail(name, now))
		case prev != nil && was != now:
			out = append(out, Detail(name, arrow(was, now)))
		}
	}
	var p resources.ProjectMembership
	if prev != nil {
		p = *prev
	}
	add("admin", flag(p.Admin, false, prev == nil), flag(cur.Admin, false, false))
	add("active", flag(p.Active, true, prev == nil), flag(cur.Active, true, false))
	add("accessPolicy", ref(p.AccessPolicy), ref(cur.AccessPolicy))
	add("access", jsonOf(p.Access), jsonOf(cur.Access))
	add("profile", p.Profile.Reference, cur.Profile.Reference)
	add("user", p.User.Reference, cur.User.Reference)
	add("externalId", p.ExternalID, cur.ExternalID)
	add("extension", jsonOf(p.Extension), jsonOf(cur.Extension))
	return out
}

func flag(b *bool, dflt, absent bool) string {
	if absent {
		return ""
	}
	if b != nil {
		return strconv.FormatBool(*b)
	}
	return strconv.FormatBool(dflt)
}

func ref(r *resources.Reference) string {
	if r == nil {
		return ""
	}
	return r.Reference
}

func jsonOf[T any](v []T) string {
	if len(v) == 0 {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func arrow(was, now string) string {
	if was == "" {
		was = "(none)"
	}
	if now == "" {
		now = "(none)"
	}
	return was + " → " + now
}

func describe(details []resources.AuditEventDetail) string {
	parts := make([]string, 0, len(details))
	for _, d := range details {
		parts = append(parts, d.Type+": "+d.ValueString)
	}
	return strings.Join(parts, "; ")
}

// userWritten records a User's email change, in each project the User
// belongs to.
func userWritten(ctx context.Context, res *resources.Service, ch *resources.Change) error {
	prev, _ := ch.Prev.(*resources.User)
	cur, _ := ch.Current.(*resources.User)
	if prev == nil || cur == nil || resources.Fold(prev.Email) == resources.Fold(cur.Email) {
		return nil
	}
	projects := []string{ch.Record.Project}
	if ch.Record.Project == "" {
		var err error
		if projects, err = UserProjects(ctx, res, cur.ID); err != nil {
			return err
		}
	}
	u := Ref("User/" + cur.ID)
	u.Detail = []resources.AuditEventDetail{Detail("email", arrow(prev.Email, cur.Email))}
	u.Description = "email: " + arrow(prev.Email, cur.Email)
	return RecordEach(ctx, res, projects, Event{Act: EmailChange, Entities: []Entity{u}})
}
