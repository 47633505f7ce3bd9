// Package app assembles a Roster server from its configuration: storage,
// services, routes. main and every test suite build it the same way.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/hospital"
	"github.com/rosterhq/roster/admin/medable"
	"github.com/rosterhq/roster/admin/medallion"
	"github.com/rosterhq/roster/admin/mediumone"
	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/mail"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
	"github.com/rosterhq/roster/store"
)

// store.Store is the storage of every package above it; each declares the
// interface it needs, and app, which wires them, checks that store fits.
var (
	_ resources.Store       = (*store.Store)(nil)
	_ rest.IdempotencyStore = (*store.Store)(nil)
	_ auth.Store            = (*store.Store)(nil)
	_ auth.LinkStore        = (*store.Store)(nil)
	_ auth.ThrottleStore    = (*store.Store)(nil)
	_ auth.DeviceStore      = (*store.Store)(nil)
	_ mail.Store            = (*store.Store)(nil)
	_ mail.SenderStore      = (*store.Store)(nil)
	_ mail.Lister           = (*store.Store)(nil)
	_ admin.InvitationStore = (*store.Store)(nil)
)

// Config is Roster's configuration; FromEnv reads it from ROSTER_* variables.
type Config struct {
	Addr          string
	BaseURL       string
	DatabaseURL   string
	DataDir       string
	SQLitePath    string // tests: a specific SQLite file
	AdminEmail    string
	AdminPassword string
	SMTPURL       string
	AppURL        string
	BodyLimit     int64 // bytes (ROSTER_BODY_LIMIT, default DefaultBodyLimit)
	// MaxBundleEntries caps batch and transaction Bundles
	// (ROSTER_MAX_BUNDLE_ENTRIES, default 1000).
	MaxBundleEntries int
	// Throttle limits failed logins, reset requests and link redemptions
	// (ROSTER_THROTTLE_*); the zero value is auth.DefaultLimits.
	Throttle auth.Limits
	// Verification tunes new-device verification, for the projects that
	// turn it on; the zero value is auth.DefaultVerification.
	Verification auth.Verification
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For
	// names the client (ROSTER_TRUSTED_PROXIES, comma-separated); with none,
	// the client address is the socket's peer.
	TrustedProxies []string
	// Mail tunes the outbox sender (ROSTER_MAIL_* variables).
	Mail mail.Options
	// SkipBootstrap leaves an empty database empty (roster migrate).
	SkipBootstrap bool
	// Now is the clock of logins, links and invitations (nil: time.Now);
	// tests move it to see expiry.
	Now func() time.Time
}

// DefaultBodyLimit is the largest request body by default: a resource
// holding a string of FHIR's largest, 1 MB, even one whose every character
// JSON escapes, and the rest of its resource.
const DefaultBodyLimit = 4 << 20

