package rest

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

type capabilityStatement struct {
	ResourceType string           `json:"resourceType"`
	Status       string           `json:"status"`
	Date         string           `json:"date"`
	Kind         string           `json:"kind"`
	Software     map[string]any   `json:"software"`
	FhirVersion  string           `json:"fhirVersion"`
	Format       []string         `json:"format"`
	Rest         []capabilityRest `json:"rest"`
}

type capabilityRest struct {
	Mode        string               `json:"mode"`
	Resource    []capabilityResource `json:"resource"`
	Interaction []map[string]string  `json:"interaction"`
	SearchParam []capabilityParam    `json:"searchParam"`
}

type capabilityResource struct {
	// Extension carries what R4 has no element for: conditional patch
	// (R5's conditionalPatch, through its cross-version extension).
	Extension         []capabilityExtension `json:"extension,omitempty"`
	Type              string                `json:"type"`
	Interaction       []map[string]string   `json:"interaction"`
	Versioning        string                `json:"versioning"`
	ReadHistory       bool                  `json:"readHistory"`
	UpdateCreate      bool                  `json:"updateCreate"`
	ConditionalCreate bool                  `json:"conditionalCreate"`
	ConditionalRead   string                `json:"conditionalRead"`
	ConditionalUpdate bool                  `json:"conditionalUpdate"`
	ConditionalDelete string                `json:"conditionalDelete"`
	SearchParam       []capabilityParam     `json:"searchParam"`
	SearchInclude     []string              `json:"searchInclude,omitempty"`
	SearchRevInclude  []string              `json:"searchRevInclude,omitempty"`
}

type capabilityExtension struct {
	URL          string `json:"url"`
	ValueBoolean bool   `json:"valueBoolean"`
}

// conditionalPatchURL is R5's CapabilityStatement.rest.resource.conditionalPatch
// as an R4 extension (FHIR's cross-version extensions).
const conditionalPatchURL = "http://hl7.org/fhir/5.0/StructureDefinition/extension-CapabilityStatement.rest.resource.conditionalPatch"

type capabilityParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

var commonParams = []capabilityParam{
	{Name: "_id", Type: "token", Documentation: "Logical id"},
	{Name: "_lastUpdated", Type: "date", Documentation: "When the resource last changed (eq, gt, lt, ge, le, ne)"},
	{Name: "_count", Type: "number", Documentation: "Page size, default 20, at most 1000"},
	{Name: "_offset", Type: "number", Documentation: "Entries to skip"},
	{Name: "_sort", Type: "string", Documentation: "Sort keys, - for descending"},
	{Name: "_total", Type: "string", Documentation: "accurate: include Bundle.total"},
	{Name: "_summary", Type: "string", Documentation: "true, text, data, count or false"},
	{Name: "_elements", Type: "string", Documentation: "Comma-separated top-level elements to return"},
	{Name: "_include", Type: "special", Documentation: "Type:parameter[:targetType], Type:* or *; :iterate"},
	{Name: "_revinclude", Type: "special", Documentation: "Type:parameter[:targetType], Type:* or *; :iterate"},
	{Name: "_has", Type: "special", Documentation: "_has:Type:reference:parameter=value (reverse chaining)"},
}

var started = time.Now().UTC().Format(time.RFC3339)

func (h *Handler) metadata(c echo.Context) error {
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active", Date: started, Kind: "instance",
		Software:    map[string]any{"name": "Roster"},
		FhirVersion: "4.0.1", Format: []string{"json", "application/fhir+json"},
	}
	rest := capabilityRest{Mode: "server", SearchParam: commonParams,
		Interaction: []map[string]string{{"code": "batch"}, {"code": "transaction"}}}
	for _, t := range resources.Types() {
		// Conditional writes (resources/conditional.go): a delete of one
		// match at most; reads honour no If-Modified-Since or If-None-Match.
		writable := !t.SystemWrite
		r := capabilityResource{Type: t.Name, Versioning: "versioned", ReadHistory: true,
			ConditionalCreate: writable, ConditionalRead: "not-supported", ConditionalUpdate: writable, ConditionalDelete: "not-supported",
			Extension:   []capabilityExtension{{URL: conditionalPatchURL, ValueBoolean: writable}},
			SearchParam: append([]capabilityParam{}, commonParams[:2]...)}
		if writable {
			r.ConditionalDelete = "single"
		}
		interactions := []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
		if t.SystemWrite { // only Roster writes these (AuditEvent)
			interactions = []string{"read", "vread", "history-instance", "history-type", "search-type"}
		}
		for _, code := range interactions {
			r.Interaction = append(r.Interaction, map[string]string{"code": code})
		}
		for _, p := range t.Params {
			r.SearchParam = append(r.SearchParam, capabilityParam{Name: p.Code, Type: string(p.Type), Documentation: p.Description})
		}
		r.SearchInclude, r.SearchRevInclude = includes(t)
		rest.Resource = append(rest.Resource, r)
	}
	cs.Rest = []capabilityRest{rest}
	return WriteJSON(c, http.StatusOK, cs)
}

// includes are what _include and _revinclude of a search of t accept: its
// own reference parameters, and every type's that may point at t.
func includes(t *resources.Type) (forward, reverse []string) {
	forward, reverse = []string{"*"}, []string{"*"}
	for _, src := range resources.Types() {
		for _, p := range src.Params {
			if p.Type != resources.ParamReference {
				continue
			}
			if src.Name == t.Name {
				forward = append(forward, src.Name+":"+p.Code)
			}
			if p.Target == "" || p.Target == t.Name {
				reverse = append(reverse, src.Name+":"+p.Code)
			}
		}
	}
	return forward, reverse
}
