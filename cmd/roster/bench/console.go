package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The console-members workload: the admin console's members page (HTML,
// through the console's session, which calls the admin API in-process) in
// a project of ConsoleMembers members, as an admin pages, sorts, searches
// and filters it.

// ConsoleMembers is how many members the console workload's project has
// (fewer when --resources is smaller, as in the benchmark's own spec): one
// in consoleInvitedEvery of them invited (pending invitations), the rest
// loaded.
const (
	ConsoleMembers      = 10000
	consoleInvitedEvery = 20
	// consolePerBundle is how many members (a User, a Practitioner and a
	// ProjectMembership each) one load Bundle carries.
	consolePerBundle = 100
)

// consoleWorld is what the workload acts on.
type consoleWorld struct {
	project  string
	cookie   string   // the console session's cookie, "name=value"
	prefixes []string // family-name prefixes an admin types
	pages    int
}

var consoleMembers = op{name: "console-members", prepare: prepareConsole, roster: func(w *world) worker {
	cw := w.console
	return func(cl *client, i, _ int) task {
		r := w.rnd(i)
		return func(ctx context.Context) (int, error) {
			q := url.Values{}
			switch r.IntN(5) {
			case 0: // the first page, newest first
			case 1:
				q.Set("sort", "name")
				q.Set("page", strconv.Itoa(1+r.IntN(cw.pages)))
			case 2:
				q.Set("q", cw.prefixes[r.IntN(len(cw.prefixes))])
			case 3:
				q.Set("status", "pending")
			case 4:
				q.Set("sort", "-lastSignIn")
			}
			req, err := http.NewRequestWithContext(ctx, "GET", cl.base+"console/projects/"+cw.project+"/members?"+q.Encode(), nil)
			if err != nil {
				return 0, err
			}
			req.Header.Set("Cookie", cw.cookie)
			resp, err := cl.hc.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			cl.buf.Reset()
			if _, err := cl.buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer)); err != nil {
				return 0, err
			}
			if resp.StatusCode == 200 && !strings.Contains(cl.buf.String(), `<table class="members">`) {
				return 0, errors.New("the members page has no table")
			}
			return resp.StatusCode, nil
		}
	}
}}

