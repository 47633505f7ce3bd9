package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/resources"
)

// Referenced returns the live resources the typ resources ids point at as
// f says, each once, in one statement: an :iterate round of _include (and
// on SQLite the first round too, see page).
func (s *Store) Referenced(ctx context.Context, typ string, ids []string, f *resources.Follow) ([]*resources.Record, error) {
	return s.referenced(ctx, typ, ids, f, 0)
}

// referenced is Referenced reading at most limit rows (0: all).
func (s *Store) referenced(ctx context.Context, typ string, ids []string, f *resources.Follow, limit int) ([]*resources.Record, error) {
	query, args := ReferencedSQL(typ, ids, f, s.postgres)
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	return s.collect(s.query(ctx, query, args...))
}

// ReferencedSQL is the statement Referenced sends, on PostgreSQL or on
// SQLite; the ids come as one array (inList).
func ReferencedSQL(typ string, ids []string, f *resources.Follow, postgres bool) (string, []any) {
	in, arg := inList(ids, postgres)
	return followSQL(typ, in, arg, f, pageColumns, postgres)
}

// inList is the condition "is one of ids" as a column's suffix, and its
// one argument: an array on PostgreSQL, a JSON array on SQLite, so the
// statement is the same for any number of ids.
func inList(ids []string, postgres bool) (string, any) {
	if postgres {
		return "= ANY (?)", ids
	}
	list, _ := json.Marshal(ids)
	return "IN (SELECT value FROM json_each(?))", string(list)
}

// followSQL selects the columns cols of the live resources f leads to
// from the typ resources whose ids meet the condition ids (with its
// argument idsArg, if any), each once. A reference row's value is
// "Type/id"; the target's type is what comes before the first "/" and its
// id all that follows, so absolute and versioned references name nothing.
// The references are read from the search index's (type, id) entries,
// told apart by their value (in the "C" collation: quick to compare), and
// each target from the primary key. The types are chosen on the reference
// rows: as a condition of the primary key's scan, a list of types was
// sorted again for each target.
//
// On SQLite the statement binds no value that the samples ANALYZE keeps
// of an index (sqlite_stat4) could weigh, nor one a partial index's
// condition names: SQLite compiled such a statement a second time at each
// execution, once the values were bound. So the type is inlined (a
// registry name, as the parameters and types are), the ids come as one
// JSON array, and the project is no index term ("+"); nor is the
// parameter, whose term made the (type, param, value) index of four types
// look cheaper than (type, id), and every reference row of the type was
// read.
func followSQL(typ, ids string, idsArg any, f *resources.Follow, cols string, postgres bool) (string, []any) {
	refType := func(v string) string { return "substr(" + v + ", 1, instr(" + v + ", '/') - 1)" }
	refID := func(v string) string { return "substr(" + v + ", instr(" + v + ", '/') + 1)" }
	source, param, project := "'"+typ+"'", "+s.param", "+r.project_id"
	var args []any
	if postgres {
		// In the primary key's collation, so it serves the join.
		refType = func(v string) string { return "split_part(" + v + `, '/', 1) COLLATE "default"` }
		refID = func(v string) string { return "substr(" + v + ", strpos(" + v + `, '/') + 1) COLLATE "default"` }
		source, param, project, args = "?", "s.param", "r.project_id", []any{typ}
	}
	var refs []string
	for _, ref := range f.Refs {
		cond := param + " = '" + ref.Param + "'"
		if len(ref.Types) > 0 {
			cond += " AND " + refType("s.value") + " IN ('" + strings.Join(ref.Types, "', '") + "')"
		}
		refs = append(refs, "("+cond+")")
	}
	keys := "SELECT DISTINCT s.value FROM search_index s WHERE s.type = " + source + " AND s.id " + ids + " AND (" + strings.Join(refs, " OR ") + ")"
	if idsArg != nil {
		args = append(args, idsArg)
	}
	args = append(args, false)
	where := " WHERE r.deleted = ?"
	// Targets share the search's project; a guard's filters narrow their
	// type.
	for _, t := range f.Targets {
		if len(t.Filters) == 0 {
			continue
		}
		var conds []string
		for _, flt := range t.Filters {
			c, a := filterSQL(t, flt, postgres)
			conds = append(conds, c)
			args = append(args, a...)
		}
		where += " AND (r.type <> '" + t.Type + "' OR " + strings.Join(conds, " AND ") + ")"
	}
	if !f.Targets[0].All {
		where += " AND " + project + " = ?"
		args = append(args, f.Targets[0].Project)
	}
	return "SELECT " + cols + " FROM (" + keys + ") k JOIN resources r ON r.type = " + refType("k.value") + " AND r.id = " + refID("k.value") + where, args
}

