package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// An _include's first round is read with the page, in the page's statement
// (Search with Query.Follow), an :iterate round on its own (Referenced). A
// guard may narrow a target type, which no request of the FHIR API can
// arrange for a type that has references to follow, and a self-reference
// on a page needs rows no validated resource has, so both are arranged here.
var _ = Describe("an _include's targets", func() {
	var (
		s    *Store
		ctx  = context.Background()
		base = time.Now().Add(-time.Hour).Truncate(time.Second)
	)
	// put stores a resource last updated at seconds past base, its
	// reference rows in its content too (where the include cache finds
	// them): an AuditEvent's entity as entity[].what, any other as a
	// single Reference.
	put := func(typ, id, project string, at int, index ...resources.IndexRow) {
		GinkgoHelper()
		content := map[string]any{"resourceType": typ, "id": id}
		for _, r := range index {
			switch {
			case r.Param == "entity":
				entities, _ := content["entity"].([]any)
				content["entity"] = append(entities, map[string]any{"what": map[string]any{"reference": r.Value}})
			case strings.Contains(r.Value, "/"):
				content[r.Param] = map[string]any{"reference": r.Value}
			}
		}
		b, err := json.Marshal(content)
		Expect(err).NotTo(HaveOccurred())
		rec := &resources.Record{Type: typ, ID: id, Project: project, Version: 1, LastUpdated: base.Add(time.Duration(at) * time.Second),
			Content: b, Index: index}
		Expect(s.Insert(ctx, rec)).To(Succeed())
	}
	row := func(param, value string) resources.IndexRow { return resources.IndexRow{Param: param, Value: value} }

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

		put("Practitioner", "a", "p1", 0)
		put("Practitioner", "b", "p1", 0)
		put("Practitioner", "c", "p2", 0)
		put("Patient", "d", "p1", 0)
		put("Patient", "e", "p1", 0)
		// Newest first: m1 to m5.
		put("ProjectMembership", "m1", "p1", 5, row("profile", "Practitioner/a"))
		put("ProjectMembership", "m2", "p1", 4, row("profile", "Practitioner/b"))
		put("ProjectMembership", "m3", "p1", 3, row("profile", "Practitioner/c"))
		put("ProjectMembership", "m4", "p1", 2, row("profile", "Patient/d"))
		put("ProjectMembership", "m5", "p1", 1, row("profile", "Practitioner/a/_history/1"))
	})

	keys := func(recs []*resources.Record) []string {
		out := []string{}
		for _, r := range recs {
			out = append(out, r.Type+"/"+r.ID)
		}
		return out
	}
	in := func(typ string, filters ...resources.Filter) *resources.Query {
		return &resources.Query{Type: typ, Project: "p1", Filters: filters}
	}
	// follow follows param to any of targets' types.
	follow := func(param string, targets ...*resources.Query) *resources.Follow {
		f := &resources.Follow{Refs: []resources.Ref{{Param: param}}, Targets: targets}
		for _, t := range targets {
			f.Refs[0].Types = append(f.Refs[0].Types, t.Type)
		}
		return f
	}
	own := resources.Filter{Code: "_id", Values: []resources.FilterValue{{Op: "eq", Value: "b"}}}

	Describe("for an :iterate round (Referenced)", func() {
		included := func(targets ...*resources.Query) []string {
			GinkgoHelper()
			recs, err := s.Referenced(ctx, "ProjectMembership", []string{"m1", "m2", "m3", "m4", "m5"}, follow("profile", targets...))
			Expect(err).NotTo(HaveOccurred())
			return keys(recs)
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
			Expect(included(in("Practitioner", own), in("Patient"))).To(ConsistOf("Practitioner/b", "Patient/d"))
		})

		It("leaves deleted targets out", func() {
			Expect(s.Replace(ctx, &resources.Record{Type: "Practitioner", ID: "a", Project: "p1", Version: 2,
				LastUpdated: time.Now(), Deleted: true})).To(Succeed())
			Expect(included(in("Practitioner"))).To(ConsistOf("Practitioner/b"))
		})
	})

	Describe("with the page (Search)", func() {
		page := func(q *resources.Query) (matches, included []string, more bool) {
			GinkgoHelper()
			q.Next = true
			p, err := s.Search(ctx, q)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Total).To(Equal(-1))
			return keys(p.Matches), keys(p.Included), p.More
		}
		members := func(count int, f *resources.Follow, sort ...resources.SortKey) *resources.Query {
			return &resources.Query{Type: "ProjectMembership", Project: "p1", Count: count, Follow: f, Sort: sort}
		}
		profiles := func() *resources.Follow { return follow("profile", in("Practitioner"), in("Patient")) }

		It("answers the matches in the page's order and what they point at, in the project", func() {
			matches, included, more := page(members(10, profiles()))
			Expect(matches).To(Equal([]string{"ProjectMembership/m1", "ProjectMembership/m2", "ProjectMembership/m3",
				"ProjectMembership/m4", "ProjectMembership/m5"}))
			Expect(included).To(ConsistOf("Practitioner/a", "Practitioner/b", "Patient/d"))
			Expect(more).To(BeFalse())
		})

		It("follows the page's matches only, not the row read to tell that a next page exists", func() {
			matches, included, more := page(members(1, profiles()))
			Expect(matches).To(Equal([]string{"ProjectMembership/m1"}))
			Expect(included).To(Equal([]string{"Practitioner/a"}))
			Expect(more).To(BeTrue())

			q := members(2, profiles())
			q.Offset = 2
			matches, included, more = page(q)
			Expect(matches).To(Equal([]string{"ProjectMembership/m3", "ProjectMembership/m4"}))
			Expect(included).To(Equal([]string{"Patient/d"}))
			Expect(more).To(BeTrue())
		})

		It("keeps the order a sort asks for", func() {
			matches, included, more := page(members(3, profiles(), resources.SortKey{Code: "_id", Desc: true}))
			Expect(matches).To(Equal([]string{"ProjectMembership/m5", "ProjectMembership/m4", "ProjectMembership/m3"}))
			Expect(included).To(Equal([]string{"Patient/d"}))
			Expect(more).To(BeTrue())

			put("RelatedPerson", "x", "p1", 0, row("family", "zed"), row("patient", "Patient/d"))
			put("RelatedPerson", "y", "p1", 0, row("family", "abe"), row("patient", "Patient/e"))
			put("RelatedPerson", "z", "p1", 0, row("patient", "Patient/e"))
			patients := follow("patient", in("Patient"))
			for _, desc := range []bool{false, true} {
				q := &resources.Query{Type: "RelatedPerson", Project: "p1", Count: 3, Follow: patients,
					Sort: []resources.SortKey{{Code: "family", Desc: desc}}}
				matches, included, _ := page(q)
				// Without a family, z sorts as if its family were the largest.
				want := []string{"RelatedPerson/y", "RelatedPerson/x", "RelatedPerson/z"}
				if desc {
					want = []string{"RelatedPerson/z", "RelatedPerson/x", "RelatedPerson/y"}
				}
				Expect(matches).To(Equal(want))
				Expect(included).To(ConsistOf("Patient/d", "Patient/e"))
			}
		})

		It("answers what points at the page's own matches, which the pipeline leaves out, and at the row past the page", func() {
			put("ProjectMembership", "m6", "p1", 7, row("profile", "ProjectMembership/m7"))
			put("ProjectMembership", "m7", "p1", 6, row("profile", "ProjectMembership/m1"))
			f := follow("profile", in("Practitioner"), in("ProjectMembership"))
			matches, included, _ := page(members(2, f))
			Expect(matches).To(Equal([]string{"ProjectMembership/m6", "ProjectMembership/m7"}))
			Expect(included).To(ConsistOf("ProjectMembership/m7", "ProjectMembership/m1"))

			matches, included, _ = page(members(3, f))
			Expect(matches).To(Equal([]string{"ProjectMembership/m6", "ProjectMembership/m7", "ProjectMembership/m1"}))
			Expect(included).To(ConsistOf("ProjectMembership/m7", "ProjectMembership/m1", "Practitioner/a"))
		})

		It("follows only the types each reference may lead to", func() {
			put("ProjectMembership", "m0", "p1", 9, row("profile", "Practitioner/b"), row("user", "Patient/e"))
			f := follow("profile", in("Practitioner"), in("Patient"))
			f.Refs = append(f.Refs, resources.Ref{Param: "user", Types: []string{"Practitioner"}})
			_, included, _ := page(members(1, f))
			Expect(included).To(Equal([]string{"Practitioner/b"}))
			f.Refs[1].Types = []string{"Patient"}
			_, included, _ = page(members(1, f))
			Expect(included).To(ConsistOf("Practitioner/b", "Patient/e"))
			f.Refs[1].Types = nil // any
			_, included, _ = page(members(1, f))
			Expect(included).To(ConsistOf("Practitioner/b", "Patient/e"))
		})

		It("includes each resource once, however many matches point at it", func() {
			put("ProjectMembership", "m0", "p1", 9, row("profile", "Practitioner/a"))
			_, included, _ := page(members(2, profiles()))
			Expect(included).To(Equal([]string{"Practitioner/a"}))
		})

		It("keeps only what a guard's filters leave of a type", func() {
			_, included, _ := page(members(10, follow("profile", in("Practitioner", own), in("Patient"))))
			Expect(included).To(ConsistOf("Practitioner/b", "Patient/d"))
		})

		It("reads every project's targets for a search across projects", func() {
			q := members(10, follow("profile", &resources.Query{Type: "Practitioner", All: true}))
			q.Project, q.All = "", true
			_, included, _ := page(q)
			Expect(included).To(ConsistOf("Practitioner/a", "Practitioner/b", "Practitioner/c"))
		})

		It("counts the matches alone when asked for a total", func() {
			q := members(2, profiles())
			q.Total, q.Next = true, true
			p, err := s.Search(ctx, q)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Total).To(Equal(5))
			Expect(keys(p.Included)).To(ConsistOf("Practitioner/a", "Practitioner/b"))
		})

		It("reads at most MaxIncluded more than the page and one, enough to refuse a page that would include too many", func() {
			var index []resources.IndexRow
			Expect(s.InTx(ctx, func(ctx context.Context) error {
				for i := range resources.MaxIncluded + 5 {
					id := fmt.Sprintf("many-%d", i)
					index = append(index, row("entity", "Practitioner/"+id))
					rec := &resources.Record{Type: "Practitioner", ID: id, Project: "p1", Version: 1, LastUpdated: base,
						Content: fmt.Appendf(nil, `{"resourceType":"Practitioner","id":%q}`, id)}
					if err := s.Insert(ctx, rec); err != nil {
						return err
					}
				}
				return nil
			})).To(Succeed())
			put("AuditEvent", "ev", "p1", 9, index...)
			q := &resources.Query{Type: "AuditEvent", Project: "p1", Count: 1, Follow: follow("entity", in("Practitioner"))}
			_, included, _ := page(q)
			Expect(included).To(HaveLen(resources.MaxIncluded + 2))
		})
	})
})
