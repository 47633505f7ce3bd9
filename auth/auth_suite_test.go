package auth_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestAuth(t *testing.T) {
	suite.Run(t, "Auth Suite")
}
