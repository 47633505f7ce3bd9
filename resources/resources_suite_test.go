package resources_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestResources(t *testing.T) {
	suite.Run(t, "Resources Suite")
}
