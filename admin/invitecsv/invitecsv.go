// Package invitecsv is the bulk-invite CSV that `roster invite` and the
// admin console read: its columns, its rows as invite requests of the
// admin API, the checks a row can fail before anything is sent, and the
// result file both write.
package invitecsv

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/resources"
)

// Columns are the columns a bulk-invite CSV may have (header names are
// matched without regard to case); resourceType, firstName, lastName and
// one of email or externalId are required.
var Columns = []string{"resourceType", "firstName", "lastName", "email", "externalId", "admin", "sendEmail"}

// ResultHeader is the header of the result file.
var ResultHeader = []string{"row", "outcome", "membershipId", "error"}

// Outcomes of a row in the result file: the invite's Roster-Invite-Outcome,
// or OutcomeError.
const (
	OutcomeCreated   = "created"
	OutcomeUpdated   = "updated"
	OutcomeUnchanged = "unchanged"
	OutcomeError     = "error"
)

// Row is one data row of the CSV.
type Row struct {
	Line   int               // the row's line in the file
	Fields map[string]string // by column name, trimmed
	Err    error             // the row could not be read
}

// Read reads a whole CSV: the header row, then every data row. A header
// it cannot use (an unknown or repeated column, a required one missing)
// or a malformed file is an error; a row with the wrong number of fields
// is a Row with Err.
func Read(in io.Reader) ([]Row, error) {
	raw, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("cannot read the header row: %w", err)
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := ""
		for _, c := range Columns {
			if strings.EqualFold(strings.TrimSpace(h), c) {
				name = c
			}
		}
		if name == "" {
			return nil, fmt.Errorf("unknown column %q (columns: %s)", h, strings.Join(Columns, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("column %s appears twice", name)
		}
		seen[name], names[i] = true, name
	}
	for _, c := range []string{"resourceType", "firstName", "lastName"} {
		if !seen[c] {
			return nil, fmt.Errorf("missing column %s", c)
		}
	}
	if !seen["email"] && !seen["externalId"] {
		return nil, errors.New("needs an email or an externalId column")
	}
	var rows []Row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		line, _ := r.FieldPos(0)
		row := Row{Line: line, Fields: map[string]string{}}
		if err != nil {
			if !errors.Is(err, csv.ErrFieldCount) {
				return nil, err
			}
			row.Err = fmt.Errorf("expected %d fields, found %d", len(names), len(rec))
		} else {
			for i, v := range rec {
				row.Fields[names[i]] = strings.TrimSpace(v)
			}
		}
		rows = append(rows, row)
	}
}

// Body is the row's invite request: an upsert, so the same file run again
// changes nothing.
func (r Row) Body() ([]byte, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	f := r.Fields
	body := map[string]any{"resourceType": f["resourceType"], "firstName": f["firstName"], "lastName": f["lastName"], "upsert": true}
	if f["email"] != "" {
		body["email"] = f["email"]
	}
	if f["externalId"] != "" {
		body["externalId"] = f["externalId"]
	}
	if v := f["admin"]; v != "" {
		admin, err := ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("admin: %v", err)
		}
		body["membership"] = map[string]any{"admin": admin}
	}
	if v := f["sendEmail"]; v != "" {
		send, err := ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("sendEmail: %v", err)
		}
		body["sendEmail"] = send
	}
	return json.Marshal(body)
}

// Problem is what is wrong with one field of a row ("" for the row).
type Problem struct {
	Field   string
	Message string
}

// Problems are what the invite would refuse in the row, found without
// sending it: the fields the API requires and checks on its own. A row
// without problems may still be refused (a conflict with a member, say).
func (r Row) Problems() []Problem {
	if r.Err != nil {
		return []Problem{{"", r.Err.Error()}}
	}
	f := r.Fields
	var out []Problem
	switch f["resourceType"] {
	case "Patient", "Practitioner":
	case "RelatedPerson":
		out = append(out, Problem{"resourceType", "A RelatedPerson needs the Patient it is related to, which a CSV cannot give; invite it on its own"})
	case "":
		out = append(out, Problem{"resourceType", "resourceType is required"})
	default:
		out = append(out, Problem{"resourceType", "resourceType must be Patient, Practitioner or RelatedPerson"})
	}
	for _, c := range []string{"firstName", "lastName"} {
		if f[c] == "" {
			out = append(out, Problem{c, c + " is required"})
		}
	}
	switch {
	case f["email"] == "" && f["externalId"] == "":
		out = append(out, Problem{"email", "email or externalId is required"})
	case f["email"] != "":
		if _, err := resources.NormalizeEmail(f["email"]); err != nil {
			out = append(out, Problem{"email", err.Error()})
		}
	}
	for _, c := range []string{"admin", "sendEmail"} {
		if v := f[c]; v != "" {
			if _, err := ParseBool(v); err != nil {
				out = append(out, Problem{c, c + ": " + err.Error()})
			}
		}
	}
	return out
}

// ParseBool reads a yes/no cell.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "y", "1":
		return true, nil
	case "false", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// Result is one line of the result file.
type Result struct {
	Line         int
	Outcome      string
	MembershipID string
	Error        string
}

// Record is the result as a CSV record.
func (r Result) Record() []string {
	return []string{strconv.Itoa(r.Line), r.Outcome, r.MembershipID, r.Error}
}

// Answer is the result of a row from the invite's answer: status, the
// Roster-Invite-Outcome header and the body.
func Answer(line, status int, outcome string, body []byte) Result {
	if status != http.StatusOK {
		return Result{Line: line, Outcome: OutcomeError, Error: OutcomeText(status, body)}
	}
	var m struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &m)
	if outcome == "" {
		outcome = OutcomeCreated
	}
	return Result{Line: line, Outcome: outcome, MembershipID: m.ID}
}

// OutcomeText summarizes an error answer: each OperationOutcome issue as
// "expression: text", else the status.
func OutcomeText(status int, body []byte) string {
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
