package rest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin/console"
	"github.com/rosterhq/roster/admin/hospital"
	"github.com/rosterhq/roster/admin/medable"
	"github.com/rosterhq/roster/admin/medallion"
	"github.com/rosterhq/roster/admin/mediumone"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// errKind is a kind of error every surface must answer, and the typed error
// that stands for it where no request produces it on a surface.
type errKind struct {
	name   string
	err    func() error
	status int // on a surface whose vendor documents no other
}

var errKinds = []errKind{
	{"invalid", func() error { return resources.Invalid("name", "The name is bad") }, 400},
	{"unauthorized", func() error { return resources.Unauthorized("Who are you?") }, 401},
	{"forbidden", func() error { return resources.Forbidden("Not yours") }, 403},
	{"not found", func() error { return resources.NotFound("No such thing") }, 404},
	{"conflict", func() error { return resources.Conflict("Taken") }, 409},
	{"gone", func() error { return resources.Gone("Deleted") }, 410},
	{"precondition", func() error { return resources.Precondition("conflict", "Stale version") }, 412},
	{"too large", func() error { return &http.MaxBytesError{Limit: 1 << 20} }, 413},
	{"business rule", func() error { return resources.Business("Not now") }, 422},
	{"too many", func() error { return resources.TooMany(7) }, 429},
	{"unavailable", func() error { return resources.Unavailable("Down for a moment") }, 503},
	{"method not allowed", func() error { return echo.ErrMethodNotAllowed }, 405},
	{"unsupported media", func() error { return echo.ErrUnsupportedMediaType }, 415},
	{"OAuth", func() error { return auth.OAuthError("invalid_grant", "Invalid code") }, 400},
	{"untyped", func() error { return errors.New("disk on fire at /var/lib/roster") }, 500},
}

// errWorld is what the real requests of the table act on.
type errWorld struct {
	t, other    tenant
	key, reader string // Medallion API keys: an admin client's, a member client's
	practID     string // the Practitioner of t's admin
}

// surfaceCase is one error surface: where it answers, how a real request
// produces each kind it can, the statuses its vendor documents where they
// differ from the kind's, and the shape of its bodies.
type surfaceCase struct {
	name     string
	surface  *rest.Surface
	path     string
	statuses map[string]int
	real     map[string]func(w *errWorld) *fixtures.Response
	shape    func(r *fixtures.Response, k errKind, real bool)
}

