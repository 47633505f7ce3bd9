package rest

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// statusByKind is the status of each kind of error wherever a surface's
// vendor documents no other.
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
	resources.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
}

// Renderer writes an error's body in a surface's shape, with the status the
// error handler chose for it; it never picks a status of its own.
type Renderer func(c echo.Context, status int, e *resources.Error) error

// Surface is an area of the API with an error shape of its own: FHIR's
// OperationOutcome, OAuth's {error, error_description}, an HTML page, a
// vendor dialect's body. The error handler chooses the status of every
// error — from its Kind, or where the surface's vendor documents another,
// from the surface's tables — and Render writes the body.
type Surface struct {
	// Name names the surface in logs and specs.
	Name string
	// Render writes the body.
	Render Renderer
	// Codes is the documented status of an error code (resources.Error.Code)
	// of the vendor's own; it comes first.
	Codes map[string]int
	// Kinds is the documented status of a kind where the vendor's differs
	// from Roster's.
	Kinds map[resources.Kind]int
}

// Status is the HTTP status of e on s: the one place a status is chosen.
// An error of no known kind is a 500.
func (s *Surface) Status(e *resources.Error) int {
	if st, ok := s.Codes[e.Code]; ok {
		return st
	}
	if st, ok := s.Kinds[e.Kind]; ok {
		return st
	}
	if st, ok := statusByKind[e.Kind]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// Status is the HTTP status of a typed error on the default surface.
func Status(e *resources.Error) int { return Outcomes.Status(e) }

const surfaceKey = "roster.errorSurface"

// On is the middleware of a route or route group whose errors are answered
// on s; routes without one answer on Outcomes.
func On(s *Surface) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			SetSurface(c, s)
			return next(c)
		}
	}
}

// SetSurface makes the error handler answer c's errors on s, as On does for
// a routed request.
func SetSurface(c echo.Context, s *Surface) { c.Set(surfaceKey, s) }

// SurfaceOf is the surface c's errors are answered on.
func SurfaceOf(c echo.Context) *Surface {
	if s, ok := c.Get(surfaceKey).(*Surface); ok && s != nil {
		return s
	}
	return Outcomes
}

// ToError converts any error a route can return into a typed error: Roster's
// own (the OAuth errors of the token endpoint among them), Echo's (its
// router's, binder's and middleware's), or a body over the size limit. It
// returns nil for anything else: an internal error, a 500 with no details.
func ToError(err error) *resources.Error {
	if e, ok := resources.AsError(err); ok {
		return e
	}
	var mbe *http.MaxBytesError
	var be *echo.BindingError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &mbe):
		return fromStatus(http.StatusRequestEntityTooLarge)
	case errors.As(err, &be) && be.HTTPError != nil:
		return fromStatus(be.Code)
	case errors.As(err, &he):
		return fromStatus(he.Code)
	}
	return nil
}

// fromStatus is the typed error of an Echo error's status (nil for a
// status no kind has).
func fromStatus(status int) *resources.Error {
	switch status {
	case http.StatusBadRequest:
		return resources.Invalid("", "Bad request")
	case http.StatusUnsupportedMediaType:
		return resources.UnsupportedMedia("Unsupported media type")
	case http.StatusUnauthorized:
		return resources.Unauthorized("Unauthorized")
	case http.StatusForbidden:
		return resources.Forbidden("Forbidden")
	case http.StatusNotFound:
		return resources.NotFound("Not found")
	case http.StatusMethodNotAllowed:
		return &resources.Error{Kind: resources.KindMethodNotAllowed, Code: "not-supported", Message: "Method not allowed"}
	case http.StatusConflict:
		return resources.Conflict("Conflict")
	case http.StatusGone:
		return resources.Gone("Gone")
	case http.StatusPreconditionFailed:
		return resources.Precondition("conflict", "Precondition failed")
	case http.StatusRequestEntityTooLarge:
		return &resources.Error{Kind: resources.KindTooLarge, Code: "too-costly", Message: "Request body too large"}
	case http.StatusUnprocessableEntity:
		return resources.Business("Unprocessable request")
	case http.StatusTooManyRequests:
		return resources.TooMany(1)
	case http.StatusServiceUnavailable:
		return resources.Unavailable("Service unavailable")
	}
	return nil
}

// internalError is what a client is told of an error of no known kind.
func internalError() *resources.Error {
	return &resources.Error{Code: "exception", Message: "Internal server error"}
}

// ErrorHandler is the one place errors become HTTP responses: it types the
// error, chooses its status on the route's surface (logging an untyped
// error, which the client sees only as a 500), and has the surface render
// the body. A HEAD request gets the status alone.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := ToError(err)
		if e == nil {
			// The logger adds the request id from the context.
			log.ErrorContext(c.Request().Context(), "internal error", "err", err.Error(),
				"method", c.Request().Method, "path", c.Request().URL.Path)
			e = internalError()
		}
		s := SurfaceOf(c)
		status := s.Status(e)
		if e.Kind == resources.KindTooMany && e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		if status == http.StatusUnauthorized && e.Challenge != "" {
			c.Response().Header().Set("WWW-Authenticate", e.Challenge)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		if rerr := s.Render(c, status, e); rerr != nil {
			log.ErrorContext(c.Request().Context(), "render error", "surface", s.Name, "err", rerr)
		}
	}
}
