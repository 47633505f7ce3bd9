package resources

import (
	"sort"
	"strings"
)

// ParamType is a FHIR search parameter type.
type ParamType string

// The search parameter types Roster indexes.
const (
	ParamString    ParamType = "string"
	ParamToken     ParamType = "token"
	ParamDate      ParamType = "date"
	ParamReference ParamType = "reference"
	ParamURI       ParamType = "uri"
)

// IndexValue is one indexed value of a search parameter: strings as sent
// (the pipeline folds them for prefix search), tokens as system + code, dates
// as ISO text, references as "Type/id", URIs as sent.
type IndexValue struct {
	System string
	Value  string
	// Identifier marks a reference's logical identifier (Reference.identifier,
	// system|value) rather than its literal reference: the :identifier
	// modifier searches these, indexed under IdentifierParam.
	Identifier bool
}

// IdentifierParam is the search-index parameter under which a reference
// parameter's logical identifiers are kept.
func IdentifierParam(code string) string { return code + ":identifier" }

// SearchParam describes one search parameter of a type and how to extract its
// values from a resource.
type SearchParam struct {
	Code        string
	Type        ParamType
	Description string
	// FoldCase normalizes token codes as email addresses (EmailKey: lower
	// case, IDNA) on write and on search (email).
	FoldCase bool
	// FoldSystem normalizes the codes of this one token system so on write
	// and on search (telecom's email addresses).
	FoldSystem string
	// Target is the referenced type when a bare id is given (`patient=123`).
	Target string
	// Covers names parameters whose index rows this one also matches, so a
	// value indexed under them is not written a second time under this one
	// (name covers family and given).
	Covers []string
	// Of names another token parameter whose index rows, restricted to the
	// token system OfSystem, answer this one (email is telecom's rows of
	// system email), so its values are not written twice; such a parameter
	// has no Values and no rows of its own.
	Of, OfSystem string
	Values       func(Resource) []IndexValue
}

// Type is a registered resource type: everything the generic pipeline needs
// to know about it.
type Type struct {
	Name   string
	New    func() Resource
	Params []SearchParam
	// Summary lists the type's own top-level elements FHIR marks as
	// summary elements (isSummary), which _summary=true keeps; Mandatory
	// those with a minimum cardinality above 0, which every subset keeps.
	// The elements every resource shares (id, meta, implicitRules) are
	// not repeated here. A choice element is named by its base
	// ("deceased" for deceasedBoolean and deceasedDateTime).
	Summary, Mandatory []string
	// AdminOnly types are read and written only by project admins.
	AdminOnly bool
	// SuperAdminCreate types are created only by the super admin.
	SuperAdminCreate bool
	// SystemWrite types are written only by Roster itself (Caller.System):
	// any other caller, the super admin included, is refused a create,
	// update, patch or delete with 403 (AuditEvent: a trail its subjects
	// cannot edit).
	SystemWrite bool
	// Unique returns keys that must be unique across the server; a clash is 409.
	Unique func(r Resource, project string) []string
	// Prepare enforces server-owned elements before validation (e.g. a
	// membership's project is always its own project).
	Prepare func(r Resource, project string)
	// Validate returns the problems with r, each with its expression.
	Validate func(r Resource) []Issue
	// CheckWrite refuses a write the caller may not make although it may write
	// the type (prev is the version being replaced, nil on create). Roster's
	// own writes (Caller.System) skip it.
	CheckWrite func(c *Caller, r, prev Resource) error

	// elements maps each top-level element name (a choice element by its
	// base too) to the JSON members that carry it (elementsOf).
	elements map[string][]string
}

// Param returns the named search parameter.
func (t *Type) Param(code string) (*SearchParam, bool) {
	for i := range t.Params {
		if t.Params[i].Code == code {
			return &t.Params[i], true
		}
	}
	return nil, false
}

var registry = map[string]*Type{}

// Register adds t to the registry, with the parameters every type has
// (metaParams); called from init of this package.
func Register(t *Type) {
	t.Params = append(t.Params, metaParams()...)
	t.elements = elementsOf(t.New())
	registry[t.Name] = t
}

