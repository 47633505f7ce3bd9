// Package bench is `roster bench`: it starts Roster (as a child process, so
// its CPU and memory are its own), loads a synthetic population through
// Roster's transaction Bundles, runs every workload closed-loop at several
// concurrencies and open-loop at fixed rates, runs a bare-SQL baseline on the
// same database in the same run, and reports throughput, latency, CPU per
// operation and the ratio to the baseline, as a table and as JSON.
package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // VACUUM ANALYZE after the load
	"github.com/rosterhq/roster/store"
	"github.com/schollz/progressbar/v3"
)

// Options configure a run; ParseFlags reads them from the command line.
type Options struct {
	Server        string // an already running Roster ("" starts one)
	AdminEmail    string // with Server: its super admin
	AdminPassword string
	DatabaseURL   string // postgres://…; "" = embedded SQLite
	FreshDatabase bool   // create (and drop) a database next to DatabaseURL
	Keep          bool   // keep the run's database / data directory
	DataDir       string // SQLite data directory ("" = a temporary one)

	Resources   int
	BundleSize  int
	LoadWorkers int
	// Project, when set, is the population an earlier run loaded and kept
	// (--keep) in the database at DatabaseURL: it is measured as it is,
	// nothing is loaded.
	Project string

	Duration     time.Duration
	Warmup       time.Duration
	Concurrency  []int
	Rates        []float64
	OpenDuration time.Duration
	OpenOps      []string
	Ops          []string // workloads to run ("" or "all" = every one)
	NoBaseline   bool

	// MetricsCost is how many rounds of read and create at MetricsCostC
	// to run with metrics off and on (0: none).
	MetricsCost  int
	MetricsCostC int

	Soak     time.Duration // run the mixed workload open-loop this long, sampling RSS
	SoakRate float64

	JSONPath   string
	ProfileDir string // CPU profiles of Roster, one per workload, at ProfileC
	ProfileC   int
	Quiet      bool // no progress bar

	// Spawn starts a child process of this program: kind "server" (Roster)
	// or "baseline", with env added to a clean environment. Set by main.
	Spawn func(kind string, env []string) *exec.Cmd
}

// ParseFlags reads Options from args.
func ParseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("roster bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Server, "server", "", "benchmark a running Roster at this URL instead of starting one")
	fs.StringVar(&o.AdminEmail, "admin-email", os.Getenv("ROSTER_ADMIN_EMAIL"), "with --server: the super admin's email")
	fs.StringVar(&o.AdminPassword, "admin-password", os.Getenv("ROSTER_ADMIN_PASSWORD"), "with --server: the super admin's password")
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv("ROSTER_DATABASE_URL"), "PostgreSQL URL (default $ROSTER_DATABASE_URL; empty: embedded SQLite)")
	fs.BoolVar(&o.FreshDatabase, "fresh", true, "on PostgreSQL, create a throwaway database next to --database-url (dropped at the end unless --keep)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's database or data directory")
	fs.StringVar(&o.DataDir, "data-dir", "", "SQLite data directory (default: a temporary one)")
	fs.IntVar(&o.Resources, "resources", 10000, "population size in resources (10000, 100000, 1000000)")
	fs.IntVar(&o.BundleSize, "bundle", 500, "resources per transaction Bundle while loading")
	fs.IntVar(&o.LoadWorkers, "load-workers", 4, "concurrent Bundles while loading")
	fs.StringVar(&o.Project, "project", "", "measure the population an earlier run kept (--keep) in --database-url or --data-dir: its project id; nothing is loaded")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measured time of each closed-loop phase")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured time before each phase")
	conc := fs.String("c", "1,16,64", "closed-loop concurrencies")
	rates := fs.String("rates", "200,1000", "open-loop rates (requests/s); empty for none")
	fs.DurationVar(&o.OpenDuration, "open-duration", 5*time.Second, "time of each open-loop phase")
	openOps := fs.String("open-ops", "read,search-name,create", "workloads run open-loop")
	opsFlag := fs.String("ops", "all", "workloads to run closed-loop (comma-separated): "+opNames())
	fs.BoolVar(&o.NoBaseline, "no-baseline", false, "skip the bare-SQL baseline")
	fs.IntVar(&o.MetricsCost, "metrics-cost", 0, "after the phases, measure read and create with metrics off and on, alternating, this many rounds")
	fs.IntVar(&o.MetricsCostC, "metrics-cost-c", 16, "the concurrency of --metrics-cost")
	fs.DurationVar(&o.Soak, "soak", 0, "after the phases, run the mixed workload open-loop this long and sample the server's RSS")
	fs.Float64Var(&o.SoakRate, "soak-rate", 500, "the soak's rate (requests/s)")
	fs.StringVar(&o.JSONPath, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile of Roster for each workload into this directory")
	fs.IntVar(&o.ProfileC, "profile-c", 16, "the concurrency whose phase --profile records")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.Concurrency, err = ints(*conc); err != nil || len(o.Concurrency) == 0 {
		return nil, fmt.Errorf("-c: %q is not a list of concurrencies", *conc)
	}
	for _, f := range splitList(*rates) {
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("--rates: %q is not a rate", f)
		}
		o.Rates = append(o.Rates, r)
	}
	o.OpenOps = splitList(*openOps)
	if *opsFlag != "all" {
		o.Ops = splitList(*opsFlag)
		// A workload measured against another runs with it.
		for _, name := range slices.Clone(o.Ops) {
			if op := findOp(name); op != nil && op.versus != "" && !slices.Contains(o.Ops, op.versus) {
				o.Ops = append(o.Ops, op.versus)
			}
		}
	}
	for _, name := range append(slices.Clone(o.Ops), o.OpenOps...) {
		if findOp(name) == nil {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, opNames())
		}
	}
	if o.Resources < 20 {
		return nil, errors.New("--resources must be at least 20")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func opNames() string {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.name
	}
	return strings.Join(names, ",")
}

