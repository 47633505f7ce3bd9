package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// patientRef is a loaded Patient: its id and the person it was made from.
type patientRef struct {
	ID     string
	Person Person
}

// world is what the workloads act on.
type world struct {
	project  string
	patients []patientRef
	users    []string // emails of users with LoginPassword, for the login workload
	// oidcClient is the public ClientApplication oidc-code-flow signs in through.
	oidcClient string
	// console is console-members' project and session (prepareConsole).
	console *consoleWorld
	run     string // per-run tag keeping generated emails unique
	seq     atomic.Int64
}

// LoginPassword is the password of the users the login workload signs in.
const LoginPassword = "Bench-tundra-Mosaic-4711"

// op is one workload: how a worker sends it to Roster, the name of the
// baseline workload it is compared with ("" for none), and the Roster
// workload whose cost it is measured against in the same run ("" for
// none; it then runs whenever this one does).
type op struct {
	name     string
	baseline string
	versus   string
	roster   func(w *world) worker
	// prepare, when set, makes what the workload needs beyond the
	// population, once, before its first phase.
	prepare func(ctx context.Context, base string, o *Options, w *world, rep *Report, out io.Writer) error
}

func (w *world) rnd(worker int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(worker)+1, uint64(w.seq.Add(1))))
}

func (w *world) anyPatient(r *rand.Rand) patientRef { return w.patients[r.IntN(len(w.patients))] }

// ownPatient picks a Patient only worker i of c writes to, so concurrent
// updates never race on one version.
func (w *world) ownPatient(r *rand.Rand, i, c int) patientRef {
	n := len(w.patients)
	if n < c {
		return w.patients[i%n]
	}
	return w.patients[i+c*r.IntN(n/c)]
}

func get(cl *client, path string) task {
	return func(ctx context.Context) (int, error) {
		s, _, err := cl.do(ctx, "GET", path, "", nil)
		return s, err
	}
}

