package medable

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
	a, err := h.signIn(c, org, resources.Fold(*email), *password, loc, false)
	if err != nil {
		return err
	}
	return h.answer(c, a)
}

// signIn checks the password through the core login, applies the throttle
// and location verification, and starts a session. trusted (a fresh
// registration) remembers the location without a code.
func (h *Handler) signIn(c echo.Context, org *resources.Project, email, password string, loc location, trusted bool) (*account, error) {
	ctx := c.Request().Context()
	now := h.now()
	key := org.ID + "|" + email
	n, since, err := h.store.MedableLoginFailures(ctx, key)
	if err != nil {
		return nil, err
	}
	if until := since.Add(LoginFailureWindow); n >= MaxLoginFailures && now.Before(until) {
		e := fault(ErrThrottled, "Too many failed login attempts: try again later", "")
		e.RetryAfter = int(math.Ceil(until.Sub(now).Seconds()))
		return nil, e
	}
	resp, err := h.auth.Login(ctx, auth.LoginRequest{Email: email, Password: password, ProjectID: org.ID}, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		if resources.IsKind(err, resources.KindInvalid) {
			if err := h.store.AddMedableLoginFailure(ctx, key, now, LoginFailureWindow); err != nil {
				return nil, err
			}
			return nil, fault(ErrInvalidCredentials, "", "")
		}
		return nil, err
	}
	if err := h.store.ClearMedableLoginFailures(ctx, key); err != nil {
		return nil, err
	}
	code := resp.Code
	if code == "" && len(resp.Memberships) > 0 {
		// Several memberships in the org: the first one is the account's.
		var m struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(resp.Memberships[0], &m)
		chosen, err := h.auth.ChooseProfile(ctx, resp.Login, m.ID)
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
	if requiresVerification(org) {
		if err := h.checkLocation(c, org, cl.UserID, email, loc, trusted); err != nil {
			if lerr := h.auth.Logout(ctx, cl); lerr != nil {
				return nil, lerr
			}
			return nil, err
		}
	}
	h.setSession(c, tr.AccessToken, time.Duration(tr.ExpiresIn)*time.Second)
	return h.load(ctx, org, cl.UserID)
}

// requiresVerification reads the org's login-verification switch.
func requiresVerification(org *resources.Project) bool {
	var on bool
	return resources.ExtensionValue(org.Extension, ExtLoginVerification, "valueBoolean", &on) && on
}

// checkLocation lets a known location in, verifies a code, or mails one.
func (h *Handler) checkLocation(c echo.Context, org *resources.Project, userID, email string, loc location, trusted bool) error {
	ctx := c.Request().Context()
	now := h.now()
	fp := auth.HashSecret(h.fingerprint(c))
	cur, err := h.store.MedableLocation(ctx, userID, org.ID, fp)
	if err != nil {
		if !resources.IsKind(err, resources.KindNotFound) {
			return err
		}
		cur = nil
	}
	const tokenPath = "location.verificationToken"
	switch {
	case cur != nil && !cur.VerifiedAt.IsZero():
		return h.store.TouchMedableLocation(ctx, cur.ID, now)
	case trusted:
		return h.store.PutMedableLocation(ctx, &Location{UserID: userID, ProjectID: org.ID, FingerprintHash: fp,
			Name: loc.name, CreatedAt: now, VerifiedAt: now, LastUsedAt: now})
	case loc.token != "":
		switch {
		case cur == nil || cur.CodeHash == "":
			return fault(ErrLocationToken, "No verification code is pending for this location: sign in without one to get a code", tokenPath)
		case cur.CodeFailures >= MaxCodeFailures:
			return fault(ErrLocationToken, "Too many wrong codes: sign in without one to get a new code", tokenPath)
		case !now.Before(cur.CodeExpiresAt):
			return fault(ErrLocationTokenExpired, "", tokenPath)
		}
		won, err := h.store.UseMedableLocationCode(ctx, cur.ID, codeHash(fp, loc.token), now, MaxCodeFailures, !loc.singleUse)
		if err != nil {
			return err
		}
		if !won {
			if err := h.store.FailMedableLocationCode(ctx, cur.ID); err != nil {
				return err
			}
			return fault(ErrLocationToken, "", tokenPath)
		}
		return nil
	case cur != nil && cur.CodeHash != "" && now.Before(cur.CodeExpiresAt) && cur.CodeFailures < MaxCodeFailures:
		return fault(ErrUnverifiedLocation, "A verification code was sent: sign in again with location.verificationToken", "")
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	err = h.res.InTx(ctx, func(ctx context.Context) error {
		if err := h.store.PutMedableLocation(ctx, &Location{UserID: userID, ProjectID: org.ID, FingerprintHash: fp,
			Name: loc.name, CodeHash: codeHash(fp, code), CodeExpiresAt: now.Add(LocationCodeTTL), CreatedAt: now}); err != nil {
			return err
		}
		where := ""
		if loc.name != "" {
			where = " (" + loc.name + ")"
		}
		return h.mail(ctx, org, mail.Message{Kind: "medable-location", To: email,
			Subject: "Your " + org.Name + " verification code",
			Text: fmt.Sprintf("Your %s verification code is %s. It expires in %d minutes.\n\n"+
				"Someone signed in to your account from a new location%s. Enter this code to let it in.\n"+
				"If it was not you, change your password now.\n", org.Name, code, int(LocationCodeTTL.Minutes()), where)})
	})
	if err != nil {
		return err
	}
	return fault(ErrNewLocation, "", "")
}

// codeHash binds a location code to its location.
func codeHash(fingerprintHash, code string) string {
	return auth.HashSecret(fingerprintHash + ":" + code)
}

// sixDigits is a uniformly random 6-digit code.
func sixDigits() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
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
