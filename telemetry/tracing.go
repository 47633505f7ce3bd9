package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing sends OpenTelemetry spans — one per HTTP request, one per
// database statement inside a traced request — to an OTLP/HTTP endpoint in
// batches. Roster builds it only when an endpoint is configured: without
// one, no middleware or hook is installed at all.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	database string // db.system.name of the statements' spans
}

// NewTracing exports to endpoint, the full URL of an OTLP/HTTP traces
// receiver (e.g. http://collector:4318/v1/traces); the exporter reads its
// other settings (OTEL_EXPORTER_OTLP_HEADERS, timeouts, …) and the SDK its
// sampler (OTEL_TRACES_SAMPLER) from the environment. database names the
// statements' database system ("postgresql", "sqlite").
func NewTracing(ctx context.Context, endpoint, database string) (*Tracing, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, err
	}
	// service.name is roster unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES say otherwise.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", "roster")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{provider: tp, tracer: tp.Tracer("github.com/rosterhq/roster"), database: database}, nil
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// Flush sends the spans buffered so far.
func (t *Tracing) Flush(ctx context.Context) error { return t.provider.ForceFlush(ctx) }

// Middleware gives each request a server span named after its method and
// route template, continuing the caller's trace when it sends a W3C
// traceparent; the span carries the request id and the status, and is
// marked an error on a 5xx.
func (t *Tracing) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		route, method := routeOf(c), methodLabel(req.Method)
		ctx, span := t.tracer.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
				attribute.String("roster.request_id", RequestID(ctx))))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return nil
	}
}

// Statement is the store's statement hook: a client span per statement
// run inside a traced request (statements of background work — the mail
// sender's polls — would only be noise as traces of their own).
func (t *Tracing) Statement(ctx context.Context, query string) (context.Context, func(error)) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, func(error) {}
	}
	ctx, span := t.tracer.Start(ctx, operation(query), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", t.database), attribute.String("db.query.text", clip(query, 2048))))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "statement failed")
		}
		span.End()
	}
}

// operation is a statement's first keyword (SELECT, INSERT, WITH, …).
func operation(query string) string {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "statement"
	}
	return strings.ToUpper(clip(f[0], 16))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// traceID is the id of the trace ctx's span belongs to ("" when none).
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
