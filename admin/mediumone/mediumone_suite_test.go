package mediumone_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestMediumOne(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Medium One Suite")
}