// prepareConsole makes the workload's project — its admin, ConsoleMembers
// members (at most --resources), one in consoleInvitedEvery of them with
// pending invitations — and signs the
// admin in to the console through Roster's sign-in page.
func prepareConsole(ctx context.Context, base string, o *Options, w *world, rep *Report, out io.Writer) error {
	t0 := time.Now()
	cl := newClient(base, "", 0)
	defer cl.close()
	su, err := login(ctx, cl, o.AdminEmail, o.AdminPassword, "")
	if err != nil {
		return fmt.Errorf("console-members: super admin login: %w", err)
	}
	cl.token = su
	s, _, err := cl.do(ctx, "POST", "admin/projects", "application/json", jsonBody(obj{"name": "Bench " + w.run + " console"}))
	if err != nil || s != 201 {
		return fmt.Errorf("console-members: create project: %v %d %.300s", err, s, cl.buf.String())
	}
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(cl.buf.Bytes(), &p)
	members := min(ConsoleMembers, o.Resources)
	invited := members / consoleInvitedEvery
	cw := &consoleWorld{project: p.ID, pages: (members + 24) / 25}
	adminEmail := "bench-console-admin-" + w.run + "@example.org"
	s, _, err = cl.do(ctx, "POST", "admin/projects/"+cw.project+"/invite", "application/json", jsonBody(obj{
		"resourceType": "Practitioner", "firstName": "Console", "lastName": "Admin", "email": adminEmail,
		"password": LoginPassword, "sendEmail": false, "membership": obj{"admin": true}}))
	if err != nil || s != 200 {
		return fmt.Errorf("console-members: invite the admin: %v %d %.300s", err, s, cl.buf.String())
	}
	cl.token = ""
	if cl.token, err = login(ctx, cl, adminEmail, LoginPassword, cw.project); err != nil {
		return fmt.Errorf("console-members: admin login: %w", err)
	}

	// The loaded members, a hundred to a transaction Bundle, four at once.
	loaded := members - invited
	jobs := make(chan []byte)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := newClient(base, cl.token, 200+i)
			wc.prefer = "return=minimal"
			defer wc.close()
			for body := range jobs {
				if s, _, err := wc.do(ctx, "POST", "fhir/R4", fhirJSON, body); err != nil || s != 200 {
					errs <- fmt.Errorf("console-members: load: %v %d %.300s", err, s, wc.buf.String())
					return
				}
			}
		}()
	}
	g := newGenerator(77, w.run+"cm")
	seen := map[string]bool{}
	go func() {
		defer close(jobs)
		for n := 0; n < loaded; n += consolePerBundle {
			var entries []obj
			for k := 0; k < consolePerBundle && n+k < loaded; k++ {
				person := g.person()
				if prefix := strings.ToLower(person.Family[:4]); !seen[prefix] && len(cw.prefixes) < 200 {
					seen[prefix] = true
					cw.prefixes = append(cw.prefixes, prefix)
				}
				pr, us := "urn:uuid:"+uuidLike(g.rnd), "urn:uuid:"+uuidLike(g.rnd)
				m := obj{"resourceType": "ProjectMembership", "user": obj{"reference": us, "display": person.Email},
					"profile": obj{"reference": pr, "display": person.Given + " " + person.Family}}
				if (n+k)%10 == 9 {
					m["active"] = false
				}
				entries = append(entries, entry(pr, person.practitioner()),
					entry(us, obj{"resourceType": "User", "firstName": person.Given, "lastName": person.Family, "email": person.Email,
						"project": obj{"reference": "Project/" + cw.project}}),
					entry("urn:uuid:"+uuidLike(g.rnd), m))
			}
			select {
			case jobs <- transaction(entries):
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for i := range invited {
		person := g.person()
		s, _, err := cl.do(ctx, "POST", "admin/projects/"+cw.project+"/invite", "application/json", jsonBody(obj{
			"resourceType": "Practitioner", "firstName": person.Given, "lastName": person.Family,
			"email": fmt.Sprintf("console-%s-%d@example.org", w.run, i), "sendEmail": false}))
		if err != nil || s != 200 {
			return fmt.Errorf("console-members: invite: %v %d %.300s", err, s, cl.buf.String())
		}
	}
	if err := analyze(ctx, o, rep); err != nil {
		return err
	}
	if cw.cookie, err = consoleSignIn(ctx, base, adminEmail); err != nil {
		return err
	}
	w.console = cw
	fmt.Fprintf(out, "console-members: project %s with %d members (%d invited) made in %.1f s\n",
		cw.project, members, invited, time.Since(t0).Seconds())
	return nil
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consoleSignIn signs email in to the console as a browser without
// JavaScript does: the console's sign-in, Roster's page, the callback. It
// returns the session's cookie.
func consoleSignIn(ctx context.Context, base, email string) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := send(ctx, hc, "GET", base+"console/signin", "", nil, http.StatusFound)
	if err != nil {
		return "", fmt.Errorf("console-members: sign-in: %w", err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", resp.Header.Get("Location"), nil)
	page, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("email", email)
	form.Set("password", LoginPassword)
	if resp, err = send(ctx, hc, "POST", base+"oauth2/authorize", "", form, http.StatusSeeOther); err != nil {
		return "", fmt.Errorf("console-members: sign-in page: %w", err)
	}
	if _, err = send(ctx, hc, "GET", resp.Header.Get("Location"), "", nil, http.StatusSeeOther); err != nil {
		return "", fmt.Errorf("console-members: callback: %w", err)
	}
	u, _ := url.Parse(base + "console/")
	for _, c := range jar.Cookies(u) {
		if c.Name == "roster.console" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", errors.New("console-members: no session cookie after the sign-in")
}
