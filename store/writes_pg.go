package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/rosterhq/roster/resources"
)

// On PostgreSQL a write without unique keys is one statement: the current
// row, the history row and the search rows go in data-modifying CTEs, so a
// create or an update costs one round trip instead of five to seven (BEGIN,
// each statement, COMMIT), and needs no transaction of its own — a single
// statement is atomic. Writes with unique keys keep the step-by-step path,
// which tells which key was taken.

// maxCTEIndexRows bounds the search rows one statement carries (7
// parameters each, far below PostgreSQL's 65 535).
const maxCTEIndexRows = 500

// cteCache keeps the statement text per number of index rows.
var cteCache sync.Map // key: "i"/"r"/"d" + n → string

const indexColumns = "type, id, project_id, param, system, value, num"

// indexValues writes n rows of ($k::text, …) placeholders starting at $from,
// in search_index's column order.
func indexValues(b *strings.Builder, n, from int) {
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		p := from + i*7
		b.WriteString("($" + strconv.Itoa(p) + "::text, $" + strconv.Itoa(p+1) + "::text, $" + strconv.Itoa(p+2) +
			"::text, $" + strconv.Itoa(p+3) + "::text, $" + strconv.Itoa(p+4) + "::text, $" + strconv.Itoa(p+5) +
			"::text, $" + strconv.Itoa(p+6) + "::bigint)")
	}
}

func insertSQL(n int) string {
	key := "i" + strconv.Itoa(n)
	if v, ok := cteCache.Load(key); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString("WITH r AS (INSERT INTO resources (" + recordColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7))")
	if n > 0 {
		b.WriteString(", h AS (INSERT INTO resource_history (" + recordColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7))")
		b.WriteString(" INSERT INTO search_index (" + indexColumns + ") VALUES ")
		indexValues(&b, n, 8)
	} else {
		b.WriteString(" INSERT INTO resource_history (" + recordColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7)")
	}
	out := b.String()
	cteCache.Store(key, out)
	return out
}

func indexArgs(args []any, rec *resources.Record) []any {
	for _, row := range rec.Index {
		args = append(args, rec.Type, rec.ID, rec.Project, row.Param, row.System, row.Value, row.Num)
	}
	return args
}

// insertOne is Insert in one statement.
func (s *Store) insertOne(ctx context.Context, rec *resources.Record) error {
	args := make([]any, 0, 7+7*len(rec.Index))
	args = append(args, rec.Type, rec.ID, rec.Project, rec.Version, rec.LastUpdated.UnixMicro(), false, string(rec.Content))
	args = indexArgs(args, rec)
	if _, err := s.conn(ctx).ExecContext(ctx, insertSQL(len(rec.Index)), args...); err != nil {
		err = translate(err)
		if errors.Is(err, errUnique) {
			return resources.Conflict("%s/%s already exists", rec.Type, rec.ID)
		}
		return err
	}
	return nil
}

func replaceSQL(n int) string {
	key := "r" + strconv.Itoa(n)
	if v, ok := cteCache.Load(key); ok {
		return v.(string)
	}
	// $1 version, $2 last_updated, $3 deleted, $4 content, $5 type, $6 id,
	// $7 the version replaced; index rows from $8.
	var b strings.Builder
	b.WriteString(`WITH u AS (UPDATE resources SET version = $1::bigint, last_updated = $2::bigint, deleted = $3::boolean, content = $4::text
 WHERE type = $5::text AND id = $6::text AND version = $7::bigint RETURNING project_id),
 dk AS (DELETE FROM unique_keys WHERE type = $5::text AND id = $6::text AND EXISTS (SELECT 1 FROM u)),
 di AS (DELETE FROM search_index WHERE type = $5::text AND id = $6::text AND EXISTS (SELECT 1 FROM u)),
 h AS (INSERT INTO resource_history (` + recordColumns + `) SELECT $5::text, $6::text, u.project_id, $1::bigint, $2::bigint, $3::boolean, $4::text FROM u)`)
	if n > 0 {
		b.WriteString(",\n ix AS (INSERT INTO search_index (" + indexColumns + ") SELECT v.* FROM (VALUES ")
		indexValues(&b, n, 8)
		b.WriteString(") AS v WHERE EXISTS (SELECT 1 FROM u))")
	}
	b.WriteString("\nSELECT COUNT(*) FROM u")
	out := b.String()
	cteCache.Store(key, out)
	return out
}

// replaceOne is Replace in one statement; the version check is the
// UPDATE's, and nothing else is written when it matched no row.
func (s *Store) replaceOne(ctx context.Context, rec *resources.Record) error {
	var content any
	n := len(rec.Index)
	if rec.Deleted {
		n = 0
	} else {
		content = string(rec.Content)
	}
	args := make([]any, 0, 7+7*n)
	args = append(args, rec.Version, rec.LastUpdated.UnixMicro(), rec.Deleted, content, rec.Type, rec.ID, rec.Version-1)
	if n > 0 {
		args = indexArgs(args, rec)
	}
	var updated int
	if err := s.conn(ctx).QueryRowContext(ctx, replaceSQL(n), args...).Scan(&updated); err != nil {
		return translate(err)
	}
	if updated == 0 {
		return resources.Precondition("conflict", "%s/%s was changed by another request", rec.Type, rec.ID)
	}
	return nil
}
