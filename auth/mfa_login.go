package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// The second step of a password sign-in. A login whose user has a second
// factor, or must enroll one, is stored held: without its membership and
// without a code, so nothing — not /auth/profile, not the token endpoint —
// can make tokens of it until POST /auth/mfa/verify (or, to enroll,
// /auth/mfa/login-enroll) releases it. It is then completed as the
// password step would have been: bound to its one membership with a code,
// or answered with the memberships to choose from. A hold lasts CodeTTL.

// holdForMFA holds login l of user, whose password was right and whose
// memberships are mems, when a second factor is needed: it stores l held
// and answers what the client must do. nil: no second factor needed.
func (s *Service) holdForMFA(ctx context.Context, user *resources.User, mems []*resources.ProjectMembership, l *Login) (*LoginResponse, error) {
	ms, ok := s.store.(MFAStore)
	if !ok {
		return nil, nil
	}
	rec, err := mfaOf(ctx, ms, user.ID)
	if err != nil {
		return nil, err
	}
	out := &LoginResponse{Login: l.ID, MFARequired: enrolled(rec)}
	if !out.MFARequired {
		required, err := s.mfaRequired(ctx, user, mems)
		if err != nil || !required {
			return nil, err
		}
		out.MFAEnrollRequired = true
		if out.EnrollURI, out.EnrollQRCode, err = s.pendingSecret(ctx, ms, user); err != nil {
			return nil, err
		}
	}
	l.MembershipID = ""
	now := s.now().UTC()
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateLogin(ctx, l); err != nil {
			return err
		}
		return ms.HoldLoginForMFA(ctx, l.ID, now, now.Add(-CodeTTL))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// requireMFADone refuses a login still held for its second factor.
func (s *Service) requireMFADone(ctx context.Context, loginID string) error {
	ms, ok := s.store.(MFAStore)
	if !ok {
		return nil
	}
	held, err := ms.LoginHeldForMFA(ctx, loginID)
	if err != nil {
		return err
	}
	if held {
		return resources.Invalid("login", "Login requires MFA: POST /auth/mfa/verify first")
	}
	return nil
}

// heldLogin reads a login waiting for its second factor.
func (s *Service) heldLogin(ctx context.Context, ms MFAStore, loginID, token string) (*Login, error) {
	var issues []resources.Issue
	if strings.TrimSpace(loginID) == "" {
		issues = append(issues, errMFALoginMissing.Issues...)
	}
	if strings.TrimSpace(token) == "" {
		issues = append(issues, errMFATokenMissing.Issues...)
	}
	if len(issues) > 0 {
		e := resources.Invalids(issues)
		e.Code = "required"
		return nil, e
	}
	sess, err := s.store.Session(ctx, loginID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound) {
			return nil, errMFALoginNotHeld
		}
		return nil, err
	}
	l := &sess.Login
	held, err := ms.LoginHeldForMFA(ctx, l.ID)
	switch {
	case err != nil:
		return nil, err
	case !held || !l.RevokedAt.IsZero() || l.MembershipID != "" || l.ClientID != "" && l.ClientID == l.UserID:
		return nil, errMFALoginNotHeld
	case s.now().After(l.CreatedAt.Add(CodeTTL)):
		return nil, errMFALoginExpired
	}
	return l, nil
}

// VerifyMFA gives a held login its second factor: a code of the user's
// authenticator or one of its recovery codes. It answers what the
// password step would have: {login, code} or {login, memberships}.
func (s *Service) VerifyMFA(ctx context.Context, loginID, token string) (*LoginResponse, error) {
	return s.releaseHeld(ctx, loginID, token, func(ctx context.Context, ms MFAStore, l *Login) (*mfaProof, *attempt, error) {
		rec, err := mfaOf(ctx, ms, l.UserID)
		switch {
		case err != nil:
			return nil, nil, err
		case !enrolled(rec):
			return nil, nil, errMFANotEnrolled
		}
		return s.checkMFA(ctx, ms, rec, token, true)
	}, func(ctx context.Context, ms MFAStore, _ *Login, p *mfaProof) ([]string, error) {
		return nil, s.spend(ctx, ms, p)
	})
}

// LoginEnrollMFA enrolls the pending secret of a login held because its
// user must have a second factor, with the first code of its
// authenticator, and completes the login; the answer carries the recovery
// codes, shown this once.
func (s *Service) LoginEnrollMFA(ctx context.Context, loginID, token string) (*LoginResponse, error) {
	return s.releaseHeld(ctx, loginID, token, func(ctx context.Context, ms MFAStore, l *Login) (*mfaProof, *attempt, error) {
		return s.checkEnrollment(ctx, ms, l.UserID, token)
	}, func(ctx context.Context, ms MFAStore, l *Login, p *mfaProof) ([]string, error) {
		user := "User/" + l.UserID
		return s.enroll(ctx, ms, p, &audit.Agent{Who: &resources.Reference{Reference: user}, User: user})
	})
}

