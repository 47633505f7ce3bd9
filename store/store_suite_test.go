package store

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures/skips"
)

// The store is tested through HTTP in the packages above it; the specs here
// cover what requests cannot arrange on demand, such as which creates share
// a statement.
func TestStore(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Store Suite")
}

var _ = skips.Report()