// synthetic answers err on s through the server's own error handler, for a
// kind no request produces on s.
func synthetic(s *rest.Surface, method, path string, err error) *fixtures.Response {
	GinkgoHelper()
	rec := httptest.NewRecorder()
	c := srv.App.Echo.NewContext(httptest.NewRequest(method, path, nil), rec)
	rest.SetSurface(c, s)
	srv.App.Echo.HTTPErrorHandler(err, c)
	return &fixtures.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// jsonKeys decodes a JSON object body and checks it has exactly keys.
func jsonKeys(r *fixtures.Response, keys ...string) map[string]any {
	GinkgoHelper()
	m := body(r)
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	Expect(got).To(ConsistOf(keys), string(r.Body))
	return m
}

// drfFields checks a Django REST framework validation body — each field a
// list of messages, or an object of nested fields — and lists its messages.
func drfFields(m map[string]any) []string {
	GinkgoHelper()
	var out []string
	for field, v := range m {
		switch v := v.(type) {
		case map[string]any:
			out = append(out, drfFields(v)...)
		case []any:
			for _, msg := range v {
				Expect(msg).To(BeAssignableToTypeOf(""), field)
				out = append(out, msg.(string))
			}
		default:
			Fail(fmt.Sprintf("field %s is %v, neither messages nor fields", field, v))
		}
	}
	return out
}

// untilThrottled sends one attempt more than an account may fail in a
// throttle window and returns the last answer.
func untilThrottled(attempt func() *fixtures.Response) *fixtures.Response {
	GinkgoHelper()
	var r *fixtures.Response
	for range auth.DefaultLimits.PerAccount + 1 {
		r = attempt()
	}
	return r
}

// form posts a form-encoded body.
func form(path string, v url.Values) *fixtures.Response {
	GinkgoHelper()
	return call("POST", path, "", v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// pageLink is a fresh set-password link of a user of a tenant of its own.
func pageLink() (id, secret string) {
	GinkgoHelper()
	u := newTenant()
	me := body(call("GET", "auth/me", u.Token, nil))
	userID := me["user"].(map[string]any)["id"].(string)
	id, secret, err := srv.App.Auth.CreateLink(context.Background(), auth.LinkSetPassword, userID, "", time.Hour, "")
	Expect(err).NotTo(HaveOccurred())
	return id, secret
}

var oauthCodeOf = map[string]string{
	"unauthorized": "invalid_client", "forbidden": "unauthorized_client", "too many": "slow_down",
	"unavailable": "temporarily_unavailable", "OAuth": "invalid_grant", "untyped": "server_error",
}

var faultOf = map[string]string{
	"invalid": "cortex.invalidArgument.unspecified", "unauthorized": "cortex.accessDenied.notLoggedIn",
	"forbidden": "cortex.accessDenied.unspecified", "not found": "cortex.notFound.unspecified",
	"conflict": "cortex.conflict.unspecified", "gone": "cortex.expired.unspecified",
	"precondition": "cortex.conflict.unspecified", "too large": "cortex.tooLarge.unspecified",
	"business rule": "cortex.invalidArgument.unspecified", "too many": "cortex.throttled.unspecified",
	"unavailable": "cortex.tooBusy.unspecified", "method not allowed": "cortex.error.unspecified",
	"unsupported media": "cortex.invalidArgument.invalidJSON",
	"OAuth":             "cortex.invalidArgument.unspecified", "untyped": "cortex.error.unspecified",
}

func surfaceCases() []surfaceCase {
	medableBase := func(w *errWorld) string { return "medable/" + w.t.Project + "/v2/" }
	return []surfaceCase{{
		name: "OperationOutcome (FHIR, /auth, /admin)", surface: rest.Outcomes, path: "/fhir/R4/Patient",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(w *errWorld) *fixtures.Response {
				return call("POST", fhir("Patient"), w.t.Token, `{"resourceType":`)
			},
			"unauthorized": func(*errWorld) *fixtures.Response { return call("GET", fhir("Patient"), "", nil) },
			"forbidden": func(w *errWorld) *fixtures.Response {
				return call("POST", "admin/projects", w.t.Token, map[string]string{"name": "Not mine to make"})
			},
			"not found": func(w *errWorld) *fixtures.Response { return call("GET", fhir("Patient/no-such-id"), w.t.Token, nil) },
			"conflict": func(w *errWorld) *fixtures.Response {
				return call("POST", fhir("User"), w.t.Token, map[string]any{"resourceType": "User", "email": strings.ToUpper(w.t.Email)})
			},
			"gone": func(w *errWorld) *fixtures.Response {
				p := create(w.t.Token, patient("Gone"))
				Expect(call("DELETE", fhir("Patient/"+p["id"].(string)), w.t.Token, nil).Status).To(Equal(200))
				return call("GET", fhir("Patient/"+p["id"].(string)), w.t.Token, nil)
			},
			"precondition": func(w *errWorld) *fixtures.Response {
				p := create(w.t.Token, patient("Stale"))
				return call("PUT", fhir("Patient/"+p["id"].(string)), w.t.Token, p, "If-Match", `W/"99"`)
			},
			"too large": func(w *errWorld) *fixtures.Response {
				return call("POST", fhir("Patient"), w.t.Token, `{"resourceType":"Patient","id":"`+strings.Repeat("x", 5<<20)+`"}`)
			},
			"method not allowed": func(*errWorld) *fixtures.Response { return call("PUT", "healthz", "", nil) },
			"unsupported media": func(w *errWorld) *fixtures.Response {
				return call("POST", fhir("Patient"), w.t.Token, `{"resourceType":"Patient"}`, "Content-Type", "text/plain")
			},
			"too many": func(*errWorld) *fixtures.Response {
				email := newTenant().Email
				return untilThrottled(func() *fixtures.Response {
					return call("POST", "auth/login", "", map[string]any{"email": email, "password": "not-the-password",
						"codeChallenge": "c", "codeChallengeMethod": "plain"})
				})
			},
		},
		shape: func(r *fixtures.Response, k errKind, _ bool) {
			o := outcome(r, r.Status)
			is := o["issue"].([]any)[0].(map[string]any)
			Expect(is).To(HaveKeyWithValue("severity", "error"))
			Expect(is["code"]).NotTo(BeEmpty())
			if k.name == "untyped" {
				Expect(is).To(HaveKeyWithValue("code", "exception"))
				Expect(issueText(o)).To(Equal("Internal server error"))
			}
		},
	}, {
		name: "OAuth (POST /oauth2/token)", surface: auth.OAuthErrors, path: "/oauth2/token",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(*errWorld) *fixtures.Response { return form("oauth2/token", url.Values{}) },
			"unauthorized": func(*errWorld) *fixtures.Response {
				r := call("POST", "oauth2/token", "", "grant_type=client_credentials", "Content-Type", "application/x-www-form-urlencoded",
					"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("no-such-client:wrong")))
				Expect(r.Header.Get("WWW-Authenticate")).To(Equal(auth.BasicChallenge), "RFC 6749 §5.2: HTTP Basic failed")
				return r
			},
			"unsupported media": func(*errWorld) *fixtures.Response {
				return call("POST", "oauth2/token", "", `{"grant_type":"client_credentials"}`, "Content-Type", "application/json")
			},
			"OAuth": func(*errWorld) *fixtures.Response {
				return form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}})
			},
			"too many": func(*errWorld) *fixtures.Response {
				client := "throttled-" + fixtures.Uniq()
				return untilThrottled(func() *fixtures.Response {
					return form("oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"wrong"}})
				})
			},
		},
		shape: func(r *fixtures.Response, k errKind, _ bool) {
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"))
			m := jsonKeys(r, "error", "error_description")
			want := oauthCodeOf[k.name]
			if want == "" {
				want = "invalid_request"
			}
			Expect(m).To(HaveKeyWithValue("error", want))
		},
	}, {
		name: "HTML page (/setpassword/{id}/{secret})", surface: auth.PageErrors, path: "/setpassword/x/y",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"not found": func(*errWorld) *fixtures.Response { return call("GET", "setpassword/no-such/link", "", nil) },
			"invalid": func(*errWorld) *fixtures.Response {
				id, secret := pageLink()
				return form("setpassword/"+id+"/"+secret, url.Values{"password": {"short"}})
			},
			"gone": func(*errWorld) *fixtures.Response {
				id, secret := pageLink()
				Expect(form("setpassword/"+id+"/"+secret, url.Values{"password": {"a-long-and-unguessable-pass-9"}}).Status).To(Equal(200))
				return call("GET", "setpassword/"+id+"/"+secret, "", nil)
			},
		},
		shape: func(r *fixtures.Response, k errKind, real bool) {
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("text/html"))
			Expect(r.Header.Get("Content-Security-Policy")).To(Equal(auth.PageCSP))
			state := map[string]string{"too many": "throttled"}[k.name]
			if real {
				state = map[string]string{"not found": "invalid", "invalid": "form", "gone": "used"}[k.name]
			}
			if state == "" {
				state = "error"
			}
			Expect(string(r.Body)).To(ContainSubstring(`<main data-state="` + state + `">`))
			if k.name == "untyped" {
				Expect(string(r.Body)).To(ContainSubstring("Something went wrong"))
			}
		},
	}, {
		name: "Sign-in page (/oauth2/authorize)", surface: auth.SignInErrors, path: "/oauth2/authorize",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(*errWorld) *fixtures.Response {
				return call("GET", "oauth2/authorize?response_type=code&client_id=no-such-client", "", nil)
			},
			"forbidden": func(*errWorld) *fixtures.Response {
				return form("oauth2/authorize", url.Values{"step": {"signin"}, "csrf": {"not-the-cookie's"}})
			},
		},
		shape: func(r *fixtures.Response, k errKind, _ bool) {
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("text/html"))
			Expect(r.Header.Get("Content-Security-Policy")).To(Equal(auth.PageCSP))
			Expect(r.Header.Get("Location")).To(BeEmpty(), "an error is a page, never a redirect")
			Expect(string(r.Body)).To(ContainSubstring(`<main data-state="error">`))
			Expect(string(r.Body)).NotTo(ContainSubstring("<form"))
			if k.name == "untyped" {
				Expect(string(r.Body)).To(ContainSubstring("Something went wrong"))
			}
		},
	}, {
		name: "Admin console (/console/)", surface: console.Errors, path: "/console/projects/x/members",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"unauthorized": func(*errWorld) *fixtures.Response { return form("console/signout", url.Values{}) },
			"not found":    func(*errWorld) *fixtures.Response { return call("GET", "console/assets/nothing.js", "", nil) },
		},
		shape: func(r *fixtures.Response, k errKind, _ bool) {
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("text/html"))
			Expect(r.Header.Get("Content-Security-Policy")).To(Equal(console.CSP))
			Expect(r.Header.Get("Location")).To(BeEmpty(), "an error is a page, never a redirect")
			Expect(string(r.Body)).To(ContainSubstring(`<p id="error" role="alert" aria-live="assertive" class="status error">`))
			if k.name == "untyped" {
				Expect(string(r.Body)).To(ContainSubstring("Something went wrong"))
			}
		},
	}, {
		name: "Medallion", surface: medallion.Errors, path: "/p/api/v1/organizations/members/",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(w *errWorld) *fixtures.Response {
				return call("POST", "p/api/v1/organizations/members/", "", map[string]any{}, "x-api-key", w.key)
			},
			"unauthorized": func(*errWorld) *fixtures.Response { return call("GET", "p/api/v1/organizations/members/", "", nil) },
			"unsupported media": func(w *errWorld) *fixtures.Response {
				return call("POST", "p/api/v1/organizations/members/", "", "role=admin", "x-api-key", w.key, "Content-Type", "application/x-www-form-urlencoded")
			},
			"forbidden": func(w *errWorld) *fixtures.Response {
				return call("GET", "p/api/v1/organizations/members/", "", nil, "x-api-key", w.reader)
			},
			"not found": func(w *errWorld) *fixtures.Response {
				return call("GET", "p/api/v1/organizations/members/no-such-id/", "", nil, "x-api-key", w.key)
			},
		},
		shape: func(r *fixtures.Response, k errKind, real bool) {
			if k.name == "invalid" {
				m := body(r)
				Expect(m).NotTo(HaveKey("detail"), "a validation error names its fields")
				Expect(drfFields(m)).NotTo(BeEmpty())
				return
			}
			m := jsonKeys(r, "detail")
			switch {
			case r.Status == 404:
				Expect(m).To(HaveKeyWithValue("detail", "Not found."))
			case r.Status >= 500:
				Expect(m).To(HaveKeyWithValue("detail", "A server error occurred."))
			}
		},
	}, {
		name: "Medium One", surface: mediumone.Errors, path: "/mediumone/whoami",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid":      func(w *errWorld) *fixtures.Response { return call("GET", "mediumone/user_create", w.t.Token, nil) },
			"unauthorized": func(*errWorld) *fixtures.Response { return call("GET", "mediumone/whoami", "", nil) },
			"forbidden": func(w *errWorld) *fixtures.Response {
				return call("GET", "mediumone/user_list_in_tenant?tenant_id="+w.other.Project, w.t.Token, nil)
			},
			"not found": func(w *errWorld) *fixtures.Response { return call("GET", "mediumone/no-such-endpoint", w.t.Token, nil) },
		},
		shape: func(r *fixtures.Response, _ errKind, _ bool) {
			m := jsonKeys(r, "error")
			Expect(m["error"]).To(BeAssignableToTypeOf(""))
			if r.Status >= 500 {
				Expect(m).To(HaveKeyWithValue("error", "Internal server error"))
			}
		},
	}, {
		name: "Medable", surface: medable.Errors, path: "/medable/some-org/v2/accounts/me",
		statuses: map[string]int{"unauthorized": 403, "precondition": 409, "business rule": 400, "unavailable": 429,
			"method not allowed": 500, "unsupported media": 400},
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(w *errWorld) *fixtures.Response {
				return call("POST", medableBase(w)+"accounts/register", "", map[string]any{})
			},
			"unsupported media": func(w *errWorld) *fixtures.Response {
				return call("POST", medableBase(w)+"accounts/register", "", "{}", "Content-Type", "text/plain")
			},
			"forbidden": func(w *errWorld) *fixtures.Response {
				return call("GET", medableBase(w)+"accounts/me", w.other.Token, nil)
			},
			"not found": func(w *errWorld) *fixtures.Response {
				return call("GET", medableBase(w)+"nothing-here", w.t.Token, nil)
			},
			"conflict": func(w *errWorld) *fixtures.Response {
				return call("POST", medableBase(w)+"accounts/register", "", map[string]any{
					"name": map[string]any{"first": "Jane", "last": "Doe"}, "email": w.t.Email, "password": "a-good-long-password",
					"mobile": "+15555550100", "dob": "1990-04-02", "gender": "f", "tz": "US/Pacific"})
			},
		},
		shape: func(r *fixtures.Response, k errKind, real bool) {
			Expect(r.Header.Get("Content-Type")).To(Equal("application/json; charset=UTF-8"))
			f := body(r)
			Expect(f).To(HaveKeyWithValue("object", "fault"))
			Expect(f["status"]).To(BeEquivalentTo(r.Status), "the fault's status is the answer's")
			Expect(f["code"]).To(HavePrefix("k"))
			Expect(f["errCode"]).To(HavePrefix("cortex."))
			Expect(f["message"]).NotTo(BeEmpty())
			if !real {
				Expect(f).To(HaveKeyWithValue("errCode", faultOf[k.name]))
			}
			if r.Status >= 500 {
				Expect(f).NotTo(HaveKey("reason"))
			}
		},
	}, {
		name: "hospital", surface: hospital.Errors, path: "/api/v2/management/memberships",
		real: map[string]func(w *errWorld) *fixtures.Response{
			"invalid": func(w *errWorld) *fixtures.Response {
				return call("POST", "api/v2/management/memberships", "", map[string]any{}, "Authorization", "Token "+w.t.Token)
			},
			"unauthorized": func(*errWorld) *fixtures.Response { return call("GET", "api/v2/management/memberships", "", nil) },
			"unsupported media": func(w *errWorld) *fixtures.Response {
				return call("POST", "api/v2/management/memberships", "", "{}", "Authorization", "Token "+w.t.Token, "Content-Type", "text/plain")
			},
			"not found": func(w *errWorld) *fixtures.Response {
				return call("GET", "api/v2/management/memberships/no-such-id", "", nil, "Authorization", "Token "+w.t.Token)
			},
			"conflict": func(w *errWorld) *fixtures.Response {
				return call("POST", "api/v2/management/memberships", "", map[string]any{"medic": w.practID, "hospital": w.t.Project,
					"type_membership": "MEMBER"}, "Authorization", "Token "+w.t.Token)
			},
		},
		shape: func(r *fixtures.Response, _ errKind, _ bool) {
			m := jsonKeys(r, "message")
			switch {
			case r.Status == 404:
				Expect(m).To(HaveKeyWithValue("message", hospital.MsgNotFound))
			case r.Status >= 500:
				Expect(m).To(HaveKeyWithValue("message", "Internal server error"))
			}
		},
	}}
}

