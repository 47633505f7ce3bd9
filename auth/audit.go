package auth

import (
	"context"
	"strings"

	"github.com/samber/lo"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
)

// This file records auth's acts in the audit trail (package audit):
// sign-ins and their refusals, refreshes, sign-outs, passwords, one-time
// links and client secrets. Successes are written in the transaction of the
// act; refusals, which answer with an error, in a transaction of their own.

// userAgent is the agent of an act a User does through membership m (nil:
// the User alone).
func userAgent(userID string, m *resources.ProjectMembership) *audit.Agent {
	a := &audit.Agent{User: "User/" + userID}
	if m != nil && m.Profile.Reference != "" {
		p := m.Profile
		a.Who = &p
	} else {
		a.Who = &resources.Reference{Reference: "User/" + userID}
	}
	return a
}

// auditLogin records a granted sign-in of login l through membership m, in
// m's project; ctx carries the transaction that stores the login.
func (s *Service) auditLogin(ctx context.Context, l *Login, m *resources.ProjectMembership) error {
	a := userAgent(l.UserID, m)
	subject := audit.Ref("User/" + l.UserID)
	if l.ClientID != "" && l.ClientID == l.UserID {
		a.User = "ClientApplication/" + l.UserID
		subject = audit.Ref("ClientApplication/" + l.UserID)
	}
	subject.Detail = []resources.AuditEventDetail{audit.Detail("login", l.ID)}
	return audit.Record(ctx, s.res, audit.Event{Act: audit.Login, Project: strings.TrimPrefix(m.Project.Reference, "Project/"),
		Agent: a, Entities: []audit.Entity{subject, audit.Ref("ProjectMembership/" + m.ID)}})
}

// createLogin stores l and, when it is already bound to membership m,
// records the sign-in with it (and counts it once committed).
func (s *Service) createLogin(ctx context.Context, l *Login, m *resources.ProjectMembership) error {
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateLogin(ctx, l); err != nil {
			return err
		}
		if m == nil {
			return nil
		}
		return s.signedIn(ctx, l, m)
	})
	if err == nil && m != nil {
		s.countSignIn(lo.Ternary(l.ClientID != "" && l.ClientID == l.UserID, SignInClient, SignInUser), true)
	}
	return err
}

// signedIn records that login l is now bound to membership m and tells
// OnSignIn of a User's sign-in, in the transaction that binds it.
func (s *Service) signedIn(ctx context.Context, l *Login, m *resources.ProjectMembership) error {
	if err := s.auditLogin(ctx, l, m); err != nil {
		return err
	}
	if s.OnSignIn == nil || (l.ClientID != "" && l.ClientID == l.UserID) {
		return nil
	}
	return s.OnSignIn(ctx, l, m)
}

// auditLoginFailure records a refused sign-in: in the project it asked
// for (when that project exists), else in every project of the User it
// named, else — an email no account has — in the super admin's Default
// project, so probing is seen.
func (s *Service) auditLoginFailure(ctx context.Context, email, projectID string, user *resources.User, reason string) {
	s.countSignIn(SignInUser, false) // every refused sign-in of a User is recorded here
	e := audit.Event{Act: audit.Login, Outcome: audit.MinorFailure, Reason: reason,
		Agent: &audit.Agent{Name: resources.EmailKey(email)}}
	var projects []string
	if user != nil {
		e.Agent = &audit.Agent{Who: &resources.Reference{Reference: "User/" + user.ID}, User: "User/" + user.ID, Name: resources.EmailKey(email)}
		e.Entities = []audit.Entity{audit.Ref("User/" + user.ID)}
	}
	_ = s.store.InTx(ctx, func(ctx context.Context) error {
		switch {
		case projectID != "" && s.projectExists(ctx, projectID):
			projects = []string{projectID}
		case user != nil:
			var err error
			if projects, err = audit.UserProjects(ctx, s.res, user.ID); err != nil {
				return err
			}
		}
		return audit.RecordEach(ctx, s.res, projects, e)
	})
}

// projectExists reports whether id names a project (a sign-in may name any).
func (s *Service) projectExists(ctx context.Context, id string) bool {
	_, err := s.res.Read(resources.AsSystem(ctx, ""), "Project", id)
	return err == nil
}