// getPatient is a workload GETting, for each request, the path made from a
// Patient picked at random.
func getPatient(path func(w *world, p patientRef) string) func(w *world) worker {
	return func(w *world) worker {
		return func(cl *client, i, _ int) task {
			r := w.rnd(i)
			return func(ctx context.Context) (int, error) {
				s, _, err := cl.do(ctx, "GET", path(w, w.anyPatient(r)), "", nil)
				return s, err
			}
		}
	}
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

const fhirJSON = "application/fhir+json"

// ops lists every workload in the order the report shows them.
var ops = []op{
	{name: "read", baseline: "b-read", roster: getPatient(func(w *world, p patientRef) string { return "fhir/R4/Patient/" + p.ID })},
	{name: "vread", baseline: "b-vread", roster: getPatient(func(w *world, p patientRef) string { return "fhir/R4/Patient/" + p.ID + "/_history/1" })},
	{name: "create", baseline: "b-insert", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			g := newGenerator(uint64(1000+i), w.run+"c"+strconv.FormatInt(w.seq.Add(1), 36))
			return func(ctx context.Context) (int, error) {
				s, _, err := cl.do(ctx, "POST", "fhir/R4/Patient", fhirJSON, jsonBody(g.person().patient("")))
				return s, err
			}
		}
	}},
	{name: "update", baseline: "b-insert", roster: updatePatient(false)},
	{name: "conditional-update", baseline: "b-insert", roster: updatePatient(true)},
	{name: "search-name", baseline: "b-search-name", roster: getPatient(func(w *world, p patientRef) string {
		return "fhir/R4/Patient?name=" + url.QueryEscape(p.Person.namePrefix())
	})},
	{name: "search-email", baseline: "b-search-email", roster: getPatient(func(w *world, p patientRef) string { return "fhir/R4/Patient?email=" + url.QueryEscape(p.Person.Email) })},
	{name: "search-identifier", baseline: "b-search-identifier", roster: getPatient(func(w *world, p patientRef) string {
		return "fhir/R4/Patient?identifier=" + url.QueryEscape(MRNSystem+"|"+p.Person.MRN)
	})},
	{name: "page-100", baseline: "b-page-100", roster: func(w *world) worker {
		return func(cl *client, _, _ int) task { return get(cl, "fhir/R4/Patient?_count=100") }
	}},
	{name: "history", baseline: "b-history", roster: getPatient(func(w *world, p patientRef) string { return "fhir/R4/Patient/" + p.ID + "/_history" })},
	{name: "search-members", baseline: "b-search-members", roster: membersPage("")},
	{name: "search-include", versus: "search-members", roster: membersPage("&_include=ProjectMembership:profile")},
	{name: "search-chain", roster: getPatient(func(w *world, p patientRef) string {
		// A family-name prefix, as search-name's, of the memberships'
		// Practitioner profiles.
		return "fhir/R4/ProjectMembership?profile:Practitioner.name=" + url.QueryEscape(p.Person.namePrefix())
	})},
	{name: "invite", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			g := newGenerator(uint64(2000+i), w.run)
			return func(ctx context.Context) (int, error) {
				p := g.person()
				email := fmt.Sprintf("inv-%s-%d@example.org", w.run, w.seq.Add(1))
				body := jsonBody(obj{"resourceType": "Practitioner", "firstName": p.Given, "lastName": p.Family,
					"email": email, "sendEmail": false})
				s, _, err := cl.do(ctx, "POST", "admin/projects/"+w.project+"/invite", "application/json", body)
				return s, err
			}
		}
	}},
	{name: "invite-resend", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			g := newGenerator(uint64(6000+i), w.run)
			invitation := ""
			return func(ctx context.Context) (int, error) {
				if invitation != "" {
					s, _, err := cl.do(ctx, "POST", "admin/projects/"+w.project+"/invites/"+invitation+"/resend", "", nil)
					return s, err
				}
				// Each worker resends an invitation of its own (resends of
				// one invitation queue on its lock), made on its first turn.
				p := g.person()
				email := fmt.Sprintf("resend-%s-%d@example.org", w.run, w.seq.Add(1))
				s, _, err := cl.do(ctx, "POST", "admin/projects/"+w.project+"/invite", "application/json", jsonBody(obj{
					"resourceType": "Practitioner", "firstName": p.Given, "lastName": p.Family, "email": email, "sendEmail": false}))
				if err != nil || s != 200 {
					return s, err
				}
				s, _, err = cl.do(ctx, "GET", "admin/projects/"+w.project+"/invites?_count=1&email="+url.QueryEscape(email), "", nil)
				var page struct {
					Invites []struct {
						ID string `json:"id"`
					} `json:"invites"`
				}
				if err == nil && s == 200 && json.Unmarshal(cl.buf.Bytes(), &page) == nil && len(page.Invites) == 1 {
					invitation = page.Invites[0].ID
				}
				return s, err
			}
		}
	}},
	{name: "invites-list", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			r := w.rnd(i)
			return func(ctx context.Context) (int, error) {
				path := "admin/projects/" + w.project + "/invites?_count=20"
				if r.IntN(2) == 0 {
					path += "&status=pending"
				}
				s, _, err := cl.do(ctx, "GET", path, "", nil)
				return s, err
			}
		}
	}},
	{name: "login", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			email := w.users[i%len(w.users)]
			anon := &client{hc: cl.hc, base: cl.base} // no bearer token
			return func(ctx context.Context) (int, error) {
				_, err := login(ctx, anon, email, LoginPassword, w.project)
				if err != nil {
					if se, ok := err.(*statusError); ok {
						return se.status, nil
					}
					return 0, err
				}
				return 200, nil
			}
		}
	}},
	oidcCodeFlow,
	userinfo,
	consoleMembers,
	{name: "mixed", roster: func(w *world) worker {
		return mixedWorker(w)
	}},
	{name: "bundle-1+9", roster: func(w *world) worker {
		return func(cl *client, i, _ int) task {
			g := newGenerator(uint64(3000+i), w.run)
			return func(ctx context.Context) (int, error) {
				s, _, err := cl.do(ctx, "POST", "fhir/R4", fhirJSON, g.patientBundle())
				return s, err
			}
		}
	}},
}

