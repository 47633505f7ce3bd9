package resources

import (
	"errors"
	"fmt"
	"slices"
)

// Kind classifies an error; the HTTP layer maps each kind to one status.
type Kind int

// The kinds of error every layer of Roster returns.
const (
	KindInvalid          Kind = iota + 1 // 400
	KindUnauthorized                     // 401
	KindForbidden                        // 403
	KindNotFound                         // 404
	KindConflict                         // 409
	KindGone                             // 410
	KindPrecondition                     // 412
	KindTooLarge                         // 413
	KindBusiness                         // 422
	KindTooMany                          // 429
	KindUnavailable                      // 503
	KindMethodNotAllowed                 // 405
	KindUnsupportedMedia                 // 415
)

// Issue is one problem with a request, pointing at the element it concerns.
type Issue struct {
	Code       string // FHIR issue-type code, e.g. "invalid", "required"
	Expression string // the element, e.g. "email" or "Patient.name"
	Message    string
}

// Error is Roster's one typed error. Handlers return it unchanged; the error
// handler turns it into an OperationOutcome (or a dialect's error shape).
type Error struct {
	Kind    Kind
	Code    string // FHIR issue-type code for the whole error
	Message string
	Issues  []Issue
	// RetryAfter (seconds) accompanies KindTooMany.
	RetryAfter int
	// OAuth is the RFC 6749 error code ("invalid_grant", …) of an error
	// the token endpoint answers in OAuth's shape; other shapes ignore it.
	OAuth string
	// Challenge is the WWW-Authenticate challenge of a 401 (RFC 7235), e.g.
	// `Basic realm="roster"` after a client failed HTTP Basic authentication.
	Challenge string
	// Resource ("Type/id") names the resource whose write failed when the
	// failure surfaced later than the write (creates a bulk transaction held
	// back), so a transaction Bundle can say which entry it was.
	Resource string
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is(err, ErrNotFound) match any error of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == ""
}

// Sentinels for errors.Is.
var (
	ErrNotFound     = &Error{Kind: KindNotFound}
	ErrConflict     = &Error{Kind: KindConflict}
	ErrPrecondition = &Error{Kind: KindPrecondition}
	ErrGone         = &Error{Kind: KindGone}
	ErrForbidden    = &Error{Kind: KindForbidden}
)

// NotFound says a resource does not exist (or is not visible to the caller).
func NotFound(format string, a ...any) *Error {
	return &Error{Kind: KindNotFound, Code: "not-found", Message: fmt.Sprintf(format, a...)}
}

// Invalid is a 400 with one issue on expression.
func Invalid(expression, format string, a ...any) *Error {
	msg := fmt.Sprintf(format, a...)
	return &Error{Kind: KindInvalid, Code: "invalid", Message: msg,
		Issues: []Issue{{Code: "invalid", Expression: expression, Message: msg}}}
}

// Invalids is a 400 carrying several issues.
func Invalids(issues []Issue) *Error {
	msg := "Invalid request"
	if len(issues) == 1 {
		msg = issues[0].Message
	}
	return &Error{Kind: KindInvalid, Code: "invalid", Message: msg, Issues: issues}
}

// Conflict is a 409.
func Conflict(format string, a ...any) *Error {
	return &Error{Kind: KindConflict, Code: "conflict", Message: fmt.Sprintf(format, a...)}
}

// Precondition is a 412.
func Precondition(code, format string, a ...any) *Error {
	return &Error{Kind: KindPrecondition, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Forbidden is a 403.
func Forbidden(format string, a ...any) *Error {
	return &Error{Kind: KindForbidden, Code: "forbidden", Message: fmt.Sprintf(format, a...)}
}

// Unauthorized is a 401.
func Unauthorized(format string, a ...any) *Error {
	return &Error{Kind: KindUnauthorized, Code: "login", Message: fmt.Sprintf(format, a...)}
}

// Gone is a 410.
func Gone(format string, a ...any) *Error {
	return &Error{Kind: KindGone, Code: "deleted", Message: fmt.Sprintf(format, a...)}
}

// UnsupportedMedia is a 415: a body of a type the route does not read.
func UnsupportedMedia(format string, a ...any) *Error {
	return &Error{Kind: KindUnsupportedMedia, Code: "not-supported", Message: fmt.Sprintf(format, a...)}
}

// Business is a 422.
func Business(format string, a ...any) *Error {
	return &Error{Kind: KindBusiness, Code: "business-rule", Message: fmt.Sprintf(format, a...)}
}

// TooMany is a 429 asking the client to wait retryAfter seconds.
func TooMany(retryAfter int) *Error {
	return &Error{Kind: KindTooMany, Code: "throttled", Message: "Too many requests", RetryAfter: retryAfter}
}

// Unavailable is a 503.
func Unavailable(format string, a ...any) *Error {
	return &Error{Kind: KindUnavailable, Code: "transient", Message: fmt.Sprintf(format, a...)}
}

// IsKind says whether err is an *Error of one of kinds.
func IsKind(err error, kinds ...Kind) bool {
	e, ok := AsError(err)
	return ok && slices.Contains(kinds, e.Kind)
}

// AsError returns err as *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
