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
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/admin/console"
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
	"github.com/rosterhq/roster/telemetry"
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
	_ auth.UpstreamStore    = (*store.Store)(nil)
	_ mail.Store            = (*store.Store)(nil)
	_ mail.SenderStore      = (*store.Store)(nil)
	_ mail.Lister           = (*store.Store)(nil)
	_ admin.Store           = (*store.Store)(nil)
	_ telemetry.Database    = (*store.Store)(nil)

	_ auth.Meter  = (*telemetry.Metrics)(nil)
	_ admin.Meter = (*telemetry.Metrics)(nil)
	_ mail.Meter  = (*telemetry.Metrics)(nil)
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
	// MetricsAddr is where Prometheus scrapes /metrics, a listener of its
	// own (ROSTER_METRICS_ADDR: FromEnv's default DefaultMetricsAddr, set
	// empty for none); "" serves no metrics and counts nothing.
	MetricsAddr string
	// TracesEndpoint, when set, is the OTLP/HTTP URL spans are sent to
	// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT
	// with /v1/traces); "" traces nothing.
	TracesEndpoint string
	// SkipBootstrap leaves an empty database empty (roster migrate).
	SkipBootstrap bool
	// Now is the base of Roster's one clock (nil: time.Now); tests move it
	// to see expiry. See Clock.
	Now func() time.Time
	// TestMode mounts /_test/ (ROSTER_TEST_MODE=1), only on loopback listen
	// addresses unless TestModeAllowRemote (ROSTER_TEST_MODE_ALLOW_REMOTE=1).
	TestMode, TestModeAllowRemote bool
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
		TestMode:      os.Getenv("ROSTER_TEST_MODE") == "1",
	}
	c.TestModeAllowRemote = os.Getenv("ROSTER_TEST_MODE_ALLOW_REMOTE") == "1"
	if v, err := strconv.ParseInt(os.Getenv("ROSTER_BODY_LIMIT"), 10, 64); err == nil && v > 0 {
		c.BodyLimit = v
	}
	c.MaxBundleEntries = rest.MaxBundleEntries
	if v, err := strconv.Atoi(os.Getenv("ROSTER_MAX_BUNDLE_ENTRIES")); err == nil && v > 0 {
		c.MaxBundleEntries = v
	}
	c.Throttle = throttleFromEnv()
	c.MetricsAddr = DefaultMetricsAddr
	if v, ok := os.LookupEnv("ROSTER_METRICS_ADDR"); ok {
		c.MetricsAddr = strings.TrimSpace(v)
	}
	c.TracesEndpoint = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if v := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); c.TracesEndpoint == "" && v != "" {
		c.TracesEndpoint = strings.TrimSuffix(v, "/") + "/v1/traces"
	}
	for _, p := range strings.Split(os.Getenv("ROSTER_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	return c
}

// DefaultMetricsAddr is where metrics are served unless ROSTER_METRICS_ADDR
// says otherwise: loopback only, since they tell about the server's traffic.
const DefaultMetricsAddr = "127.0.0.1:9464"

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
	// Metrics and Tracing are nil when turned off (Config.MetricsAddr,
	// Config.TracesEndpoint).
	Metrics *telemetry.Metrics
	Tracing *telemetry.Tracing
	// MetricsAddr is the address /metrics is served on ("" when none).
	MetricsAddr string
	// Clock is the one clock every part reads (test mode moves it).
	Clock *Clock

	FHIR *rest.Handler

	stop        []func()
	workers     []func()
	ipExtractor echo.IPExtractor
	first       *admin.FirstAdmin // bootstrapped again by Reset
}

