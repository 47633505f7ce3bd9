package admin

import (
	"context"
	"net/url"
	"strings"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
)

// deleteMembership deletes membership m of projectID and offboards its
// user, in one transaction: a project-scoped User whose last membership
// this was is deleted too — its logins end at once, its links die, its
// password is forgotten — so the same email can be invited again (Medplum
// does the same). A server-scoped User, which other projects may share,
// stays. Profiles stay: they are the project's records.
func (s *Service) deleteMembership(ctx context.Context, projectID string, m *resources.ProjectMembership) error {
	return s.res.InTx(AsAuthor(ctx, projectID), func(ctx context.Context) error {
		u, err := s.scopedUser(ctx, m)
		if err != nil {
			return err
		}
		if u != nil && u.Email != "" {
			// The invites of this address decide on this User: they wait.
			if err := s.res.Store().Lock(ctx, "invite|user|"+userScope(u)+"|"+u.Email); err != nil {
				return err
			}
		}
		if err := s.res.Delete(ctx, "ProjectMembership", m.ID); err != nil {
			return err
		}
		if u == nil {
			return nil
		}
		return s.offboard(ctx, u)
	})
}

// scopedUser is the project-scoped User of membership m (nil for a
// server-scoped one, a client, or a User already gone).
func (s *Service) scopedUser(ctx context.Context, m *resources.ProjectMembership) (*resources.User, error) {
	id, ok := strings.CutPrefix(m.User.Reference, "User/")
	if !ok {
		return nil, nil
	}
	u, _, err := resources.ReadTyped[*resources.User](AsAuthor(ctx, ""), s.res, "User", id)
	switch {
	case resources.IsKind(err, resources.KindNotFound, resources.KindGone):
		return nil, nil
	case err != nil:
		return nil, err
	case u.Project == nil || (u.Admin != nil && *u.Admin):
		return nil, nil
	}
	return u, nil
}

// offboard deletes project-scoped User u if it has no membership left,
// ends everything that signs it in, and records the deletion.
func (s *Service) offboard(ctx context.Context, u *resources.User) error {
	left, err := Search[*resources.ProjectMembership](ctx, s.res, "", "ProjectMembership", url.Values{"user": {"User/" + u.ID}})
	if err != nil || len(left) > 0 {
		return err
	}
	project := strings.TrimPrefix(u.Project.Reference, "Project/")
	if err := s.res.Delete(AsAuthor(ctx, project), "User", u.ID); err != nil {
		return err
	}
	if err := s.auth.ForgetUser(ctx, u.ID); err != nil {
		return err
	}
	who := audit.Ref("User/" + u.ID)
	who.Name = u.Email
	who.Description = "last membership deleted"
	return audit.Record(ctx, s.res, audit.Event{Act: audit.UserDelete, Project: project, Entities: []audit.Entity{who}})
}
