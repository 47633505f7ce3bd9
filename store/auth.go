package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rosterhq/roster/resources"
)

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// PasswordHash returns a user's password hash ("" and NotFound when unset).
func (s *Store) PasswordHash(ctx context.Context, userID string) (string, error) {
	return s.queryString(ctx, "SELECT hash FROM passwords WHERE user_id = ?", userID)
}

// SetPasswordHash stores a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	_, err := s.exec(ctx, "INSERT INTO passwords (user_id, hash, updated_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
		userID, hash, s.nowMicro())
	return err
}

// DeletePasswordHash forgets a user's password (nothing when it has none).
func (s *Store) DeletePasswordHash(ctx context.Context, userID string) error {
	_, err := s.exec(ctx, "DELETE FROM passwords WHERE user_id = ?", userID)
	return err
}

const loginColumns = "id, user_id, client_id, membership_id, project_id, code_hash, code_challenge, code_method, refresh_hash, created_at, expires_at, revoked_at, remote_addr, user_agent, scope, nonce, redirect_uri"

func scanLogin(sc rowScanner) (*Login, error) {
	var l Login
	var created, expires, revoked int64
	if err := sc.Scan(&l.ID, &l.UserID, &l.ClientID, &l.MembershipID, &l.ProjectID, &l.CodeHash, &l.CodeChallenge, &l.CodeMethod,
		&l.RefreshHash, &created, &expires, &revoked, &l.RemoteAddr, &l.UserAgent, &l.Scope, &l.Nonce, &l.RedirectURI); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, resources.NotFound("Login not found")
		}
		return nil, err
	}
	l.CreatedAt, l.ExpiresAt, l.RevokedAt = fromMicro(created), fromMicro(expires), fromMicro(revoked)
	return &l, nil
}

// CreateLogin stores a new login.
func (s *Store) CreateLogin(ctx context.Context, l *Login) error {
	_, err := s.exec(ctx, "INSERT INTO logins ("+loginColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.UserID, l.ClientID, l.MembershipID, l.ProjectID, l.CodeHash, l.CodeChallenge, l.CodeMethod,
		l.RefreshHash, micro(l.CreatedAt), micro(l.ExpiresAt), micro(l.RevokedAt), l.RemoteAddr, l.UserAgent, l.Scope, l.Nonce, l.RedirectURI)
	return err
}

// LoginByCode finds the login holding an authorization code, used or not:
// the caller must see a replayed code to revoke what it produced.
func (s *Store) LoginByCode(ctx context.Context, codeHash string) (*Login, error) {
	return scanLogin(s.queryRow(ctx, "SELECT "+loginColumns+" FROM logins WHERE code_hash = ?", codeHash))
}

// UseCode marks a login's code used, once.
func (s *Store) UseCode(ctx context.Context, loginID string) (bool, error) {
	return s.claim(ctx, "UPDATE logins SET code_used = ?, granted_at = ? WHERE id = ? AND code_used = ?", true, s.nowMicro(), loginID, false)
}

// RotateCode gives a login a fresh, unused code.
func (s *Store) RotateCode(ctx context.Context, loginID, codeHash string) error {
	_, err := s.exec(ctx, "UPDATE logins SET code_hash = ?, code_used = ?, created_at = ? WHERE id = ?", codeHash, false, s.nowMicro(), loginID)
	return err
}

// LoginByRefresh finds the login whose current refresh token hashes to hash.
func (s *Store) LoginByRefresh(ctx context.Context, hash string) (*Login, error) {
	if hash == "" {
		return nil, resources.NotFound("Login not found")
	}
	return scanLogin(s.queryRow(ctx, "SELECT "+loginColumns+" FROM logins WHERE refresh_hash = ?", hash))
}

// RotateRefresh swaps a login's refresh hash if it is still oldHash.
func (s *Store) RotateRefresh(ctx context.Context, loginID, oldHash, newHash string) (bool, error) {
	return s.claim(ctx, "UPDATE logins SET refresh_hash = ? WHERE id = ? AND refresh_hash = ?", newHash, loginID, oldHash)
}

// SetLoginMembership records the membership a login acts through.
func (s *Store) SetLoginMembership(ctx context.Context, loginID, membershipID, projectID string) error {
	_, err := s.exec(ctx, "UPDATE logins SET membership_id = ?, project_id = ? WHERE id = ?", membershipID, projectID, loginID)
	return err
}

// RevokeLogin ends a login.
func (s *Store) RevokeLogin(ctx context.Context, loginID string) error {
	_, err := s.exec(ctx, "UPDATE logins SET revoked_at = ? WHERE id = ? AND revoked_at = 0", s.nowMicro(), loginID)
	return err
}

// RevokeUserLogins ends every login of a user but keep.
func (s *Store) RevokeUserLogins(ctx context.Context, userID, keep string) error {
	_, err := s.exec(ctx, "UPDATE logins SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at = 0", s.nowMicro(), userID, keep)
	return err
}

const sqlSession = `SELECT l.id, l.user_id, l.client_id, l.membership_id, l.project_id, l.created_at, l.expires_at, l.revoked_at,
 m.version, CASE WHEN m.id = ? AND m.version = ? THEN NULL ELSE m.content END,
 u.version, CASE WHEN u.id = ? AND u.version = ? THEN NULL ELSE u.content END`

