package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// Two processes on one database are two Stores here: what one writes, the
// other's include cache must show on its next page, which no single
// server's requests can show.
var _ = Describe("the include cache", func() {
	var (
		ctx    = context.Background()
		opts   Options
		writer *Store // one process
		reader *Store // another
		now    time.Time
		mu     sync.Mutex
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	open := func() *Store {
		GinkgoHelper()
		o := opts
		o.Now = clock
		s, err := Open(o)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.Migrate(ctx)).To(Succeed())
		return s
	}
	practitioner := func(version int64, name string, deleted bool) *resources.Record {
		rec := &resources.Record{Type: "Practitioner", ID: "a", Project: "p1", Version: version, LastUpdated: clock(), Deleted: deleted}
		if !deleted {
			rec.Content = fmt.Appendf(nil, `{"resourceType":"Practitioner","id":"a","name":[{"family":%q}]}`, name)
		}
		return rec
	}
	// included is what the reader's page of memberships includes, as
	// "Type/id version content".
	included := func() []string {
		GinkgoHelper()
		f := &resources.Follow{Refs: []resources.Ref{{Param: "profile", Types: []string{"Practitioner"}}},
			Targets: []*resources.Query{{Type: "Practitioner", Project: "p1"}}}
		p, err := reader.Search(ctx, &resources.Query{Type: "ProjectMembership", Project: "p1", Count: 10, Next: true, Follow: f})
		Expect(err).NotTo(HaveOccurred())
		out := []string{}
		for _, r := range p.Included {
			out = append(out, fmt.Sprintf("%s/%s %d %s", r.Type, r.ID, r.Version, r.Content))
		}
		return out
	}
	as := func(version int64, name string) string {
		return fmt.Sprintf(`Practitioner/a %d {"resourceType":"Practitioner","id":"a","name":[{"family":%q}]}`, version, name)
	}

	BeforeEach(func() {
		now = time.Now().Truncate(time.Microsecond)
		opts = Options{SQLitePath: filepath.Join(GinkgoT().TempDir(), "roster.db")}
		if base := os.Getenv("ROSTER_TEST_DATABASE_URL"); base != "" {
			u, drop, err := CreateDatabase(base, "roster_test_")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(drop)
			opts = Options{DatabaseURL: u}
		}
		writer, reader = open(), open()
		Expect(writer.Insert(ctx, practitioner(1, "One", false))).To(Succeed())
		Expect(writer.Insert(ctx, &resources.Record{Type: "ProjectMembership", ID: "m1", Project: "p1", Version: 1, LastUpdated: now,
			Content: []byte(`{"resourceType":"ProjectMembership","id":"m1","profile":{"reference":"Practitioner/a"}}`),
			Index:   []resources.IndexRow{{Param: "profile", Value: "Practitioner/a"}}})).To(Succeed())
		Expect(included()).To(Equal([]string{as(1, "One")}), "the reader has cached the first version")
	})

	It("shows an update another process committed before the page was read", func() {
		Expect(writer.Replace(ctx, practitioner(2, "Two", false))).To(Succeed())
		Expect(included()).To(Equal([]string{as(2, "Two")}))
		Expect(included()).To(Equal([]string{as(2, "Two")}), "and keeps showing it")
	})

	It("shows an update committed in a transaction with others", func() {
		Expect(writer.InTx(ctx, func(ctx context.Context) error {
			if err := writer.Replace(ctx, practitioner(2, "Two", false)); err != nil {
				return err
			}
			return writer.Replace(ctx, practitioner(3, "Three", false))
		})).To(Succeed())
		Expect(included()).To(Equal([]string{as(3, "Three")}))
	})

	It("leaves out a target another process deleted", func() {
		Expect(writer.Replace(ctx, practitioner(2, "", true))).To(Succeed())
		Expect(included()).To(BeEmpty())
	})

	It("shows nothing of a transaction that rolled back", func() {
		Expect(writer.InTx(ctx, func(ctx context.Context) error {
			if err := writer.Replace(ctx, practitioner(2, "Two", false)); err != nil {
				return err
			}
			return resources.Invalid("x", "roll back")
		})).NotTo(Succeed())
		Expect(included()).To(Equal([]string{as(1, "One")}))
	})

	It("forgets everything on a reset, where ids and versions start again", func() {
		Expect(writer.Reset(ctx)).To(Succeed())
		Expect(writer.Insert(ctx, practitioner(1, "Reborn", false))).To(Succeed())
		Expect(writer.Insert(ctx, &resources.Record{Type: "ProjectMembership", ID: "m1", Project: "p1", Version: 1, LastUpdated: now,
			Content: []byte(`{"resourceType":"ProjectMembership","id":"m1","profile":{"reference":"Practitioner/a"}}`),
			Index:   []resources.IndexRow{{Param: "profile", Value: "Practitioner/a"}}})).To(Succeed())
		Expect(included()).To(Equal([]string{as(1, "Reborn")}))
	})

	It("stays true under concurrent updates: the last one committed is what a page shows after", func() {
		const writers, each = 4, 10
		var wg sync.WaitGroup
		var versions sync.Mutex
		next := int64(2)
		for range writers {
			wg.Go(func() {
				defer GinkgoRecover()
				for range each {
					versions.Lock()
					v := next
					next++
					err := writer.Replace(ctx, practitioner(v, fmt.Sprint("V", v), false))
					versions.Unlock()
					Expect(err).NotTo(HaveOccurred())
				}
			})
			wg.Go(func() {
				defer GinkgoRecover()
				for range each {
					Expect(included()).To(HaveLen(1))
				}
			})
		}
		wg.Wait()
		last := int64(1 + writers*each)
		Expect(included()).To(Equal([]string{as(last, fmt.Sprint("V", last))}))
	})

	It("forgets what it holds when it has not read the log for half the time the log keeps rows", func() {
		mu.Lock()
		now = now.Add(changeRetention/2 + time.Minute)
		mu.Unlock()
		// A write whose log row was pruned before the reader came back.
		Expect(writer.Replace(ctx, practitioner(2, "Two", false))).To(Succeed())
		_, err := writer.exec(ctx, "DELETE FROM changes")
		Expect(err).NotTo(HaveOccurred())
		Expect(included()).To(Equal([]string{as(2, "Two")}))
	})

	It("prunes the log's rows older than the time it keeps them", func() {
		Expect(writer.Replace(ctx, practitioner(2, "Two", false))).To(Succeed())
		logged := func() []int64 {
			rows, err := writer.query(ctx, "SELECT version FROM changes ORDER BY version")
			vs, err := scanAll(rows, err, func(sc rowScanner) (v int64, err error) { return v, sc.Scan(&v) })
			Expect(err).NotTo(HaveOccurred())
			return vs
		}
		Expect(logged()).To(Equal([]int64{2}))
		mu.Lock()
		now = now.Add(changeRetention + 2*time.Minute)
		mu.Unlock()
		Expect(writer.Replace(ctx, practitioner(3, "Three", false))).To(Succeed())
		Eventually(logged).Should(Equal([]int64{3}), "the row of version 2 is gone, version 3's stays")
	})

	Describe("a read that raced a write", func() {
		It("cannot put back the version the write replaced", func() {
			var c includeCache
			epoch := c.sync(nil, 0, now)
			old := &resources.Record{Type: "Practitioner", ID: "a", Version: 1, Content: []byte("{}")}
			c.sync([]change{{typ: "Practitioner", id: "a", version: 2}}, 0, now)
			c.put([]*resources.Record{old}, epoch)
			Expect(c.get([]string{"Practitioner/a"})).To(Equal([]*resources.Record{nil}))

			current := &resources.Record{Type: "Practitioner", ID: "a", Version: 2, Content: []byte("{}")}
			c.put([]*resources.Record{current}, epoch)
			Expect(c.get([]string{"Practitioner/a"})).To(Equal([]*resources.Record{current}))
		})

		It("puts nothing once the floors it should meet are forgotten", func() {
			var c includeCache
			epoch := c.sync(nil, 0, now)
			c.sync([]change{{typ: flushMarker}}, 0, now)
			c.put([]*resources.Record{{Type: "Practitioner", ID: "a", Version: 7, Content: []byte("{}")}}, epoch)
			Expect(c.get([]string{"Practitioner/a"})).To(Equal([]*resources.Record{nil}))
		})
	})
})
