package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// The members list and the projects list of the admin API. Members come
// from the member directory, one row per membership that the write hooks
// below keep in step, so a page in any order and under any filter is read
// from an index rather than by decoding every membership of the project.

// MemberDirectory is the member directory's storage; package store
// implements it.
type MemberDirectory interface {
	PutMember(ctx context.Context, e store.MemberEntry) error
	DeleteMember(ctx context.Context, membershipID string) error
	FollowMemberEmail(ctx context.Context, userRef, email string) error
	MemberSignedIn(ctx context.Context, membershipID string, at time.Time) error
	Members(ctx context.Context, q store.MemberQuery) ([]store.MemberListing, int, error)
}

// Store is what the admin service keeps outside the resources: the
// invitations and the member directory.
type Store interface {
	InvitationStore
	MemberDirectory
}

// directoryWritten keeps the member directory in step with every write of
// a ProjectMembership and every change of a User's email, whoever makes it
// (a write hook, in the write's transaction).
func (s *Service) directoryWritten(ctx context.Context, ch *resources.Change) error {
	switch ch.Type.Name {
	case "ProjectMembership":
		if ch.Record.Deleted {
			return s.directory.DeleteMember(ctx, ch.Record.ID)
		}
		if m, ok := ch.Current.(*resources.ProjectMembership); ok {
			return s.directory.PutMember(ctx, store.MemberEntryOf(ch.Record, m))
		}
	case "User":
		u, _ := ch.Current.(*resources.User)
		prev, _ := ch.Prev.(*resources.User)
		if ch.Record.Deleted || u == nil || u.Email == "" && prev == nil {
			return nil
		}
		if prev != nil && resources.EmailKey(prev.Email) == resources.EmailKey(u.Email) {
			return nil
		}
		// A new User's memberships are usually written after it, and read
		// its email then; a transaction Bundle may write them before.
		return s.directory.FollowMemberEmail(ctx, "User/"+ch.Record.ID, resources.EmailKey(u.Email))
	}
	return nil
}

// memberSignedIn dates the last sign-in of the membership a user just
// signed in through (auth.OnSignIn).
func (s *Service) memberSignedIn(ctx context.Context, _ *auth.Login, m *resources.ProjectMembership) error {
	return s.directory.MemberSignedIn(ctx, m.ID, s.stamp())
}

// Member list orders (MemberQuery.Sort), as _sort names them; a leading
// "-" reverses one.
var memberSorts = map[string]string{
	"name": store.MemberSortName, "email": store.MemberSortEmail, "lastSignIn": store.MemberSortLastSignIn,
	"_lastUpdated": store.MemberSortRecent,
}

// maxMemberText bounds the members list's text filter.
const maxMemberText = 200

// MemberQuery selects a page of a project's members.
type MemberQuery struct {
	// Text is found, ignoring case, anywhere in a member's name or email.
	Text string
	// Active is nil for every member, else only active (true) or
	// deactivated (false) ones.
	Active *bool
	// Invitation is "" for every member, else the status its newest
	// invitation has now (pending, accepted, expired or revoked).
	Invitation string
	// Sort is name, email, lastSignIn or _lastUpdated, each reversed by a
	// leading "-"; "" is -_lastUpdated, the most recently changed first.
	Sort          string
	Count, Offset int
}

// check lists what is wrong with q, one issue per parameter.
func (q MemberQuery) check() []resources.Issue {
	issues := checkPage(q.Count, q.Offset)
	bad := func(expr, msg string) {
		issues = append(issues, resources.Issue{Code: "invalid", Expression: expr, Message: msg})
	}
	if len(q.Text) > maxMemberText || !utf8.ValidString(q.Text) || resources.ControlChar(q.Text) {
		bad("q", "q must be text of at most "+strconv.Itoa(maxMemberText)+" bytes, without control characters")
	}
	switch q.Invitation {
	case "", InvitationPending, InvitationAccepted, InvitationExpired, InvitationRevoked:
	default:
		bad("invitation", "invitation must be pending, accepted, expired or revoked")
	}
	if _, ok := memberSorts[strings.TrimPrefix(q.Sort, "-")]; q.Sort != "" && !ok {
		bad("_sort", "_sort must be name, email, lastSignIn or _lastUpdated, optionally with a leading -")
	}
	return issues
}