func findOp(name string) *op {
	for i := range ops {
		if ops[i].name == name {
			return &ops[i]
		}
	}
	return nil
}

// Row is one line of the report.
type Row struct {
	Op          string  `json:"op"`
	Mode        string  `json:"mode"` // "closed" or "open"
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	Statuses    string  `json:"statuses"`
	FirstError  string  `json:"firstError,omitempty"`
	Throughput  float64 `json:"throughput"` // operations per second
	P50ms       float64 `json:"p50Ms"`
	P99ms       float64 `json:"p99Ms"`
	P999ms      float64 `json:"p999Ms"`
	MaxMs       float64 `json:"maxMs"`
	CPUus       float64 `json:"cpuUsPerOp"`   // server process CPU per operation
	DBCPUus     float64 `json:"dbCpuUsPerOp"` // PostgreSQL processes' CPU per operation

	Baseline           string  `json:"baseline,omitempty"`
	BaselineThroughput float64 `json:"baselineThroughput,omitempty"`
	BaselineP50ms      float64 `json:"baselineP50Ms,omitempty"`
	BaselineP99ms      float64 `json:"baselineP99Ms,omitempty"`
	BaselineCPUus      float64 `json:"baselineCpuUsPerOp,omitempty"`
	BaselineDBCPUus    float64 `json:"baselineDbCpuUsPerOp,omitempty"`
	BaselineErrors     int64   `json:"baselineErrors,omitempty"`
	// RatioThroughput is Roster's throughput over the baseline's;
	// RatioCPU is Roster's CPU per operation (server + database) over the
	// baseline's: how many times the limit's cost Roster pays.
	RatioThroughput float64 `json:"ratioThroughput,omitempty"`
	RatioCPU        float64 `json:"ratioCpu,omitempty"`

	// Versus is the Roster workload this one is measured against in the
	// same run, at the same concurrency (search-include against
	// search-members); the ratios are this one's over it.
	Versus                string  `json:"versus,omitempty"`
	VersusRatioCPU        float64 `json:"versusRatioCpu,omitempty"`
	VersusRatioThroughput float64 `json:"versusRatioThroughput,omitempty"`
	VersusRatioP50        float64 `json:"versusRatioP50,omitempty"`
}

// Report is everything a run measured.
type Report struct {
	Started       time.Time `json:"started"`
	Database      string    `json:"database"` // "postgres" or "sqlite"
	GoVersion     string    `json:"goVersion"`
	CPUs          int       `json:"cpus"`
	LoadAvgBefore string    `json:"loadAvgBefore"`
	LoadAvgAfter  string    `json:"loadAvgAfter"`

	Resources   int     `json:"resources"`
	Patients    int     `json:"patients"`
	LoadSeconds float64 `json:"loadSeconds"`
	LoadRate    float64 `json:"loadResourcesPerSecond"`
	LoadCPUus   float64 `json:"loadCpuUsPerResource"`
	LoadDBCPUus float64 `json:"loadDbCpuUsPerResource"`
	LoadErrors  int64   `json:"loadErrors"`
	// PostgreSQL's autovacuum, checkpoints and background writer over the
	// whole run, Roster's and the baseline's phases together: no phase's
	// database CPU counts them (postgresCPU).
	DeferredDBCPUs float64 `json:"deferredDbCpuSeconds,omitempty"`
	// The database as the phases found it: its size after the load and, on
	// PostgreSQL, the settings that decide how much of it stays in memory.
	DBSizeMB   float64           `json:"databaseSizeMb,omitempty"`
	DBSettings map[string]string `json:"databaseSettings,omitempty"`

	ColdStartMs  float64 `json:"coldStartMs"`  // empty database: migrate, bootstrap, first /healthz
	RestartMs    float64 `json:"restartMs"`    // the loaded database: start to first /healthz
	FirstReadMs  float64 `json:"firstReadMs"`  // after restart: first authenticated read answered
	RSSStartMB   float64 `json:"rssStartMb"`   // after start, before any load
	RSSIdleMB    float64 `json:"rssIdleMb"`    // after the run, idle
	RSSPeakMB    float64 `json:"rssPeakMb"`    // VmHWM over the run
	RSSRestartMB float64 `json:"rssRestartMb"` // after the restart and one read

	Rows []Row `json:"rows"`

	// MetricsCost: read and create with metrics off and on (--metrics-cost).
	MetricsCost []MetricsCost `json:"metricsCost,omitempty"`

	// Soak: the mixed workload at SoakRate for SoakSeconds, RSS every 5 s.
	SoakSeconds float64   `json:"soakSeconds,omitempty"`
	SoakRate    float64   `json:"soakRate,omitempty"`
	SoakRSSMB   []float64 `json:"soakRssMb,omitempty"`
	Soak        *Row      `json:"soak,omitempty"`
}

