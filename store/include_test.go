package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// An _include reads its targets in one statement (Referenced); a guard may
// narrow a target type, which no request of the FHIR API can arrange for a
// type that has references to follow, so it is arranged here.
var _ = Describe("an _include's targets (Referenced)", func() {
	var (
		s   *Store
		ctx = context.Background()
	)
	BeforeEach(func() {
		opts := Options{SQLitePath: filepath.Join(GinkgoT().TempDir(), "roster.db")}
		if base := os.Getenv("ROSTER_TEST_DATABASE_URL"); base != "" {
			u, drop, err := CreateDatabase(base, "roster_test_")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(drop)
			opts = Options{DatabaseURL: u}
		}
		var err error
		s, err = Open(opts)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.Migrate(ctx)).To(Succeed())

		put := func(typ, id, project string, index ...resources.IndexRow) {
			rec := &resources.Record{Type: typ, ID: id, Project: project, Version: 1, LastUpdated: time.Now(),
				Content: fmt.Appendf(nil, `{"resourceType":%q,"id":%q}`, typ, id), Index: index}
			Expect(s.Insert(ctx, rec)).To(Succeed())
		}
		profile := func(ref string) resources.IndexRow { return resources.IndexRow{Param: "profile", Value: ref} }
		put("Practitioner", "a", "p1")
		put("Practitioner", "b", "p1")
		put("Practitioner", "c", "p2")
		put("Patient", "d", "p1")
		put("ProjectMembership", "m1", "p1", profile("Practitioner/a"))
		put("ProjectMembership", "m2", "p1", profile("Practitioner/b"))
		put("ProjectMembership", "m3", "p1", profile("Practitioner/c"))
		put("ProjectMembership", "m4", "p1", profile("Patient/d"))
		put("ProjectMembership", "m5", "p1", profile("Practitioner/a/_history/1"))
	})

	included := func(targets ...*resources.Query) []string {
		GinkgoHelper()
		recs, err := s.Referenced(ctx, "ProjectMembership", "profile", []string{"m1", "m2", "m3", "m4", "m5"}, targets)
		Expect(err).NotTo(HaveOccurred())
		out := []string{}
		for _, r := range recs {
			out = append(out, r.Type+"/"+r.ID)
		}
		return out
	}
	in := func(typ string, filters ...resources.Filter) *resources.Query {
		return &resources.Query{Type: typ, Project: "p1", Filters: filters}
	}

	It("reads the targets of the types asked, in the project, by literal references only", func() {
		Expect(included(in("Practitioner"), in("Patient"))).To(ConsistOf("Practitioner/a", "Practitioner/b", "Patient/d"))
		Expect(included(in("Patient"))).To(ConsistOf("Patient/d"))
	})

	It("reads every project's targets for a search across projects", func() {
		all := &resources.Query{Type: "Practitioner", All: true}
		Expect(included(all)).To(ConsistOf("Practitioner/a", "Practitioner/b", "Practitioner/c"))
	})

	It("keeps only what a guard's filters leave of a type", func() {
		own := resources.Filter{Code: "_id", Values: []resources.FilterValue{{Op: "eq", Value: "b"}}}
		Expect(included(in("Practitioner", own), in("Patient"))).To(ConsistOf("Practitioner/b", "Patient/d"))
	})

	It("leaves deleted targets out", func() {
		Expect(s.Replace(ctx, &resources.Record{Type: "Practitioner", ID: "a", Project: "p1", Version: 2,
			LastUpdated: time.Now(), Deleted: true})).To(Succeed())
		Expect(included(in("Practitioner"))).To(ConsistOf("Practitioner/b"))
	})
})
