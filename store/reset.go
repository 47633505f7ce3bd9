package store

import (
	"context"
	"strings"
)

// keptByReset are the tables Reset leaves alone: the schema's version, and
// the signing keys, which every process sharing the database and `roster
// keys` date by the wall clock and which hold no one's data.
var keptByReset = map[string]bool{"schema_migrations": true, "signing_keys": true}

// Reset empties every table but keptByReset's, in one transaction: test
// mode's POST /_test/reset. The schema stays migrated; the caller
// bootstraps the emptied database again. Tables are listed from the
// database's catalog, so a table a later migration adds is emptied too.
func (s *Store) Reset(ctx context.Context) error {
	list := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
	if s.postgres {
		list = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		rows, err := s.query(ctx, list)
		names, err := scanAll(rows, err, func(sc rowScanner) (string, error) {
			var n string
			return n, sc.Scan(&n)
		})
		if err != nil {
			return translate(err)
		}
		var tables []string
		for _, n := range names {
			if !keptByReset[n] {
				tables = append(tables, `"`+strings.ReplaceAll(n, `"`, `""`)+`"`)
			}
		}
		if s.postgres {
			if _, err := s.exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
				return err
			}
		} else {
			for _, t := range tables {
				if _, err := s.exec(ctx, "DELETE FROM "+t); err != nil {
					return err
				}
			}
		}
		// Ids and versions start again: every process's include cache
		// must forget what it holds.
		_, err = s.exec(ctx, "INSERT INTO changes (type, id, version, at) VALUES (?, '', 0, ?)", flushMarker, s.nowMicro())
		return err
	})
}
