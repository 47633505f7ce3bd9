package resources

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// RFC 5321's limits on an address as it is sent: 64 octets before the @
// and 254 in all (a path's 256 less its angle brackets), the domain
// counted in its ASCII (punycode) form.
const (
	MaxEmailLocal = 64
	MaxEmail      = 254
)

// emailDomains checks and maps a domain as a lookup does (UTS #46: case
// and width folded, NFC), with host-name letters, digits and hyphens only,
// and DNS's lengths.
var emailDomains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true),
	idna.VerifyDNSLength(true), idna.Transitional(false))

// NormalizeEmail is the one form of an email address Roster stores and
// compares, on every path that takes one (invites, every dialect, sign-in,
// password reset, $update-email, Users and profiles' telecom): trimmed,
// the local part lower-cased and in NFC, the domain mapped by IDNA 2008 and
// kept in its Unicode form (Alice@BÜCHER.de and alice@xn--bcher-kva.de are
// both alice@bücher.de; mail goes to its ASCII form, EmailASCII). An
// address is refused, with an error that says why, when it is not a plain
// addr-spec, is longer than RFC 5321 allows, has a domain IDNA refuses, or
// could pass for another address: a part (the local part, a domain label)
// mixing scripts (UTS #39: Latin beside Cyrillic, say — `аlice` with a
// Cyrillic а), an invisible or compatibility character (ﬁ for fi), or a
// part written wholly in another script that looks like an ASCII one
// (UTS #39's confusables: Cyrillic `асе` for `ace`).
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " <>") {
		return "", errMalformed
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
		return "", errMalformed
	}
	local := norm.NFC.String(strings.ToLower(s[:at]))
	if len(local) > MaxEmailLocal {
		return "", emailError(fmt.Sprintf("has %d bytes before the @; at most %d are allowed (RFC 5321)", len(local), MaxEmailLocal))
	}
	ascii, err := emailDomains.ToASCII(s[at+1:])
	if err != nil || ascii == "" || strings.HasSuffix(ascii, ".") {
		return "", emailError(fmt.Sprintf("has a domain, %q, that is not a valid domain name", s[at+1:]))
	}
	if n := len(local) + 1 + len(ascii); n > MaxEmail {
		return "", emailError(fmt.Sprintf("is %d bytes long; at most %d are allowed (RFC 5321)", n, MaxEmail))
	}
	domain, err := emailDomains.ToUnicode(ascii)
	if err != nil {
		return "", emailError(fmt.Sprintf("has a domain, %q, that is not a valid domain name", s[at+1:]))
	}
	for _, part := range append([]string{local}, strings.Split(domain, ".")...) {
		if why := spoofing(part); why != "" {
			return "", emailError(why)
		}
	}
	return local + "@" + domain, nil
}

// EmailKey is what a lookup by email compares: NormalizeEmail's form of s,
// or s folded when s is no address Roster accepts (it then finds nothing).
func EmailKey(s string) string {
	if e, err := NormalizeEmail(s); err == nil {
		return e
	}
	return Fold(s)
}

// EmailASCII is a normalized address with its domain in ASCII, as SMTP
// carries it.
func EmailASCII(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	ascii, err := emailDomains.ToASCII(email[at+1:])
	if err != nil {
		return email
	}
	return email[:at+1] + ascii
}

// ValidEmail reports whether NormalizeEmail accepts s.
func ValidEmail(s string) bool {
	_, err := NormalizeEmail(s)
	return err == nil
}

// EmailError says why an email address is refused; callers name the
// element in their own error shape.
type EmailError struct {
	// Reason completes "it …": "has 65 bytes before the @; …".
	Reason string
	// Malformed: not an addr-spec at all, for which a vendor's own words
	// ("Enter a valid email address.") say it all.
	Malformed bool
}

func (e *EmailError) Error() string { return "Invalid email address: it " + e.Reason }

var errMalformed = &EmailError{Reason: "is not an address of the form name@domain", Malformed: true}

func emailError(reason string) error { return &EmailError{Reason: reason} }

// EmailProblem is why NormalizeEmail refuses s, nil when it accepts it.
func EmailProblem(s string) *EmailError {
	_, err := NormalizeEmail(s)
	e, _ := err.(*EmailError)
	return e
}

// spoofing says how part of an address (its local part or a domain label)
// could pass for another, or "" when it cannot.
func spoofing(part string) string {
	for _, r := range part {
		if unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			return fmt.Sprintf("holds an invisible character (U+%04X)", r)
		}
	}
	if k := norm.NFKC.String(part); k != part {
		return fmt.Sprintf("writes %q with compatibility characters that read as %q", part, k)
	}
	scripts, ok := singleScript(part)
	if !ok {
		return fmt.Sprintf("mixes %s letters in %q, which a reader cannot tell apart from another address", strings.Join(scripts, " and "), part)
	}
	if len(scripts) > 0 && scripts[0] != "Latin" && !isASCII(part) {
		if sk := confusables.Skeleton(part); isASCII(sk) {
			return fmt.Sprintf("writes %q in %s letters that look like the ASCII %q", part, scripts[0], sk)
		}
	}
	return ""
}

// augmented are the writing systems a script's letters belong to beyond
// their own (UTS #39's augmented script sets): Japanese mixes Han, Hiragana
// and Katakana, Korean Han and Hangul, and Han with Bopomofo is Chinese.
var augmented = map[string][]string{
	"Han": {"Han", "Jpan", "Kore", "Hanb"}, "Hiragana": {"Jpan"}, "Katakana": {"Jpan"},
	"Hangul": {"Kore"}, "Bopomofo": {"Hanb"},
}

// singleScript tells whether s is written in one script (UTS #39's
// resolved script set is not empty: Common and Inherited characters, such
// as digits, dots and combining marks, go with any), and names the scripts
// of its letters in order of appearance.
func singleScript(s string) (scripts []string, ok bool) {
	var resolved []string // nil: every script so far
	for _, r := range s {
		name := scriptOf(r)
		if name == "" {
			continue
		}
		if !slices.Contains(scripts, name) {
			scripts = append(scripts, name)
		}
		set, ok := augmented[name]
		if !ok {
			set = []string{name}
		}
		if resolved == nil {
			resolved = set
			continue
		}
		resolved = slices.DeleteFunc(slices.Clone(resolved), func(x string) bool { return !slices.Contains(set, x) })
		if len(resolved) == 0 {
			return scripts, false
		}
	}
	return scripts, true
}

// scriptOf is r's script, "" for Common, Inherited or none.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if unicode.IsLetter(r) {
			return "Latin"
		}
		return ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
