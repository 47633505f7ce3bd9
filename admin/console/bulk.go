package console

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/admin/invitecsv"
	"github.com/rosterhq/roster/resources"
)

// A bulk invite reads a CSV of roster invite's columns, shows every row
// with what is wrong with it before anything is written, then invites the
// rows through POST …/invite (with upsert, as roster invite does) while the
// page shows the progress, and ends with the result file (row, outcome,
// membership id, error) to download. The run streams its progress in the
// answer itself, so nothing of it is kept on the server.

const (
	// bulkWorkers is how many invites of a run are in flight at once.
	bulkWorkers = 4
	// previewRows is how many rows the preview lists.
	previewRows = 2000
	// bulkTokenLeft is how long the access token must still live when a
	// run starts (it is refreshed otherwise).
	bulkTokenLeft = 10 * time.Minute
)

func (c *Console) handleBulkForm(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "bulk", page{Title: "Bulk invite", Project: p})
}

// csvOf is the CSV a form sent: the file, or else the text pasted.
func csvOf(ec echo.Context) (string, error) {
	if fh, err := ec.FormFile("file"); err == nil && fh.Size > 0 {
		f, err := fh.Open()
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		return string(b), err
	}
	return ec.FormValue("csv"), nil
}

// previewRow is a row as the preview lists it.
type previewRow struct {
	Line                       int
	Type, Name, Contact, Admin string
	Problems                   []string
}

// previewView is the preview's own view.
type previewView struct {
	CSV                     string
	Rows                    []previewRow
	Total, Ready, Bad, More int
}

// problems are a row's problems as the preview says them.
func problems(r invitecsv.Row) []string {
	var out []string
	for _, p := range r.Problems() {
		msg := p.Message
		if p.Field != "" && !strings.HasPrefix(msg, p.Field) {
			msg = p.Field + ": " + msg
		}
		out = append(out, msg)
	}
	return out
}

// handleBulkPreview reads the CSV and lists its rows with their problems;
// nothing is written.
func (c *Console) handleBulkPreview(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	text, err := csvOf(ec)
	if err != nil {
		return err
	}
	rows, err := invitecsv.Read(strings.NewReader(text))
	if err != nil {
		return failure(ec, resources.Invalid("file", "The CSV cannot be read: %s", err.Error()), "bulk",
			page{Title: "Bulk invite", Project: p, Error: "The CSV cannot be read: " + err.Error(), Body: text})
	}
	if len(rows) == 0 {
		return failure(ec, resources.Invalid("file", "The CSV has no rows"), "bulk",
			page{Title: "Bulk invite", Project: p, Error: "The CSV has a header but no rows.", Body: text})
	}
	v := previewView{CSV: text, Total: len(rows)}
	for _, r := range rows {
		pr := previewRow{Line: r.Line, Problems: problems(r), Type: r.Fields["resourceType"],
			Name: strings.TrimSpace(r.Fields["firstName"] + " " + r.Fields["lastName"]), Contact: r.Fields["email"], Admin: r.Fields["admin"]}
		if pr.Contact == "" {
			pr.Contact = r.Fields["externalId"]
		}
		if len(pr.Problems) > 0 {
			v.Bad++
		} else {
			v.Ready++
		}
		if len(v.Rows) < previewRows {
			v.Rows = append(v.Rows, pr)
		}
	}
	v.More = v.Total - len(v.Rows)
	return c.render(ec, http.StatusOK, "bulk-preview", page{Title: "Check the rows", Project: p, Body: v})
}

// bulkResult is the end of a run as the page shows it.
type bulkResult struct {
	Total, Created, Updated, Unchanged, Failed int
	Failures                                   []invitecsv.Result
	Download                                   template.URL
	Members                                    string
}

// progressEvent is one line of a run's NDJSON answer.
type progressEvent struct {
	Done  int    `json:"done"`
	Total int    `json:"total"`
	HTML  string `json:"html,omitempty"` // the result, at the end
}

