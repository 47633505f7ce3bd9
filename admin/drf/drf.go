// Package drf holds the Django REST framework conventions that the dialects
// of Django-built vendors (Medallion, the hospital) share.
package drf

import (
	"net/url"

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
