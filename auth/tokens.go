package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Alg is the one signing algorithm Roster issues and accepts.
const Alg = "ES256"

// Claims are the claims of a Roster access token (Medplum's names).
type Claims struct {
	jwt.RegisteredClaims
	LoginID  string `json:"login_id"`
	ClientID string `json:"client_id,omitempty"`
	Profile  string `json:"profile,omitempty"`
	Username string `json:"username,omitempty"`
	Scope    string `json:"scope,omitempty"`
}

// Keys holds the signing keys, loaded from the database so every Roster
// process sharing it signs and verifies with the same keys.
type Keys struct {
	store    Store
	issuer   string
	audience string

	mu         sync.RWMutex
	signing    *SigningKey
	private    *ecdsa.PrivateKey
	public     map[string]*ecdsa.PublicKey
	lastReload time.Time

	// now judges and dates tokens (iat, exp); key reloads and the keys' own
	// dates keep the wall clock, which every process and `roster keys` share.
	now func() time.Time

	verified verifiedTokens
}

// NewKeys loads the keys, creating the first one on an empty database.
func NewKeys(ctx context.Context, store Store, issuer string) (*Keys, error) {
	k := &Keys{store: store, issuer: issuer, audience: issuer, now: time.Now}
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	if k.signing == nil {
		if _, err := k.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// SetClock makes now the clock that dates and judges tokens (time.Now by
// default): the auth Service's. Call it before serving.
func (k *Keys) SetClock(now func() time.Time) {
	if now != nil {
		k.now = now
	}
}

// Rotate adds a new signing key; new tokens use it, old ones stay valid.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return "", err
	}
	sk := SigningKey{KID: uuid.NewString(), Alg: Alg, CreatedAt: time.Now().UTC(),
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))}
	if err := k.store.AddSigningKey(ctx, sk); err != nil {
		return "", err
	}
	return sk.KID, k.reload(ctx)
}

func (k *Keys) reload(ctx context.Context) error {
	rows, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].CreatedAt.Before(rows[j].CreatedAt) })
	public := map[string]*ecdsa.PublicKey{}
	var signing *SigningKey
	var private *ecdsa.PrivateKey
	for i := range rows {
		r := rows[i]
		block, _ := pem.Decode([]byte(r.PrivatePEM))
		if block == nil || r.Alg != Alg {
			continue
		}
		priv, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			continue
		}
		if !r.RetiredAt.IsZero() {
			continue
		}
		public[r.KID] = &priv.PublicKey
		signing, private = &rows[i], priv
	}
	k.mu.Lock()
	k.public, k.signing, k.private, k.lastReload = public, signing, private, time.Now()
	k.mu.Unlock()
	return nil
}

// Sign issues a token for claims, filling iss, aud, iat and jti.
func (k *Keys) Sign(c *Claims) (string, error) {
	c.Issuer = k.issuer
	c.Audience = jwt.ClaimStrings{k.audience}
	c.IssuedAt = jwt.NewNumericDate(k.now())
	c.ID = uuid.NewString()
	return k.signWithCurrent(c)
}

// signWithCurrent signs claims with the current key, naming it in kid.
func (k *Keys) signWithCurrent(claims jwt.Claims) (string, error) {
	k.refresh(context.Background())
	k.mu.RLock()
	signing, private := k.signing, k.private
	k.mu.RUnlock()
	if signing == nil {
		return "", errors.New("no signing key")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = signing.KID
	return t.SignedString(private)
}

// Verify checks a token's signature, algorithm, exp, iss and aud.
func (k *Keys) Verify(ctx context.Context, token string) (*Claims, error) {
	if v, ok := k.verified.get(token); ok && k.now().Before(v.exp.Add(verifyLeeway)) && k.hasKey(ctx, v.kid) {
		c := v.claims
		return &c, nil
	}
	var kid string
	parser := jwt.NewParser(jwt.WithValidMethods([]string{Alg}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(k.issuer), jwt.WithAudience(k.audience), jwt.WithLeeway(verifyLeeway), jwt.WithTimeFunc(k.now))
	claims := &Claims{}
	_, err := parser.ParseWithClaims(token, claims, k.keyOf(ctx, &kid))
	if err != nil {
		return nil, err
	}
	if claims.LoginID == "" {
		return nil, errors.New("token has no login")
	}
	if claims.ExpiresAt != nil {
		k.verified.put(token, verifiedToken{claims: *claims, kid: kid, exp: claims.ExpiresAt.Time})
	}
	return claims, nil
}

// keyOf finds the public key of a token Roster signed, by its kid (stored
// in *kid). Keys named by the token itself are never fetched or trusted.
func (k *Keys) keyOf(ctx context.Context, kid *string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		for _, h := range []string{"jku", "jwk", "x5u", "x5c"} {
			if _, ok := t.Header[h]; ok {
				return nil, errors.New("key reference headers are not accepted")
			}
		}
		*kid, _ = t.Header["kid"].(string)
		return k.publicKey(ctx, *kid)
	}
}

// verifyLeeway is the clock skew Verify allows on exp.
const verifyLeeway = 5 * time.Second

// hasKey says whether kid still verifies tokens (after the periodic reload
// that picks up keys retired by any process).
func (k *Keys) hasKey(ctx context.Context, kid string) bool {
	k.refresh(ctx)
	k.mu.RLock()
	_, ok := k.public[kid]
	k.mu.RUnlock()
	return ok
}

func (k *Keys) publicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	k.refresh(ctx)
	k.mu.RLock()
	pub, ok := k.public[kid]
	stale := time.Since(k.lastReload) > 5*time.Second
	k.mu.RUnlock()
	if ok {
		return pub, nil
	}
	// Another process may have rotated: look again, at most every 5 s.
	if stale && kid != "" {
		if err := k.reload(ctx); err == nil {
			k.mu.RLock()
			pub, ok = k.public[kid]
			k.mu.RUnlock()
			if ok {
				return pub, nil
			}
		}
	}
	return nil, errors.New("unknown key")
}

// JWKS is the public key set served at /.well-known/jwks.json.
func (k *Keys) JWKS() map[string]any {
	k.mu.RLock()
	defer k.mu.RUnlock()
	keys := []map[string]string{}
	kids := make([]string, 0, len(k.public))
	for kid := range k.public {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	for _, kid := range kids {
		pub := k.public[kid]
		keys = append(keys, map[string]string{
			"kty": "EC", "crv": "P-256", "use": "sig", "alg": Alg, "kid": kid,
			"x": b64(pub.X, 32), "y": b64(pub.Y, 32),
		})
	}
	return map[string]any{"keys": keys}
}

func b64(n *big.Int, size int) string {
	b := n.FillBytes(make([]byte, size))
	return base64.RawURLEncoding.EncodeToString(b)
}

// Secret returns a random 256-bit secret, URL-safe.
func Secret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret hashes a high-entropy secret for storage and lookup. Secrets are
// 256-bit random values, so a fast hash is enough; passwords use bcrypt.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
