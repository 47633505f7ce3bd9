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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
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

	// stmts caches prepared statements on SQLite (see prepared).
	stmts       sync.Map // query text → *sql.Stmt on sqlDB
	wstmts      sync.Map // query text → *sql.Stmt on wsqlDB
	nstmts      atomic.Int32
	writesReady atomic.Bool
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
		gdb, err = gorm.Open(postgres.Open(opts.DatabaseURL), cfg)
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
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
			"&_pragma=temp_store(MEMORY)&_txlock=immediate"
		sqliteDSN = dsn
		gdb, err = gorm.Open(sqlite.Open(dsn), cfg)
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
		maxConns = 32
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	st := &Store{gdb: gdb, sqlDB: sqlDB, wgdb: gdb, wsqlDB: sqlDB, postgres: pg, rebinds: map[string]string{}}
	if !pg {
		// SQLite lets one writer in at a time. Transactions share one
		// connection, so they queue here, in order, instead of sleeping in
		// SQLite's busy handler, and the writer's page cache stays valid
		// from one commit to the next (a connection's cache is dropped
		// whenever another connection has committed).
		st.wgdb, err = gorm.Open(sqlite.Open(sqliteDSN), cfg)
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

// Close closes the connection pool.
// The prepared statements go with their connections; a statement used after
// Close fails as any query then does ("database is closed").
func (s *Store) Close() error {
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
	s.warmWrites(ctx)
	err := s.wgdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
	return translate(err)
}

// Lock serializes transactions deciding on key. On SQLite every write
// transaction already holds the database's one write lock.
func (s *Store) Lock(ctx context.Context, key string) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); !ok {
		return errors.New("store: Lock outside a transaction")
	}
	if !s.postgres {
		return nil
	}
	_, err := s.exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", key)
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
	out = b.String()
	s.mu.Lock()
	if len(s.rebinds) < 10000 {
		s.rebinds[query] = out
	}
	s.mu.Unlock()
	return out
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := s.prepared(ctx, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, translate(err)
	}
	res, err := s.conn(ctx).ExecContext(ctx, s.q(query), args...)
	return res, translate(err)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, translate(err)
	}
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	return rows, translate(err)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.conn(ctx).QueryRowContext(ctx, s.q(query), args...)
}

// maxPrepared bounds the statements kept prepared; statements past it (rare
// shapes of search) are parsed on each call as before.
const maxPrepared = 1024

// prepared returns query as a statement prepared once and kept, on SQLite,
// whose driver otherwise parses and plans every statement on every call
// (PostgreSQL's driver already keeps its statements prepared per
// connection). Inside a transaction only a statement already prepared is
// used: preparing needs a connection of the pool, which a transaction
// holding SQLite's write lock must not wait for.
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	if s.postgres {
		return nil
	}
	tx, inTx := ctx.Value(txKey{}).(*gorm.DB)
	return s.preparedOn(ctx, query, tx, inTx, false)
}

// preparedOn is prepared on the transactions' connection (writer) or the
// pool; a transaction only finds statements warmWrites prepared.
func (s *Store) preparedOn(ctx context.Context, query string, tx *gorm.DB, inTx, writer bool) *sql.Stmt {
	cache, db := &s.stmts, s.sqlDB
	if inTx || writer {
		cache, db = &s.wstmts, s.wsqlDB
	}
	var st *sql.Stmt
	if v, ok := cache.Load(query); ok {
		st = v.(*sql.Stmt)
	} else {
		if inTx || s.nstmts.Load() >= maxPrepared {
			return nil
		}
		p, err := db.PrepareContext(ctx, query)
		if err != nil {
			return nil
		}
		if v, loaded := cache.LoadOrStore(query, p); loaded {
			_ = p.Close()
			st = v.(*sql.Stmt)
		} else {
			s.nstmts.Add(1)
			st = p
		}
	}
	if inTx {
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return nil
		}
		return sqlTx.StmtContext(ctx, st)
	}
	return st
}

// prepare readies statements that otherwise only ever run inside
// transactions, where prepared cannot prepare them.
func (s *Store) prepare(ctx context.Context, queries ...string) {
	for _, q := range queries {
		s.preparedOn(ctx, q, nil, false, true)
	}
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
	return err
}
