package rest

import (
	"bytes"
	"encoding/json"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The hand-written Bundle encoder (internal: the suite runs these specs
// with the package's others).
var _ = Describe("The stored Bundle's bytes", func() {
	It("are exactly what encoding/json writes, for every character that needs escaping", func() {
		total := 3
		stored, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": "p1",
			"name": []any{map[string]any{"family": "O'Brien <&> \u2028"}}})
		bundles := []*Bundle{
			{ResourceType: "Bundle", Type: "searchset"},
			{ResourceType: "Bundle", ID: "b1", Type: "searchset", Total: &total,
				Link: []BundleLink{{Relation: "self", URL: "http://x/fhir/R4/Patient?name=a&b=<c>"}},
				Entry: []BundleEntry{
					{FullURL: "http://x/fhir/R4/Patient/p1", Resource: stored, Search: &BundleSearch{Mode: "match"}},
					{FullURL: "http://x/fhir/R4/Patient/p2", Resource: stored, Search: &BundleSearch{Mode: "include"}},
					{FullURL: "http://x/\"q\"", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/a\\b", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/<", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/>", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/&", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/\u00e9", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/\u2028", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/\x01", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/\xff", Search: &BundleSearch{Mode: "outcome"}},
					{FullURL: "http://x/\x7f", Search: &BundleSearch{Mode: "outcome"}},
				}},
			{ResourceType: "Bundle", Type: "history", Link: []BundleLink{{Relation: "self", URL: "u"}},
				Entry: []BundleEntry{
					{FullURL: "http://x/fhir/R4/Patient/p1", Resource: stored,
						Request:  &BundleRequest{Method: "PUT", URL: "Patient/p1"},
						Response: &BundleResponse{Status: "200 OK", Etag: `W/"2"`, LastModified: "2024-01-01T00:00:00.000Z"}},
					{FullURL: "http://x/fhir/R4/Patient/p1",
						Request:  &BundleRequest{Method: "DELETE", URL: "Patient/p1"},
						Response: &BundleResponse{Status: "204 No Content", Etag: `W/"3"`}},
				}},
		}
		for i, b := range bundles {
			want, err := json.Marshal(b)
			Expect(err).NotTo(HaveOccurred())
			got, err := b.appendJSON(nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(got)).To(Equal(string(want)), "bundle %d", i)
		}
	})
})

// BenchmarkSearchsetBytes writes a page of 20 matches and 20 included
// resources, as the search-include workload's answer.
func BenchmarkSearchsetBytes(b *testing.B) {
	stored := bytes.Repeat([]byte("x"), 600)
	stored = append(append([]byte(`{"resourceType":"Patient","text":"`), stored...), `"}`...)
	total := 40
	bundle := &Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total,
		Link: []BundleLink{{Relation: "self", URL: "http://x/fhir/R4/ProjectMembership?_count=20&_include=ProjectMembership:profile"}}}
	for i := range 40 {
		mode := "match"
		if i >= 20 {
			mode = "include"
		}
		bundle.Entry = append(bundle.Entry, BundleEntry{FullURL: "http://x/fhir/R4/Patient/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
			Resource: stored, Search: &BundleSearch{Mode: mode}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bundle.appendJSON(make([]byte, 0, 40*800)); err != nil {
			b.Fatal(err)
		}
	}
}
