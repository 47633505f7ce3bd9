package store

import (
	"context"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// Concurrent updates share a round trip and a commit on PostgreSQL
// (replaceGroup); what a group holds cannot be arranged through HTTP, so it
// is arranged here.
var _ = Describe("updates written together (PostgreSQL)", func() {
	var (
		s   *Store
		ctx = context.Background()
		t0  = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	)
	BeforeEach(func() {
		base := os.Getenv("ROSTER_TEST_DATABASE_URL")
		if base == "" {
			Skip("groups of updates are PostgreSQL's: set ROSTER_TEST_DATABASE_URL")
		}
		u, drop, err := CreateDatabase(base, "roster_test_")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(drop)
		s, err = Open(Options{DatabaseURL: u})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.Migrate(ctx)).To(Succeed())
	})

	// patient is version v of Patient id with the family name family.
	patient := func(id string, v int64, family string) *resources.Record {
		return &resources.Record{Type: "Patient", ID: id, Project: "p1", Version: v, LastUpdated: t0.Add(time.Duration(v) * time.Minute),
			Content: fmt.Appendf(nil, `{"resourceType":"Patient","id":%q,"name":[{"family":%q}],"gender":"male"}`, id, family),
			Index:   []resources.IndexRow{{Param: "family", Value: family}, {Param: "gender", Value: "male"}}}
	}
	column := func(q string) string {
		var out string
		Expect(s.sqlDB.QueryRowContext(ctx, q).Scan(&out)).To(Succeed())
		return out
	}
	rows := func(id string) string {
		return column("SELECT COALESCE(string_agg(param || '=' || value || '@' || last_updated, ' ' ORDER BY param), '') FROM search_index WHERE id = '" + id + "'")
	}
	history := func(id string) string {
		return column("SELECT COALESCE(string_agg(version::text, ' ' ORDER BY version), '') FROM resource_history WHERE id = '" + id + "'")
	}

	It("writes each resource's updates in order, gives each its own outcome and leaves the refused unwritten", func() {
		for _, id := range []string{"a", "b", "c"} {
			Expect(s.Insert(ctx, patient(id, 1, "smith"))).To(Succeed())
		}
		gone := &resources.Record{Type: "Patient", ID: "b", Project: "p1", Version: 2, LastUpdated: t0.Add(2 * time.Minute), Deleted: true}
		group := []*resources.Record{
			patient("a", 2, "jones"),
			gone,
			patient("a", 2, "brown"), // a second update of version 1: too late
			patient("c", 5, "stale"), // c is at version 1
			patient("a", 3, "green"), // follows the first update of a
		}
		outcomes, err := s.replaceGroup(ctx, group)
		Expect(err).NotTo(HaveOccurred())
		Expect(outcomes).To(HaveLen(5))
		Expect(outcomes[0]).To(Succeed())
		Expect(outcomes[1]).To(Succeed())
		Expect(outcomes[2]).To(MatchError(ContainSubstring("Patient/a was changed by another request")))
		Expect(outcomes[3]).To(MatchError(ContainSubstring("Patient/c was changed by another request")))
		Expect(outcomes[4]).To(Succeed())

		a, err := s.Get(ctx, "Patient", "a")
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Version).To(BeEquivalentTo(3))
		Expect(a.Content).To(ContainSubstring("green"))
		// The family row carries the date of version 3; gender's, undated, stayed.
		Expect(rows("a")).To(Equal(fmt.Sprintf("family=green@%d gender=male@0", t0.Add(3*time.Minute).UnixMicro())))
		Expect(history("a")).To(Equal("1 2"))
		Expect(column("SELECT content FROM resource_history WHERE id = 'a' AND version = 2")).To(ContainSubstring("jones"))

		b, err := s.Get(ctx, "Patient", "b")
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Deleted).To(BeTrue())
		Expect(rows("b")).To(BeEmpty())
		Expect(history("b")).To(Equal("1"))

		c, err := s.Get(ctx, "Patient", "c")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Version).To(BeEquivalentTo(1))
		Expect(rows("c")).To(Equal(fmt.Sprintf("family=smith@%d gender=male@0", t0.Add(time.Minute).UnixMicro())))
		Expect(history("c")).To(BeEmpty())
	})
})