var _ = Describe("The one error path", Ordered, func() {
	cases := surfaceCases()
	w := &errWorld{}

	BeforeAll(func() {
		w.t, w.other = newTenant(), newTenant()
		for _, admin := range []bool{true, false} {
			r := call("POST", "admin/projects/"+w.t.Project+"/client", srv.AdminToken, map[string]any{"name": "key", "admin": admin})
			Expect(r.Status).To(Equal(201), string(r.Body))
			if admin {
				w.key = body(r)["secret"].(string)
			} else {
				w.reader = body(r)["secret"].(string)
			}
		}
		w.practID = body(call("GET", "auth/me", w.t.Token, nil))["profile"].(map[string]any)["id"].(string)
	})

	var table []TableEntry
	for i, sc := range cases {
		for _, k := range errKinds {
			status := k.status
			if st, ok := sc.statuses[k.name]; ok {
				status = st
			}
			how := "the renderer through the error handler"
			if sc.real[k.name] != nil {
				how = "a real request"
			}
			table = append(table, Entry(fmt.Sprintf("%s: %s is %d (%s)", sc.name, k.name, status, how), i, k, status))
		}
	}
	DescribeTable("chooses each kind's status on each surface, and the surface writes the body in its shape",
		func(i int, k errKind, status int) {
			sc := cases[i]
			var r *fixtures.Response
			real := sc.real[k.name] != nil
			if real {
				r = sc.real[k.name](w)
			} else {
				r = synthetic(sc.surface, http.MethodGet, sc.path, k.err())
			}
			Expect(r.Status).To(Equal(status), string(r.Body))
			Expect(string(r.Body)).NotTo(ContainSubstring("disk on fire"), "an untyped error's details stay in the log")
			if k.name == "too many" {
				wait, err := strconv.Atoi(r.Header.Get("Retry-After"))
				Expect(err).NotTo(HaveOccurred(), "Retry-After")
				if real {
					Expect(wait).To(BeNumerically("~", auth.DefaultLimits.Window.Seconds(), 60), "the window's rest")
				} else {
					Expect(wait).To(Equal(7))
				}
			}
			sc.shape(r, k, real)
		}, table)

	DescribeTable("answers a HEAD with the status alone",
		func(i int) {
			r := synthetic(cases[i].surface, http.MethodHead, cases[i].path, resources.NotFound("No such thing"))
			Expect(r.Status).To(Equal(404))
			Expect(r.Body).To(BeEmpty())
		},
		func() []TableEntry {
			var out []TableEntry
			for i, sc := range cases {
				out = append(out, Entry(sc.name, i))
			}
			return out
		}())

	DescribeTable("answers the token endpoint's OAuth errors as 400 {error, error_description} with their RFC 6749 code",
		func(v url.Values, code string) {
			r := form("oauth2/token", v)
			Expect(r.Status).To(Equal(400), string(r.Body))
			Expect(jsonKeys(r, "error", "error_description")).To(HaveKeyWithValue("error", code))
			Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
		},
		Entry("no grant_type", url.Values{}, "invalid_request"),
		Entry("an unknown grant_type", url.Values{"grant_type": {"password"}}, "unsupported_grant_type"),
		Entry("no code", url.Values{"grant_type": {"authorization_code"}}, "invalid_request"),
		Entry("a made-up code", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}, "invalid_grant"),
		Entry("no client secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}}, "invalid_request"),
		Entry("a wrong client secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"no-such-client"},
			"client_secret": {"wrong"}}, "invalid_client"),
		Entry("no refresh_token", url.Values{"grant_type": {"refresh_token"}}, "invalid_request"),
		Entry("a made-up refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "invalid_grant"),
	)

	It("types an OAuth error that reaches any surface as a 400 or 401, never a 500", func() {
		for _, code := range []string{"invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type"} {
			e := rest.ToError(auth.OAuthError(code, "refused"))
			Expect(e).NotTo(BeNil(), code)
			for _, sc := range cases {
				Expect(sc.surface.Status(e)).To(BeElementOf(400, 401), "%s on %s", code, sc.name)
				r := synthetic(sc.surface, http.MethodGet, sc.path, fmt.Errorf("signing in: %w", auth.OAuthError(code, "refused")))
				Expect(r.Status).To(BeElementOf(400, 401), "%s on %s: %s", code, sc.name, r.Body)
			}
		}
	})

	It("answers a documented Medable errCode with its own status, whatever its kind", func() {
		tok := w.t.Token
		r := call("PATCH", "medable/"+w.t.Project+"/v2/accounts/me", tok, map[string]any{"op": "push", "path": "gender"})
		Expect(r.Status).To(Equal(501), string(r.Body))
		Expect(body(r)).To(SatisfyAll(HaveKeyWithValue("errCode", "cortex.unsupportedOperation.patchOp"), HaveKeyWithValue("status", BeEquivalentTo(501))))
		Expect(medable.Errors.Status(&resources.Error{Code: medable.ErrNewLocation})).To(Equal(200))
	})
})