// followColumns are the columns of followPage's rows: its sort keys
// first, which keeps comparing them quick.
const followColumns = "last_updated, id, type, project_id, version, deleted, content"

// followPage is PostgreSQL's statement of a page of q's matches (pageSQL,
// q.Count rows) with what q.Follow leads to from the first count of them
// (the others are the lookahead Query.Next reads): the page is a CTE, the
// included rows follow its rows, a column tells which is which
// (included), and the page's sort keys order the matches. Some included
// rows may be matches on the page, which the pipeline leaves out: at most
// MaxIncluded+count+1 rows are included, enough to tell a page that would
// include too many.
//
// When the targets may come from the cache (cacheable), the statement
// reads the change log from the horizon from instead (logChanges).
func followPage(q *resources.Query, count int, where string, args []any, from uint64) (string, []any) {
	// A page in an order of q.Sort carries its sort keys' values, which
	// only its own statement can compute, as columns k0, k1, ….
	var keyExprs, keyCols, nulls string
	order := []string{"last_updated DESC", "id"}
	if len(q.Sort) > 0 {
		order = nil
		keys := sortKeys(q)
		for i, k := range keys[:len(keys)-1] {
			name := "k" + strconv.Itoa(i)
			keyExprs += ", " + k.expr + " AS " + name
			keyCols += ", " + name
			nulls += ", NULL"
			order = append(order, name+k.dir)
		}
		order = append(order, "id")
	}
	page, args := pageSQL(q, true, where, args, keyExprs)
	matches := "WITH page AS MATERIALIZED (" + page + ") SELECT 0 AS included, " + followColumns + keyCols + " FROM page"
	sorted := " ORDER BY included, " + strings.Join(order, ", ")
	if cacheable(q.Follow) {
		log, logArgs := logChanges(from, nulls)
		return matches + log + sorted, slices.Concat(args, logArgs)
	}
	// The page's ids as an array the index scan takes in one go, not one
	// scan per id.
	ids := "= ANY (ARRAY(SELECT id FROM page ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(count) + "))"
	inc, incArgs := followSQL(q.Type, ids, nil, q.Follow, "r."+strings.ReplaceAll(followColumns, ", ", ", r."), true)
	return matches + " UNION ALL SELECT 1, i.*" + nulls + " FROM (" + inc + " LIMIT " + strconv.Itoa(resources.MaxIncluded+count+1) + ") i" + sorted,
		slices.Concat(args, incArgs)
}

// followKeys is how many sort-key columns followPage adds to q's rows.
func followKeys(q *resources.Query) int {
	if len(q.Sort) == 0 {
		return 0
	}
	return len(sortKeys(q)) - 1
}

// scanFollowed reads followPage's rows into p: the matches, in order, and
// the included resources, or into log what it read of the change log;
// keys is followKeys.
func scanFollowed(rows *sql.Rows, err error, keys int, p *resources.Page, log *changeLog) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		included int
		lu       int64
		content  sql.NullString
		key      any
	)
	for rows.Next() {
		rec := &resources.Record{}
		dest := []any{&included, &lu, &rec.ID, &rec.Type, &rec.Project, &rec.Version, &rec.Deleted, &content}
		for range keys {
			dest = append(dest, &key)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if included >= 2 {
			log.scan(included, lu, rec.ID, rec.Type)
			continue
		}
		fillRecord(rec, lu, content)
		if included == 1 {
			p.Included = append(p.Included, rec)
		} else {
			p.Matches = append(p.Matches, rec)
		}
	}
	return translate(rows.Err())
}
