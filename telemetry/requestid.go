package telemetry

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"

	"github.com/labstack/echo/v4"
)

// MaxRequestIDLength bounds a caller's X-Request-Id; a longer one is
// replaced.
const MaxRequestIDLength = 128

type requestIDKey struct{}

// RequestID is the request id carried by ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDs gives every request an id: the caller's X-Request-Id when it
// is a short token (ValidRequestID), else a new random one. The id is put
// back on the request, returned in the response's X-Request-Id, and carried
// in the request's context, whence every log line of the request takes it
// (Logger). A caller's value is never echoed unchecked: it lands in
// response headers and in logs.
func RequestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !ValidRequestID(id) {
			id = rand.Text()
			req.Header.Set(echo.HeaderXRequestID, id)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(req.WithContext(WithRequestID(req.Context(), id)))
		return next(c)
	}
}

// ValidRequestID reports whether a caller's request id may be kept: 1 to
// MaxRequestIDLength characters of A–Z, a–z, 0–9 and . _ : -, which covers
// UUIDs, trace ids and the ids proxies generate, and leaves no room for
// spaces, control characters or anything a header or log line could be
// split on.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewLogger is Roster's logger writing to w: JSON lines when format is
// "json" (ROSTER_LOG_FORMAT), else slog's key=value text. Records logged
// with a request's context carry its request id (Logger).
func NewLogger(w io.Writer, format string) *slog.Logger {
	if strings.EqualFold(strings.TrimSpace(format), "json") {
		return Logger(slog.New(slog.NewJSONHandler(w, nil)))
	}
	return Logger(slog.New(slog.NewTextHandler(w, nil)))
}

// Logger returns l adding to every record logged with a request's context
// (InfoContext, Log(ctx, …)) that request's id as request_id, and, when
// the request is traced, its trace id as trace_id.
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(requestHandler); ok {
		return l
	}
	return slog.New(requestHandler{l.Handler()})
}

// requestHandler is the slog.Handler Logger wraps around another.
type requestHandler struct{ slog.Handler }

func (h requestHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
		if tid := traceID(ctx); tid != "" {
			r.AddAttrs(slog.String("trace_id", tid))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestHandler) WithGroup(name string) slog.Handler {
	return requestHandler{h.Handler.WithGroup(name)}
}
