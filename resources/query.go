package resources

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Search limits.
const (
	DefaultCount = 20
	MaxCount     = 1000
)

// Filter is one search parameter of a query: its values are ORed, the
// filters of a query ANDed.
type Filter struct {
	Param  *SearchParam // nil for _id, _lastUpdated and _has
	Code   string       // the search rows' parameter (Param.Code, or IdentifierParam for :identifier)
	Values []FilterValue
	// Missing, when set, matches the resources without a value of Param
	// (true) or with one (false); Values is then empty.
	Missing *bool
	// Not matches the resources none of whose values match (token :not),
	// those without a value included.
	Not bool
	// Chain, when set, matches across references; Values is then empty.
	Chain *Chain
}

// Chain is a filter that follows references. Forward (patient.name=x), a
// resource matches when its reference parameter Filter.Param points at a
// resource one of Of matches. Reverse (_has:RelatedPerson:patient:name=x),
// a resource matches when a resource Of matches points at it through Ref.
// Each query of Of is a type the link may lead to, with one filter (a
// guard may add its own); Project and All are the outer query's.
type Chain struct {
	Reverse bool
	Ref     *SearchParam // Reverse: the reference parameter of Of's type
	Of      []*Query
}

// Plain tells whether f matches by its values alone (no :missing, :not
// or chain).
func (f Filter) Plain() bool { return f.Missing == nil && !f.Not && f.Chain == nil }

// FilterValue is one value of a filter. Op is "eq", "sw" (string prefix),
// "exact", or a date comparator "gt", "lt", "ge", "le", "ne".
type FilterValue struct {
	Op        string
	System    string
	HasSystem bool
	Value     string
	// From/To bound a date value as [From, To) in UTC microseconds.
	From, To int64
	// Suffix matches references by id only ("…/123").
	Suffix bool
}

// SortKey orders results; Param nil means a column (_id, _lastUpdated).
type SortKey struct {
	Code string
	Desc bool
}

// Include is one _include or _revinclude. Forward, it adds the resources
// that Param of the Source resources among the results points at; Reverse,
// the Source resources whose Param points at a result. Target, when set,
// keeps only references to that type. An Iterate include applies to the
// resources includes added too, not only to the matches.
type Include struct {
	Reverse, Iterate bool
	Source           string
	Param            *SearchParam
	Target           string
}

// Query is a parsed, validated search.
type Query struct {
	Type     string
	Project  string // "" with AllProjects
	All      bool   // every project (super admin)
	Filters  []Filter
	Count    int
	Offset   int
	Sort     []SortKey
	Total    bool
	Includes []Include
	Summary  Summary
	Elements []string // _elements: the top-level elements the matches keep
	// RawQuery is what the client sent less what lenient handling
	// ignored, for links; Ignored names what it ignored.
	RawQuery url.Values
	Ignored  []string

	// Set by the pipeline for the store (Service.SearchPage). Next asks
	// whether a page follows this one (Page.More): the store reads one
	// match more than Count. Follow is answered with the page, in the
	// page's own statement (Page.Included).
	Next   bool
	Follow *Follow
}

// Follow is the first round of a search's forward _includes, resolved for
// the store: the resources the page's matches point at through Refs (not
// the lookahead row Next reads), each once, as the caller's search of its
// type would show it (Targets). Those that are matches on the page are
// the pipeline's to leave out.
type Follow struct {
	Refs []Ref
	// Targets holds one query per type a Ref may lead to that the caller
	// may search: the search's project (every project with All) and a
	// guard's narrowing, if any, in Filters.
	Targets []*Query
}

// Ref is a reference parameter an include follows (its search rows'
// code), and the types among Follow.Targets it may lead to: nil for any,
// when the caller may search every type.
type Ref struct {
	Param string
	Types []string
}

// accepted are result parameters Roster accepts and that need no action:
// the answer is always JSON, and pretty printing is the client's affair.
var accepted = map[string]bool{"_format": true, "_pretty": true}

// maxChain bounds how many references a chained parameter or _has follows.
const maxChain = 4

// ParseQuery validates params against t's search parameters, strictly: a
// parameter, modifier or combination Roster does not support is a 400
// naming it.
func ParseQuery(t *Type, params url.Values) (*Query, error) { return parseQuery(t, params, false) }

