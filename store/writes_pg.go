package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rosterhq/roster/resources"
)

// On PostgreSQL a create is one statement: the current row, the search rows
// and the unique keys go in data-modifying CTEs, so a create costs one round
// trip instead of four to six (BEGIN, each statement, COMMIT). Without
// unique keys it needs no transaction of its own — a single statement is
// atomic; with them it runs in one, because a taken key is reported by the
// statement rather than raised by it. An update without unique keys is one
// statement too. In a bulk transaction (a transaction Bundle) creates are
// held back and written a hundred at a time; outside a transaction,
// concurrent creates share the statement and concurrent updates a round
// trip and a commit (groupcommit.go).

// sqlInsertMany writes any number of new records, their search rows and
// their unique keys — and the invitations of the invites among them — in
// one statement whose text never changes (so it is prepared once per
// connection), from column arrays. It returns the keys it claimed: a key
// already taken (or given twice) is skipped, and the caller, inside a
// transaction, turns the missing key into a conflict that rolls everything
// back.
const sqlInsertMany = `WITH r AS (INSERT INTO resources (` + versionColumns + `)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::boolean[], $7::text[], $19::text[])),
 i AS (INSERT INTO search_index (` + indexColumns + `)
  SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::bigint[])),
 k AS (INSERT INTO unique_keys (key, type, id) SELECT * FROM unnest($16::text[], $17::text[], $18::text[])
  ON CONFLICT DO NOTHING RETURNING key),
 n AS (INSERT INTO invitations (` + invitationColumns + `)
  SELECT * FROM unnest($20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[],
   $28::text[], $29::integer[], $30::bigint[], $31::bigint[], $32::bigint[], $33::bigint[], $34::bigint[]))
SELECT key FROM k`

// insertMany is Insert of recs in one statement. Records with unique keys
// must be written inside a transaction (see sqlInsertMany).
func (s *Store) insertMany(ctx context.Context, recs []*resources.Record) error {
	return s.insertWith(ctx, recs, nil)
}

// insertWith is insertMany, writing invs in the same statement.
func (s *Store) insertWith(ctx context.Context, recs []*resources.Record, invs []*Invitation) error {
	n, m, u := len(recs), 0, 0
	for _, rec := range recs {
		m += len(rec.Index)
		u += len(rec.Unique)
	}
	typ, id, project, content, method := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	version, updated, deleted := make([]int64, n), make([]int64, n), make([]bool, n)
	ityp, iid, iproject := make([]string, 0, m), make([]string, 0, m), make([]string, 0, m)
	param, system, value, num, iupdated := make([]string, 0, m), make([]string, 0, m), make([]string, 0, m), make([]int64, 0, m), make([]int64, 0, m)
	key, ktyp, kid := make([]string, 0, u), make([]string, 0, u), make([]string, 0, u)
	for i, rec := range recs {
		typ[i], id[i], project[i], content[i], method[i] = rec.Type, rec.ID, rec.Project, string(rec.Content), rec.Method
		version[i], updated[i] = rec.Version, rec.LastUpdated.UnixMicro()
		for _, row := range rec.Index {
			ityp, iid, iproject = append(ityp, rec.Type), append(iid, rec.ID), append(iproject, rec.Project)
			param, system, value, num = append(param, row.Param), append(system, row.System), append(value, row.Value), append(num, row.Num)
			iupdated = append(iupdated, rowDate(rec, row.Param))
		}
		for _, k := range rec.Unique {
			key, ktyp, kid = append(key, k), append(ktyp, rec.Type), append(kid, rec.ID)
		}
	}
	args := []any{typ, id, project, version, updated, deleted, content,
		ityp, iid, iproject, param, system, value, num, iupdated, key, ktyp, kid, method}
	claimed, err := claimedKeys(s.conn(ctx).QueryContext(ctx, sqlInsertMany, append(args, invitationArrays(invs)...)...))
	if err = translate(err); errors.Is(err, errUnique) {
		if n == 1 {
			return resources.Conflict("%s/%s already exists", recs[0].Type, recs[0].ID)
		}
		return resources.Conflict("A resource of this Bundle already exists")
	}
	if err != nil {
		return err
	}
	for i, k := range key {
		if !claimed[k] {
			e := uniqueConflict(k, ktyp[i])
			e.Resource = ktyp[i] + "/" + kid[i]
			return e
		}
		delete(claimed, k) // the same key given twice is claimed once
	}
	return nil
}

