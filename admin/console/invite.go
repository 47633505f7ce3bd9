package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// inviteView is the invite form's own view: what was typed, the choices,
// and each field's error from the API.
type inviteView struct {
	Form     map[string]string
	Types    []option
	Policies []option
	Errors   map[string]string
}

// profileTypes are the profiles an invite can make.
var profileTypes = []string{"Practitioner", "Patient", "RelatedPerson"}

// inviteFields are the form's fields by the API's expressions.
var inviteFields = map[string]string{"resourceType": "resourceType", "firstName": "firstName", "lastName": "lastName",
	"email": "email", "patient": "patient", "accessPolicy": "accessPolicy", "membership.accessPolicy": "accessPolicy"}

func (c *Console) handleInviteForm(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	v, err := c.inviteView(ec, map[string]string{"resourceType": "Practitioner", "deliver": "mail"}, nil)
	if err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "invite", page{Title: "Invite a member", Project: p, Body: v})
}

// inviteView fills the form's choices: the profile types and the
// project's access policies.
func (c *Console) inviteView(ec echo.Context, form map[string]string, errs map[string]string) (inviteView, error) {
	v := inviteView{Form: form, Errors: errs}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	for _, t := range profileTypes {
		v.Types = append(v.Types, option{t, t, form["resourceType"] == t})
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := c.get(ec, sessionOf(ec).data.Access, "/fhir/R4/AccessPolicy?_count=200&_sort=name&_elements=name", &b); err != nil {
		return v, err
	}
	v.Policies = []option{{"", "None", form["accessPolicy"] == ""}}
	for _, e := range b.Entry {
		ref := "AccessPolicy/" + e.Resource.ID
		label := e.Resource.Name
		if label == "" {
			label = ref
		}
		v.Policies = append(v.Policies, option{ref, label, form["accessPolicy"] == ref})
	}
	return v, nil
}

// handleInvite sends the form to POST …/invite. Refused, the form comes
// back with the API's errors beside their fields; done, the new member is
// in the table as pending — or, asked for, a link to hand over is shown.
func (c *Console) handleInvite(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	form := map[string]string{}
	for _, k := range []string{"resourceType", "firstName", "lastName", "email", "patient", "accessPolicy", "admin", "deliver"} {
		form[k] = strings.TrimSpace(ec.FormValue(k))
	}
	membership := map[string]any{"admin": form["admin"] == "true"}
	if form["accessPolicy"] != "" {
		membership["accessPolicy"] = map[string]string{"reference": form["accessPolicy"]}
	}
	body := map[string]any{"resourceType": form["resourceType"], "firstName": form["firstName"], "lastName": form["lastName"],
		"sendEmail": form["deliver"] != "link", "membership": membership}
	if form["email"] != "" {
		body["email"] = form["email"]
	}
	if form["patient"] != "" {
		ref := form["patient"]
		if !strings.Contains(ref, "/") {
			ref = "Patient/" + ref
		}
		body["patient"] = map[string]string{"reference": ref}
	}
	token := sessionOf(ec).data.Access
	ans, err := c.api.do(ec, call{method: http.MethodPost, path: "/admin/projects/" + url.PathEscape(p.ID) + "/invite", token: token, body: body})
	if err != nil {
		return err
	}
	if !ans.ok() {
		refusal := ans.refusal()
		errs := map[string]string{}
		for expr, msg := range fieldErrors(refusal) {
			if f, ok := inviteFields[expr]; ok {
				errs[f] = msg
			}
		}
		v, err := c.inviteView(ec, form, errs)
		if err != nil {
			return err
		}
		return failure(ec, refusal, "invite", page{Title: "Invite a member", Project: p, Body: v,
			Error: "The invite was refused: " + refusal.Message})
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := ans.decode(&m); err != nil {
		return err
	}
	members := c.url("projects/" + p.ID + "/members")
	if form["deliver"] != "link" {
		return ec.Redirect(http.StatusSeeOther, members+"?notice=invited")
	}
	inv, err := c.invitation(ec, p.ID, m.ID)
	if err != nil {
		return err
	}
	if inv == nil {
		return resources.Conflict("The member was added, but has no invitation to make a link of.")
	}
	ans, err = c.api.do(ec, call{method: http.MethodPost, token: token,
		path: "/admin/projects/" + url.PathEscape(p.ID) + "/invites/" + url.PathEscape(inv.ID) + "/link"})
	if err != nil {
		return err
	}
	name := strings.TrimSpace(form["firstName"] + " " + form["lastName"])
	if !ans.ok() {
		refusal := ans.refusal()
		return failure(ec, refusal, "error", page{Title: "Invited " + name, Project: p,
			Error: "The member was invited, but no link can be handed over: " + refusal.Message})
	}
	var l struct {
		URL     string     `json:"url"`
		Expires *time.Time `json:"expires"`
	}
	if err := ans.decode(&l); err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "link", page{Title: "Invited " + name, Project: p, Notice: notices["invited-link"],
		Body: linkView{Name: name, URL: l.URL, Expires: l.Expires, Back: members}})
}
