package invitecsv_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestInviteCSV(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Invite CSV Suite")
}