// ParseLenient is ParseQuery for a client that asked for lenient handling
// (Prefer: handling=lenient): unknown or unsupported parameters and
// modifiers are ignored (and left out of RawQuery) instead; invalid values
// of supported ones are still a 400.
func ParseLenient(t *Type, params url.Values) (*Query, error) { return parseQuery(t, params, true) }

func parseQuery(t *Type, params url.Values, lenient bool) (*Query, error) {
	q := &Query{Type: t.Name, Count: DefaultCount, RawQuery: params}
	var issues []Issue
	bad := func(expr string, err error) {
		code := "invalid"
		if _, ok := err.(unsupported); ok {
			code = "not-supported"
		}
		issues = append(issues, Issue{Code: code, Expression: expr, Message: err.Error()})
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		code, modifier, _ := strings.Cut(key, ":")
		for _, raw := range params[key] {
			err := q.parseParam(t, key, code, modifier, raw)
			if _, ok := err.(unsupported); ok && lenient {
				q.Ignored = append(q.Ignored, key)
				break
			}
			if err != nil {
				bad(key, err)
			}
		}
	}
	if q.Summary != SummaryNone && q.Summary != SummaryFalse && len(q.Elements) > 0 {
		bad("_elements", unsupported("_summary and _elements cannot be used together"))
	}
	if len(issues) > 0 {
		return nil, Invalids(issues)
	}
	if q.Summary == SummaryCount {
		q.Count, q.Total = 0, true
	}
	if len(q.Ignored) > 0 {
		q.RawQuery = url.Values{}
		for k, v := range params {
			if !slices.Contains(q.Ignored, k) {
				q.RawQuery[k] = v
			}
		}
	}
	return q, nil
}

// parseParam adds one value of one query parameter (key, split into code
// and modifier) to q.
func (q *Query) parseParam(t *Type, key, code, modifier, raw string) error {
	switch code {
	case "_count", "_offset", "_total", "_sort", "_summary", "_elements", "_format", "_pretty":
		if modifier != "" {
			return unsupported("Unsupported modifier :" + modifier + " on " + code)
		}
	}
	switch code {
	case "_count":
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil || n < 0:
			return parseError("_count must be a non-negative integer")
		case n > MaxCount:
			return parseError("_count must be at most " + strconv.Itoa(MaxCount))
		}
		q.Count = n
	case "_offset":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return parseError("_offset must be a non-negative integer")
		}
		q.Offset = n
	case "_total":
		switch raw {
		case "none":
			q.Total = false
		case "accurate", "estimate":
			q.Total = true
		default:
			return parseError("_total must be none, estimate or accurate")
		}
	case "_sort":
		for _, s := range strings.Split(raw, ",") {
			k := SortKey{Code: strings.TrimPrefix(s, "-"), Desc: strings.HasPrefix(s, "-")}
			if p, ok := t.Param(k.Code); k.Code != "_id" && k.Code != "_lastUpdated" && (!ok || p.Type == ParamToken) {
				return parseError("Cannot sort by " + k.Code)
			}
			q.Sort = append(q.Sort, k)
		}
	case "_summary":
		switch s := Summary(raw); s {
		case SummaryTrue, SummaryFalse, SummaryText, SummaryData, SummaryCount:
			q.Summary = s
		default:
			return parseError("_summary must be true, false, text, data or count")
		}
	case "_elements":
		for _, e := range splitValues(raw) {
			e = strings.TrimSpace(e)
			if !t.HasElement(e) {
				return parseError("Unknown element " + e + " of " + t.Name + " in _elements")
			}
			q.Elements = append(q.Elements, e)
		}
	case "_include", "_revinclude":
		incs, err := parseInclude(t, code == "_revinclude", modifier, raw)
		if err != nil {
			return err
		}
		q.Includes = append(q.Includes, incs...)
	default:
		if accepted[code] {
			return nil
		}
		f, err := parseFilter(t, key, raw, 0)
		if err != nil {
			return err
		}
		q.Filters = append(q.Filters, f)
	}
	return nil
}

