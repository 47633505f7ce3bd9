package medable

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
)

// ResetMinDuration is the least time a password-reset request takes, so
// that whether the account exists does not show in the timing.
var ResetMinDuration = 200 * time.Millisecond

// sendVerification issues a new email verification token (the older one
// dies) and mails it.
func (h *Handler) sendVerification(ctx context.Context, org *resources.Project, u *resources.User) error {
	return h.res.InTx(ctx, func(ctx context.Context) error {
		id, secret, err := h.auth.CreateLink(ctx, auth.LinkVerify, u.ID, org.ID, VerifyTTL, "")
		if err != nil {
			return err
		}
		token := linkToken(id, secret)
		return h.mail(ctx, org, mail.Message{Kind: "medable-verify", To: u.Email, Subject: "Verify your " + org.Name + " email address",
			Text: "Please verify the email address of your " + org.Name + " account.\n\n" +
				"Token: " + token + "\n\n" +
				"Your app verifies it with POST " + h.baseURL + "medable/" + org.ID + "/v2/token/" + token + "\n" +
				"The token works once, for " + hours(VerifyTTL) + ".\n"})
	})
}

// hours says a whole number of hours in words.
func hours(d time.Duration) string {
	if n := int(d.Hours()); n != 1 {
		return strconv.Itoa(n) + " hours"
	}
	return "1 hour"
}

// requestPasswordReset: POST /accounts/request-password-reset {email}.
// The answer is always the same; a one-hour reset token is mailed when the
// org has that account.
func (h *Handler) requestPasswordReset(c echo.Context) error {
	ctx, org := c.Request().Context(), orgOf(c)
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var v validation
	email := stringProp(body, "email", "email", &v)
	switch {
	case email == nil || strings.TrimSpace(*email) == "":
		v.add(ErrRequired, "email", "Required property")
	case resources.EmailProblem(*email) != nil:
		v.add(ErrEmailFormat, "email", emailReason(*email))
	}
	if err := v.err(); err != nil {
		return err
	}
	start := h.now()
	defer func() {
		if wait := ResetMinDuration - h.now().Sub(start); wait > 0 {
			time.Sleep(wait)
		}
	}()
	u, err := h.accountByEmail(ctx, org, resources.EmailKey(*email))
	if err != nil {
		return err
	}
	if u != nil {
		err = h.res.InTx(ctx, func(ctx context.Context) error {
			id, secret, err := h.auth.CreateLink(ctx, auth.LinkReset, u.ID, org.ID, auth.ResetLinkTTL, "")
			if err != nil {
				return err
			}
			return h.mail(ctx, org, mail.Message{Kind: "medable-reset", To: u.Email, Subject: "Reset your " + org.Name + " password",
				Text: "A password reset was requested for your " + org.Name + " account.\n\n" +
					"Choose a new password here (the link works once, for " + hours(auth.ResetLinkTTL) + "):\n" +
					h.auth.AppURL + "setpassword/" + id + "/" + secret + "\n\n" +
					"Or give your app this reset token:\n" +
					"Token: " + linkToken(id, secret) + "\n\n" +
					"If you did not ask for this, ignore this mail: your password stays as it is.\n"})
		})
		if err != nil {
			return err
		}
	}
	return ok(c)
}

// resetPassword: POST /accounts/reset-password {password, token}. The
// password rules are checked before the token is used; the new password
// ends every login of the account.
func (h *Handler) resetPassword(c echo.Context) error {
	ctx, org := c.Request().Context(), orgOf(c)
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var v validation
	password := stringProp(body, "password", "password", &v)
	token := stringProp(body, "token", "token", &v)
	checkPassword(&v, "password", password)
	if token == nil || strings.TrimSpace(*token) == "" {
		v.add(ErrRequired, "token", "Required property")
	}
	if err := v.err(); err != nil {
		return err
	}
	id, secret, okTok := parseToken(*token)
	if !okTok {
		return fault(ErrResetToken, "", "")
	}
	st, l, err := h.auth.LinkState(ctx, id, secret, auth.LinkReset)
	if err != nil {
		return err
	}
	if st != auth.LinkValid || l.ProjectID != org.ID {
		return fault(ErrResetToken, "", "")
	}
	if err := h.auth.SetPasswordWithLink(ctx, id, secret, *password); err != nil {
		if resources.IsKind(err, resources.KindInvalid) {
			return fault(ErrResetToken, "", "")
		}
		return err
	}
	return ok(c)
}

// updatePassword: POST /accounts/me/update-password {current, password}.
// The session stays; the account's other logins end.
func (h *Handler) updatePassword(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var v validation
	current := stringProp(body, "current", "current", &v)
	password := stringProp(body, "password", "password", &v)
	if current == nil || *current == "" {
		v.add(ErrRequired, "current", "Required property")
	}
	checkPassword(&v, "password", password)
	if err := v.err(); err != nil {
		return err
	}
	if *current == *password {
		return fault(ErrDuplicatePassword, "", "password")
	}
	if err := h.auth.ChangePassword(ctx, resources.CallerFrom(ctx), *current, *password); err != nil {
		if e, ok := resources.AsError(err); ok && e.Kind == resources.KindInvalid {
			if len(e.Issues) > 0 && e.Issues[0].Expression == "oldPassword" {
				return fault(ErrBadPassword, "", "current")
			}
			return fault(ErrPasswordStrength, e.Message, "password")
		}
		return err
	}
	return ok(c)
}

// verifyEmail: POST /token/{token}, or POST /token {token}: marks the
// account's email verified.
func (h *Handler) verifyEmail(c echo.Context) error {
	ctx, org := c.Request().Context(), orgOf(c)
	token := c.Param("token")
	if token == "" {
		body, err := decodeObject(c)
		if err != nil {
			return err
		}
		var v validation
		if t := stringProp(body, "token", "token", &v); t != nil {
			token = *t
		}
		if err := v.err(); err != nil {
			return err
		}
	}
	id, secret, okTok := parseToken(token)
	if !okTok {
		return fault(ErrAccountToken, "", "")
	}
	st, l, err := h.auth.LinkState(ctx, id, secret, auth.LinkVerify)
	if err != nil {
		return err
	}
	if st != auth.LinkValid || l.ProjectID != org.ID {
		return fault(ErrAccountToken, "", "")
	}
	a, err := h.load(ctx, org, l.UserID)
	if err != nil {
		return fault(ErrAccountToken, "", "")
	}
	err = h.res.InTx(ctx, func(ctx context.Context) error {
		if _, err := h.auth.RedeemLink(ctx, id, secret, auth.LinkVerify); err != nil {
			return fault(ErrAccountToken, "", "")
		}
		return h.save(ctx, a, props{}, lo.ToPtr(true))
	})
	if err != nil {
		return err
	}
	return ok(c)
}

// resendVerification: POST /accounts/me/resend-verification mails a new
// token; the previous one stops working.
func (h *Handler) resendVerification(c echo.Context) error {
	a, err := h.target(c)
	if err != nil {
		return err
	}
	if a.user.EmailVerified != nil && *a.user.EmailVerified {
		return fault(ErrAlreadyVerified, "", "")
	}
	if err := h.sendVerification(c.Request().Context(), orgOf(c), a.user); err != nil {
		return err
	}
	return ok(c)
}
