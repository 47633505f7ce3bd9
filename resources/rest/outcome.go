// Package rest serves every registered resource type through one generic set
// of FHIR REST handlers, and maps Roster's typed errors to HTTP in one place.
package rest

import (
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// OperationOutcome is FHIR's error and information resource.
type OperationOutcome struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id,omitempty"`
	Issue        []OutcomeIssue `json:"issue"`
}

// OutcomeIssue is one issue of an OperationOutcome.
type OutcomeIssue struct {
	Severity    string                     `json:"severity"`
	Code        string                     `json:"code"`
	Details     *resources.CodeableConcept `json:"details,omitempty"`
	Diagnostics string                     `json:"diagnostics,omitempty"`
	Expression  []string                   `json:"expression,omitempty"`
}

// Outcome builds an OperationOutcome with one issue.
func Outcome(severity, code, text string) *OperationOutcome {
	return &OperationOutcome{ResourceType: "OperationOutcome", Issue: []OutcomeIssue{{
		Severity: severity, Code: code, Details: &resources.CodeableConcept{Text: text},
	}}}
}

// AllOK is the outcome of a successful operation without a resource.
func AllOK(text string) *OperationOutcome {
	o := Outcome("information", "informational", text)
	o.ID = "ok"
	return o
}

// OutcomeOf renders a typed error as an OperationOutcome.
func OutcomeOf(e *resources.Error) *OperationOutcome {
	o := &OperationOutcome{ResourceType: "OperationOutcome"}
	if len(e.Issues) == 0 {
		o.Issue = []OutcomeIssue{{Severity: "error", Code: e.Code, Details: &resources.CodeableConcept{Text: e.Message}}}
		return o
	}
	for _, is := range e.Issues {
		code := is.Code
		if code == "" {
			code = e.Code
		}
		oi := OutcomeIssue{Severity: "error", Code: code, Details: &resources.CodeableConcept{Text: is.Message}}
		if is.Expression != "" {
			oi.Expression = []string{is.Expression}
		}
		o.Issue = append(o.Issue, oi)
	}
	return o
}

// Outcomes is the surface of every route that names no other: the FHIR API,
// /auth and /admin answer each error as an OperationOutcome.
var Outcomes = &Surface{Name: "OperationOutcome", Render: func(c echo.Context, status int, e *resources.Error) error {
	return WriteJSON(c, status, OutcomeOf(e))
}}