// updatePatient is a workload PUTting a new phone number to Patients only
// its worker writes: by id, or (conditional) to the Patient its MRN
// matches, as Medplum's upsertResource sends it (criteria, no id).
func updatePatient(conditional bool) func(w *world) worker {
	return func(w *world) worker {
		return func(cl *client, i, c int) task {
			r := w.rnd(i)
			return func(ctx context.Context) (int, error) {
				p := w.ownPatient(r, i, c)
				pp := p.Person
				pp.Phone = fmt.Sprintf("+1-555-%03d-%04d", r.IntN(1000), r.IntN(10000))
				path, id := "fhir/R4/Patient/"+p.ID, p.ID
				if conditional {
					path, id = "fhir/R4/Patient?identifier="+url.QueryEscape(MRNSystem+"|"+p.Person.MRN), ""
				}
				s, _, err := cl.do(ctx, "PUT", path, fhirJSON, jsonBody(pp.patient(id)))
				return s, err
			}
		}
	}
}

// membersPage is a workload GETting a page of 20 of the project's
// ProjectMemberships, newest first, at one of the first pages (at most 50,
// about a tenth of the resources are memberships), with extra appended
// to the query. With an _include, a page that has memberships must answer
// their profiles too.
func membersPage(extra string) func(w *world) worker {
	return func(w *world) worker {
		pages := min(50, max(1, len(w.patients)/6/20))
		return func(cl *client, i, _ int) task {
			r := w.rnd(i)
			return func(ctx context.Context) (int, error) {
				path := "fhir/R4/ProjectMembership?_count=20&_offset=" + strconv.Itoa(20*r.IntN(pages)) + extra
				s, _, err := cl.do(ctx, "GET", path, "", nil)
				if err == nil && s == 200 && extra != "" && bytes.Contains(cl.buf.Bytes(), []byte(`"mode":"match"`)) &&
					!bytes.Contains(cl.buf.Bytes(), []byte(`"mode":"include"`)) {
					return s, fmt.Errorf("%s answered memberships without their profiles", path)
				}
				return s, err
			}
		}
	}
}

// MixedShare is the mixed workload's mix, in percent, in the shape public
// FHIR server comparisons use.
var MixedShare = []struct {
	Op      string
	Percent int
}{{"create", 20}, {"read", 40}, {"update", 20}, {"search", 15}, {"delete", 5}}

// mixedWorker creates, reads, updates, searches and deletes Patients in the
// MixedShare proportions; it deletes only Patients it created.
func mixedWorker(w *world) worker {
	return func(cl *client, i, c int) task {
		r := w.rnd(i)
		g := newGenerator(uint64(4000+i), w.run+"m"+strconv.FormatInt(w.seq.Add(1), 36))
		var mine []string
		return func(ctx context.Context) (int, error) {
			n := r.IntN(100)
			pick := ""
			for _, s := range MixedShare {
				if n < s.Percent {
					pick = s.Op
					break
				}
				n -= s.Percent
			}
			if pick == "delete" && len(mine) == 0 {
				pick = "create"
			}
			switch pick {
			case "create":
				s, h, err := cl.do(ctx, "POST", "fhir/R4/Patient", fhirJSON, jsonBody(g.person().patient("")))
				if err == nil && s == 201 {
					if id := idFromLocation(h.Get("Location")); id != "" {
						mine = append(mine, id)
					}
				}
				return s, err
			case "read":
				s, _, err := cl.do(ctx, "GET", "fhir/R4/Patient/"+w.anyPatient(r).ID, "", nil)
				return s, err
			case "update":
				p := w.ownPatient(r, i, c)
				pp := p.Person
				pp.Phone = fmt.Sprintf("+1-555-%03d-%04d", r.IntN(1000), r.IntN(10000))
				s, _, err := cl.do(ctx, "PUT", "fhir/R4/Patient/"+p.ID, fhirJSON, jsonBody(pp.patient(p.ID)))
				return s, err
			case "search":
				s, _, err := cl.do(ctx, "GET", "fhir/R4/Patient?name="+url.QueryEscape(w.anyPatient(r).Person.namePrefix()), "", nil)
				return s, err
			}
			id := mine[len(mine)-1]
			mine = mine[:len(mine)-1]
			s, _, err := cl.do(ctx, "DELETE", "fhir/R4/Patient/"+id, "", nil)
			return s, err
		}
	}
}