// claimedKeys reads the unique keys sqlInsertMany claimed.
func claimedKeys(rows *sql.Rows, err error) (map[string]bool, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// invitationArrays are sqlInsertMany's invitation columns for invs.
func invitationArrays(invs []*Invitation) []any {
	n := len(invs)
	id, project, membership, user, email := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	kind, status, by, link := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sent := make([]int32, n)
	created, expires, accepted, revoked, last := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, inv := range invs {
		id[i], project[i], membership[i], user[i], email[i] = inv.ID, inv.ProjectID, inv.MembershipID, inv.UserID, inv.Email
		kind[i], status[i], by[i], link[i], sent[i] = inv.Kind, inv.Status, inv.InvitedBy, inv.LinkID, int32(inv.SentCount)
		created[i], expires[i], accepted[i] = micro(inv.CreatedAt), micro(inv.ExpiresAt), micro(inv.AcceptedAt)
		revoked[i], last[i] = micro(inv.RevokedAt), micro(inv.LastSentAt)
	}
	return []any{id, project, membership, user, email, kind, status, by, link, sent, created, expires, accepted, revoked, last}
}

// pendingInserts are the creates a bulk transaction holds back (see
// resources.DeferInserts); they are written before the transaction's next
// statement and before it commits. An invite's invitation rides along.
type pendingInserts struct {
	recs        []*resources.Record
	invitations []*Invitation
	// after are statements about the held-back rows (the member
	// directory's), run in order once they are written.
	after []func(ctx context.Context) error
	err   error // the first failed flush: the transaction's real error
}

type pendingKey struct{}

// flushingKey marks the context a flush runs its after statements in:
// they run at once rather than being held back again.
type flushingKey struct{}

// maxPending is how many creates one statement carries.
const maxPending = 100

// flush writes the transaction's held-back creates, if any.
func (s *Store) flush(ctx context.Context) error {
	p, _ := ctx.Value(pendingKey{}).(*pendingInserts)
	if p == nil || len(p.recs)+len(p.invitations)+len(p.after) == 0 {
		return nil
	}
	recs, invs, after := p.recs, p.invitations, p.after
	p.recs, p.invitations, p.after = nil, nil, nil
	var err error
	if len(recs)+len(invs) > 0 {
		err = s.insertWith(ctx, recs, invs)
	}
	ctx = context.WithValue(ctx, flushingKey{}, true)
	for _, fn := range after {
		if err != nil {
			break
		}
		err = fn(ctx)
	}
	if err != nil && p.err == nil {
		p.err = err
	}
	return err
}

// deferred is ctx's held-back creates when ctx is a bulk transaction.
func deferred(ctx context.Context) *pendingInserts {
	p, _ := ctx.Value(pendingKey{}).(*pendingInserts)
	if p == nil || !resources.InsertsDeferred(ctx) || ctx.Value(flushingKey{}) != nil {
		return nil
	}
	return p
}

// holdBack runs fn at once, or, in a bulk transaction, after the creates
// held back so far are written (it may concern them), without writing
// them before their time.
func (s *Store) holdBack(ctx context.Context, fn func(ctx context.Context) error) error {
	if p := deferred(ctx); p != nil {
		p.after = append(p.after, fn)
		return nil
	}
	return fn(ctx)
}

// deferInsert holds rec back when ctx is a bulk transaction.
func (s *Store) deferInsert(ctx context.Context, rec *resources.Record) (bool, error) {
	p := deferred(ctx)
	if p == nil {
		return false, nil
	}
	p.recs = append(p.recs, rec)
	if len(p.recs) >= maxPending {
		return true, s.flush(ctx)
	}
	return true, nil
}

// sqlReplace writes the next version of a record in one statement: $1
// version, $2 last_updated, $3 deleted, $4 content, $5 type, $6 id, $7 the
// version replaced, $8–$12 the new search rows' param, system, value, num
// and last_updated, $13 the method. Search rows that stay as they were are left alone (an
// update mostly changes a field or two of the dozen a person is searched
// by); a string parameter's row carries the resource's date (rowDate), so
// it is always rewritten. The version check is the UPDATE's, and nothing
// else is written when it matched no row. Every sub-statement sees the
// table as it was before the statement, so h moves the replaced version,
// as it was, to the history table; c logs the change (changes.go).
const sqlReplace = `WITH u AS (UPDATE resources SET version = $1::bigint, last_updated = $2::bigint, deleted = $3::boolean, content = $4::text,
  method = $13::text WHERE type = $5::text AND id = $6::text AND version = $7::bigint RETURNING project_id),
 v AS (SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[]) AS v(param, system, value, num, last_updated)),
 dk AS (DELETE FROM unique_keys WHERE type = $5::text AND id = $6::text AND EXISTS (SELECT 1 FROM u)),
 di AS (DELETE FROM search_index s WHERE s.type = $5::text AND s.id = $6::text AND EXISTS (SELECT 1 FROM u)
  AND NOT EXISTS (SELECT 1 FROM v WHERE v.param = s.param AND v.system = s.system AND v.value = s.value COLLATE "C" AND v.num = s.num
   AND v.last_updated = s.last_updated)),
 h AS (INSERT INTO resource_history (` + versionColumns + `) SELECT ` + versionColumns + ` FROM resources
  WHERE type = $5::text AND id = $6::text AND version = $7::bigint AND EXISTS (SELECT 1 FROM u)),
 c AS (INSERT INTO changes (type, id, version, at) SELECT $5::text, $6::text, $1::bigint, $2::bigint FROM u),
 ix AS (INSERT INTO search_index (` + indexColumns + `) SELECT $5::text, $6::text, u.project_id, v.param, v.system, v.value, v.num, v.last_updated FROM u, v
  WHERE NOT EXISTS (SELECT 1 FROM search_index s WHERE s.type = $5::text AND s.id = $6::text
   AND s.param = v.param AND s.system = v.system AND s.value = v.value COLLATE "C" AND s.num = v.num AND s.last_updated = v.last_updated))
SELECT COUNT(*) FROM u`

// replaceOne is Replace in one statement (sqlReplace).
func (s *Store) replaceOne(ctx context.Context, rec *resources.Record) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	var updated int
	if err := s.conn(ctx).QueryRowContext(ctx, sqlReplace, replaceArgs(rec)...).Scan(&updated); err != nil {
		return translate(err)
	}
	return replaced(rec, updated)
}

