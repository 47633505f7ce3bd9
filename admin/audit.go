package admin

import (
	"context"
	"strconv"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
)

// AsAuthor is ctx acting as Roster itself inside project ("" for every
// project) — no access checks — while keeping the caller as the author of
// what it writes (meta.author) and the agent of what the audit trail
// records. The core's use cases and every dialect act as the system
// through it.
func AsAuthor(ctx context.Context, project string) context.Context {
	c := resources.Caller{}
	if cur := resources.CallerFrom(ctx); cur != nil {
		c = *cur
	}
	c.System, c.Project = true, project
	return resources.WithCaller(ctx, &c)
}

// record writes the invite's AuditEvent in its transaction: who invited
// whom into which membership, and what the invite did. An upsert that
// changed nothing is no act and is not recorded.
func (inv *invitation) record(ctx context.Context) error {
	out := inv.out
	if out.Membership == nil || out.Outcome == InviteUnchanged {
		return nil
	}
	m := audit.Ref("ProjectMembership/" + out.Membership.ID)
	m.Detail = []resources.AuditEventDetail{
		audit.Detail("outcome", out.Outcome),
		audit.Detail("userCreated", strconv.FormatBool(out.UserCreated)),
		audit.Detail("profileCreated", strconv.FormatBool(out.ProfileCreated)),
	}
	if out.MailQueued {
		m.Detail = append(m.Detail, audit.Detail("mail", out.MailKind))
	}
	if out.InvitationID != "" {
		m.Detail = append(m.Detail, audit.Detail("invitation", out.InvitationID))
	}
	entities := []audit.Entity{m}
	if out.User != nil {
		u := audit.Ref("User/" + out.User.ID)
		u.Name = out.User.Email
		entities = append(entities, u)
	}
	if out.Profile != nil {
		entities = append(entities, audit.Entity{What: reference(out.Profile)})
	}
	return audit.Record(ctx, inv.s.res, audit.Event{Act: audit.Invite, Project: inv.project.ID, Entities: entities})
}
