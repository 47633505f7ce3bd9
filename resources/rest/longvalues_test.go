package rest_test

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

// MB is FHIR's largest string: 1 MB.
const MB = 1 << 20

// randomText is n bytes of random letters, a quarter of them two or three
// bytes long in UTF-8 (é, ж, 中…): text no compression shrinks, and whose
// bytes near the index key's cut are often in the middle of a character.
func randomText(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüñжщяλ中文字")
	var b strings.Builder
	for b.Len() < n-4 {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	for b.Len() < n {
		b.WriteByte('z')
	}
	return b.String()
}

// compressibleText is n bytes that compress to almost nothing, as a
// database compresses a long value before indexing it: prefix, a repeat,
// and an end of its own.
func compressibleText(prefix string, n int) string {
	const end = "Omega"
	return prefix + strings.Repeat("Ab", (n-len(prefix)-len(end))/2) + end
}

// formSearch runs a search sent as a form (POST {type}/_search), as a
// search for a 1 MB value must be: no URL is that long.
func formSearch(token, typ string, v url.Values) map[string]any {
	GinkgoHelper()
	r := call("POST", fhir(typ+"/_search"), token, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	Expect(r.Status).To(Equal(http.StatusOK), "search %s: %.300s", typ, r.Body)
	return body(r)
}

// runeCut is s's first n bytes or fewer, whole characters only.
func runeCut(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:min(n, len(s))]
}

// tail is s's last n bytes or fewer, whole characters only.
func tail(s string, n int) string {
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

// longElement is a searchable element a 1 MB value goes into, and how a
// search by that value is written.
type longElement struct {
	resource func(v string) map[string]any
	// exact is the search parameters that match the whole value exactly.
	exact func(v string) url.Values
	// prefix, for a string parameter, searches by a prefix of the value.
	prefix string
}

var longElements = map[string]longElement{
	"name.family": {
		resource: func(v string) map[string]any { return patient(v, "Ada") },
		exact:    func(v string) url.Values { return url.Values{"family:exact": {v}} },
		prefix:   "family",
	},
	"name.given": {
		resource: func(v string) map[string]any { return patient("Lovelace", v) },
		exact:    func(v string) url.Values { return url.Values{"given:exact": {v}} },
		prefix:   "name",
	},
	"identifier.value": {
		resource: func(v string) map[string]any {
			return person("Patient", "Lovelace", nil, map[string]any{"identifier": []any{map[string]any{"system": "urn:long", "value": v}}})
		},
		exact: func(v string) url.Values { return url.Values{"identifier": {"urn:long|" + v}} },
	},
	"telecom.value": {
		resource: func(v string) map[string]any {
			return person("Patient", "Lovelace", nil, map[string]any{"telecom": []any{map[string]any{"system": "other", "value": v}}})
		},
		exact: func(v string) url.Values { return url.Values{"telecom": {"other|" + v}} },
	},
}

var longValues = map[string]func(seed uint64) string{
	"random":       func(seed uint64) string { return randomText(seed, MB) },
	"compressible": func(seed uint64) string { return compressibleText(randomText(seed, 40), MB) },
}

var _ = Describe("A 1 MB string in a searchable element", func() {
	t := freshTenant()

	DescribeTable("is stored whole, answered 201, and found by the whole value, not by its near twin",
		func(element, kind string) {
			el := longElements[element]
			value := longValues[kind](uint64(len(element)))
			// A twin sharing the value's first 2 000 bytes, which is more
			// than the index keeps: only a check of the whole value tells
			// the two apart.
			common := runeCut(value, 2000)
			twin := common + randomText(99, len(value)-len(common))
			Expect(resources.Fold(twin)[:2100]).NotTo(Equal(resources.Fold(value)[:2100]))

			r := call("POST", fhir("Patient"), t.Token, el.resource(value))
			Expect(r.Status).To(Equal(http.StatusCreated), "%.300s", r.Body)
			id := body(r)["id"].(string)
			Expect(call("POST", fhir("Patient"), t.Token, el.resource(twin)).Status).To(Equal(http.StatusCreated))

			Expect(string(stored("Patient", id).Content)).To(ContainSubstring(value), "stored whole")
			read := call("GET", fhir("Patient/"+id), t.Token, nil)
			Expect(read.Status).To(Equal(http.StatusOK))
			Expect(string(read.Body)).To(ContainSubstring(value))

			Expect(resourceIDs(formSearch(t.Token, "Patient", el.exact(value)))).To(ConsistOf(id))
			if el.prefix == "" {
				return
			}
			// A prefix shorter than the key, one longer (checked against
			// the whole value), and one in other case (prefix search
			// ignores case), each finding the value and its twin.
			short, long := runeCut(value, 30), runeCut(value, 1500)
			Expect(resourceIDs(search(t.Token, "Patient", el.prefix+"="+url.QueryEscape(short)))).To(HaveLen(2))
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix: {long}}))).To(HaveLen(2))
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix: {strings.ToUpper(long)}}))).To(HaveLen(2))
			// Past the twins' common part only the value matches.
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix: {runeCut(value, 3000)}}))).To(ConsistOf(id))
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix: {value}}))).To(ConsistOf(id))
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix: {value + "x"}}))).To(BeEmpty())
			// :contains looks at the whole value, never at the key's hash.
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{el.prefix + ":contains": {tail(value, 40)}}))).To(ConsistOf(id))
		},
		func() []TableEntry {
			var out []TableEntry
			for _, element := range []string{"name.family", "name.given", "identifier.value", "telecom.value"} {
				for _, kind := range []string{"random", "compressible"} {
					out = append(out, Entry(element+", "+kind, element, kind))
				}
			}
			return out
		}())

	It("is found in an update that keeps it and lost in one that drops it", func() {
		value := randomText(11, MB)
		p := create(t.Token, patient(value))
		Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{"family:exact": {value}}))).To(HaveLen(1))
		p["gender"] = "female"
		Expect(call("PUT", fhir("Patient/"+p["id"].(string)), t.Token, p).Status).To(Equal(http.StatusOK))
		Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{"family:exact": {value}, "gender": {"female"}}))).To(HaveLen(1))
		Expect(call("PUT", fhir("Patient/"+p["id"].(string)), t.Token, patient("Short")).Status).To(Equal(http.StatusOK))
		Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{"family:exact": {value}}))).To(BeEmpty())
	})

	It("goes through a transaction Bundle, each entry stored whole and found", func() {
		a, b := randomText(21, MB), compressibleText("Bundle", MB)
		entry := func(v string) map[string]any {
			return map[string]any{"request": map[string]any{"method": "POST", "url": "Patient"}, "resource": patient(v)}
		}
		r := call("POST", "fhir/R4/", t.Token, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{entry(a), entry(b)}})
		Expect(r.Status).To(Equal(http.StatusOK), "%.300s", r.Body)
		for _, v := range []string{a, b} {
			Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{"family:exact": {v}}))).To(HaveLen(1))
		}
	})

	It("fits the default body limit even when every character of it is escaped in JSON", func() {
		value := strings.Repeat(`"`, MB) // \" each: 2 MB of JSON
		r := call("POST", fhir("Patient"), t.Token, patient(value))
		Expect(r.Status).To(Equal(http.StatusCreated), "%.300s", r.Body)
		Expect(resourceIDs(formSearch(t.Token, "Patient", url.Values{"family:exact": {value}}))).To(HaveLen(1))
	})
})