// handleBulkRun invites the rows, streaming the progress: as NDJSON to the
// page's script (Accept: application/x-ndjson), else as a page that grows.
func (c *Console) handleBulkRun(ec echo.Context) error {
	p, err := c.project(ec)
	if err != nil {
		return err
	}
	rows, err := invitecsv.Read(strings.NewReader(ec.FormValue("csv")))
	if err != nil || len(rows) == 0 {
		return resources.Invalid("csv", "The CSV cannot be read; start again from the file.")
	}
	s := sessionOf(ec)
	if !c.now().Add(bulkTokenLeft).Before(s.data.Expires) {
		ok, err := c.refreshFor(ec, s.keys, &s.data, bulkTokenLeft)
		if err != nil {
			return err
		}
		if !ok {
			return errSignedOut
		}
	}
	ndjson := strings.Contains(ec.Request().Header.Get("Accept"), "application/x-ndjson")
	w := ec.Response()
	if ndjson {
		w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
	} else {
		w.Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	}
	w.WriteHeader(http.StatusOK)
	pg := c.fill(ec, page{Title: "Inviting", Project: p, Body: len(rows)})
	if !ndjson {
		if err := templates.ExecuteTemplate(w, "bulk-run-head", pg); err != nil {
			return err
		}
		w.Flush()
	}
	total := len(rows)
	tick := func(done int) {
		if ndjson {
			b, _ := json.Marshal(progressEvent{Done: done, Total: total})
			_, _ = w.Write(append(b, '\n'))
		} else {
			_ = templates.ExecuteTemplate(w, "bulk-tick", struct{ Done, Total, Percent int }{done, total, done * 100 / total})
		}
		w.Flush()
	}
	tick(0)
	results := c.inviteRows(ec, p.ID, s.data.Access, rows, tick)
	res := bulkResult{Total: total, Members: c.url("projects/" + p.ID + "/members")}
	var file bytes.Buffer
	cw := csv.NewWriter(&file)
	_ = cw.Write(invitecsv.ResultHeader)
	for _, r := range results {
		_ = cw.Write(r.Record())
		switch r.Outcome {
		case invitecsv.OutcomeCreated:
			res.Created++
		case invitecsv.OutcomeUpdated:
			res.Updated++
		case invitecsv.OutcomeUnchanged:
			res.Unchanged++
		default:
			res.Failed++
			res.Failures = append(res.Failures, r)
		}
	}
	cw.Flush()
	res.Download = template.URL("data:text/csv;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(file.Bytes()))
	if ndjson {
		var buf bytes.Buffer
		if err := templates.ExecuteTemplate(&buf, "bulk-result", res); err != nil {
			return err
		}
		b, _ := json.Marshal(progressEvent{Done: total, Total: total, HTML: buf.String()})
		_, err := w.Write(append(b, '\n'))
		return err
	}
	pg.Body = res
	return templates.ExecuteTemplate(w, "bulk-run-tail", pg)
}

// inviteRows invites every row without problems (bulkWorkers at a time)
// and reports the progress to tick, at most every tenth of a second; the
// results are in the rows' order.
func (c *Console) inviteRows(ec echo.Context, projectID, token string, rows []invitecsv.Row, tick func(done int)) []invitecsv.Result {
	results := make([]invitecsv.Result, len(rows))
	path := "/admin/projects/" + url.PathEscape(projectID) + "/invite"
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		done     int
		lastTick time.Time
		wg       sync.WaitGroup
	)
	finish := func(i int, r invitecsv.Result) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = r
		done++
		if time.Since(lastTick) >= 100*time.Millisecond || done == len(rows) {
			lastTick = time.Now()
			tick(done)
		}
	}
	for range bulkWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				finish(i, c.inviteRow(ec, path, token, rows[i]))
			}
		}()
	}
	for i := range rows {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

// inviteRow invites one row, unless it has problems.
func (c *Console) inviteRow(ec echo.Context, path, token string, r invitecsv.Row) invitecsv.Result {
	if ps := problems(r); len(ps) > 0 {
		return invitecsv.Result{Line: r.Line, Outcome: invitecsv.OutcomeError, Error: strings.Join(ps, "; ")}
	}
	body, err := r.Body()
	if err != nil {
		return invitecsv.Result{Line: r.Line, Outcome: invitecsv.OutcomeError, Error: err.Error()}
	}
	ans, err := c.api.do(ec, call{method: http.MethodPost, path: path, token: token, body: json.RawMessage(body)})
	if err != nil {
		return invitecsv.Result{Line: r.Line, Outcome: invitecsv.OutcomeError, Error: err.Error()}
	}
	return invitecsv.Answer(r.Line, ans.Status, ans.Header.Get("Roster-Invite-Outcome"), ans.Body)
}
