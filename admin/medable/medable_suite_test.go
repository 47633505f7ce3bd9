package medable_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures/skips"
)

func TestMedable(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Medable Suite")
}

var _ = skips.Report()
