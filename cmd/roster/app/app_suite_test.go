package app_test

import (
	"database/sql"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/fixtures/suite"
)

func TestApp(t *testing.T) {
	suite.Run(t, "App Suite")
}

var _ = BeforeSuite(func() {
	auth.BcryptCost = 4 // these specs hash passwords at every start; production keeps its cost
})

// startWithDatabase runs a Roster on a fresh database for one spec and
// opens that database, to see what requests left there.
func startWithDatabase() (*fixtures.Server, *sql.DB) {
	GinkgoHelper()
	srv := fixtures.Start(GinkgoT(), fixtures.Options{})
	DeferCleanup(srv.Close)
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
	return srv, db
}

// dbServer is a Roster on a fresh database with that database open, to see
// what requests left there.
type dbServer struct {
	*fixtures.Server
	DB *sql.DB
}

// freshDBServer gives each spec of the container it is called in a
// dbServer of its own, started before the spec.
func freshDBServer() *dbServer {
	s := &dbServer{}
	BeforeEach(func() { s.Server, s.DB = startWithDatabase() })
	return s
}

// request makes a FHIR request as the super admin and expects the status
// want.
func (s *dbServer) request(method, path string, body any, want int, headers ...string) *fixtures.Response {
	GinkgoHelper()
	r, err := s.Do(method, "fhir/R4/"+path, s.AdminToken, body, headers...)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(want), string(r.Body))
	return r
}

// send is request, returning the JSON answer (nil when it has no body).
func (s *dbServer) send(method, path string, body any, want int, headers ...string) map[string]any {
	GinkgoHelper()
	r := s.request(method, path, body, want, headers...)
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON()
}

// bundle reads the Bundle at path and returns its entries' resources.
func (s *dbServer) bundle(path string) []map[string]any {
	GinkgoHelper()
	return s.request("GET", path, nil, 200).Resources()
}

// patientIDs runs a Patient search as srv's super admin and lists the ids
// of the page it answers, in order.
func patientIDs(srv *fixtures.Server, query string) []string {
	GinkgoHelper()
	r, err := srv.Do("GET", "fhir/R4/Patient?"+query, srv.AdminToken, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), string(r.Body))
	var b struct {
		Entry []struct{ Resource struct{ ID string } } `json:"entry"`
	}
	Expect(r.Decode(&b)).To(Succeed())
	var ids []string
	for _, e := range b.Entry {
		ids = append(ids, e.Resource.ID)
	}
	return ids
}
