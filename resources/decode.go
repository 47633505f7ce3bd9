package resources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DecodeError reports why a request body is not an acceptable resource.
// Element names the offending element (a JSON key, or a dotted path for type
// mismatches); it is empty when the body as a whole is at fault.
type DecodeError struct {
	Element string
	Message string
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.Element == "" {
		return e.Message
	}
	return e.Element + ": " + e.Message
}

// serverOwned lists the top-level elements no client may ever send: the
// server keeps them (hashed) outside the resource.
var serverOwned = []string{"passwordHash", "mfaSecret", "secret", "retiringSecret"}

// Decode strictly decodes data, which must be exactly one JSON object, into
// into (a pointer to a zero resource). Unknown elements (at any depth, with
// case-sensitive names), server-owned elements, type mismatches, invalid
// JSON and trailing data are all reported as *DecodeError. Extensions are
// kept verbatim.
func Decode(data []byte, into Resource) error {
	if into == nil {
		return errors.New("resources.Decode: nil destination")
	}
	// One allocation-free scan accepts the usual body; decodeTopLevel
	// explains the others.
	keys, _, ok := jsonMembers(data)
	if !ok || !json.Valid(data) {
		if _, err := decodeTopLevel(data); err != nil {
			return err
		}
		return &DecodeError{Message: "invalid JSON"}
	}
	for _, name := range serverOwned {
		if slices.Contains(keys, name) {
			return &DecodeError{Element: name, Message: name + " is server-owned and cannot be set"}
		}
	}
	// encoding/json matches keys case-insensitively; FHIR does not.
	if de := checkElements(data, reflect.TypeOf(into)); de != nil {
		return de
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return translateError(err)
	}
	return nil
}

// decodeTopLevel checks that data is one well-formed JSON object and returns
// its members.
func decodeTopLevel(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, &DecodeError{Message: "invalid JSON: empty body"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &DecodeError{Message: "invalid JSON: unexpected end of input"}
		case errors.As(err, &se):
			return nil, syntaxError(se)
		case errors.As(err, &te):
			return nil, &DecodeError{Message: "body must be a JSON object, got " + jsonValueName(te.Value)}
		default:
			return nil, &DecodeError{Message: "invalid JSON"}
		}
	}
	if top == nil {
		return nil, &DecodeError{Message: "body must be a JSON object, got null"}
	}
	offset := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &DecodeError{Message: fmt.Sprintf("invalid JSON: unexpected data after the object at offset %d", offset)}
	}
	return top, nil
}

func syntaxError(se *json.SyntaxError) *DecodeError {
	return &DecodeError{Message: fmt.Sprintf("invalid JSON: %s at offset %d", se.Error(), se.Offset)}
}

// translateError turns an encoding/json error into a *DecodeError.
func translateError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := elementPath(te.Field)
		if te.Type == nil {
			// Extension.UnmarshalJSON reports "extension.url" itself, and
			// encoding/json prefixes the enclosing field path, which already
			// ends in the extension element.
			if head, ok := strings.CutSuffix(field, ".extension.url"); ok {
				field = head + ".url"
			}
			return &DecodeError{Element: field, Message: te.Value}
		}
		return &DecodeError{Element: field, Message: fmt.Sprintf("expected %s, got %s", fhirTypeName(te.Type), jsonValueName(te.Value))}
	case errors.As(err, &se):
		return syntaxError(se)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(rest); uerr == nil {
			return &DecodeError{Element: name, Message: "unknown element"}
		}
	}
	return &DecodeError{Message: strings.TrimPrefix(msg, "json: ")}
}

// embeddedStructs lists the Go names of the structs the resources embed, which
// encoding/json puts in an UnmarshalTypeError's field path.
var embeddedStructs = []string{"DomainResource", "BackboneElement", "Element"}

// elementPath drops the embedded structs' names from a field path.
func elementPath(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if !slices.Contains(embeddedStructs, p) {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

// fhirTypeName names the JSON shape a Go type expects, in FHIR's words.
func fhirTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Decimal]() {
		return "decimal"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "decimal"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.String()
}

// jsonValueName rewrites encoding/json's value description ("bool",
// "number 1.5", ...) in JSON's own terms.
func jsonValueName(v string) string {
	if v == "bool" {
		return "boolean"
	}
	return v
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkElements walks the JSON alongside the Go type and reports the first
// object key that is not exactly (case-sensitively) a known element. Values
// whose type decodes itself (Extension, Decimal, json.RawMessage) are not
// entered. Malformed or mistyped values are skipped: the strict decode that
// follows reports them.
func checkElements(raw []byte, t reflect.Type) *DecodeError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		keys, vals, ok := jsonMembers(raw)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		// Keys in sorted order, so the element reported does not depend
		// on how the client ordered its keys.
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
		for _, i := range order {
			ft, ok := fields[keys[i]]
			if !ok {
				return &DecodeError{Element: keys[i], Message: "unknown element"}
			}
			if de := checkElements(vals[i], ft); de != nil {
				return de
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := jsonElements(raw)
		if !ok {
			return nil
		}
		for _, el := range arr {
			if de := checkElements(el, t.Elem()); de != nil {
				return de
			}
		}
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps each JSON element name of struct type t (including those
// promoted from embedded structs) to its Go type.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	collectFields(t, m)
	fieldCache.Store(t, m)
	return m
}

func collectFields(t reflect.Type, m map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	// Fields of the outer struct shadow promoted ones.
	for _, et := range embedded {
		sub := map[string]reflect.Type{}
		collectFields(et, sub)
		for k, v := range sub {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
}
