package admin_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestAdmin(t *testing.T) {
	suite.Run(t, "Admin Suite")
}
