package auth

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// Limits bound how many failed attempts at a secret (a password, a client
// secret, a link) one account and one client address may make per window,
// and how many password-reset mails may be asked for. Zero turns a limit off.
// A link needs no account limit: MaxLinkFailures wrong secrets kill it.
type Limits struct {
	// Window is how long a count lasts, from the first failure it counts.
	Window time.Duration
	// PerAccount bounds the failed logins per email, the wrong secrets per
	// client id, and the reset requests per email.
	PerAccount int
	// PerAddress bounds the failures (logins, client secrets, links) and
	// the reset requests per client address.
	PerAddress int
}

// DefaultLimits are Roster's limits when none are configured.
var DefaultLimits = Limits{Window: 15 * time.Minute, PerAccount: 10, PerAddress: 50}

// ThrottleStore keeps the throttle counters in the database, so every
// Roster process sharing it counts the same attempts.
type ThrottleStore interface {
	// ThrottleCounts answers the count and window end of each of keys whose
	// window is still open at now (keys without one are absent).
	ThrottleCounts(ctx context.Context, keys []string, now time.Time) (map[string]ThrottleCount, error)
	// HitThrottle counts one failure on key and answers the new count and
	// the end of its window; a key without an open window starts a new one
	// of length window at now.
	HitThrottle(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error)
	// ResetThrottle forgets key's count.
	ResetThrottle(ctx context.Context, key string) error
	// PurgeThrottles deletes every count whose window ended before now.
	PurgeThrottles(ctx context.Context, now time.Time) error
}

// ThrottleCount is one key's count in its open window.
type ThrottleCount = store.ThrottleCount

// Lockout is an account lock in one project beside the throttle's limits:
// a dialect whose vendor documents a lock after so many failed sign-ins
// passes it with its logins (LoginRequest.Lockout). It counts the failed
// sign-ins into that project per email — wrong passwords, unknown emails,
// users without an active membership there — in a window that starts at the
// first failure; once Failures are counted every sign-in (the right password
// too) is refused until the window ends, and a successful one forgets the
// count. It is a throttle count like the others (kind "lockout"), so every
// process sees it.
type Lockout struct {
	Failures int
	Window   time.Duration
	// Message is what the refusal (429) says; empty, the throttle's own
	// words ("Too many attempts. Try again in …").
	Message string
}

// What is being throttled: each kind counts apart.
const (
	throttleLogin   = "login"   // POST /auth/login and every dialect login
	throttleClient  = "client"  // client_credentials at POST /oauth2/token
	throttleReset   = "reset"   // password-reset requests
	throttleLink    = "link"    // one-time link redemption
	throttleLockout = "lockout" // a dialect's account lock in one project (Lockout)
)

// throttlePurgeEvery is how often a process deletes ended windows.
const throttlePurgeEvery = 10 * time.Minute

type throttleKey struct {
	key     string
	limit   int
	window  time.Duration
	account bool
	counted bool   // it had a count when the attempt began
	message string // of the refusal; "" for the usual one
}

// attempt is one throttled try at a secret.
type attempt struct {
	s    *Service
	keys []throttleKey
}

// accountKey is the throttle key of kind for an account (an email, a
// client id): its hash, so the table holds no addresses. (EmailKey of a
// client id, no address, is the id folded.)
func accountKey(kind, account string) string {
	return kind + ":account:" + HashSecret(resources.EmailKey(account))
}

// lockoutKey is the throttle key of a Lockout: the project in clear, the
// email hashed as accountKey hashes it. (Migration 17 wrote Medable's
// counts under this key; keep the two in step.)
func lockoutKey(projectID, email string) string {
	return throttleLockout + ":" + projectID + ":" + HashSecret(resources.EmailKey(email))
}

// beginAttempt refuses with 429 (and when to retry) an attempt of kind
// whose account or client address (either may be empty) already used up
// its failures in the current window. The attempt is then ended with fail
// or succeed. Only failures count, so any number of concurrent right
// answers go through; concurrent wrong ones may pass the limit by at most
// their own number before the counts catch up.
func (s *Service) beginAttempt(ctx context.Context, kind, account, address string) (*attempt, error) {
	lim := s.Limits
	if lim.Window <= 0 {
		return &attempt{s: s}, nil
	}
	var keys []throttleKey
	if account != "" && lim.PerAccount > 0 {
		keys = append(keys, throttleKey{key: accountKey(kind, account), limit: lim.PerAccount, window: lim.Window, account: true})
	}
	if address != "" && lim.PerAddress > 0 {
		keys = append(keys, throttleKey{key: kind + ":address:" + addressKey(address), limit: lim.PerAddress, window: lim.Window})
	}
	return s.begin(ctx, keys)
}