// metaParams are the search parameters of every type, on its meta.
func metaParams() []SearchParam {
	meta := func(r Resource) *Meta {
		if m := r.Base().Meta; m != nil {
			return m
		}
		return &Meta{}
	}
	return []SearchParam{
		{Code: "_tag", Type: ParamToken, Description: "A tag in meta.tag, as system|code",
			Values: func(r Resource) []IndexValue { return codingValues(meta(r).Tag) }},
		{Code: "_security", Type: ParamToken, Description: "A security label in meta.security, as system|code",
			Values: func(r Resource) []IndexValue { return codingValues(meta(r).Security) }},
		{Code: "_profile", Type: ParamURI, Description: "A profile the resource claims to conform to (meta.profile)",
			Values: func(r Resource) []IndexValue { return uriValues(meta(r).Profile) }},
	}
}

// Lookup returns the registered type called name.
func Lookup(name string) (*Type, bool) {
	t, ok := registry[name]
	return t, ok
}

// Types lists the registered types, sorted by name.
func Types() []*Type {
	out := make([]*Type, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Fold normalizes a string for case-insensitive matching.
func Fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ---- extractor helpers used by the type definitions ----

func strs(values ...string) []IndexValue {
	out := make([]IndexValue, 0, len(values))
	seen := map[string]bool{}
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, IndexValue{Value: v})
		}
	}
	return out
}

// nameValues are the parts of a name that family and given do not index
// (name covers them).
func nameValues(names []HumanName) []IndexValue {
	var parts []string
	for _, n := range names {
		parts = append(parts, n.Text)
		parts = append(parts, n.Prefix...)
		parts = append(parts, n.Suffix...)
		full := strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " "))
		parts = append(parts, full)
	}
	return strs(parts...)
}

func familyValues(names []HumanName) []IndexValue {
	var parts []string
	for _, n := range names {
		parts = append(parts, n.Family)
	}
	return strs(parts...)
}

func givenValues(names []HumanName) []IndexValue {
	var parts []string
	for _, n := range names {
		parts = append(parts, n.Given...)
	}
	return strs(parts...)
}

// each gathers the values of every item of a repeating element.
func each[T any](items []T, values func(T) []IndexValue) []IndexValue {
	var out []IndexValue
	for _, item := range items {
		out = append(out, values(item)...)
	}
	return out
}

// token is one token, system|code; none when the code is empty.
func token(system, code string) []IndexValue {
	if code == "" {
		return nil
	}
	return []IndexValue{{System: system, Value: code}}
}

func telecomValues(cps []ContactPoint) []IndexValue {
	return each(cps, func(cp ContactPoint) []IndexValue { return token(cp.System, cp.Value) })
}

func identifierValues(ids []Identifier) []IndexValue {
	return each(ids, func(id Identifier) []IndexValue { return token(id.System, id.Value) })
}

func codingValues(cs []Coding) []IndexValue {
	return each(cs, func(c Coding) []IndexValue { return token(c.System, c.Code) })
}

func codeValue(code string) []IndexValue { return token("", code) }

func boolValue(b *bool, dflt bool) []IndexValue {
	v := dflt
	if b != nil {
		v = *b
	}
	if v {
		return []IndexValue{{Value: "true"}}
	}
	return []IndexValue{{Value: "false"}}
}

// refValue indexes a reference: its literal reference and, marked
// Identifier, its logical identifier.
func refValue(r *Reference) []IndexValue {
	if r == nil {
		return nil
	}
	out := token("", r.Reference)
	if id := r.Identifier; id != nil && id.Value != "" {
		out = append(out, IndexValue{System: id.System, Value: id.Value, Identifier: true})
	}
	return out
}

func uriValues(uris []string) []IndexValue {
	var out []IndexValue
	for _, u := range uris {
		out = append(out, token("", u)...)
	}
	return out
}

// dateValue indexes a date as the ISO text it was given in.
func dateValue(d string) []IndexValue { return token("", d) }
