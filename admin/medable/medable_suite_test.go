package medable_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestMedable(t *testing.T) {
	suite.Run(t, "Medable Suite")
}
