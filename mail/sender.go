package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/rosterhq/roster/resources"
)

// SenderStore is the storage the sender needs.
type SenderStore interface {
	// ClaimMail leases the oldest due pending message until leaseUntil and
	// counts one attempt; it returns nil when nothing is due. Concurrent
	// claimers (other goroutines or other Roster processes) never get the
	// same message while its lease runs.
	ClaimMail(ctx context.Context, now, leaseUntil time.Time) (*Message, error)
	// FinishMail records the outcome of an attempt — Status, Attempts,
	// LastError, NextAttemptAt, SentAt — and releases the lease.
	FinishMail(ctx context.Context, m *Message) error
}

// Options tune the sender. Zero fields take the defaults below.
type Options struct {
	// PollInterval is how often the sender looks for due mail when nothing
	// nudges it (default 5s). Enqueue nudges the sender of its own process.
	PollInterval time.Duration
	// MaxAttempts is how many delivery attempts a message gets before it is
	// marked failed (default 10).
	MaxAttempts int
	// RetryBase is the delay after the first failed attempt; it doubles with
	// each attempt (with jitter) up to RetryMax (defaults 30s and 1h).
	RetryBase time.Duration
	RetryMax  time.Duration
	// Lease is how long a claimed message is reserved for its sender; a
	// sender that dies leaves it to be retried when the lease ends
	// (default 2m, at least twice SendTimeout).
	Lease time.Duration
	// SendTimeout bounds one SMTP conversation (default 30s).
	SendTimeout time.Duration
	// From is the sender address (default "Roster <noreply@{app host}>").
	From string
	// Disabled keeps this process from sending: another process delivers
	// the shared outbox.
	Disabled bool
}

// OptionsFromEnv reads the sender options from ROSTER_MAIL_* variables.
func OptionsFromEnv() Options {
	o := Options{From: os.Getenv("ROSTER_MAIL_FROM"), Disabled: strings.EqualFold(os.Getenv("ROSTER_MAIL_SENDER"), "off")}
	o.PollInterval = envDuration("ROSTER_MAIL_POLL_INTERVAL")
	o.RetryBase = envDuration("ROSTER_MAIL_RETRY_BASE")
	o.RetryMax = envDuration("ROSTER_MAIL_RETRY_MAX")
	o.Lease = envDuration("ROSTER_MAIL_LEASE")
	o.SendTimeout = envDuration("ROSTER_MAIL_SEND_TIMEOUT")
	if n, err := strconv.Atoi(os.Getenv("ROSTER_MAIL_MAX_ATTEMPTS")); err == nil && n > 0 {
		o.MaxAttempts = n
	}
	return o
}

