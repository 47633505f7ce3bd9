package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// ResetMemberMFA removes the second factor of a member of projectID who
// lost it, as Medplum's POST …/members/{membershipId}/mfa/reset: project
// admins only (403), a membership of another project is 404. method is
// Medplum's factor to reset: "" or "totp", the only one Roster has. The
// member is mailed, the act audited in the project; one without a second
// factor is a 400, and enrolls again at the next sign-in if required.
func (s *Service) ResetMemberMFA(ctx context.Context, projectID, membershipID, method string) error {
	if _, err := s.RequireProjectAdmin(ctx, projectID); err != nil {
		return err
	}
	if method != "" && method != "totp" {
		return resources.Invalid("method", "method must be totp: the only second factor Roster has")
	}
	m, err := s.member(ctx, projectID, membershipID)
	if err != nil {
		return err
	}
	userID, ok := strings.CutPrefix(m.User.Reference, "User/")
	if !ok {
		return resources.Invalid("membershipId", "Only a User's membership has a second factor")
	}
	user, _, err := resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", userID)
	if err != nil {
		return err
	}
	return s.auth.ResetMFA(AsAuthor(ctx, projectID), projectID, membershipID, user)
}

func (s *Service) handleResetMFA(c echo.Context) error {
	var req struct {
		Method string `json:"method"`
	}
	// The body is optional ({} or none at all, as Medplum's app sends).
	if c.Request().ContentLength != 0 {
		body, err := rest.ReadBody(c)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return resources.Invalid("method", "Request body must be a JSON object with an optional method")
		}
	}
	err := s.ResetMemberMFA(c.Request().Context(), c.Param("projectId"), c.Param("membershipId"), req.Method)
	if err != nil {
		return err
	}
	return rest.WriteJSON(c, http.StatusOK, rest.AllOK("MFA reset"))
}
