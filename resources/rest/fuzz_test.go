package rest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources/rest"
)

// fhirWrites are the FHIR REST writes FuzzFHIRWrite sends its bodies to, by
// the input's first byte; {id} is the target Patient.
var fhirWrites = []fixtures.Write{
	{Method: "POST", Path: "fhir/R4/Patient", Headers: []string{"Content-Type", "application/fhir+json"}},
	{Method: "PUT", Path: "fhir/R4/Patient/{id}", Headers: []string{"Content-Type", "application/fhir+json"}},
	{Method: "PATCH", Path: "fhir/R4/Patient/{id}", Headers: []string{"Content-Type", "application/json-patch+json"}},
	{Method: "POST", Path: "fhir/R4/", Headers: []string{"Content-Type", "application/fhir+json"}},
}

// FuzzFHIRWrite sends arbitrary bodies to FHIR create, update, JSON Patch
// and batch/transaction Bundles, as a project admin, through the server's
// whole path (body reading, decoding, validation, the search index, the
// store). Whatever the body, the answer is a 4xx or a success, never a
// 5xx, and a body that is not UTF-8 is never stored. Seeds: long values,
// text that is not UTF-8, look-alike emails (fixtures.HostileText).
//
//	go test -run='^$' -fuzz='^FuzzFHIRWrite$' -fuzztime=2000x ./resources/rest
func FuzzFHIRWrite(f *testing.F) {
	s, _, token := fixtures.FuzzProjectAdmin(f, "Fuzz FHIR")
	r := s.Call(f, "POST", "fhir/R4/Patient", token, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Target"}}})
	target, _ := r.JSON()["id"].(string)
	if r.Status != 201 || target == "" {
		f.Fatalf("target: %d %s", r.Status, r.Body)
	}
	for _, text := range fixtures.HostileText {
		for op, body := range []string{
			`{"resourceType":"Patient","name":[{"family":"%s","given":["%s"]}],"identifier":[{"system":"urn:x","value":"%s"}]}`,
			`{"resourceType":"Patient","id":"{id}","telecom":[{"system":"email","value":"%s"},{"system":"other","value":"%s"}]}`,
			`[{"op":"replace","path":"/name","value":[{"family":"%s"}]}]`,
			`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":{"resourceType":"Patient","name":[{"family":"%s"}]}}]}`,
		} {
			f.Add(uint8(op), []byte(strings.ReplaceAll(body, "%s", text)))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		w := fhirWrites[int(op)%len(fhirWrites)]
		body = bytes.ReplaceAll(body, []byte("{id}"), []byte(target))
		r := s.Call(t, w.Method, strings.ReplaceAll(w.Path, "{id}", target), token, body, w.Headers...)
		if r.Status >= 500 {
			t.Fatalf("%s %s: %d %s", w.Method, w.Path, r.Status, r.Body)
		}
		if r.Status < 300 && rest.CheckText(body) != nil {
			t.Fatalf("%s %s stored a body that is not Unicode text: %d %.300s", w.Method, w.Path, r.Status, r.Body)
		}
	})
}

// FuzzCheckText checks the body reader's text check against encoding/json:
// a JSON body it lets through decodes without a U+FFFD the body did not
// hold, so nothing stored was quietly replaced; and it lets through only
// UTF-8.
//
//	go test -run='^$' -fuzz='^FuzzCheckText$' -fuzztime=100000x ./resources/rest
func FuzzCheckText(f *testing.F) {
	for _, text := range fixtures.HostileText {
		f.Add([]byte(`{"a":["` + text + `"],"` + text + `":1}`))
	}
	f.Add([]byte(`{"clef":"\ud834\udd1e","escaped":"\\ud800","replacement":"\ufffd�"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rest.CheckText(b) != nil {
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("let through bytes that are not UTF-8: %q", b)
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		if got, had := replacements(v), bytes.Count(b, []byte("\uFFFD"))+escapedReplacements(b); got > had {
			t.Fatalf("decoding made %d U+FFFD of %d: %q", got, had, b)
		}
	})
}

// replacements counts U+FFFD in a decoded JSON value's strings and keys.
func replacements(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case []any:
		n := 0
		for _, x := range v {
			n += replacements(x)
		}
		return n
	case map[string]any:
		n := 0
		for k, x := range v {
			n += strings.Count(k, "\uFFFD") + replacements(x)
		}
		return n
	}
	return 0
}

// escapedReplacements counts \ufffd escapes (an escaped backslash before
// the u makes it text, counted anyway: an over-count only weakens the
// check, never fails it falsely).
func escapedReplacements(b []byte) int {
	return bytes.Count(bytes.ToLower(b), []byte(`\ufffd`))
}
