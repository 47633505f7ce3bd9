package auth

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strings"
	ttemplate "text/template"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// ResetLinkTTL is how long a password-reset link works.
var ResetLinkTTL = time.Hour

// ResetPasswordMinDuration is the least time POST /auth/resetpassword takes,
// whether or not the account exists, so its timing does not tell.
var ResetPasswordMinDuration = 200 * time.Millisecond

// RegisterPasswords mounts the password routes: the set-password and
// reset-password API and the set-password page the emailed links open.
func (s *Service) RegisterPasswords(e *echo.Echo) {
	e.POST("/auth/setpassword", s.handleSetPassword)
	e.POST("/auth/resetpassword", s.handleResetPassword)
	s.registerPages(e)
}

// SetPasswordRequest is the body of POST /auth/setpassword.
type SetPasswordRequest struct {
	ID       string `json:"id"`
	Secret   string `json:"secret"`
	Password string `json:"password"`
}

// SetPasswordWithLink redeems a set-password or reset link and gives its
// user the new password, ending every existing login of that user. The
// password rules are checked first, so a too-short password does not use up
// the link. Consuming the link, storing the password and ending the logins
// are one transaction: of concurrent redemptions exactly one wins.
func (s *Service) SetPasswordWithLink(ctx context.Context, id, secret, password string) error {
	var issues []resources.Issue
	if e := CheckPasswordRules("password", password); e != nil {
		issues = append(issues, e.Issues...)
	}
	if strings.TrimSpace(id) == "" {
		issues = append(issues, resources.Issue{Code: "required", Expression: "id", Message: "Missing id"})
	}
	if strings.TrimSpace(secret) == "" {
		issues = append(issues, resources.Issue{Code: "required", Expression: "secret", Message: "Missing secret"})
	}
	if len(issues) > 0 {
		return resources.Invalids(issues)
	}
	// Checked outside the transaction so a wrong secret stays counted.
	st, l, err := s.LinkState(ctx, id, secret, LinkSetPassword, LinkReset)
	if err != nil {
		return err
	}
	if st != LinkValid {
		return st.Err()
	}
	// The rules again, now that the account is known: the password must
	// not lean on its email or names. The link stays unused.
	if e := CheckPasswordRules("password", password, s.userFacts(ctx, l.UserID)...); e != nil {
		return e
	}
	hash, err := HashPassword(password) // slow: not while holding the transaction
	if err != nil {
		return err
	}
	ls := s.store.(LinkStore)
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.useLink(ctx, l.ID); err != nil {
			return err
		}
		if s.OnLinkUsed != nil {
			if err := s.OnLinkUsed(ctx, l); err != nil {
				return err
			}
		}
		if err := s.store.SetPasswordHash(ctx, l.UserID, hash); err != nil {
			return err
		}
		// Other outstanding password links are moot now.
		for _, kind := range []string{LinkSetPassword, LinkReset} {
			if err := ls.RevokeLinks(ctx, l.UserID, kind); err != nil {
				return err
			}
		}
		if err := s.store.RevokeUserLogins(ctx, l.UserID, ""); err != nil {
			return err
		}
		projects, err := s.linkProjects(ctx, l)
		if err != nil {
			return err
		}
		return audit.RecordEach(ctx, s.res, projects, audit.Event{Act: passwordAct(l.Kind),
			Agent: &audit.Agent{Who: &resources.Reference{Reference: "User/" + l.UserID}, User: "User/" + l.UserID}, Entities: []audit.Entity{linkEntity(l)}})
	})
}

func (s *Service) handleSetPassword(c echo.Context) error {
	var req SetPasswordRequest
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if err := s.SetPasswordWithLink(c.Request().Context(), req.ID, req.Secret, req.Password); err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, rest.AllOK("Password set"))
}

// ResetPasswordRequest is the body of POST /auth/resetpassword.
type ResetPasswordRequest struct {
	Email     string `json:"email"`
	ProjectID string `json:"projectId"`
}

