// Package admin holds Roster's administrative use cases — bootstrap,
// projects, client applications, the invite workflow and member
// administration — and, in sub-packages, the vendor dialects built on them.
package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Service runs the admin use cases over the resource pipeline.
type Service struct {
	res         *resources.Service
	auth        *auth.Service
	invitations InvitationStore
	directory   MemberDirectory
	now         func() time.Time

	// Mail queues outgoing mail; AppURL is the base of links in mails.
	Mail   *mail.Outbox
	AppURL string

	// Idempotency, when set, makes the create routes of the admin API and
	// of the dialects honour Idempotency-Key (see IdempotentWrites).
	Idempotency echo.MiddlewareFunc

	// Meter, when set, counts invites for the operator's metrics.
	Meter Meter
}

// Meter counts the admin use cases' events for the metrics (package
// telemetry).
type Meter interface {
	// Invite counts an invite by outcome: InviteCreated, InviteUpdated,
	// InviteUnchanged, InviteRefused or InviteFailed.
	Invite(outcome string)
}

// IdempotentWrites is the middleware that makes a create route honour
// Idempotency-Key; dialects mount it after their authentication.
func (s *Service) IdempotentWrites(next echo.HandlerFunc) echo.HandlerFunc {
	if s.Idempotency == nil {
		return next
	}
	return s.Idempotency(next)
}

// NewService returns the admin service, keeping invitations and the
// member directory in st. It hooks into authSvc so that an invitation is
// accepted when its link is used or its user signs in through its
// membership, and the sign-in dated (dialects chain their own hooks after
// it).
func NewService(res *resources.Service, authSvc *auth.Service, st Store) *Service {
	s := &Service{res: res, auth: authSvc, invitations: st, directory: st, now: time.Now}
	prevLink, prevSignIn := authSvc.OnLinkUsed, authSvc.OnSignIn
	authSvc.OnLinkUsed = func(ctx context.Context, l *auth.Link) error {
		if prevLink != nil {
			if err := prevLink(ctx, l); err != nil {
				return err
			}
		}
		return s.invitationLinkUsed(ctx, l)
	}
	authSvc.OnSignIn = func(ctx context.Context, l *auth.Login, m *resources.ProjectMembership) error {
		if prevSignIn != nil {
			if err := prevSignIn(ctx, l, m); err != nil {
				return err
			}
		}
		if err := s.invitationSignedIn(ctx, l, m); err != nil {
			return err
		}
		return s.memberSignedIn(ctx, l, m)
	}
	res.AddWriteHook(s.membershipWritten, "ProjectMembership")
	res.AddWriteHook(s.directoryWritten, "ProjectMembership", "User")
	return s
}

// SetClock makes now the service's clock (time.Now by default): the one
// that dates invitations and judges their expiry. Call it before serving.
func (s *Service) SetClock(now func() time.Time) {
	if now != nil {
		s.now = now
	}
}

// Register mounts /admin routes, and the FHIR operations that are admin use
// cases (User/$update-email), behind authentication.
func (s *Service) Register(e *echo.Echo) {
	g := e.Group("/admin", s.auth.Required())
	g.GET("/projects", s.handleListProjects)
	g.POST("/projects", s.handleCreateProject)
	g.POST("/projects/:projectId/client", s.handleCreateClient)
	g.POST("/projects/:projectId/invite", s.handleInvite, s.IdempotentWrites)
	g.GET("/projects/:projectId", s.handleProjectDetails)
	g.GET("/projects/:projectId/members", s.handleListMembers)
	g.GET("/projects/:projectId/invites", s.handleListInvitations)
	g.GET("/projects/:projectId/invites/:inviteId", invitationAct(s.Invitation))
	g.POST("/projects/:projectId/invites/:inviteId/resend", invitationAct(s.ResendInvitation))
	g.POST("/projects/:projectId/invites/:inviteId/link", invitationAct(s.NewInvitationLink))
	g.DELETE("/projects/:projectId/invites/:inviteId", invitationAct(s.RevokeInvitation))
	g.GET("/projects/:projectId/members/:membershipId", s.handleGetMember)
	g.POST("/projects/:projectId/members/:membershipId", s.handleUpdateMember)
	g.DELETE("/projects/:projectId/members/:membershipId", s.handleDeleteMember)
	g.POST("/projects/:projectId/members/:membershipId/mfa/reset", s.handleResetMFA)
	e.POST("/fhir/R4/:type/:id/"+UpdateEmailOperation, s.handleUpdateEmail, s.auth.Required())
}

func ptr[T any](v T) *T { return &v }

