package auth

import (
	"strings"
	"sync"
	"unicode"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
	"golang.org/x/crypto/bcrypt"

	"github.com/rosterhq/roster/resources"
)

// Password length limits in bytes: bcrypt reads at most 72, so longer ones
// are refused rather than silently truncated.
const (
	MinPassword = 8
	MaxPassword = 72
)

// MinPasswordScore is the least zxcvbn score (0 to 4) a new password needs:
// 3 is "safely unguessable: moderate protection from an offline attack".
const MinPasswordScore = 3

// BcryptCost is the bcrypt work factor (tests lower it).
var BcryptCost = 11

// CheckPasswordRules validates a new password; expr names the field.
// userInputs are facts about the account (email, names) that a password must
// not lean on: zxcvbn counts a password built from them as easy to guess.
// Every place a password is set goes through here, so the rules are one.
func CheckPasswordRules(expr, pw string, userInputs ...string) *resources.Error {
	if len(pw) < MinPassword {
		return resources.Invalid(expr, "Password must be at least %d characters", MinPassword)
	}
	if len(pw) > MaxPassword {
		return resources.Invalid(expr, "Password must be at most %d bytes", MaxPassword)
	}
	r := zxcvbn.PasswordStrength(pw, passwordInputs(userInputs))
	if r.Score < MinPasswordScore {
		// The message explains the weakness; it never repeats the password.
		return resources.Invalid(expr, "Password is too easy to guess: %s Use a longer passphrase of several unrelated words, or add more characters of different kinds.", weakness(r.Sequence))
	}
	return nil
}

// passwordInputs splits the account's facts into the pieces a password might
// reuse: a whole email, its local part, and the words of names and of the
// local part.
func passwordInputs(in []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if len(s) >= 3 && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range in {
		add(s)
		local, _, _ := strings.Cut(s, "@")
		add(local)
		for _, w := range strings.FieldsFunc(local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			add(w)
		}
	}
	return out
}

// weakness says, as zxcvbn's own feedback does, what makes a password easy to
// guess: the longest recognisable piece of it decides.
func weakness(seq []*match.Match) string {
	var worst *match.Match
	for _, m := range seq {
		if m.Pattern == "bruteforce" {
			continue
		}
		if worst == nil || len(m.Token) > len(worst.Token) {
			worst = m
		}
	}
	if worst == nil {
		return "it is too short or too simple."
	}
	switch worst.Pattern {
	case "dictionary":
		switch {
		case worst.DictionaryName == "user_inputs":
			return "it contains your name or email address."
		case worst.DictionaryName == "passwords":
			return "it is, or is close to, a commonly used password."
		case strings.HasSuffix(worst.DictionaryName, "names"):
			return "names and surnames are easy to guess."
		}
		if worst.L33t || worst.Reversed {
			return "common words stay easy to guess with letters swapped for symbols or reversed."
		}
		return "it is built on a common word or phrase."
	case "spatial":
		return "keyboard patterns like qwerty or zxcvbn are easy to guess."
	case "repeat":
		return "repeated characters or words are easy to guess."
	case "sequence":
		return "sequences like abc or 6789 are easy to guess."
	case "regex", "date":
		return "dates and years are easy to guess."
	}
	return "it is too predictable."
}

// HashPassword hashes pw with bcrypt.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	return string(h), err
}

// A NewPassword is a password to be set whose bcrypt hash, the slow part,
// can be started ahead of need (Start) so it runs beside other work.
type NewPassword struct {
	clear string
	once  sync.Once
	hash  string
	err   error
}

// PasswordToSet wraps pw; nothing is hashed yet.
func PasswordToSet(pw string) *NewPassword { return &NewPassword{clear: pw} }

// Start begins hashing on another goroutine.
func (p *NewPassword) Start() { go p.Hash() }

// Hash returns the bcrypt hash, waiting for a started one or making it now.
func (p *NewPassword) Hash() (string, error) {
	p.once.Do(func() { p.hash, p.err = HashPassword(p.clear) })
	return p.hash, p.err
}
