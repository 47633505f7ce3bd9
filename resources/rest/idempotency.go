package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// IdempotencyHeader names the key a client sends to make a create safe to
// retry.
const IdempotencyHeader = "Idempotency-Key"

// ReplayedHeader marks an answer replayed from an earlier request.
const ReplayedHeader = "Idempotent-Replayed"

// IdempotencyStore keeps Idempotency-Keys in the database, so every Roster
// process sharing it honours the same keys.
type IdempotencyStore interface {
	// ClaimIdempotencyKey stores rec (in flight) when its key is free or has
	// expired, answering nil; otherwise it answers the record holding the key.
	ClaimIdempotencyKey(ctx context.Context, rec *resources.IdempotencyRecord, now time.Time) (*resources.IdempotencyRecord, error)
	// CompleteIdempotencyKey keeps the answer of owner's request until expires.
	CompleteIdempotencyKey(ctx context.Context, key, owner string, status int, header http.Header, body []byte, expires time.Time) error
	// ReleaseIdempotencyKey frees a key owner still holds in flight.
	ReleaseIdempotencyKey(ctx context.Context, key, owner string) error
	// PurgeIdempotencyKeys deletes the records that expired before now.
	PurgeIdempotencyKeys(ctx context.Context, now time.Time) error
}

// IdempotencyOptions tune Idempotency; zero values take the defaults.
type IdempotencyOptions struct {
	// TTL is how long an answer is replayed (24 h).
	TTL time.Duration
	// Lease is how long a request may hold its key in flight: the key of a
	// process that died mid-request is free again after it (5 min).
	Lease time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Defaults of IdempotencyOptions.
const (
	DefaultIdempotencyTTL   = 24 * time.Hour
	DefaultIdempotencyLease = 5 * time.Minute
	maxIdempotencyKey       = 255
	idempotencyPurgeEvery   = 10 * time.Minute
)

// replayedHeaders are the response headers an answer is replayed with.
var replayedHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag", echo.HeaderLastModified,
	"Content-Location", echo.HeaderCacheControl}

// Idempotency makes the routes it wraps honour an Idempotency-Key header
// (requests without one pass through). The first request with a key runs and
// its answer is kept; the same key with the same method, URI and body from
// the same caller replays that answer — status, body, Location, ETag — and
// writes nothing; the same key with another request is 422; a retry while
// the first is still running is 409. 5xx and 429 answers are not kept, so
// the request may be retried with its key. Keys are per caller (its project,
// user and client) and expire after opts.TTL.
//
// Mount it after authentication, on write routes only.
func Idempotency(st IdempotencyStore, opts IdempotencyOptions) echo.MiddlewareFunc {
	if opts.TTL <= 0 {
		opts.TTL = DefaultIdempotencyTTL
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultIdempotencyLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var (
		purgeMu  sync.Mutex
		purgedAt time.Time
	)
	purge := func(ctx context.Context, now time.Time) {
		purgeMu.Lock()
		due := now.Sub(purgedAt) > idempotencyPurgeEvery
		if due {
			purgedAt = now
		}
		purgeMu.Unlock()
		if due {
			_ = st.PurgeIdempotencyKeys(ctx, now)
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := c.Request().Header.Get(IdempotencyHeader)
			if key == "" {
				return next(c)
			}
			if len(key) > maxIdempotencyKey || !printable(key) {
				return resources.Invalid(IdempotencyHeader, "%s must be 1 to %d printable ASCII characters", IdempotencyHeader, maxIdempotencyKey)
			}
			req := c.Request()
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return bodyError(err)
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			ctx := req.Context()
			now := opts.Now()
			purge(ctx, now)
			rec := &resources.IdempotencyRecord{
				Key:         digest(callerScope(ctx), key),
				RequestHash: digest(req.Method, req.URL.RequestURI(), req.Header.Get("If-None-Exist"), string(body)),
				Owner:       uuid.NewString(),
				CreatedAt:   now,
				ExpiresAt:   now.Add(opts.Lease),
			}
			held, err := st.ClaimIdempotencyKey(ctx, rec, now)
			if err != nil {
				return err
			}
			if held != nil {
				return replay(c, held, rec.RequestHash)
			}
			// From here the key is ours: whatever happens, it is completed
			// or released, even if the client goes away.
			bg := context.WithoutCancel(ctx)
			released := false
			release := func() {
				if !released {
					released = true
					_ = st.ReleaseIdempotencyKey(bg, rec.Key, rec.Owner)
				}
			}
			defer func() {
				if p := recover(); p != nil {
					release()
					panic(p)
				}
			}()
			w := &recorder{ResponseWriter: c.Response().Writer}
			c.Response().Writer = w
			if err := next(c); err != nil {
				// Render the error now, so that answer is the one kept.
				c.Error(err)
			}
			c.Response().Writer = w.ResponseWriter
			res := c.Response()
			if !res.Committed || res.Status >= 500 || res.Status == http.StatusTooManyRequests {
				release()
				return nil
			}
			keep := http.Header{}
			for _, h := range replayedHeaders {
				if v := res.Header().Values(h); len(v) > 0 {
					keep[h] = v
				}
			}
			if err := st.CompleteIdempotencyKey(bg, rec.Key, rec.Owner, res.Status, keep, w.buf.Bytes(), rec.CreatedAt.Add(opts.TTL)); err != nil {
				// The answer went out; without a record a retry runs again.
				release()
			}
			return nil
		}
	}
}

// replay answers a request whose key is already held.
func replay(c echo.Context, held *resources.IdempotencyRecord, requestHash string) error {
	switch {
	case held.RequestHash != requestHash:
		return &resources.Error{Kind: resources.KindBusiness, Code: "business-rule",
			Message: "This Idempotency-Key was already used for a different request: use a new key for a new request",
			Issues: []resources.Issue{{Code: "business-rule", Expression: IdempotencyHeader,
				Message: "This Idempotency-Key was already used for a different request: use a new key for a new request"}}}
	case held.Status == 0:
		return &resources.Error{Kind: resources.KindConflict, Code: "conflict",
			Message: "A request with this Idempotency-Key is still in progress: retry later",
			Issues: []resources.Issue{{Code: "conflict", Expression: IdempotencyHeader,
				Message: "A request with this Idempotency-Key is still in progress: retry later"}}}
	}
	h := c.Response().Header()
	for k, v := range held.Header {
		h[k] = v
	}
	h.Set(ReplayedHeader, "true")
	c.Response().WriteHeader(held.Status)
	_, err := c.Response().Write(held.Body)
	return err
}

// callerScope names who a key belongs to: keys of different callers never
// meet. Anonymous callers (a public registration) share one scope.
func callerScope(ctx context.Context) string {
	cl := resources.CallerFrom(ctx)
	if cl == nil {
		return "anonymous"
	}
	return fmt.Sprintf("%s|%s|%s|%t", cl.Project, cl.UserID, cl.ClientID, cl.System)
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		_, _ = fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bodyError is ReadBody's answer to a body that could not be read.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
		return &resources.Error{Kind: resources.KindTooLarge, Code: "too-costly", Message: "Request body too large"}
	}
	return resources.Invalid("", "Could not read the request body")
}

// recorder copies what a handler writes, to keep it for replays.
type recorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
