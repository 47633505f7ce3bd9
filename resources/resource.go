// Package resources holds Roster's typed FHIR resources, the registry that
// describes them (search parameters, unique keys, who may write them), the
// typed errors every layer returns, and the one generic service that creates,
// reads, updates, deletes, searches and versions any registered type.
package resources

import (
	"bytes"
	"encoding/json"
)

// Resource is implemented by every typed resource through its embedded
// DomainResource.
type Resource interface {
	Base() *DomainResource
}

// Meta is FHIR's resource metadata plus Medplum's `project`.
type Meta struct {
	VersionID   string     `json:"versionId,omitempty"`
	LastUpdated string     `json:"lastUpdated,omitempty"`
	Source      string     `json:"source,omitempty"`
	Profile     []string   `json:"profile,omitempty"`
	Security    []Coding   `json:"security,omitempty"`
	Tag         []Coding   `json:"tag,omitempty"`
	Project     string     `json:"project,omitempty"`
	Author      *Reference `json:"author,omitempty"`
}

// DomainResource holds the elements every resource type shares. Embedding it
// makes a struct a Resource.
type DomainResource struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id,omitempty"`
	Meta              *Meta             `json:"meta,omitempty"`
	ImplicitRules     string            `json:"implicitRules,omitempty"`
	Language          string            `json:"language,omitempty"`
	Text              *Narrative        `json:"text,omitempty"`
	Contained         []json.RawMessage `json:"contained,omitempty"`
	Extension         []Extension       `json:"extension,omitempty"`
	ModifierExtension []Extension       `json:"modifierExtension,omitempty"`
}

// Base returns the shared elements.
func (d *DomainResource) Base() *DomainResource { return d }

// Extension keeps an extension exactly as the client sent it: only `url` is
// interpreted, every value[x] and nested extension is stored verbatim.
type Extension struct {
	URL string
	raw json.RawMessage
}

// NewExtension builds an extension carrying one value under valueKey
// (e.g. "valueString", "valueBoolean").
func NewExtension(url, valueKey string, value any) Extension {
	raw, _ := json.Marshal(map[string]any{"url": url, valueKey: value})
	return Extension{URL: url, raw: raw}
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *Extension) UnmarshalJSON(b []byte) error {
	var head struct {
		URL *string `json:"url"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	if head.URL == nil || *head.URL == "" {
		return &json.UnmarshalTypeError{Value: "extension without url", Field: "extension.url", Type: nil}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	e.URL, e.raw = *head.URL, buf.Bytes()
	return nil
}

// MarshalJSON implements json.Marshaler.
func (e Extension) MarshalJSON() ([]byte, error) {
	if len(e.raw) > 0 {
		return e.raw, nil
	}
	return json.Marshal(map[string]string{"url": e.URL})
}

// Value decodes the extension's valueKey element into dst; false when absent.
func (e Extension) Value(valueKey string, dst any) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(e.raw, &m) != nil {
		return false
	}
	v, ok := m[valueKey]
	return ok && json.Unmarshal(v, dst) == nil
}

// ExtensionValue finds the first extension with url and decodes its valueKey.
func ExtensionValue(exts []Extension, url, valueKey string, dst any) bool {
	for _, e := range exts {
		if e.URL == url {
			return e.Value(valueKey, dst)
		}
	}
	return false
}

// SetExtension replaces (or appends) the extension with url by one carrying value.
// A nil value removes it.
func SetExtension(exts []Extension, url, valueKey string, value any) []Extension {
	out := make([]Extension, 0, len(exts)+1)
	for _, e := range exts {
		if e.URL != url {
			out = append(out, e)
		}
	}
	if value != nil {
		out = append(out, NewExtension(url, valueKey, value))
	}
	return out
}