// FromEnv reads the configuration from the environment with the documented defaults.
func FromEnv() Config {
	c := Config{
		Addr:          env("ROSTER_ADDR", ":8080"),
		BaseURL:       env("ROSTER_BASE_URL", "http://localhost:8080/"),
		DatabaseURL:   os.Getenv("ROSTER_DATABASE_URL"),
		DataDir:       env("ROSTER_DATA_DIR", "./data"),
		AdminEmail:    os.Getenv("ROSTER_ADMIN_EMAIL"),
		AdminPassword: os.Getenv("ROSTER_ADMIN_PASSWORD"),
		SMTPURL:       os.Getenv("ROSTER_SMTP_URL"),
		AppURL:        os.Getenv("ROSTER_APP_URL"),
		BodyLimit:     DefaultBodyLimit,
		Mail:          mail.OptionsFromEnv(),
	}
	if v, err := strconv.ParseInt(os.Getenv("ROSTER_BODY_LIMIT"), 10, 64); err == nil && v > 0 {
		c.BodyLimit = v
	}
	c.MaxBundleEntries = rest.MaxBundleEntries
	if v, err := strconv.Atoi(os.Getenv("ROSTER_MAX_BUNDLE_ENTRIES")); err == nil && v > 0 {
		c.MaxBundleEntries = v
	}
	c.Throttle = throttleFromEnv()
	for _, p := range strings.Split(os.Getenv("ROSTER_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	return c
}

// throttleFromEnv reads ROSTER_THROTTLE_WINDOW (a duration),
// ROSTER_THROTTLE_PER_ACCOUNT and ROSTER_THROTTLE_PER_ADDRESS (0 turns
// that limit off) over auth.DefaultLimits.
func throttleFromEnv() auth.Limits {
	l := auth.DefaultLimits
	if d, err := time.ParseDuration(os.Getenv("ROSTER_THROTTLE_WINDOW")); err == nil && d > 0 {
		l.Window = d
	}
	if n, err := strconv.Atoi(os.Getenv("ROSTER_THROTTLE_PER_ACCOUNT")); err == nil && n >= 0 {
		l.PerAccount = n
	}
	if n, err := strconv.Atoi(os.Getenv("ROSTER_THROTTLE_PER_ADDRESS")); err == nil && n >= 0 {
		l.PerAddress = n
	}
	return l
}

func env(key, dflt string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return dflt
}

func (c *Config) normalize() {
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:8080/"
	}
	if !strings.HasSuffix(c.BaseURL, "/") {
		c.BaseURL += "/"
	}
	if c.AppURL == "" {
		c.AppURL = c.BaseURL
	}
	if !strings.HasSuffix(c.AppURL, "/") {
		c.AppURL += "/"
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.MaxBundleEntries <= 0 {
		c.MaxBundleEntries = rest.MaxBundleEntries
	}
	if c.Throttle == (auth.Limits{}) {
		c.Throttle = auth.DefaultLimits
	}
}

// App is a running Roster's parts.
type App struct {
	Config    Config
	Log       *slog.Logger
	Store     *store.Store
	Resources *resources.Service
	Auth      *auth.Service
	Admin     *admin.Service
	Mail      *mail.Outbox
	Sender    *mail.Sender
	Echo      *echo.Echo
	Bootstrap *admin.BootstrapResult

	FHIR *rest.Handler

	stop        []func()
	workers     []func()
	ipExtractor echo.IPExtractor
}

// New opens the database, migrates it, bootstraps an empty one and builds the router.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	cfg.normalize()
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	st, err := store.Open(store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, SQLitePath: cfg.SQLitePath})
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st}
	a.stop = append(a.stop, func() { _ = st.Close() })
	var first *admin.FirstAdmin
	if !cfg.SkipBootstrap {
		first = admin.NewFirstAdmin(cfg.AdminEmail, cfg.AdminPassword)
		if st.Empty(ctx) {
			first.HashAhead()
		}
	}
	if a.ipExtractor, err = auth.IPExtractor(cfg.TrustedProxies); err != nil {
		a.Close()
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.Resources = resources.NewService(st, nil)
	audit.Install(a.Resources)
	keys, err := auth.NewKeys(ctx, st, cfg.BaseURL)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Mail = mail.NewOutbox(st)
	a.Auth = auth.NewService(st, a.Resources, keys)
	a.Auth.Mail, a.Auth.AppURL = a.Mail, cfg.AppURL
	a.Auth.Limits = cfg.Throttle
	a.Auth.Verification = cfg.Verification
	a.Auth.SecureCookies = strings.HasPrefix(cfg.BaseURL, "https://")
	a.Auth.SetClock(cfg.Now)
	a.Admin = admin.NewService(a.Resources, a.Auth, st)
	a.Admin.Mail, a.Admin.AppURL = a.Mail, cfg.AppURL
	a.Admin.SetClock(cfg.Now)
	if first != nil {
		res, err := a.Admin.Bootstrap(ctx, first)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		a.Bootstrap = res
	}
	a.FHIR = rest.NewHandler(a.Resources, cfg.BaseURL)
	a.FHIR.MaxBundleEntries = cfg.MaxBundleEntries
	// One Idempotency-Key store for every create route: FHIR, admin, dialects.
	idem := rest.Idempotency(st, rest.IdempotencyOptions{})
	a.FHIR.Idempotency, a.Admin.Idempotency = idem, idem
	a.Echo = a.router()
	if a.Sender, err = mail.NewSender(st, a.Mail, cfg.SMTPURL, cfg.Mail.ForApp(cfg.AppURL), log); err != nil {
		a.Close()
		return nil, err
	}
	a.workers = append(a.workers, a.Sender.Start())
	return a, nil
}

// Stop ends the background workers (mail sender), letting in-flight work finish.
func (a *App) Stop() {
	for i := len(a.workers) - 1; i >= 0; i-- {
		a.workers[i]()
	}
	a.workers = nil
}

// Close releases the app's resources.
func (a *App) Close() {
	a.Stop()
	for i := len(a.stop) - 1; i >= 0; i-- {
		a.stop[i]()
	}
	a.stop = nil
}

func (a *App) router() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = rest.ErrorHandler(a.Log)
	// The client address is the socket's peer unless it is a trusted proxy.
	e.IPExtractor = a.ipExtractor
	e.Use(middleware.RequestID())
	// The client address in every request's context, for the throttles
	// (dialects' calls take no address argument) and the audit trail.
	e.Use(audit.Middleware)
	e.Use(a.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			a.Log.Error("panic", "err", err.Error(), "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.BodyLimit(strconv.FormatInt(a.Config.BodyLimit, 10) + "B"))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		if err := a.Store.Ping(c.Request().Context()); err != nil {
			return resources.Unavailable("Database unavailable")
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})

	a.FHIR.Register(e, a.Auth.Required())
	a.Auth.Register(e)
	a.Auth.RegisterPasswords(e)
	mail.RegisterAdmin(e, a.Auth.Required(), func(ctx context.Context, projectID string) error {
		_, err := a.Admin.RequireProjectAdmin(ctx, projectID)
		return err
	}, a.Store)
	a.Admin.Register(e)
	mediumone.New(a.Resources, a.Auth, a.Admin, a.Store).Register(e)
	medable.New(a.Resources, a.Auth, a.Admin, a.Config.BaseURL).Register(e)
	medallion.Register(e, a.Admin, a.Auth, a.Resources)
	hospital.Register(e, a.Admin, a.Auth, a.Resources)
	return e
}

// logRequests writes one structured line per request with its request id.
func (a *App) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req := c.Request()
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		a.Log.Log(req.Context(), level, "request",
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"method", req.Method, "path", req.URL.Path, "status", status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "remote", c.RealIP())
		return nil
	}
}

// DefaultProject returns the id of the project named Default ("" if none).
func (a *App) DefaultProject(ctx context.Context) string {
	projects, err := admin.Search[*resources.Project](ctx, a.Resources, "", "Project", map[string][]string{"name:exact": {"Default"}})
	if err != nil || len(projects) == 0 {
		return ""
	}
	return projects[0].ID
}
