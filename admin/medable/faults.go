package medable

import (
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Fault is Medable's error document (object "fault"). Validation faults
// carry one child fault per bad property in Faults.
type Fault struct {
	Object  string  `json:"object"`
	Name    string  `json:"name"`
	Code    string  `json:"code"`
	ErrCode string  `json:"errCode"`
	Status  int     `json:"status"`
	Message string  `json:"message"`
	Reason  string  `json:"reason,omitempty"`
	Path    string  `json:"path,omitempty"`
	Faults  []Fault `json:"faults,omitempty"`
}

// faultDef is one entry of Medable's fault reference.
type faultDef struct {
	code    string
	status  int
	message string
	name    string // "error" unless said otherwise
}

// The faults this dialect answers with, as Medable's fault reference
// documents them (errCode → code, status, message).
const (
	ErrNotLoggedIn          = "cortex.accessDenied.notLoggedIn"
	ErrSessionOrgMismatch   = "cortex.accessDenied.sessionOrgMismatch"
	ErrInvalidCredentials   = "cortex.accessDenied.invalidCredentials"
	ErrBadPassword          = "cortex.accessDenied.badPassword"
	ErrDuplicatePassword    = "cortex.accessDenied.duplicatePassword"
	ErrUnverifiedLocation   = "cortex.accessDenied.unverifiedLocation"
	ErrNewLocation          = "cortex.success.newLocation"
	ErrLocationToken        = "cortex.invalidArgument.locationToken"
	ErrLocationTokenExpired = "cortex.expired.locationToken"
	ErrInstanceRead         = "cortex.accessDenied.instanceRead"
	ErrNotWritable          = "cortex.accessDenied.notWritable"
	ErrAccessDenied         = "cortex.accessDenied.unspecified"
	ErrDuplicateEmail       = "cortex.conflict.duplicateEmail"
	ErrAlreadyVerified      = "cortex.conflict.accountAlreadyVerified"
	ErrConflict             = "cortex.conflict.unspecified"
	ErrValidation           = "cortex.invalidArgument.validation"
	ErrRequired             = "cortex.invalidArgument.required"
	ErrEnumValue            = "cortex.invalidArgument.enumValue"
	ErrPhoneNumber          = "cortex.invalidArgument.phoneNumberFormat"
	ErrDateOfBirth          = "cortex.invalidArgument.dateOfBirth"
	ErrTimeZone             = "cortex.invalidArgument.timeZone"
	ErrPasswordStrength     = "cortex.invalidArgument.passwordStrength"
	ErrEmailFormat          = "cortex.invalidArgument.emailFormat"
	ErrInvalidString        = "cortex.invalidArgument.invalidString"
	ErrStringExpected       = "cortex.invalidArgument.stringExpected"
	ErrInvalidJSON          = "cortex.invalidArgument.invalidJSON"
	ErrConnectionToken      = "cortex.invalidArgument.connectionToken"
	ErrInvalidArgument      = "cortex.invalidArgument.unspecified"
	ErrEmptyPatch           = "cortex.invalidArgument.emptyOperationsPayload"
	ErrPatchEntry           = "cortex.invalidArgument.objectExpectedForPatchOperation"
	ErrPatchPath            = "cortex.invalidArgument.stringExpectedforPatchPath"
	ErrPatchValue           = "cortex.invalidArgument.valueExpectedForPatchValue"
	ErrPatchOp              = "cortex.unsupportedOperation.patchOp"
	ErrPropertyNotFound     = "cortex.notFound.property"
	ErrAccountNotFound      = "cortex.notFound.account"
	ErrAccountToken         = "cortex.notFound.accountToken"
	ErrResetToken           = "cortex.notFound.passwordResetToken"
	ErrOrgNotFound          = "cortex.notFound.env"
	ErrNotFound             = "cortex.notFound.unspecified"
	ErrThrottled            = "cortex.throttled.unspecified"
	ErrTooLarge             = "cortex.tooLarge.unspecified"
	ErrExpired              = "cortex.expired.unspecified"
	ErrTooBusy              = "cortex.tooBusy.unspecified"
	ErrError                = "cortex.error.unspecified"
)

var faults = map[string]faultDef{
	ErrNotLoggedIn:          {"kNotLoggedIn", 403, "You must be logged in to access this resource.", ""},
	ErrSessionOrgMismatch:   {"kSessionOrgMismatch", 403, "The application and session Orgs do not match.", ""},
	ErrInvalidCredentials:   {"kInvalidCredentials", 403, "Invalid email/password combination.", ""},
	ErrBadPassword:          {"kInvalidCredentials", 403, "Invalid password.", ""},
	ErrDuplicatePassword:    {"kDuplicate", 403, "Your new password must be different than the old one.", ""},
	ErrUnverifiedLocation:   {"kUnverifiedLocation", 403, "Access by this location is pending account holder verification.", "location"},
	ErrNewLocation:          {"kNewLocation", 200, "A new location has been added to the account. Please verify it.", "location"},
	ErrLocationToken:        {"kInvalidArgument", 400, "Invalid location verification token.", "location"},
	ErrLocationTokenExpired: {"kExpired", 410, "Expired location verification token.", "location"},
	ErrInstanceRead:         {"kAccessDenied", 403, "Read access denied.", ""},
	ErrNotWritable:          {"kNotWritable", 403, "Resource/Property is not writable.", ""},
	ErrAccessDenied:         {"kAccessDenied", 403, "Access denied.", ""},
	ErrDuplicateEmail:       {"kExists", 409, "An account with this email address already exists.", ""},
	ErrAlreadyVerified:      {"kExists", 409, "Account already verified.", ""},
	ErrConflict:             {"kConflict", 409, "Resource conflict.", ""},
	ErrValidation:           {"kValidationError", 400, "Validation error.", ""},
	ErrRequired:             {"kRequired", 400, "Please enter a value.", "validation"},
	ErrEnumValue:            {"kEnumValue", 400, "Please enter a value from the list.", "validation"},
	ErrPhoneNumber:          {"kInvalidPhoneNumberFormat", 400, "Invalid phone number format.", "validation"},
	ErrDateOfBirth:          {"kInvalidDateOfBirth", 400, "Invalid date of birth.", "validation"},
	ErrTimeZone:             {"kInvalidArgument", 400, "Invalid timezone.", "validation"},
	ErrPasswordStrength:     {"kInvalidArgument", 400, "The chosen password does not meet the minimum password strength requirement.", "validation"},
	ErrEmailFormat:          {"kInvalidEmailFormat", 400, "Invalid email address format.", "validation"},
	ErrInvalidString:        {"kInvalidString", 400, "Invalid string.", "validation"},
	ErrStringExpected:       {"kInvalidArgument", 400, "String expected.", "validation"},
	ErrInvalidJSON:          {"kInvalidJSON", 400, "Please enter valid JSON.", ""},
	ErrConnectionToken:      {"kInvalidArgument", 400, "Invalid connection token.", ""},
	ErrInvalidArgument:      {"kInvalidArgument", 400, "Invalid Argument.", ""},
	ErrEmptyPatch:           {"kInvalidArgument", 400, "Empty operations payload. Nothing to do.", ""},
	ErrPatchEntry:           {"kInvalidArgument", 400, "Patch entry must be an object.", ""},
	ErrPatchPath:            {"kInvalidArgument", 400, "Patch operation path property must be a string.", ""},
	ErrPatchValue:           {"kInvalidArgument", 400, "Missing patch operation value property.", ""},
	ErrPatchOp:              {"kUnsupportedOperation", 501, "Unsupported or missing patch operation (op) property.", ""},
	ErrPropertyNotFound:     {"kNotFound", 404, "Property not found.", ""},
	ErrAccountNotFound:      {"kNotFound", 404, "Account not found.", ""},
	ErrAccountToken:         {"kNotFound", 404, "Invalid account token.", ""},
	ErrResetToken:           {"kNotFound", 404, "Invalid password reset token.", ""},
	ErrOrgNotFound:          {"kOrgControlInvalidOrg", 404, "Unrecognized organization environment.", ""},
	ErrNotFound:             {"kNotFound", 404, "Resource not found.", ""},
	ErrThrottled:            {"kThrottled", 429, "Request throttled.", ""},
	ErrTooLarge:             {"kRequestTooLarge", 413, "Request too large.", ""},
	ErrExpired:              {"kExpired", 410, "Resource expired.", ""},
	ErrTooBusy:              {"kTooBusy", 429, "Server too busy.", ""},
	ErrError:                {"kError", 500, "Error.", ""},
}

// kindOf is the core error kind matching a fault status, so logs and the
// core agree with what the client sees.
func kindOf(status int) resources.Kind {
	switch status {
	case 400, 501:
		return resources.KindInvalid
	case 403:
		return resources.KindForbidden
	case 404:
		return resources.KindNotFound
	case 409:
		return resources.KindConflict
	case 410:
		return resources.KindGone
	case 413:
		return resources.KindTooLarge
	case 429:
		return resources.KindTooMany
	}
	return 0
}

// Errors is Medable's error surface: every error is a fault, with the
// status Medable's fault reference documents for its errCode — the
// surface's tables, which the core's error handler consults: a fault this
// package raised has its own errCode, any other error of the core the
// generic fault of its kind (genericFault).
var Errors = &rest.Surface{Name: "Medable", Render: renderFault, Codes: faultStatuses(), Kinds: kindStatuses()}

// faultStatuses is the status of every errCode of the fault reference.
func faultStatuses() map[string]int {
	out := make(map[string]int, len(faults))
	for code, def := range faults {
		out[code] = def.status
	}
	return out
}

// kindStatuses is the status of each kind of core error on Medable's
// routes (the untyped one, 0, through KindUnsupportedMedia, the last): the
// status of its generic fault.
func kindStatuses() map[resources.Kind]int {
	out := map[resources.Kind]int{}
	for k := resources.Kind(0); k <= resources.KindUnsupportedMedia; k++ {
		out[k] = faults[genericFault(&resources.Error{Kind: k})].status
	}
	return out
}

// fault is an error rendered as the fault errCode; reason says what exactly
// went wrong and path names the property, both optional.
func fault(errCode, reason, path string) *resources.Error {
	e := &resources.Error{Kind: kindOf(faults[errCode].status), Code: errCode, Message: reason}
	if path != "" {
		e.Issues = []resources.Issue{{Code: errCode, Expression: path, Message: reason}}
	}
	return e
}

// validation collects the property faults of one request.
type validation []resources.Issue

// add records a bad property; the first fault of a property is its fault.
func (v *validation) add(errCode, path, reason string) {
	for _, is := range *v {
		if is.Expression == path {
			return
		}
	}
	*v = append(*v, resources.Issue{Code: errCode, Expression: path, Message: reason})
}

// err is the validation fault with every property fault as a child, or nil.
func (v validation) err() error {
	if len(v) == 0 {
		return nil
	}
	return &resources.Error{Kind: resources.KindInvalid, Code: ErrValidation, Message: "", Issues: v}
}

// faultOf renders a typed error: a fault this package raised as itself, any
// other error of the core as the generic fault of its kind.
func faultOf(e *resources.Error) Fault {
	errCode := e.Code
	reason := e.Message
	if _, ok := faults[errCode]; !ok {
		errCode = genericFault(e)
		if e.Kind == 0 {
			reason = ""
		}
	}
	f := newFault(errCode, reason)
	switch {
	case errCode == ErrValidation:
		f.Reason = ""
		for _, is := range e.Issues {
			f.Faults = append(f.Faults, newFault(is.Code, is.Message))
			f.Faults[len(f.Faults)-1].Path = is.Expression
		}
	case len(e.Issues) == 1:
		f.Path = e.Issues[0].Expression
	}
	return f
}

func newFault(errCode, reason string) Fault {
	def, ok := faults[errCode]
	if !ok {
		errCode, def = ErrInvalidArgument, faults[ErrInvalidArgument]
	}
	name := def.name
	if name == "" {
		name = "error"
	}
	f := Fault{Object: "fault", Name: name, Code: def.code, ErrCode: errCode, Status: def.status, Message: def.message}
	if reason != "" && reason != def.message {
		f.Reason = reason
	}
	return f
}

// genericFault is the fault of a core error by its kind.
func genericFault(e *resources.Error) string {
	switch e.Kind {
	case resources.KindInvalid, resources.KindBusiness:
		return ErrInvalidArgument
	case resources.KindUnauthorized:
		return ErrNotLoggedIn
	case resources.KindForbidden:
		return ErrAccessDenied
	case resources.KindNotFound:
		return ErrNotFound
	case resources.KindConflict, resources.KindPrecondition:
		return ErrConflict
	case resources.KindGone:
		return ErrExpired
	case resources.KindTooLarge:
		return ErrTooLarge
	case resources.KindTooMany:
		return ErrThrottled
	case resources.KindUnavailable:
		return ErrTooBusy
	case resources.KindUnsupportedMedia:
		return ErrInvalidJSON // Medable reads JSON bodies only, and says so
	}
	return ErrError
}

// renderFault writes an error as the fault of its errCode, at the status
// the error handler chose (the one the fault reference documents). A 500
// says nothing more than "Error.".
func renderFault(c echo.Context, status int, e *resources.Error) error {
	f := faultOf(e)
	f.Status = status
	if status >= 500 && f.ErrCode == ErrError {
		f.Reason, f.Path, f.Faults = "", "", nil
	}
	return writeJSON(c, status, f)
}