// releaseHeld runs the second step of held login loginID: check checks
// token, and use spends the proof (answering recovery codes, if it makes
// some) in the transaction that releases the login. A refusal is recorded
// as a refused sign-in.
func (s *Service) releaseHeld(ctx context.Context, loginID, token string,
	check func(context.Context, MFAStore, *Login) (*mfaProof, *attempt, error),
	use func(context.Context, MFAStore, *Login, *mfaProof) ([]string, error)) (*LoginResponse, error) {
	ms, err := s.mfaStore()
	if err != nil {
		return nil, err
	}
	l, err := s.heldLogin(ctx, ms, loginID, token)
	if err != nil {
		return nil, err
	}
	p, att, err := check(ctx, ms, l)
	var out *LoginResponse
	if err == nil {
		err = s.store.InTx(ctx, func(ctx context.Context) error {
			codes, err := use(ctx, ms, l, p)
			if err != nil {
				return err
			}
			if out, err = s.releaseLogin(ctx, ms, l); err != nil {
				return err
			}
			out.RecoveryCodes = codes
			return nil
		})
		att.settle(ctx, err)
	}
	if err != nil {
		s.auditMFAFailure(ctx, l, err)
		return nil, err
	}
	return out, nil
}

// releaseLogin ends l's hold, once, and completes it as Login would have,
// with the memberships the user has now, in the context's transaction.
func (s *Service) releaseLogin(ctx context.Context, ms MFAStore, l *Login) (*LoginResponse, error) {
	won, err := ms.ReleaseLoginForMFA(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, errMFALoginNotHeld
	}
	mems, err := s.Memberships(ctx, "User/"+l.UserID)
	if err != nil {
		return nil, err
	}
	if l.ProjectID != "" {
		mems = filter(mems, func(m *resources.ProjectMembership) bool { return m.Project.Reference == "Project/"+l.ProjectID })
	}
	out := &LoginResponse{Login: l.ID}
	switch len(mems) {
	case 0:
		return nil, resources.Invalid("login", "User has no active membership in this project")
	case 1:
		m := mems[0]
		out.Code = Secret()
		if err := s.store.SetLoginMembership(ctx, l.ID, m.ID, strings.TrimPrefix(m.Project.Reference, "Project/")); err != nil {
			return nil, err
		}
		if err := s.store.RotateCode(ctx, l.ID, HashSecret(out.Code)); err != nil {
			return nil, err
		}
		return out, s.signedIn(ctx, l, m)
	}
	for _, m := range mems {
		b, _ := json.Marshal(m)
		out.Memberships = append(out.Memberships, b)
	}
	return out, nil
}

// auditMFAFailure records a refused second factor of held login l as a
// refused sign-in; other errors (a throttled one too) are not recorded.
func (s *Service) auditMFAFailure(ctx context.Context, l *Login, err error) {
	e, ok := resources.AsError(err)
	if !ok || e.Kind != resources.KindInvalid {
		return
	}
	user, _, rerr := resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", l.UserID)
	if rerr != nil {
		return
	}
	s.auditLoginFailure(ctx, user.Email, l.ProjectID, user, "MFA: "+e.Message)
}

// RegisterMFA mounts the MFA routes (Medplum's): status, enroll and
// disable for a signed-in user; verify and login-enroll for a held login.
func (s *Service) RegisterMFA(e *echo.Echo) {
	req := s.Required()
	e.GET("/auth/mfa/status", s.handleMFAStatus, req)
	e.POST("/auth/mfa/enroll", s.handleMFAEnroll, req)
	e.POST("/auth/mfa/disable", s.handleMFADisable, req)
	e.POST("/auth/mfa/verify", s.handleMFAVerify)
	e.POST("/auth/mfa/login-enroll", s.handleMFALoginEnroll)
}

// mfaRequest is the body of the MFA routes.
type mfaRequest struct {
	Login  string `json:"login"`
	Token  string `json:"token"`
	Method string `json:"method"`
}

// noStore answers v, which holds a secret or a code: never cached.
func noStore(c echo.Context, v any) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

func (s *Service) handleMFAStatus(c echo.Context) error {
	ctx := c.Request().Context()
	out, err := s.MFAStatus(ctx, resources.CallerFrom(ctx))
	if err != nil {
		return err
	}
	return noStore(c, out)
}

// mfaCall decodes an MFA route's body and runs fn with it.
func mfaCall[Resp any](c echo.Context, fn func(ctx context.Context, req mfaRequest) (Resp, error)) error {
	var req mfaRequest
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Method != "" && req.Method != "totp" {
		return resources.Invalid("method", "method must be totp: the only second factor Roster has")
	}
	out, err := fn(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return noStore(c, out)
}

func (s *Service) handleMFAEnroll(c echo.Context) error {
	return mfaCall(c, func(ctx context.Context, req mfaRequest) (*MFAEnrolled, error) {
		return s.EnrollMFA(ctx, resources.CallerFrom(ctx), req.Token)
	})
}

func (s *Service) handleMFADisable(c echo.Context) error {
	return mfaCall(c, func(ctx context.Context, req mfaRequest) (*rest.OperationOutcome, error) {
		if err := s.DisableMFA(ctx, resources.CallerFrom(ctx), req.Token); err != nil {
			return nil, err
		}
		return rest.AllOK("MFA disabled"), nil
	})
}

func (s *Service) handleMFAVerify(c echo.Context) error {
	return mfaCall(c, func(ctx context.Context, req mfaRequest) (*LoginResponse, error) {
		return s.VerifyMFA(ctx, req.Login, req.Token)
	})
}

func (s *Service) handleMFALoginEnroll(c echo.Context) error {
	return mfaCall(c, func(ctx context.Context, req mfaRequest) (*LoginResponse, error) {
		return s.LoginEnrollMFA(ctx, req.Login, req.Token)
	})
}
