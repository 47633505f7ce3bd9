package mediumone_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestMediumOne(t *testing.T) {
	suite.Run(t, "Medium One Suite")
}