// Members lists a page of projectID's memberships, each with its
// invitation's status, filtered and ordered as q says; project admins only.
func (s *Service) Members(ctx context.Context, projectID string, q MemberQuery) (*MemberPage, error) {
	project, err := s.RequireProjectAdmin(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if issues := q.check(); len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	return s.memberPage(ctx, project, q)
}

// memberPage is Members once the caller's rights and q were checked: the
// page's memberships come from the directory, then are read by id.
func (s *Service) memberPage(ctx context.Context, project *resources.Project, q MemberQuery) (*MemberPage, error) {
	sq := store.MemberQuery{ProjectID: project.ID, Text: strings.TrimSpace(q.Text), Active: q.Active, Invitation: q.Invitation,
		Now: s.now(), Limit: q.Count, Offset: q.Offset}
	sort, desc := strings.CutPrefix(q.Sort, "-")
	if q.Sort == "" {
		sort, desc = "_lastUpdated", true
	}
	sq.Sort = memberSorts[sort]
	// The directory's recent order is newest first; its Desc turns it round.
	sq.Desc = desc != (sq.Sort == store.MemberSortRecent)
	listed, total, err := s.directory.Members(ctx, sq)
	if err != nil {
		return nil, err
	}
	out := &MemberPage{Members: make([]MemberWithInvitation, 0, len(listed)), Total: total, Count: q.Count, Offset: q.Offset}
	if len(listed) == 0 {
		return out, nil
	}
	ids := make([]string, len(listed))
	for i, l := range listed {
		ids[i] = l.MembershipID
	}
	t, _ := resources.Lookup("ProjectMembership")
	rq, err := resources.ParseQuery(t, url.Values{"_id": {strings.Join(ids, ",")}})
	if err != nil {
		return nil, err
	}
	rq.Count = len(ids)
	mems, err := resources.SearchTyped[*resources.ProjectMembership](resources.AsSystem(ctx, project.ID), s.res, rq)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*resources.ProjectMembership, len(mems))
	for _, m := range mems {
		byID[m.ID] = m
	}
	for _, l := range listed {
		m := byID[l.MembershipID]
		if m == nil {
			continue // deleted since the directory was read
		}
		mw := MemberWithInvitation{MemberSummary: summarize(project, m), Email: l.Email, LastSignIn: timeOrNil(l.LastSignIn)}
		if l.InvitationID != "" {
			mw.Invitation = &InvitationStatus{ID: l.InvitationID,
				Status: s.status(&store.Invitation{Status: l.InvitationStatus, ExpiresAt: l.InvitationExpires})}
		}
		out.Members = append(out.Members, mw)
	}
	return out, nil
}

// readMemberQuery reads the members list's query string.
func readMemberQuery(c echo.Context) (MemberQuery, []resources.Issue) {
	q := MemberQuery{Text: c.QueryParam("q"), Invitation: c.QueryParam("invitation"), Sort: c.QueryParam("_sort")}
	var issues []resources.Issue
	q.Count, q.Offset, issues = readPage(c)
	switch v := c.QueryParam("active"); v {
	case "":
	case "true", "false":
		q.Active = ptr(v == "true")
	default:
		issues = append(issues, resources.Issue{Code: "invalid", Expression: "active", Message: "active must be true or false"})
	}
	for _, is := range q.check() {
		if !slices.ContainsFunc(issues, func(x resources.Issue) bool { return x.Expression == is.Expression }) {
			issues = append(issues, is)
		}
	}
	return q, issues
}

