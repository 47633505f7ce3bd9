package resources

import (
	"net/http"
	"time"
)

// IdempotencyRecord is a stored Idempotency-Key: in flight while Status is
// 0, then the answer to replay.
type IdempotencyRecord struct {
	Key         string // hash of the caller and the client's key
	RequestHash string // hash of the method, URI and body of the first request
	Owner       string // the request holding the key in flight
	Status      int
	Header      http.Header
	Body        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}
