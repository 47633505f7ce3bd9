package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/rosterhq/roster/admin/invitecsv"
)

const inviteUsage = `usage: roster invite --server URL --token TOKEN --project ID --csv FILE [--out RESULT.csv]

Invites every row of FILE into the project through the server's
POST /admin/projects/{id}/invite, with upsert, so running the same file
again changes nothing. FILE has a header row naming its columns:
  resourceType,firstName,lastName,email,externalId,admin,sendEmail
(admin and sendEmail: true/false, empty for the default). The result CSV
(row,outcome,membershipId,error; outcome is created, updated, unchanged or
error) goes to --out, or to standard output. --token defaults to
$ROSTER_TOKEN and --server to $ROSTER_SERVER. Exits non-zero if any row failed.`

// bulkInvite is one run of roster invite.
type bulkInvite struct {
	server, token, project string
	http                   *http.Client
	// backoff is the wait before retry n (1-based) of a transient failure.
	backoff func(n int) time.Duration
}

// invite runs `roster invite`.
func invite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("server", os.Getenv("ROSTER_SERVER"), "Roster base URL")
	token := fs.String("token", os.Getenv("ROSTER_TOKEN"), "access token of a project admin")
	project := fs.String("project", "", "project id")
	csvPath := fs.String("csv", "", "CSV file to invite")
	outPath := fs.String("out", "", "result CSV (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Println(inviteUsage)
			return nil
		}
		return fmt.Errorf("%v\n%s", err, inviteUsage)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--server", *server}, {"--token", *token}, {"--project", *project}, {"--csv", *csvPath}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 || fs.NArg() > 0 {
		return fmt.Errorf("missing %s\n%s", strings.Join(missing, ", "), inviteUsage)
	}
	if *outPath != "" && samePath(*outPath, *csvPath) {
		return errors.New("--out must not be the input file")
	}
	rows, err := readInviteCSV(*csvPath)
	if err != nil {
		return err
	}
	out := io.Writer(os.Stdout)
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	b := &bulkInvite{server: strings.TrimSuffix(*server, "/") + "/", token: *token, project: *project,
		http: &http.Client{Timeout: time.Minute}, backoff: func(n int) time.Duration { return time.Duration(n*n) * 500 * time.Millisecond }}
	counts, err := b.run(ctx, rows, out, progress(len(rows)))
	fmt.Fprintf(os.Stderr, "%d rows: %d created, %d updated, %d unchanged, %d failed\n",
		len(rows), counts["created"], counts["updated"], counts["unchanged"], counts["error"])
	if err != nil {
		return err
	}
	if n := counts["error"]; n > 0 {
		return fmt.Errorf("%d of %d rows failed", n, len(rows))
	}
	return nil
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// progress is a progress bar on standard error when it is a terminal.
func progress(total int) *progressbar.ProgressBar {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("inviting"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
	)
}

// readInviteCSV reads the whole file first, so the progress bar knows the
// total and a malformed file fails before anything is sent.
func readInviteCSV(path string) ([]invitecsv.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := invitecsv.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// run invites the rows one after another, writing each result as it comes,
// so an interrupted run still leaves what was done.
func (b *bulkInvite) run(ctx context.Context, rows []invitecsv.Row, out io.Writer, bar *progressbar.ProgressBar) (map[string]int, error) {
	w := csv.NewWriter(out)
	_ = w.Write(invitecsv.ResultHeader)
	counts := map[string]int{}
	for _, row := range rows {
		if err := ctx.Err(); err != nil {
			w.Flush()
			return counts, err
		}
		res := b.inviteOne(ctx, row)
		counts[res.Outcome]++
		if err := w.Write(res.Record()); err != nil {
			return counts, err
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return counts, err
		}
		if bar != nil {
			_ = bar.Add(1)
		}
		if res.stop != nil {
			return counts, res.stop
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return counts, nil
}

// rowResult is a row's result; stop is set when the failure concerns every
// row (credentials, project), so the run ends there.
type rowResult struct {
	invitecsv.Result
	stop error
}

func failed(line int, format string, a ...any) rowResult {
	return rowResult{Result: invitecsv.Result{Line: line, Outcome: invitecsv.OutcomeError, Error: fmt.Sprintf(format, a...)}}
}

// inviteOne sends one row, retrying transient failures (the invite is an
// upsert, so a retry after a lost answer is harmless).
func (b *bulkInvite) inviteOne(ctx context.Context, row invitecsv.Row) rowResult {
	body, err := row.Body()
	if err != nil {
		return failed(row.Line, "%v", err)
	}
	for attempt := 1; ; attempt++ {
		status, header, resp, err := b.post(ctx, body)
		transient := err != nil || status == http.StatusTooManyRequests || status == http.StatusBadGateway ||
			status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
		if transient && attempt < 4 && ctx.Err() == nil {
			wait := b.backoff(attempt)
			if s, perr := strconv.Atoi(header.Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
			}
		}
		if err != nil {
			return failed(row.Line, "%v", err)
		}
		r := rowResult{Result: invitecsv.Answer(row.Line, status, header.Get("Roster-Invite-Outcome"), resp)}
		switch status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			r.stop = fmt.Errorf("stopped at row %d: %s", row.Line, r.Error)
		}
		return r
	}
}

func (b *bulkInvite) post(ctx context.Context, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.server+"admin/projects/"+url.PathEscape(b.project)+"/invite", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/fhir+json, application/json")
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, raw, nil
}