// idFromLocation takes the id out of …/{type}/{id}/_history/{vid}.
func idFromLocation(loc string) string {
	parts := strings.Split(loc, "/")
	if len(parts) >= 3 && parts[len(parts)-2] == "_history" {
		return parts[len(parts)-3]
	}
	return ""
}

// baselineOps are the baseline's workloads, sent to the baseline server.
var baselineOps = map[string]func(w *world) worker{
	"b-read":  getPatient(func(w *world, p patientRef) string { return "read/Patient/" + p.ID }),
	"b-vread": getPatient(func(w *world, p patientRef) string { return "vread/Patient/" + p.ID + "/1" }),
	"b-insert": func(w *world) worker {
		return func(cl *client, i, _ int) task {
			g := newGenerator(uint64(5000+i), w.run)
			return func(ctx context.Context) (int, error) {
				s, _, err := cl.do(ctx, "POST", "insert/"+w.project, fhirJSON, jsonBody(g.person().patient("")))
				return s, err
			}
		}
	},
	"b-search-name": getPatient(func(w *world, p patientRef) string {
		return "search/" + w.project + "/Patient?name=" + url.QueryEscape(p.Person.namePrefix())
	}),
	"b-search-email": getPatient(func(w *world, p patientRef) string {
		return "search/" + w.project + "/Patient?email=" + url.QueryEscape(p.Person.Email)
	}),
	"b-search-identifier": getPatient(func(w *world, p patientRef) string {
		return "search/" + w.project + "/Patient?identifier=" + url.QueryEscape(MRNSystem+"|"+p.Person.MRN)
	}),
	"b-page-100": func(w *world) worker {
		return func(cl *client, _, _ int) task { return get(cl, "search/"+w.project+"/Patient?_count=100") }
	},
	"b-history": getPatient(func(w *world, p patientRef) string { return "history/Patient/" + p.ID }),
	"b-search-members": func(w *world) worker {
		pages := min(50, max(1, len(w.patients)/6/20))
		return func(cl *client, i, _ int) task {
			r := w.rnd(i)
			return func(ctx context.Context) (int, error) {
				s, _, err := cl.do(ctx, "GET", "search/"+w.project+"/ProjectMembership?_count=20&_offset="+strconv.Itoa(20*r.IntN(pages)), "", nil)
				return s, err
			}
		}
	},
}

// statusError is an answer that was not the expected one.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %.300s", e.status, e.body) }

// login signs in as Medplum's client does: /auth/login with a PKCE
// challenge, then the code for a token at /oauth2/token.
func login(ctx context.Context, cl *client, email, password, project string) (string, error) {
	verifier := "bench-verifier-" + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
	sum := sha256.Sum256([]byte(verifier))
	body := jsonBody(map[string]string{"email": email, "password": password, "projectId": project,
		"codeChallenge": base64.RawURLEncoding.EncodeToString(sum[:]), "codeChallengeMethod": "S256"})
	code, err := postFor(ctx, cl, "auth/login", "application/json", body, "code")
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	return postFor(ctx, cl, "oauth2/token", "application/x-www-form-urlencoded", []byte(form.Encode()), "access_token")
}

// postFor posts body to path and returns the string member key of the
// JSON answer; an answer other than 200, or without key, is a statusError.
func postFor(ctx context.Context, cl *client, path, contentType string, body []byte, key string) (string, error) {
	s, _, err := cl.do(ctx, "POST", path, contentType, body)
	if err != nil {
		return "", err
	}
	var answer map[string]any
	err = json.Unmarshal(cl.buf.Bytes(), &answer)
	v, _ := answer[key].(string)
	if s != 200 || err != nil || v == "" {
		return "", &statusError{s, cl.buf.String()}
	}
	return v, nil
}
