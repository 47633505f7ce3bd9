package medable

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
)

// register: POST /accounts/register. Every property is validated (all
// faults at once); the account starts unverified and is mailed a
// verification token, and the answer is the account with a new session.
// With an invite token the invited account is completed instead: its
// membership is joined, not duplicated, and its email counts as verified
// (the token was mailed to it).
func (h *Handler) register(c echo.Context) error {
	ctx, org := c.Request().Context(), orgOf(c)
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var v validation
	name := map[string]json.RawMessage{}
	if raw, ok := body["name"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &name) != nil || name == nil {
			v.add(ErrInvalidArgument, "account.name", "The name must be an object with first and last")
			name = map[string]json.RawMessage{}
		}
	}
	p := props{
		first: stringProp(name, "first", "account.name.first", &v), last: stringProp(name, "last", "account.name.last", &v),
		mobile: stringProp(body, "mobile", "account.mobile", &v), dob: stringProp(body, "dob", "account.dob", &v),
		gender: stringProp(body, "gender", "account.gender", &v), tz: stringProp(body, "tz", "account.tz", &v),
	}
	email := stringProp(body, "email", "account.email", &v)
	password := stringProp(body, "password", "account.password", &v)
	checkName(&v, "account.name.first", p.first, true)
	checkName(&v, "account.name.last", p.last, true)
	switch {
	case email == nil || strings.TrimSpace(*email) == "":
		v.add(ErrRequired, "account.email", "Required property")
	case resources.EmailProblem(*email) != nil:
		v.add(ErrEmailFormat, "account.email", emailReason(*email))
	}
	checkPassword(&v, "account.password", password)
	checkProps(&v, &p, h.now())
	token := tokenOf(body["token"])
	loc, err := locationOf(body["location"])
	if err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	addr := resources.EmailKey(*email)
	if token != "" {
		err = h.registerInvited(ctx, org, token, addr, *password, p)
	} else {
		err = h.registerNew(ctx, org, addr, *password, p)
	}
	if err != nil {
		return err
	}
	a, err := h.signIn(c, org, addr, *password, loc, true)
	if err != nil {
		return err
	}
	return h.answer(c, a)
}

// checkPassword applies Roster's password rules as Medable's strength fault.
func checkPassword(v *validation, path string, pw *string) {
	if pw == nil || *pw == "" {
		v.add(ErrRequired, path, "Required property")
		return
	}
	if e := auth.CheckPasswordRules("password", *pw); e != nil {
		v.add(ErrPasswordStrength, path, e.Message)
	}
}

// registerNew creates the account through the core invite: a User scoped to
// the org with the password, a Patient profile and a membership.
func (h *Handler) registerNew(ctx context.Context, org *resources.Project, email, password string, p props) error {
	return h.res.InTx(ctx, func(ctx context.Context) error {
		if err := h.res.Store().Lock(ctx, "medable|account|"+org.ID+"|"+email); err != nil {
			return err
		}
		if u, err := h.accountByEmail(ctx, org, email); err != nil {
			return err
		} else if u != nil {
			return fault(ErrDuplicateEmail, "", "account.email")
		}
		res, err := h.admin.InviteUser(admin.AsAuthor(ctx, org.ID), org.ID, admin.InviteRequest{
			ResourceType: "Patient", FirstName: *p.first, LastName: *p.last, Email: email, Password: password,
			SendEmail: lo.ToPtr(false), Scope: admin.ScopeProject,
		})
		if err != nil {
			if resources.IsKind(err, resources.KindConflict) {
				return fault(ErrDuplicateEmail, "", "account.email")
			}
			return err
		}
		if !res.UserCreated {
			// An org user left without a membership gets the new password too.
			if err := h.auth.SetPassword(ctx, res.User.ID, password, ""); err != nil {
				return err
			}
		}
		a := &account{user: res.User, membership: res.Membership, profile: res.Profile}
		if err := h.save(ctx, a, p, lo.ToPtr(false)); err != nil {
			return err
		}
		return h.sendVerification(ctx, org, a.user)
	})
}

// registerInvited completes an invited account with the set-password
// token of its invite.
func (h *Handler) registerInvited(ctx context.Context, org *resources.Project, token, email, password string, p props) error {
	bad := func(reason string) error { return fault(ErrConnectionToken, reason, "account.token") }
	id, secret, ok := parseToken(token)
	if !ok {
		return bad("")
	}
	st, l, err := h.auth.LinkState(ctx, id, secret, auth.LinkSetPassword)
	if err != nil {
		return err
	}
	if st != auth.LinkValid || l.ProjectID != org.ID {
		return bad("The invitation is invalid, expired or already used")
	}
	a, err := h.load(ctx, org, l.UserID)
	if err != nil {
		return bad("The invitation is invalid, expired or already used")
	}
	if resources.EmailKey(a.user.Email) != email {
		return bad("The invitation was sent to another email address")
	}
	return h.res.InTx(ctx, func(ctx context.Context) error {
		if err := h.auth.SetPasswordWithLink(ctx, id, secret, password); err != nil {
			if resources.IsKind(err, resources.KindInvalid) {
				return bad("The invitation is invalid, expired or already used")
			}
			return err
		}
		return h.save(ctx, a, p, lo.ToPtr(true))
	})
}

// tokenOf reads a token given as a string or as {"token": "…"}.
func tokenOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return strings.TrimSpace(obj.Token)
	}
	return ""
}

// parseToken splits a token into its link id and secret. Tokens this
// dialect mails are "{id}.{secret}"; the invite's set-password link
// ("…/setpassword/{id}/{secret}") or its "{id}/{secret}" tail work too.
func parseToken(token string) (id, secret string, ok bool) {
	token = strings.TrimSpace(token)
	if strings.Contains(token, "/") {
		parts := strings.Split(strings.TrimRight(token, "/"), "/")
		if len(parts) < 2 {
			return "", "", false
		}
		id, secret = parts[len(parts)-2], parts[len(parts)-1]
	} else {
		id, secret, _ = strings.Cut(token, ".")
	}
	return id, secret, id != "" && secret != ""
}

// linkToken is the token a mail carries for a link.
func linkToken(id, secret string) string { return id + "." + secret }

// emailReason is the reason of an emailFormat fault: Medable's words for a
// malformed address, the core's for one refused otherwise.
func emailReason(email string) string {
	if e := resources.EmailProblem(email); e != nil && !e.Malformed {
		return e.Error()
	}
	return "Invalid email address format"
}
