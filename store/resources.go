package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosterhq/roster/resources"
)

// nowMicro is the store's clock as stored: microseconds since the epoch.
func (s *Store) nowMicro() int64 { return s.now().UnixMicro() }

const recordColumns = "type, id, project_id, version, last_updated, deleted, content"

// versionColumns are a version's columns as written and as history reads
// them: its record's and the method that wrote it (migration 19). Reads of
// current versions need no method and leave it out.
const versionColumns = recordColumns + ", method"

// indexColumns are a search row's; see rowDate for its last_updated.
const indexColumns = "type, id, project_id, param, system, value, num, last_updated"

// rowDate is what a search row of rec carries as last_updated: the
// resource's date for a string parameter's row, 0 for any other. String
// parameters are the prefix searches, which at 1 M Patients match hundreds:
// with the date in their index entries a page is chosen from those entries
// alone (rowPage, migration 14). Exact searches match a few, and
// keeping their rows undated spares an update from rewriting them.
func rowDate(rec *resources.Record, param string) int64 {
	if p, ok := lookupParam(rec.Type, param); ok && dated(p) {
		return rec.LastUpdated.UnixMicro()
	}
	return 0
}

// dated tells whether p's search rows carry their resource's date.
func dated(p *resources.SearchParam) bool { return p.Type == resources.ParamString }

// Versions: resources holds each resource's current version, the history
// table the versions it superseded, so a resource never changed (most of
// them) is stored once. A version is in exactly one of the two tables.

// The statements at the heart of Insert, Get, GetVersion, Search and
// History are exported as functions of what they are asked (GetSQL, …),
// each giving the text, with "?" placeholders (Rebind), and the arguments:
// the benchmark's baseline sends them alone, measuring the limit of what
// Roster's store does.

// InsertSQL is the statement that stores rec as a new current row: what
// Insert sends on SQLite (on PostgreSQL it groups creates into one
// sqlInsertMany).
func InsertSQL(rec *resources.Record) (string, []any) {
	return "INSERT INTO resources (" + versionColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		[]any{rec.Type, rec.ID, rec.Project, rec.Version, rec.LastUpdated.UnixMicro(), false, string(rec.Content), rec.Method}
}

// Insert stores a new resource: current row, search index and unique keys,
// in one transaction.
func (s *Store) Insert(ctx context.Context, rec *resources.Record) error {
	if s.postgres {
		if held, err := s.deferInsert(ctx, rec); held {
			return err
		}
		if len(rec.Unique) == 0 {
			// One statement is atomic on its own: no transaction round
			// trips; outside a transaction it may be shared with
			// concurrent creates (writeQueue).
			if !s.inTx(ctx) {
				return s.creates.do(ctx, rec, s.insertGroup)
			}
			return s.insertMany(ctx, []*resources.Record{rec})
		}
		return s.InTx(ctx, func(ctx context.Context) error { return s.insertMany(ctx, []*resources.Record{rec}) })
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.claimUnique(ctx, rec); err != nil {
			return err
		}
		insert, args := InsertSQL(rec)
		if _, err := s.exec(ctx, insert, args...); err != nil {
			if errors.Is(err, errUnique) {
				return resources.Conflict("%s/%s already exists", rec.Type, rec.ID)
			}
			return err
		}
		return s.insertIndex(ctx, rec)
	})
}

