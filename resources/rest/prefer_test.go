package rest_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// Prefer: return= (FHIR http.html#ops) chooses what a write answers with;
// the headers and what is stored are the same whatever it asks.
var _ = Describe("Prefer: return= on writes", func() {
	t := freshTenant()

	type write struct {
		status int
		send   func(prefer string) *fixtures.Response
	}
	writes := map[string]func() write{
		"create": func() write {
			return write{http.StatusCreated, func(prefer string) *fixtures.Response {
				return call("POST", fhir("Patient"), t.Token, patient("Preferred", "Ada"), "Prefer", prefer)
			}}
		},
		"update": func() write {
			id := create(t.Token, patient("Preferred", "Before"))["id"].(string)
			p := patient("Preferred", "Ada")
			p["id"] = id
			return write{http.StatusOK, func(prefer string) *fixtures.Response {
				return call("PUT", fhir("Patient/"+id), t.Token, p, "Prefer", prefer)
			}}
		},
		"patch": func() write {
			id := create(t.Token, patient("Preferred", "Before"))["id"].(string)
			ops := []map[string]any{{"op": "replace", "path": "/name/0/given/0", "value": "Ada"}}
			return write{http.StatusOK, func(prefer string) *fixtures.Response {
				return call("PATCH", fhir("Patient/"+id), t.Token, ops, "Prefer", prefer, "Content-Type", "application/json-patch+json")
			}}
		},
	}

	DescribeTable("answers as preferred, with the same headers and the same stored resource",
		func(op, prefer string, check func(r *fixtures.Response)) {
			w := writes[op]()
			r := w.send(prefer)
			Expect(r.Status).To(Equal(w.status), string(r.Body))
			Expect(r.Header.Get("ETag")).To(MatchRegexp(`^W/"\d+"$`))
			Expect(r.Header.Get("Last-Modified")).NotTo(BeEmpty())
			if w.status == http.StatusCreated {
				Expect(r.Header.Get("Location")).To(ContainSubstring("/fhir/R4/Patient/"))
			}
			check(r)
			found := search(t.Token, "Patient", "given=ada&family=preferred")
			Expect(entries(found)).To(HaveLen(1), "the write was stored")
		},
		func(op, prefer string, _ func(*fixtures.Response)) string { return op + ", " + prefer },
		Entry(nil, "create", "return=minimal", expectEmpty),
		Entry(nil, "update", "return=minimal", expectEmpty),
		Entry(nil, "patch", "return=minimal", expectEmpty),
		Entry(nil, "create", "return=OperationOutcome", expectOK),
		Entry(nil, "update", "return=OperationOutcome", expectOK),
		Entry(nil, "create", "return=representation", expectResource),
		Entry(nil, "patch", "respond-async, return=minimal", expectEmpty),
		Entry(nil, "update", "handling=strict", expectResource),
	)

	It("leaves the write entries of a transaction without resources under return=minimal, but not its reads", func() {
		existing := create(t.Token, patient("Preferred", "Read"))["id"].(string)
		r := call("POST", "fhir/R4/", t.Token, bundleOf("batch",
			entry("POST", "Patient", patient("Preferred", "Batch"), ""),
			entry("GET", "Patient/"+existing, nil, ""),
		), "Prefer", "return=minimal")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		es := entries(body(r))
		Expect(es[0]).NotTo(HaveKey("resource"))
		Expect(es[0]["response"]).To(And(HaveKeyWithValue("status", HavePrefix("201")),
			HaveKeyWithValue("location", ContainSubstring("/Patient/")), HaveKey("etag")))
		Expect(es[1]).To(HaveKeyWithValue("resource", HaveKeyWithValue("id", existing)))
		Expect(resourceIDs(search(t.Token, "Patient", "given=batch"))).To(HaveLen(1))

		r = call("POST", "fhir/R4/", t.Token, bundleOf("transaction",
			entry("POST", "Patient", patient("Preferred", "Outcome"), ""),
		), "Prefer", "return=OperationOutcome")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		e := entries(body(r))[0]
		Expect(e).NotTo(HaveKey("resource"))
		Expect(e["response"]).To(HaveKeyWithValue("outcome", HaveKeyWithValue("resourceType", "OperationOutcome")))
	})
})

func expectEmpty(r *fixtures.Response) {
	GinkgoHelper()
	Expect(r.Body).To(BeEmpty())
}

func expectOK(r *fixtures.Response) {
	GinkgoHelper()
	Expect(body(r)).To(And(HaveKeyWithValue("resourceType", "OperationOutcome"),
		HaveKeyWithValue("issue", ContainElement(HaveKeyWithValue("severity", "information")))))
}

func expectResource(r *fixtures.Response) {
	GinkgoHelper()
	Expect(body(r)).To(And(HaveKeyWithValue("resourceType", "Patient"), HaveKey("meta")))
}
