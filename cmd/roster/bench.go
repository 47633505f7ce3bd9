package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"strings"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/cmd/roster/bench"
	"github.com/rosterhq/roster/telemetry"
)

// benchCmd is `roster bench [flags]` (see bench.ParseFlags and the README).
// The benchmark re-runs this binary as its children: `roster bench --child
// server` is `roster serve` (plus pprof when ROSTER_BENCH_PPROF names an
// address), `roster bench --child baseline` the bare-SQL baseline server.
func benchCmd(ctx context.Context, args []string) error {
	if len(args) == 2 && args[0] == "--child" {
		return benchChild(ctx, args[1])
	}
	opts, err := bench.ParseFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	opts.Spawn = func(kind string, env []string) *exec.Cmd {
		cmd := exec.Command(exe, "bench", "--child", kind)
		// A clean ROSTER_ environment: only what the benchmark sets.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ROSTER_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		return cmd
	}
	_, err = bench.Run(ctx, opts, os.Stdout)
	return err
}

func benchChild(ctx context.Context, kind string) error {
	cfg := app.FromEnv()
	switch kind {
	case "server":
		if addr := os.Getenv("ROSTER_BENCH_PPROF"); addr != "" {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			go func() { _ = http.ListenAndServe(addr, mux) }()
		}
		return serve(ctx, cfg, telemetry.NewLogger(os.Stderr, os.Getenv("ROSTER_LOG_FORMAT")))
	case "baseline":
		return bench.ServeBaseline(ctx, cfg.Addr, cfg.DatabaseURL, cfg.DataDir)
	}
	return fmt.Errorf("unknown bench child %q", kind)
}
