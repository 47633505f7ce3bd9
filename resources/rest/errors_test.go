package rest_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Errors", func() {
	t := freshTenant()

	DescribeTable("are OperationOutcomes with the right status",
		func(method, path string, withToken bool, reqBody any, status int, mentions string) {
			token := ""
			if withToken {
				token = t.Token
			}
			o := outcome(call(method, path, token, reqBody), status)
			if mentions != "" {
				Expect(issueText(o)).To(ContainSubstring(mentions))
			}
			Expect(resourceIDs(search(t.Token, "Patient", "_count=100"))).To(BeEmpty(), "nothing was written")
		},
		Entry("an unknown route (Echo's own 404)", "GET", "no/such/route", true, nil, http.StatusNotFound, ""),
		Entry("an unknown route without credentials", "GET", "nope", false, nil, http.StatusNotFound, ""),
		Entry("an unknown FHIR path", "GET", fhir("Patient/1/_history/1/extra"), true, nil, http.StatusNotFound, ""),
		Entry("a method a route does not have (Echo's own 405)", "PUT", "healthz", true, nil, http.StatusMethodNotAllowed, ""),
		Entry("malformed JSON", "POST", fhir("Patient"), true, `{"resourceType":"Patient",`, http.StatusBadRequest, "invalid JSON"),
		Entry("JSON that is not an object", "POST", fhir("Patient"), true, `["Patient"]`, http.StatusBadRequest, "object"),
		Entry("an empty body", "POST", fhir("Patient"), true, ``, http.StatusBadRequest, "empty"),
		Entry("a body of whitespace", "POST", fhir("Patient"), true, "  \n ", http.StatusBadRequest, "empty"),
		Entry("the wrong resourceType", "POST", fhir("Patient"), true, `{"resourceType":"Practitioner"}`, http.StatusBadRequest, "resourceType"),
		Entry("no resourceType", "POST", fhir("Patient"), true, `{"name":[{"family":"X"}]}`, http.StatusBadRequest, "resourceType"),
		Entry("an unknown type to search", "GET", fhir("Spaceship"), true, nil, http.StatusNotFound, "Spaceship"),
		Entry("an unknown type to create", "POST", fhir("Spaceship"), true, `{"resourceType":"Spaceship"}`, http.StatusNotFound, "Spaceship"),
		Entry("no credentials", "GET", fhir("Patient"), false, nil, http.StatusUnauthorized, ""),
		Entry("no credentials to create", "POST", fhir("Patient"), false, patient("Anonymous"), http.StatusUnauthorized, ""),
		Entry("a string holding U+0000", "POST", fhir("Patient"), true, `{"resourceType":"Patient","name":[{"family":"A\u0000B"}]}`, http.StatusBadRequest, "control characters"),
		Entry("a string holding a backspace", "POST", fhir("Patient"), true, `{"resourceType":"Patient","name":[{"family":"A\bB"}]}`, http.StatusBadRequest, "control characters"),
		Entry("an extension's string holding U+001F", "POST", fhir("Patient"), true,
			`{"resourceType":"Patient","extension":[{"url":"http://example.org/x","valueString":"\u001f"}]}`, http.StatusBadRequest, "control characters"),
	)

	It("keeps tabs and line breaks in strings", func() {
		r := call("POST", fhir("Patient"), t.Token, `{"resourceType":"Patient","name":[{"family":"A\tB","text":"line\r\nnext \\u0000 \\b"}]}`)
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		var p struct {
			Name []struct{ Family, Text string }
		}
		Expect(r.Decode(&p)).To(Succeed())
		Expect(p.Name[0].Family).To(Equal("A\tB"))
		Expect(p.Name[0].Text).To(Equal("line\r\nnext \\u0000 \\b"), "an escaped backslash before u0000 or b is text")
	})

	It("names the allowed methods on a 405", func() {
		r := call("POST", "healthz", "", nil)
		outcome(r, http.StatusMethodNotAllowed)
		Expect(r.Header.Get("Allow")).To(ContainSubstring("GET"))
	})

	It("answers 401 to a token that is not one", func() {
		outcome(call("GET", fhir("Patient"), "not-a-jwt", nil), http.StatusUnauthorized)
		outcome(call("GET", fhir("Patient"), "", nil, "Authorization", "Basic !!!"), http.StatusUnauthorized)
	})

	Describe("a body over the 4 MiB limit", func() {
		big := func() []byte {
			filler := strings.Repeat("x", 4<<20)
			return []byte(`{"resourceType":"Patient","name":[{"family":"` + filler + `"}]}`)
		}

		It("is refused with 413 when its length is declared", func() {
			outcome(call("POST", fhir("Patient"), t.Token, big()), http.StatusRequestEntityTooLarge)
			Expect(resourceIDs(search(t.Token, "Patient", "_count=100"))).To(BeEmpty())
		})

		It("is refused with 413 when it is streamed without a length", func() {
			// An io.Reader of unknown size makes the client send it chunked.
			req, err := http.NewRequest("POST", srv.URL+fhir("Patient"), io.MultiReader(bytes.NewReader(big())))
			Expect(err).NotTo(HaveOccurred())
			Expect(req.ContentLength).To(BeZero(), "sent without a Content-Length")
			req.Header.Set("Authorization", "Bearer "+t.Token)
			req.Header.Set("Content-Type", "application/fhir+json")
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			outcome(&fixtures.Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, http.StatusRequestEntityTooLarge)
			Expect(resourceIDs(search(t.Token, "Patient", "_count=100"))).To(BeEmpty())
		})

		It("is refused in a Bundle too", func() {
			b := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + string(big()) + `}]}`
			outcome(call("POST", "fhir/R4/", t.Token, b), http.StatusRequestEntityTooLarge)
		})
	})
})

var _ = Describe("An internal error", Ordered, func() {
	var broken *fixtures.Server
	var logs *bytes.Buffer

	BeforeAll(func() {
		logs = &bytes.Buffer{}
		broken = fixtures.Start(GinkgoT(), fixtures.Options{Log: logs})
		DeferCleanup(broken.Close)
		// The database going away is an honest way to make every request fail.
		Expect(broken.App.Store.Close()).To(Succeed())
	})

	It("answers 500 with an OperationOutcome that carries no internals", func() {
		r, err := broken.Do("GET", "fhir/R4/Patient", broken.AdminToken, nil)
		Expect(err).NotTo(HaveOccurred())
		o := outcome(r, http.StatusInternalServerError)
		Expect(issueText(o)).To(Equal("Internal server error"))
		Expect(string(r.Body)).NotTo(ContainSubstring("sql"))
		Expect(string(r.Body)).NotTo(ContainSubstring("database"))
		Expect(string(r.Body)).NotTo(ContainSubstring("closed"))

		Expect(logs.String()).To(ContainSubstring("database is closed"), "the cause is logged instead")
		Expect(logs.String()).To(ContainSubstring("request_id=" + r.Header.Get("X-Request-Id")))
	})

	It("answers 500 to a write too", func() {
		r, err := broken.Do("POST", "fhir/R4/Patient", broken.AdminToken, patient("Lost"))
		Expect(err).NotTo(HaveOccurred())
		Expect(issueText(outcome(r, http.StatusInternalServerError))).To(Equal("Internal server error"))
	})
})
