package dialect

import (
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
)

// Page is Django REST framework's paginated list: Count items in all,
// Results on this page, and the absolute URLs of the Next and Previous
// pages (null at either end).
type Page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// NewPage is the page of results out of count items, with no links yet;
// its Results is never null.
func NewPage[T any](results []T, count int) Page[T] {
	if results == nil {
		results = []T{}
	}
	return Page[T]{Count: count, Results: results}
}

// Link is the absolute URL of the request c with its query changed by edit,
// as Django REST framework links a list's next and previous pages.
func Link(c echo.Context, edit func(q url.Values)) *string {
	req := c.Request()
	q := req.URL.Query()
	edit(q)
	u := url.URL{Scheme: c.Scheme(), Host: req.Host, Path: req.URL.Path, RawQuery: q.Encode()}
	s := u.String()
	return &s
}

// Window cuts the page of limit items from offset out of all.
func Window[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(offset+limit, len(all))]
}

// LimitOffset is a position in a list as Django REST framework's
// LimitOffsetPagination reads it from ?limit= and ?offset=.
type LimitOffset struct{ Limit, Offset int }

// ReadLimitOffset reads ?limit= (dflt when absent, at most most) and
// ?offset=; bad values fall back to the defaults, as Django REST framework
// does.
func ReadLimitOffset(c echo.Context, dflt, most int) LimitOffset {
	p := LimitOffset{Limit: dflt}
	if n, err := strconv.Atoi(c.QueryParam("limit")); err == nil && n > 0 {
		p.Limit = min(n, most)
	}
	if n, err := strconv.Atoi(c.QueryParam("offset")); err == nil && n > 0 {
		p.Offset = n
	}
	return p
}

// LimitOffsetPage is the page of items at p out of total, linked to its
// neighbours as LimitOffsetPagination links them.
func LimitOffsetPage[T any](c echo.Context, items []T, total int, p LimitOffset) Page[T] {
	out := NewPage(items, total)
	link := func(off int) *string {
		return Link(c, func(q url.Values) {
			q.Set("limit", strconv.Itoa(p.Limit))
			if off > 0 {
				q.Set("offset", strconv.Itoa(off))
			} else {
				q.Del("offset")
			}
		})
	}
	if p.Offset+p.Limit < total {
		out.Next = link(p.Offset + p.Limit)
	}
	if p.Offset > 0 {
		out.Previous = link(max(p.Offset-p.Limit, 0))
	}
	return out
}

// PageNumber is a position in a list as Django REST framework's
// PageNumberPagination reads it from ?page= (1-based) and ?page_size=.
type PageNumber struct{ Page, Size int }

// ReadPageNumber reads ?page_size= (dflt when absent or bad, at most most)
// and ?page= for a list of total items. A page that is not a number or
// lies past the end is Django REST framework's 404 "Invalid page.".
func ReadPageNumber(c echo.Context, total, dflt, most int) (PageNumber, error) {
	p := PageNumber{Page: 1, Size: dflt}
	if n, err := strconv.Atoi(c.QueryParam("page_size")); err == nil && n > 0 {
		p.Size = min(n, most)
	}
	if v := c.QueryParam("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || (n-1)*p.Size >= max(total, 1) {
			return p, errInvalidPage
		}
		p.Page = n
	}
	return p, nil
}

// Offset is the index of the page's first item.
func (p PageNumber) Offset() int { return (p.Page - 1) * p.Size }

// PageNumberPage is the page of items at p out of total, linked to its
// neighbours as PageNumberPagination links them.
func PageNumberPage[T any](c echo.Context, items []T, total int, p PageNumber) Page[T] {
	out := NewPage(items, total)
	link := func(n int) *string {
		return Link(c, func(q url.Values) {
			if n > 1 {
				q.Set("page", strconv.Itoa(n))
			} else {
				q.Del("page")
			}
		})
	}
	if p.Offset()+p.Size < total {
		out.Next = link(p.Page + 1)
	}
	if p.Page > 1 {
		out.Previous = link(p.Page - 1)
	}
	return out
}
