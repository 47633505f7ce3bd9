package store

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

// The store is tested through HTTP in the packages above it; the specs here
// cover what requests cannot arrange on demand, such as which creates share
// a statement.
func TestStore(t *testing.T) {
	suite.Run(t, "Store Suite")
}
