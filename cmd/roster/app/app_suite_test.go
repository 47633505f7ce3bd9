package app_test

import (
	"database/sql"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

func TestApp(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "App Suite")
}

var _ = BeforeSuite(func() {
	auth.BcryptCost = 4 // these specs hash passwords at every start; production keeps its cost
})

// database opens srv's own database, to see what a request left there.
func database(srv *fixtures.Server) *sql.DB {
	GinkgoHelper()
	var (
		db  *sql.DB
		err error
	)
	if srv.Config.DatabaseURL != "" {
		db, err = sql.Open("pgx", srv.Config.DatabaseURL)
	} else {
		db, err = sql.Open("sqlite", srv.Config.SQLitePath)
	}
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	return db
}