// ResetPassword mails a one-hour reset link when the account exists and
// does nothing visible otherwise: the caller learns nothing about which
// emails have accounts. The link and the mail are one transaction.
func (s *Service) ResetPassword(ctx context.Context, req ResetPasswordRequest) error {
	email, err := resources.NormalizeEmail(req.Email)
	if err != nil {
		return resources.Invalid("email", "%s", err)
	}
	// Every request counts, known email or not: each may send a mail.
	att, err := s.beginAttempt(ctx, throttleReset, email, audit.Address(ctx))
	if err != nil {
		return err
	}
	att.fail(ctx)
	start := s.now()
	defer func() {
		if wait := ResetPasswordMinDuration - s.now().Sub(start); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}()
	user, err := s.FindUser(ctx, email, req.ProjectID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return s.resetDecoy(ctx)
		}
		return err
	}
	// A user without an active membership (there, when a project is
	// named) is a disabled account: it gets the unknown email's answer.
	mems, err := s.Memberships(ctx, "User/"+user.ID)
	if err != nil {
		return err
	}
	if req.ProjectID != "" {
		mems = filter(mems, func(m *resources.ProjectMembership) bool { return m.Project.Reference == "Project/"+req.ProjectID })
	}
	if len(mems) == 0 {
		return s.resetDecoy(ctx)
	}
	projectID := s.resetProject(user, req.ProjectID, mems)
	return s.store.InTx(ctx, func(ctx context.Context) error {
		id, secret, err := s.CreateLink(ctx, LinkReset, user.ID, projectID, ResetLinkTTL, "")
		if err != nil {
			return err
		}
		if s.Mail == nil {
			return nil
		}
		m, err := resetMessage(s.AppURL+"setpassword/"+id+"/"+secret, email)
		if err != nil {
			return err
		}
		m.ProjectID = projectID
		return s.Mail.Enqueue(ctx, m)
	})
}

// resetProject is the project a reset mail is filed under, so that
// project's admins see its delivery: the one asked for, else the user's own
// project, else the project of the user's only membership.
func (s *Service) resetProject(user *resources.User, asked string, mems []*resources.ProjectMembership) string {
	if asked != "" {
		return asked
	}
	if user.Project != nil {
		return strings.TrimPrefix(user.Project.Reference, "Project/")
	}
	if len(mems) != 1 {
		return ""
	}
	return strings.TrimPrefix(mems[0].Project.Reference, "Project/")
}

// resetDecoy does the database round trips a real reset does, writing
// nothing, so an unknown email answers in comparable time.
func (s *Service) resetDecoy(ctx context.Context) error {
	ls, ok := s.store.(LinkStore)
	if !ok {
		return nil
	}
	_ = HashSecret(Secret())
	if _, err := s.Memberships(ctx, "User/"+uuid.NewString()); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		ghost := uuid.NewString()
		if err := ls.RevokeLinks(ctx, ghost, LinkReset); err != nil {
			return err
		}
		_, _ = ls.GetLink(ctx, ghost)
		return nil
	})
}

func (s *Service) handleResetPassword(c echo.Context) error {
	var req ResetPasswordRequest
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.ResetPassword(c.Request().Context(), req); err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, rest.AllOK("If an account exists for this email, a password reset link has been sent."))
}

var resetText = ttemplate.Must(ttemplate.New("reset").Parse(`Someone (hopefully you) asked to reset the password of the Roster account {{.Email}}.

To choose a new password, open this link within one hour:

{{.Link}}

If you did not ask for this, ignore this email: your password stays as it is.
`))

var resetHTML = template.Must(template.New("reset").Parse(`<!doctype html>
<html lang="en"><body>
<p>Someone (hopefully you) asked to reset the password of the Roster account <strong>{{.Email}}</strong>.</p>
<p>To choose a new password, open this link within one hour:</p>
<p><a href="{{.Link}}">Choose a new password</a></p>
<p>Or copy this address into your browser: {{.Link}}</p>
<p>If you did not ask for this, ignore this email: your password stays as it is.</p>
</body></html>
`))

func resetMessage(link, email string) (mail.Message, error) {
	data := struct{ Email, Link string }{email, link}
	var text, html bytes.Buffer
	if err := resetText.Execute(&text, data); err != nil {
		return mail.Message{}, err
	}
	if err := resetHTML.Execute(&html, data); err != nil {
		return mail.Message{}, err
	}
	return mail.Message{Kind: "reset", To: email, Subject: "Reset your Roster password", Text: text.String(), HTML: html.String()}, nil
}