// auditClientFailure records a refused client_credentials grant of a
// client that exists, in its project.
func (s *Service) auditClientFailure(ctx context.Context, clientID, reason string) {
	s.countSignIn(SignInClient, false)
	client, err := s.readClient(ctx, clientID)
	if err != nil {
		return // no such client: nothing to file it under
	}
	ref := "ClientApplication/" + clientID
	_ = audit.Record(ctx, s.res, audit.Event{Act: audit.Login, Project: client.Base().Meta.Project, Outcome: audit.MinorFailure,
		Reason: reason, Agent: &audit.Agent{Who: &resources.Reference{Reference: ref}, User: ref}, Entities: []audit.Entity{audit.Ref(ref)}})
}

// rotateRefresh swaps a login's refresh token and records the refresh; a
// refresh token used twice is recorded as a refused refresh.
func (s *Service) rotateRefresh(ctx context.Context, l *Login, oldHash, newHash string, profile *resources.Reference) (bool, error) {
	var ok bool
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if ok, err = s.store.RotateRefresh(ctx, l.ID, oldHash, newHash); err != nil {
			return err
		}
		e := audit.Event{Act: audit.TokenRefresh, Project: l.ProjectID,
			Agent:    &audit.Agent{Who: profile, User: "User/" + l.UserID},
			Entities: []audit.Entity{{What: resources.Reference{Reference: "User/" + l.UserID}, Detail: []resources.AuditEventDetail{audit.Detail("login", l.ID)}}}}
		if !ok {
			e.Outcome, e.Reason = audit.MinorFailure, "Refresh token already used"
		}
		return audit.Record(ctx, s.res, e)
	})
	return ok, err
}

// auditRefreshFailure records a refused refresh of a known login (revoked
// or expired).
func (s *Service) auditRefreshFailure(ctx context.Context, l *Login, reason string) {
	_ = audit.Record(ctx, s.res, audit.Event{Act: audit.TokenRefresh, Project: l.ProjectID, Outcome: audit.MinorFailure, Reason: reason,
		Agent:    &audit.Agent{Who: &resources.Reference{Reference: "User/" + l.UserID}, User: "User/" + l.UserID},
		Entities: []audit.Entity{{What: resources.Reference{Reference: "User/" + l.UserID}, Detail: []resources.AuditEventDetail{audit.Detail("login", l.ID)}}}})
}

// logout revokes the caller's login and records the sign-out.
func (s *Service) logout(ctx context.Context, c *resources.Caller) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.RevokeLogin(ctx, c.LoginID); err != nil {
			return err
		}
		u := audit.Ref("User/" + c.UserID)
		u.Detail = []resources.AuditEventDetail{audit.Detail("login", c.LoginID)}
		return audit.Record(ctx, s.res, audit.Event{Act: audit.Logout, Project: c.Project, Entities: []audit.Entity{u}})
	})
}

// auditUser records an act about userID's account in the caller's project,
// or (no project in the context) in each project of the User.
func (s *Service) auditUser(ctx context.Context, e audit.Event, userID string) error {
	projects := []string{e.Project}
	if e.Project == "" {
		if c := resources.CallerFrom(ctx); c != nil && c.Project != "" {
			projects = []string{c.Project}
		} else {
			var err error
			if projects, err = audit.UserProjects(ctx, s.res, userID); err != nil {
				return err
			}
		}
	}
	e.Entities = append([]audit.Entity{audit.Ref("User/" + userID)}, e.Entities...)
	return audit.RecordEach(ctx, s.res, projects, e)
}

// auditPasswordChangeRefused records a wrong old password given to
// POST /auth/changepassword.
func (s *Service) auditPasswordChangeRefused(ctx context.Context, c *resources.Caller) {
	_ = s.auditUser(ctx, audit.Event{Act: audit.PasswordChange, Outcome: audit.MinorFailure, Reason: "Incorrect password"}, c.UserID)
}