func envDuration(key string) time.Duration {
	d, err := time.ParseDuration(os.Getenv(key))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// ForApp fills in the default From address from the application URL's host.
func (o Options) ForApp(appURL string) Options {
	if o.From == "" {
		host := "localhost"
		if u, err := url.Parse(appURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		o.From = "Roster <noreply@" + host + ">"
	}
	return o
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 30 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Hour
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = o.RetryBase
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	// A lease shorter than a send would let a second sender start the same
	// message while the first is still talking to the server.
	if o.Lease < 2*o.SendTimeout {
		o.Lease = 2 * o.SendTimeout
	}
	if o.From == "" {
		o.From = "Roster <noreply@localhost>"
	}
	return o
}

// Sender delivers the outbox in the background: it claims due messages with
// a lease, sends them over SMTP and records the outcome, retrying failures
// with exponential backoff and jitter. With no SMTP URL it marks messages
// logged and writes one log line each (never the body: it holds secret links).
type Sender struct {
	store  SenderStore
	outbox *Outbox
	opts   Options
	log    *slog.Logger
	smtp   *smtpTransport // nil: log only
	from   *netmail.Address
	now    func() time.Time

	// Meter, when set, counts delivery attempts for the operator's metrics.
	Meter Meter
}

// Meter counts the sender's delivery attempts for the metrics (package
// telemetry), by result: DeliverySent, DeliveryRetry or DeliveryFailed.
type Meter interface {
	Delivery(result string)
}

// Results of a delivery attempt, as Meter counts them.
const (
	DeliverySent   = "sent"   // the SMTP server took the message
	DeliveryRetry  = "retry"  // it failed and will be tried again
	DeliveryFailed = "failed" // it failed for good (permanently, or out of attempts)
)

// count tells the Meter, if any, of an attempt's result.
func (s *Sender) count(result string) {
	if s.Meter != nil {
		s.Meter.Delivery(result)
	}
}

// NewSender returns a sender over store, woken by outbox's Enqueue (outbox
// may be nil). smtpURL is ROSTER_SMTP_URL; empty means log only.
func NewSender(store SenderStore, outbox *Outbox, smtpURL string, opts Options, log *slog.Logger) (*Sender, error) {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	from, err := netmail.ParseAddress(opts.From)
	if err != nil {
		return nil, fmt.Errorf("ROSTER_MAIL_FROM: %q is not an email address", opts.From)
	}
	s := &Sender{store: store, outbox: outbox, opts: opts, log: log, from: from, now: time.Now}
	if smtpURL != "" {
		t, err := parseSMTPURL(smtpURL)
		if err != nil {
			return nil, err
		}
		t.timeout = opts.SendTimeout
		s.smtp = t
	}
	return s, nil
}

// SetClock makes now the sender's clock (time.Now by default): the one that
// decides which messages are due and schedules retries; the Outbox's must be
// the same. Call it before Start.
func (s *Sender) SetClock(now func() time.Time) {
	if now != nil {
		s.now = now
	}
}

// Start runs the sender in the background and returns the function that
// stops it; stopping lets the message in flight finish and be recorded.
// A disabled sender does nothing.
func (s *Sender) Start() (stop func()) {
	if s.opts.Disabled {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// quickChecks follow a nudge: Enqueue runs inside its caller's transaction,
// so the row may only become visible a moment after the nudge.
var quickChecks = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second}

func (s *Sender) run(ctx context.Context) {
	var notify <-chan struct{}
	if s.outbox != nil {
		notify = s.outbox.Notify()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	quick := 0 // quick re-checks left after a nudge
	for {
		for ctx.Err() == nil {
			did, err := s.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("mail: claiming due messages failed", "err", err.Error())
				}
				break
			}
			if !did {
				break
			}
		}
		wait := s.opts.PollInterval
		if quick > 0 {
			wait = min(quickChecks[len(quickChecks)-quick], wait)
			quick--
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-notify:
			quick = len(quickChecks)
		case <-timer.C:
		}
	}
}

// RunOnce claims one due message and delivers it; it reports whether there
// was one. Cancelling ctx does not cut short a send already started.
func (s *Sender) RunOnce(ctx context.Context) (bool, error) {
	now := s.now().UTC()
	m, err := s.store.ClaimMail(ctx, now, now.Add(s.opts.Lease))
	if err != nil || m == nil {
		return false, err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.SendTimeout)
	s.deliver(sctx, m)
	cancel()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.store.FinishMail(fctx, m); err != nil {
		// The lease runs out and the message is tried again: at least once.
		s.log.Error("mail: recording delivery outcome failed", "mail_id", m.ID, "err", err.Error())
	}
	return true, nil
}

func (s *Sender) deliver(ctx context.Context, m *Message) {
	if s.smtp == nil {
		m.Status, m.Attempts, m.LastError = StatusLogged, 0, ""
		s.log.Info("mail not sent: no SMTP configured (ROSTER_SMTP_URL)", "mail_id", m.ID, "to", m.To, "subject", m.Subject, "kind", m.Kind)
		return
	}
	msg, err := s.build(m)
	if err == nil {
		err = s.smtp.send(ctx, msg)
	}
	if err == nil {
		m.Status, m.SentAt, m.LastError = StatusSent, s.now().UTC(), ""
		s.count(DeliverySent)
		s.log.Info("mail sent", "mail_id", m.ID, "to", m.To, "kind", m.Kind, "attempts", m.Attempts)
		return
	}
	m.LastError = s.smtp.sanitize(err)
	var perm *permanentError
	if errors.As(err, &perm) || m.Attempts >= s.opts.MaxAttempts {
		m.Status = StatusFailed
		s.count(DeliveryFailed)
		s.log.Error("mail failed: giving up", "mail_id", m.ID, "to", m.To, "kind", m.Kind, "attempts", m.Attempts, "err", m.LastError)
		return
	}
	s.count(DeliveryRetry)
	m.NextAttemptAt = s.now().UTC().Add(s.backoff(m.Attempts))
	s.log.Warn("mail attempt failed: will retry", "mail_id", m.ID, "to", m.To, "kind", m.Kind, "attempts", m.Attempts,
		"next_attempt_at", m.NextAttemptAt, "err", m.LastError)
}

// backoff is the delay after the attempt-th failure: RetryBase doubled per
// attempt, capped at RetryMax, then jittered into its upper half so
// messages failing together do not retry together.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempt && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	half := d / 2
	return half + rand.N(half+1)
}

// permanentError is a failure retrying cannot fix (a malformed address).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (s *Sender) build(m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(s.from.Name, s.from.Address); err != nil {
		return nil, &permanentError{err}
	}
	// SMTP carries the domain in ASCII (an address is kept in Unicode).
	if err := msg.To(resources.EmailASCII(m.To)); err != nil {
		return nil, &permanentError{fmt.Errorf("invalid recipient address")}
	}
	msg.Subject(m.Subject)
	// A stable Message-ID lets a receiving server or client drop the
	// duplicate a retry after a lost acknowledgement can produce.
	msg.SetMessageIDWithValue(m.ID + "@" + domainOf(s.from.Address))
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

