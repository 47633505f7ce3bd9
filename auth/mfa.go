package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

// Second factors, as Medplum's routes: a user reads GET /auth/mfa/status,
// which holds a pending TOTP secret (otpauth:// URI and QR code) until the
// first code from the authenticator enrolls it (POST /auth/mfa/enroll);
// from then on a password sign-in is held ({login, mfaRequired}) until a
// code is given (POST /auth/mfa/verify), and POST /auth/mfa/disable takes a
// code too. Enrollment hands out ten single-use recovery codes, kept
// hashed, each good once in place of a code. A code is accepted once: the
// last time step used is kept per user. Wrong codes count against the
// user and the client address like wrong passwords. A Project's (or a
// User's, as Medplum) mfaRequired makes its members enroll at their next
// sign-in: the login is held ({login, mfaEnrollRequired, enrollUri,
// enrollQrCode}) until POST /auth/mfa/login-enroll. A project admin can
// reset a member's second factor (admin). The secret is sealed at rest
// (mfa_seal.go).

// The records second factors keep (package store fills them).
type (
	MFA             = store.MFA
	MFARecoveryCode = store.MFARecoveryCode
)

// MFAStore is the storage second factors need.
type MFAStore interface {
	// MFA reads a user's second factor; NotFound when there is none.
	MFA(ctx context.Context, userID string) (*MFA, error)
	// AddMFASecret stores a pending secret unless the user has one, and
	// answers the one the user has.
	AddMFASecret(ctx context.Context, m *MFA) (*MFA, error)
	// EnrollMFA enrolls the pending secret (its first code matched step)
	// with these recovery code hashes; false when another request did.
	EnrollMFA(ctx context.Context, userID string, step int64, now time.Time, codeHashes []string) (bool, error)
	// UseMFAStep records a code of step accepted; false when a code of
	// that step or a later one already was.
	UseMFAStep(ctx context.Context, userID string, step int64) (bool, error)
	// UseMFARecoveryCode spends an unused recovery code; false when used.
	UseMFARecoveryCode(ctx context.Context, userID, codeHash string, now time.Time) (bool, error)
	MFARecoveryCodes(ctx context.Context, userID string) ([]MFARecoveryCode, error)
	// DeleteMFA forgets the secret and codes; true when one was enrolled.
	DeleteMFA(ctx context.Context, userID string) (bool, error)
	// HoldLoginForMFA marks a login waiting for its second factor
	// (purging holds older than before).
	HoldLoginForMFA(ctx context.Context, loginID string, now, before time.Time) error
	LoginHeldForMFA(ctx context.Context, loginID string) (bool, error)
	// ReleaseLoginForMFA ends the wait, once; false when it was not held.
	ReleaseLoginForMFA(ctx context.Context, loginID string) (bool, error)
}

// TOTP as every authenticator app reads it: RFC 6238 with SHA-1, six
// digits, a 30-second step, and one step of clock drift either way.
const (
	mfaIssuer = "Roster"
	mfaPeriod = 30
	mfaSkew   = 1
)