// New opens the database, migrates it, bootstraps an empty one and builds the router.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	cfg.normalize()
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	log = telemetry.Logger(log) // request ids on every line logged with a request's context
	if err := cfg.checkTestMode(); err != nil {
		return nil, err
	}
	clock := newClock(cfg.Now)
	st, err := store.Open(store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, SQLitePath: cfg.SQLitePath, Now: clock.Now})
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st, Clock: clock}
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
	a.Resources = resources.NewService(st, clock.Now)
	audit.Install(a.Resources)
	a.Resources.AddGuard(auth.ScopeGuard)
	keys, err := auth.NewKeys(ctx, st, cfg.BaseURL)
	if err != nil {
		a.Close()
		return nil, err
	}
	keys.SetClock(clock.Now)
	a.Mail = mail.NewOutbox(st)
	a.Mail.SetClock(clock.Now)
	a.Auth = auth.NewService(st, a.Resources, keys)
	a.Auth.Mail, a.Auth.AppURL = a.Mail, cfg.AppURL
	a.Auth.Limits = cfg.Throttle
	a.Auth.Verification = cfg.Verification
	a.Auth.SecureCookies = strings.HasPrefix(cfg.BaseURL, "https://")
	a.Auth.Log = log
	a.Auth.SetClock(clock.Now)
	a.Admin = admin.NewService(a.Resources, a.Auth, st)
	a.Admin.Mail, a.Admin.AppURL = a.Mail, cfg.AppURL
	a.Admin.SetClock(clock.Now)
	a.first = first
	if err := a.instrument(ctx); err != nil {
		a.Close()
		return nil, err
	}
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
	idem := rest.Idempotency(st, rest.IdempotencyOptions{Now: clock.Now})
	a.FHIR.Idempotency, a.Admin.Idempotency = idem, idem
	a.Echo = a.router()
	if a.Sender, err = mail.NewSender(st, a.Mail, cfg.SMTPURL, cfg.Mail.ForApp(cfg.AppURL), log); err != nil {
		a.Close()
		return nil, err
	}
	a.Sender.SetClock(clock.Now)
	if a.Metrics != nil {
		a.Sender.Meter = a.Metrics
	}
	a.workers = append(a.workers, a.Sender.Start())
	if cfg.TestMode {
		log.Warn(testModeWarning, "addr", cfg.Addr, "allow_remote", cfg.TestModeAllowRemote)
	}
	return a, nil
}

// instrument builds what is turned on of metrics and tracing, hooks them
// into the services and the store, and serves /metrics on its listener.
func (a *App) instrument(ctx context.Context) error {
	if a.Config.MetricsAddr != "" {
		a.Metrics = telemetry.NewMetrics(a.Store, a.Clock.Now)
		a.Auth.Meter, a.Admin.Meter = a.Metrics, a.Metrics
		srv, addr, err := a.Metrics.Serve(a.Config.MetricsAddr, a.Log)
		if err != nil {
			return fmt.Errorf("metrics listener (ROSTER_METRICS_ADDR=%s; empty turns metrics off): %w", a.Config.MetricsAddr, err)
		}
		a.MetricsAddr = addr
		a.stop = append(a.stop, func() { _ = srv.Close() })
		a.Log.Info("metrics listening", "addr", addr)
	}
	if a.Config.TracesEndpoint != "" {
		t, err := telemetry.NewTracing(ctx, a.Config.TracesEndpoint, lo.Ternary(a.Store.Postgres(), "postgresql", "sqlite"))
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		a.Tracing = t
		a.Store.SetStatementHook(t.Statement)
		a.stop = append(a.stop, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = t.Shutdown(sctx)
		})
	}
	return nil
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
	e.Use(telemetry.RequestIDs)
	if a.Tracing != nil {
		e.Use(a.Tracing.Middleware)
	}
	// The client address in every request's context, for the throttles
	// (dialects' calls take no address argument) and the audit trail.
	e.Use(audit.Middleware)
	if a.Metrics != nil {
		e.Use(a.Metrics.Middleware)
	}
	e.Use(a.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			a.Log.ErrorContext(c.Request().Context(), "panic", "err", err.Error(), "stack", string(stack))
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
	a.Auth.RegisterMFA(e)
	mail.RegisterAdmin(e, a.Auth.Required(), func(ctx context.Context, projectID string) error {
		_, err := a.Admin.RequireProjectAdmin(ctx, projectID)
		return err
	}, a.Store)
	a.Admin.Register(e)
	mediumone.New(a.Resources, a.Auth, a.Admin, a.Store).Register(e)
	medable.New(a.Resources, a.Auth, a.Admin, a.Config.BaseURL).Register(e)
	medallion.Register(e, a.Admin, a.Auth, a.Resources)
	hospital.Register(e, a.Admin, a.Auth, a.Resources)
	// The console calls the API through e itself, in-process.
	console.New(console.Options{API: e, Sessions: a.Store, BaseURL: a.Config.BaseURL, EnsureClient: a.ensureConsoleClient,
		SecureCookies: a.Auth.SecureCookies, Now: a.Clock.Now}).Register(e)
	if a.Config.TestMode {
		a.registerTestMode(e)
	}
	return e
}

// logRequests writes one structured line per request (its request id is
// added by the logger, from the context).
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