// smtpTransport is a parsed ROSTER_SMTP_URL.
type smtpTransport struct {
	host    string
	port    int
	ssl     bool
	policy  gomail.TLSPolicy
	user    string
	pass    string
	auth    gomail.SMTPAuthType
	timeout time.Duration
}

// parseSMTPURL reads a ROSTER_SMTP_URL: smtp://[user:pass@]host[:port]
// (port 587; STARTTLS when the server offers it, required with
// ?starttls=required) or smtps://[user:pass@]host[:port] (implicit TLS, port
// 465). ?auth=plain|login|cram-md5|auto picks the authentication mechanism
// (default plain, which go-mail refuses over an unencrypted connection to a
// host other than localhost). Errors never repeat the URL, whose userinfo
// holds the password.
func parseSMTPURL(raw string) (*smtpTransport, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("ROSTER_SMTP_URL: not a URL (expected smtp://user:pass@host:port)")
	}
	t := &smtpTransport{host: u.Hostname(), auth: gomail.SMTPAuthPlain, policy: gomail.TLSOpportunistic}
	switch u.Scheme {
	case "smtp":
		t.port = 587
	case "smtps":
		t.ssl, t.port = true, 465
	default:
		return nil, fmt.Errorf("ROSTER_SMTP_URL: scheme %q is not smtp or smtps", u.Scheme)
	}
	if t.host == "" {
		return nil, errors.New("ROSTER_SMTP_URL: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("ROSTER_SMTP_URL: invalid port")
		}
		t.port = n
	}
	q := u.Query()
	switch strings.ToLower(q.Get("starttls")) {
	case "", "opportunistic":
	case "required", "mandatory":
		t.policy = gomail.TLSMandatory
	case "none", "off":
		t.policy = gomail.NoTLS
	default:
		return nil, errors.New("ROSTER_SMTP_URL: starttls must be required, opportunistic or none")
	}
	switch strings.ToLower(q.Get("auth")) {
	case "", "plain":
	case "login":
		t.auth = gomail.SMTPAuthLogin
	case "cram-md5":
		t.auth = gomail.SMTPAuthCramMD5
	case "auto":
		t.auth = gomail.SMTPAuthAutoDiscover
	default:
		return nil, errors.New("ROSTER_SMTP_URL: auth must be plain, login, cram-md5 or auto")
	}
	if u.User != nil {
		t.user = u.User.Username()
		t.pass, _ = u.User.Password()
	}
	return t, nil
}

func (t *smtpTransport) send(ctx context.Context, msg *gomail.Msg) error {
	opts := []gomail.Option{gomail.WithTLSPolicy(t.policy), gomail.WithTimeout(t.timeout)}
	if t.ssl {
		opts = append(opts, gomail.WithSSL())
	}
	opts = append(opts, gomail.WithPort(t.port))
	if t.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(t.auth), gomail.WithUsername(t.user), gomail.WithPassword(t.pass))
	}
	c, err := gomail.NewClient(t.host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}

// sanitize turns a send error into something safe to store and show an
// admin: one line, bounded, and any URL in it with its password redacted
// (RedactURLs). The SMTP client's errors carry no password of their own:
// it is sent only inside the AUTH exchange, never formatted into a
// message; and the text is otherwise kept as it is, so a short password
// cannot mangle it.
func (t *smtpTransport) sanitize(err error) string {
	s := RedactURLs(strings.Join(strings.Fields(err.Error()), " "))
	const limit = 500
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// urlPattern finds what may be a URL with userinfo in a message: a scheme,
// "://", and everything up to the next space or quote.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactURLs replaces, in s, the password of every URL that has one by
// "xxxxx" (url.URL.Redacted), reading each URL's structure rather than
// searching for the password's text.
func RedactURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			// Not a URL Go parses (a stray % in the password, say): all
			// of what could be its userinfo goes.
			scheme, rest, _ := strings.Cut(raw, "://")
			at := strings.LastIndexByte(rest, '@')
			if user, _, ok := strings.Cut(rest[:max(at, 0)], ":"); ok {
				return scheme + "://" + user + ":xxxxx" + rest[at:]
			}
			return raw
		}
		if _, ok := u.User.Password(); !ok {
			return raw
		}
		return u.Redacted()
	})
}
