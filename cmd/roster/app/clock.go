package app

import (
	"sync/atomic"
	"time"
)

// Clock is Roster's one clock: every expiry decision — links, invitations,
// logins, codes, access tokens, throttles, idempotency keys, the mail
// outbox's schedule — and every stored date reads it. It is the configured
// Config.Now (time.Now by default) moved on by an offset that only test mode
// (POST /_test/clock) or a Go test advances. Durations that measure the
// process itself (request times, cache reloads, startup retries) keep the
// wall clock.
type Clock struct {
	base   func() time.Time
	offset atomic.Int64 // nanoseconds
}

func newClock(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base}
}

// Now is the time on Roster's clock.
func (c *Clock) Now() time.Time { return c.base().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock on by d (never back: stored dates would then lie
// in the future) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	if d > 0 {
		c.offset.Add(int64(d))
	}
	return c.Now()
}

// Offset is how far the clock has been moved on.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Rewind puts the clock back on its base, for an emptied database
// (POST /_test/reset) that holds no date the base has not reached.
func (c *Clock) Rewind() { c.offset.Store(0) }