// beginLockout is beginAttempt for a Lockout of email in projectID (no
// lockout, or no project: an attempt that counts nothing).
func (s *Service) beginLockout(ctx context.Context, lo Lockout, projectID, email string) (*attempt, error) {
	if lo.Failures <= 0 || lo.Window <= 0 || projectID == "" || strings.TrimSpace(email) == "" {
		return &attempt{s: s}, nil
	}
	return s.begin(ctx, []throttleKey{{key: lockoutKey(projectID, email), limit: lo.Failures, window: lo.Window,
		account: true, message: lo.Message}})
}

// begin reads the counts of keys and refuses when one is used up.
func (s *Service) begin(ctx context.Context, keys []throttleKey) (*attempt, error) {
	a := &attempt{s: s}
	ts, ok := s.store.(ThrottleStore)
	if !ok || len(keys) == 0 {
		return a, nil
	}
	now := s.now()
	s.purgeThrottles(ctx, ts, now)
	a.keys = keys
	names := make([]string, len(a.keys))
	for i, k := range a.keys {
		names[i] = k.key
	}
	counts, err := ts.ThrottleCounts(ctx, names, now)
	if err != nil {
		return nil, err
	}
	retry, message, refused := time.Duration(0), "", ""
	for i, k := range a.keys {
		c, ok := counts[k.key]
		a.keys[i].counted = ok
		if ok && c.Hits >= k.limit {
			if wait := c.Until.Sub(now); wait > retry {
				retry, message, refused = wait, k.message, k.key
			}
		}
	}
	if retry > 0 {
		if s.Meter != nil {
			kind, _, _ := strings.Cut(refused, ":") // keys start with their kind
			s.Meter.Throttled(kind)
		}
		e := tooMany(retry)
		if message != "" {
			e.Message = message
		}
		return nil, e
	}
	return a, nil
}

// fail counts the attempt's failure against its account and address.
func (a *attempt) fail(ctx context.Context) {
	ts, ok := a.s.store.(ThrottleStore)
	if !ok {
		return
	}
	now := a.s.now()
	for _, k := range a.keys {
		_, _, _ = ts.HitThrottle(ctx, k.key, k.window, now)
	}
}

// succeed ends an attempt whose secret was right: the account's failures
// are forgotten (the address's stay: one good account must not launder an
// address's guesses at others).
func (a *attempt) succeed(ctx context.Context) {
	ts, ok := a.s.store.(ThrottleStore)
	if !ok {
		return
	}
	for _, k := range a.keys {
		if k.account && k.counted {
			_ = ts.ResetThrottle(ctx, k.key)
		}
	}
}

func (s *Service) purgeThrottles(ctx context.Context, ts ThrottleStore, now time.Time) {
	s.purgeMu.Lock()
	due := now.Sub(s.purgedAt) > throttlePurgeEvery
	if due {
		s.purgedAt = now
	}
	s.purgeMu.Unlock()
	if due {
		_ = ts.PurgeThrottles(ctx, now)
	}
}

// tooMany is the 429 of a throttled attempt, asking to wait at least retry.
func tooMany(retry time.Duration) *resources.Error {
	secs := max(1, int(math.Ceil(retry.Seconds())))
	e := resources.TooMany(secs)
	e.Message = fmt.Sprintf("Too many attempts. Try again in %s.", waitText(secs))
	return e
}

func waitText(secs int) string {
	if secs < 120 {
		return fmt.Sprintf("%d seconds", secs)
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
}

// addressKey is the part of a client address an attacker cannot cheaply
// change: the address itself for IPv4, its /64 network for IPv6 (one host
// usually holds a whole /64).
func addressKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// IPExtractor is how the router finds a request's client address: the
// socket's peer, unless that peer is one of the trusted proxies (CIDRs or
// single addresses), whose X-Forwarded-For is then believed up to the first
// address that is not itself a trusted proxy. Loopback, link-local and
// private networks are not trusted unless listed, so a forged
// X-Forwarded-For from anyone else changes nothing.
func IPExtractor(trustedProxies []string) (echo.IPExtractor, error) {
	var opts []echo.TrustOption
	for _, p := range trustedProxies {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			if ip := net.ParseIP(p); ip != nil && ip.To4() != nil {
				p += "/32"
			} else {
				p += "/128"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("ROSTER_TRUSTED_PROXIES: %q is not a CIDR or an IP address", p)
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	if len(opts) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	return echo.ExtractIPFromXFFHeader(opts...), nil
}
