package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
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
)

// The columns a bulk-invite CSV may have (header names are matched without
// regard to case); resourceType, firstName, lastName and one of email or
// externalId are required.
var inviteColumns = []string{"resourceType", "firstName", "lastName", "email", "externalId", "admin", "sendEmail"}

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

// inviteRow is one data row of the CSV.
type inviteRow struct {
	line   int
	fields map[string]string
	err    error // the row could not be read
}

// inviteResult is one line of the result CSV.
type inviteResult struct {
	line         int
	outcome      string
	membershipID string
	err          string
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
func readInviteCSV(path string) ([]inviteRow, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the header row: %w", path, err)
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := ""
		for _, c := range inviteColumns {
			if strings.EqualFold(strings.TrimSpace(h), c) {
				name = c
			}
		}
		if name == "" {
			return nil, fmt.Errorf("%s: unknown column %q (columns: %s)", path, h, strings.Join(inviteColumns, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: column %s appears twice", path, name)
		}
		seen[name], names[i] = true, name
	}
	for _, c := range []string{"resourceType", "firstName", "lastName"} {
		if !seen[c] {
			return nil, fmt.Errorf("%s: missing column %s", path, c)
		}
	}
	if !seen["email"] && !seen["externalId"] {
		return nil, fmt.Errorf("%s: needs an email or an externalId column", path)
	}
	var rows []inviteRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		line, _ := r.FieldPos(0)
		row := inviteRow{line: line, fields: map[string]string{}}
		if err != nil {
			if !errors.Is(err, csv.ErrFieldCount) {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			row.err = fmt.Errorf("expected %d fields, found %d", len(names), len(rec))
		} else {
			for i, v := range rec {
				row.fields[names[i]] = strings.TrimSpace(v)
			}
		}
		rows = append(rows, row)
	}
}

// run invites the rows one after another, writing each result as it comes,
// so an interrupted run still leaves what was done.
func (b *bulkInvite) run(ctx context.Context, rows []inviteRow, out io.Writer, bar *progressbar.ProgressBar) (map[string]int, error) {
	w := csv.NewWriter(out)
	_ = w.Write([]string{"row", "outcome", "membershipId", "error"})
	counts := map[string]int{}
	for _, row := range rows {
		if err := ctx.Err(); err != nil {
			w.Flush()
			return counts, err
		}
		res := b.inviteOne(ctx, row)
		counts[res.outcome]++
		if err := w.Write([]string{strconv.Itoa(res.line), res.outcome, res.membershipID, res.err}); err != nil {
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
	inviteResult
	stop error
}

func failed(line int, format string, a ...any) rowResult {
	return rowResult{inviteResult: inviteResult{line: line, outcome: "error", err: fmt.Sprintf(format, a...)}}
}

// inviteOne sends one row, retrying transient failures (the invite is an
// upsert, so a retry after a lost answer is harmless).
func (b *bulkInvite) inviteOne(ctx context.Context, row inviteRow) rowResult {
	if row.err != nil {
		return failed(row.line, "%v", row.err)
	}
	body, err := rowBody(row.fields)
	if err != nil {
		return failed(row.line, "%v", err)
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
			return failed(row.line, "%v", err)
		}
		switch status {
		case http.StatusOK:
			var m struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(resp, &m)
			outcome := header.Get("Roster-Invite-Outcome")
			if outcome == "" {
				outcome = "created"
			}
			return rowResult{inviteResult: inviteResult{line: row.line, outcome: outcome, membershipID: m.ID}}
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			r := failed(row.line, "%s", outcomeText(status, resp))
			r.stop = fmt.Errorf("stopped at row %d: %s", row.line, outcomeText(status, resp))
			return r
		}
		return failed(row.line, "%s", outcomeText(status, resp))
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

// rowBody is the invite request of a row.
func rowBody(f map[string]string) ([]byte, error) {
	body := map[string]any{"resourceType": f["resourceType"], "firstName": f["firstName"], "lastName": f["lastName"], "upsert": true}
	if f["email"] != "" {
		body["email"] = f["email"]
	}
	if f["externalId"] != "" {
		body["externalId"] = f["externalId"]
	}
	if v := f["admin"]; v != "" {
		admin, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("admin: %v", err)
		}
		body["membership"] = map[string]any{"admin": admin}
	}
	if v := f["sendEmail"]; v != "" {
		send, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("sendEmail: %v", err)
		}
		body["sendEmail"] = send
	}
	return json.Marshal(body)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "y", "1":
		return true, nil
	case "false", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// outcomeText summarizes an error answer: each OperationOutcome issue as
// "expression: text", else the status.
func outcomeText(status int, body []byte) string {
	var oo struct {
		Issue []struct {
			Details struct {
				Text string `json:"text"`
			} `json:"details"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	var parts []string
	if json.Unmarshal(body, &oo) == nil {
		for _, is := range oo.Issue {
			text := is.Details.Text
			if text == "" {
				text = is.Diagnostics
			}
			if len(is.Expression) > 0 {
				text = strings.Join(is.Expression, ",") + ": " + text
			}
			parts = append(parts, text)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("HTTP %d: %s", status, strings.Join(parts, "; "))
}