var mfaOpts = totp.ValidateOpts{Period: mfaPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// RecoveryCodeCount recovery codes are handed out at each enrollment.
const RecoveryCodeCount = 10

// throttleMFA counts wrong codes per user and client address.
const throttleMFA = "mfa"

// The refusals of the MFA routes: 400s naming the field, in Medplum's words
// where Medplum has some.
var (
	errMFATokenMissing = &resources.Error{Kind: resources.KindInvalid, Code: "required", Message: "Missing token", Issues: []resources.Issue{{Code: "required", Expression: "token", Message: "Missing token"}}}
	errMFATokenFormat  = resources.Invalid("token", "token must be the 6-digit code of the authenticator app or a recovery code")
	errMFACodeFormat   = resources.Invalid("token", "token must be the 6-digit code of the authenticator app")
	errMFAInvalidToken = resources.Invalid("token", "Invalid token")
	errMFATokenUsed    = resources.Invalid("token", "This code has already been used: wait for the next one")
	errMFANotEnrolled  = resources.Invalid("token", "User not enrolled in MFA")
	errMFAEnrolled     = resources.Invalid("token", "Already enrolled")
	errMFANoSecret     = resources.Invalid("token", "Secret not found: read GET /auth/mfa/status first")
	errMFARequired     = resources.Invalid("token", "Cannot disable MFA because MFA is required")
	errMFAClient       = resources.Forbidden("Clients have no second factor")
	errMFAUnsupported  = resources.Unavailable("MFA unsupported")
	errMFALoginNotHeld = resources.Invalid("login", "Login not found or not waiting for a second factor")
	errMFALoginExpired = resources.Invalid("login", "Login expired: sign in again")
	errMFALoginMissing = &resources.Error{Kind: resources.KindInvalid, Code: "required", Message: "Missing login", Issues: []resources.Issue{{Code: "required", Expression: "login", Message: "Missing login"}}}
)

// MFAStatus is the answer of GET /auth/mfa/status (Medplum's fields). The
// pending secret's URI and QR code are there only until enrollment: an
// enrolled secret is never shown again.
type MFAStatus struct {
	Enrolled          bool     `json:"enrolled"`
	EnrolledMethods   []string `json:"enrolledMethods"`
	AllowedMethods    []string `json:"allowedMethods"`
	MFARequired       bool     `json:"mfaRequired"`
	Email             string   `json:"email,omitempty"`
	RecoveryCodesLeft *int     `json:"recoveryCodesLeft,omitempty"`
	EnrollURI         string   `json:"enrollUri,omitempty"`
	EnrollQRCode      string   `json:"enrollQrCode,omitempty"`
}

// MFAEnrolled is the answer of POST /auth/mfa/enroll: the recovery codes,
// shown this once.
type MFAEnrolled struct {
	Enrolled      bool     `json:"enrolled"`
	RecoveryCodes []string `json:"recoveryCodes"`
}

func (s *Service) mfaStore() (MFAStore, error) {
	ms, ok := s.store.(MFAStore)
	if !ok {
		return nil, errMFAUnsupported
	}
	return ms, nil
}

// mfaOf reads userID's second factor: nil when it has none.
func mfaOf(ctx context.Context, ms MFAStore, userID string) (*MFA, error) {
	rec, err := ms.MFA(ctx, userID)
	if resources.IsKind(err, resources.KindNotFound) {
		return nil, nil
	}
	return rec, err
}

func enrolled(rec *MFA) bool { return rec != nil && !rec.EnrolledAt.IsZero() }

// MFAEnrolled reports whether userID has an enrolled second factor.
func (s *Service) MFAEnrolled(ctx context.Context, userID string) (bool, error) {
	ms, err := s.mfaStore()
	if err != nil {
		return false, err
	}
	rec, err := mfaOf(ctx, ms, userID)
	return enrolled(rec), err
}

// callerUser is the User a caller acts as; a client has none.
func (s *Service) callerUser(ctx context.Context, c *resources.Caller) (*resources.User, error) {
	if c == nil || c.UserID == "" {
		return nil, ErrUnauthenticated
	}
	if c.ClientID != "" && c.ClientID == c.UserID {
		return nil, errMFAClient
	}
	u, _, err := resources.ReadTyped[*resources.User](resources.AsSystem(ctx, ""), s.res, "User", c.UserID)
	return u, err
}

// mfaCaller is the storage of second factors and the User the caller acts
// as (a client has none).
func (s *Service) mfaCaller(ctx context.Context, c *resources.Caller) (MFAStore, *resources.User, error) {
	ms, err := s.mfaStore()
	if err != nil {
		return nil, nil, err
	}
	user, err := s.callerUser(ctx, c)
	return ms, user, err
}

// mustHaveMFA reports whether user must have a second factor, through
// itself or any project it is an active member of.
func (s *Service) mustHaveMFA(ctx context.Context, user *resources.User) (bool, error) {
	mems, err := s.Memberships(ctx, "User/"+user.ID)
	if err != nil {
		return false, err
	}
	return s.mfaRequired(ctx, user, mems)
}

// mfaRequired reports whether user must have a second factor: its own
// mfaRequired (Medplum's), or that of the Project of any of mems.
func (s *Service) mfaRequired(ctx context.Context, user *resources.User, mems []*resources.ProjectMembership) (bool, error) {
	if user.MfaRequired != nil && *user.MfaRequired {
		return true, nil
	}
	seen := map[string]bool{}
	for _, m := range mems {
		id := strings.TrimPrefix(m.Project.Reference, "Project/")
		if seen[id] {
			continue
		}
		seen[id] = true
		p, _, err := resources.ReadTyped[*resources.Project](resources.AsSystem(ctx, ""), s.res, "Project", id)
		if err != nil {
			if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
				continue
			}
			return false, err
		}
		if p.MFARequired() {
			return true, nil
		}
	}
	return false, nil
}