// Search runs a typed search as Roster itself, within project ("" for all).
func Search[T resources.Resource](ctx context.Context, res *resources.Service, project, typ string, params url.Values) ([]T, error) {
	t, ok := resources.Lookup(typ)
	if !ok {
		return nil, resources.NotFound("Unknown type %s", typ)
	}
	q, err := resources.ParseQuery(t, params)
	if err != nil {
		return nil, err
	}
	q.Count = resources.MaxCount
	return resources.SearchTyped[T](resources.AsSystem(ctx, project), res, q)
}

// CreateProject creates a project; only the super admin may.
func (s *Service) CreateProject(ctx context.Context, name, description string) (*resources.Record, error) {
	c := resources.CallerFrom(ctx)
	if c == nil || !(c.SuperAdmin || c.System) {
		return nil, resources.Forbidden("Only the super admin may create projects")
	}
	if strings.TrimSpace(name) == "" {
		return nil, resources.Invalid("name", "Project name is required")
	}
	p := &resources.Project{Name: strings.TrimSpace(name), Description: description}
	p.ResourceType = "Project"
	if c.Profile != "" {
		p.Owner = &resources.Reference{Reference: "User/" + c.UserID}
	}
	return s.res.CreateIn(resources.AsSystem(ctx, ""), p, "")
}

func (s *Service) handleCreateProject(c echo.Context) error {
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := auth.DecodeJSON(c, &req); err != nil {
		return err
	}
	rec, err := s.CreateProject(c.Request().Context(), req.Name, req.Description)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusCreated, rest.FHIRJSON, rec.Content)
}

// RequireProjectAdmin checks the caller administers projectID, which must
// exist: 404 for an unknown project, 403 for a project the caller does not run.
func (s *Service) RequireProjectAdmin(ctx context.Context, projectID string) (*resources.Project, error) {
	c := resources.CallerFrom(ctx)
	if c == nil {
		return nil, auth.ErrUnauthenticated
	}
	rec, err := s.res.Read(resources.AsSystem(ctx, ""), "Project", projectID)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil, resources.NotFound("Project not found")
		}
		return nil, err
	}
	if !c.CanAdmin(projectID) {
		return nil, resources.Forbidden("Forbidden: project admin rights required")
	}
	r, err := resources.Unmarshal(rec)
	if err != nil {
		return nil, err
	}
	return r.(*resources.Project), nil
}

// ClientWithSecret is a ClientApplication as answered once at creation.
type ClientWithSecret struct {
	*resources.ClientApplication
	Secret string `json:"secret"`
}

// CreateClient creates a ClientApplication in projectID with its own
// membership and returns it with its secret, which is stored only hashed.
func (s *Service) CreateClient(ctx context.Context, projectID, name, description string, admin bool) (*ClientWithSecret, error) {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		return nil, resources.Invalid("name", "Client name is required")
	}
	var out *ClientWithSecret
	sys := AsAuthor(ctx, projectID)
	err := s.res.InTx(sys, func(ctx context.Context) error {
		app := &resources.ClientApplication{Name: name, Description: description, Status: "active"}
		app.ResourceType = "ClientApplication"
		rec, err := s.res.CreateIn(ctx, app, projectID)
		if err != nil {
			return err
		}
		m := &resources.ProjectMembership{
			User:    resources.Reference{Reference: "ClientApplication/" + rec.ID, Display: name},
			Profile: resources.Reference{Reference: "ClientApplication/" + rec.ID, Display: name},
			Admin:   ptr(admin), Active: ptr(true),
		}
		m.ResourceType = "ProjectMembership"
		if c := resources.CallerFrom(ctx); c != nil && c.Profile != "" {
			m.InvitedBy = &resources.Reference{Reference: c.Profile}
		}
		if _, err := s.res.CreateIn(ctx, m, projectID); err != nil {
			return err
		}
		secret, err := s.auth.CreateClientSecret(ctx, rec.ID)
		if err != nil {
			return err
		}
		var stored resources.ClientApplication
		if err := json.Unmarshal(rec.Content, &stored); err != nil {
			return err
		}
		out = &ClientWithSecret{ClientApplication: &stored, Secret: secret}
		return nil
	})
	return out, err
}

func (s *Service) handleCreateClient(c echo.Context) error {
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Admin       *bool  `json:"admin"`
	}
	if err := auth.DecodeJSON(c, &req); err != nil {
		return err
	}
	// A client's secret is its project's static API key (DESIGN), so a client
	// administers its project unless created with "admin": false.
	admin := req.Admin == nil || *req.Admin
	out, err := s.CreateClient(c.Request().Context(), c.Param("projectId"), req.Name, req.Description, admin)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}
