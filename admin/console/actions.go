package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// action is one thing an admin may do to a member: each is confirmed
// first (a dialog with the script, a page without) and is one call of the
// admin API.
type action struct {
	Name, Label string
	// Confirm asks; Button confirms; Done is said once it is done.
	Confirm, Button, Done string
	Danger                bool
}

var actions = map[string]action{
	"resend": {Name: "resend", Label: "Resend invitation", Confirm: "Send the invitation again? A new link is mailed and the old one stops working.",
		Button: "Resend", Done: "The invitation was sent again; the old link no longer works."},
	"link": {Name: "link", Label: "Copy a fresh link", Confirm: "Make a fresh one-time link to hand over yourself? Any link sent before stops working; nothing is mailed.",
		Button: "Make a link", Done: "A fresh link was made; any link sent before no longer works."},
	"revoke": {Name: "revoke", Label: "Revoke invitation", Confirm: "Revoke the invitation? Its link stops working, and the membership is deactivated if the invitee never signed in.",
		Button: "Revoke", Done: "The invitation was revoked.", Danger: true},
	"deactivate": {Name: "deactivate", Label: "Deactivate", Confirm: "Deactivate this membership? The member's sign-ins and tokens stop working for this project at once.",
		Button: "Deactivate", Done: "The membership was deactivated.", Danger: true},
	"reactivate": {Name: "reactivate", Label: "Reactivate", Confirm: "Reactivate this membership? The member can sign in to this project again.",
		Button: "Reactivate", Done: "The membership was reactivated."},
	"email": {Name: "email", Label: "Change email", Confirm: "Change the email this member signs in with. Roster changes it everywhere the user appears.",
		Button: "Change email", Done: "The email was changed."},
	"mfa-reset": {Name: "mfa-reset", Label: "Reset MFA", Confirm: "Reset this member's second factor? Their authenticator and recovery codes stop working; they set up a new one at their next sign-in if it is required.",
		Button: "Reset MFA", Done: "The member's second factor was reset.", Danger: true},
	"remove": {Name: "remove", Label: "Remove from project", Confirm: "Remove this member from the project? The membership is deleted; an account that belongs to this project alone is deleted with it.",
		Button: "Remove", Done: "The member was removed from the project.", Danger: true},
}

// order is the order actions are offered in.
var order = []string{"resend", "link", "revoke", "deactivate", "reactivate", "email", "mfa-reset", "remove"}

// notices are what the members table says after an action without the
// script (by its name in ?notice=).
var notices = func() map[string]string {
	out := map[string]string{"invited": "The invitation was sent; the new member is pending.",
		"invited-link": "The member was invited; hand over the link below."}
	for name, a := range actions {
		out[name] = a.Done
	}
	return out
}()

// state is what decides a member's actions.
type state struct {
	invitation          string
	active, owner, user bool
}

// actionLink is an action offered for a member.
type actionLink struct {
	action
	URL string
}

// actionsFor lists the actions member's state allows, each linking to its
// confirmation (which returns to back).
func (c *Console) actionsFor(projectID, member string, st state, back string) []actionLink {
	open := st.invitation == "pending" || st.invitation == "expired"
	allowed := map[string]bool{"resend": open, "link": open, "revoke": open, "deactivate": st.active && !st.owner,
		"reactivate": !st.active, "email": st.user, "mfa-reset": st.user, "remove": !st.owner}
	var out []actionLink
	for _, name := range order {
		if allowed[name] {
			out = append(out, actionLink{actions[name], c.url("projects/"+projectID+"/members/"+member+"/"+name) + "?back=" + url.QueryEscape(back)})
		}
	}
	return out
}

// confirmView is the confirmation page's own view.
type confirmView struct {
	Action action
	URL    string
	Back   string
	Email  string
	Errors map[string]string
}

// handleConfirm asks to confirm an action (the page the script replaces
// with a dialog).
func (c *Console) handleConfirm(ec echo.Context) error {
	p, a, err := c.actionOf(ec)
	if err != nil {
		return err
	}
	name, err := c.memberName(ec, p.ID)
	if err != nil {
		return err
	}
	v := confirmView{Action: a, URL: ec.Request().URL.Path, Back: c.back(ec, p.ID)}
	return c.render(ec, http.StatusOK, "confirm", page{Title: a.Label + ": " + name, Project: p, Body: v})
}

// actionOf is the project and the action a route names.
func (c *Console) actionOf(ec echo.Context) (*projectEntry, action, error) {
	a, ok := actions[ec.Param("action")]
	if !ok {
		return nil, action{}, resources.NotFound("There is no such action.")
	}
	p, err := c.project(ec)
	return p, a, err
}

