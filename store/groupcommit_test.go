package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// fakeWrites records each group's records and holds the first group until
// released, so writes can be queued behind it.
type fakeWrites struct {
	mu      sync.Mutex
	calls   [][]string
	release chan struct{}
	refuse  string // an id the "database" refuses, failing its group
	panicOn string // an id whose group panics
	stale   string // an id whose write is a version conflict (its own outcome)
}

var errStale = errors.New("stale version")

func (f *fakeWrites) write(_ context.Context, recs []*resources.Record) ([]error, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	f.mu.Lock()
	f.calls = append(f.calls, ids)
	first := len(f.calls) == 1
	f.mu.Unlock()
	if first {
		<-f.release
	}
	var outcomes []error
	for i, id := range ids {
		if id == f.panicOn {
			panic("write panicked")
		}
		if id == f.refuse {
			return nil, errors.New("refused " + id)
		}
		if id == f.stale {
			if outcomes == nil {
				outcomes = make([]error, len(ids))
			}
			outcomes[i] = errStale
		}
	}
	return outcomes, nil
}

func (f *fakeWrites) groups() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

func (q *writeQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

var _ = Describe("concurrent writes (group commit)", func() {
	var (
		q   *writeQueue
		f   *fakeWrites
		ids []string
	)
	BeforeEach(func() {
		q, f = &writeQueue{}, &fakeWrites{release: make(chan struct{})}
		ids = []string{"first", "a", "b", "c", "d"}
	})

	// runQueued runs ids[0]'s write, queues the rest behind its group, lets
	// it finish and waits for all; it returns each write's error and the
	// groups sent.
	runQueued := func() (*sync.Map, [][]string) {
		var wg sync.WaitGroup
		var errs sync.Map
		insert := func(id string) {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs.Store(id, fmt.Errorf("panic: %v", p))
				}
			}()
			errs.Store(id, q.do(context.Background(), &resources.Record{ID: id}, f.write))
		}
		wg.Add(len(ids))
		go insert(ids[0])
		Eventually(f.groups).Should(HaveLen(1))
		for _, id := range ids[1:] {
			go insert(id)
		}
		Eventually(q.queued).Should(Equal(len(ids) - 1))
		close(f.release)
		wg.Wait()
		return &errs, f.groups()
	}

	It("writes a lone write at once, in a group of its own", func() {
		close(f.release)
		Expect(q.do(context.Background(), &resources.Record{ID: "x"}, f.write)).To(Succeed())
		Expect(f.groups()).To(Equal([][]string{{"x"}}))
		Expect(q.writing).To(BeFalse())
	})

	It("writes the writes queued behind a group together and answers each", func() {
		errs, stmts := runQueued()
		Expect(stmts).To(HaveLen(2))
		Expect(stmts[0]).To(Equal([]string{"first"}))
		Expect(stmts[1]).To(ConsistOf("a", "b", "c", "d"))
		for _, id := range ids {
			err, _ := errs.Load(id)
			Expect(err).To(BeNil(), id)
		}
		Expect(q.writing).To(BeFalse())
	})

	It("fails only the write the database refuses, writing the others alone", func() {
		f.refuse = "c"
		errs, stmts := runQueued()
		Expect(stmts).To(HaveLen(2 + 4)) // the shared group failed: each alone
		Expect(stmts[2:]).To(ConsistOf([]string{"a"}, []string{"b"}, []string{"c"}, []string{"d"}))
		for _, id := range ids {
			err, _ := errs.Load(id)
			if id == "c" {
				Expect(err).To(MatchError("refused c"))
			} else {
				Expect(err).To(BeNil(), id)
			}
		}
	})

	It("gives each write of a group that committed its own outcome", func() {
		f.stale = "b"
		errs, stmts := runQueued()
		Expect(stmts).To(HaveLen(2), "the group was not retried")
		for _, id := range ids {
			err, _ := errs.Load(id)
			if id == "b" {
				Expect(err).To(MatchError(errStale))
			} else {
				Expect(err).To(BeNil(), id)
			}
		}
	})

	It("answers every write and frees the queue when a group's writer panics", func() {
		f.panicOn = "c"
		errs, stmts := runQueued()
		Expect(stmts).To(HaveLen(2))
		writer := stmts[1][0] // the first queued write sent the second group
		for _, id := range ids[1:] {
			err, _ := errs.Load(id)
			if id == writer {
				Expect(err).To(MatchError("panic: write panicked"))
			} else {
				Expect(err).To(MatchError(errGroupPanicked), id)
			}
		}
		f.panicOn = ""
		Expect(q.do(context.Background(), &resources.Record{ID: "after"}, f.write)).To(Succeed())
		Expect(f.groups()).To(HaveLen(3))
	})

	It("keeps a group to maxGroup writes and sends the rest next", func() {
		ids = []string{"first"}
		for i := range maxGroup + 3 {
			ids = append(ids, time.Duration(i).String())
		}
		_, stmts := runQueued()
		sizes := []int{}
		for _, s := range stmts {
			sizes = append(sizes, len(s))
		}
		Expect(sizes).To(Equal([]int{1, maxGroup, 3}))
	})

	It("does not let the writer's cancelled request cancel the others' group", func() {
		var seen context.Context
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		Expect(q.do(ctx, &resources.Record{ID: "x"}, func(ctx context.Context, _ []*resources.Record) ([]error, error) {
			seen = ctx
			return nil, nil
		})).To(Succeed())
		Expect(seen.Err()).NotTo(HaveOccurred())
	})
})