// auditClientSecret records a new secret of a ClientApplication, in the
// caller's project or the client's own.
func (s *Service) auditClientSecret(ctx context.Context, clientID string) error {
	project := ""
	if c := resources.CallerFrom(ctx); c != nil {
		project = c.Project
	}
	if project == "" {
		if client, err := s.readClient(ctx, clientID); err == nil {
			project = client.Base().Meta.Project
		}
	}
	return audit.Record(ctx, s.res, audit.Event{Act: audit.ClientSecret, Project: project,
		Entities: []audit.Entity{audit.Ref("ClientApplication/" + clientID)}})
}

// linkProjects is where an act about link l is filed: its project, else
// its User's projects.
func (s *Service) linkProjects(ctx context.Context, l *Link) ([]string, error) {
	if l.ProjectID != "" {
		return []string{l.ProjectID}, nil
	}
	return audit.UserProjects(ctx, s.res, l.UserID)
}

func linkEntity(l *Link) audit.Entity {
	u := audit.Ref("User/" + l.UserID)
	u.Detail = []resources.AuditEventDetail{audit.Detail("link", l.ID), audit.Detail("kind", l.Kind)}
	return u
}

// auditLinkUse records the redemption of link id; ctx carries the
// transaction that consumed it.
func (s *Service) auditLinkUse(ctx context.Context, id string) error {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return nil
	}
	l, err := ls.GetLink(ctx, id)
	if err != nil {
		return err
	}
	projects, err := s.linkProjects(ctx, l)
	if err != nil {
		return err
	}
	return audit.RecordEach(ctx, s.res, projects, audit.Event{Act: audit.LinkUse,
		Agent: &audit.Agent{Who: &resources.Reference{Reference: "User/" + l.UserID}, User: "User/" + l.UserID}, Entities: []audit.Entity{linkEntity(l)}})
}

// auditLinkRefusal records that link id was not accepted (st says why). A
// link id that does not exist is filed in the Default project.
func (s *Service) auditLinkRefusal(ctx context.Context, id string, st LinkStatus) {
	e := audit.Event{Act: audit.LinkRefusal, Outcome: audit.MinorFailure, Reason: "Link " + string(st)}
	var projects []string
	if ls, ok := s.store.(LinkStore); ok {
		if l, err := ls.GetLink(ctx, id); err == nil {
			e.Agent = &audit.Agent{Who: &resources.Reference{Reference: "User/" + l.UserID}, User: "User/" + l.UserID}
			e.Entities = []audit.Entity{linkEntity(l)}
			if projects, err = s.linkProjects(ctx, l); err != nil {
				return
			}
		} else {
			e.Agent = &audit.Agent{Name: "unknown"}
			e.Entities = []audit.Entity{{Name: "link", Detail: []resources.AuditEventDetail{audit.Detail("link", id)}}}
		}
	}
	_ = audit.RecordEach(ctx, s.res, projects, e)
}

// LinkState tells what a link is without consuming it (see linkState),
// recording every refusal of a link presented with a secret.
func (s *Service) LinkState(ctx context.Context, id, secret string, kinds ...string) (LinkStatus, *Link, error) {
	st, l, err := s.linkState(ctx, id, secret, kinds...)
	if err == nil && st != LinkValid && id != "" && secret != "" {
		s.auditLinkRefusal(ctx, id, st)
	}
	return st, l, err
}

// auditLinkIssued records the request of a password-reset link; the
// links an invite sends are covered by the invite's own record.
func (s *Service) auditLinkIssued(ctx context.Context, l *Link) error {
	if l.Kind != LinkReset {
		return nil
	}
	projects, err := s.linkProjects(ctx, l)
	if err != nil {
		return err
	}
	e := audit.Event{Act: audit.ResetRequest, Entities: []audit.Entity{linkEntity(l)}}
	if c := resources.CallerFrom(ctx); c == nil || c.System {
		e.Agent = &audit.Agent{Who: &resources.Reference{Reference: "User/" + l.UserID}, User: "User/" + l.UserID}
	}
	return audit.RecordEach(ctx, s.res, projects, e)
}

// passwordAct is the act of setting a password through a link of kind.
func passwordAct(kind string) audit.Act {
	if kind == LinkReset {
		return audit.PasswordReset
	}
	return audit.PasswordSet
}