// Replace writes the next version of a resource, or marks it deleted, and
// moves the version it supersedes to the history table; the change log
// (changes.go) records it. The version check happens in the UPDATE itself,
// so two concurrent writers of the same version cannot both win.
func (s *Store) Replace(ctx context.Context, rec *resources.Record) error {
	s.pruneChanges()
	if s.postgres && len(rec.Unique) == 0 {
		if !s.inTx(ctx) {
			return s.replaces.do(ctx, rec, s.replaceGroup)
		}
		return s.replaceOne(ctx, rec)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		var content any
		if !rec.Deleted {
			content = string(rec.Content)
		}
		// Copies nothing when the version moved on; the UPDATE then fails
		// and the transaction rolls back.
		if _, err := s.exec(ctx, "INSERT INTO resource_history ("+versionColumns+") SELECT "+versionColumns+
			" FROM resources WHERE type = ? AND id = ? AND version = ?", rec.Type, rec.ID, rec.Version-1); err != nil {
			return err
		}
		res, err := s.exec(ctx, "UPDATE resources SET version = ?, last_updated = ?, deleted = ?, content = ?, method = ? WHERE type = ? AND id = ? AND version = ?",
			rec.Version, rec.LastUpdated.UnixMicro(), rec.Deleted, content, rec.Method, rec.Type, rec.ID, rec.Version-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return resources.Precondition("conflict", "%s/%s was changed by another request", rec.Type, rec.ID)
		}
		if _, err := s.exec(ctx, "INSERT INTO changes (type, id, version, at) VALUES (?, ?, ?, ?)",
			rec.Type, rec.ID, rec.Version, rec.LastUpdated.UnixMicro()); err != nil {
			return err
		}
		if _, err := s.exec(ctx, "DELETE FROM unique_keys WHERE type = ? AND id = ?", rec.Type, rec.ID); err != nil {
			return err
		}
		if err := s.claimUnique(ctx, rec); err != nil {
			return err
		}
		if _, err := s.exec(ctx, "DELETE FROM search_index WHERE type = ? AND id = ?", rec.Type, rec.ID); err != nil {
			return err
		}
		return s.insertIndex(ctx, rec)
	})
}

// uniqueMessages turns a unique key's prefix into what the client is told.
var uniqueMessages = map[string]string{
	"User.email":                   "A user with this email already exists",
	"User.externalId":              "A user with this external id already exists",
	"ProjectMembership":            "User is already a member of this project",
	"ProjectMembership.externalId": "A membership with this external id already exists in the project",
}

// uniqueConflict is the 409 for a unique key of a typ resource already taken.
func uniqueConflict(key, typ string) *resources.Error {
	prefix, _, _ := strings.Cut(key, "|")
	msg, ok := uniqueMessages[prefix]
	if !ok {
		msg = "A " + typ + " with the same " + prefix + " already exists"
	}
	return resources.Conflict("%s", msg)
}

func (s *Store) claimUnique(ctx context.Context, rec *resources.Record) error {
	if rec.Deleted {
		return nil
	}
	for _, key := range rec.Unique {
		if _, err := s.exec(ctx, "INSERT INTO unique_keys (key, type, id) VALUES (?, ?, ?)", key, rec.Type, rec.ID); err != nil {
			if errors.Is(err, errUnique) {
				return uniqueConflict(key, rec.Type)
			}
			return err
		}
	}
	return nil
}

