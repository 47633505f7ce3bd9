// Package dialect is the kit every vendor dialect is built with: mounting
// its routes on an error surface of its own (the core's error handler
// chooses every status; the dialect's renderer writes its vendor's body),
// letting its callers in through the one credential parser
// (auth.CredentialRules), Django REST framework's paging, reading bodies,
// searching the core as Roster, and the wording of error messages. Writes
// act as Roster through admin.AsAuthor. What stays in a dialect package is
// its vendor's names, shapes and translations.
package dialect

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Mount makes the route group of a dialect at prefix: the error handler
// answers the errors of its routes, and of unknown paths under it, on s,
// and m (the dialect's authentication) runs before every handler.
func Mount(e *echo.Echo, prefix string, s *rest.Surface, m ...echo.MiddlewareFunc) *echo.Group {
	return e.Group(prefix, append([]echo.MiddlewareFunc{rest.On(s)}, m...)...)
}

// Route adds a route to a dialect's group.
type Route func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc)

// Slashed adds each route to g at its path and at its path with a trailing
// slash: the Django-built vendors' clients send both.
func Slashed(g *echo.Group) Route {
	return func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		g.Add(method, path, h, m...)
		g.Add(method, path+"/", h, m...)
	}
}

// JSON answers v as JSON of the vendor's content type, exactly as encoded:
// no trailing newline, so a null answer is the body "null".
func JSON(c echo.Context, status int, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Blob(status, contentType, b)
}

// Message is the text of a vendor's error body for e at status: the
// vendor's words for every 404 (notFound, unless "") and every 5xx
// (internal, which tells nothing of the cause), else the error's own
// message, else the status's name.
func Message(status int, e *resources.Error, notFound, internal string) string {
	switch {
	case status == http.StatusNotFound && notFound != "":
		return notFound
	case status >= http.StatusInternalServerError:
		return internal
	case e.Message == "":
		return http.StatusText(status)
	}
	return e.Message
}

// Body reads the request body. An empty or unreadable one is empty (the
// core's own 400 when nil); one over the size limit stays the core's 413.
func Body(c echo.Context, empty error) ([]byte, error) {
	body, err := rest.ReadBody(c)
	if err != nil && empty != nil && resources.IsKind(err, resources.KindInvalid) {
		return nil, empty
	}
	return body, err
}

// Object reads a JSON object body into its properties: an empty body is
// as Body says, anything but an object is notObject.
func Object(c echo.Context, empty, notObject error) (map[string]json.RawMessage, error) {
	body, err := Body(c, empty)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return nil, notObject
	}
	return m, nil
}

var errInvalidPage = resources.NotFound("Invalid page.")
