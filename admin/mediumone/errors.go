package mediumone

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// errorBody is Medium One's error answer.
type errorBody struct {
	Error string `json:"error"`
}

// Errors is Medium One's error surface: every error is {"error": message}
// (a 500 says nothing more than that; the issues of a bad request are
// joined into one message).
var Errors = &rest.Surface{Name: "Medium One", Render: func(c echo.Context, status int, e *resources.Error) error {
	msg := dialect.Message(status, e, "", "Internal server error")
	if status < http.StatusInternalServerError && len(e.Issues) > 1 {
		parts := make([]string, 0, len(e.Issues))
		for _, is := range e.Issues {
			parts = append(parts, is.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	return dialect.JSON(c, status, echo.MIMEApplicationJSON, errorBody{Error: msg})
}}
