package rest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The hand-written Bundle encoder writes exactly what encoding/json writes.
func TestStoredBundleBytesMatchEncodingJSON(t *testing.T) {
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
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("bundle %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
