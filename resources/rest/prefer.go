package rest

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// Return is what a write answers with, as the client's Prefer header asks
// (FHIR http.html#ops): the resource as stored (the default), nothing, or an
// OperationOutcome. Headers (Location, ETag, Last-Modified) are the same
// for all three.
type Return int

// The Prefer: return= values.
const (
	ReturnRepresentation Return = iota
	ReturnMinimal
	ReturnOutcome
)

// preferReturn reads Prefer: return=… (one of several comma- or
// semicolon-separated preferences); anything else is the default.
func preferReturn(c echo.Context) Return {
	for _, h := range c.Request().Header.Values("Prefer") {
		for _, p := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ';' }) {
			switch strings.ToLower(strings.TrimSpace(p)) {
			case "return=minimal":
				return ReturnMinimal
			case "return=operationoutcome":
				return ReturnOutcome
			case "return=representation":
				return ReturnRepresentation
			}
		}
	}
	return ReturnRepresentation
}

// preferLenient reads Prefer: handling=lenient, which asks a search to
// ignore the parameters Roster does not support; handling=strict, the
// default, has them refused (FHIR search.html#errors).
func preferLenient(c echo.Context) bool {
	lenient := false
	for _, h := range c.Request().Header.Values("Prefer") {
		for _, p := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ';' }) {
			switch strings.ToLower(strings.TrimSpace(p)) {
			case "handling=lenient":
				lenient = true
			case "handling=strict":
				lenient = false
			}
		}
	}
	return lenient
}
