package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// pageSize is how many members a page of the table shows.
const pageSize = 25

// handleProjects lists the projects the signed-in user administers. One
// sign-in acts in one project (its token's); the super admin's reaches
// every project.
func (c *Console) handleProjects(ec echo.Context) error {
	s := sessionOf(ec)
	all, err := c.projects(ec, s.data.Access)
	if err != nil {
		return err
	}
	me, err := c.me(ec, s.data.Access)
	if err != nil {
		return err
	}
	type entry struct {
		projectEntry
		Current, Reachable bool
	}
	body := struct {
		CurrentName string
		Projects    []entry
	}{CurrentName: s.data.Project}
	for _, p := range all {
		current := p.ID == s.data.Project
		if current {
			body.CurrentName = p.Name
		}
		body.Projects = append(body.Projects, entry{p, current, current || me.User.Admin})
	}
	return c.render(ec, http.StatusOK, "projects", page{Title: "Your projects", Body: body})
}

// project reads the project a page is about. A project the token cannot
// administer is a 403 page offering to sign in to it.
func (c *Console) project(ec echo.Context) (*projectEntry, error) {
	s, id := sessionOf(ec), ec.Param("project")
	var p struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Owner *struct {
			Reference string `json:"reference"`
		} `json:"owner"`
	}
	err := c.get(ec, s.data.Access, "/fhir/R4/Project/"+url.PathEscape(id), &p)
	if err == nil && (p.ID == s.data.Project || c.reachesAll(ec)) {
		out := &projectEntry{ID: p.ID, Name: p.Name}
		if p.Owner != nil {
			out.Owner = p.Owner.Reference
		}
		return out, nil
	}
	if err != nil && !resources.IsKind(err, resources.KindForbidden, resources.KindNotFound, resources.KindGone) {
		return nil, err
	}
	// Is it one of the user's projects, under another sign-in?
	all, lerr := c.projects(ec, s.data.Access)
	if lerr != nil {
		return nil, lerr
	}
	for _, other := range all {
		if other.ID == id {
			return nil, failure(ec, resources.Forbidden("You are signed in to another project."), "error",
				page{Title: "Sign in to " + other.Name, Error: "You are signed in to another project; this sign-in cannot manage " + other.Name + ".",
					Body: errorBody{SwitchTo: &other}})
		}
	}
	return nil, resources.NotFound("There is no such project among those you administer.")
}

// reachesAll reports whether the session's user is the super admin (whose
// token reaches every project).
func (c *Console) reachesAll(ec echo.Context) bool {
	if v, ok := ec.Get("console.superAdmin").(bool); ok {
		return v
	}
	me, err := c.me(ec, sessionOf(ec).data.Access)
	v := err == nil && me.User.Admin
	ec.Set("console.superAdmin", v)
	return v
}

