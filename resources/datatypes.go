package resources

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"reflect"
	"strings"
)

// This file holds the FHIR R4 data types (plus Medplum's IdentityProvider)
// used by Roster's resources. Every struct marshals to exactly FHIR's JSON:
// element names are FHIR's, absent elements are omitted, booleans and
// integers are pointers so that false and 0 survive, and dates, instants,
// codes and URIs are kept as the strings the client sent.

// Element holds what every FHIR element carries besides its own value: an id
// and extensions. Data types embed it first, so that id and extension lead
// in their JSON as FHIR orders them.
type Element struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
}

// BackboneElement is an Element that may also carry modifier extensions: the
// shape of every element nested in a resource (Patient.contact,
// AuditEvent.agent, ...). Those embed it first, like Element.
type BackboneElement struct {
	Element
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
}

// Coding is a reference to a code defined by a terminology system.
type Coding struct {
	Element
	System       string `json:"system,omitempty"`
	Version      string `json:"version,omitempty"`
	Code         string `json:"code,omitempty"`
	Display      string `json:"display,omitempty"`
	UserSelected *bool  `json:"userSelected,omitempty"`
}

// CodeableConcept is a concept given by one or more codings and/or text.
type CodeableConcept struct {
	Element
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Reference is a reference from one resource to another.
type Reference struct {
	Element
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Identifier is a business identifier: a value that is unique within a system.
type Identifier struct {
	Element
	Use      string           `json:"use,omitempty"`
	Type     *CodeableConcept `json:"type,omitempty"`
	System   string           `json:"system,omitempty"`
	Value    string           `json:"value,omitempty"`
	Period   *Period          `json:"period,omitempty"`
	Assigner *Reference       `json:"assigner,omitempty"`
}

// HumanName is a person's name with text, parts and usage information.
type HumanName struct {
	Element
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
	Period *Period  `json:"period,omitempty"`
}

// ContactPoint is a technology-mediated contact detail (phone, email, ...).
type ContactPoint struct {
	Element
	System string  `json:"system,omitempty"`
	Value  string  `json:"value,omitempty"`
	Use    string  `json:"use,omitempty"`
	Rank   *int    `json:"rank,omitempty"`
	Period *Period `json:"period,omitempty"`
}

// Address is a postal or physical address.
type Address struct {
	Element
	Use        string   `json:"use,omitempty"`
	Type       string   `json:"type,omitempty"`
	Text       string   `json:"text,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	District   string   `json:"district,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
	Period     *Period  `json:"period,omitempty"`
}

// Period is a time range defined by a start and/or end dateTime.
type Period struct {
	Element
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Attachment is content in a format defined elsewhere, inline (base64) or by URL.
type Attachment struct {
	Element
	ContentType string `json:"contentType,omitempty"`
	Language    string `json:"language,omitempty"`
	Data        string `json:"data,omitempty"`
	URL         string `json:"url,omitempty"`
	Size        *int   `json:"size,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

// Narrative is a human-readable XHTML summary of a resource.
type Narrative struct {
	Element
	Status string `json:"status,omitempty"`
	Div    string `json:"div,omitempty"`
}

// Quantity is a measured amount with its unit.
type Quantity struct {
	Element
	Value      Decimal `json:"value,omitempty"`
	Comparator string  `json:"comparator,omitempty"`
	Unit       string  `json:"unit,omitempty"`
	System     string  `json:"system,omitempty"`
	Code       string  `json:"code,omitempty"`
}

// Expression is an expression (e.g. FHIRPath) with its language.
type Expression struct {
	Element
	Description string `json:"description,omitempty"`
	Name        string `json:"name,omitempty"`
	Language    string `json:"language,omitempty"`
	Expression  string `json:"expression,omitempty"`
	Reference   string `json:"reference,omitempty"`
}

// IdentityProvider is Medplum's external Identity Provider (IdP) configuration.
type IdentityProvider struct {
	Element
	Issuer               string `json:"issuer,omitempty"`
	JwksURL              string `json:"jwksUrl,omitempty"`
	AuthorizeURL         string `json:"authorizeUrl,omitempty"`
	TokenURL             string `json:"tokenUrl,omitempty"`
	TokenAuthMethod      string `json:"tokenAuthMethod,omitempty"`
	UserInfoURL          string `json:"userInfoUrl,omitempty"`
	ClientID             string `json:"clientId,omitempty"`
	ClientSecret         string `json:"clientSecret,omitempty"`
	UsePkce              *bool  `json:"usePkce,omitempty"`
	UseSubject           *bool  `json:"useSubject,omitempty"`
	UserInfoTokenField   string `json:"userInfoTokenField,omitempty"`
	UserInfoAPIKey       string `json:"userInfoApiKey,omitempty"`
	UserInfoResponsePath string `json:"userInfoResponsePath,omitempty"`
}

// Decimal is a FHIR decimal kept as the exact JSON number the client sent,
// so that precision such as 1.50 survives a round trip. Only JSON numbers are
// accepted; the empty Decimal is absent.
type Decimal string

// UnmarshalJSON implements json.Unmarshaler; it rejects anything but a number.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Decimal]()}
	}
	*d = Decimal(b)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	return []byte(d), nil
}

// jsonKind names the kind of a JSON value the way encoding/json does in
// UnmarshalTypeError.Value.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "value"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// Issues are what is wrong with an identity provider's configuration at
// path (nil when nothing): the authorize and token URLs and the client id
// are required, and every URL is absolute, https or http to a loopback
// host.
func (p *IdentityProvider) Issues(path string) []Issue {
	if p == nil {
		return nil
	}
	var issues []Issue
	add := func(code, element, msg string) {
		issues = append(issues, Issue{Code: code, Expression: path + "." + element, Message: msg})
	}
	for _, u := range []struct {
		element, value string
		required       bool
	}{{"authorizeUrl", p.AuthorizeURL, true}, {"tokenUrl", p.TokenURL, true}, {"userInfoUrl", p.UserInfoURL, false},
		{"issuer", p.Issuer, false}, {"jwksUrl", p.JwksURL, false}} {
		switch {
		case u.value == "" && u.required:
			add("required", u.element, path+"."+u.element+" is required")
		case u.value != "" && !providerURL(u.value):
			add("invalid", u.element, path+"."+u.element+" must be an https URL (http only to localhost)")
		}
	}
	if strings.TrimSpace(p.ClientID) == "" {
		add("required", "clientId", path+".clientId is required")
	}
	if m := p.TokenAuthMethod; m != "" && m != "client_secret_basic" && m != "client_secret_post" {
		add("invalid", "tokenAuthMethod", path+".tokenAuthMethod must be client_secret_basic or client_secret_post")
	}
	return issues
}

// providerURL reports whether s is an absolute https URL, or an http one
// to a loopback host (a provider on the same machine, as in tests).
func providerURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		return host == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}