// parseFilter parses one filter of a t search: a parameter with an
// optional modifier, a chained parameter (ref.param, ref:Type.param) or a
// reverse chain (_has:Type:ref:param).
func parseFilter(t *Type, key, raw string, depth int) (Filter, error) {
	if depth > maxChain {
		return Filter{}, parseError("A chain may follow at most " + strconv.Itoa(maxChain) + " references")
	}
	if rest, ok := strings.CutPrefix(key, "_has:"); ok {
		return hasFilter(t, rest, raw, depth)
	}
	if head, rest, ok := strings.Cut(key, "."); ok {
		return chainFilter(t, head, rest, raw, depth)
	}
	code, modifier, _ := strings.Cut(key, ":")
	switch code {
	case "_id":
		if modifier != "" {
			return Filter{}, unsupported("Unsupported modifier :" + modifier + " on _id")
		}
		f := Filter{Code: "_id"}
		for _, v := range splitValues(raw) {
			f.Values = append(f.Values, FilterValue{Op: "eq", Value: v})
		}
		if len(f.Values) == 0 {
			return f, parseError("Empty value for _id")
		}
		return f, nil
	case "_lastUpdated":
		if modifier != "" {
			return Filter{}, unsupported("Unsupported modifier :" + modifier + " on _lastUpdated")
		}
		return dateFilter(code, nil, raw)
	}
	p, ok := t.Param(code)
	if !ok {
		return Filter{}, unsupported("Unknown search parameter " + code + " for " + t.Name)
	}
	if modifier == "missing" {
		f := Filter{Param: p, Code: p.Code}
		switch raw {
		case "true", "false":
			missing := raw == "true"
			f.Missing = &missing
			return f, nil
		}
		return f, parseError(code + ":missing must be true or false")
	}
	return paramFilter(p, modifier, raw)
}

// hasFilter parses the rest of a _has:Type:ref:param key: t resources that a
// Type resource matching param points at through ref.
func hasFilter(t *Type, rest, raw string, depth int) (Filter, error) {
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) < 3 || parts[2] == "" {
		return Filter{}, parseError("_has must be _has:Type:reference:parameter")
	}
	rt, ok := Lookup(parts[0])
	if !ok {
		return Filter{}, unsupported("Unknown resource type " + parts[0] + " in _has")
	}
	ref, ok := rt.Param(parts[1])
	if !ok || ref.Type != ParamReference {
		return Filter{}, unsupported(parts[1] + " is not a reference parameter of " + rt.Name)
	}
	if ref.Target != "" && ref.Target != t.Name {
		return Filter{}, parseError(rt.Name + "." + ref.Code + " refers to " + ref.Target + ", never to " + t.Name)
	}
	inner, err := parseFilter(rt, parts[2], raw, depth+1)
	if err != nil {
		return Filter{}, err
	}
	return Filter{Code: "_has", Chain: &Chain{Reverse: true, Ref: ref, Of: []*Query{{Type: rt.Name, Filters: []Filter{inner}}}}}, nil
}

// chainFilter parses a chained parameter head.rest: t resources whose
// reference parameter head (with an optional type modifier) points at a
// resource matching rest. Without a type, every type a reference of head
// may lead to that has rest's parameter is searched.
func chainFilter(t *Type, head, rest, raw string, depth int) (Filter, error) {
	code, modifier, _ := strings.Cut(head, ":")
	p, ok := t.Param(code)
	if !ok {
		return Filter{}, unsupported("Unknown search parameter " + code + " for " + t.Name)
	}
	if p.Type != ParamReference {
		return Filter{}, unsupported(code + " is not a reference parameter: it cannot be chained")
	}
	var types []*Type
	switch {
	case modifier != "":
		mt, ok := Lookup(modifier)
		if !ok {
			return Filter{}, unsupported("Unsupported modifier :" + modifier + " on " + code + " (a chain takes a resource type)")
		}
		if p.Target != "" && p.Target != mt.Name {
			return Filter{}, parseError(code + " refers to " + p.Target + ", never to " + mt.Name)
		}
		types = []*Type{mt}
	case p.Target != "":
		types = []*Type{registry[p.Target]}
	default:
		types = Types()
	}
	f := Filter{Param: p, Code: p.Code, Chain: &Chain{}}
	var first error
	for _, ct := range types {
		inner, err := parseFilter(ct, rest, raw, depth+1)
		if _, ok := err.(unsupported); ok && len(types) > 1 {
			if first == nil {
				first = err
			}
			continue // a type this reference may lead to without the parameter
		}
		if err != nil {
			return Filter{}, err
		}
		f.Chain.Of = append(f.Chain.Of, &Query{Type: ct.Name, Filters: []Filter{inner}})
	}
	if len(f.Chain.Of) == 0 {
		return Filter{}, first
	}
	return f, nil
}

