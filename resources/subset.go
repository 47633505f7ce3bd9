package resources

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// Summary is a search's _summary: how much of each resource it answers
// with.
type Summary string

// The _summary values.
const (
	SummaryNone  Summary = ""      // absent: every element
	SummaryFalse Summary = "false" // every element
	SummaryTrue  Summary = "true"  // the summary elements (Type.Summary)
	SummaryText  Summary = "text"  // text, and the mandatory elements
	SummaryData  Summary = "data"  // every element but text
	SummaryCount Summary = "count" // no resources: the total alone
)

// SubsettedSystem and SubsettedCode tag a resource a search answered with
// only some of its elements, as FHIR requires of _summary and _elements.
const (
	SubsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	SubsettedCode   = "SUBSETTED"
)

// baseElements are the elements every subset keeps: the resource's type,
// id and meta.
var baseElements = []string{"resourceType", "id", "meta"}

// summaryBase are the elements every resource shares that FHIR marks as
// summary elements.
var summaryBase = []string{"implicitRules"}

// choiceTypes are the type suffixes of a choice element's members
// (deceasedBoolean, multipleBirthInteger, …).
var choiceTypes = []string{"Boolean", "DateTime", "Integer", "String", "Decimal", "Date", "Reference", "CodeableConcept",
	"Period", "Quantity", "Attachment", "Instant", "Time", "Uri", "Url", "Code"}

// elementsOf maps the top-level element names of r's type to the JSON
// members carrying them: each member to itself and, for a choice element's
// members (two or more sharing a base before a type suffix), the choice's
// base name to all of them.
func elementsOf(r Resource) map[string][]string {
	out := map[string][]string{}
	choices := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			out[name] = append(out[name], name)
			for _, suffix := range choiceTypes {
				if base, ok := strings.CutSuffix(name, suffix); ok && base != "" && base[len(base)-1] >= 'a' && base[len(base)-1] <= 'z' {
					choices[base] = append(choices[base], name)
					break
				}
			}
		}
	}
	walk(reflect.TypeOf(r).Elem())
	for base, members := range choices {
		if len(members) > 1 {
			out[base] = members
		}
	}
	return out
}

// HasElement reports whether name is a top-level element of t (a choice
// element by its base name too).
func (t *Type) HasElement(name string) bool {
	_, ok := t.elements[name]
	return ok
}

// subsetKeep is the set of JSON members a subset of a t resource keeps, for
// a query's _summary or _elements; nil keeps every member.
func subsetKeep(t *Type, summary Summary, elements []string) map[string]bool {
	var names []string
	switch {
	case len(elements) > 0:
		names = slices.Concat(baseElements, t.Mandatory, elements)
	case summary == SummaryTrue:
		names = slices.Concat(baseElements, summaryBase, t.Mandatory, t.Summary)
	case summary == SummaryText:
		names = slices.Concat(baseElements, []string{"text"}, t.Mandatory)
	case summary == SummaryData:
		names = make([]string, 0, len(t.elements))
		for name := range t.elements {
			if name != "text" {
				names = append(names, name)
			}
		}
	default:
		return nil
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		for _, member := range t.elements[n] {
			keep[member] = true
		}
	}
	return keep
}

// Subset is content, a stored resource of type t, with only the members
// _summary or _elements keep (nil: content as it is), and its meta.tag
// marked SUBSETTED. Members keep their order and bytes.
func Subset(t *Type, content []byte, summary Summary, elements []string) []byte {
	keep := subsetKeep(t, summary, elements)
	if keep == nil {
		return content
	}
	keys, vals, ok := jsonMembers(content)
	if !ok {
		return content
	}
	out := make([]byte, 0, len(content)+96)
	out = append(out, '{')
	hasMeta := false
	for i, k := range keys {
		if !keep[k] {
			continue
		}
		v := vals[i]
		if k == "meta" {
			hasMeta, v = true, subsettedMeta(v)
		}
		out = appendMember(out, k, v)
	}
	if !hasMeta {
		out = appendMember(out, "meta", subsettedMeta(nil))
	}
	return append(out, '}')
}

func appendMember(out []byte, key string, val []byte) []byte {
	if len(out) > 1 {
		out = append(out, ',')
	}
	k, _ := json.Marshal(key)
	out = append(append(out, k...), ':')
	return append(out, val...)
}

// subsettedMeta is a stored meta element with the SUBSETTED tag added.
func subsettedMeta(raw []byte) []byte {
	var m Meta
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		return raw
	}
	for _, c := range m.Tag {
		if c.System == SubsettedSystem && c.Code == SubsettedCode {
			return raw
		}
	}
	m.Tag = append(m.Tag, Coding{System: SubsettedSystem, Code: SubsettedCode})
	b, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}
