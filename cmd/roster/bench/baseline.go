package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"

	_ "github.com/glebarez/go-sqlite" // the embedded database's driver, as Roster's store uses it
)

// The baseline is the limit Roster is measured against: a minimal Echo
// server that answers each workload with the one SQL statement at the heart
// of Roster's own handling of it, in one round trip, on the same database
// and tables — no authentication, no validation, no history, no search
// index writes. Its statements are the ones Roster's store sends, taken
// from the store (store.GetSQL, …).

// BaselineType is the resource type the baseline's inserts use, so they sit
// in Roster's table beside the Patients without ever being seen by it.
const BaselineType = "BenchBaseline"

// baseDB is the one thing the baseline needs of a database: run a query and
// hand back the content column of its rows, or run an insert.
type baseDB interface {
	contents(ctx context.Context, query string, args ...any) ([][]byte, error)
	exec(ctx context.Context, query string, args ...any) error
	close()
}

type pgBase struct{ pool *pgxpool.Pool }

func (p pgBase) contents(ctx context.Context, query string, args ...any) ([][]byte, error) {
	rows, err := p.pool.Query(ctx, store.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return contentsOf(rows, len(rows.FieldDescriptions()))
}

func (p pgBase) exec(ctx context.Context, query string, args ...any) error {
	_, err := p.pool.Exec(ctx, store.Rebind(query), args...)
	return err
}

func (p pgBase) close() { p.pool.Close() }

type sqlBase struct{ db *sql.DB }

func (s sqlBase) contents(ctx context.Context, query string, args ...any) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	return contentsOf(rows, len(cols))
}

func (s sqlBase) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.db.ExecContext(ctx, query, args...)
	return err
}

func (s sqlBase) close() { _ = s.db.Close() }

// rows is what pgx's rows and database/sql's have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// contentsOf reads the content column of rows of n columns that start
// with Roster's record columns (history's add the method).
func contentsOf(rs rows, n int) ([][]byte, error) {
	var out [][]byte
	cols := make([]any, n)
	for i := range cols {
		cols[i] = new(any)
	}
	for rs.Next() {
		var content []byte
		cols[6] = &content
		if err := rs.Scan(cols...); err != nil {
			return nil, err
		}
		out = append(out, content)
	}
	return out, rs.Err()
}

func openBaseDB(ctx context.Context, databaseURL, dataDir string) (baseDB, error) {
	if databaseURL != "" {
		cfg, err := pgxpool.ParseConfig(databaseURL)
		if err != nil {
			return nil, err
		}
		// The same pool size and planning as Roster's store.
		cfg.MaxConns = int32(store.DefaultMaxConns(true))
		if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
			cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
		}
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return pgBase{pool}, nil
	}
	// The same file and pragmas as Roster's embedded store.
	path := filepath.Join(dataDir, "roster.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("baseline: no database at %s: %w", path, err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(store.DefaultMaxConns(false))
	db.SetMaxIdleConns(store.DefaultMaxConns(false))
	return sqlBase{db}, nil
}

// ServeBaseline runs the baseline server on addr until ctx ends.
func ServeBaseline(ctx context.Context, addr, databaseURL, dataDir string) error {
	db, err := openBaseDB(ctx, databaseURL, dataDir)
	if err != nil {
		return err
	}
	defer db.close()
	postgres := databaseURL != ""
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	one := func(c echo.Context, rows [][]byte, err error) error {
		if err != nil {
			return c.String(http.StatusInternalServerError, err.Error())
		}
		if len(rows) == 0 {
			return c.String(http.StatusNotFound, "not found")
		}
		return c.Blob(http.StatusOK, "application/fhir+json", rows[0])
	}
	many := func(c echo.Context, rows [][]byte, err error) error {
		if err != nil {
			return c.String(http.StatusInternalServerError, err.Error())
		}
		out := make([]byte, 0, 1024*len(rows)+2)
		out = append(out, '[')
		for i, r := range rows {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, r...)
		}
		out = append(out, ']')
		return c.Blob(http.StatusOK, "application/fhir+json", out)
	}
	e.GET("/read/:type/:id", func(c echo.Context) error {
		query, args := store.GetSQL(c.Param("type"), c.Param("id"))
		rows, err := db.contents(c.Request().Context(), query, args...)
		return one(c, rows, err)
	})
	e.GET("/vread/:type/:id/:vid", func(c echo.Context) error {
		v, _ := strconv.ParseInt(c.Param("vid"), 10, 64)
		query, args := store.GetVersionSQL(c.Param("type"), c.Param("id"), v)
		rows, err := db.contents(c.Request().Context(), query, args...)
		return one(c, rows, err)
	})
	e.POST("/insert/:project", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.String(http.StatusBadRequest, err.Error())
		}
		query, args := store.InsertSQL(&resources.Record{Type: BaselineType, ID: uuid.NewString(), Project: c.Param("project"),
			Version: 1, LastUpdated: time.Now(), Content: body})
		if err := db.exec(c.Request().Context(), query, args...); err != nil {
			return c.String(http.StatusInternalServerError, err.Error())
		}
		return c.Blob(http.StatusCreated, "application/fhir+json", body)
	})
	// /search/:project/:type?{FHIR search}: the page statement Roster's
	// store sends for the search, in the project.
	e.GET("/search/:project/:type", func(c echo.Context) error {
		t, ok := resources.Lookup(c.Param("type"))
		if !ok {
			return c.String(http.StatusNotFound, "unknown type")
		}
		q, err := resources.ParseQuery(t, c.QueryParams())
		if err != nil {
			return c.String(http.StatusBadRequest, err.Error())
		}
		q.Project = c.Param("project")
		q.Count++ // Roster asks for one more than the page
		query, args := store.SearchSQL(q, postgres)
		rows, err := db.contents(c.Request().Context(), query, args...)
		return many(c, rows, err)
	})
	e.GET("/history/:type/:id", func(c echo.Context) error {
		query, args := store.HistorySQL(&resources.HistoryQuery{Type: c.Param("type"), ID: c.Param("id"), Count: 20})
		rows, err := db.contents(c.Request().Context(), query, args...)
		return many(c, rows, err)
	})
	srv := &http.Server{Addr: addr, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	return nil
}
