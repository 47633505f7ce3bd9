package medable

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
)

// location is the login body's location object.
type location struct {
	token     string
	name      string
	singleUse bool
}

// locationOf reads a location object (absent or null is none).
func locationOf(raw json.RawMessage) (location, error) {
	var out location
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var l struct {
		VerificationToken json.RawMessage `json:"verificationToken"`
		LocationName      string          `json:"locationName"`
		SingleUse         bool            `json:"singleUse"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return out, fault(ErrInvalidArgument, "location must be an object", "location")
	}
	// A code typed as a number is taken as the digits it is.
	if t := l.VerificationToken; len(t) > 0 && string(t) != "null" {
		var s string
		if json.Unmarshal(t, &s) != nil {
			s = string(t)
		}
		out.token = strings.TrimSpace(s)
	}
	out.name, out.singleUse = strings.TrimSpace(l.LocationName), l.SingleUse
	if len(out.name) > 100 {
		out.name = out.name[:100]
	}
	return out, nil
}

// login: POST /accounts/login {email, password, location?} → the account,
// with a session cookie. When the org requires login verification, an
// unknown location is refused with kNewLocation (status 200, as Medable
// documents) and a 6-digit code is mailed; the retry carrying
// location.verificationToken signs in and remembers the location unless
// location.singleUse.
func (h *Handler) login(c echo.Context) error {
	org := orgOf(c)
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var v validation
	email := stringProp(body, "email", "email", &v)
	password := stringProp(body, "password", "password", &v)
	if email == nil || strings.TrimSpace(*email) == "" {
		v.add(ErrRequired, "email", "Required property")
	}
	if password == nil || *password == "" {
		v.add(ErrRequired, "password", "Required property")
	}
	loc, err := locationOf(body["location"])
	if err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	a, err := h.signIn(c, org, resources.EmailKey(*email), *password, loc, false)
	if err != nil {
		return err
	}
	return h.answer(c, a)
}

// signIn signs in through the core login, with Medable's account lock and
// the location as the core's device, and starts a session. trusted (a
// fresh registration) remembers the location without a code. The core's
// answers come back in Medable's words: an unknown location is kNewLocation
// (its code just mailed) or kUnverifiedLocation (one still pending), a
// refused code a locationToken fault, an account with a second factor
// (which Medable's login cannot carry) kAccessDenied.
func (h *Handler) signIn(c echo.Context, org *resources.Project, email, password string, loc location, trusted bool) (*account, error) {
	ctx := c.Request().Context()
	resp, err := h.auth.Login(ctx, auth.LoginRequest{Email: email, Password: password, ProjectID: org.ID,
		VerificationCode: loc.token, RememberDevice: lo.ToPtr(!loc.singleUse), DeviceName: loc.name,
		Device: func() string { return h.fingerprint(c) }, TrustDevice: trusted, Lockout: AccountLock},
		c.RealIP(), c.Request().UserAgent())
	if err != nil {
		return nil, loginFault(err)
	}
	switch {
	case resp.VerificationSent:
		return nil, fault(ErrNewLocation, "", "")
	case resp.VerificationRequired:
		return nil, fault(ErrUnverifiedLocation, "A verification code was sent: sign in again with location.verificationToken", "")
	case resp.MFARequired, resp.MFAEnrollRequired:
		// Medable's login has no field for an authenticator's code; the
		// password was right, so saying so tells nothing a guesser could use.
		return nil, fault(ErrAccessDenied, "This account signs in with a second factor, which this API cannot take: "+
			"sign in through /auth/login or the sign-in page", "")
	}
	code := resp.Code
	if code == "" && len(resp.Memberships) > 0 {
		// Several memberships in the org: the first one is the account's.
		var m struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(resp.Memberships[0], &m)
		chosen, err := h.auth.ChooseProfile(ctx, resp.Login, m.ID, nil)
		if err != nil {
			return nil, err
		}
		code = chosen.Code
	}
	tr, err := h.auth.Exchange(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}}, "", "")
	if err != nil {
		return nil, err
	}
	cl, err := h.auth.Authenticate(ctx, tr.AccessToken)
	if err != nil {
		return nil, err
	}
	h.setSession(c, tr.AccessToken, time.Duration(tr.ExpiresIn)*time.Second)
	return h.load(ctx, org, cl.UserID)
}

// loginFault is a refused core login as Medable's fault: a refused
// location code as locationToken (on location.verificationToken), any
// other refusal of the credentials as invalidCredentials. The account lock
// and the throttle (429) pass as they are.
func loginFault(err error) error {
	const tokenPath = "location.verificationToken"
	switch {
	case errors.Is(err, auth.ErrNoPendingCode):
		return fault(ErrLocationToken, "No verification code is pending for this location: sign in without one to get a code", tokenPath)
	case errors.Is(err, auth.ErrCodeExhausted):
		return fault(ErrLocationToken, "Too many wrong codes: sign in without one to get a new code", tokenPath)
	case errors.Is(err, auth.ErrCodeExpired):
		return fault(ErrLocationTokenExpired, "", tokenPath)
	case errors.Is(err, auth.ErrWrongCode):
		return fault(ErrLocationToken, "", tokenPath)
	case resources.IsKind(err, resources.KindInvalid):
		return fault(ErrInvalidCredentials, "", "")
	}
	return err
}

// logout: POST /accounts/me/logout ends the session's login at once.
func (h *Handler) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if err := h.auth.Logout(ctx, resources.CallerFrom(ctx)); err != nil {
		return err
	}
	h.clearSession(c)
	return ok(c)
}

// mail queues a message of the org in the context's transaction.
func (h *Handler) mail(ctx context.Context, org *resources.Project, m mail.Message) error {
	if h.admin.Mail == nil {
		return nil
	}
	m.ProjectID = org.ID
	return h.admin.Mail.Enqueue(ctx, m)
}
