package telemetry_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// otlpReceiver is an OTLP/HTTP traces endpoint in the test process: it
// decodes each export (protobuf) as a collector would and keeps its spans.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service string
}

func startReceiver() *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var export collector.ExportTraceServiceRequest
		if err != nil || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" ||
			proto.Unmarshal(body, &export) != nil {
			http.Error(w, "not an OTLP/HTTP protobuf traces export", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					r.service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				r.spans = append(r.spans, ss.GetSpans()...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	DeferCleanup(r.Close)
	return r
}

func (r *otlpReceiver) received() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

// attr is a span's attribute key as a string ("" when absent).
func attr(s *tracepb.Span, key string) string {
	for _, a := range s.GetAttributes() {
		if a.GetKey() == key {
			switch v := a.GetValue().GetValue().(type) {
			case *common.AnyValue_StringValue:
				return v.StringValue
			case *common.AnyValue_IntValue:
				return strconv.FormatInt(v.IntValue, 10)
			}
		}
	}
	return ""
}

var _ = Describe("Tracing", func() {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)

	It("is off without an OTLP endpoint: nothing is installed", func() {
		srv := fixtures.Start(GinkgoT(), fixtures.Options{})
		DeferCleanup(srv.Close)
		Expect(srv.App.Config.TracesEndpoint).To(BeEmpty())
		Expect(srv.App.Tracing).To(BeNil())
	})

	When("an OTLP endpoint is set", func() {
		var (
			srv  *fixtures.Server
			recv *otlpReceiver
			logs *fixtures.LogBuffer
		)
		BeforeEach(func() {
			recv = startReceiver()
			logs = &fixtures.LogBuffer{}
			srv = fixtures.Start(GinkgoT(), fixtures.Options{Log: logs, Configure: func(c *app.Config) {
				c.TracesEndpoint = recv.URL + "/v1/traces"
			}})
			DeferCleanup(srv.Close)
		})

		flush := func() {
			GinkgoHelper()
			Expect(srv.App.Tracing.Flush(context.Background())).To(Succeed())
		}

		It("sends a server span per request, continuing the caller's trace, with a span per database statement under it", func() {
			created := do(srv, "POST", "fhir/R4/Patient", srv.AdminToken, map[string]any{"resourceType": "Patient"})
			Expect(created.Status).To(Equal(http.StatusCreated))
			id := created.JSON()["id"].(string)
			flush()
			before := len(recv.received())

			r := do(srv, "GET", "fhir/R4/Patient/"+id, srv.AdminToken, nil,
				"traceparent", "00-"+traceID+"-"+parent+"-01", "X-Request-Id", "traced-1")
			Expect(r.Status).To(Equal(http.StatusOK))
			flush()

			spans := recv.received()[before:]
			var server *tracepb.Span
			for _, s := range spans {
				if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
					server = s
				}
			}
			Expect(server).NotTo(BeNil(), "no server span among %d", len(spans))
			Expect(server.GetName()).To(Equal("GET /fhir/R4/:type/:id"))
			Expect(hex.EncodeToString(server.GetTraceId())).To(Equal(traceID))
			Expect(hex.EncodeToString(server.GetParentSpanId())).To(Equal(parent))
			Expect(attr(server, "http.route")).To(Equal("/fhir/R4/:type/:id"))
			Expect(attr(server, "http.request.method")).To(Equal("GET"))
			Expect(attr(server, "http.response.status_code")).To(Equal("200"))
			Expect(attr(server, "roster.request_id")).To(Equal("traced-1"))
			Expect(recv.service).To(Equal("roster"))

			By("statements as client spans under the request's")
			var statements []*tracepb.Span
			for _, s := range spans {
				if s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
					Expect(s.GetTraceId()).To(Equal(server.GetTraceId()))
					Expect(s.GetParentSpanId()).To(Equal(server.GetSpanId()))
					statements = append(statements, s)
				}
			}
			Expect(statements).NotTo(BeEmpty())
			system := "sqlite"
			if srv.App.Store.Postgres() {
				system = "postgresql"
			}
			for _, s := range statements {
				Expect(attr(s, "db.system.name")).To(Equal(system))
				Expect(attr(s, "db.query.text")).To(HavePrefix(s.GetName()[:3]))
				Expect(attr(s, "db.query.text")).NotTo(ContainSubstring(id), "statements carry placeholders, not values")
			}
			Expect(len(spans)).To(Equal(len(statements)+1), "nothing but the request and its statements")

			By("the request's log line naming the trace")
			Eventually(logs.String).Should(MatchRegexp(`msg=request .*request_id=traced-1 trace_id=` + traceID))
		})

		It("starts a trace of its own for a request that brings none, and marks a 5xx an error", func() {
			Expect(srv.App.Store.Close()).To(Succeed())
			r := do(srv, "GET", "fhir/R4/Patient", srv.AdminToken, nil)
			Expect(r.Status).To(Equal(http.StatusInternalServerError))
			flush()
			var server *tracepb.Span
			for _, s := range recv.received() {
				if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && attr(s, "roster.request_id") == r.Header.Get("X-Request-Id") {
					server = s
				}
			}
			Expect(server).NotTo(BeNil())
			Expect(server.GetParentSpanId()).To(BeEmpty())
			Expect(attr(server, "http.response.status_code")).To(Equal("500"))
			Expect(server.GetStatus().GetCode()).To(Equal(tracepb.Status_STATUS_CODE_ERROR))
		})
	})
})