// parseInclude parses one _include (reverse false) or _revinclude value of
// a t search: Type:param[:target], Type:* or *.
func parseInclude(t *Type, reverse bool, modifier, raw string) ([]Include, error) {
	name := "_include"
	if reverse {
		name = "_revinclude"
	}
	iterate := false
	switch modifier {
	case "":
	case "iterate", "recurse": // :recurse is R3's name for :iterate
		iterate = true
	default:
		return nil, unsupported("Unsupported modifier :" + modifier + " on " + name)
	}
	var sources []*Type
	code, target := "*", ""
	if raw == "*" {
		sources = []*Type{t}
		if reverse {
			sources = Types()
		}
	} else {
		parts := strings.Split(raw, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, parseError(name + " must be Type:parameter, Type:parameter:targetType, Type:* or *")
		}
		src, ok := Lookup(parts[0])
		if !ok {
			return nil, parseError("Unknown resource type " + parts[0] + " in " + name)
		}
		if !reverse && !iterate && src.Name != t.Name {
			return nil, parseError(name + "=" + raw + " names " + src.Name + ", not the searched " + t.Name +
				" (add :iterate to include from included resources)")
		}
		sources, code = []*Type{src}, parts[1]
		if len(parts) == 3 {
			if target = parts[2]; !isType(target) {
				return nil, parseError("Unknown resource type " + target + " in " + name)
			}
		}
	}
	var out []Include
	for _, src := range sources {
		for i := range src.Params {
			p := &src.Params[i]
			if p.Type != ParamReference || (code != "*" && p.Code != code) {
				continue
			}
			if code != "*" && target != "" && p.Target != "" && p.Target != target {
				return nil, parseError(src.Name + "." + p.Code + " refers to " + p.Target + ", never to " + target)
			}
			out = append(out, Include{Reverse: reverse, Iterate: iterate, Source: src.Name, Param: p, Target: target})
		}
	}
	if code != "*" && len(out) == 0 {
		return nil, parseError(code + " is not a reference parameter of " + sources[0].Name)
	}
	return out, nil
}

