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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/store"

	_ "github.com/glebarez/go-sqlite" // the embedded database's driver, as Roster's store uses it
)

// The baseline is the limit Roster is measured against: a minimal Echo
// server that answers each workload with the one SQL statement at the heart
// of Roster's own handling of it, in one round trip, on the same database
// and tables — no authentication, no validation, no history, no search
// index writes. Its statements are the text Roster's store sends.

// Baseline statements. "?" placeholders; PostgreSQL gets them as $n.
const (
	baseCols = "type, id, project_id, version, last_updated, deleted, content"

	sqlRead = "SELECT " + baseCols + " FROM resources WHERE type = ? AND id = ?"
	// A version is current (resources) or superseded (resource_history).
	sqlVRead = "SELECT " + baseCols + " FROM resources WHERE type = ? AND id = ? AND version = ?" +
		" UNION ALL SELECT " + baseCols + " FROM resource_history WHERE type = ? AND id = ? AND version = ?"
	sqlInsert = "INSERT INTO resources (" + baseCols + ") VALUES (?, ?, ?, ?, ?, ?, ?)"
	// Roster's Search for one filter (searchSQL): one branch per parameter
	// whose search rows match, a condition on the row's value each.
	branchFrom = " FROM search_index s WHERE s.type = ? AND s.param = ? AND s.project_id = ? AND "
	prefixCond = "((s.value >= ? AND s.value < ?))"
	tokenCond  = "(s.value = ?)"
	systemCond = "((s.system = ? AND s.value = ?))"
	searchCols = "r.type, r.id, r.project_id, r.version, r.last_updated, r.deleted, r.content"
	sqlPage    = "SELECT " + searchCols + " FROM resources r" +
		" WHERE r.type = ? AND r.deleted = ? AND r.project_id = ? ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?"
	sqlHistory = "SELECT * FROM (SELECT " + baseCols + " FROM resources WHERE type = ? AND id = ?" + historyOrder + " LIMIT ?) cur" +
		" UNION ALL SELECT * FROM (SELECT " + baseCols + " FROM resource_history WHERE type = ? AND id = ?" + historyOrder + " LIMIT ?) old" +
		historyOrder + " LIMIT ? OFFSET ?"
	historyOrder = " ORDER BY last_updated DESC, version DESC"
)

// BaselineType is the resource type the baseline's inserts use, so they sit
// in Roster's table beside the Patients without ever being seen by it.
const BaselineType = "BenchBaseline"

const maxRune = "\U0010FFFF"

// searchSQL is the statement Roster's store sends for a filtered search in
// the default order, given each branch's condition. On SQLite its
// arguments are the type, false (not deleted) and the project, each
// branch's, then the count and offset. On PostgreSQL a prefix search
// (dated: its rows carry their resource's date) chooses the page from the
// search rows' index entries (Store.rowPage) and takes each branch's
// arguments, the count and offset, then the type; any other chooses it
// from the primary key's entries and takes the SQLite arguments, then the
// type.
func searchSQL(conds []string, postgres, dated bool) string {
	branches := make([]string, len(conds))
	cols := "s.id"
	if postgres && dated {
		cols = "s.id, s.last_updated"
	}
	for i, c := range conds {
		branches[i] = "SELECT " + cols + branchFrom + c
	}
	union := strings.Join(branches, " UNION ALL ")
	filtered := " FROM resources r WHERE r.type = ? AND r.deleted = ? AND r.project_id = ? AND r.id IN (" + union + ")"
	lateral := " p CROSS JOIN LATERAL (SELECT " + searchCols +
		" FROM resources r WHERE r.type = ? AND r.id = p.id OFFSET 0) r ORDER BY p.last_updated DESC, p.id"
	switch {
	case !postgres:
		return "SELECT " + searchCols + filtered + " ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?"
	case dated:
		return "SELECT " + searchCols + " FROM (SELECT DISTINCT m.id, m.last_updated FROM ((" + union +
			")) m ORDER BY m.last_updated DESC, m.id LIMIT ? OFFSET ?)" + lateral
	}
	return "SELECT " + searchCols + " FROM (SELECT r.id, r.last_updated" + filtered +
		" ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?)" + lateral
}

