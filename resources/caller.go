package resources

import "context"

// Caller is who is acting: it decides which project a request sees and what it
// may write. The auth middleware puts one in every request's context.
type Caller struct {
	Project      string // the project the caller acts in
	Admin        bool   // project admin (membership admin: true)
	SuperAdmin   bool   // may act in any project
	System       bool   // Roster itself (bootstrap, invite internals): no checks
	UserID       string
	MembershipID string
	LoginID      string
	ClientID     string
	Profile      string // e.g. "Practitioner/123"
	// AccessPolicy is the membership's accessPolicy reference ("" for none),
	// for the guards that give it meaning.
	AccessPolicy string
	// Scope is the OAuth scope the caller's access token was granted ("" for
	// a credential that carries none), for the guard that enforces SMART's
	// resource scopes.
	Scope string
}

// ProfileRef is the caller's profile as a Reference (nil when it has none).
func (c *Caller) ProfileRef() *Reference {
	if c == nil || c.Profile == "" {
		return nil
	}
	return &Reference{Reference: c.Profile}
}

// CanAdmin reports whether the caller administers project.
func (c *Caller) CanAdmin(project string) bool {
	return c.System || c.SuperAdmin || (c.Admin && c.Project == project)
}

// Sees reports whether the caller may see resources of project.
func (c *Caller) Sees(project string) bool {
	return c.System || c.SuperAdmin || c.Project == project
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// AsSystem returns ctx acting as Roster itself inside project.
func AsSystem(ctx context.Context, project string) context.Context {
	return WithCaller(ctx, &Caller{System: true, Project: project})
}
