package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// A TOTP secret must be readable to check a code, so it cannot be hashed;
// it is sealed instead: AES-256-GCM under a key derived (HKDF-SHA256) from
// a signing key of the key ring, whose kid the sealed text names, with the
// user's id as associated data, so a sealed secret copied onto another
// user's row opens to nothing. What this protects against: a leak of the
// MFA tables without the signing keys (a partial dump or export, a query
// that reads the wrong table, a backup of some tables). What it does not: a
// full copy of the database, which holds the signing keys too — and with
// them the power to mint any access token, which matters more than the
// second factors. Rotating the signing key seals new secrets under the new
// key; old ones stay readable, since keys are retired, never deleted.

const (
	sealVersion = "v1"
	sealInfo    = "roster mfa secret v1"
)

var errSealed = errors.New("auth: sealed MFA secret cannot be opened")

// sealSecret encrypts secret for userID under the current signing key.
func (k *Keys) sealSecret(ctx context.Context, userID string, secret []byte) (string, error) {
	kid, aead, err := k.sealCipher(ctx, "")
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, secret, []byte(userID))
	return sealVersion + "." + kid + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// openSecret decrypts what sealSecret sealed for userID.
func (k *Keys) openSecret(ctx context.Context, userID, sealed string) ([]byte, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != sealVersion {
		return nil, errSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errSealed
	}
	_, aead, err := k.sealCipher(ctx, parts[1])
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errSealed
	}
	secret, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(userID))
	if err != nil {
		return nil, errSealed
	}
	return secret, nil
}

// sealCipher is the AEAD of signing key kid ("" for the current one): the
// current key is in memory; any other, retired ones included, is read.
func (k *Keys) sealCipher(ctx context.Context, kid string) (string, cipher.AEAD, error) {
	k.mu.RLock()
	cur := k.signing
	k.mu.RUnlock()
	material := ""
	if cur != nil && (kid == "" || kid == cur.KID) {
		kid, material = cur.KID, cur.PrivatePEM
	} else {
		rows, err := k.store.SigningKeys(ctx)
		if err != nil {
			return "", nil, err
		}
		for _, r := range rows {
			if r.KID == kid {
				material = r.PrivatePEM
			}
		}
	}
	if material == "" {
		return "", nil, errSealed
	}
	key, err := hkdf.Key(sha256.New, []byte(material), nil, sealInfo, 32)
	if err != nil {
		return "", nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", nil, err
	}
	aead, err := cipher.NewGCM(block)
	return kid, aead, err
}
