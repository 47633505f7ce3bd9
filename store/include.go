package store

import (
	"context"
	"strings"

	"github.com/rosterhq/roster/resources"
)

// Referenced returns the live resources the reference parameter param of
// the typ resources ids points at, each of the type of one of targets and
// meeting that query's filters, within their project (any with All; every
// target has the same): an _include in one statement, the references read
// from the search index's (type, id) entries and each target from the
// primary key.
func (s *Store) Referenced(ctx context.Context, typ, param string, ids []string, targets []*resources.Query) ([]*resources.Record, error) {
	query, args := ReferencedSQL(typ, param, ids, targets, s.postgres)
	return s.collect(s.query(ctx, query, args...))
}

// ReferencedSQL is the statement Referenced sends, on PostgreSQL or on
// SQLite. A reference row's value is "Type/id"; the target's type is what
// comes before the first "/" and its id all that follows, so absolute and
// versioned references name nothing.
func ReferencedSQL(typ, param string, ids []string, targets []*resources.Query, postgres bool) (string, []any) {
	refType := "substr(s.value, 1, instr(s.value, '/') - 1)"
	refID := "substr(s.value, instr(s.value, '/') + 1)"
	if postgres {
		// In the primary key's collation, so it serves the join.
		refType = `split_part(s.value, '/', 1) COLLATE "default"`
		refID = `substr(s.value, strpos(s.value, '/') + 1) COLLATE "default"`
	}
	args := []any{typ, param}
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = "?"
		args = append(args, id)
	}
	args = append(args, false)
	// Targets share the search's project; those a guard narrowed add their
	// filters, the others are one list of types.
	var plain, ors []string
	for _, t := range targets {
		if len(t.Filters) == 0 {
			plain = append(plain, "'"+t.Type+"'") // registry names: safe to inline
			continue
		}
		cond := "r.type = '" + t.Type + "'"
		for _, f := range t.Filters {
			c, a := filterSQL(t, f, postgres)
			cond += " AND " + c
			args = append(args, a...)
		}
		ors = append(ors, "("+cond+")")
	}
	if len(plain) > 0 {
		ors = append(ors, "r.type IN ("+strings.Join(plain, ", ")+")")
	}
	where := "(" + strings.Join(ors, " OR ") + ")"
	if !targets[0].All {
		where += " AND r.project_id = ?"
		args = append(args, targets[0].Project)
	}
	return "SELECT " + pageColumns + " FROM search_index s JOIN resources r ON r.type = " + refType + " AND r.id = " + refID +
		" WHERE s.type = ? AND s.param = ? AND s.id IN (" + strings.Join(ph, ", ") + ") AND r.deleted = ? AND " + where, args
}