// apiMember is a member as GET …/members lists it.
type apiMember struct {
	MembershipID string     `json:"membershipId"`
	Profile      string     `json:"profile"`
	User         string     `json:"user"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	Admin        bool       `json:"admin"`
	Active       bool       `json:"active"`
	Email        string     `json:"email"`
	LastSignIn   *time.Time `json:"lastSignIn"`
	Invitation   *struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"invitation"`
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// statuses are the members table's status filter: its value, its label and
// the API parameter it sets.
var statuses = []struct{ value, label, param, arg string }{
	{"", "Any status", "", ""},
	{"active", "Active", "active", "true"},
	{"deactivated", "Deactivated", "active", "false"},
	{"pending", "Invitation pending", "invitation", "pending"},
	{"accepted", "Invitation accepted", "invitation", "accepted"},
	{"expired", "Invitation expired", "invitation", "expired"},
	{"revoked", "Invitation revoked", "invitation", "revoked"},
}

// columns are the members table's columns and the order each sorts by.
var columns = []struct{ label, sort string }{
	{"Name", "name"}, {"Email", "email"}, {"Profile", ""}, {"Role", ""}, {"Status", ""}, {"Invitation", ""},
	{"Last sign-in", "lastSignIn"}, {"Actions", ""},
}

// sortNames say the table's orders in its caption.
var sortNames = map[string]string{"": "most recently changed first", "-recent": "most recently changed first",
	"recent": "least recently changed first", "name": "by name", "-name": "by name, Z to A", "email": "by email",
	"-email": "by email, Z to A", "lastSignIn": "by last sign-in, oldest first", "-lastSignIn": "by last sign-in, most recent first"}

// membersQuery is the members table's query string.
type membersQuery struct {
	Q, Status, Sort string
	Page            int
}

func readMembersQuery(ec echo.Context) membersQuery {
	q := membersQuery{Q: strings.TrimSpace(ec.QueryParam("q")), Status: ec.QueryParam("status"), Sort: ec.QueryParam("sort")}
	if _, ok := sortNames[q.Sort]; !ok {
		q.Sort = ""
	}
	q.Page, _ = strconv.Atoi(ec.QueryParam("page"))
	q.Page = max(q.Page, 1)
	return q
}

// values is q as a query string, with page p.
func (q membersQuery) values(p int) url.Values {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if p > 1 {
		v.Set("page", strconv.Itoa(p))
	}
	return v
}

// apiQuery is q as GET …/members's parameters.
func (q membersQuery) apiQuery() url.Values {
	v := url.Values{"_count": {strconv.Itoa(pageSize)}, "_offset": {strconv.Itoa((q.Page - 1) * pageSize)}}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	for _, s := range statuses {
		if s.value == q.Status && s.param != "" {
			v.Set(s.param, s.arg)
		}
	}
	switch q.Sort {
	case "", "-recent":
	case "recent":
		v.Set("_sort", "_lastUpdated")
	default:
		v.Set("_sort", q.Sort)
	}
	return v
}

// memberRow is one row of the members table.
type memberRow struct {
	ID, Name, Email, ProfileType, Role, URL string
	Active                                  bool
	Invitation                              string
	LastSignIn                              *time.Time
	LastSignInISO                           string
	Actions                                 []actionLink
}

// column is a header of the members table.
type column struct {
	Label, URL, AriaSort, Arrow string
	Sort                        bool
}

// membersTable is the members table's view.
type membersTable struct {
	Query                      membersQuery
	Statuses                   []option
	Columns                    []column
	Rows                       []memberRow
	Total, From, To            int
	Page, Pages                int
	Prev, Next, Self, SortedBy string
}

// handleMembers is the members table. ?fragment=table answers the table
// alone, which the script swaps in after an action.
func (c *Console) handleMembers(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	q := readMembersQuery(ec)
	var list struct {
		Members []apiMember `json:"members"`
		Total   int         `json:"total"`
	}
	err = c.get(ec, sessionOf(ec).data.Access, "/admin/projects/"+url.PathEscape(p.ID)+"/members?"+q.apiQuery().Encode(), &list)
	if err != nil {
		return err
	}
	base := c.url("projects/" + p.ID + "/members")
	t := membersTable{Query: q, Total: list.Total, Page: q.Page, Pages: max(1, (list.Total+pageSize-1)/pageSize),
		SortedBy: sortNames[q.Sort]}
	t.Self = withQuery(base, q.values(q.Page))
	for _, s := range statuses {
		t.Statuses = append(t.Statuses, option{s.value, s.label, s.value == q.Status})
	}
	for _, col := range columns {
		h := column{Label: col.label, Sort: col.sort != ""}
		if h.Sort {
			next := q
			next.Sort, h.AriaSort = col.sort, "none"
			switch q.Sort {
			case col.sort:
				next.Sort, h.AriaSort, h.Arrow = "-"+col.sort, "ascending", "▲"
			case "-" + col.sort:
				h.AriaSort, h.Arrow = "descending", "▼"
			}
			h.URL = withQuery(base, next.values(1))
		}
		t.Columns = append(t.Columns, h)
	}
	for _, m := range list.Members {
		t.Rows = append(t.Rows, c.row(p.ID, m, t.Self))
	}
	if len(t.Rows) > 0 {
		t.From = (q.Page-1)*pageSize + 1
		t.To = t.From + len(t.Rows) - 1
	}
	if q.Page > 1 {
		t.Prev = withQuery(base, q.values(q.Page-1))
	}
	if q.Page*pageSize < list.Total {
		t.Next = withQuery(base, q.values(q.Page+1))
	}
	if ec.QueryParam("fragment") == "table" {
		return c.renderPart(ec, "members-table", t)
	}
	pg := page{Title: "Members", Project: p, Body: t, Notice: notices[ec.QueryParam("notice")]}
	return c.render(ec, http.StatusOK, "members", pg)
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// row is member m as the table shows it, with the actions its state
// allows; back is where an action returns to.
func (c *Console) row(projectID string, m apiMember, back string) memberRow {
	r := memberRow{ID: m.MembershipID, Name: m.Name, Email: m.Email, Active: m.Active, LastSignIn: m.LastSignIn,
		URL: c.url("projects/" + projectID + "/members/" + m.MembershipID)}
	r.ProfileType, _, _ = strings.Cut(m.Profile, "/")
	switch m.Role {
	case "owner":
		r.Role = "Owner"
	case "admin":
		r.Role = "Admin"
	default:
		r.Role = "Member"
	}
	if m.LastSignIn != nil {
		r.LastSignInISO = m.LastSignIn.UTC().Format(time.RFC3339)
	}
	invitation := ""
	if m.Invitation != nil {
		invitation, r.Invitation = m.Invitation.Status, m.Invitation.Status
	}
	r.Actions = c.actionsFor(projectID, m.MembershipID, state{invitation: invitation, active: m.Active,
		owner: m.Role == "owner", user: strings.HasPrefix(m.User, "User/")}, back)
	return r
}
