package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// BootstrapResult says what Bootstrap created.
type BootstrapResult struct {
	Created   bool
	ProjectID string
	UserID    string
	Email     string
	// GeneratedPassword is set when no password was configured; it is shown once.
	GeneratedPassword string
}

// FirstAdmin is the super admin Bootstrap creates on an empty database.
type FirstAdmin struct {
	email     string
	clear     string // the password, checked against the rules
	password  *auth.NewPassword
	generated bool
}

// NewFirstAdmin names the super admin; an empty email is admin@example.com
// and an empty password is generated (Bootstrap reports it, once).
func NewFirstAdmin(email, password string) *FirstAdmin {
	a := &FirstAdmin{email: resources.EmailKey(email), clear: password}
	if a.email == "" {
		a.email = "admin@example.com"
	}
	if a.clear == "" {
		a.clear, a.generated = auth.Secret()[:24], true
	}
	a.password = auth.PasswordToSet(a.clear)
	return a
}

// HashAhead starts the password's bcrypt hash, most of a first start's
// time, so it runs on the other core while the database opens and
// migrates.
func (a *FirstAdmin) HashAhead() { a.password.Start() }

// Bootstrap creates, on an empty database, the super admin, the Default
// project and the admin's membership. Several processes may start at once:
// the work runs in one locked transaction and is skipped once done.
func (s *Service) Bootstrap(ctx context.Context, admin *FirstAdmin) (*BootstrapResult, error) {
	out := &BootstrapResult{}
	email, password := admin.email, admin.clear
	sys := resources.AsSystem(ctx, "")
	err := s.res.InTx(sys, func(ctx context.Context) error {
		if err := s.res.Store().Lock(ctx, "roster-bootstrap"); err != nil {
			return err
		}
		projects, err := Search[*resources.Project](ctx, s.res, "", "Project", url.Values{"_count": {"1"}})
		if err != nil {
			return err
		}
		if len(projects) > 0 {
			return nil
		}
		if admin.generated {
			out.GeneratedPassword = password
		}
		// A configured password meets the rules every password meets; a
		// weak one stops the start with the reason.
		if e := auth.CheckPasswordRules("ROSTER_ADMIN_PASSWORD", password, email); e != nil {
			return fmt.Errorf("ROSTER_ADMIN_PASSWORD is refused: %s", e.Message)
		}
		p := &resources.Project{Name: "Default", Description: "Created at first start", SuperAdmin: ptr(true)}
		p.ResourceType = "Project"
		prec, err := s.res.CreateIn(ctx, p, "")
		if err != nil {
			return err
		}
		u := &resources.User{FirstName: "Super", LastName: "Admin", Email: email, Admin: ptr(true), EmailVerified: ptr(true)}
		u.ResourceType = "User"
		urec, err := s.res.CreateIn(ctx, u, prec.ID)
		if err != nil {
			return err
		}
		// The super admin owns the project, as Medplum's seed makes it: no
		// other admin of it can remove the super admin's membership.
		if err := json.Unmarshal(prec.Content, p); err != nil {
			return err
		}
		p.Owner, p.Meta = &resources.Reference{Reference: "User/" + urec.ID, Display: email}, nil
		if _, err := s.res.Update(ctx, p, prec.ID, prec.ETag()); err != nil {
			return err
		}
		prac := &resources.Practitioner{Name: []resources.HumanName{{Given: []string{"Super"}, Family: "Admin"}},
			Telecom: []resources.ContactPoint{{System: "email", Value: email}}}
		prac.ResourceType = "Practitioner"
		prRec, err := s.res.CreateIn(ctx, prac, prec.ID)
		if err != nil {
			return err
		}
		m := &resources.ProjectMembership{
			User:    resources.Reference{Reference: "User/" + urec.ID, Display: email},
			Profile: resources.Reference{Reference: "Practitioner/" + prRec.ID, Display: "Super Admin"},
			Admin:   ptr(true), Active: ptr(true),
		}
		m.ResourceType = "ProjectMembership"
		if _, err := s.res.CreateIn(ctx, m, prec.ID); err != nil {
			return err
		}
		if err := s.auth.SetNewPassword(ctx, urec.ID, admin.password, ""); err != nil {
			return err
		}
		out.Created, out.ProjectID, out.UserID, out.Email = true, prec.ID, urec.ID, email
		return nil
	})
	return out, err
}