// back is the members page an action returns to: ?back= when it is one of
// this project's console pages, else the table.
func (c *Console) back(ec echo.Context, projectID string) string {
	b := ec.QueryParam("back")
	if b == "" {
		b = ec.FormValue("back")
	}
	if home := c.url("projects/" + projectID + "/"); strings.HasPrefix(b, home) && c.localNext(b) == b {
		u, _ := url.Parse(b)
		q := u.Query()
		q.Del("notice")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return c.url("projects/" + projectID + "/members")
}

// apiMembership is a ProjectMembership as the API answers it.
type apiMembership struct {
	ID      string `json:"id"`
	Active  *bool  `json:"active"`
	Admin   bool   `json:"admin"`
	Profile struct {
		Reference string `json:"reference"`
		Display   string `json:"display"`
	} `json:"profile"`
	User struct {
		Reference string `json:"reference"`
		Display   string `json:"display"`
	} `json:"user"`
	AccessPolicy *struct {
		Reference string `json:"reference"`
		Display   string `json:"display"`
	} `json:"accessPolicy"`
	ExternalID string `json:"externalId"`
}

func (m *apiMembership) active() bool { return m.Active == nil || *m.Active }

func (c *Console) membership(ec echo.Context, projectID string) (*apiMembership, error) {
	var m apiMembership
	err := c.get(ec, sessionOf(ec).data.Access, "/admin/projects/"+url.PathEscape(projectID)+"/members/"+url.PathEscape(ec.Param("member")), &m)
	return &m, err
}

func (c *Console) memberName(ec echo.Context, projectID string) (string, error) {
	m, err := c.membership(ec, projectID)
	if err != nil {
		return "", err
	}
	if m.Profile.Display != "" {
		return m.Profile.Display, nil
	}
	return m.Profile.Reference, nil
}

// apiInvitation is an invitation as the API answers it.
type apiInvitation struct {
	ID       string     `json:"id"`
	Email    string     `json:"email"`
	Status   string     `json:"status"`
	Sent     int        `json:"sent"`
	Created  *time.Time `json:"created"`
	Expires  *time.Time `json:"expires"`
	LastSent *time.Time `json:"lastSent"`
}

// invitation is the member's newest invitation (nil when none).
func (c *Console) invitation(ec echo.Context, projectID, member string) (*apiInvitation, error) {
	var list struct {
		Invites []apiInvitation `json:"invites"`
	}
	err := c.get(ec, sessionOf(ec).data.Access, "/admin/projects/"+url.PathEscape(projectID)+"/invites?_count=1&membership="+url.QueryEscape(member), &list)
	if err != nil || len(list.Invites) == 0 {
		return nil, err
	}
	return &list.Invites[0], nil
}

// outcome is what an action answers the script.
type outcome struct {
	OK      bool       `json:"ok"`
	Message string     `json:"message"`
	Link    string     `json:"link,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

// handleAction does a confirmed action through the API. The script gets
// {ok, message, link?}; a form gets the members table again (or, for a
// link, a page showing it), or its confirmation with what went wrong.
func (c *Console) handleAction(ec echo.Context) error {
	p, a, err := c.actionOf(ec)
	if err != nil {
		return err
	}
	s, member := sessionOf(ec), ec.Param("member")
	projectPath := "/admin/projects/" + url.PathEscape(p.ID)
	memberPath := projectPath + "/members/" + url.PathEscape(member)
	var req call
	switch a.Name {
	case "resend", "link", "revoke":
		inv, err := c.invitation(ec, p.ID, member)
		if err != nil {
			return err
		}
		if inv == nil {
			return resources.Conflict("This member has no invitation.")
		}
		invPath := projectPath + "/invites/" + url.PathEscape(inv.ID)
		req = call{method: http.MethodPost, path: invPath + "/" + a.Name}
		if a.Name == "revoke" {
			req = call{method: http.MethodDelete, path: invPath}
		}
	case "deactivate", "reactivate":
		req = call{method: http.MethodPost, path: memberPath, body: map[string]any{"active": a.Name == "reactivate"}}
	case "mfa-reset":
		req = call{method: http.MethodPost, path: memberPath + "/mfa/reset", body: map[string]any{}}
	case "remove":
		req = call{method: http.MethodDelete, path: memberPath}
	case "email":
		m, err := c.membership(ec, p.ID)
		if err != nil {
			return err
		}
		user, ok := strings.CutPrefix(m.User.Reference, "User/")
		if !ok {
			return resources.Conflict("This member is a client application; it has no email.")
		}
		req = call{method: http.MethodPost, path: "/fhir/R4/User/" + url.PathEscape(user) + "/$update-email",
			body: map[string]any{"email": strings.TrimSpace(ec.FormValue("email"))}}
	}
	req.token = s.data.Access
	ans, err := c.api.do(ec, req)
	if err != nil {
		return err
	}
	if !ans.ok() {
		refusal := ans.refusal()
		if wantsJSON(ec) {
			return refusal
		}
		name, _ := c.memberName(ec, p.ID)
		v := confirmView{Action: a, URL: ec.Request().URL.Path, Back: c.back(ec, p.ID), Email: ec.FormValue("email"), Errors: fieldErrors(refusal)}
		return failure(ec, refusal, "confirm", page{Title: a.Label + ": " + name, Project: p, Error: refusal.Message, Body: v})
	}
	out := outcome{OK: true, Message: a.Done}
	if a.Name == "link" {
		var l struct {
			URL     string     `json:"url"`
			Expires *time.Time `json:"expires"`
		}
		if err := ans.decode(&l); err != nil {
			return err
		}
		out.Link, out.Expires = l.URL, l.Expires
	}
	if wantsJSON(ec) {
		return ec.JSON(http.StatusOK, out)
	}
	if a.Name == "link" {
		name, _ := c.memberName(ec, p.ID)
		return c.render(ec, http.StatusOK, "link", page{Title: "A fresh link", Project: p, Notice: a.Done,
			Body: linkView{Name: name, URL: out.Link, Expires: out.Expires, Back: c.back(ec, p.ID)}})
	}
	back := c.back(ec, p.ID)
	if a.Name == "remove" && strings.Contains(back, "/members/"+member) {
		back = c.url("projects/" + p.ID + "/members")
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	return ec.Redirect(http.StatusSeeOther, back+sep+"notice="+a.Name)
}

// linkView is the page of a fresh link.
type linkView struct {
	Name, URL, Back string
	Expires         *time.Time
}
