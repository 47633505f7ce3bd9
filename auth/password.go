package auth

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/rosterhq/roster/resources"
)

// Password length limits in bytes: bcrypt reads at most 72, so longer ones
// are refused rather than silently truncated.
const (
	MinPassword = 8
	MaxPassword = 72
)

// BcryptCost is the bcrypt work factor (tests lower it).
var BcryptCost = 11

// CheckPasswordRules validates a new password; expr names the field.
func CheckPasswordRules(expr, pw string) *resources.Error {
	if len(pw) < MinPassword {
		return resources.Invalid(expr, "Password must be at least %d characters", MinPassword)
	}
	if len(pw) > MaxPassword {
		return resources.Invalid(expr, "Password must be at most %d bytes", MaxPassword)
	}
	return nil
}

// HashPassword hashes pw with bcrypt.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	return string(h), err
}
