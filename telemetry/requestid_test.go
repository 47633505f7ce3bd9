package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/telemetry"
)

// generatedID is what a request id Roster made looks like: 128 random bits
// in base32.
var generatedID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

var _ = Describe("Request ids", func() {
	var (
		srv  *fixtures.Server
		logs *fixtures.LogBuffer
	)
	BeforeEach(func() {
		logs = &fixtures.LogBuffer{}
		srv = fixtures.Start(GinkgoT(), fixtures.Options{Log: logs})
		DeferCleanup(srv.Close)
	})

	// requestLine is the text log line of the request with id.
	requestLine := func(id string) string {
		GinkgoHelper()
		var found string
		Eventually(func() string {
			field := regexp.MustCompile(`(^| )request_id=` + regexp.QuoteMeta(id) + `( |$)`)
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, " msg=request ") && field.MatchString(l) {
					found = l
				}
			}
			return found
		}).ShouldNot(BeEmpty(), "no request line with request_id=%s in:\n%s", id, logs.String())
		return found
	}

	DescribeTable("X-Request-Id",
		func(sent *string, kept bool) {
			var headers []string
			if sent != nil {
				headers = []string{"X-Request-Id", *sent}
			}
			r := do(srv, "GET", "fhir/R4/Patient", srv.AdminToken, nil, headers...)
			Expect(r.Status).To(Equal(http.StatusOK))
			got := r.Header.Values("X-Request-Id")
			Expect(got).To(HaveLen(1))
			if kept {
				Expect(got[0]).To(Equal(*sent))
			} else {
				Expect(got[0]).To(MatchRegexp(generatedID.String()))
			}
			line := requestLine(got[0])
			Expect(line).To(ContainSubstring("path=/fhir/R4/Patient"))
			if sent != nil && !kept {
				Expect(logs.String()).NotTo(ContainSubstring(*sent), "a refused id is neither echoed nor logged")
			}
		},
		Entry("a short token is kept", ptr("trace-abc-123"), true),
		Entry("a UUID is kept", ptr("550e8400-e29b-41d4-a716-446655440000"), true),
		Entry("dots, underscores and colons are kept", ptr("edge.proxy_7:0001"), true),
		Entry("128 characters are kept", ptr(strings.Repeat("a", 128)), true),
		Entry("129 characters are replaced", ptr(strings.Repeat("a", 129)), false),
		Entry("a 2 kB id is replaced", ptr(strings.Repeat("0123456789abcdef", 128)), false),
		Entry("a header smuggled in after a space is replaced", ptr("abc Set-Cookie: injected=1"), false),
		Entry("a quote or angle bracket is replaced", ptr(`id"<script>`), false),
		Entry("non-ASCII is replaced", ptr("idé"), false),
		Entry("an absent id is generated", nil, false),
	)

	It("replaces an id folded onto a second header line", func() {
		host := strings.TrimSuffix(strings.TrimPrefix(srv.URL, "http://"), "/")
		conn, err := net.Dial("tcp", host)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		// obs-fold: Go's server joins the two lines into "abc Set-Cookie: injected=1".
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Request-Id: abc\r\n Set-Cookie: injected=1\r\nConnection: close\r\n\r\n", host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		Expect(err).NotTo(HaveOccurred())
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(resp.Header.Get("X-Request-Id")).To(MatchRegexp(generatedID.String()))
		Expect(resp.Header.Values("Set-Cookie")).To(BeEmpty())
		requestLine(resp.Header.Get("X-Request-Id"))
		Expect(logs.String()).NotTo(ContainSubstring("injected"))
	})

	It("gives every request its own id", func() {
		a := do(srv, "GET", "healthz", "", nil).Header.Get("X-Request-Id")
		b := do(srv, "GET", "healthz", "", nil).Header.Get("X-Request-Id")
		Expect(a).To(MatchRegexp(generatedID.String()))
		Expect(b).To(MatchRegexp(generatedID.String()))
		Expect(a).NotTo(Equal(b))
	})

	It("returns the id on error answers and puts it on every log line of the request", func() {
		// The database going away makes the request fail with a 500, which
		// logs the error on a line of its own before the request's line.
		Expect(srv.App.Store.Close()).To(Succeed())
		r := do(srv, "GET", "fhir/R4/Patient", srv.AdminToken, nil, "X-Request-Id", "broken-db-42")
		Expect(r.Status).To(Equal(http.StatusInternalServerError))
		Expect(r.Header.Get("X-Request-Id")).To(Equal("broken-db-42"))
		requestLine("broken-db-42")
		var lines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "broken-db-42") {
				lines = append(lines, l)
			}
		}
		Expect(lines).To(ContainElement(ContainSubstring("msg=\"internal error\"")))
		Expect(lines).To(ContainElement(ContainSubstring("msg=request")))
		for _, l := range lines {
			Expect(strings.Count(l, "request_id=")).To(Equal(1), l)
		}
	})
})

var _ = Describe("Log format", func() {
	It("writes JSON lines, each request's carrying its id, when ROSTER_LOG_FORMAT is json", func() {
		var out fixtures.LogBuffer
		cfg := freshConfig()
		a, err := app.New(context.Background(), cfg, telemetry.NewLogger(&out, "json"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(a.Close)
		ts := httptest.NewServer(a.Echo)
		DeferCleanup(ts.Close)
		req, _ := http.NewRequest("GET", ts.URL+"/healthz", nil)
		req.Header.Set("X-Request-Id", "json-line-1")
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()

		Eventually(func() []map[string]any {
			var lines []map[string]any
			for _, raw := range bytes.Split([]byte(out.String()), []byte("\n")) {
				var l map[string]any
				if json.Unmarshal(raw, &l) == nil && l["msg"] == "request" {
					lines = append(lines, l)
				}
			}
			return lines
		}).Should(ContainElement(And(HaveKeyWithValue("request_id", "json-line-1"), HaveKeyWithValue("path", "/healthz"))))
	})

	It("writes key=value text otherwise", func() {
		var out bytes.Buffer
		telemetry.NewLogger(&out, "").InfoContext(telemetry.WithRequestID(context.Background(), "text-1"), "hello")
		Expect(out.String()).To(MatchRegexp(`^time=\S+ level=INFO msg=hello request_id=text-1\n$`))
	})
})

func ptr[T any](v T) *T { return &v }
