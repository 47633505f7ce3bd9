package main_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

// suiteDir is a scratch directory that lives as long as the suite (the
// built roster binary goes there); Go removes it when TestRoster returns.
var suiteDir string

// TestRoster runs every spec of package main_test: the end-to-end specs that
// build and start the real binary, and any other spec file of this package.
// Keep this the package's only suite file (one RunSpecs, no suite nodes here).
func TestRoster(t *testing.T) {
	suiteDir = t.TempDir()
	suite.Run(t, "Roster Command Suite")
}
