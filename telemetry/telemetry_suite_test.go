package telemetry_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestTelemetry(t *testing.T) {
	suite.Run(t, "Telemetry Suite")
}