// replaceArgs are sqlReplace's arguments for rec.
func replaceArgs(rec *resources.Record) []any {
	var content any
	rows := rec.Index
	if rec.Deleted {
		rows = nil
	} else {
		content = string(rec.Content)
	}
	param, system, value, num := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]int64, len(rows))
	dates := make([]int64, len(rows))
	for i, row := range rows {
		param[i], system[i], value[i], num[i], dates[i] = row.Param, row.System, row.Value, row.Num, rowDate(rec, row.Param)
	}
	return []any{rec.Version, rec.LastUpdated.UnixMicro(), rec.Deleted, content,
		rec.Type, rec.ID, rec.Version - 1, param, system, value, num, dates, rec.Method}
}

// replaced is the outcome of sqlReplace for rec, given the rows it updated.
func replaced(rec *resources.Record, updated int) error {
	if updated == 0 {
		return resources.Precondition("conflict", "%s/%s was changed by another request", rec.Type, rec.ID)
	}
	return nil
}

// insertGroup is insertMany as a groupWrite: one statement for all.
func (s *Store) insertGroup(ctx context.Context, recs []*resources.Record) ([]error, error) {
	return nil, s.insertMany(ctx, recs)
}

// replaceGroup is a groupWrite of updates: their statements go in one
// pipeline, which PostgreSQL runs as one implicit transaction (one Sync),
// so they share a round trip and a commit, and one failing statement
// rolls them all back. A later update of the same resource sees the
// earlier one, so of two updates of one version the second is a conflict,
// as it would be one after the other.
func (s *Store) replaceGroup(ctx context.Context, recs []*resources.Record) ([]error, error) {
	if len(recs) == 1 {
		return []error{s.replaceOne(ctx, recs[0])}, nil
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, translate(err)
	}
	defer conn.Close()
	outcomes := make([]error, len(recs))
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("store: the PostgreSQL connection is not pgx's")
		}
		// Rows are locked in one order, (type, id), so groups sent by two
		// processes at once cannot deadlock; the sort is stable, so two
		// updates of one resource keep their order.
		order := make([]int, len(recs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(recs[a].Type, recs[b].Type), cmp.Compare(recs[a].ID, recs[b].ID))
		})
		b := &pgx.Batch{}
		for _, i := range order {
			b.Queue(sqlReplace, replaceArgs(recs[i])...)
		}
		br := pc.Conn().SendBatch(ctx, b)
		for _, i := range order {
			var updated int
			if err := br.QueryRow().Scan(&updated); err != nil {
				_ = br.Close()
				return err
			}
			outcomes[i] = replaced(recs[i], updated)
		}
		return br.Close()
	})
	if err != nil {
		return nil, translate(err)
	}
	return outcomes, nil
}
