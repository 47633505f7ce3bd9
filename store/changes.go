package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/resources"
)

// The resources a page's _include parameters add come from a cache in
// each process, kept true by the change log (migration 26): every update
// and delete writes its resource and new version there in its own
// transaction, and a search with includes reads the log's rows its
// process has not applied yet, in the statement that reads its page
// (PostgreSQL) or right after it (SQLite). So the cache never holds a
// version older than one the page's statement could see, on one process
// or many: a write another process committed before the page was read is
// applied before the page's includes are looked up. Creates log nothing:
// a resource no one could read could not be cached. Reading the targets
// again by key instead cost the database more than the page itself
// (docs/performance.md, "Where an include page's cost goes").
//
// The log is positioned by the writing transaction's id on PostgreSQL and
// by a sequence on SQLite, where one writer commits at a time. A process
// applies every row at or past its horizon; on PostgreSQL the next horizon
// is the oldest transaction the statement's snapshot saw running, whose
// rows, and every later one's, it will read next time. Rows older than
// changeRetention are pruned; a process that has not read the log for
// half that long forgets its whole cache.

// changeRetention is how long the change log keeps a row.
const changeRetention = time.Hour

// includeCacheBytes bounds the content the cache holds, twice over while
// it turns over a generation.
const includeCacheBytes = 32 << 20

// flushMarker is the type of a change-log row that empties every cache
// (Reset: ids and versions start again).
const flushMarker = "*"

// includeCache is a process's cache of included resources, by "Type/id":
// the newest version it read. Entries and floors live in two generations;
// a full generation becomes the old one and what is still used moves back.
type includeCache struct {
	mu                  sync.Mutex
	entries, oldEntries map[string]*resources.Record
	size                int
	// floors are the lowest version an entry may hold, from the log: a
	// read that raced a logged write cannot put back what it replaced.
	floors, oldFloors map[string]int64
	// applied counts the log rows applied; forgotten is its value when
	// floors were last dropped, after which a put from a request that
	// synced earlier is refused (a floor it should meet may be gone).
	applied, forgotten uint64
	horizon            uint64
	synced             time.Time

	refs      refMemo
	lastPrune atomic.Int64
	// pruning is the prune in flight, which Close waits for.
	pruning sync.WaitGroup
}

// change is a change-log row.
type change struct {
	typ, id string
	version int64
}

// sync applies log rows and moves the horizon to next; it returns the
// epoch a request's puts carry.
func (c *includeCache) sync(rows []change, next uint64, now time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced.IsZero() && now.Sub(c.synced) > changeRetention/2 {
		c.flush() // rows this process did not read may be pruned
	}
	c.synced = now
	for _, ch := range rows {
		c.applied++
		if ch.typ == flushMarker {
			c.flush()
			continue
		}
		k := ch.typ + "/" + ch.id
		if e := c.entry(k); e != nil && e.Version < ch.version {
			delete(c.entries, k)
			delete(c.oldEntries, k)
		}
		if ch.version > c.floor(k) {
			if len(c.floors) >= maxMemo {
				c.oldFloors, c.floors = c.floors, nil
				c.forgotten = c.applied
			}
			if c.floors == nil {
				c.floors = make(map[string]int64, 1024)
			}
			c.floors[k] = ch.version
		}
	}
	c.horizon = max(c.horizon, next)
	return c.applied
}

func (c *includeCache) flush() {
	c.entries, c.oldEntries, c.size = nil, nil, 0
	c.floors, c.oldFloors = nil, nil
	c.forgotten = c.applied + 1
}

func (c *includeCache) entry(k string) *resources.Record {
	if e, ok := c.entries[k]; ok {
		return e
	}
	return c.oldEntries[k]
}

func (c *includeCache) floor(k string) int64 {
	if f, ok := c.floors[k]; ok {
		return f
	}
	return c.oldFloors[k]
}

// get returns the cached resources of keys, nil where there is none.
func (c *includeCache) get(keys []string) []*resources.Record {
	out := make([]*resources.Record, len(keys))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if e, ok := c.entries[k]; ok {
			out[i] = e
		} else if e, ok := c.oldEntries[k]; ok {
			out[i] = e
			c.add(k, e)
		}
	}
	return out
}

