package rest

import (
	"bytes"
	"io"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// The media types of the bodies Roster reads. A body sent without a
// Content-Type is read as the route's kind; any other type is a 415, and
// so is a charset other than UTF-8.
var (
	// JSONTypes are read by every JSON route: FHIR, /auth, /admin and the
	// dialects, whose vendors document JSON bodies.
	JSONTypes = []string{"application/fhir+json", "application/json"}
	// PatchTypes are read by FHIR's PATCH: a JSON Patch.
	PatchTypes = []string{"application/json-patch+json", "application/json"}
	// FormTypes are read where a form is: the token endpoint, the
	// set-password page, POST …/_search.
	FormTypes = []string{"application/x-www-form-urlencoded", "multipart/form-data"}
)

// ReadBodyOf reads the request body, which must be of one of types (see
// JSONTypes) and valid UTF-8: any other body is refused before a byte of
// it is used, so nothing of it can be stored.
func ReadBodyOf(c echo.Context, types []string) ([]byte, error) {
	if err := CheckMediaType(c, types); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		// Echo's BodyLimit stops a body sent without a Content-Length
		// mid-read, with its own 413.
		return nil, bodyError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, resources.Invalid("", "Request body is empty")
	}
	if err := CheckText(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadForm reads a form body (FormTypes) with the query parameters, all
// of it valid UTF-8.
func ReadForm(c echo.Context) (url.Values, error) {
	if err := CheckMediaType(c, FormTypes); err != nil {
		return nil, err
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, bodyError(err)
	}
	for k, vs := range form {
		if !utf8.ValidString(k) || !all(vs, utf8.ValidString) {
			return nil, resources.Invalid("", "Form parameter %q is not valid UTF-8", strings.ToValidUTF8(k, "\uFFFD"))
		}
	}
	return form, nil
}

func all(vs []string, ok func(string) bool) bool {
	for _, v := range vs {
		if !ok(v) {
			return false
		}
	}
	return true
}

// CheckMediaType refuses, with a 415, a request whose Content-Type is not
// one of types (with charset, if any, UTF-8). A request without one passes.
func CheckMediaType(c echo.Context, types []string) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(types, mt) {
		return resources.UnsupportedMedia("Content-Type %s is not accepted here: send %s", strconv.Quote(ct), strings.Join(types, " or "))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return resources.UnsupportedMedia("charset %s is not accepted: send %s in UTF-8", strconv.Quote(cs), strings.Join(types, " or "))
	}
	return nil
}

// CheckText refuses a JSON body that is not Unicode text: bytes that are
// not UTF-8, or a \u escape of half a UTF-16 surrogate pair, both of which
// a JSON decoder would quietly turn into U+FFFD.
func CheckText(b []byte) error {
	if !utf8.Valid(b) {
		at := 0
		for at < len(b) {
			r, n := utf8.DecodeRune(b[at:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			at += n
		}
		return resources.Invalid("", "Request body is not valid UTF-8 (byte %d)", at)
	}
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		next := i + 2 // past the escape's second character, which may be a backslash
		if b[i+1] == 'u' {
			r, ok := hex4(b, i+2)
			switch {
			case !ok: // malformed: the decoder says so
			case r >= 0xDC00 && r <= 0xDFFF:
				return loneSurrogate(r, i)
			case r >= 0xD800 && r <= 0xDBFF:
				low, ok := rune(0), i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					low, ok = hex4(b, i+8)
				}
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return loneSurrogate(r, i)
				}
				next = i + 12
			default:
				next = i + 6
			}
		}
		if next >= len(b) {
			break
		}
		j := bytes.IndexByte(b[next:], '\\')
		if j < 0 {
			break
		}
		i = next + j
	}
	return nil
}

func loneSurrogate(r rune, at int) error {
	return resources.Invalid("", "Request body escapes half a UTF-16 surrogate pair (\\u%04x, byte %d): not a Unicode character", r, at)
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(v), err == nil
}