// child is a server this run started.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	err  *tailBuffer
}

// tailBuffer keeps the last bytes a child wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 32<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-16<<10:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs a child on addr ("" a free port) and waits for its /healthz;
// it returns the time that took.
func (o *Options) start(ctx context.Context, kind, addr string, env []string) (*child, time.Duration, error) {
	return o.startAs(ctx, kind, addr, "", env)
}

// startAs is start with base as the child's ROSTER_BASE_URL ("" its own
// URL). Tokens name the base URL as their issuer and audience, so a second
// server is to accept the first's tokens only under the first's base URL.
func (o *Options) startAs(ctx context.Context, kind, addr, base string, env []string) (*child, time.Duration, error) {
	if addr == "" {
		a, err := freeAddr()
		if err != nil {
			return nil, 0, err
		}
		addr = a
	}
	c := &child{url: "http://" + addr + "/", done: make(chan struct{}), err: &tailBuffer{}}
	if base == "" {
		base = c.url
	}
	c.cmd = o.Spawn(kind, append(slices.Clone(env), "ROSTER_ADDR="+addr, "ROSTER_BASE_URL="+base))
	c.cmd.Stderr = c.err
	t0 := time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, 0, err
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-c.done:
			return nil, 0, fmt.Errorf("%s exited before it answered:\n%s", kind, c.err.String())
		case <-ctx.Done():
			c.stop()
			return nil, 0, ctx.Err()
		default:
		}
		if resp, err := hc.Get(c.url + "healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, time.Since(t0), nil
			}
		}
		if time.Since(t0) > 2*time.Minute {
			c.stop()
			return nil, 0, fmt.Errorf("%s did not answer within 2 minutes:\n%s", kind, c.err.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *child) pid() int {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// stop ends the child with SIGTERM (SIGKILL after 20 s).
func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

const (
	benchAdminEmail    = "bench-admin@example.org"
	benchAdminPassword = "Bench-admin-Glacier-2207"
)

// Run runs the benchmark and writes the table to out.
func Run(ctx context.Context, o *Options, out io.Writer) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		LoadAvgBefore: loadAverage(), Resources: o.Resources, Database: "sqlite"}
	if o.DatabaseURL != "" {
		rep.Database = "postgres"
	}
	var env []string
	if o.DatabaseURL != "" {
		if o.FreshDatabase && o.Server == "" && o.Project == "" {
			u, drop, err := store.CreateDatabase(o.DatabaseURL, "roster_bench_")
			if err != nil {
				return nil, err
			}
			o.DatabaseURL = u
			if o.Keep {
				fmt.Fprintln(out, "database kept:", u)
			} else {
				defer drop()
			}
		}
		env = append(env, "ROSTER_DATABASE_URL="+o.DatabaseURL)
	} else if o.Server == "" {
		if o.DataDir == "" {
			dir, err := os.MkdirTemp("", "roster-bench-")
			if err != nil {
				return nil, err
			}
			o.DataDir = dir
			if !o.Keep {
				defer os.RemoveAll(dir)
			}
		}
		env = append(env, "ROSTER_DATA_DIR="+o.DataDir)
	}
	serverEnv := append(slices.Clone(env), "ROSTER_ADMIN_EMAIL="+benchAdminEmail, "ROSTER_ADMIN_PASSWORD="+benchAdminPassword,
		"ROSTER_LOG_FORMAT=json")
	// Metrics on, as a server runs by default, on a port of this run's own.
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var pprofAddr string
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		pprofAddr = a
		serverEnv = append(serverEnv, "ROSTER_BENCH_PPROF="+a)
	}
	runEnv := append(slices.Clone(serverEnv), "ROSTER_METRICS_ADDR="+metricsAddr)

	var srv *child
	base := o.Server
	if base == "" {
		var took time.Duration
		var err error
		srv, took, err = o.start(ctx, "server", "", runEnv)
		if err != nil {
			return nil, err
		}
		defer func() { srv.stop() }()
		base = srv.url
		rep.ColdStartMs = ms(took)
		rss, _ := procMemory(srv.pid())
		rep.RSSStartMB = mb(rss)
		o.AdminEmail, o.AdminPassword = benchAdminEmail, benchAdminPassword
	} else if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	meter := cpuMeter{serverPID: srv.pid(), postgres: o.DatabaseURL != ""}
	deferred0 := meter.deferred()

	var (
		w     *world
		token string
	)
	if o.Project != "" {
		w, token, err = reuse(ctx, base, o, rep)
	} else {
		w, token, err = setup(ctx, base, o)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "roster bench: %s, %d CPUs, load average %s; project %s\n", rep.Database, rep.CPUs, rep.LoadAvgBefore, w.project)
	if o.Project != "" {
		fmt.Fprintf(out, "measuring the population kept in project %s: %d Patients sampled of %d\n", w.project, len(w.patients), rep.Patients)
	} else if err := load(ctx, base, token, o, w, rep, meter, out); err != nil {
		return nil, err
	}

	var bl *child
	if !o.NoBaseline && (o.Server == "" || o.DatabaseURL != "") {
		bl, _, err = o.start(ctx, "baseline", "", env)
		if err != nil {
			return nil, err
		}
		defer bl.stop()
	}
	blMeter := cpuMeter{serverPID: bl.pid(), postgres: meter.postgres}

	fmt.Fprintln(out)
	fmt.Fprintln(out, header())
	baseCache := map[string]*measured{}
	baseline := func(name string, c int) *measured {
		if bl == nil || name == "" {
			return nil
		}
		key := name + "/" + strconv.Itoa(c)
		if m, ok := baseCache[key]; ok {
			return m
		}
		m := closedLoop(ctx, bl.url, "", c, o.Warmup, o.Duration, baselineOps[name](w), blMeter)
		baseCache[key] = m
		return m
	}
	for _, op := range ops {
		if len(o.Ops) > 0 && !slices.Contains(o.Ops, op.name) {
			continue
		}
		if op.prepare != nil {
			if err := op.prepare(ctx, base, o, w, rep, out); err != nil {
				return nil, err
			}
		}
		for _, c := range o.Concurrency {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var prof func()
			if pprofAddr != "" && c == o.ProfileC {
				prof = profile(pprofAddr, o.Warmup+o.Duration, fmt.Sprintf("%s/%s-c%d.pprof", o.ProfileDir, op.name, c))
			}
			warmup := o.Warmup
			if (op.name == "login" || op.name == oidcCodeFlow.name) && o.Warmup > 0 {
				// bcrypt at cost 11 takes ~0.1 s of a core: c sign-ins at
				// once take c×0.1 s / cores before the first completes.
				warmup = max(warmup, time.Duration(c)*150*time.Millisecond)
			}
			m := closedLoop(ctx, base, token, c, warmup, o.Duration, op.roster(w), meter)
			if prof != nil {
				prof()
			}
			row := makeRow(op.name, "closed", m)
			row.Concurrency = c
			addBaseline(&row, op.baseline, baseline(op.baseline, c))
			rep.Rows = append(rep.Rows, row)
			fmt.Fprintln(out, row.line())
			if versus(&rep.Rows[len(rep.Rows)-1], op.versus, rep.Rows) {
				r := rep.Rows[len(rep.Rows)-1]
				fmt.Fprintf(out, "  %s c=%d against %s in this run: ×%.2f CPU per request (server + database), ×%.2f throughput, ×%.2f p50\n",
					r.Op, c, r.Versus, r.VersusRatioCPU, r.VersusRatioThroughput, r.VersusRatioP50)
			}
		}
	}
	for _, name := range o.OpenOps {
		op := findOp(name)
		for _, rate := range o.Rates {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			m := openLoop(ctx, base, token, rate, o.OpenDuration, op.roster(w), meter)
			row := makeRow(op.name, "open", m)
			row.TargetRate = rate
			if bl != nil && op.baseline != "" {
				addBaseline(&row, op.baseline, openLoop(ctx, bl.url, "", rate, o.OpenDuration, baselineOps[op.baseline](w), blMeter))
			}
			rep.Rows = append(rep.Rows, row)
			fmt.Fprintln(out, row.line())
		}
	}

	var peakBefore int64 // the peak RSS of the server measureMetricsCost stops
	if o.MetricsCost > 0 && srv != nil {
		_, peakBefore = procMemory(srv.pid())
		rep.MetricsCost, srv, err = o.measureMetricsCost(ctx, srv, runEnv, token, w, out)
		if err != nil {
			return nil, err
		}
		meter.serverPID = srv.pid()
	}

	if o.Soak > 0 && srv != nil {
		rep.SoakSeconds, rep.SoakRate = o.Soak.Seconds(), o.SoakRate
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				rss, _ := procMemory(srv.pid())
				rep.SoakRSSMB = append(rep.SoakRSSMB, mb(rss))
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		m := openLoop(ctx, base, token, o.SoakRate, o.Soak, findOp("mixed").roster(w), meter)
		close(stop)
		<-sampled
		row := makeRow("mixed soak", "open", m)
		row.TargetRate = o.SoakRate
		rep.Soak = &row
		fmt.Fprintln(out, row.line())
	}

	rep.DeferredDBCPUs = dbDelta(deferred0, meter.deferred()).Seconds()
	if srv != nil {
		time.Sleep(time.Second)
		rss, peak := procMemory(srv.pid())
		rep.RSSIdleMB, rep.RSSPeakMB = mb(rss), mb(max(peak, peakBefore))
		// Restart on the loaded database: start-up time and a fresh process's memory.
		srv.stop()
		var took time.Duration
		// The same address: tokens name the server's URL as their issuer.
		srv, took, err = o.start(ctx, "server", strings.TrimSuffix(strings.TrimPrefix(srv.url, "http://"), "/"), runEnv)
		if err != nil {
			return nil, err
		}
		rep.RestartMs = ms(took)
		cl := newClient(srv.url, token, 0)
		t0 := time.Now()
		if s, _, err := cl.do(ctx, "GET", "fhir/R4/Patient/"+w.patients[0].ID, "", nil); err == nil && s == 200 {
			rep.FirstReadMs = ms(took + time.Since(t0))
		} else {
			fmt.Fprintf(out, "first read after restart failed: %v %d %.200s\n", err, s, cl.buf.String())
		}
		cl.close()
		rss, _ = procMemory(srv.pid())
		rep.RSSRestartMB = mb(rss)
	}
	rep.LoadAvgAfter = loadAverage()
	fmt.Fprintln(out)
	fmt.Fprint(out, rep.summary())
	if o.JSONPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.JSONPath, b, 0o644); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// profile fetches a CPU profile of the server for d in the background; the