// MFAStatus answers GET /auth/mfa/status for the caller, giving a user
// without a secret a pending one.
func (s *Service) MFAStatus(ctx context.Context, c *resources.Caller) (*MFAStatus, error) {
	ms, user, err := s.mfaCaller(ctx, c)
	if err != nil {
		return nil, err
	}
	required, err := s.mustHaveMFA(ctx, user)
	if err != nil {
		return nil, err
	}
	out := &MFAStatus{EnrolledMethods: []string{}, AllowedMethods: []string{"totp"}, MFARequired: required, Email: user.Email}
	rec, err := mfaOf(ctx, ms, user.ID)
	if err != nil {
		return nil, err
	}
	if enrolled(rec) {
		codes, err := ms.MFARecoveryCodes(ctx, user.ID)
		if err != nil {
			return nil, err
		}
		left := 0
		for _, code := range codes {
			if code.UsedAt.IsZero() {
				left++
			}
		}
		out.Enrolled, out.EnrolledMethods, out.RecoveryCodesLeft = true, []string{"totp"}, &left
		return out, nil
	}
	out.EnrollURI, out.EnrollQRCode, err = s.pendingSecret(ctx, ms, user)
	return out, err
}

// pendingSecret gives user a pending secret unless it has one, and answers
// its otpauth:// URI and that URI as a QR code (a PNG data URL).
func (s *Service) pendingSecret(ctx context.Context, ms MFAStore, user *resources.User) (uri, qr string, err error) {
	rec, err := mfaOf(ctx, ms, user.ID)
	if err != nil {
		return "", "", err
	}
	if rec == nil {
		secret := make([]byte, 20)
		if _, err := rand.Read(secret); err != nil {
			return "", "", err
		}
		sealed, err := s.keys.sealSecret(ctx, user.ID, secret)
		if err != nil {
			return "", "", err
		}
		if rec, err = ms.AddMFASecret(ctx, &MFA{UserID: user.ID, Sealed: sealed, CreatedAt: s.now().UTC()}); err != nil {
			return "", "", err
		}
	}
	secret, err := s.keys.openSecret(ctx, user.ID, rec.Sealed)
	if err != nil {
		return "", "", err
	}
	account := user.Email
	if account == "" {
		account = user.ID
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: mfaIssuer, AccountName: account, Period: mfaPeriod,
		Secret: secret, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	qr, err = qrCode(key)
	return key.URL(), qr, err
}

// qrCode is key's otpauth:// URI as a QR code: a PNG data URL.
func qrCode(key *otp.Key) (string, error) {
	img, err := key.Image(256, 256)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// EnrollMFA enrolls the caller's pending secret with the first code its
// authenticator shows, and answers the recovery codes.
func (s *Service) EnrollMFA(ctx context.Context, c *resources.Caller, token string) (*MFAEnrolled, error) {
	ms, user, err := s.mfaCaller(ctx, c)
	if err != nil {
		return nil, err
	}
	p, att, err := s.checkEnrollment(ctx, ms, user.ID, token)
	if err != nil {
		return nil, err
	}
	var codes []string
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		codes, err = s.enroll(ctx, ms, p, nil)
		return err
	})
	att.settle(ctx, err)
	if err != nil {
		return nil, err
	}
	return &MFAEnrolled{Enrolled: true, RecoveryCodes: codes}, nil
}

// checkEnrollment checks the first code of userID's pending secret.
func (s *Service) checkEnrollment(ctx context.Context, ms MFAStore, userID, token string) (*mfaProof, *attempt, error) {
	rec, err := mfaOf(ctx, ms, userID)
	switch {
	case err != nil:
		return nil, nil, err
	case enrolled(rec):
		return nil, nil, errMFAEnrolled
	case rec == nil:
		return nil, nil, errMFANoSecret
	}
	return s.checkMFA(ctx, ms, rec, token, false)
}

