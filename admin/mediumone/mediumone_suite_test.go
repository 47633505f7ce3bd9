package mediumone_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures/skips"
)

func TestMediumOne(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Medium One Suite")
}

var _ = skips.Report()
