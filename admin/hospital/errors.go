package hospital

import (
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// Errors is the hospital API's error surface: every error is the vendor's
// {"message": …}.
var Errors = &rest.Surface{Name: "hospital", Render: func(c echo.Context, status int, e *resources.Error) error {
	return c.JSON(status, map[string]string{"message": dialect.Message(status, e, MsgNotFound, "Internal server error")})
}}
