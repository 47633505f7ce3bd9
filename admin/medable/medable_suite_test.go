package medable_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestMedable(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Medable Suite")
}
