package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// eventCount is how many of a member's recent events the member page shows.
const eventCount = 20

// memberView is the member page's own view.
type memberView struct {
	Email, ProfileType, Role, AccessPolicy, ExternalID string
	Active                                             bool
	Invitation                                         *apiInvitation
	Actions                                            []actionLink
	Events                                             []eventView
	Back                                               string
}

// eventView is one audit event as the member page shows it.
type eventView struct {
	When, What, Who string
	Refused         bool
	Details         []string
}

// subtypes name the audit trail's acts (admin/audit and auth record them).
var subtypes = map[string]string{
	"login": "Signed in", "logout": "Signed out", "token-refresh": "Token refreshed", "link-use": "Used a link",
	"link-refusal": "Link refused", "invite": "Invited", "invite-resend": "Invitation resent",
	"invite-link": "Link made to hand over", "invite-revoke": "Invitation revoked", "membership-create": "Membership created",
	"membership-update": "Membership changed", "membership-delete": "Membership deleted", "email-change": "Email changed",
	"user-delete": "Account deleted", "password-set": "Password set", "password-reset": "Password reset",
	"password-change": "Password changed", "password-reset-request": "Password reset asked for",
	"mfa-enroll": "Second factor set up", "mfa-disable": "Second factor turned off", "mfa-reset": "Second factor reset",
}

// handleMember is one member: what the membership says, its newest
// invitation, the actions it allows and its recent audit events (who
// invited it, who changed what).
func (c *Console) handleMember(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	m, err := c.membership(ec, p.ID)
	if err != nil {
		return err
	}
	inv, err := c.invitation(ec, p.ID, m.ID)
	if err != nil {
		return err
	}
	self := c.url("projects/" + p.ID + "/members/" + m.ID)
	v := memberView{Active: m.active(), ExternalID: m.ExternalID, Invitation: inv, Back: c.url("projects/" + p.ID + "/members")}
	v.ProfileType, _, _ = strings.Cut(m.Profile.Reference, "/")
	v.Role = "Member"
	if m.Admin {
		v.Role = "Admin"
	}
	if m.AccessPolicy != nil {
		v.AccessPolicy = m.AccessPolicy.Display
		if v.AccessPolicy == "" {
			v.AccessPolicy = m.AccessPolicy.Reference
		}
	}
	switch {
	case inv != nil && inv.Email != "":
		v.Email = inv.Email
	case strings.Contains(m.User.Display, "@"):
		v.Email = m.User.Display
	}
	st := state{active: m.active(), user: strings.HasPrefix(m.User.Reference, "User/")}
	if inv != nil {
		st.invitation = inv.Status
	}
	// The owner's membership cannot be removed or deactivated.
	st.owner = p.Owner != "" && p.Owner == m.User.Reference
	if st.owner {
		v.Role = "Owner"
	}
	v.Actions = c.actionsFor(p.ID, m.ID, st, self)
	if v.Events, err = c.events(ec, m); err != nil {
		return err
	}
	name := m.Profile.Display
	if name == "" {
		name = m.Profile.Reference
	}
	return c.render(ec, http.StatusOK, "member", page{Title: name, Project: p, Body: v, Notice: notices[ec.QueryParam("notice")]})
}

// auditBundle is the part of an AuditEvent search the member page reads.
type auditBundle struct {
	Entry []struct {
		Resource struct {
			Recorded    string `json:"recorded"`
			Outcome     string `json:"outcome"`
			OutcomeDesc string `json:"outcomeDesc"`
			Subtype     []struct {
				Code string `json:"code"`
			} `json:"subtype"`
			Agent []struct {
				Who *struct {
					Reference string `json:"reference"`
					Display   string `json:"display"`
				} `json:"who"`
				AltID string `json:"altId"`
				Name  string `json:"name"`
			} `json:"agent"`
			Entity []struct {
				What *struct {
					Reference string `json:"reference"`
				} `json:"what"`
				Detail []struct {
					Type        string `json:"type"`
					ValueString string `json:"valueString"`
				} `json:"detail"`
			} `json:"entity"`
		} `json:"resource"`
	} `json:"entry"`
}

// events are the member's recent audit events: those naming its
// membership or its user, newest first, with the acting profiles named.
func (c *Console) events(ec echo.Context, m *apiMembership) ([]eventView, error) {
	entities := "ProjectMembership/" + m.ID
	if strings.HasPrefix(m.User.Reference, "User/") {
		entities += "," + m.User.Reference
	}
	q := url.Values{"entity": {entities}, "_sort": {"-date"}, "_count": {itoa(eventCount)}}
	token := sessionOf(ec).data.Access
	var b auditBundle
	if err := c.get(ec, token, "/fhir/R4/AuditEvent?"+q.Encode(), &b); err != nil {
		return nil, err
	}
	names := map[string]string{}
	var out []eventView
	for _, e := range b.Entry {
		r := e.Resource
		v := eventView{Refused: r.Outcome != "" && r.Outcome != "0"}
		if t, err := time.Parse(time.RFC3339Nano, r.Recorded); err == nil {
			v.When = when(&t)
		}
		if len(r.Subtype) > 0 {
			v.What = subtypes[r.Subtype[0].Code]
			if v.What == "" {
				v.What = r.Subtype[0].Code
			}
		}
		if len(r.Agent) > 0 {
			a := r.Agent[0]
			switch {
			case a.Who != nil && a.Who.Display != "":
				v.Who = a.Who.Display
			case a.Who != nil && a.Who.Reference != "":
				v.Who = c.profileName(ec, token, a.Who.Reference, names)
			case a.Name != "":
				v.Who = a.Name
			default:
				v.Who = a.AltID
			}
		}
		if v.Refused && r.OutcomeDesc != "" {
			v.Details = append(v.Details, r.OutcomeDesc)
		}
		for _, en := range r.Entity {
			for _, d := range en.Detail {
				switch d.Type {
				case "invitation", "link", "profile", "user":
					continue // ids, which say nothing to a reader
				}
				v.Details = append(v.Details, d.Type+": "+d.ValueString)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// profileName names a profile reference ("Practitioner/…") by its name,
// read once per page; the reference itself when it cannot be read.
func (c *Console) profileName(ec echo.Context, token, ref string, names map[string]string) string {
	if n, ok := names[ref]; ok {
		return n
	}
	typ, id, _ := strings.Cut(ref, "/")
	var p struct {
		Name []struct {
			Text   string   `json:"text"`
			Given  []string `json:"given"`
			Family string   `json:"family"`
		} `json:"name"`
	}
	name := ref
	if typ != "" && id != "" && c.get(ec, token, "/fhir/R4/"+url.PathEscape(typ)+"/"+url.PathEscape(id), &p) == nil && len(p.Name) > 0 {
		n := p.Name[0]
		name = n.Text
		if name == "" {
			name = strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " "))
		}
	}
	names[ref] = name
	return name
}
