package mail_test

import (
	"testing"

	"github.com/rosterhq/roster/fixtures/suite"
)

func TestMail(t *testing.T) {
	suite.Run(t, "Mail Suite")
}