const sqlSessionFrom = `
FROM logins l
LEFT JOIN resources m ON m.type = 'ProjectMembership' AND m.id = l.membership_id AND m.deleted = FALSE
LEFT JOIN resources u ON u.type = 'User' AND u.id = l.user_id AND u.deleted = FALSE`

// sqlSessionPrefetch also reads the resource the request is for
// (resources.Prefetch).
const sqlSessionPrefetch = sqlSession + `, r.type, r.id, r.project_id, r.version, r.last_updated, r.deleted, r.content` + sqlSessionFrom + `
LEFT JOIN resources r ON r.type = ? AND r.id = ?
WHERE l.id = ?`

// Session reads a login with its membership and user in one round trip.
func (s *Store) Session(ctx context.Context, loginID string) (*Session, error) {
	return s.CurrentSession(ctx, loginID, Known{})
}

// CurrentSession is Session leaving out the content known already, and
// reading the request's prefetched resource in the same round trip when it
// asks for one.
func (s *Store) CurrentSession(ctx context.Context, loginID string, known Known) (*Session, error) {
	var (
		sess       Session
		membership sql.NullString
		user       sql.NullString
		mVersion   sql.NullInt64
		uVersion   sql.NullInt64
		created    int64
		expires    int64
		revoked    int64
		r          struct {
			typ, id, project, content sql.NullString
			version, updated          sql.NullInt64
			deleted                   sql.NullBool
		}
	)
	l := &sess.Login
	dest := []any{&l.ID, &l.UserID, &l.ClientID, &l.MembershipID, &l.ProjectID, &created, &expires, &revoked, &mVersion, &membership, &uVersion, &user}
	args := []any{known.MembershipID, known.MembershipVersion, known.UserID, known.UserVersion}
	var row *sql.Row
	pre := resources.PrefetchFrom(ctx)
	if pre != nil {
		dest = append(dest, &r.typ, &r.id, &r.project, &r.version, &r.updated, &r.deleted, &r.content)
		row = s.queryRow(ctx, sqlSessionPrefetch, append(args, pre.Type, pre.ID, loginID)...)
	} else {
		row = s.queryRow(ctx, sqlSession+sqlSessionFrom+"\nWHERE l.id = ?", append(args, loginID)...)
	}
	err := row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resources.NotFound("Login not found")
	}
	if err != nil {
		return nil, translate(err)
	}
	l.CreatedAt, l.ExpiresAt, l.RevokedAt = fromMicro(created), fromMicro(expires), fromMicro(revoked)
	sess.MembershipVersion, sess.UserVersion = mVersion.Int64, uVersion.Int64
	if membership.Valid {
		sess.Membership = []byte(membership.String)
	}
	if user.Valid {
		sess.User = []byte(user.String)
	}
	if pre != nil {
		pre.Done = true
		if r.id.Valid {
			pre.Record = &resources.Record{Type: r.typ.String, ID: r.id.String, Project: r.project.String,
				Version: r.version.Int64, Deleted: r.deleted.Bool}
			fillRecord(pre.Record, r.updated.Int64, r.content)
		}
	}
	return &sess, nil
}

// SigningKeys lists every signing key.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.query(ctx, "SELECT kid, alg, private_pem, created_at, retired_at FROM signing_keys")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var created, retired int64
		if err := rows.Scan(&k.KID, &k.Alg, &k.PrivatePEM, &created, &retired); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetiredAt = fromMicro(created), fromMicro(retired)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey stores a new signing key.
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.exec(ctx, "INSERT INTO signing_keys (kid, alg, private_pem, created_at, retired_at) VALUES (?, ?, ?, ?, ?)",
		k.KID, k.Alg, k.PrivatePEM, micro(k.CreatedAt), micro(k.RetiredAt))
	return err
}

// RetireSigningKey marks an unretired key retired.
func (s *Store) RetireSigningKey(ctx context.Context, kid string, at time.Time) (bool, error) {
	return s.claim(ctx, "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at = 0", micro(at), kid)
}

// ClientBySecretHash returns the ClientApplication id owning a secret hash.
func (s *Store) ClientBySecretHash(ctx context.Context, hash string) (string, error) {
	return s.queryString(ctx, "SELECT client_id FROM client_secrets WHERE lookup = ?", hash)
}

// ClientSecretHash returns a ClientApplication's secret hash.
func (s *Store) ClientSecretHash(ctx context.Context, clientID string) (string, error) {
	return s.queryString(ctx, "SELECT hash FROM client_secrets WHERE client_id = ?", clientID)
}

// SetClientSecretHash stores (or replaces) a ClientApplication's secret hash.
func (s *Store) SetClientSecretHash(ctx context.Context, clientID, hash string) error {
	_, err := s.exec(ctx, "INSERT INTO client_secrets (client_id, hash, lookup, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET hash = excluded.hash, lookup = excluded.lookup, created_at = excluded.created_at",
		clientID, hash, hash, s.nowMicro())
	return err
}
