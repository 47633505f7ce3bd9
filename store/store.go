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
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/rosterhq/roster/resources"
)

// Store implements every storage interface Roster's packages declare.
type Store struct {
	gdb      *gorm.DB
	sqlDB    *sql.DB
	postgres bool

	mu      sync.RWMutex
	rebinds map[string]string
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
		gdb *gorm.DB
		err error
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
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
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
	return &Store{gdb: gdb, sqlDB: sqlDB, postgres: pg, rebinds: map[string]string{}}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.sqlDB.Close() }

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
	err := s.gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
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
	res, err := s.conn(ctx).ExecContext(ctx, s.q(query), args...)
	return res, translate(err)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	return rows, translate(err)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.conn(ctx).QueryRowContext(ctx, s.q(query), args...)
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
