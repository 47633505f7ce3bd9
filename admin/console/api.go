package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// apiClient calls Roster's public HTTP API in-process: each call is a
// request through the same handler, middleware and error path as one from
// outside, carrying the browser's address (for the audit trail and the
// throttles) and request id.
type apiClient struct{ h http.Handler }

// answer is one API answer.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// call is one API request: method and path (from the root, with its
// query), a bearer token ("" for none), and a body — JSON from any value,
// or form-encoded from url.Values.
type call struct {
	method, path, token string
	body                any
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// do sends c on behalf of the browser's request ec: its address,
// forwarding headers, user agent and request id go along.
func (a *apiClient) do(ec echo.Context, c call) (*answer, error) {
	from := ec.Request()
	var body io.Reader
	ctype := ""
	switch b := c.body.(type) {
	case nil:
	case url.Values:
		body, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(from.Context(), c.method, "http://roster.internal"+c.path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.RemoteAddr, req.Host = from.RemoteAddr, from.Host
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "User-Agent"} {
		if v := from.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if id := ec.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		req.Header.Set(echo.HeaderXRequestID, id)
	}
	rec := &recorder{header: http.Header{}}
	a.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &answer{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}, nil
}

// ok reports a 2xx answer.
func (a *answer) ok() bool { return a.Status >= 200 && a.Status < 300 }

// decode reads a JSON answer into v.
func (a *answer) decode(v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return fmt.Errorf("console: an API answer (%d) is not the JSON expected: %w", a.Status, err)
	}
	return nil
}

// kinds are the error kinds of the API's statuses.
var kinds = map[int]resources.Kind{
	400: resources.KindInvalid, 401: resources.KindUnauthorized, 403: resources.KindForbidden, 404: resources.KindNotFound,
	405: resources.KindMethodNotAllowed, 409: resources.KindConflict, 410: resources.KindGone, 412: resources.KindPrecondition,
	413: resources.KindTooLarge, 415: resources.KindUnsupportedMedia, 422: resources.KindBusiness, 429: resources.KindTooMany,
	503: resources.KindUnavailable,
}

// refusal is an error answer (an OperationOutcome, or an OAuth error) as
// the console's own typed error, of the same kind and with the same
// issues, so a page can show each beside its field. A 5xx says nothing of
// the API's internals.
func (a *answer) refusal() *resources.Error {
	var body struct {
		Issue []struct {
			Code    string `json:"code"`
			Details struct {
				Text string `json:"text"`
			} `json:"details"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(a.Body, &body)
	kind, ok := kinds[a.Status]
	if !ok {
		return &resources.Error{Kind: resources.KindUnavailable, Code: "transient", Message: "Roster could not do this just now. Try again."}
	}
	e := &resources.Error{Kind: kind, Code: "invalid"}
	var messages []string
	for _, is := range body.Issue {
		text := is.Details.Text
		if text == "" {
			text = is.Diagnostics
		}
		if text == "" {
			continue
		}
		messages = append(messages, text)
		if len(is.Expression) == 0 {
			e.Issues = append(e.Issues, resources.Issue{Code: is.Code, Message: text})
		}
		for _, x := range is.Expression {
			e.Issues = append(e.Issues, resources.Issue{Code: is.Code, Expression: x, Message: text})
		}
	}
	switch {
	case len(messages) > 0:
		e.Message = strings.Join(messages, "; ")
	case body.ErrorDescription != "":
		e.Message = body.ErrorDescription
	default:
		e.Message = http.StatusText(a.Status)
	}
	if kind == resources.KindTooMany {
		e.RetryAfter, _ = strconv.Atoi(a.Header.Get("Retry-After"))
	}
	return e
}

// fieldErrors are an error's issues by the element they name.
func fieldErrors(err error) map[string]string {
	out := map[string]string{}
	if e, ok := resources.AsError(err); ok {
		for _, is := range e.Issues {
			if _, seen := out[is.Expression]; !seen && is.Expression != "" {
				out[is.Expression] = is.Message
			}
		}
	}
	return out
}
