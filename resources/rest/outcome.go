// Package rest serves every registered resource type through one generic set
// of FHIR REST handlers, and maps Roster's typed errors to HTTP in one place.
package rest

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

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

var statusByKind = map[resources.Kind]int{
	resources.KindInvalid:      http.StatusBadRequest,
	resources.KindUnauthorized: http.StatusUnauthorized,
	resources.KindForbidden:    http.StatusForbidden,
	resources.KindNotFound:     http.StatusNotFound,
	resources.KindConflict:     http.StatusConflict,
	resources.KindGone:         http.StatusGone,
	resources.KindPrecondition: http.StatusPreconditionFailed,
	resources.KindTooLarge:     http.StatusRequestEntityTooLarge,
	resources.KindBusiness:     http.StatusUnprocessableEntity,
	resources.KindTooMany:      http.StatusTooManyRequests,
	resources.KindUnavailable:  http.StatusServiceUnavailable,

	resources.KindMethodNotAllowed: http.StatusMethodNotAllowed,
}

// Status is the HTTP status for a typed error.
func Status(e *resources.Error) int {
	if s, ok := statusByKind[e.Kind]; ok {
		return s
	}
	return http.StatusInternalServerError
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

// Renderer writes an error in a surface's own shape (a vendor dialect's error
// body). It receives the typed error and its status.
type Renderer func(c echo.Context, status int, e *resources.Error) error

const rendererKey = "roster.errorRenderer"

// UseRenderer makes the error handler render this group's errors with r.
func UseRenderer(r Renderer) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(rendererKey, r)
			return next(c)
		}
	}
}

// ToError converts any error (typed, Echo's own, or unknown) into a typed
// error; unknown errors become a 500 with no details.
func ToError(err error) *resources.Error {
	if e, ok := resources.AsError(err); ok {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return resources.NotFound("Not found")
		case http.StatusMethodNotAllowed:
			return &resources.Error{Kind: resources.KindMethodNotAllowed, Code: "not-supported", Message: "Method not allowed"}
		case http.StatusRequestEntityTooLarge:
			return &resources.Error{Kind: resources.KindTooLarge, Code: "too-costly", Message: "Request body too large"}
		case http.StatusUnauthorized:
			return resources.Unauthorized("Unauthorized")
		case http.StatusForbidden:
			return resources.Forbidden("Forbidden")
		case http.StatusTooManyRequests:
			return resources.TooMany(1)
		case http.StatusBadRequest, http.StatusUnsupportedMediaType:
			return resources.Invalid("", "Bad request")
		case http.StatusServiceUnavailable:
			return resources.Unavailable("Service unavailable")
		}
	}
	return nil
}

// ErrorHandler is the one place errors become HTTP responses.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := ToError(err)
		status := http.StatusInternalServerError
		if e == nil {
			log.ErrorContext(c.Request().Context(), "internal error", "err", err.Error(),
				"method", c.Request().Method, "path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			e = &resources.Error{Code: "exception", Message: "Internal server error"}
		} else {
			status = Status(e)
		}
		if e.Kind == resources.KindTooMany && e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		if r, ok := c.Get(rendererKey).(Renderer); ok {
			if rerr := r(c, status, e); rerr != nil {
				log.Error("render error", "err", rerr)
			}
			return
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = WriteJSON(c, status, OutcomeOf(e))
	}
}
