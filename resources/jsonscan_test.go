package resources

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzJSONMembers checks the element check's scanner against encoding/json:
// for every valid JSON object it finds the same members, and for every
// array the same elements.
func FuzzJSONMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` {"a" : [1, {"b":"x\"}"}], "c\\u0041d":null} `,
		`{"name":[{"family":"Ng","given":["A","B"]}],"_birthDate":{"extension":[]}}`,
		`[]`, `[1, "two", {"3":[4]}, [5]]`, `{"a":1}x`, `{"a":}`, `"str"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) == nil && obj != nil {
			keys, vals, ok := jsonMembers(b)
			if !ok {
				t.Fatalf("jsonMembers refused the object %q", b)
			}
			for i, k := range keys {
				if _, found := obj[k]; !found || !json.Valid(vals[i]) {
					t.Fatalf("member %q = %q of %q", k, vals[i], b)
				}
			}
			seen := slices.Clone(keys)
			slices.Sort(seen)
			if len(slices.Compact(seen)) != len(obj) {
				t.Fatalf("%d distinct keys, encoding/json found %d in %q", len(seen), len(obj), b)
			}
		} else if _, _, ok := jsonMembers(b); ok {
			t.Fatalf("jsonMembers accepted a non-object %q", b)
		}
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil && arr != nil {
			els, ok := jsonElements(b)
			if !ok || len(els) != len(arr) {
				t.Fatalf("jsonElements found %d (ok %v), encoding/json %d in %q", len(els), ok, len(arr), b)
			}
			for i := range els {
				if string(els[i]) != string(arr[i]) {
					t.Fatalf("element %d: %q, encoding/json %q", i, els[i], arr[i])
				}
			}
		} else if _, ok := jsonElements(b); ok {
			t.Fatalf("jsonElements accepted a non-array %q", b)
		}
	})
}
