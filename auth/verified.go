package auth

import (
	"sync"
	"time"
)

// verifiedTokens remembers access tokens whose signature and claims checked
// out, so a client sending the same token on every request pays the ECDSA
// verification once per process instead of on each call. Only that pure
// computation is remembered: expiry and the signing key's standing (a
// retired key stops its tokens) are checked on every use, and every request
// still reads its login, membership and user from the database
// (Service.callerForLogin), so a revoked login or an inactive membership
// stops working on the next request in every process.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	claims Claims
	kid    string
	exp    time.Time
}

// maxVerifiedTokens bounds the memory the cache takes (about 1 KB a token);
// when full it starts over.
const maxVerifiedTokens = 8192

func (v *verifiedTokens) get(token string) (verifiedToken, bool) {
	v.mu.RLock()
	t, ok := v.m[token]
	v.mu.RUnlock()
	return t, ok
}

func (v *verifiedTokens) put(token string, t verifiedToken) {
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[string]verifiedToken, 256)
	}
	v.m[token] = t
	v.mu.Unlock()
}