// put caches recs, read by a request whose sync returned epoch.
func (c *includeCache) put(recs []*resources.Record, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch < c.forgotten {
		return
	}
	for _, rec := range recs {
		k := rec.Type + "/" + rec.ID
		if rec.Version < c.floor(k) {
			continue
		}
		if e := c.entry(k); e == nil || e.Version < rec.Version {
			c.add(k, rec)
		}
	}
}

// entryBytes is what an entry costs beside its content, so entries of
// deleted resources, which have none, count too.
const entryBytes = 256

func (c *includeCache) add(k string, rec *resources.Record) {
	n := len(rec.Content) + entryBytes
	if c.entries == nil || c.size+n > includeCacheBytes {
		c.oldEntries, c.entries, c.size = c.entries, make(map[string]*resources.Record, len(c.entries)), 0
	}
	c.entries[k] = rec
	c.size += n
}

// from is the horizon a request reads the log from.
func (c *includeCache) from() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.horizon
}

// refMemo remembers the references a resource version's parameter holds,
// so a page's includes do not decode its matches each time: a version
// never changes. It forgets everything when it grows past maxMemo entries.
type refMemo struct {
	mu sync.RWMutex
	m  map[string][]string
}

const maxMemo = 1 << 16

// of returns the literal references ("Type/id", as written) rec's
// parameter param holds.
func (m *refMemo) of(rec *resources.Record, param *resources.SearchParam) []string {
	k := rec.Type + "/" + rec.ID + "/" + strconv.FormatInt(rec.Version, 10) + "/" + strconv.FormatInt(rec.LastUpdated.UnixMicro(), 10) + "/" + param.Code
	m.mu.RLock()
	refs, ok := m.m[k]
	m.mu.RUnlock()
	if ok {
		return refs
	}
	r, err := resources.Unmarshal(rec)
	if err != nil {
		return nil
	}
	for _, v := range param.Values(r) {
		if !v.Identifier && v.Value != "" {
			refs = append(refs, v.Value)
		}
	}
	m.mu.Lock()
	if m.m == nil || len(m.m) >= maxMemo {
		m.m = make(map[string][]string, 1024)
	}
	m.m[k] = refs
	m.mu.Unlock()
	return refs
}

// cacheable reports whether f's targets may come from the cache: a
// guard's narrowing of a target type is a statement's to apply.
func cacheable(f *resources.Follow) bool {
	for _, t := range f.Targets {
		if len(t.Filters) > 0 {
			return false
		}
	}
	return true
}

// logChanges is the part of PostgreSQL's page statement that reads the
// change log from the horizon h, and the next horizon: rows of the
// page's shape, included 2 for a change (its version in last_updated),
// 3 for the horizon (in id); nulls fills the sort-key columns.
func logChanges(h uint64, nulls string) (string, []any) {
	return " UNION ALL SELECT 2, c.version, c.id, c.type, '', 0, FALSE, NULL" + nulls +
			" FROM changes c WHERE c.xid >= CAST(CAST(? AS text) AS xid8)" +
			" UNION ALL SELECT 3, 0, pg_snapshot_xmin(pg_current_snapshot())::text, '', '', 0, FALSE, NULL" + nulls,
		[]any{strconv.FormatUint(h, 10)}
}

// readChanges is SQLite's read of the change log from the horizon h: its
// rows and the next horizon.
func (s *Store) readChanges(ctx context.Context, h uint64) ([]change, uint64, error) {
	rows, err := s.query(ctx, "SELECT seq, type, id, version FROM changes INDEXED BY changes_seq WHERE seq >= ? ORDER BY seq", int64(h))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []change
	next := h
	for rows.Next() {
		var seq int64
		var ch change
		if err := rows.Scan(&seq, &ch.typ, &ch.id, &ch.version); err != nil {
			return nil, 0, err
		}
		out = append(out, ch)
		next = max(next, uint64(seq)+1)
	}
	return out, next, translate(rows.Err())
}

