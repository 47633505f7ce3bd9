package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/resources"
)

// migration is one schema step. Steps are append-only: never edit one that
// has shipped, add the next.
type migration struct {
	version int
	sql     string // statements separated by ";\n"; {{text_c}} and friends expand per dialect; a statement starting {{postgres}} runs on PostgreSQL only, {{sqlite}} on SQLite only
}

// goSteps are the parts of migrations that SQL alone cannot take on both
// databases, by version: each runs after its migration's statements, in
// the same transaction.
var goSteps = map[int]func(ctx context.Context, s *Store) error{
	17: carryLockouts,
	20: indexMetaAndIdentifiers,
	24: boundKeys,
	27: fillMemberDirectory,
}

var migrations = []migration{
	{1, `
CREATE TABLE IF NOT EXISTS resources (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  last_updated BIGINT NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT FALSE,
  content TEXT,
  PRIMARY KEY (type, id)
);
CREATE INDEX IF NOT EXISTS resources_project_type_updated ON resources (project_id, type, last_updated);
CREATE TABLE IF NOT EXISTS resource_history (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  project_id TEXT NOT NULL,
  last_updated BIGINT NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT FALSE,
  content TEXT,
  PRIMARY KEY (type, id, version)
);
CREATE INDEX IF NOT EXISTS history_project_type_updated ON resource_history (project_id, type, last_updated);
CREATE TABLE IF NOT EXISTS search_index (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT NOT NULL DEFAULT '',
  value {{text_c}} NOT NULL,
  num BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS search_index_value ON search_index (project_id, type, param, value);
CREATE INDEX IF NOT EXISTS search_index_num ON search_index (project_id, type, param, num);
CREATE INDEX IF NOT EXISTS search_index_owner ON search_index (type, id);
CREATE TABLE IF NOT EXISTS unique_keys (
  key TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unique_keys_owner ON unique_keys (type, id);
CREATE TABLE IF NOT EXISTS passwords (
  user_id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS client_secrets (
  client_id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  lookup TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS client_secrets_lookup ON client_secrets (lookup);
CREATE TABLE IF NOT EXISTS logins (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL DEFAULT '',
  membership_id TEXT NOT NULL DEFAULT '',
  project_id TEXT NOT NULL DEFAULT '',
  code_hash TEXT NOT NULL DEFAULT '',
  code_challenge TEXT NOT NULL DEFAULT '',
  code_method TEXT NOT NULL DEFAULT '',
  code_used BOOLEAN NOT NULL DEFAULT FALSE,
  refresh_hash TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  granted_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  remote_addr TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS logins_user ON logins (user_id);
CREATE INDEX IF NOT EXISTS logins_code ON logins (code_hash);
CREATE INDEX IF NOT EXISTS logins_refresh ON logins (refresh_hash);
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_pem TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS links (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  user_id TEXT NOT NULL,
  project_id TEXT NOT NULL DEFAULT '',
  secret_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  data TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS links_user_kind ON links (user_id, kind);
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL,
  subject TEXT NOT NULL,
  body_text TEXT NOT NULL,
  body_html TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  locked_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  sent_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)`},
	// 2: admins list a project's mail newest first.
	{2, `CREATE INDEX IF NOT EXISTS outbox_project_created ON outbox (project_id, created_at)`},
	// 4: Medallion's sign-up invitations (admin/medallion): records with their
	// own ids, statuses and per-organization listing, which no resource holds.
	{4, `
CREATE TABLE IF NOT EXISTS medallion_invites (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  membership_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  link_id TEXT NOT NULL,
  status TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  sent_count INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS medallion_invites_project ON medallion_invites (project_id, membership_id, created_at);
CREATE INDEX IF NOT EXISTS medallion_invites_link ON medallion_invites (link_id)`},
	// 6: lookups across projects (sign-in by email, a user's memberships,
	// client credentials, projects by name) name no project, so the
	// (project_id, …) index could not serve them and they read every index
	// row of the type. Only the types looked up that way are indexed, so
	// writes of everything else cost nothing more; searches name the type as
	// a literal so both databases can prove the index applies.
	{6, `CREATE INDEX IF NOT EXISTS search_index_global ON search_index (type, param, value)
  WHERE type = 'User' OR type = 'ProjectMembership' OR type = 'ClientApplication' OR type = 'Project'`},
	// 7: Medable's login locations (admin/medable): the devices an account
	// verified with a mailed code, the pending codes, and the wrong-password
	// counts that throttle its login. (17 moves both into the core and drops
	// them.)
	{7, `
CREATE TABLE IF NOT EXISTS medable_locations (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  fingerprint_hash TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  code_hash TEXT NOT NULL DEFAULT '',
  code_expires_at BIGINT NOT NULL DEFAULT 0,
  code_failures INTEGER NOT NULL DEFAULT 0,
  verified_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS medable_locations_key ON medable_locations (user_id, project_id, fingerprint_hash);
CREATE TABLE IF NOT EXISTS medable_login_failures (
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_start BIGINT NOT NULL
)`},
	// 8: abuse limits and idempotent writes, shared by every process: the
	// throttle counters of logins, resets and link redemptions (one row per
	// kind and account or address, with the end of its window), and the
	// Idempotency-Key records with the response they replay.
	{8, `
CREATE TABLE IF NOT EXISTS throttles (
  key TEXT PRIMARY KEY,
  hits INTEGER NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS throttles_expires ON throttles (expires_at);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  owner TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  header TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at)`},
	// 9: cheaper writes. Date rows keep their instant in value as
	// resources.DateKey, so the one (project, type, param, value) index serves
	// date ranges too and the num index, which every search row paid for,
	// goes. (name no longer repeats family and given: it covers them, and
	// older rows that still repeat them are harmless.)
	{9, `DROP INDEX IF EXISTS search_index_num;
UPDATE search_index SET value = {{date_key}} WHERE ` + dateRows()},
	// 10: a search's matches come from index entries alone: the value
	// index carries the row's resource id, so search rows are not fetched
	// (at 1 M Patients a name prefix read ~250 of them, mostly from disk
	// cache). resources_recent replaces resources_project_type_updated in
	// the default order of pages (newest first, then id), so a page stops
	// after its own entries. ({{include}} is INCLUDE on PostgreSQL; SQLite
	// takes the columns into the key.)
	{10, `CREATE INDEX IF NOT EXISTS search_index_lookup ON search_index (project_id, type, param, value{{include}}id);
DROP INDEX IF EXISTS search_index_value;
CREATE INDEX IF NOT EXISTS resources_recent ON resources (project_id, type, last_updated DESC, id{{include}}deleted);
DROP INDEX IF EXISTS resources_project_type_updated`},
	// 11: email and phone are answered from telecom's rows of their system
	// (SearchParam.Of), so their own rows, which repeated those, go.
	{11, `DELETE FROM search_index WHERE ` + viewRows()},
	// 12: the history table keeps only superseded versions (a resource
	// never changed is stored once); the current versions it repeated go.
	{12, `DELETE FROM resource_history WHERE EXISTS (SELECT 1 FROM resources r
  WHERE r.type = resource_history.type AND r.id = resource_history.id AND r.version = resource_history.version)`},
	// 13 (PostgreSQL): the primary key carries each resource's project,
	// date and deleted flag, so a filtered search chooses its page from
	// index entries and reads only the page's rows (Store.Search). SQLite
	// pages as before.
	{13, `{{postgres}}ALTER TABLE resources DROP CONSTRAINT resources_pkey,
  ADD CONSTRAINT resources_pkey PRIMARY KEY (type, id) INCLUDE (project_id, last_updated, deleted)`},
	// 14: a string parameter's search rows carry their resource's date
	// (rowDate; other rows 0), and the value index carries it beside the
	// id, so a prefix search in the default order chooses its page from the
	// matches' index entries alone (rowPage): at 1 M Patients a name
	// prefix's ~240 matches were each a primary-key lookup, mostly outside
	// PostgreSQL's cache. The indexes go before the rows are rewritten and
	// are built again after, which is quicker than updating them row by row.
	{14, `DROP INDEX IF EXISTS search_index_lookup;
DROP INDEX IF EXISTS search_index_owner;
ALTER TABLE search_index ADD COLUMN last_updated BIGINT NOT NULL DEFAULT 0;
UPDATE search_index SET last_updated = r.last_updated FROM resources r
  WHERE r.type = search_index.type AND r.id = search_index.id AND (` + datedRowsSQL() + `);
CREATE INDEX IF NOT EXISTS search_index_owner ON search_index (type, id);
CREATE INDEX IF NOT EXISTS search_index_sorted ON search_index (project_id, type, param, value{{include}}id, last_updated)`},
	// 15 (PostgreSQL): searches and pages are index-only scans, which stay
	// index-only only over pages vacuum has marked all-visible; past them
	// each index entry costs a visit to its row. By default autovacuum
	// waits for a fifth of a table to change, and after a benchmark's
	// create and update phases (10 k resources grown to 37 k) a family
	// range visited 3 884 rows for 2 472 entries (107 ms, 7 ms after a
	// VACUUM). The two tables every search reads are vacuumed and analyzed
	// once a hundredth of them has changed.
	{15, `{{postgres}}ALTER TABLE search_index SET (autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
{{postgres}}ALTER TABLE resources SET (autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)`},
	// 16: the core's invitations (admin): one per membership an invite
	// created, with its status, mailings and current one-time link. Lists
	// are a project's newest first, or one email's; a used link and a
	// sign-in find theirs by link and by membership (only invitations with
	// a live link are in the link index). Memberships made before it have
	// none.
	{16, `
CREATE TABLE IF NOT EXISTS invitations (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  membership_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  invited_by TEXT NOT NULL DEFAULT '',
  link_id TEXT NOT NULL DEFAULT '',
  sent_count INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  accepted_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  last_sent_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invitations_project_created ON invitations (project_id, created_at, id);
CREATE INDEX IF NOT EXISTS invitations_project_email ON invitations (project_id, email);
CREATE INDEX IF NOT EXISTS invitations_link ON invitations (link_id) WHERE link_id <> '';
CREATE INDEX IF NOT EXISTS invitations_membership ON invitations (membership_id);
CREATE INDEX IF NOT EXISTS invitations_user ON invitations (user_id) WHERE status = 'pending'`},
	// 17: new-device verification and the per-project login lockout are the
	// core's (auth), no longer Medable's. Medable's locations table becomes
	// login_devices as it is (the fingerprint and code hashes are the ones
	// auth computes); its wrong-password counts become throttle counts
	// (carryLockouts, in goSteps), which then drops their table.
	{17, `ALTER TABLE medable_locations RENAME TO login_devices;
DROP INDEX IF EXISTS medable_locations_key;
CREATE UNIQUE INDEX IF NOT EXISTS login_devices_key ON login_devices (user_id, project_id, fingerprint_hash)`},
	// 18: Medallion's invites are the core's invitations (admin/medallion
	// translates them). Each medallion_invites row becomes the invitation
	// of the same id, a set-password one: its updated_at is when it was
	// last sent (pending), accepted or revoked; only a pending one keeps
	// its link. An invitation a Medallion member's core invite left behind
	// unsent and without a link gives way to the member's Medallion
	// invites. The table then goes.
	{18, `
DELETE FROM invitations WHERE status = 'pending' AND sent_count = 0 AND link_id = ''
  AND membership_id IN (SELECT membership_id FROM medallion_invites);
INSERT INTO invitations (id, project_id, membership_id, user_id, email, kind, status, invited_by, link_id, sent_count,
  created_at, expires_at, accepted_at, revoked_at, last_sent_at)
SELECT id, project_id, membership_id, user_id, LOWER(email), 'setpassword', status, '',
  CASE WHEN status = 'pending' THEN link_id ELSE '' END, sent_count, created_at, expires_at,
  CASE WHEN status = 'accepted' THEN updated_at ELSE 0 END,
  CASE WHEN status = 'revoked' THEN updated_at ELSE 0 END,
  CASE WHEN status = 'pending' THEN updated_at WHEN sent_count > 0 THEN expires_at - 604800000000 ELSE 0 END
FROM medallion_invites WHERE id NOT IN (SELECT id FROM invitations);
DROP TABLE medallion_invites`},
	// 19: each version records the interaction that wrote it (POST, PUT,
	// PATCH, DELETE), so history tells a PATCH from a PUT and a
	// conditional update's create from a POST. Versions written before
	// keep '' and history infers their method as it did. A constant
	// default adds the column without rewriting either table.
	{19, `ALTER TABLE resources ADD COLUMN method TEXT NOT NULL DEFAULT '';
ALTER TABLE resource_history ADD COLUMN method TEXT NOT NULL DEFAULT ''`},
	// 21: the outbox's backlog (its pending messages' count and the oldest's
	// age), which every metrics scrape reads, from an index of the pending
	// messages alone: small however much mail was ever sent.
	{21, `CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at) WHERE status = 'pending'`},
	// 22: second factors (auth's MFA). A user's TOTP secret, sealed by auth
	// (encrypted, never in clear), when it was enrolled (0: pending its
	// first code) and the last time step a code was accepted for, so a
	// code is never accepted twice; the user's single-use recovery codes,
	// hashed; and the logins held until their second factor is given.
	{22, `
CREATE TABLE IF NOT EXISTS mfa_secrets (
  user_id TEXT PRIMARY KEY,
  sealed_secret TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  enrolled_at BIGINT NOT NULL DEFAULT 0,
  last_step BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS mfa_recovery_codes (
  user_id TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE IF NOT EXISTS mfa_logins (
  login_id TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS mfa_logins_created ON mfa_logins (created_at)`},
	// 23: a login started by the OpenID Connect authorize page keeps what
	// its authorization request asked for: the scope granted (its tokens
	// carry it), the nonce its id_token echoes and the redirect URI the
	// token request must repeat. Logins of /auth/login keep them empty.
	{23, `ALTER TABLE logins ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE logins ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE logins ADD COLUMN redirect_uri TEXT NOT NULL DEFAULT ''`},
	// 24: search rows and unique keys hold bounded keys (resources.IndexKey,
	// StringKey), so a 1 MB string fits an index entry; boundKeys (in
	// goSteps: SHA-256) rewrites the longer values older versions wrote.
	{24, ``},
	// 25: sign-ins through an external identity provider in flight: the
	// hash of the state sent upstream, what the callback needs to go on
	// (the authorization request, the nonce, the hash of the browser's
	// binding secret) and when it started. A row is taken once, by the
	// callback; rows left by abandoned sign-ins are purged as new ones
	// arrive.
	{25, `
CREATE TABLE IF NOT EXISTS upstream_states (
  state_hash TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS upstream_states_created ON upstream_states (created_at)`},
	// 20: every type is searched by _tag, _security and _profile (meta),
	// and a reference parameter by :identifier (Reference.identifier,
	// under IdentifierParam): indexMetaAndIdentifiers (in goSteps) writes
	// those search rows for the resources stored before, which have any.
	{20, ``},
	// 26: the change log of updates and deletes (store/changes.go): each
	// one's resource and new version, in commit order — on PostgreSQL by
	// the writing transaction's id, on SQLite (one writer at a time) by
	// a sequence — from which every process keeps its cache of included
	// resources true. SQLite reads and prunes it through an index of the
	// sequence, named in the statements: once ANALYZE has seen the log
	// nearly empty, SQLite would rather scan it than range over its rowid.
	{26, `{{postgres}}CREATE TABLE IF NOT EXISTS changes (
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  at BIGINT NOT NULL
);
{{postgres}}CREATE INDEX IF NOT EXISTS changes_xid ON changes (xid);
{{postgres}}CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
{{sqlite}}CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  at BIGINT NOT NULL
);
{{sqlite}}CREATE INDEX IF NOT EXISTS changes_seq ON changes (seq)`},
	// 27: the member directory (store/members.go): a project's members
	// filtered by name, email, activity and invitation status, and sorted
	// by name, email, last sign-in or last change, a page at a time from
	// one index each, never by decoding every membership to sort it. A row
	// carries its membership's newest invitation (id, status, expiry),
	// which the invitations' writes keep. fillMemberDirectory (in goSteps)
	// writes the rows of the memberships stored before, finding each one's
	// newest invitation from (membership_id, created_at, id), which
	// replaces the index of membership_id alone.
	{27, `
CREATE TABLE IF NOT EXISTS member_directory (
  membership_id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  user_ref TEXT NOT NULL DEFAULT '',
  name_key {{text_c}} NOT NULL DEFAULT '',
  email {{text_c}} NOT NULL DEFAULT '',
  active BOOLEAN NOT NULL DEFAULT TRUE,
  last_updated BIGINT NOT NULL,
  last_sign_in BIGINT NOT NULL DEFAULT 0,
  invitation_id TEXT NOT NULL DEFAULT '',
  invitation_status TEXT NOT NULL DEFAULT '',
  invitation_expires BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS member_directory_recent ON member_directory (project_id, last_updated DESC, membership_id);
CREATE INDEX IF NOT EXISTS member_directory_name ON member_directory (project_id, name_key, membership_id);
CREATE INDEX IF NOT EXISTS member_directory_email ON member_directory (project_id, email, membership_id);
CREATE INDEX IF NOT EXISTS member_directory_sign_in ON member_directory (project_id, last_sign_in, membership_id);
CREATE INDEX IF NOT EXISTS member_directory_user ON member_directory (user_ref);
CREATE INDEX IF NOT EXISTS invitations_membership_created ON invitations (membership_id, created_at, id);
DROP INDEX IF EXISTS invitations_membership`},
	// 28: the admin console's sessions (store/console.go), by the hash of
	// the browser's secret, with their expiry.
	{28, `
CREATE TABLE IF NOT EXISTS console_sessions (
  id_hash TEXT PRIMARY KEY,
  sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at)`},
}

