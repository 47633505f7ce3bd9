package medallion

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Errors is Medallion's error surface. Its bodies are Django REST
// framework's: {"detail": …}, or for validation errors one list of
// messages per field, nested by dots in the issue's expression
// ({"user": {"email": ["…"]}}); the statuses are Roster's.
var Errors = &rest.Surface{Name: "Medallion", Render: render}

func render(c echo.Context, status int, e *resources.Error) error {
	if e.Kind == resources.KindInvalid && hasFields(e) {
		body := map[string]any{}
		for _, is := range e.Issues {
			key := is.Expression
			if key == "" {
				key = "non_field_errors"
			}
			addField(body, strings.Split(key, "."), is.Message)
		}
		return dialect.JSON(c, status, echo.MIMEApplicationJSON, body)
	}
	return dialect.JSON(c, status, echo.MIMEApplicationJSON,
		map[string]string{"detail": dialect.Message(status, e, msgNotFound, "A server error occurred.")})
}

func hasFields(e *resources.Error) bool {
	for _, is := range e.Issues {
		if is.Expression != "" {
			return true
		}
	}
	return false
}

func addField(body map[string]any, path []string, msg string) {
	if len(path) == 1 {
		list, _ := body[path[0]].([]string)
		body[path[0]] = append(list, msg)
		return
	}
	child, ok := body[path[0]].(map[string]any)
	if !ok {
		child = map[string]any{}
		body[path[0]] = child
	}
	addField(child, path[1:], msg)
}

// fieldError is a DRF validation error on one (dotted) field.
func fieldError(field, msg string) error {
	return resources.Invalid(field, "%s", msg)
}