// followCached returns what f leads to from matches, resources of type
// typ, once what the page's statement read of the change log is applied:
// their references, found in their content, served from the cache, and
// read by key (one statement per type) where it has none. A target that
// is deleted, of another project or of a type f does not lead to is left
// out, as followSQL's statement leaves it out.
func (s *Store) followCached(ctx context.Context, typ string, matches []*resources.Record, f *resources.Follow, log changeLog) ([]*resources.Record, error) {
	epoch := s.included.sync(log.rows, log.next, s.now())
	s.pruneChanges()
	t, ok := resources.Lookup(typ)
	if !ok || len(matches) == 0 {
		return nil, nil
	}
	var keys []string
	seen := map[string]bool{}
	for _, ref := range f.Refs {
		var param *resources.SearchParam
		for i := range t.Params {
			if t.Params[i].Code == ref.Param && t.Params[i].Values != nil {
				param = &t.Params[i]
			}
		}
		if param == nil {
			continue
		}
		for _, rec := range matches {
			for _, v := range s.included.refs.of(rec, param) {
				typ, id, ok := strings.Cut(v, "/")
				if !ok || id == "" || strings.Contains(id, "/") || seen[v] || !leadsTo(ref, typ) {
					continue
				}
				seen[v] = true
				keys = append(keys, v)
			}
		}
	}
	// As many as followSQL's statement reads: enough to tell a page that
	// would include too many.
	keys = keys[:min(len(keys), resources.MaxIncluded+len(matches)+1)]
	if len(keys) == 0 {
		return nil, nil
	}
	found := s.included.get(keys)
	missing := map[string][]string{}
	for i, rec := range found {
		if rec == nil {
			typ, id, _ := strings.Cut(keys[i], "/")
			missing[typ] = append(missing[typ], id)
		}
	}
	for typ, ids := range missing {
		read, err := s.byKeys(ctx, typ, ids)
		if err != nil {
			return nil, err
		}
		s.included.put(read, epoch)
		found = append(found, read...)
	}
	var out []*resources.Record
	all, project := f.Targets[0].All, f.Targets[0].Project
	for _, rec := range found {
		if rec != nil && !rec.Deleted && (all || rec.Project == project) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// leadsTo reports whether ref may lead to a resource of type typ.
func leadsTo(ref resources.Ref, typ string) bool {
	if ref.Types == nil {
		_, ok := resources.Lookup(typ)
		return ok
	}
	return slices.Contains(ref.Types, typ)
}

// byKeys reads the current rows of the typ resources ids, deleted or not.
func (s *Store) byKeys(ctx context.Context, typ string, ids []string) ([]*resources.Record, error) {
	in, arg := inList(ids, s.postgres)
	return s.collect(s.query(ctx, "SELECT "+recordColumns+" FROM resources WHERE type = ? AND id "+in, typ, arg))
}

// pruneChanges deletes the change log's rows older than changeRetention,
// at most once a minute per process (the first a minute after Open),
// beside the request that calls it.
func (s *Store) pruneChanges() {
	now := s.now()
	last := s.included.lastPrune.Load()
	if now.UnixMicro()-last < time.Minute.Microseconds() || !s.included.lastPrune.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	s.included.pruning.Add(1)
	go func() {
		defer s.included.pruning.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		before := now.Add(-changeRetention).UnixMicro()
		if s.postgres {
			_, _ = s.exec(ctx, "DELETE FROM changes WHERE at < ?", before)
			return
		}
		// Oldest first, a batch at a time, so the one writer is not held
		// long; the log's order is its rows' age.
		for {
			res, err := s.exec(ctx, "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes INDEXED BY changes_seq ORDER BY seq LIMIT 1000) AND at < ?", before)
			if err != nil {
				return
			}
			if n, _ := res.RowsAffected(); n < 1000 {
				return
			}
		}
	}()
}

// changeLog is what a page's statement read of the change log: its rows
// past the horizon and the next horizon.
type changeLog struct {
	rows []change
	next uint64
}

// scan takes a log row out of PostgreSQL's page statement (logChanges):
// included is 2 or 3.
func (l *changeLog) scan(included int, lu int64, id, typ string) {
	if included == 3 {
		l.next, _ = strconv.ParseUint(id, 10, 64)
		return
	}
	l.rows = append(l.rows, change{typ: typ, id: id, version: lu})
}