func isType(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// unsupported is a parameter or modifier Roster does not support: a 400,
// or, under lenient handling, ignored. Any other parse error is a 400.
type unsupported string

func (e unsupported) Error() string { return string(e) }

type parseError string

func (e parseError) Error() string { return string(e) }

func paramFilter(p *SearchParam, modifier, raw string) (Filter, error) {
	f := Filter{Param: p, Code: p.Code}
	unknown := func() (Filter, error) {
		return f, unsupported("Unsupported modifier :" + modifier + " on " + p.Code)
	}
	switch p.Type {
	case ParamDate:
		if modifier != "" {
			return unknown()
		}
		return dateFilter(p.Code, p, raw)
	case ParamString:
		op := "sw"
		switch modifier {
		case "":
		case "exact":
			op = "exact"
		case "contains":
			op = "co"
		default:
			return unknown()
		}
		for _, v := range splitValues(raw) {
			if op == "exact" {
				f.Values = append(f.Values, FilterValue{Op: op, Value: strings.TrimSpace(v)})
			} else {
				f.Values = append(f.Values, FilterValue{Op: op, Value: Fold(v)})
			}
		}
	case ParamToken:
		switch modifier {
		case "":
		case "not":
			f.Not = true
		default:
			return unknown()
		}
		f.Values = tokenValues(p, raw)
	case ParamURI:
		if modifier != "" {
			return unknown()
		}
		for _, v := range splitValues(raw) {
			f.Values = append(f.Values, FilterValue{Op: "eq", Value: v})
		}
	case ParamReference:
		if modifier == "identifier" {
			// Reference.identifier, as a token (IdentifierParam's rows).
			id := &SearchParam{Code: IdentifierParam(p.Code), Type: ParamToken, Description: p.Description}
			f = Filter{Param: id, Code: id.Code, Values: tokenValues(id, raw)}
			break
		}
		if modifier != "" && (!isType(modifier) || p.Target != "" && modifier != p.Target) {
			return unknown()
		}
		for _, v := range splitValues(raw) {
			fv := FilterValue{Op: "eq", Value: v}
			if !strings.Contains(v, "/") {
				if p.Target != "" {
					fv.Value = p.Target + "/" + v
				} else if modifier != "" {
					fv.Value = modifier + "/" + v
				} else {
					fv.Value, fv.Suffix = "/"+v, true
				}
			}
			f.Values = append(f.Values, fv)
		}
	}
	if len(f.Values) == 0 {
		return f, parseError("Empty value for " + p.Code)
	}
	return f, nil
}

// tokenValues parses a token parameter's values: code, system|code,
// |code or system|.
func tokenValues(p *SearchParam, raw string) []FilterValue {
	var out []FilterValue
	for _, v := range splitValues(raw) {
		fv := FilterValue{Op: "eq", Value: v}
		if sys, code, ok := strings.Cut(v, "|"); ok {
			fv.System, fv.HasSystem, fv.Value = sys, true, code
		}
		if p.FoldCase || (p.FoldSystem != "" && fv.HasSystem && fv.System == p.FoldSystem) {
			fv.Value = EmailKey(fv.Value)
		}
		out = append(out, fv)
	}
	return out
}

func splitValues(raw string) []string {
	var out []string
	for _, v := range strings.Split(raw, ",") {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

var datePrefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"}

func dateFilter(code string, p *SearchParam, raw string) (Filter, error) {
	f := Filter{Param: p, Code: code}
	for _, v := range splitValues(raw) {
		op := "eq"
		for _, pre := range datePrefixes {
			if strings.HasPrefix(v, pre) {
				op, v = pre, v[2:]
				break
			}
		}
		switch op {
		case "sa":
			op = "gt"
		case "eb":
			op = "lt"
		}
		from, to, err := DateRange(v)
		if err != nil {
			return f, err
		}
		f.Values = append(f.Values, FilterValue{Op: op, Value: v, From: from, To: to})
	}
	if len(f.Values) == 0 {
		return f, parseError("Empty value for " + code)
	}
	return f, nil
}

// DateKeyOffset makes every instant from year 0001 to 9999 a positive
// number of DateKeyWidth digits (migration 9 writes the same form in SQL).
const (
	DateKeyOffset = 1_000_000_000_000_000_000
	DateKeyWidth  = 19
)

// DateKey is how an instant (UTC microseconds) is written in the search
// index's value column: fixed-width digits whose byte order is the instants'
// order, so date ranges are served by the same index as every other value.
func DateKey(micros int64) string {
	return fmt.Sprintf("%0*d", DateKeyWidth, micros+DateKeyOffset)
}

// DateRange turns a FHIR date or dateTime of any precision into the interval
// [from, to) it covers, in UTC microseconds.
func DateRange(v string) (int64, int64, error) {
	layouts := []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		// time.Parse accepts a fractional second the layout does not name,
		// so this layout also takes instants like 10:00:00.123456Z.
		{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(secondFraction(v)) }},
	}
	for _, l := range layouts {
		if t, err := time.Parse(l.layout, v); err == nil {
			return t.UnixMicro(), l.step(t).UnixMicro(), nil
		}
	}
	return 0, 0, parseError("Invalid date " + strconv.Quote(v))
}

// secondFraction is the precision of an instant's seconds: a second, or as
// many decimals as it has (.123 is a millisecond), but never finer than the
// microseconds Roster stores.
func secondFraction(v string) time.Duration {
	_, frac, ok := strings.Cut(v, ".")
	if !ok {
		return time.Second
	}
	step := time.Second
	for _, r := range frac {
		if r < '0' || r > '9' || step == time.Microsecond {
			break
		}
		step /= 10
	}
	return step
}
