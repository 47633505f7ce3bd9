// Command roster runs the Roster server and its maintenance subcommands
// (the list is commands, which `roster help` prints):
//
//	roster [serve]        run the server (default)
//	roster migrate        apply schema migrations and exit
//	roster seed FILE      load a FHIR Bundle into the database
//	roster keys rotate    add a new token signing key
//	roster keys list      list the signing keys
//	roster keys retire KID  stop a key from verifying tokens
//	roster invite ...     invite the rows of a CSV file into a project (roster invite --help)
//	roster bench ...      benchmark Roster against a bare-SQL baseline (roster bench --help)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/telemetry"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "roster:", err)
		os.Exit(1)
	}
}

// command is a subcommand of roster: its name, its arguments as usage
// shows them, what it does, and how it runs.
type command struct {
	name, args, does string
	run              func(ctx context.Context, cfg app.Config, log *slog.Logger, args []string) error
}

// commands are roster's subcommands, in the order usage lists them: the
// one list that run dispatches on, `roster help` prints and an unknown
// command's error names.
var commands = []command{
	{"serve", "", "run the server (the default)", serveCmd},
	{"migrate", "", "apply schema migrations and exit", migrate},
	{"seed", "[--project ID] FILE", "load a FHIR Bundle into the database", seed},
	{"keys", "rotate | list | retire KID", "add, list or retire token signing keys", keys},
	{"invite", "...", "invite the rows of a CSV file into a project (roster invite --help)", inviteCmd},
	{"bench", "...", "benchmark Roster against a bare-SQL baseline (roster bench --help)", benchCommand},
	{"help", "", "show this list", nil},
}

func serveCmd(ctx context.Context, cfg app.Config, log *slog.Logger, _ []string) error {
	return serve(ctx, cfg, log)
}

func inviteCmd(ctx context.Context, _ app.Config, _ *slog.Logger, args []string) error {
	return invite(ctx, args)
}

func benchCommand(ctx context.Context, _ app.Config, _ *slog.Logger, args []string) error {
	return benchCmd(ctx, args)
}

// usage is `roster help`'s text.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: roster [" + strings.Join(commandNames(), "|") + "] ...\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  roster %s %s\t%s\n", c.name, c.args, c.does)
	}
	_ = tw.Flush()
	return b.String()
}

func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

func run(args []string) error {
	log := telemetry.NewLogger(os.Stderr, os.Getenv("ROSTER_LOG_FORMAT"))
	cfg := app.FromEnv()
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name != "serve" {
		cfg.MetricsAddr = "" // only the server is scraped; a migrate beside it must not take its port
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch name {
	case "help", "-h", "--help":
		fmt.Print(usage())
		return nil
	}
	for _, c := range commands {
		if c.name == name && c.run != nil {
			return c.run(ctx, cfg, log, args)
		}
	}
	return fmt.Errorf("unknown command %q (commands: %s; roster help says more)", name, strings.Join(commandNames(), ", "))
}

func migrate(ctx context.Context, cfg app.Config, log *slog.Logger, _ []string) error {
	cfg.SkipBootstrap = true
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.Close()
	fmt.Println("migrations applied")
	return nil
}

// open builds the app, which on an empty database creates the first super
// admin, and says so: every command that may create it opens through here.
func open(ctx context.Context, cfg app.Config, log *slog.Logger) (*app.App, error) {
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if b := a.Bootstrap; b != nil && b.Created {
		log.Info("bootstrapped", "admin_email", b.Email, "project", b.ProjectID)
		if b.GeneratedPassword != "" {
			// Printed once, when the admin is created; it is not stored anywhere in clear.
			fmt.Fprintf(os.Stderr, "\n  Super admin: %s\n  Password:    %s\n  (shown once; change it after signing in)\n\n", b.Email, b.GeneratedPassword)
		}
	}
	return a, nil
}

func serve(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	a, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	srv := &http.Server{Addr: cfg.Addr, Handler: a.Echo, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		log.Info("listening", "addr", cfg.Addr)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		log.Info("shutting down")
		// In-flight requests finish; new connections are refused.
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
	}
	a.Stop()
	return nil
}

const keysUsage = "usage: roster keys rotate | roster keys list | roster keys retire KID"

func keys(ctx context.Context, cfg app.Config, log *slog.Logger, args []string) error {
	switch {
	case len(args) == 1 && (args[0] == "rotate" || args[0] == "list"):
	case len(args) == 2 && args[0] == "retire":
	default:
		return errors.New(keysUsage)
	}
	cfg.SkipBootstrap = true
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	switch args[0] {
	case "rotate":
		kid, err := a.RotateKey(ctx)
		if err != nil {
			return err
		}
		fmt.Println("new signing key:", kid)
	case "list":
		list, err := a.Auth.Keys().List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
		for _, k := range list {
			state := "verifies"
			switch {
			case !k.RetiredAt.IsZero():
				state = "retired " + k.RetiredAt.Format(time.RFC3339)
			case k.Current:
				state = "signs"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.CreatedAt.Format(time.RFC3339), state)
		}
		return tw.Flush()
	case "retire":
		if err := a.Auth.Keys().Retire(ctx, args[1]); err != nil {
			return err
		}
		fmt.Println("retired signing key:", args[1])
	}
	return nil
}
