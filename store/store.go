// Package store is Roster's storage: the only package that imports GORM. It
// keeps resources, their versions and search index, and the server-owned
// tables (passwords, logins, keys, links, the mail outbox) behind the small
// interfaces the other packages declare, on PostgreSQL or embedded SQLite.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/rosterhq/roster/resources"
)

// Store implements every storage interface Roster's packages declare.
type Store struct {
	gdb   *gorm.DB
	sqlDB *sql.DB
	// On SQLite, transactions run on one dedicated connection (see Open);
	// on PostgreSQL these are gdb and sqlDB.
	wgdb     *gorm.DB
	wsqlDB   *sql.DB
	postgres bool

	mu      sync.RWMutex
	rebinds map[string]string

	// PostgreSQL: concurrent creates, and concurrent updates, share round
	// trips and commits (groupcommit.go).
	creates, replaces writeQueue

	// now is Roster's clock (Options.Now): the dates the store stamps
	// itself are compared with its callers' expiry decisions.
	now func() time.Time
	// hook, when set, is told of each statement exec, query and queryRow run.
	hook StatementHook

	// included is this process's cache of included resources (changes.go).
	included includeCache
}

// StatementHook is told of a statement as it starts: it returns the context
// the statement runs in and the function called with the statement's error
// when it ends. Tracing sets one to give each statement a span.
type StatementHook func(ctx context.Context, query string) (context.Context, func(error))

// SetStatementHook installs h (nil: none); call it before serving.
func (s *Store) SetStatementHook(h StatementHook) { s.hook = h }

// PoolStats gives the connection pools' statistics by name: "main" on
// PostgreSQL; "read" and "write" (the one transaction connection) on SQLite.
func (s *Store) PoolStats() map[string]sql.DBStats {
	if s.wsqlDB == s.sqlDB {
		return map[string]sql.DBStats{"main": s.sqlDB.Stats()}
	}
	return map[string]sql.DBStats{"read": s.sqlDB.Stats(), "write": s.wsqlDB.Stats()}
}

var _ resources.Store = (*Store)(nil)

// Options configure Open.
type Options struct {
	// DatabaseURL is a postgres:// URL; empty means embedded SQLite in DataDir.
	DatabaseURL string
	DataDir     string
	// SQLitePath overrides the SQLite file (tests use a temporary one).
	SQLitePath string
	MaxConns   int
	// Now is the clock of the dates the store stamps itself — revocations,
	// a rotated code's issue time, a link's use — which Roster's expiry
	// decisions compare with their own clock (nil: time.Now).
	Now func() time.Time
}

// Open connects to the database. It does not migrate; call Migrate.
func Open(opts Options) (*Store, error) {
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, TranslateError: true}
	var (
		gdb       *gorm.DB
		err       error
		sqliteDSN string
	)
	pg := strings.HasPrefix(opts.DatabaseURL, "postgres://") || strings.HasPrefix(opts.DatabaseURL, "postgresql://")
	switch {
	case pg:
		gdb, err = gorm.Open(postgres.Open(withGenericPlans(opts.DatabaseURL)), cfg)
	case opts.DatabaseURL != "":
		return nil, fmt.Errorf("ROSTER_DATABASE_URL must be a postgres:// URL")
	default:
		path := opts.SQLitePath
		if path == "" {
			dir := opts.DataDir
			if dir == "" {
				dir = "./data"
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
			path = filepath.Join(dir, "roster.db")
		}
		// WAL lets readers run beside the one writer; immediate transactions
		// take the write lock up front so two writers never deadlock.
		// Statement journals (multi-row statements inside a transaction) in
		// memory rather than in temporary files: their writes were a sixth
		// of a create's CPU in profiles.
		// busy_timeout comes first so the pragmas after it wait for a lock
		// held by another process starting at the same time.
		dsn := "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
			"&_pragma=temp_store(MEMORY)&_txlock=immediate"
		sqliteDSN = dsn
		gdb, err = openSQLite(dsn, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	maxConns := opts.MaxConns
	if maxConns == 0 {
		maxConns = DefaultMaxConns(pg)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	st := &Store{gdb: gdb, sqlDB: sqlDB, wgdb: gdb, wsqlDB: sqlDB, postgres: pg, rebinds: map[string]string{}, now: opts.Now}
	if st.now == nil {
		st.now = time.Now
	}
	st.included.lastPrune.Store(st.now().UnixMicro())
	if !pg {
		// SQLite lets one writer in at a time. Transactions share one
		// connection, so they queue here, in order, instead of sleeping in
		// SQLite's busy handler, and the writer's page cache stays valid
		// from one commit to the next (a connection's cache is dropped
		// whenever another connection has committed).
		st.wgdb, err = openSQLite(sqliteDSN, cfg)
		if err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
		if st.wsqlDB, err = st.wgdb.DB(); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
		st.wsqlDB.SetMaxOpenConns(1)
		st.wsqlDB.SetMaxIdleConns(1)
	}
	return st, nil
}

// DefaultMaxConns is the connection pool's size when Options.MaxConns is 0.
func DefaultMaxConns(postgres bool) int {
	if postgres {
		return 32
	}
	// SQLite's readers run in this process, on its cores: beyond a few per
	// core they only queue, and each keeps a page cache and the driver's
	// allocations of its own, which after a burst stayed in RSS until idle
	// connections closed (174 MB with 32 of them).
	return min(32, 4*runtime.GOMAXPROCS(0))
}

// openSQLite opens the file, retrying while another process holds the lock
// that switching a new file to WAL needs: SQLite answers that switch
// "database is locked" at once, without its busy handler.
func openSQLite(dsn string, cfg *gorm.Config) (*gorm.DB, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		db, err := gorm.Open(sqlite.Open(dsn), cfg)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return db, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withGenericPlans asks PostgreSQL to plan each prepared statement once
// (pgx prepares every statement per connection) unless the URL says
// otherwise. Left to choose, it re-plans a search on every execution
// because the generic plan's estimate looks costlier, and that planning (a
// string range probes the index for its estimate) cost more than running
// the search; the generic plans of Roster's statements — primary-key
// lookups and index-driven semi-joins — are the same shape anyway.
func withGenericPlans(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	if q.Has("plan_cache_mode") {
		return dsn
	}
	q.Set("plan_cache_mode", "force_generic_plan")
	u.RawQuery = q.Encode()
	return u.String()
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.included.pruning.Wait()
	if s.wsqlDB != s.sqlDB {
		_ = s.wsqlDB.Close()
	}
	return s.sqlDB.Close()
}

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return s.postgres }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.sqlDB.PingContext(ctx)
}

type txKey struct{}

// conn is the connection the context's transaction uses, or the pool.
func (s *Store) conn(ctx context.Context) gorm.ConnPool {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.Statement.ConnPool
	}
	return s.sqlDB
}

// inTx reports whether ctx carries a transaction.
func (s *Store) inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// orm is GORM on the context's transaction, or on the pool.
func (s *Store) orm(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return s.gdb.WithContext(ctx)
}

// InTx runs fn in one transaction; a nested call joins the outer one.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	err := s.wgdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ctx := context.WithValue(ctx, txKey{}, tx)
		var pending *pendingInserts
		if s.postgres {
			pending = &pendingInserts{}
			ctx = context.WithValue(ctx, pendingKey{}, pending)
		}
		err := fn(ctx)
		if err == nil {
			err = s.flush(ctx)
		}
		if pending != nil && pending.err != nil {
			// A held-back create failed: that, not the aborted
			// transaction's later errors, is what went wrong.
			return pending.err
		}
		return err
	})
	return translate(err)
}

