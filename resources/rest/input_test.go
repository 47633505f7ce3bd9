package rest_test

import (
	"net/http"
	"net/url"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// inputWorld is a tenant and the credentials every surface's writes need.
type inputWorld struct {
	t      tenant
	key    string // a Medallion API key of t's project
	target string // a Patient of t's project to update and patch
}

func newInputWorld() *inputWorld {
	GinkgoHelper()
	w := &inputWorld{t: newTenant()}
	r := call("POST", "admin/projects/"+w.t.Project+"/client", srv.AdminToken, map[string]any{"name": "key", "admin": true})
	Expect(r.Status).To(Equal(201), string(r.Body))
	w.key = body(r)["secret"].(string)
	w.target = create(w.t.Token, patient("Target"))["id"].(string)
	return w
}

// bodyRoute is a route that reads a JSON body: how to send it one with a
// name in it, and how many resources hold that name afterwards.
type bodyRoute struct {
	send   func(w *inputWorld, body, contentType string) *fixtures.Response
	body   func(name string) string
	stored func(w *inputWorld, name string) int
	// shape checks the refusal is in the surface's own error shape.
	shape func(r *fixtures.Response)
}

func fhirShape(r *fixtures.Response) {
	GinkgoHelper()
	Expect(body(r)).To(HaveKeyWithValue("resourceType", "OperationOutcome"))
}

func patientsNamed(w *inputWorld, name string) int {
	GinkgoHelper()
	return len(resourceIDs(formSearch(w.t.Token, "Patient", url.Values{"family": {name}})))
}

// profilesNamed counts the profiles (Practitioner, Patient) an invite or a
// dialect's sign-up made with a name.
func profilesNamed(w *inputWorld, name string) int {
	GinkgoHelper()
	n := 0
	for _, typ := range []string{"Practitioner", "Patient"} {
		n += len(resourceIDs(formSearch(w.t.Token, typ, url.Values{"name": {name}})))
	}
	return n
}

func jsonPatient(name string) string {
	return `{"resourceType":"Patient","name":[{"family":"` + name + `"}]}`
}

var bodyRoutes = map[string]bodyRoute{
	"FHIR create": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("POST", fhir("Patient"), w.t.Token, b, "Content-Type", ct)
		},
		body: jsonPatient, stored: patientsNamed, shape: fhirShape,
	},
	"FHIR update": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("PUT", fhir("Patient/"+w.target), w.t.Token, b, "Content-Type", ct)
		},
		body:   func(name string) string { return strings.Replace(jsonPatient(name), `{`, `{"id":"ID",`, 1) },
		stored: patientsNamed, shape: fhirShape,
	},
	"FHIR patch": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			if ct == "application/fhir+json" {
				ct = "application/json-patch+json"
			}
			return call("PATCH", fhir("Patient/"+w.target), w.t.Token, b, "Content-Type", ct)
		},
		body: func(name string) string {
			return `[{"op":"replace","path":"/name","value":[{"family":"` + name + `"}]}]`
		},
		stored: patientsNamed, shape: fhirShape,
	},
	"FHIR transaction Bundle": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("POST", "fhir/R4/", w.t.Token, b, "Content-Type", ct)
		},
		body: func(name string) string {
			return `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + jsonPatient(name) + `}]}`
		},
		stored: patientsNamed, shape: fhirShape,
	},
	"invite": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("POST", "admin/projects/"+w.t.Project+"/invite", w.t.Token, b, "Content-Type", ct)
		},
		body: func(name string) string {
			return `{"resourceType":"Practitioner","firstName":"` + name + `","lastName":"Input","email":"input-` + fixtures.Uniq() + `@example.com","sendEmail":false}`
		},
		stored: profilesNamed, shape: fhirShape,
	},
	"Medallion member": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("POST", "p/api/v1/organizations/members/", "", b, "Content-Type", ct, "x-api-key", w.key)
		},
		body: func(name string) string {
			return `{"role":"admin","user":{"email":"input-` + fixtures.Uniq() + `@example.com","first_name":"` + name + `"}}`
		},
		stored: profilesNamed,
		shape:  func(r *fixtures.Response) { Expect(body(r)).To(Or(HaveKey("detail"), HaveKey("non_field_errors"))) },
	},
	"Medable register": {
		send: func(w *inputWorld, b, ct string) *fixtures.Response {
			return call("POST", "medable/"+w.t.Project+"/v2/accounts/register", "", b, "Content-Type", ct)
		},
		body: func(name string) string {
			return `{"name":{"first":"` + name + `","last":"Input"},"email":"input-` + fixtures.Uniq() + `@example.com",` +
				`"password":"a-good-long-password-42","mobile":"+15555550100","dob":"1990-04-02","gender":"f","tz":"US/Pacific"}`
		},
		stored: profilesNamed,
		shape: func(r *fixtures.Response) {
			Expect(body(r)).To(SatisfyAll(HaveKeyWithValue("object", "fault"), HaveKeyWithValue("errCode", "cortex.invalidArgument.invalidJSON")))
		},
	},
}

// bodyRouteEntries are one entry per route of bodyRoutes, each given the
// extra arguments.
func bodyRouteEntries(extra ...any) []TableEntry {
	var out []TableEntry
	for _, name := range []string{"FHIR create", "FHIR update", "FHIR patch", "FHIR transaction Bundle", "invite", "Medallion member", "Medable register"} {
		out = append(out, Entry(name, append([]any{name}, extra...)...))
	}
	return out
}

var _ = Describe("Request bodies", func() {
	var w *inputWorld
	BeforeEach(func() { w = newInputWorld() })

	// accepted fixes a body up for route: an update names its resource.
	accepted := func(route, b string) string { return strings.Replace(b, `"ID"`, `"`+w.target+`"`, 1) }

	DescribeTable("are read as JSON when sent as such, or without a Content-Type",
		func(route, contentType string) {
			rt := bodyRoutes[route]
			name := "Accepted" + fixtures.Uniq()
			r := rt.send(w, accepted(route, rt.body(name)), contentType)
			Expect(r.Status).To(BeNumerically("<", 300), "%s", r.Body)
			Expect(rt.stored(w, name)).To(Equal(1))
		},
		append(bodyRouteEntries("application/fhir+json"), append(bodyRouteEntries("application/json; charset=UTF-8"), bodyRouteEntries("")...)...))

	DescribeTable("are refused with 415 in a type Roster does not read, storing nothing",
		func(route, contentType string) {
			rt := bodyRoutes[route]
			name := "Refused" + fixtures.Uniq()
			r := rt.send(w, accepted(route, rt.body(name)), contentType)
			if route == "Medable register" {
				Expect(r.Status).To(Equal(http.StatusBadRequest), "Medable's fault for a body that is not JSON: %s", r.Body)
			} else {
				Expect(r.Status).To(Equal(http.StatusUnsupportedMediaType), "%s", r.Body)
			}
			rt.shape(r)
			Expect(string(r.Body)).To(ContainSubstring("application/json"), "says what to send")
			Expect(rt.stored(w, name)).To(BeZero())
		},
		append(bodyRouteEntries("text/plain"), append(bodyRouteEntries("application/x-www-form-urlencoded"),
			bodyRouteEntries("application/json; charset=ISO-8859-1")...)...))

	DescribeTable("are refused with 400 when not UTF-8, storing nothing (not a U+FFFD in their place)",
		func(route, broken string) {
			rt := bodyRoutes[route]
			name := "Broken" + fixtures.Uniq()
			r := rt.send(w, accepted(route, rt.body(name+broken)), "application/fhir+json")
			Expect(r.Status).To(Equal(http.StatusBadRequest), "%s", r.Body)
			if !strings.HasPrefix(route, "Medable") && !strings.HasPrefix(route, "Medallion") {
				Expect(string(r.Body)).To(Or(ContainSubstring("UTF-8"), ContainSubstring("surrogate")))
			}
			Expect(rt.stored(w, name)).To(BeZero())
		},
		append(bodyRouteEntries("\xff\xfe"), append(bodyRouteEntries("\xc3"),
			append(bodyRouteEntries(`\ud800`), bodyRouteEntries(`\udc00\ud800`)...)...)...))

	It("keeps a surrogate pair, which is one character", func() {
		p := create(w.t.Token, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Clef\U0001D11E"}}})
		r := call("POST", fhir("Patient"), w.t.Token, `{"resourceType":"Patient","name":[{"family":"Clef\ud834\udd1e"}]}`)
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		Expect(body(r)["name"]).To(Equal(p["name"]))
	})

	It("refuses a JSON body at the form endpoints with 415, in their own shape", func() {
		r := call("POST", "oauth2/token", "", `{"grant_type":"client_credentials"}`, "Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusUnsupportedMediaType), string(r.Body))
		Expect(body(r)).To(HaveKeyWithValue("error", "invalid_request"))

		r = call("POST", fhir("Patient/_search"), w.t.Token, `{"family":"x"}`, "Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusUnsupportedMediaType), string(r.Body))
		fhirShape(r)
	})

	It("refuses a form whose values are not UTF-8", func() {
		r := call("POST", fhir("Patient/_search"), w.t.Token, "family=%FF", "Content-Type", "application/x-www-form-urlencoded")
		Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
		r = call("POST", "oauth2/token", "", "grant_type=client_credentials&client_id=%FF&client_secret=x", "Content-Type", "application/x-www-form-urlencoded")
		Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
		Expect(body(r)).To(HaveKeyWithValue("error", "invalid_request"))
	})

	It("refuses sign-in with a body that is not JSON with 415", func() {
		r := call("POST", "auth/login", "", url.Values{"email": {w.t.Email}, "password": {fixtures.AdminPassword}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded")
		Expect(r.Status).To(Equal(http.StatusUnsupportedMediaType), string(r.Body))
		_, err := srv.Login(w.t.Email, fixtures.AdminPassword)
		Expect(err).NotTo(HaveOccurred(), "a JSON one signs in")
	})
})
