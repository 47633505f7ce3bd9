package resources

import (
	"fmt"
	"net/url"
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
	Param  *SearchParam // nil for _id and _lastUpdated
	Code   string
	Values []FilterValue
}

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
	RawQuery url.Values // what the client sent, for links
}

// ignored are result parameters Roster accepts and does not act on.
var ignored = map[string]bool{"_format": true, "_pretty": true, "_summary": true, "_elements": true}

// ParseQuery validates params against t's search parameters.
func ParseQuery(t *Type, params url.Values) (*Query, error) {
	q := &Query{Type: t.Name, Count: DefaultCount, RawQuery: params}
	var issues []Issue
	bad := func(expr, msg string) {
		issues = append(issues, Issue{Code: "invalid", Expression: expr, Message: msg})
	}
	for key, vals := range params {
		code, modifier, _ := strings.Cut(key, ":")
		for _, raw := range vals {
			switch code {
			case "_count":
				n, err := strconv.Atoi(raw)
				if err != nil || n < 0 {
					bad("_count", "_count must be a non-negative integer")
				} else if n > MaxCount {
					bad("_count", "_count must be at most "+strconv.Itoa(MaxCount))
				} else {
					q.Count = n
				}
			case "_offset":
				n, err := strconv.Atoi(raw)
				if err != nil || n < 0 {
					bad("_offset", "_offset must be a non-negative integer")
				} else {
					q.Offset = n
				}
			case "_total":
				q.Total = raw == "accurate" || raw == "estimate"
			case "_sort":
				for _, s := range strings.Split(raw, ",") {
					k := SortKey{Code: strings.TrimPrefix(s, "-"), Desc: strings.HasPrefix(s, "-")}
					if k.Code == "_id" || k.Code == "_lastUpdated" {
						q.Sort = append(q.Sort, k)
					} else if p, ok := t.Param(k.Code); ok && p.Type != ParamToken {
						q.Sort = append(q.Sort, k)
					} else {
						bad("_sort", "Cannot sort by "+k.Code)
					}
				}
			case "_id":
				f := Filter{Code: "_id"}
				for _, v := range strings.Split(raw, ",") {
					f.Values = append(f.Values, FilterValue{Op: "eq", Value: v})
				}
				q.Filters = append(q.Filters, f)
			case "_lastUpdated":
				f, err := dateFilter(code, nil, raw)
				if err != nil {
					bad(code, err.Error())
				} else {
					q.Filters = append(q.Filters, f)
				}
			default:
				if ignored[code] {
					continue
				}
				p, ok := t.Param(code)
				if !ok {
					bad(key, "Unknown search parameter "+code+" for "+t.Name)
					continue
				}
				f, err := paramFilter(p, modifier, raw)
				if err != nil {
					bad(key, err.Error())
					continue
				}
				q.Filters = append(q.Filters, f)
			}
		}
	}
	if len(issues) > 0 {
		return nil, Invalids(issues)
	}
	return q, nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

func paramFilter(p *SearchParam, modifier, raw string) (Filter, error) {
	f := Filter{Param: p, Code: p.Code}
	switch p.Type {
	case ParamDate:
		if modifier != "" {
			return f, parseError("Unsupported modifier :" + modifier)
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
			return f, parseError("Unsupported modifier :" + modifier)
		}
		for _, v := range splitValues(raw) {
			if op == "exact" {
				f.Values = append(f.Values, FilterValue{Op: op, Value: strings.TrimSpace(v)})
			} else {
				f.Values = append(f.Values, FilterValue{Op: op, Value: Fold(v)})
			}
		}
	case ParamToken:
		if modifier != "" {
			return f, parseError("Unsupported modifier :" + modifier)
		}
		for _, v := range splitValues(raw) {
			fv := FilterValue{Op: "eq", Value: v}
			if sys, code, ok := strings.Cut(v, "|"); ok {
				fv.System, fv.HasSystem, fv.Value = sys, true, code
			}
			if p.FoldCase || (p.FoldSystem != "" && fv.HasSystem && fv.System == p.FoldSystem) {
				fv.Value = EmailKey(fv.Value)
			}
			f.Values = append(f.Values, fv)
		}
	case ParamReference:
		if modifier != "" && modifier != p.Target {
			return f, parseError("Unsupported modifier :" + modifier)
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