// Lock serializes transactions deciding on any of keys, taking them in the
// order given, in one round trip. On SQLite every write transaction already
// holds the database's one write lock.
func (s *Store) Lock(ctx context.Context, keys ...string) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); !ok {
		return errors.New("store: Lock outside a transaction")
	}
	if !s.postgres || len(keys) == 0 {
		return nil
	}
	// PostgreSQL evaluates a select list left to right.
	calls := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		calls[i], args[i] = "pg_advisory_xact_lock(hashtextextended(?, 0))", k
	}
	_, err := s.exec(ctx, "SELECT "+strings.Join(calls, ", "), args...)
	return err
}

// q rewrites ? placeholders to $n for PostgreSQL, once per statement text.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	s.mu.RLock()
	out, ok := s.rebinds[query]
	s.mu.RUnlock()
	if ok {
		return out
	}
	out = Rebind(query)
	s.mu.Lock()
	if len(s.rebinds) < 10000 {
		s.rebinds[query] = out
	}
	s.mu.Unlock()
	return out
}

// Rebind rewrites a statement's ? placeholders to PostgreSQL's $1, $2, ….
func Rebind(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// exec, query and queryRow first write a bulk transaction's held-back
// creates, so every statement sees them.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	ctx, end := s.statement(ctx, query)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(query), args...)
	end(err)
	return res, translate(err)
}

// statement tells the hook, if any, of a statement starting.
func (s *Store) statement(ctx context.Context, query string) (context.Context, func(error)) {
	if s.hook == nil {
		return ctx, noEnd
	}
	return s.hook(ctx, query)
}

func noEnd(error) {}

// queryString reads the one string column of the one row query selects;
// no row is NotFound.
func (s *Store) queryString(ctx context.Context, query string, args ...any) (string, error) {
	var v string
	err := s.queryRow(ctx, query, args...).Scan(&v)
	return v, translate(err)
}

// claim runs an UPDATE whose WHERE clause only one of any number of
// concurrent writers can meet, and tells whether this one did: whether it
// changed exactly one row.
func (s *Store) claim(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	ctx, end := s.statement(ctx, query)
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	end(err)
	return rows, translate(err)
}

// queryRow cannot return a flush's error; the failed flush aborted the
// transaction, so the query fails too, and InTx returns the flush's error.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	_ = s.flush(ctx)
	ctx, end := s.statement(ctx, query)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(query), args...)
	end(row.Err())
	return row
}

// errUnique marks a unique-constraint violation before it is given a message.
var errUnique = errors.New("unique violation")

// translate turns driver errors into domain errors; anything else passes.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := resources.AsError(err); ok {
		return err
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return errUnique
	}
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") {
		return errUnique
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, gorm.ErrRecordNotFound) {
		return resources.NotFound("Not found")
	}
	if unavailable(err) {
		return resources.Unavailable("Database unavailable, try again")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") {
		// Text PostgreSQL cannot store (U+0000) that no check before
		// caught: the client's input, not the server, is at fault.
		return resources.Invalid("", "Text contains a character that cannot be stored")
	}
	return err
}
