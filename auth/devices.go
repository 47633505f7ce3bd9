package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// New-device verification: a project that turns it on has each of its
// members prove, the first time they sign in from a browser or app, that
// they also hold their mailbox. The sign-in is answered "verification
// required" and a 6-digit code is mailed; signing in again with the code
// lets the device in and (unless asked not to) remembers it, so its later
// sign-ins need no code. A device is known by a secret it keeps (a cookie
// the surface sets); only that secret's hash is stored, per user and
// project, with the pending code (hashed, bound to the device), its expiry,
// its wrong tries, when the device was verified and when it was last used.

// ExtLoginVerification is the Project extension that turns new-device
// verification on: valueCode VerifyNewDevices.
const ExtLoginVerification = "https://roster.dev/fhir/StructureDefinition/login-verification"

// VerifyNewDevices is ExtLoginVerification's value asking every new device
// for a mailed code.
const VerifyNewDevices = "new-devices"

// DeviceCookie keeps a browser's device secret for the core sign-in
// (POST /auth/login and /auth/profile).
const DeviceCookie = "roster.device"

// Verification tunes new-device verification.
type Verification struct {
	// CodeTTL is how long a mailed code works.
	CodeTTL time.Duration
	// MaxFailures wrong codes kill a pending code; signing in without one
	// mails a new one.
	MaxFailures int
}

// DefaultVerification is Roster's when none is configured.
var DefaultVerification = Verification{CodeTTL: 10 * time.Minute, MaxFailures: 5}

// LoginDevice is a device a user signs in to a project from.
type LoginDevice = store.LoginDevice

// DeviceStore is the storage new-device verification needs.
type DeviceStore interface {
	// LoginDevice reads the device of (user, project, fingerprint hash); a
	// NotFound error when there is none.
	LoginDevice(ctx context.Context, userID, projectID, fingerprintHash string) (*LoginDevice, error)
	// PutLoginDevice creates the device or, when it exists, replaces its
	// pending code (resetting the failures), its name when given, and —
	// when d.VerifiedAt is set — marks it verified.
	PutLoginDevice(ctx context.Context, d *LoginDevice) error
	// UseLoginDeviceCode consumes device id's pending code if its hash
	// matches, it has not expired at now and has failed fewer than
	// maxFailures times; remember marks the device verified. Of concurrent
	// attempts exactly one wins: it reports whether this one did.
	UseLoginDeviceCode(ctx context.Context, id, codeHash string, now time.Time, maxFailures int, remember bool) (bool, error)
	// FailLoginDeviceCode counts a wrong code against the pending one.
	FailLoginDeviceCode(ctx context.Context, id string) error
	// TouchLoginDevice records a sign-in from the device.
	TouchLoginDevice(ctx context.Context, id string, now time.Time) error
}

// The refusals of a sign-in carrying a verification code. Each is one
// value, so a dialect can tell them apart (errors.Is) and answer in its
// vendor's words.
var (
	ErrNoPendingCode = codeError("invalid", "No verification code is pending for this device: sign in without one to get a code")
	ErrCodeExhausted = codeError("invalid", "Too many wrong codes: sign in without one to get a new code")
	ErrCodeExpired   = codeError("expired", "The verification code has expired: sign in without one to get a new code")
	ErrWrongCode     = codeError("invalid", "Invalid verification code")
)

func codeError(code, msg string) *resources.Error {
	return &resources.Error{Kind: resources.KindInvalid, Code: code, Message: msg,
		Issues: []resources.Issue{{Code: code, Expression: "verificationCode", Message: msg}}}
}

// AliasLoginVerification names another Project extension whose
// valueBoolean true turns new-device verification on, as
// ExtLoginVerification does: for a dialect whose vendor names the setting
// its own way. Call it while the app is wired, before serving.
func (s *Service) AliasLoginVerification(url string) {
	s.verificationAliases = append(s.verificationAliases, url)
}

// VerifiesNewDevices reports whether project p asks its members to verify
// each new device.
func (s *Service) VerifiesNewDevices(p *resources.Project) bool {
	var code string
	if resources.ExtensionValue(p.Extension, ExtLoginVerification, "valueCode", &code) && code == VerifyNewDevices {
		return true
	}
	for _, url := range s.verificationAliases {
		var on bool
		if resources.ExtensionValue(p.Extension, url, "valueBoolean", &on) && on {
			return true
		}
	}
	return false
}

// deviceAttempt is the device part of one sign-in into a project.
type deviceAttempt struct {
	userID  string
	user    *resources.User // read when needed, if nil
	project string
	req     *LoginRequest
}

