package auth

import (
	"sync"

	"github.com/rosterhq/roster/resources"
)

// maxCachedCallers bounds callerCache; past it the cache starts over.
const maxCachedCallers = 10000

// callerCache keeps, per login, the caller decoded from its membership and
// user and the versions it was decoded from. It never decides whether a
// request is authenticated: the database is asked on every request, and an
// entry is only used when the versions read then are still the ones here.
type callerCache struct {
	mu sync.Mutex
	m  map[string]cachedCaller
}

type cachedCaller struct {
	known  Known
	caller resources.Caller
}

func (c *callerCache) get(loginID string) (Known, *resources.Caller) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[loginID]
	if !ok {
		return Known{}, nil
	}
	return e.known, &e.caller
}

func (c *callerCache) put(loginID string, known Known, caller resources.Caller) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedCallers {
		c.m = make(map[string]cachedCaller)
	}
	c.m[loginID] = cachedCaller{known, caller}
}
