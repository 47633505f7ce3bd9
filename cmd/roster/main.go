// Command roster runs the Roster server and its maintenance subcommands:
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

func run(args []string) error {
	log := telemetry.NewLogger(os.Stderr, os.Getenv("ROSTER_LOG_FORMAT"))
	cfg := app.FromEnv()
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd != "serve" {
		cfg.MetricsAddr = "" // only the server is scraped; a migrate beside it must not take its port
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		cfg.SkipBootstrap = true
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		a.Close()
		fmt.Println("migrations applied")
		return nil
	case "seed":
		return seed(ctx, cfg, log, args)
	case "keys":
		return keys(ctx, cfg, log, args)
	case "invite":
		return invite(ctx, args)
	case "bench":
		return benchCmd(ctx, args)
	case "help", "-h", "--help":
		fmt.Println("usage: roster [serve|migrate|seed FILE|keys rotate|keys list|keys retire KID|invite ...]")
		return nil
	}
	return fmt.Errorf("unknown command %q (try: serve, migrate, seed FILE, keys rotate, invite)", cmd)
}

func serve(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if b := a.Bootstrap; b != nil && b.Created {
		log.Info("bootstrapped", "admin_email", b.Email, "project", b.ProjectID)
		if b.GeneratedPassword != "" {
			// Printed once, on the first start only; it is not stored anywhere in clear.
			fmt.Fprintf(os.Stderr, "\n  Super admin: %s\n  Password:    %s\n  (shown once; change it after signing in)\n\n", b.Email, b.GeneratedPassword)
		}
	}
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
