package auth

import (
	"context"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// SMART on FHIR resource scopes (App Launch 2.0, with 1.0's names):
// `patient/*.rs`, `user/Patient.cruds`, `system/Observation.read`. The
// context (patient, user, system) does not narrow what a scope grants
// further than the type and the interactions: which resources of a type the
// caller reaches stays its membership's business, as Medplum has it.

// Interactions a resource scope grants, as SMART 2.0 letters.
const (
	scopeCreate = 'c'
	scopeRead   = 'r'
	scopeUpdate = 'u'
	scopeDelete = 'd'
	scopeSearch = 's'
)

// smartScopes is a granted scope string read for the guard.
type smartScopes struct {
	// restricted: the scope names at least one resource scope, so what
	// none of them grants is refused. A token without any (Medplum's
	// /auth/login, `openid profile`) keeps the caller's full access.
	restricted bool
	// grants maps a resource type ("*" for all) to its interaction letters.
	grants map[string]string
}

// parseScopes reads the resource scopes of a scope string. A resource scope
// it cannot read in full (a SMART 2.0 query filter, an unknown permission)
// still restricts the token but grants nothing: asking for less must never
// give more.
func parseScopes(scope string) *smartScopes {
	out := &smartScopes{grants: map[string]string{}}
	for _, s := range strings.Fields(scope) {
		ctx, rest, ok := strings.Cut(s, "/")
		if !ok || (ctx != "patient" && ctx != "user" && ctx != "system") {
			continue
		}
		out.restricted = true
		typ, perm, ok := strings.Cut(rest, ".")
		if !ok || typ == "" || strings.Contains(perm, "?") {
			continue
		}
		letters, ok := scopeLetters(perm)
		if ok {
			out.grants[typ] += letters
		}
	}
	return out
}

// scopeLetters turns a permission (SMART 2.0 "cruds" in order, or 1.0's
// read, write, *) into interaction letters.
func scopeLetters(perm string) (string, bool) {
	switch perm {
	case "read":
		return "rs", true
	case "write":
		return "cud", true
	case "*":
		return "cruds", true
	}
	if perm == "" {
		return "", false
	}
	last := -1
	for _, r := range perm {
		i := strings.IndexRune("cruds", r)
		if i <= last {
			return "", false // unknown letter, repeated or out of order
		}
		last = i
	}
	return perm, true
}

// allows says whether the scopes grant interaction on resources of typ.
func (s *smartScopes) allows(typ string, interaction rune) bool {
	return !s.restricted || strings.ContainsRune(s.grants[typ], interaction) || strings.ContainsRune(s.grants["*"], interaction)
}

// parsedScopes caches parseScopes per scope string: a server sees few.
var parsedScopes sync.Map

func scopesOf(scope string) *smartScopes {
	if v, ok := parsedScopes.Load(scope); ok {
		return v.(*smartScopes)
	}
	s := parseScopes(scope)
	parsedScopes.Store(scope, s)
	return s
}

// interactionOf is the SMART interaction an operation is.
func interactionOf(a *resources.Access) rune {
	switch {
	case a.Delete:
		return scopeDelete
	case a.Write && a.ID == "":
		return scopeCreate
	case a.Write:
		return scopeUpdate
	case a.ID == "":
		return scopeSearch
	}
	return scopeRead
}

var interactionNames = map[rune]string{scopeCreate: "create", scopeRead: "read", scopeUpdate: "update", scopeDelete: "delete", scopeSearch: "search"}

// ScopeGuard refuses (403) an operation the caller's access token has no
// SMART scope for. Install it on the resource pipeline while wiring the app.
func ScopeGuard(_ context.Context, c *resources.Caller, a *resources.Access) error {
	if c.Scope == "" {
		return nil
	}
	in := interactionOf(a)
	if scopesOf(c.Scope).allows(a.Type, in) {
		return nil
	}
	return resources.Forbidden("The access token's scope does not allow %s of %s", interactionNames[in], a.Type)
}

// smartScopesSupported are the scopes Roster's documents advertise.
var smartScopesSupported = []string{"openid", "profile", "email", "fhirUser", "offline_access", "online_access",
	"patient/*.cruds", "patient/*.rs", "user/*.cruds", "user/*.rs", "system/*.cruds", "system/*.rs",
	"patient/*.read", "patient/*.write", "user/*.read", "user/*.write", "system/*.read", "system/*.write"}

// handleSMARTConfiguration serves /.well-known/smart-configuration (SMART
// App Launch 2.0 §2.1).
func (s *Service) handleSMARTConfiguration(c echo.Context) error {
	return s.metadataDocument(c, map[string]any{
		"capabilities": []string{"launch-standalone", "client-public", "client-confidential-symmetric",
			"sso-openid-connect", "permission-offline", "permission-patient", "permission-user",
			"permission-v1", "permission-v2", "authorize-post"},
	})
}
