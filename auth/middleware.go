package auth

import (
	"encoding/base64"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// Credentials extracts a bearer token or Basic client credentials.
func Credentials(c echo.Context) (bearer, basicID, basicSecret string) {
	h := c.Request().Header.Get("Authorization")
	scheme, value, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return strings.TrimSpace(value), "", ""
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err == nil {
			id, secret, _ := strings.Cut(string(raw), ":")
			return "", id, secret
		}
	}
	return "", "", ""
}

// Required rejects requests without valid credentials and puts the caller in
// the request context. Bearer tokens and, as Medplum allows, Basic
// clientId:secret are accepted.
func (s *Service) Required() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			caller, err := s.CallerFromRequest(c)
			if err != nil {
				return err
			}
			req := c.Request()
			c.SetRequest(req.WithContext(resources.WithCaller(req.Context(), caller)))
			return next(c)
		}
	}
}

// CallerFromRequest authenticates the request's Authorization header.
func (s *Service) CallerFromRequest(c echo.Context) (*resources.Caller, error) {
	bearer, id, secret := Credentials(c)
	ctx := c.Request().Context()
	switch {
	case bearer != "":
		return s.Authenticate(ctx, bearer)
	case id != "":
		return s.AuthenticateClient(ctx, id, secret)
	}
	return nil, ErrUnauthenticated
}