// enroll enrolls p's secret in the context's transaction: recovery codes,
// User.mfaEnrolled (the Medplum element, kept as a mirror) and the audit
// record (agent: the context's caller, else a). It answers the codes.
func (s *Service) enroll(ctx context.Context, ms MFAStore, p *mfaProof, a *audit.Agent) ([]string, error) {
	codes, hashes := newRecoveryCodes(p.userID)
	won, err := ms.EnrollMFA(ctx, p.userID, p.step, s.now().UTC(), hashes)
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, errMFAEnrolled
	}
	if err := s.mirrorMFA(ctx, p.userID, true); err != nil {
		return nil, err
	}
	return codes, s.auditUser(ctx, audit.Event{Act: audit.MFAEnroll, Agent: a}, p.userID)
}

// DisableMFA removes the caller's second factor, given one of its codes
// (or a recovery code). A user who must have one cannot.
func (s *Service) DisableMFA(ctx context.Context, c *resources.Caller, token string) error {
	ms, user, err := s.mfaCaller(ctx, c)
	if err != nil {
		return err
	}
	rec, err := mfaOf(ctx, ms, user.ID)
	if err != nil {
		return err
	}
	if !enrolled(rec) {
		return errMFANotEnrolled
	}
	required, err := s.mustHaveMFA(ctx, user)
	if err != nil {
		return err
	}
	if required {
		return errMFARequired
	}
	p, att, err := s.checkMFA(ctx, ms, rec, token, true)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.spend(ctx, ms, p); err != nil {
			return err
		}
		return s.forgetMFA(ctx, ms, user.ID, audit.Event{Act: audit.MFADisable})
	})
	att.settle(ctx, err)
	return err
}

// ResetMFA removes a member's second factor for a project admin (who is
// the context's caller, and checked by the admin use case): no code is
// asked, the user is mailed, and the act is filed in projectID. A user
// without one is a 400, as Medplum answers.
func (s *Service) ResetMFA(ctx context.Context, projectID, membershipID string, user *resources.User) error {
	ms, err := s.mfaStore()
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		m := audit.Ref("ProjectMembership/" + membershipID)
		if err := s.forgetMFA(ctx, ms, user.ID, audit.Event{Act: audit.MFAReset, Project: projectID, Entities: []audit.Entity{m}}); err != nil {
			return err
		}
		if s.Mail == nil || user.Email == "" {
			return nil
		}
		return s.Mail.Enqueue(ctx, mail.Message{Kind: "mfa-reset", ProjectID: projectID, To: user.Email,
			Subject: "Your two-step sign-in was reset",
			Text: "An administrator of your project reset the two-step sign-in of your account: your authenticator app " +
				"and recovery codes no longer work.\n\nIf your project requires two-step sign-in, you will set it up again " +
				"at your next sign-in.\nIf you did not ask for this, tell your administrator.\n"})
	})
}

// forgetMFA deletes userID's enrolled second factor (a 400 when there is
// none), clears the mirror and records e, in the context's transaction.
func (s *Service) forgetMFA(ctx context.Context, ms MFAStore, userID string, e audit.Event) error {
	removed, err := ms.DeleteMFA(ctx, userID)
	if err != nil {
		return err
	}
	if !removed {
		return errMFANotEnrolled
	}
	if err := s.mirrorMFA(ctx, userID, false); err != nil {
		return err
	}
	return s.auditUser(ctx, e, userID)
}

// mirrorMFA writes User.mfaEnrolled, which Medplum's clients read; the
// mfa tables, not it, are what sign-ins go by.
func (s *Service) mirrorMFA(ctx context.Context, userID string, on bool) error {
	patch := `[{"op":"add","path":"/mfaEnrolled","value":false}]`
	if on {
		patch = `[{"op":"add","path":"/mfaEnrolled","value":true}]`
	}
	_, err := s.res.Patch(resources.AsSystem(ctx, ""), "User", userID, []byte(patch), "")
	return err
}

// mfaProof is a second factor checked against a user's secret or recovery
// codes, to be spent in the transaction of the act it allows.
type mfaProof struct {
	userID   string
	step     int64  // the time step a code matched
	recovery string // or: the hash of the recovery code given
}