func dollar(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// baseDB is the one thing the baseline needs of a database: run a query and
// hand back the content column of its rows, or run an insert.
type baseDB interface {
	contents(ctx context.Context, query string, args ...any) ([][]byte, error)
	exec(ctx context.Context, query string, args ...any) error
	close()
}

type pgBase struct{ pool *pgxpool.Pool }

func (p pgBase) contents(ctx context.Context, query string, args ...any) ([][]byte, error) {
	rows, err := p.pool.Query(ctx, dollar(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var (
			typ, id, project string
			version, lu      int64
			deleted          bool
			content          []byte
		)
		if err := rows.Scan(&typ, &id, &project, &version, &lu, &deleted, &content); err != nil {
			return nil, err
		}
		out = append(out, content)
	}
	return out, rows.Err()
}

func (p pgBase) exec(ctx context.Context, query string, args ...any) error {
	_, err := p.pool.Exec(ctx, dollar(query), args...)
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
	var out [][]byte
	for rows.Next() {
		var (
			typ, id, project string
			version, lu      int64
			deleted          bool
			content          sql.NullString
		)
		if err := rows.Scan(&typ, &id, &project, &version, &lu, &deleted, &content); err != nil {
			return nil, err
		}
		out = append(out, []byte(content.String))
	}
	return out, rows.Err()
}

func (s sqlBase) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.db.ExecContext(ctx, query, args...)
	return err
}

func (s sqlBase) close() { _ = s.db.Close() }

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
		rows, err := db.contents(c.Request().Context(), sqlRead, c.Param("type"), c.Param("id"))
		return one(c, rows, err)
	})
	e.GET("/vread/:type/:id/:vid", func(c echo.Context) error {
		v, _ := strconv.ParseInt(c.Param("vid"), 10, 64)
		typ, id := c.Param("type"), c.Param("id")
		rows, err := db.contents(c.Request().Context(), sqlVRead, typ, id, v, typ, id, v)
		return one(c, rows, err)
	})
	e.POST("/insert/:project", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.String(http.StatusBadRequest, err.Error())
		}
		id := uuid.NewString()
		err = db.exec(c.Request().Context(), sqlInsert, BaselineType, id, c.Param("project"), int64(1), time.Now().UnixMicro(), false, string(body))
		if err != nil {
			return c.String(http.StatusInternalServerError, err.Error())
		}
		return c.Blob(http.StatusCreated, "application/fhir+json", body)
	})
	// /search/:project/:type/:param?prefix=… | value=… [&system=…] [&count=]
	e.GET("/search/:project/:type/:param", func(c echo.Context) error {
		typ, project, param := c.Param("type"), c.Param("project"), c.Param("param")
		count := 21 // Roster asks for one more than the page
		if n, err := strconv.Atoi(c.QueryParam("count")); err == nil {
			count = n
		}
		var (
			conds []string
			args  []any
		)
		// Prefix searches are by name, a string parameter: on PostgreSQL
		// their rows carry the date (searchSQL).
		dated := postgres && c.QueryParam("prefix") != ""
		if !dated {
			args = []any{typ, false, project}
		}
		switch {
		case c.QueryParam("prefix") != "":
			if param != "name" {
				return c.String(http.StatusBadRequest, "prefix searches are by name")
			}
			// name matches its own rows and those of family and given,
			// which it covers: one branch each.
			p := c.QueryParam("prefix")
			for _, code := range []string{"name", "family", "given"} {
				conds = append(conds, prefixCond)
				args = append(args, typ, code, project, p, p+maxRune)
			}
		case c.QueryParam("system") != "":
			conds, args = []string{systemCond}, append(args, typ, param, project, c.QueryParam("system"), c.QueryParam("value"))
		default:
			conds, args = []string{tokenCond}, append(args, typ, param, project, c.QueryParam("value"))
		}
		args = append(args, count, 0)
		if postgres {
			args = append(args, typ)
		}
		rows, err := db.contents(c.Request().Context(), searchSQL(conds, postgres, dated), args...)
		return many(c, rows, err)
	})
	e.GET("/page/:project/:type", func(c echo.Context) error {
		rows, err := db.contents(c.Request().Context(), sqlPage, c.Param("type"), false, c.Param("project"), 101, 0)
		return many(c, rows, err)
	})
	e.GET("/history/:type/:id", func(c echo.Context) error {
		typ, id := c.Param("type"), c.Param("id")
		rows, err := db.contents(c.Request().Context(), sqlHistory, typ, id, 20, typ, id, 20, 20, 0)
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
