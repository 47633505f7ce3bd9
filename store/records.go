package store

import "time"

// The records below are the rows store fills for the packages above it.
// They live here, not in their consumers, so that store depends on nothing
// but resources; each consumer declares the small interface it needs in
// terms of them.

// Login is one sign-in: the grant behind an authorization code, its access
// tokens and its refresh token.
type Login struct {
	ID            string
	UserID        string // User id, or ClientApplication id for client logins
	ClientID      string
	MembershipID  string
	ProjectID     string
	CodeHash      string
	CodeChallenge string
	CodeMethod    string
	RefreshHash   string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time
	RemoteAddr    string
	UserAgent     string
	// What an OpenID Connect authorization request asked for ("" for a
	// login of /auth/login): the scope granted, the nonce and redirect URI.
	Scope, Nonce, RedirectURI string
}

// Session is what a request's login resolves to right now.
type Session struct {
	Login      Login
	Membership []byte // ProjectMembership JSON; nil when missing or deleted, or unchanged (see Known)
	User       []byte // User JSON (nil for client logins, or unchanged)
	// The versions read (0: missing or deleted).
	MembershipVersion, UserVersion int64
}

// UserLive reports whether the login's User still exists. A client's login
// acts as the client itself (its user id is the client's), with no User
// row; a person's login ends with its User.
func (s *Session) UserLive() bool {
	return s.UserVersion != 0 || s.Login.UserID == s.Login.ClientID
}

// Known names the membership and user versions a caller already holds
// decoded: CurrentSession leaves out their content when they are still the
// current ones.
type Known struct {
	MembershipID      string
	MembershipVersion int64
	UserID            string
	UserVersion       int64
}

// SigningKey is one JWT signing key.
type SigningKey struct {
	KID        string
	Alg        string
	PrivatePEM string
	CreatedAt  time.Time
	RetiredAt  time.Time
}

// Link is a one-time link (its secret is only ever stored hashed).
type Link struct {
	ID         string
	Kind       string
	UserID     string
	ProjectID  string
	SecretHash string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
	RevokedAt  time.Time
	Failures   int
	Data       string
}

// ThrottleCount is one key's count in its open window.
type ThrottleCount struct {
	Hits  int
	Until time.Time
}

// Delivery states of an outbox message.
const (
	MailPending = "pending" // waiting for (another) attempt
	MailSent    = "sent"
	MailFailed  = "failed" // gave up after the sender's most attempts
	MailLogged  = "logged" // no SMTP configured: recorded and logged only
)

// Mail is one outgoing email in the outbox.
type Mail struct {
	ID            string
	ProjectID     string
	Kind          string // e.g. "invite", "welcome", "reset"
	To            string
	Subject       string
	Text          string
	HTML          string
	Status        string
	Attempts      int
	LastError     string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	SentAt        time.Time
	// LockedUntil is the lease of the sender working on the message.
	LockedUntil time.Time
}

// LoginDevice is a browser or app a user signs in to a project from, in a
// project that verifies new devices: known by a secret the device keeps (a
// cookie; only its hash is kept). It is verified once a code mailed to the
// user came back from it; until then it may hold one pending code (hashed,
// bound to the device).
type LoginDevice struct {
	ID              string
	UserID          string
	ProjectID       string
	FingerprintHash string
	Name            string
	CodeHash        string
	CodeExpiresAt   time.Time
	CodeFailures    int
	VerifiedAt      time.Time
	CreatedAt       time.Time
	LastUsedAt      time.Time
}

// Stored states of an invitation. "expired" is never stored: it is a
// pending invitation past its ExpiresAt, judged by the reader's clock.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
	InvitationExpired  = "expired" // a query's status only
)

// Invitation is the core's record of an invite that created a membership:
// whom it invited, how often it was mailed, its current one-time link
// (LinkID, "" for none) and whether it was accepted or revoked.
type Invitation struct {
	ID           string
	ProjectID    string
	MembershipID string
	UserID       string
	Email        string // folded; "" for an invite by externalId alone
	Kind         string // what a resend sends (admin's invitation kinds)
	Status       string // InvitationPending, InvitationAccepted or InvitationRevoked
	InvitedBy    string // the inviter's profile, "Practitioner/…" ("" for Roster itself)
	LinkID       string
	SentCount    int
	CreatedAt    time.Time
	ExpiresAt    time.Time
	AcceptedAt   time.Time
	RevokedAt    time.Time
	LastSentAt   time.Time
}

// InvitationQuery selects a page of a project's invitations, newest first.
type InvitationQuery struct {
	ProjectID string
	Status    string // "" for all, else a stored state or InvitationExpired
	Email     string // "" for all, else exactly this (folded) email
	// MembershipID is "" for all, else this membership's only.
	MembershipID string
	OldestFirst  bool      // oldest first instead of newest
	Now          time.Time // what "expired" is judged against
	Limit        int
	Offset       int
}

// MemberEntry is what the member directory keeps of a membership (besides
// its user's email, which it reads from the User, and its last sign-in).
type MemberEntry struct {
	MembershipID string
	ProjectID    string
	UserRef      string // "User/…" or "ClientApplication/…"
	Name         string // the profile's display
	Active       bool
	LastUpdated  time.Time
}

// MemberQuery selects a page of a project's member directory.
type MemberQuery struct {
	ProjectID string
	Text      string // "" for all, else found (case-insensitively) in the name or the email
	Active    *bool  // nil for all
	// Invitation is "" for all, else the status of the membership's newest
	// invitation (a stored state or InvitationExpired).
	Invitation string
	Now        time.Time // what "expired" is judged against
	Sort       string    // a MemberSort… order ("" is MemberSortRecent)
	Desc       bool
	Limit      int
	Offset     int
}

// MemberListing is one membership of a page of the member directory.
type MemberListing struct {
	MembershipID string
	Email        string    // folded; "" for none
	LastSignIn   time.Time // zero: never
	// The membership's newest invitation ("" for none): its id, stored
	// status (InvitationPending, …) and expiry.
	InvitationID, InvitationStatus string
	InvitationExpires              time.Time
}