// insertIndex writes the record's search rows in batched multi-row INSERTs.
func (s *Store) insertIndex(ctx context.Context, rec *resources.Record) error {
	if rec.Deleted || len(rec.Index) == 0 {
		return nil
	}
	const per = 100
	for start := 0; start < len(rec.Index); start += per {
		end := min(start+per, len(rec.Index))
		var b strings.Builder
		b.WriteString("INSERT INTO search_index (" + indexColumns + ") VALUES ")
		args := make([]any, 0, (end-start)*8)
		for i, row := range rec.Index[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, rec.Type, rec.ID, rec.Project, row.Param, row.System, row.Value, row.Num, rowDate(rec, row.Param))
		}
		if _, err := s.exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func scanRecord(sc rowScanner) (*resources.Record, error) {
	var (
		rec     resources.Record
		lu      int64
		content sql.NullString
	)
	if err := sc.Scan(&rec.Type, &rec.ID, &rec.Project, &rec.Version, &lu, &rec.Deleted, &content); err != nil {
		return nil, err
	}
	fillRecord(&rec, lu, content)
	return &rec, nil
}

// fillRecord sets what a record's stored columns need turning into.
func fillRecord(rec *resources.Record, lastUpdated int64, content sql.NullString) {
	rec.LastUpdated = time.UnixMicro(lastUpdated).UTC()
	if content.Valid {
		rec.Content = []byte(content.String)
	}
}

// GetSQL is the statement Get sends for typ/id.
func GetSQL(typ, id string) (string, []any) {
	return "SELECT " + recordColumns + " FROM resources WHERE type = ? AND id = ?", []any{typ, id}
}

// Get returns the current row of typ/id, deleted or not.
func (s *Store) Get(ctx context.Context, typ, id string) (*resources.Record, error) {
	get, args := GetSQL(typ, id)
	rec, err := scanRecord(s.queryRow(ctx, get, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("%s/%s not found", typ, id)
	}
	return rec, translate(err)
}

// GetVersionSQL is the statement GetVersion sends: the version is in one
// of the two tables.
func GetVersionSQL(typ, id string, version int64) (string, []any) {
	return "SELECT " + recordColumns + " FROM resources WHERE type = ? AND id = ? AND version = ?" +
			" UNION ALL SELECT " + recordColumns + " FROM resource_history WHERE type = ? AND id = ? AND version = ?",
		[]any{typ, id, version, typ, id, version}
}

// GetVersion returns one version of a resource.
func (s *Store) GetVersion(ctx context.Context, typ, id string, version int64) (*resources.Record, error) {
	get, args := GetVersionSQL(typ, id, version)
	rec, err := scanRecord(s.queryRow(ctx, get, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("%s/%s version %d not found", typ, id, version)
	}
	return rec, translate(err)
}

func (s *Store) collect(rows *sql.Rows, err error) ([]*resources.Record, error) {
	return scanAll(rows, err, scanRecord)
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// scanAll reads every row a query answered with scan, then closes them; a
// failed query's err is returned as it is.
func scanAll[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// pageColumns are a search page's record columns; pageRows joins a page p
// of (id, last_updated), chosen from index entries, to its rows, each by a
// lookup: the LATERAL join with OFFSET 0 keeps the generic plan from
// guessing the LIMIT parameter at a tenth of the matches and reading the
// table by a full scan, as a plain join let it. Its one argument is the
// type.
const (
	pageColumns = "r.type, r.id, r.project_id, r.version, r.last_updated, r.deleted, r.content"
	pageRows    = " p CROSS JOIN LATERAL (SELECT " + pageColumns +
		" FROM resources r WHERE r.type = ? AND r.id = p.id OFFSET 0) r ORDER BY p.last_updated DESC, p.id"
)

// maxRune bounds a prefix range: every string starting with p sorts below
// p+maxRune in byte order (PostgreSQL's "C" collation, SQLite's BINARY).
const maxRune = "\U0010FFFF"

// Search runs a parsed query from the indexed columns: each filter is a
// semi-join on search_index served by its (project, type, param, value)
// index.
func (s *Store) Search(ctx context.Context, q *resources.Query) (*resources.Page, error) {
	where, args := searchWhere(q, s.postgres)
	p := &resources.Page{Total: -1}
	if q.Count > 0 {
		if err := s.page(ctx, q, where, args, p); err != nil {
			return nil, err
		}
	}
	if q.Total || q.Count == 0 {
		if err := s.queryRow(ctx, "SELECT COUNT(*) FROM resources r"+where, args...).Scan(&p.Total); err != nil {
			return nil, translate(err)
		}
	}
	return p, nil
}

// page reads a page of q's matches, the rows meeting where, into p, and
// what q.Follow leads to from them, at most MaxIncluded+Count+1 rows.
// Those come from the include cache (followCached) unless a guard narrows
// a target type; then, on PostgreSQL, in the page's own statement
// (followPage), a round trip less, and on SQLite, which has no round trip
// to save and where that statement's CTE, union and sort cost more, in a
// second statement (Referenced). On PostgreSQL the page's statement reads
// the change log for the cache.
func (s *Store) page(ctx context.Context, q *resources.Query, where string, args []any, p *resources.Page) error {
	var from uint64
	if q.Follow != nil {
		from = s.included.from()
	}
	query, qargs := searchSQL(q, s.postgres, where, args, from)
	rows, err := s.query(ctx, query, qargs...)
	var log changeLog
	if q.Follow != nil && s.postgres {
		err = scanFollowed(rows, err, followKeys(q), p, &log)
	} else {
		p.Matches, err = s.collect(rows, err)
	}
	if err != nil {
		return err
	}
	if len(p.Matches) > q.Count {
		p.Matches, p.More = p.Matches[:q.Count], true
	}
	if q.Follow == nil || len(p.Matches) == 0 {
		return nil
	}
	if cacheable(q.Follow) {
		if !s.postgres {
			if log.rows, log.next, err = s.readChanges(ctx, from); err != nil {
				return err
			}
		}
		p.Included, err = s.followCached(ctx, q.Type, p.Matches, q.Follow, log)
		return err
	}
	if s.postgres {
		return nil
	}
	ids := make([]string, len(p.Matches))
	for i, r := range p.Matches {
		ids[i] = r.ID
	}
	p.Included, err = s.referenced(ctx, q.Type, ids, q.Follow, resources.MaxIncluded+q.Count+1)
	return err
}

// SearchSQL is the statement Search sends for a page of q's matches, on
// PostgreSQL (with what q.Follow leads to) or on SQLite.
func SearchSQL(q *resources.Query, postgres bool) (string, []any) {
	where, args := searchWhere(q, postgres)
	return searchSQL(q, postgres, where, args, 0)
}

// searchSQL is the statement of a page of q's matches, the rows meeting
// where (searchWhere), and one more when q.Next asks; on PostgreSQL, with
// what q.Follow leads to.
func searchSQL(q *resources.Query, postgres bool, where string, args []any, from uint64) (string, []any) {
	page := *q
	if q.Next {
		page.Count++
	}
	if q.Follow != nil && postgres {
		return followPage(&page, q.Count, where, args, from)
	}
	return pageSQL(&page, postgres, where, args, "")
}

// searchWhere is the condition on a resource row (alias "r") that q's
// matches meet, and its arguments.
func searchWhere(q *resources.Query, postgres bool) (string, []any) {
	var (
		where strings.Builder
		args  []any
	)
	switch {
	case q.All && globalTypes[q.Type]:
		// Across projects no index leads with the date, and a generic plan,
		// taking the type for an average one, scanned every resource (0.2 s
		// at 1 M, on every start: the bootstrap looks for a Project). With
		// the literal the planner sees how few rows the type has and takes
		// them from the primary key. Registry names are safe to inline.
		where.WriteString(" WHERE r.type = '" + q.Type + "' AND r.deleted = ?")
		args = append(args, false)
	case q.All:
		where.WriteString(" WHERE r.type = ? AND r.deleted = ?")
		args = append(args, q.Type, false)
	default:
		where.WriteString(" WHERE r.type = ? AND r.deleted = ? AND r.project_id = ?")
		args = append(args, q.Type, false, q.Project)
	}
	for _, f := range q.Filters {
		clause, fargs := filterSQL(q, f, postgres)
		where.WriteString(" AND " + clause)
		args = append(args, fargs...)
	}
	return where.String(), args
}

// pageSQL is the statement of a page of q's matches, the rows meeting
// where (searchWhere), and its arguments. keys adds columns to a page in
// an order of q.Sort (followPage's sort keys).
func pageSQL(q *resources.Query, postgres bool, where string, args []any, keys string) (string, []any) {
	if page, pageArgs, ok := rowPage(q, postgres); ok {
		return page, pageArgs
	}
	pageArgs := append(append([]any{}, args...), q.Count, q.Offset)
	if postgres && len(q.Filters) > 0 && len(q.Sort) == 0 {
		// Other filtered searches in the default order choose their
		// page from the primary key's entries, which carry each
		// resource's project, date and deleted flag (migration 13), and
		// read only the page's rows (pageRows).
		return "SELECT " + pageColumns + " FROM (SELECT r.id, r.last_updated FROM resources r" + where + orderSQL(q) +
			" LIMIT ? OFFSET ?)" + pageRows, append(pageArgs, q.Type)
	}
	return "SELECT " + pageColumns + keys + " FROM resources r" + where + orderSQL(q) + " LIMIT ? OFFSET ?", pageArgs
}

// rowPage is the page statement of a search in the default order on
// PostgreSQL whose filters are all on string parameters: the page comes
// from the matching search rows' index entries, which carry each
// resource's id and date (rowDate), so at 1 M Patients a name prefix's ~240
// matches cost a few index pages rather than a lookup each; only the page's
// resource rows are read (pageRows). Deleted resources have no search rows.
// _id and _lastUpdated, which have no rows of their own, narrow the other
// filters' rows. Any other search, and one with a filter that can match
// nothing, is Search's.
func rowPage(q *resources.Query, postgres bool) (string, []any, bool) {
	if !postgres || len(q.Sort) > 0 {
		return "", nil, false
	}
	var (
		narrow     []string
		narrowArgs []any
		rowFilters []resources.Filter
	)
	for _, f := range q.Filters {
		if c, a, ok := ownFilterSQL(f, "s"); ok {
			narrow = append(narrow, " AND "+c)
			narrowArgs = append(narrowArgs, a...)
			continue
		}
		if !f.Plain() || !datedRows(q.Type, f) {
			return "", nil, false
		}
		rowFilters = append(rowFilters, f)
	}
	if len(rowFilters) == 0 {
		return "", nil, false
	}
	var (
		sets []string
		args []any
	)
	for _, f := range rowFilters {
		branches, bargs := filterBranches(q, f, "s.id, s.last_updated", strings.Join(narrow, ""), narrowArgs)
		if len(branches) == 0 {
			return "", nil, false
		}
		sets = append(sets, "("+strings.Join(branches, " UNION ALL ")+")")
		args = append(args, bargs...)
	}
	// A resource's rows all carry its date, so DISTINCT (id, date) is one
	// entry per resource, and INTERSECT keeps those every filter matched.
	sqlText := "SELECT " + pageColumns + " FROM (SELECT DISTINCT m.id, m.last_updated FROM (" + strings.Join(sets, " INTERSECT ") +
		") m ORDER BY m.last_updated DESC, m.id LIMIT ? OFFSET ?)" + pageRows
	return sqlText, append(args, q.Count, q.Offset, q.Type), true
}

// datedRows tells whether every search row f matches carries its
// resource's date (rowDate): its parameter's rows and those of the
// parameters it covers.
func datedRows(typ string, f resources.Filter) bool {
	if f.Param == nil || !dated(f.Param) || f.Param.Of != "" {
		return false
	}
	for _, code := range f.Param.Covers {
		if p, ok := lookupParam(typ, code); !ok || !dated(p) {
			return false
		}
	}
	return true
}

func filterSQL(q *resources.Query, f resources.Filter, postgres bool) (string, []any) {
	switch {
	case f.Chain != nil:
		return chainSQL(q, f, postgres)
	case f.Missing != nil:
		return missingSQL(f)
	}
	if c, a, ok := ownFilterSQL(f, "r"); ok {
		return c, a
	}
	branches, args := filterBranches(q, f, "s.id", "", nil)
	switch {
	case len(branches) == 0 && f.Not:
		return "1 = 1", nil
	case len(branches) == 0:
		return "1 = 0", nil
	case f.Not:
		return "r.id NOT IN (" + strings.Join(branches, " UNION ALL ") + ")", args
	}
	return "r.id IN (" + strings.Join(branches, " UNION ALL ") + ")", args
}

// paramCodes are the search-row parameters whose rows answer f, and the
// condition on their rows' system ("" for none): the parameter and those it
// covers, or the one whose rows of one system answer it.
func paramCodes(f resources.Filter) ([]string, string) {
	if f.Param.Of != "" {
		return []string{f.Param.Of}, f.Param.OfSystem
	}
	return append([]string{f.Code}, f.Param.Covers...), ""
}

// missingSQL is the condition of a :missing filter: the resource has (or,
// missing=true, has not) a search row of the parameter, looked up by the
// (type, id) index.
func missingSQL(f resources.Filter) (string, []any) {
	codes, system := paramCodes(f)
	cond := "EXISTS (SELECT 1 FROM search_index s WHERE s.type = r.type AND s.id = r.id AND s.param IN (?" +
		strings.Repeat(", ?", len(codes)-1) + ")"
	args := make([]any, 0, len(codes)+1)
	for _, c := range codes {
		args = append(args, c)
	}
	if system != "" {
		cond += " AND s.system = ?"
		args = append(args, system)
	}
	cond += ")"
	if *f.Missing {
		cond = "NOT " + cond
	}
	return cond, args
}

// chainSQL is the condition of a chained filter. Forward (ref.param=x):
// the resource's reference rows of f's parameter name a resource a query
// of the chain matches — those resources' ids, as references, found first
// and then looked up in the (project, type, param, value) index. Reverse
// (_has:Type:ref:param=x): the resource is named by the reference rows of
// Ref of a resource the chain's query matches, found by the (type, id)
// index. Either side stays within the query's project.
func chainSQL(q *resources.Query, f resources.Filter, postgres bool) (string, []any) {
	var (
		subs []string
		args []any
	)
	if !f.Chain.Reverse {
		for _, sub := range f.Chain.Of {
			// 'Type/' || id, in the value index's collation (registry names are safe to inline).
			ref := "('" + sub.Type + "/' || %s)"
			if postgres {
				ref += ` COLLATE "C"`
			}
			sql, a := matchIDs(sub, ref, postgres)
			subs, args = append(subs, sql), append(args, a...)
		}
		scope, sargs := indexScope(q, f.Code)
		return "r.id IN (SELECT s.id FROM search_index s WHERE " + scope + " AND s.value IN (" +
			strings.Join(subs, " UNION ALL ") + "))", append(sargs, args...)
	}
	prefix := q.Type + "/"
	id := "substr(s.value, ?)"
	if postgres {
		id += ` COLLATE "default"`
	}
	var branches []string
	for _, sub := range f.Chain.Of {
		scope, sargs := indexScope(sub, f.Chain.Ref.Code)
		ids, iargs := matchIDs(sub, "%s", postgres)
		branches = append(branches, "SELECT "+id+" FROM search_index s WHERE "+scope+" AND s.value >= ? AND s.value < ? AND s.id IN ("+ids+")")
		args = append(append(append(append(args, len(prefix)+1), sargs...), prefix, prefix+maxRune), iargs...)
	}
	return "r.id IN (" + strings.Join(branches, " UNION ALL ") + ")", args
}

// matchIDs is a SELECT of idExpr (a format with one %s, the id column) for
// each resource sub matches: straight from the value index when sub is one
// plain parameter filter (search rows are only ever a live resource's),
// else from the resources its filters all match.
func matchIDs(sub *resources.Query, idExpr string, postgres bool) (string, []any) {
	if len(sub.Filters) == 1 && sub.Filters[0].Plain() && sub.Filters[0].Param != nil {
		branches, args := filterBranches(sub, sub.Filters[0], fmt.Sprintf(idExpr, "s.id"), "", nil)
		if len(branches) > 0 {
			return strings.Join(branches, " UNION ALL "), args
		}
	}
	where, args := searchWhere(sub, postgres)
	return "SELECT " + fmt.Sprintf(idExpr, "r.id") + " FROM resources r" + where, args
}

// ownFilterSQL is the condition of a filter on a resource's own columns
// (_id, _lastUpdated), which its row (alias "r") and its search rows
// (alias "s") both carry; ok is false for any other filter.
func ownFilterSQL(f resources.Filter, alias string) (string, []any, bool) {
	switch f.Code {
	case "_id":
		ph := make([]string, len(f.Values))
		args := make([]any, len(f.Values))
		for i, v := range f.Values {
			ph[i], args[i] = "?", v.Value
		}
		return alias + ".id IN (" + strings.Join(ph, ", ") + ")", args, true
	case "_lastUpdated":
		var ors []string
		var args []any
		for _, v := range f.Values {
			c, a := dateCompare(alias+".last_updated", v, micros)
			ors = append(ors, c)
			args = append(args, a...)
		}
		return "(" + strings.Join(ors, " OR ") + ")", args, true
	}
	return "", nil, false
}

// filterBranches are the SELECTs of cols from the search rows matching f
// (and the condition narrow, which starts " AND "), one per parameter whose
// rows match: each is a plain range on the (project, type, param, value)
// index, which "param IN (…)" before a range is not. None when f can match
// nothing.
func filterBranches(q *resources.Query, f resources.Filter, cols, narrow string, narrowArgs []any) ([]string, []any) {
	codes, _ := paramCodes(f)
	var ors []string
	var vargs []any
	for _, v := range f.Values {
		if f.Param.Of != "" {
			// Another parameter's rows of one system (email: telecom's
			// email rows); a different system given can match nothing.
			if v.HasSystem && v.System != "" && v.System != f.Param.OfSystem {
				continue
			}
			v.System, v.HasSystem = f.Param.OfSystem, true
		}
		c, a := valueCompare(f.Param.Type, v)
		ors = append(ors, c)
		vargs = append(vargs, a...)
	}
	if len(ors) == 0 {
		return nil, nil
	}
	values := " AND (" + strings.Join(ors, " OR ") + ")" + narrow
	vargs = append(vargs, narrowArgs...)
	var branches []string
	var args []any
	for _, code := range codes {
		scope, sargs := indexScope(q, code)
		branches = append(branches, "SELECT "+cols+" FROM search_index s WHERE "+scope+values)
		args = append(append(args, sargs...), vargs...)
	}
	return branches, args
}

// indexScope is the condition on search rows (alias "s") of parameter code
// of q's type within q's project (every project with q.All): the leading
// columns of the value index.
func indexScope(q *resources.Query, code string) (string, []any) {
	switch {
	case !q.All:
		return "s.type = ? AND s.param = ? AND s.project_id = ?", []any{q.Type, code, q.Project}
	case globalTypes[q.Type]:
		// A literal the planner can match to search_index_global's
		// predicate (a bound parameter it cannot); the name comes from
		// the registry, so it is safe to inline.
		return "s.type = '" + q.Type + "' AND s.param = ?", []any{code}
	}
	return "s.type = ? AND s.param = ?", []any{q.Type, code}
}

// globalTypes are the types search_index_global indexes (migration 6).
var globalTypes = map[string]bool{"User": true, "ProjectMembership": true, "ClientApplication": true, "Project": true}

// dateCompare compares col with a date filter's interval; key turns an
// instant into the column's form (search rows keep resources.DateKey).
func dateCompare(col string, v resources.FilterValue, key func(int64) any) (string, []any) {
	from, to := key(v.From), key(v.To)
	switch v.Op {
	case "gt":
		return col + " >= ?", []any{to}
	case "ge":
		return col + " >= ?", []any{from}
	case "lt":
		return col + " < ?", []any{from}
	case "le":
		return col + " < ?", []any{to}
	case "ne":
		return "(" + col + " < ? OR " + col + " >= ?)", []any{from, to}
	}
	return "(" + col + " >= ? AND " + col + " < ?)", []any{from, to}
}

func micros(v int64) any  { return v }
func dateKey(v int64) any { return resources.DateKey(v) }

// valueCompare is the condition on a search row (alias "s") matching v.
// Values are compared by their bounded keys (resources.IndexKey,
// StringKey), the index's; a long string's row keeps its whole folded
// value in system, which a prefix longer than the key and :contains check.
func valueCompare(t resources.ParamType, v resources.FilterValue) (string, []any) {
	if resources.ControlChar(v.Value) || resources.ControlChar(v.System) {
		return "1 = 0", nil // stored strings hold none (and keys use one)
	}
	switch t {
	case resources.ParamDate:
		return dateCompare("s.value", v, dateKey)
	case resources.ParamString:
		switch v.Op {
		case "exact":
			key := resources.StringKey(v.Value)
			if resources.Long(key) {
				return "s.value = ?", []any{key}
			}
			return "(s.value = ? AND s.system = ?)", []any{key, v.Value}
		case "co":
			// A long value's key ends in its hash, which must not match.
			pattern := "%" + likeEscape(v.Value) + "%"
			return "(CASE WHEN s.value LIKE ? THEN s.system LIKE ? ESCAPE '\\' ELSE s.value LIKE ? ESCAPE '\\' END)",
				[]any{"%" + resources.KeySeparator + "%", pattern, pattern}
		}
		if from, to, ok := resources.LongPrefix(v.Value); ok {
			return "(s.value > ? AND s.value < ? AND substr(s.system, 1, ?) = ?)",
				[]any{from, to, utf8.RuneCountInString(v.Value), v.Value}
		}
		return "(s.value >= ? AND s.value < ?)", []any{v.Value, v.Value + maxRune}
	case resources.ParamReference:
		if v.Suffix {
			return "s.value LIKE ? ESCAPE '\\'", []any{"%" + likeEscape(v.Value)}
		}
		return "s.value = ?", []any{resources.IndexKey(v.Value)}
	}
	if v.HasSystem {
		if v.Value == "" {
			return "s.system = ?", []any{v.System}
		}
		return "(s.system = ? AND s.value = ?)", []any{v.System, resources.IndexKey(v.Value)}
	}
	return "s.value = ?", []any{resources.IndexKey(v.Value)}
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func orderSQL(q *resources.Query) string {
	var parts []string
	for _, k := range sortKeys(q) {
		parts = append(parts, k.expr+k.dir)
	}
	return " ORDER BY " + strings.Join(parts, ", ")
}

// sortKey is one term of a page's order: an expression on the resource
// row r, and its direction.
type sortKey struct{ expr, dir string }

// sortKeys is q's order, the resource's id last.
func sortKeys(q *resources.Query) []sortKey {
	if len(q.Sort) == 0 {
		return []sortKey{{"r.last_updated", " DESC"}, {"r.id", ""}}
	}
	var keys []sortKey
	for _, k := range q.Sort {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		switch k.Code {
		case "_id":
			keys = append(keys, sortKey{"r.id", dir})
		case "_lastUpdated":
			keys = append(keys, sortKey{"r.last_updated", dir})
		default:
			col := "value"
			if p, ok := lookupParam(q.Type, k.Code); ok && p.Type == resources.ParamDate {
				col = "num"
			}
			agg := "MIN"
			if k.Desc {
				agg = "MAX"
			}
			// The codes were validated against the registry, so they are safe to inline.
			params := "s.param = '" + k.Code + "'"
			if p, ok := lookupParam(q.Type, k.Code); ok && len(p.Covers) > 0 {
				params = "s.param IN ('" + strings.Join(append([]string{k.Code}, p.Covers...), "', '") + "')"
			} else if ok && p.Of != "" {
				params = "s.param = '" + p.Of + "' AND s.system = '" + p.OfSystem + "'"
			}
			value := "(SELECT " + agg + "(s." + col + ") FROM search_index s WHERE s.type = r.type AND s.id = r.id AND " + params + ")"
			// A resource without the value sorts as if it were the largest,
			// as PostgreSQL does by default and SQLite does not.
			keys = append(keys, sortKey{"(" + value + " IS NULL)", dir}, sortKey{value, dir})
		}
	}
	return append(keys, sortKey{"r.id", ""})
}

func lookupParam(typ, code string) (*resources.SearchParam, bool) {
	t, ok := resources.Lookup(typ)
	if !ok {
		return nil, false
	}
	return t.Param(code)
}

// History lists versions newest first, of one resource or of a whole type:
// the current versions and the superseded ones, each side already limited
// to the page's end before they are merged.
func (s *Store) History(ctx context.Context, q *resources.HistoryQuery) ([]*resources.Record, error) {
	history, args := HistorySQL(q)
	rows, err := s.query(ctx, history, args...)
	return scanAll(rows, err, scanVersion)
}

// scanVersion reads a row of versionColumns.
func scanVersion(sc rowScanner) (*resources.Record, error) {
	var (
		rec     resources.Record
		lu      int64
		content sql.NullString
	)
	if err := sc.Scan(&rec.Type, &rec.ID, &rec.Project, &rec.Version, &lu, &rec.Deleted, &content, &rec.Method); err != nil {
		return nil, err
	}
	fillRecord(&rec, lu, content)
	return &rec, nil
}

// HistorySQL is the statement History sends for q, and its arguments.
func HistorySQL(q *resources.HistoryQuery) (string, []any) {
	where := " WHERE type = ?"
	args := []any{q.Type}
	if q.ID != "" {
		where += " AND id = ?"
		args = append(args, q.ID)
	} else if !q.All {
		where += " AND project_id = ?"
		args = append(args, q.Project)
	}
	if q.Since > 0 {
		where += " AND last_updated >= ?"
		args = append(args, q.Since)
	}
	const order = " ORDER BY last_updated DESC, version DESC"
	side := func(table, alias string) string {
		return "SELECT * FROM (SELECT " + versionColumns + " FROM " + table + where + order + " LIMIT ?) " + alias
	}
	sqlText := side("resources", "cur") + " UNION ALL " + side("resource_history", "old") + order + " LIMIT ? OFFSET ?"
	end := q.Count + q.Offset
	return sqlText, append(append(append(append([]any{}, args...), end), args...), end, q.Count, q.Offset)
}