func (s *Service) handleListMembers(c echo.Context) error {
	ctx := c.Request().Context()
	// Who may look is decided before the query is.
	project, err := s.RequireProjectAdmin(ctx, c.Param("projectId"))
	if err != nil {
		return err
	}
	q, issues := readMemberQuery(c)
	if len(issues) > 0 {
		return resources.Invalids(issues)
	}
	out, err := s.memberPage(ctx, project, q)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// AdministeredProject is a project the caller administers, with the
// caller's admin membership in it ("" for the super admin's reach into a
// project it is no member of).
type AdministeredProject struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Membership string `json:"membership,omitempty"`
}

// ProjectList is the answer of GET /admin/projects.
type ProjectList struct {
	Projects []AdministeredProject `json:"projects"`
	Total    int                   `json:"total"`
	Count    int                   `json:"_count"`
	Offset   int                   `json:"_offset"`
}

// AdministeredProjects lists a page of the projects the caller
// administers, by name: every project for the super admin, else those its
// User (or client) has an active admin membership in — whichever of them
// its token was issued for.
func (s *Service) AdministeredProjects(ctx context.Context, count, offset int) (*ProjectList, error) {
	c := resources.CallerFrom(ctx)
	if c == nil {
		return nil, auth.ErrUnauthenticated
	}
	if issues := checkPage(count, offset); len(issues) > 0 {
		return nil, resources.Invalids(issues)
	}
	var all []AdministeredProject
	if c.SuperAdmin {
		t, _ := resources.Lookup("Project")
		for from := 0; ; from += resources.MaxCount {
			q, err := resources.ParseQuery(t, url.Values{"_sort": {"_id"}})
			if err != nil {
				return nil, err
			}
			q.Count, q.Offset = resources.MaxCount, from
			projects, err := resources.SearchTyped[*resources.Project](resources.AsSystem(ctx, ""), s.res, q)
			if err != nil {
				return nil, err
			}
			for _, p := range projects {
				all = append(all, AdministeredProject{ID: p.ID, Name: p.Name})
			}
			if len(projects) < resources.MaxCount {
				break
			}
		}
	}
	ref := "User/" + c.UserID
	if c.ClientID != "" && c.ClientID == c.UserID {
		ref = "ClientApplication/" + c.ClientID
	}
	mems, err := Search[*resources.ProjectMembership](ctx, s.res, "", "ProjectMembership", url.Values{"user": {ref}})
	if err != nil {
		return nil, err
	}
	for _, m := range mems {
		if !m.IsActive() || m.Admin == nil || !*m.Admin {
			continue
		}
		id := strings.TrimPrefix(m.Project.Reference, "Project/")
		if i := slices.IndexFunc(all, func(p AdministeredProject) bool { return p.ID == id }); i >= 0 {
			if all[i].Membership == "" || m.ID == c.MembershipID {
				all[i].Membership = m.ID
			}
			continue
		}
		p, _, err := resources.ReadTyped[*resources.Project](resources.AsSystem(ctx, ""), s.res, "Project", id)
		if err != nil {
			if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
				continue
			}
			return nil, err
		}
		all = append(all, AdministeredProject{ID: p.ID, Name: p.Name, Membership: m.ID})
	}
	slices.SortStableFunc(all, func(a, b AdministeredProject) int {
		if x, y := strings.ToLower(a.Name), strings.ToLower(b.Name); x != y {
			return strings.Compare(x, y)
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := &ProjectList{Projects: []AdministeredProject{}, Total: len(all), Count: count, Offset: offset}
	if offset < len(all) {
		out.Projects = all[offset:min(len(all), offset+count)]
	}
	return out, nil
}

func (s *Service) handleListProjects(c echo.Context) error {
	count, offset, issues := readPage(c)
	if len(issues) > 0 {
		return resources.Invalids(issues)
	}
	out, err := s.AdministeredProjects(c.Request().Context(), count, offset)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