// checkMFA checks token — a code of rec's secret or, when recovery is
// allowed, one of the user's unused recovery codes — without spending it.
// Wrong codes and codes already used are counted (throttleMFA); the
// attempt is settled once the proof is spent.
func (s *Service) checkMFA(ctx context.Context, ms MFAStore, rec *MFA, token string, recovery bool) (*mfaProof, *attempt, error) {
	kind, norm := tokenKind(token)
	switch {
	case kind == "":
		return nil, nil, errMFATokenMissing
	case kind == "recovery" && !recovery, kind == "malformed" && !recovery:
		return nil, nil, errMFACodeFormat
	case kind == "malformed":
		return nil, nil, errMFATokenFormat
	}
	att, err := s.beginAttempt(ctx, throttleMFA, rec.UserID, audit.Address(ctx))
	if err != nil {
		return nil, nil, err
	}
	p := &mfaProof{userID: rec.UserID}
	if kind == "recovery" {
		p.recovery = recoveryHash(rec.UserID, norm)
		codes, err := ms.MFARecoveryCodes(ctx, rec.UserID)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range codes {
			if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(p.recovery)) == 1 {
				if !c.UsedAt.IsZero() {
					att.fail(ctx)
					return nil, nil, errMFATokenUsed
				}
				return p, att, nil
			}
		}
		att.fail(ctx)
		return nil, nil, errMFAInvalidToken
	}
	secret, err := s.keys.openSecret(ctx, rec.UserID, rec.Sealed)
	if err != nil {
		return nil, nil, err
	}
	step, ok := matchTOTP(secret, norm, s.now())
	switch {
	case !ok:
		att.fail(ctx)
		return nil, nil, errMFAInvalidToken
	case step <= rec.LastStep:
		att.fail(ctx)
		return nil, nil, errMFATokenUsed
	}
	p.step = step
	return p, att, nil
}

// spend uses a checked proof once, in the context's transaction: another
// request that spent it first makes this one a replay.
func (s *Service) spend(ctx context.Context, ms MFAStore, p *mfaProof) error {
	var won bool
	var err error
	if p.recovery != "" {
		won, err = ms.UseMFARecoveryCode(ctx, p.userID, p.recovery, s.now().UTC())
	} else {
		won, err = ms.UseMFAStep(ctx, p.userID, p.step)
	}
	if err != nil {
		return err
	}
	if !won {
		return errMFATokenUsed
	}
	return nil
}

// settle ends an attempt whose proof was spent (err nil) or lost to a
// replay; other errors say nothing of the code.
func (a *attempt) settle(ctx context.Context, err error) {
	switch {
	case err == nil:
		a.succeed(ctx)
	case err == errMFATokenUsed:
		a.fail(ctx)
	}
}

// tokenKind classifies what was typed: "" (nothing), "totp" (six digits),
// "recovery" (a recovery code, any case, dashes and spaces optional) or
// "malformed"; norm is the token without spaces and dashes, upper-cased.
func tokenKind(token string) (kind, norm string) {
	norm = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(token)))
	switch {
	case norm == "":
		return "", ""
	case len(norm) == 6 && strings.Trim(norm, "0123456789") == "":
		return "totp", norm
	case len(norm) == 16 && strings.Trim(norm, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "":
		return "recovery", norm
	}
	return "malformed", norm
}

// matchTOTP finds the time step around now whose code secret gives is
// code; every step in the window is computed, match or not.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	cur := now.Unix() / mfaPeriod
	var found int64
	for d := int64(-mfaSkew); d <= mfaSkew; d++ {
		want, err := totp.GenerateCodeCustom(b32, time.Unix((cur+d)*mfaPeriod, 0), mfaOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = cur + d
		}
	}
	return found, found != 0
}

// newRecoveryCodes makes RecoveryCodeCount codes of 80 random bits (16
// base32 characters, shown in groups of four) and their hashes.
func newRecoveryCodes(userID string) (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		c := base32.StdEncoding.EncodeToString(b)
		codes = append(codes, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		hashes = append(hashes, recoveryHash(userID, c))
	}
	return codes, hashes
}

// recoveryHash is what a recovery code is kept as: bound to its user.
func recoveryHash(userID, norm string) string {
	return HashSecret("mfa-recovery:" + userID + ":" + norm)
}
