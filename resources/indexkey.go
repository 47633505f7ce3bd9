package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// KeyBytes bounds what the search index and the unique keys hold of a
// value. FHIR strings may be 1 MB long, and an index entry may not (a
// PostgreSQL B-tree entry stops at 2 704 bytes): a value of at most
// KeyBytes bytes is its own key; a longer one is keyed by its first
// KeyBytes bytes (cut back to a UTF-8 boundary), KeySeparator, and the
// SHA-256 of the whole value, at most KeyBytes+65 bytes in all.
const KeyBytes = 1024

// KeySeparator follows a long value's cut prefix. It is a control
// character, which no stored string may hold (Service refuses them), so a
// long value's key never equals a value that is its own key, and a prefix
// range of a search value without one never reaches past the cut prefix.
const KeySeparator = "\x01"

// IndexKey is the bounded key of a token, a reference or a unique key:
// equal keys are equal values.
func IndexKey(v string) string { return boundedKey(v, v) }

// StringKey is the bounded key of a string parameter's value v as sent: v
// folded (prefix search ignores case), and when that is longer than
// KeyBytes, its cut prefix and the hash of v itself, so :exact is decided
// by the key alone. A long value's search row keeps the whole folded
// value beside its key, for a prefix longer than the key's (LongPrefix).
func StringKey(v string) string { return boundedKey(Fold(v), v) }

// Long reports whether key is a long value's: cut, not the value itself.
func Long(key string) bool { return strings.Contains(key, KeySeparator) }

// LongPrefix is the key range [from, to) that holds every long value
// starting with the folded search prefix p, when p is longer than KeyBytes
// (ok false otherwise: a plain prefix range of the keys answers it). The
// matches in the range still need checking against the whole value.
func LongPrefix(p string) (from, to string, ok bool) {
	if len(p) <= KeyBytes {
		return "", "", false
	}
	cut := cutUTF8(p, KeyBytes)
	return cut + KeySeparator, cut + "\x02", true
}

func boundedKey(v, hashed string) string {
	if len(v) <= KeyBytes {
		return v
	}
	sum := sha256.Sum256([]byte(hashed))
	return cutUTF8(v, KeyBytes) + KeySeparator + hex.EncodeToString(sum[:])
}

// cutUTF8 is s's longest prefix of at most n bytes that does not split a
// UTF-8 sequence. It depends only on s's first n+1 bytes, so two strings
// sharing those cut alike.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
