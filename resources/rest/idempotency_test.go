package rest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// createWithKey POSTs res to its type's endpoint with an Idempotency-Key.
func createWithKey(s *fixtures.Server, token, key string, res any, typ string) *fixtures.Response {
	GinkgoHelper()
	r, err := s.Do("POST", fhir(typ), token, res, rest.IdempotencyHeader, key)
	Expect(err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("Idempotency-Key on FHIR create", func() {
	t := freshTenant()
	var key, family string
	BeforeEach(func() {
		key = "key-" + auth.Secret()[:12]
		family = "Idem" + strings.ToLower(auth.Secret()[:8])
	})

	patients := func() []string {
		GinkgoHelper()
		return resourceIDs(search(t.Token, "Patient", "family="+family))
	}

	It("replays the first answer for the same key and body, writing once", func() {
		first := createWithKey(srv, t.Token, key, patient(family, "Ada"), "Patient")
		Expect(first.Status).To(Equal(http.StatusCreated), string(first.Body))
		Expect(first.Header.Get(rest.ReplayedHeader)).To(BeEmpty())

		again := createWithKey(srv, t.Token, key, patient(family, "Ada"), "Patient")
		Expect(again.Status).To(Equal(http.StatusCreated))
		Expect(again.Body).To(Equal(first.Body))
		for _, h := range []string{"Location", "ETag", "Last-Modified", "Content-Type"} {
			Expect(again.Header.Get(h)).To(Equal(first.Header.Get(h)), h)
		}
		Expect(again.Header.Get(rest.ReplayedHeader)).To(Equal("true"))
		Expect(patients()).To(ConsistOf(body(first)["id"]))
	})

	It("answers 422 to the same key with another body, and writes nothing", func() {
		Expect(createWithKey(srv, t.Token, key, patient(family, "Ada"), "Patient").Status).To(Equal(http.StatusCreated))
		o := outcome(createWithKey(srv, t.Token, key, patient(family, "Grace"), "Patient"), http.StatusUnprocessableEntity)
		Expect(expressions(o)).To(ContainElement("Idempotency-Key"))
		Expect(issueText(o)).To(ContainSubstring("different request"))
		outcome(createWithKey(srv, t.Token, key, person("Practitioner", family, []string{"Ada"}, nil), "Practitioner"), http.StatusUnprocessableEntity)
		Expect(patients()).To(HaveLen(1))
	})

	It("keeps keys apart per caller and creates each time without a key", func() {
		other := newTenant()
		Expect(createWithKey(srv, t.Token, key, patient(family), "Patient").Status).To(Equal(http.StatusCreated))
		r := createWithKey(srv, other.Token, key, patient(family), "Patient")
		Expect(r.Status).To(Equal(http.StatusCreated))
		Expect(r.Header.Get(rest.ReplayedHeader)).To(BeEmpty(), "another caller's key is its own")
		create(t.Token, patient(family))
		create(t.Token, patient(family))
		Expect(patients()).To(HaveLen(3))
	})

	It("replays a refusal too, and refuses a key that is too long or not printable", func() {
		bad := map[string]any{"resourceType": "Patient", "nonsense": true}
		first := createWithKey(srv, t.Token, key, bad, "Patient")
		outcome(first, http.StatusBadRequest)
		again := createWithKey(srv, t.Token, key, bad, "Patient")
		Expect(again.Body).To(Equal(first.Body))
		Expect(again.Header.Get(rest.ReplayedHeader)).To(Equal("true"))

		for _, k := range []string{strings.Repeat("k", 256), "tab\there"} {
			o := outcome(createWithKey(srv, t.Token, k, patient(family), "Patient"), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("Idempotency-Key"))
		}
		Expect(patients()).To(BeEmpty())
	})

	It("lets exactly one of concurrent requests with one key write; the others replay or hear 409", func() {
		const n = 12
		answers := fixtures.Race(n, func(int) (*fixtures.Response, error) {
			return srv.Do("POST", fhir("Patient"), t.Token, patient(family, "Concurrent"), rest.IdempotencyHeader, key)
		})
		ran, refused := fixtures.Keyed(answers, http.StatusCreated)
		Expect(ran).To(Equal(1))
		for _, r := range refused {
			Expect(r.Err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(http.StatusConflict), string(r.Body))
			Expect(issueText(body(r.Response))).To(ContainSubstring("still in progress"))
		}
		Expect(patients()).To(HaveLen(1))
	})

	It("holds across Roster processes sharing the database", func() {
		a2, err := app.New(context.Background(), srv.App.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
		Expect(err).NotTo(HaveOccurred())
		h2 := httptest.NewServer(a2.Echo)
		DeferCleanup(func() { h2.Close(); a2.Close() })
		second := &fixtures.Server{App: a2, HTTP: h2, URL: h2.URL + "/"}

		first := createWithKey(srv, t.Token, key, patient(family), "Patient")
		Expect(first.Status).To(Equal(http.StatusCreated))
		again := createWithKey(second, t.Token, key, patient(family), "Patient")
		Expect(again.Status).To(Equal(http.StatusCreated))
		Expect(again.Header.Get(rest.ReplayedHeader)).To(Equal("true"))
		Expect(again.Body).To(Equal(first.Body))
		outcome(createWithKey(second, t.Token, key, patient(family, "Other"), "Patient"), http.StatusUnprocessableEntity)
		Expect(patients()).To(HaveLen(1))
	})
})

// idemHarness serves one route through rest.Idempotency on the suite's
// database, with a clock the spec moves and a handler it controls.
type idemHarness struct {
	url   string
	now   atomic.Int64
	calls atomic.Int32
	gate  atomic.Pointer[chan struct{}] // when set, the handler waits on it: a request stuck mid-way, as in a crashed process
	fail  atomic.Bool                   // the handler answers 500
}

func newIdemHarness() *idemHarness {
	GinkgoHelper()
	h := &idemHarness{}
	h.now.Store(time.Now().UnixNano())
	e := echo.New()
	e.HTTPErrorHandler = rest.ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	mw := rest.Idempotency(srv.App.Store, rest.IdempotencyOptions{Lease: time.Minute,
		Now: func() time.Time { return time.Unix(0, h.now.Load()) }})
	caller := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := resources.WithCaller(c.Request().Context(), &resources.Caller{UserID: "harness-" + c.Request().Header.Get("X-User")})
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
	e.POST("/things", func(c echo.Context) error {
		n := h.calls.Add(1)
		if g := h.gate.Load(); g != nil {
			<-*g
		}
		if h.fail.Load() {
			return errors.New("boom")
		}
		return c.JSON(http.StatusCreated, map[string]any{"call": n})
	}, caller, mw)
	ts := httptest.NewServer(e)
	DeferCleanup(ts.Close)
	h.url = ts.URL + "/things"
	return h
}

func (h *idemHarness) advance(d time.Duration) { h.now.Add(int64(d)) }

func (h *idemHarness) status(key, body string) int {
	GinkgoHelper()
	st, _ := h.post(key, body)
	return st
}

func (h *idemHarness) post(key, body string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequest("POST", h.url, strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(rest.IdempotencyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

var _ = Describe("Idempotency-Key records", func() {
	var h *idemHarness
	var key string
	BeforeEach(func() {
		h = newIdemHarness()
		key = "key-" + auth.Secret()[:12]
	})

	It("expire after 24 hours: the key then starts a new request", func() {
		Expect(h.status(key, `{}`)).To(Equal(http.StatusCreated))
		h.advance(23 * time.Hour)
		_, b := h.post(key, `{}`)
		Expect(b).To(MatchJSON(`{"call":1}`), "replayed within 24 h")
		h.advance(2 * time.Hour)
		_, b = h.post(key, `{}`)
		Expect(b).To(MatchJSON(`{"call":2}`), "a new request after 24 h")
	})

	It("are not kept for a 5xx answer, so the request can be retried with its key", func() {
		h.fail.Store(true)
		Expect(h.status(key, `{}`)).To(Equal(http.StatusInternalServerError))
		h.fail.Store(false)
		status, b := h.post(key, `{}`)
		Expect(status).To(Equal(http.StatusCreated))
		Expect(b).To(MatchJSON(`{"call":2}`))
	})

	It("answer 409 while the first request runs, and free the key of a request that never finished once its lease ends", func() {
		gate := make(chan struct{})
		h.gate.Store(&gate)
		var once sync.Once
		release := func() { once.Do(func() { close(gate) }) }
		DeferCleanup(release) // before the server closes, which waits for the stuck request
		stuck := make(chan int, 1)
		go func() {
			defer GinkgoRecover()
			status, _ := h.post(key, `{}`)
			stuck <- status
		}()
		Eventually(h.calls.Load).Should(Equal(int32(1)))
		status, b := h.post(key, `{}`)
		Expect(status).To(Equal(http.StatusConflict), b)

		// The stuck request is, to the database, a process that died.
		h.advance(2 * time.Minute)
		h.gate.Store(nil)
		status, b = h.post(key, `{}`)
		Expect(status).To(Equal(http.StatusCreated), b)
		Expect(b).To(MatchJSON(`{"call":2}`))
		Expect(h.status(key, `{}`)).To(Equal(http.StatusCreated))
		Expect(h.calls.Load()).To(Equal(int32(2)), "the third request was a replay")
		release()
		Eventually(stuck).Should(Receive(Equal(http.StatusCreated)), "the late first request still answers")
	})
})
