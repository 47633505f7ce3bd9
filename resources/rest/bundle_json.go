package rest

import (
	"encoding/json"
	"strconv"

	"github.com/labstack/echo/v4"
)

// writeStoredBundle writes a search or history Bundle whose entries hold
// stored resources. encoding/json would validate and re-compact every
// resource (json.RawMessage) — half the CPU of a 100-entry page; stored
// content is already json.Marshal's own output (compact, valid, HTML
// escaped), so it is copied as it is. The bytes are those WriteJSON writes.
func writeStoredBundle(c echo.Context, status int, b *Bundle) error {
	size := 256
	for _, e := range b.Entry {
		size += len(e.Resource) + len(e.FullURL) + 160
	}
	out, err := b.appendJSON(make([]byte, 0, size))
	if err != nil {
		return err
	}
	return c.Blob(status, FHIRJSON, out)
}

// appendJSON appends b as encoding/json would marshal it (same fields, same
// order, same omissions).
func (b *Bundle) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"resourceType":`...)
	dst = appendString(dst, b.ResourceType)
	if b.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, b.ID)
	}
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, b.Type)
	if b.Total != nil {
		dst = append(dst, `,"total":`...)
		dst = strconv.AppendInt(dst, int64(*b.Total), 10)
	}
	var err error
	if len(b.Link) > 0 {
		dst = append(dst, `,"link":`...)
		if dst, err = appendMarshal(dst, b.Link); err != nil {
			return nil, err
		}
	}
	if len(b.Entry) > 0 {
		dst = append(dst, `,"entry":[`...)
		for i := range b.Entry {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = b.Entry[i].appendJSON(dst); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

func (e *BundleEntry) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	field := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	var err error
	if e.FullURL != "" {
		field("fullUrl")
		dst = appendString(dst, e.FullURL)
	}
	if len(e.Resource) > 0 {
		field("resource")
		dst = append(dst, e.Resource...)
	}
	if e.Search != nil {
		// Every entry of a searchset: spare the marshal (BundleSearch
		// holds its mode only).
		field("search")
		dst = append(dst, `{"mode":`...)
		dst = append(appendString(dst, e.Search.Mode), '}')
	}
	for _, part := range []struct {
		name string
		v    any
		set  bool
	}{{"request", e.Request, e.Request != nil}, {"response", e.Response, e.Response != nil}} {
		if !part.set {
			continue
		}
		field(part.name)
		if dst, err = appendMarshal(dst, part.v); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

func appendMarshal(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

// appendString appends s as a JSON string, escaped as encoding/json does.
// The strings here (URLs, ids, modes) are mostly printable ASCII that
// needs no escape, which is appended as it is.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	return append(append(append(dst, '"'), s...), '"')
}