// returned function waits for it to be written.
func profile(addr string, d time.Duration, path string) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int(d.Seconds()))
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

// setup signs in as the super admin, creates the run's project, invites its
// admin (whose token the workloads use) and the users the login workload
// signs in as.
func setup(ctx context.Context, base string, o *Options) (*world, string, error) {
	if o.AdminEmail == "" || o.AdminPassword == "" {
		return nil, "", errors.New("the super admin's email and password are needed (--admin-email, --admin-password)")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	w := &world{run: hex.EncodeToString(b)}
	cl := newClient(base, "", 0)
	defer cl.close()
	su, err := login(ctx, cl, o.AdminEmail, o.AdminPassword, "")
	if err != nil {
		return nil, "", fmt.Errorf("super admin login: %w", err)
	}
	cl.token = su
	s, _, err := cl.do(ctx, "POST", "admin/projects", "application/json", jsonBody(obj{"name": "Bench " + w.run}))
	if err != nil || s != 201 {
		return nil, "", fmt.Errorf("create project: %v %d %.300s", err, s, cl.buf.String())
	}
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(cl.buf.Bytes(), &p)
	w.project = p.ID
	invite := func(email string, admin bool) error {
		s, _, err := cl.do(ctx, "POST", "admin/projects/"+w.project+"/invite", "application/json", jsonBody(obj{
			"resourceType": "Practitioner", "firstName": "Bench", "lastName": "User", "email": email,
			"password": LoginPassword, "sendEmail": false, "membership": obj{"admin": admin}}))
		if err != nil || s != 200 {
			return fmt.Errorf("invite %s: %v %d %.300s", email, err, s, cl.buf.String())
		}
		return nil
	}
	adminEmail := "bench-project-admin-" + w.run + "@example.org"
	if err := invite(adminEmail, true); err != nil {
		return nil, "", err
	}
	for i := range 8 {
		email := fmt.Sprintf("bench-login-%s-%d@example.org", w.run, i)
		if err := invite(email, false); err != nil {
			return nil, "", err
		}
		w.users = append(w.users, email)
	}
	cl.token = ""
	token, err := login(ctx, cl, adminEmail, LoginPassword, w.project)
	if err != nil {
		return nil, "", fmt.Errorf("project admin login: %w", err)
	}
	cl.token = token
	if w.oidcClient, err = createOIDCClient(ctx, cl); err != nil {
		return nil, "", err
	}
	return w, token, nil
}

// reuse signs in to the population an earlier run loaded in project
// o.Project (its admin and users have the passwords setup gives them, its
// run tag is in the project's name) and samples up to 20 000 of its
// Patients for the workloads to pick from.
func reuse(ctx context.Context, base string, o *Options, rep *Report) (*world, string, error) {
	if o.Server != "" && (o.AdminEmail == "" || o.AdminPassword == "") {
		return nil, "", errors.New("the super admin's email and password are needed (--admin-email, --admin-password)")
	}
	cl := newClient(base, "", 0)
	defer cl.close()
	su, err := login(ctx, cl, o.AdminEmail, o.AdminPassword, "")
	if err != nil {
		return nil, "", fmt.Errorf("super admin login: %w", err)
	}
	cl.token = su
	var p struct {
		Name string `json:"name"`
	}
	if s, _, err := cl.do(ctx, "GET", "fhir/R4/Project/"+o.Project, "", nil); err != nil || s != 200 || json.Unmarshal(cl.buf.Bytes(), &p) != nil {
		return nil, "", fmt.Errorf("project %s: %v %d %.300s", o.Project, err, s, cl.buf.String())
	}
	run, ok := strings.CutPrefix(p.Name, "Bench ")
	if !ok {
		return nil, "", fmt.Errorf("project %s (%q) is not one roster bench made", o.Project, p.Name)
	}
	w := &world{run: run, project: o.Project}
	for i := range 8 {
		w.users = append(w.users, fmt.Sprintf("bench-login-%s-%d@example.org", run, i))
	}
	cl.token = ""
	token, err := login(ctx, cl, "bench-project-admin-"+run+"@example.org", LoginPassword, w.project)
	if err != nil {
		return nil, "", fmt.Errorf("project admin login: %w", err)
	}
	cl.token = token
	type patientPage struct {
		Total int `json:"total"`
		Entry []struct {
			Resource struct {
				ID   string `json:"id"`
				Name []struct {
					Family string
					Given  []string
				} `json:"name"`
				Telecom    []struct{ System, Value string } `json:"telecom"`
				Identifier []struct{ System, Value string } `json:"identifier"`
			} `json:"resource"`
		} `json:"entry"`
	}
	for offset := 0; offset < 20000; offset += 1000 {
		path := "fhir/R4/Patient?_count=1000&_elements=name,telecom,identifier&_offset=" + strconv.Itoa(offset)
		if offset == 0 {
			path += "&_total=accurate"
		}
		var page patientPage
		if s, _, err := cl.do(ctx, "GET", path, "", nil); err != nil || s != 200 || json.Unmarshal(cl.buf.Bytes(), &page) != nil {
			return nil, "", fmt.Errorf("sample the Patients: %v %d %.300s", err, s, cl.buf.String())
		}
		if offset == 0 {
			rep.Patients = page.Total
		}
		for _, e := range page.Entry {
			r := e.Resource
			pr := patientRef{ID: r.ID}
			if len(r.Name) > 0 && len(r.Name[0].Family) > 1 {
				pr.Person.Family = r.Name[0].Family
			}
			for _, t := range r.Telecom {
				switch t.System {
				case "email":
					pr.Person.Email = t.Value
				case "phone":
					pr.Person.Phone = t.Value
				}
			}
			for _, id := range r.Identifier {
				if id.System == MRNSystem {
					pr.Person.MRN = id.Value
				}
			}
			if pr.Person.Family != "" && pr.Person.Email != "" && pr.Person.MRN != "" {
				w.patients = append(w.patients, pr)
			}
		}
		if len(page.Entry) < 1000 {
			break
		}
	}
	if len(w.patients) == 0 {
		return nil, "", fmt.Errorf("project %s has no Patient the bench loaded", o.Project)
	}
	return w, token, nil
}

// analyze updates the planner's statistics, as after any bulk load (and as
// PostgreSQL's autovacuum does within a minute): without them both
// databases take the new tables for empty and drive searches from the wrong
// side, at a cost growing with the table. It then records the database's
// size and, on PostgreSQL, the settings that decide how much of it stays in
// memory, for the report.
func analyze(ctx context.Context, o *Options, rep *Report) error {
	var db *sql.DB
	var err error
	path := filepath.Join(o.DataDir, "roster.db")
	switch {
	case o.DatabaseURL != "":
		db, err = sql.Open("pgx", o.DatabaseURL)
	case o.Server == "":
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)")
	default:
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if o.DatabaseURL == "" {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		rep.DBSizeMB = mb(fi.Size())
		return nil
	}
	// VACUUM also marks the new pages all-visible, which index-only scans
	// need (autovacuum would, later).
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	var size int64
	if err := db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	rep.DBSizeMB = mb(size)
	rep.DBSettings = map[string]string{}
	for _, name := range pgSettings {
		var v string
		if err := db.QueryRowContext(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
		rep.DBSettings[name] = v
	}
	return nil
}

// pgSettings are the PostgreSQL settings a reader of the figures needs: how
// much of the database its own cache holds, how much the planner assumes
// the OS caches, and how often a write-heavy phase forces a checkpoint.
var pgSettings = []string{"shared_buffers", "effective_cache_size", "max_wal_size"}

// load sends the population in transaction Bundles and records the Patients.
func load(ctx context.Context, base, token string, o *Options, w *world, rep *Report, meter cpuMeter, out io.Writer) error {
	nBundles := (o.Resources + o.BundleSize - 1) / o.BundleSize
	type job struct {
		body     []byte
		patients []Person
		size     int
	}
	jobs := make(chan job, o.LoadWorkers*2)
	go func() {
		defer close(jobs)
		g := newGenerator(42, w.run)
		left := o.Resources
		for range nBundles {
			size := min(o.BundleSize, left)
			left -= size
			body, patients := g.loadBundle(size, w.project)
			select {
			case jobs <- job{body, patients, size}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var bar *progressbar.ProgressBar
	if !o.Quiet {
		bar = progressbar.NewOptions(o.Resources, progressbar.OptionSetDescription("loading"),
			progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("resources"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth(), progressbar.OptionClearOnFinish())
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		errs     int64
	)
	cpu0, db0 := meter.read()
	t0 := time.Now()
	for i := range o.LoadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(base, token, 100+i)
			cl.prefer = "return=minimal"
			defer cl.close()
			for j := range jobs {
				s, _, err := cl.do(ctx, "POST", "fhir/R4", fhirJSON, j.body)
				var resp struct {
					Entry []struct {
						Response struct {
							Location string `json:"location"`
						} `json:"response"`
					} `json:"entry"`
				}
				if err == nil && s == 200 {
					err = json.Unmarshal(cl.buf.Bytes(), &resp)
				} else if err == nil {
					err = &statusError{s, cl.buf.String()}
				}
				var refs []patientRef
				if err == nil {
					k := 0
					for _, e := range resp.Entry {
						if strings.Contains(e.Response.Location, "/Patient/") && k < len(j.patients) {
							refs = append(refs, patientRef{ID: idFromLocation(e.Response.Location), Person: j.patients[k]})
							k++
						}
					}
				}
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				}
				w.patients = append(w.patients, refs...)
				mu.Unlock()
				if bar != nil {
					_ = bar.Add(j.size)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	cpu1, db1 := meter.read()
	if bar != nil {
		_ = bar.Finish()
	}
	rep.LoadSeconds = took.Seconds()
	rep.LoadRate = float64(o.Resources) / took.Seconds()
	rep.LoadCPUus = us(cpu1-cpu0) / float64(o.Resources)
	rep.LoadDBCPUus = us(dbDelta(db0, db1)) / float64(o.Resources)
	rep.LoadErrors = errs
	rep.Patients = len(w.patients)
	fmt.Fprintf(out, "loaded %d resources (%d Patients) in %.1f s: %.0f resources/s through %d-resource transaction Bundles, %d at a time\n",
		o.Resources, len(w.patients), took.Seconds(), rep.LoadRate, o.BundleSize, o.LoadWorkers)
	if firstErr != nil {
		return fmt.Errorf("%d of %d load Bundles failed; first: %w", errs, nBundles, firstErr)
	}
	if err := analyze(ctx, o, rep); err != nil {
		return err
	} else if o.Server == "" || o.DatabaseURL != "" {
		fmt.Fprintf(out, "VACUUM ANALYZE (SQLite: ANALYZE) after the load, as after any bulk load\n")
	}
	if rep.DBSizeMB > 0 {
		fmt.Fprintf(out, "database after the load: %.0f MB%s\n", rep.DBSizeMB, settingsString(rep.DBSettings))
	}
	if len(w.patients) == 0 {
		return errors.New("the load created no Patient")
	}
	return nil
}

func settingsString(m map[string]string) string {
	var parts []string
	for _, name := range pgSettings {
		if v, ok := m[name]; ok {
			parts = append(parts, name+" "+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; PostgreSQL " + strings.Join(parts, ", ")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

func makeRow(name, mode string, m *measured) Row {
	r := Row{Op: name, Mode: mode, Ops: m.ops, Errors: m.errors, Statuses: statusString(m.statuses), FirstError: m.firstErr,
		Throughput: m.rate(), P50ms: ms(m.pct(0.5)), P99ms: ms(m.pct(0.99)), P999ms: ms(m.pct(0.999))}
	if len(m.lat) > 0 {
		r.MaxMs = ms(m.lat[len(m.lat)-1])
	}
	if m.ops > 0 {
		r.CPUus = us(m.cpu) / float64(m.ops)
		r.DBCPUus = us(m.dbCPU) / float64(m.ops)
	}
	return r
}

func addBaseline(r *Row, name string, m *measured) {
	if m == nil || m.ops == 0 {
		return
	}
	b := makeRow(name, r.Mode, m)
	r.Baseline, r.BaselineThroughput, r.BaselineP50ms, r.BaselineP99ms = name, b.Throughput, b.P50ms, b.P99ms
	r.BaselineCPUus, r.BaselineDBCPUus, r.BaselineErrors = b.CPUus, b.DBCPUus, b.Errors
	r.RatioThroughput = r.Throughput / b.Throughput
	if tot := b.CPUus + b.DBCPUus; tot > 0 {
		r.RatioCPU = (r.CPUus + r.DBCPUus) / tot
	}
}

// versus sets r's ratios against the closed-loop row of workload name at
// r's concurrency among rows, when there is one.
func versus(r *Row, name string, rows []Row) bool {
	if name == "" {
		return false
	}
	for _, o := range rows {
		if o.Op != name || o.Mode != "closed" || o.Concurrency != r.Concurrency || o.Ops == 0 || r.Ops == 0 {
			continue
		}
		r.Versus = name
		if tot := o.CPUus + o.DBCPUus; tot > 0 {
			r.VersusRatioCPU = (r.CPUus + r.DBCPUus) / tot
		}
		r.VersusRatioThroughput = r.Throughput / o.Throughput
		if o.P50ms > 0 {
			r.VersusRatioP50 = r.P50ms / o.P50ms
		}
		return true
	}
	return false
}

func header() string {
	return fmt.Sprintf("%-18s %-8s %9s %8s %8s %5s %8s %8s | %-19s %9s %8s %8s %8s %6s %6s",
		"operation", "load", "ops/s", "p50 ms", "p99 ms", "err", "cpu µs", "db µs", "baseline", "ops/s", "p50 ms", "cpu µs", "db µs", "×ops", "×cpu")
}

func (r Row) line() string {
	load := "c=" + strconv.Itoa(r.Concurrency)
	if r.Mode == "open" {
		load = strconv.FormatFloat(r.TargetRate, 'f', -1, 64) + "/s"
	}
	s := fmt.Sprintf("%-18s %-8s %9.0f %8.2f %8.2f %5d %8.0f %8.0f", r.Op, load, r.Throughput, r.P50ms, r.P99ms, r.Errors, r.CPUus, r.DBCPUus)
	if r.Baseline == "" {
		return s + " | —"
	}
	return s + fmt.Sprintf(" | %-19s %9.0f %8.2f %8.0f %8.0f %6.2f %6.2f", r.Baseline, r.BaselineThroughput, r.BaselineP50ms,
		r.BaselineCPUus, r.BaselineDBCPUus, r.RatioThroughput, r.RatioCPU)
}

func (r *Report) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s; %d resources (%d Patients) loaded at %.0f resources/s (%.0f µs server CPU, %.0f µs database CPU per resource)\n",
		r.Database, r.Resources, r.Patients, r.LoadRate, r.LoadCPUus, r.LoadDBCPUus)
	if r.Database == "postgres" {
		fmt.Fprintf(&b, "database CPU deferred (autovacuum, checkpoints, background writer) over the run, in no phase's db µs: %.1f s\n", r.DeferredDBCPUs)
	}
	if r.ColdStartMs > 0 {
		fmt.Fprintf(&b, "start on an empty database %.0f ms (migrations, bootstrap with a bcrypt hash); restart on the loaded one %.0f ms, first read answered at %.0f ms\n",
			r.ColdStartMs, r.RestartMs, r.FirstReadMs)
		fmt.Fprintf(&b, "server RSS: %.1f MB after start, %.1f MB peak, %.1f MB idle after the run, %.1f MB after a restart\n",
			r.RSSStartMB, r.RSSPeakMB, r.RSSIdleMB, r.RSSRestartMB)
	}
	if len(r.SoakRSSMB) > 0 {
		lo, hi := slices.Min(r.SoakRSSMB), slices.Max(r.SoakRSSMB)
		fmt.Fprintf(&b, "soak: mixed workload at %.0f/s for %.0f s: RSS %.1f MB at the start, %.1f MB at the end (min %.1f, max %.1f)\n",
			r.SoakRate, r.SoakSeconds, r.SoakRSSMB[0], r.SoakRSSMB[len(r.SoakRSSMB)-1], lo, hi)
	}
	fmt.Fprintf(&b, "load average before %s, after %s\n", r.LoadAvgBefore, r.LoadAvgAfter)
	var bad []string
	for _, row := range r.Rows {
		if row.Errors > 0 || row.BaselineErrors > 0 {
			bad = append(bad, fmt.Sprintf("%s %s c=%d rate=%g: %s (%s)", row.Op, row.Mode, row.Concurrency, row.TargetRate, row.Statuses, row.FirstError))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "phases with errors:\n  %s\n", strings.Join(bad, "\n  "))
	}
	return b.String()
}