// checkDevice lets a sign-in into a project that verifies new devices
// through when its device is known, verifies the code it carries, or mails
// a code. It answers nil to let the sign-in go on, a LoginResponse asking
// for the code, or a refusal; a project without verification lets every
// device in.
func (s *Service) checkDevice(ctx context.Context, d deviceAttempt) (*LoginResponse, error) {
	p, _, err := resources.ReadTyped[*resources.Project](resources.AsSystem(ctx, ""), s.res, "Project", d.project)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil, nil
		}
		return nil, err
	}
	if !s.VerifiesNewDevices(p) {
		return nil, nil
	}
	if d.user == nil {
		if d.user, _, err = resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", d.userID); err != nil {
			return nil, err
		}
	}
	ds, ok := s.store.(DeviceStore)
	if !ok || d.req.Device == nil {
		return nil, resources.Unavailable("This project verifies new devices, which this sign-in cannot")
	}
	secret := d.req.Device()
	if secret == "" {
		return nil, resources.Unavailable("This project verifies new devices, which this sign-in cannot")
	}
	v := s.verification()
	now := s.now().UTC()
	fp := HashSecret(secret)
	cur, err := ds.LoginDevice(ctx, d.user.ID, d.project, fp)
	if err != nil {
		if !resources.IsKind(err, resources.KindNotFound) {
			return nil, err
		}
		cur = nil
	}
	name := truncate(strings.TrimSpace(d.req.DeviceName), 100)
	code := strings.TrimSpace(d.req.VerificationCode)
	switch {
	case cur != nil && !cur.VerifiedAt.IsZero():
		return nil, ds.TouchLoginDevice(ctx, cur.ID, now)
	case d.req.TrustDevice:
		return nil, ds.PutLoginDevice(ctx, &LoginDevice{UserID: d.user.ID, ProjectID: d.project, FingerprintHash: fp,
			Name: name, CreatedAt: now, VerifiedAt: now, LastUsedAt: now})
	case code != "":
		return nil, s.useDeviceCode(ctx, ds, d, cur, fp, code, now)
	case cur != nil && cur.CodeHash != "" && now.Before(cur.CodeExpiresAt) && cur.CodeFailures < v.MaxFailures:
		return &LoginResponse{VerificationRequired: true}, nil
	}
	return s.sendDeviceCode(ctx, ds, d, p, fp, name, now)
}

// useDeviceCode verifies a code against the device's pending one and
// consumes it, once.
func (s *Service) useDeviceCode(ctx context.Context, ds DeviceStore, d deviceAttempt, cur *LoginDevice, fp, code string, now time.Time) error {
	v := s.verification()
	refuse := func(e *resources.Error) error {
		s.auditLoginFailure(ctx, d.user.Email, d.project, d.user, e.Message)
		return e
	}
	switch {
	case cur == nil || cur.CodeHash == "":
		return refuse(ErrNoPendingCode)
	case cur.CodeFailures >= v.MaxFailures:
		return refuse(ErrCodeExhausted)
	case !now.Before(cur.CodeExpiresAt):
		return refuse(ErrCodeExpired)
	}
	hash := deviceCodeHash(fp, code)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(cur.CodeHash)) != 1 {
		if err := ds.FailLoginDeviceCode(ctx, cur.ID); err != nil {
			return err
		}
		return refuse(ErrWrongCode)
	}
	remember := d.req.RememberDevice == nil || *d.req.RememberDevice
	won, err := ds.UseLoginDeviceCode(ctx, cur.ID, hash, now, v.MaxFailures, remember)
	if err != nil {
		return err
	}
	if !won {
		// Another sign-in used it first (or it died meanwhile): once only.
		return refuse(ErrWrongCode)
	}
	return nil
}

// sendDeviceCode gives the device a new pending code (the older one dies)
// and mails it to the user, in one transaction.
func (s *Service) sendDeviceCode(ctx context.Context, ds DeviceStore, d deviceAttempt, p *resources.Project, fp, name string, now time.Time) (*LoginResponse, error) {
	v := s.verification()
	code, err := sixDigits()
	if err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := ds.PutLoginDevice(ctx, &LoginDevice{UserID: d.user.ID, ProjectID: d.project, FingerprintHash: fp,
			Name: name, CodeHash: deviceCodeHash(fp, code), CodeExpiresAt: now.Add(v.CodeTTL), CreatedAt: now}); err != nil {
			return err
		}
		if s.Mail == nil {
			return nil
		}
		org := p.Name
		if org == "" {
			org = "Roster"
		}
		where := ""
		if name != "" {
			where = " (" + name + ")"
		}
		return s.Mail.Enqueue(ctx, mail.Message{Kind: "login-verification", ProjectID: d.project, To: d.user.Email,
			Subject: "Your " + org + " verification code",
			Text: fmt.Sprintf("Your %s verification code is %s. It expires in %s.\n\n"+
				"Someone signed in to your account from a new device%s. Enter this code to let it in.\n"+
				"If it was not you, change your password now.\n", org, code, waitText(int(v.CodeTTL.Seconds())), where)})
	})
	if err != nil {
		return nil, err
	}
	return &LoginResponse{VerificationRequired: true, VerificationSent: true}, nil
}

func (s *Service) verification() Verification {
	v := s.Verification
	if v.CodeTTL <= 0 {
		v.CodeTTL = DefaultVerification.CodeTTL
	}
	if v.MaxFailures <= 0 {
		v.MaxFailures = DefaultVerification.MaxFailures
	}
	return v
}

// deviceCodeHash binds a code to its device: the same code typed on
// another device matches nothing.
func deviceCodeHash(fingerprintHash, code string) string {
	return HashSecret(fingerprintHash + ":" + code)
}

// sixDigits is a uniformly random 6-digit code.
func sixDigits() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// DeviceSecret is the device secret a request carries in the cookie name,
// or — when it carries none (or not one of ours) — a new one, set in that
// cookie (HttpOnly, a year, on path) for the device to keep.
func DeviceSecret(c echo.Context, name, path string, secure bool) string {
	if ck, err := c.Cookie(name); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 128 {
		return ck.Value
	}
	secret := Secret()
	c.SetCookie(&http.Cookie{Name: name, Value: secret, Path: path, MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	return secret
}