var _ = Describe("A 1 MB name through the invite and the dialects", func() {
	var w *inputWorld
	BeforeEach(func() { w = newInputWorld() })

	// Each route takes the name in a body of its own and makes a profile
	// with it as its given name.
	routes := map[string]func(name string) *fixtures.Response{
		"invite firstName": func(name string) *fixtures.Response {
			return call("POST", "admin/projects/"+w.t.Project+"/invite", w.t.Token, map[string]any{"resourceType": "Practitioner",
				"firstName": name, "lastName": "Long", "email": fixtures.Email("long"), "sendEmail": false})
		},
		"Medallion member first_name": func(name string) *fixtures.Response {
			return call("POST", "p/api/v1/organizations/members/", "", map[string]any{"role": "provider",
				"user":     map[string]any{"email": fixtures.Email("long"), "first_name": name, "last_name": "Long"},
				"provider": map[string]any{"profession": "MD"}}, "x-api-key", w.key)
		},
		"Medable register name.first": func(name string) *fixtures.Response {
			return call("POST", "medable/"+w.t.Project+"/v2/accounts/register", "", map[string]any{
				"name": map[string]any{"first": name, "last": "Long"}, "email": fixtures.Email("long"), "password": "a-good-long-password-42",
				"mobile": "+15555550100", "dob": "1990-04-02", "gender": "f", "tz": "US/Pacific"})
		},
	}
	DescribeTable("is stored whole and found by its whole value, or refused where the vendor documents a limit",
		func(route, kind string) {
			name := longValues[kind](uint64(len(route)))
			r := routes[route](name)
			want := 1
			if route == "Medable register name.first" {
				// Medable documents names of 1 to 100 characters: 400,
				// naming the element, nothing stored.
				Expect(r.Status).To(Equal(http.StatusBadRequest), "%.300s", r.Body)
				Expect(string(r.Body)).To(SatisfyAll(ContainSubstring("cortex.invalidArgument.invalidString"), ContainSubstring(`"path":"account.name.first"`)))
				want = 0
			} else {
				Expect(r.Status).To(BeNumerically("<", 300), "%.300s", r.Body)
			}
			found := 0
			for _, typ := range []string{"Practitioner", "Patient"} {
				b := formSearch(w.t.Token, typ, url.Values{"given:exact": {name}})
				for _, id := range resourceIDs(b) {
					Expect(string(stored(typ, id).Content)).To(ContainSubstring(name))
					found++
				}
			}
			Expect(found).To(Equal(want))
		},
		func() []TableEntry {
			var out []TableEntry
			for _, route := range []string{"invite firstName", "Medallion member first_name", "Medable register name.first"} {
				for _, kind := range []string{"random", "compressible"} {
					out = append(out, Entry(route+", "+kind, route, kind))
				}
			}
			return out
		}())
})

var _ = Describe("The bounded index key", func() {
	It("is the value up to KeyBytes, and past it a cut prefix and a hash that differs with any byte", func() {
		short := strings.Repeat("é", resources.KeyBytes/2)
		Expect(resources.IndexKey(short)).To(Equal(short))
		long := randomText(3, 5000)
		key := resources.IndexKey(long)
		Expect(len(key)).To(BeNumerically("<=", resources.KeyBytes+65))
		Expect(utf8.ValidString(key[:len(key)-65])).To(BeTrue(), "cut at a character boundary")
		Expect(resources.Long(key)).To(BeTrue())
		Expect(resources.IndexKey(long[:4999] + "!")).NotTo(Equal(key))
		Expect(resources.StringKey(strings.ToUpper(long))).NotTo(Equal(resources.StringKey(long)), ":exact tells case apart")
		Expect(resources.StringKey(strings.ToUpper(long))[:resources.KeyBytes-3]).To(Equal(resources.StringKey(long)[:resources.KeyBytes-3]), "prefix search does not")
	})
})