// medableLockoutWindow is how long Medable's wrong-password counts lasted
// from their first failure when migration 17 carried them.
const medableLockoutWindow = 15 * time.Minute

// carryLockouts (migration 17) turns each medable_login_failures row whose
// window is still open into the throttle count auth's lockout reads: key
// "lockout:{project}:{sha256 hex of the folded email}" (the row's key was
// "{project}|{folded email}"), the same failures, ending when the row's
// window ended. Ended windows lock nothing and are dropped. Then the two
// Medable tables go. The hashing is why this step is Go: SQLite has no
// SHA-256.
func carryLockouts(ctx context.Context, s *Store) error {
	rows, err := s.query(ctx, "SELECT key, failures, window_start FROM medable_login_failures WHERE window_start > ?",
		s.now().Add(-medableLockoutWindow).UnixMicro())
	if err != nil {
		return err
	}
	type count struct {
		key     string
		hits    int
		expires int64
	}
	var counts []count
	for rows.Next() {
		var key string
		var hits int
		var start int64
		if err := rows.Scan(&key, &hits, &start); err != nil {
			rows.Close()
			return err
		}
		project, email, ok := strings.Cut(key, "|")
		if !ok || project == "" || email == "" || hits <= 0 {
			continue
		}
		sum := sha256.Sum256([]byte(resources.Fold(email)))
		counts = append(counts, count{"lockout:" + project + ":" + hex.EncodeToString(sum[:]), hits, start + medableLockoutWindow.Microseconds()})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range counts {
		if _, err := s.exec(ctx, "INSERT INTO throttles (key, hits, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING", c.key, c.hits, c.expires); err != nil {
			return err
		}
	}
	_, err = s.exec(ctx, "DROP TABLE medable_login_failures")
	return err
}

// boundKeys (migration 24) turns every search row value and unique key
// longer than resources.KeyBytes into the key Roster now writes for it. A
// string parameter's row had its folded value in value and the value as
// sent in system; a long one now has StringKey's key in value and the
// whole folded value in system.
func boundKeys(ctx context.Context, s *Store) error {
	octets := "length(CAST(%s AS BLOB))"
	if s.postgres {
		octets = "octet_length(%s)"
	}
	type row struct{ typ, id, param, system, value string }
	q, err := s.query(ctx, "SELECT type, id, param, system, value FROM search_index WHERE "+fmt.Sprintf(octets, "value")+" > ?", resources.KeyBytes)
	rows, err := scanAll(q, err, func(sc rowScanner) (row, error) {
		var r row
		return r, sc.Scan(&r.typ, &r.id, &r.param, &r.system, &r.value)
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		system, value := r.system, resources.IndexKey(r.value)
		if p, ok := lookupParam(r.typ, r.param); ok && p.Type == resources.ParamString {
			system, value = r.value, resources.StringKey(r.system)
		}
		if _, err := s.exec(ctx, "UPDATE search_index SET system = ?, value = ? WHERE type = ? AND id = ? AND param = ? AND system = ? AND value = ?",
			system, value, r.typ, r.id, r.param, r.system, r.value); err != nil {
			return err
		}
	}
	q, err = s.query(ctx, "SELECT key FROM unique_keys WHERE "+fmt.Sprintf(octets, "key")+" > ?", resources.KeyBytes)
	keys, err := scanAll(q, err, func(sc rowScanner) (string, error) {
		var k string
		return k, sc.Scan(&k)
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := s.exec(ctx, "UPDATE unique_keys SET key = ? WHERE key = ?", resources.IndexKey(k), k); err != nil {
			return err
		}
	}
	return nil
}

// indexMetaAndIdentifiers (migration 20) writes the search rows of
// _tag, _security, _profile and of references' logical identifiers for
// the live resources whose JSON holds a tag, a security label, a profile
// or a reference's identifier, a few hundred at a time in (type, id)
// order. Decoding a resource to index it is why this step is Go.
func indexMetaAndIdentifiers(ctx context.Context, s *Store) error {
	const page = 500
	after := []any{"", ""}
	for {
		recs, err := s.collect(s.query(ctx, "SELECT "+recordColumns+" FROM resources WHERE deleted = ? AND (type > ? OR type = ? AND id > ?)"+
			` AND (content LIKE '%"tag":[%' OR content LIKE '%"security":[%' OR content LIKE '%"profile":["%' OR content LIKE '%"identifier":{%')`+
			" ORDER BY type, id LIMIT ?", false, after[0], after[0], after[1], page))
		if err != nil {
			return err
		}
		for _, rec := range recs {
			t, ok := resources.Lookup(rec.Type)
			if !ok {
				continue
			}
			r, err := resources.Unmarshal(rec)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", rec.Type, rec.ID, err)
			}
			rec.Index = nil
			for _, row := range resources.IndexRows(t, r) {
				if strings.HasPrefix(row.Param, "_") || strings.HasSuffix(row.Param, ":identifier") {
					rec.Index = append(rec.Index, row)
				}
			}
			if err := s.insertIndex(ctx, rec); err != nil {
				return err
			}
		}
		if len(recs) < page {
			return nil
		}
		last := recs[len(recs)-1]
		after = []any{last.Type, last.ID}
	}
}

// viewRows matches the rows of every parameter now answered by another's
// (SearchParam.Of); dateRows every date parameter's rows.
func viewRows() string {
	return paramRows("", func(p *resources.SearchParam) bool { return p.Of != "" })
}
func dateRows() string {
	return paramRows("", func(p *resources.SearchParam) bool { return p.Type == resources.ParamDate })
}

// datedRowsSQL matches every dated parameter's rows (a string parameter's,
// see dated), by search_index's qualified columns (the statement using it
// joins resources too).
func datedRowsSQL() string { return paramRows("search_index.", dated) }

// paramRows is the SQL condition matching the search rows of the registry's
// parameters that match, naming the columns with prefix.
func paramRows(prefix string, match func(*resources.SearchParam) bool) string {
	var ors []string
	for _, t := range resources.Types() {
		for i := range t.Params {
			if match(&t.Params[i]) {
				// Registry names: safe to inline.
				ors = append(ors, "("+prefix+"type = '"+t.Name+"' AND "+prefix+"param = '"+t.Params[i].Code+"')")
			}
		}
	}
	if len(ors) == 0 {
		return "FALSE"
	}
	return strings.Join(ors, " OR ")
}

func (s *Store) expand(stmt string) string {
	// {{date_key}} is resources.DateKey of the row's num.
	offset, width := resources.DateKeyOffset, resources.DateKeyWidth
	if s.postgres {
		return strings.NewReplacer("{{text_c}}", `TEXT COLLATE "C"`, "{{include}}", ") INCLUDE (",
			"{{date_key}}", fmt.Sprintf("lpad((num + %d)::text, %d, '0')", offset, width)).Replace(stmt)
	}
	return strings.NewReplacer("{{text_c}}", "TEXT", "{{include}}", ", ",
		"{{date_key}}", fmt.Sprintf("printf('%%0%dd', num + %d)", width, offset)).Replace(stmt)
}

// Empty reports whether the database has no schema yet: a first start.
func (s *Store) Empty(ctx context.Context) bool {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if s.postgres {
		q = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()`
	}
	var n int
	return s.queryRow(ctx, q).Scan(&n) == nil && n == 0
}

// Migrate brings the schema up to date. Several processes may start at once:
// on PostgreSQL an advisory lock lets one migrate while the others wait.
func (s *Store) Migrate(ctx context.Context) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if s.postgres {
			if _, err := s.exec(ctx, "SELECT pg_advisory_xact_lock(7301977)"); err != nil {
				return err
			}
		}
		if _, err := s.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		// Apply every step not yet recorded (not only those above the highest):
		// steps written on parallel branches may land with lower numbers.
		applied := map[int]bool{}
		rows, err := s.query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("migrate: %w", err)
			}
			applied[v] = true
		}
		rows.Close()
		for _, m := range migrations {
			if applied[m.version] {
				continue
			}
			for _, stmt := range s.statements(m.sql) {
				if _, err := s.exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", m.version, err)
				}
			}
			if run := goSteps[m.version]; run != nil {
				if err := run(ctx, s); err != nil {
					return fmt.Errorf("migration %d: %w", m.version, err)
				}
			}
			if _, err := s.exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.version, s.nowMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

// statements are a migration's SQL as this database runs it, in order.
func (s *Store) statements(sql string) []string {
	var out []string
	for _, stmt := range strings.Split(sql, ";\n") {
		stmt, pgOnly := strings.CutPrefix(stmt, "{{postgres}}")
		stmt, sqliteOnly := strings.CutPrefix(stmt, "{{sqlite}}")
		if strings.TrimSpace(stmt) == "" || pgOnly && !s.postgres || sqliteOnly && s.postgres {
			continue
		}
		out = append(out, s.expand(stmt))
	}
	return out
}

// MigrationSQL is the SQL of migration version as this database runs it
// (nil for an unknown version), for specs that put a database back as an
// older Roster left it. Its Go step, if any, is not included.
func (s *Store) MigrationSQL(version int) []string {
	for _, m := range migrations {
		if m.version == version {
			return s.statements(m.sql)
		}
	}
	return nil
}
