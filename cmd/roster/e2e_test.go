package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// These specs build the real roster binary and drive it as a user would:
// as a subprocess configured by environment, over TCP, with signals. On
// SQLite by default; on a fresh PostgreSQL database per spec when
// ROSTER_TEST_DATABASE_URL is set.

const (
	e2eAdminEmail    = "e2e-admin@example.com"
	e2eAdminPassword = "e2e-correct-horse-battery"
	startTimeout     = 60 * time.Second
)

var _ = Describe("The roster binary", func() {
	var db *testDatabase

	BeforeEach(func() {
		db = newTestDatabase()
	})

	When("it serves", func() {
		var p *rosterProcess

		BeforeEach(func() {
			p = startRoster(db.env(adminEnv()...))
		})

		It("logs in with PKCE, creates, reads and searches a Patient over TCP, and is ready", func() {
			Expect(getStatus(p.URL + "healthz")).To(Equal(200))
			Expect(getStatus(p.URL + "readyz")).To(Equal(200))
			Expect(getStatus(p.URL+"fhir/R4/Patient")).To(Equal(401), "search without a token")

			c := p.login(e2eAdminEmail, e2eAdminPassword)
			family := "Tcp" + randomSuffix()
			created := c.do("POST", "fhir/R4/Patient", map[string]any{
				"resourceType": "Patient",
				"name":         []map[string]any{{"family": family, "given": []string{"Ada"}}},
				"birthDate":    "1970-05-06",
			})
			Expect(created.status).To(Equal(201), created.String())
			id, _ := created.json()["id"].(string)
			Expect(id).NotTo(BeEmpty())
			Expect(created.header.Get("Location")).To(ContainSubstring("Patient/" + id))
			Expect(created.header.Get("ETag")).To(Equal(`W/"1"`))

			read := c.do("GET", "fhir/R4/Patient/"+id, nil)
			Expect(read.status).To(Equal(200), read.String())
			Expect(read.json()["birthDate"]).To(Equal("1970-05-06"))

			Expect(c.searchIDs("Patient?name=" + url.QueryEscape(strings.ToLower(family)))).To(ConsistOf(id))
		})

		It("loads a Bundle with `roster seed FILE` into the database it serves", func() {
			c := p.login(e2eAdminEmail, e2eAdminPassword)
			mrn := "Patient?identifier=" + url.QueryEscape("http://hospital.example.org/mrn|MRN-1001")
			Expect(c.searchIDs(mrn)).To(BeEmpty())

			clinic := filepath.Join(moduleRoot(), "fixtures", "data", "clinic.json")
			out, errOut, code := runRoster(db.env(adminEnv()...), "seed", clinic)
			Expect(code).To(Equal(0), "roster seed: %s\n%s", out, errOut)
			Expect(out).To(ContainSubstring("loaded 4 entries"))

			ids := c.searchIDs(mrn)
			Expect(ids).To(HaveLen(1))
			seeded := c.do("GET", "fhir/R4/Patient/"+ids[0], nil)
			Expect(seeded.status).To(Equal(200))
			Expect(seeded.String()).To(ContainSubstring("Chalmers"))

			By("seeding again: the Bundle's conditional creates match what is there")
			_, errOut, code = runRoster(db.env(adminEnv()...), "seed", clinic)
			Expect(code).To(Equal(0), errOut)
			Expect(c.searchIDs(mrn)).To(ConsistOf(ids[0]))
		})

		It("does not bootstrap again when restarted on the same database", func() {
			Expect(p.stderr()).To(ContainSubstring(`"msg":"bootstrapped"`))
			before := p.login(e2eAdminEmail, e2eAdminPassword).searchIDs("Project?name:exact=Default")
			Expect(before).To(HaveLen(1))

			Expect(p.terminate()).To(Equal(0))
			again := startRoster(db.env(adminEnv()...))
			Expect(again.stderr()).NotTo(ContainSubstring("bootstrapped"))

			c := again.login(e2eAdminEmail, e2eAdminPassword)
			Expect(c.searchIDs("Project?name:exact=Default")).To(Equal(before))
			Expect(c.searchIDs("User?email=" + url.QueryEscape(e2eAdminEmail))).To(HaveLen(1))
		})
	})

	It("applies migrations alone with `roster migrate` and exits 0", func() {
		out, errOut, code := runRoster(db.env(adminEnv()...), "migrate")
		Expect(code).To(Equal(0), "roster migrate: %s\n%s", out, errOut)
		Expect(out).To(ContainSubstring("migrations applied"))
		Expect(errOut).NotTo(ContainSubstring("Password:"))

		By("running again on the migrated database")
		_, errOut, code = runRoster(db.env(adminEnv()...), "migrate")
		Expect(code).To(Equal(0), errOut)

		By("starting the server: the database was migrated but left empty, so it bootstraps now")
		p := startRoster(db.env(adminEnv()...))
		Expect(p.stderr()).To(ContainSubstring(`"msg":"bootstrapped"`))
		p.login(e2eAdminEmail, e2eAdminPassword)
	})

	It("prints a generated admin password once when none is configured, and it works", func() {
		p := startRoster(db.env("ROSTER_ADMIN_EMAIL=owner@example.com"))
		matches := regexp.MustCompile(`Password:\s+(\S+)`).FindAllStringSubmatch(p.stderr(), -1)
		Expect(matches).To(HaveLen(1), p.stderr())
		password := matches[0][1]
		Expect(len(password)).To(BeNumerically(">=", 16))

		p.login("owner@example.com", password)
		_, err := p.tryLogin("owner@example.com", password+"x")
		Expect(err).To(HaveOccurred())

		By("restarting: nothing is printed again and the password still works")
		Expect(p.terminate()).To(Equal(0))
		again := startRoster(db.env("ROSTER_ADMIN_EMAIL=owner@example.com"))
		Expect(again.stderr()).NotTo(ContainSubstring("Password:"))
		again.login("owner@example.com", password)
	})

	It("on SIGTERM finishes in-flight requests with 2xx, refuses new connections and exits 0", func() {
		p := startRoster(db.env(adminEnv()...))
		c := p.login(e2eAdminEmail, e2eAdminPassword)

		By("a steady stream of small requests that runs through the signal")
		stream := startRequestStream(c)

		By("slow uploads, in flight when the signal comes")
		const slow = 3
		uploads := make([]*slowUpload, slow)
		for i := range uploads {
			uploads[i] = startSlowUpload(c, "Slow"+randomSuffix())
		}
		for _, u := range uploads {
			Eventually(u.started, 10*time.Second, 10*time.Millisecond).Should(BeClosed())
		}
		// Headers and half a body are on the wire; give the server a moment to read them.
		time.Sleep(time.Second)
		Eventually(stream.ok.Load, 10*time.Second, 10*time.Millisecond).Should(BeNumerically(">=", 5))

		Expect(p.cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())

		By("new connections are refused while the uploads are still running")
		Eventually(func() error {
			conn, err := net.DialTimeout("tcp", p.addr, time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		}, 5*time.Second, 20*time.Millisecond).Should(MatchError(syscall.ECONNREFUSED))
		Expect(p.exited()).To(BeFalse(), "the process must wait for in-flight requests")

		By("the uploads complete and are answered 201")
		for _, u := range uploads {
			u.finish()
		}
		finished := time.Now()
		var locations []string
		for _, u := range uploads {
			var r upload
			Eventually(u.result, 20*time.Second).Should(Receive(&r))
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(201), r.body)
			locations = append(locations, r.location)
		}

		By("the process exits 0 promptly")
		Eventually(p.exited, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
		Expect(time.Since(finished)).To(BeNumerically("<", 5*time.Second))
		Expect(p.exitCode()).To(Equal(0), p.stderr())

		stats := stream.stop()
		Expect(stats.ok).To(BeNumerically(">=", 5))
		Expect(stats.badStatus).To(BeEmpty(), "every answered request of the stream is 2xx")

		By("what the uploads wrote is there after a restart")
		again := startRoster(db.env(adminEnv()...))
		ac := again.login(e2eAdminEmail, e2eAdminPassword)
		for _, loc := range locations {
			i := strings.Index(loc, "Patient/")
			Expect(i).To(BeNumerically(">=", 0), loc)
			id := strings.SplitN(loc[i+len("Patient/"):], "/", 2)[0]
			Expect(ac.do("GET", "fhir/R4/Patient/"+id, nil).status).To(Equal(200))
		}
	})
})

// ---- the binary and its processes ----

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// rosterBinary builds ./cmd/roster once per suite run and returns its path.
func rosterBinary() string {
	GinkgoHelper()
	buildOnce.Do(func() {
		Expect(suiteDir).NotTo(BeEmpty(), "suiteDir is set by TestRoster")
		builtBinary = filepath.Join(suiteDir, "roster")
		cmd := exec.Command("go", "build", "-o", builtBinary, "./cmd/roster")
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/roster: %v\n%s", err, out)
		}
	})
	Expect(buildErr).NotTo(HaveOccurred())
	return builtBinary
}

// moduleRoot is the directory holding go.mod, found upwards from the test's
// working directory (the package directory under go test).
func moduleRoot() string {
	GinkgoHelper()
	dir, err := os.Getwd()
	Expect(err).NotTo(HaveOccurred())
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		Expect(parent).NotTo(Equal(dir), "no go.mod above the working directory")
		dir = parent
	}
}

func adminEnv() []string {
	return []string{"ROSTER_ADMIN_EMAIL=" + e2eAdminEmail, "ROSTER_ADMIN_PASSWORD=" + e2eAdminPassword}
}

// testDatabase is one spec's database: a fresh PostgreSQL database when
// ROSTER_TEST_DATABASE_URL is set, else a SQLite data directory.
type testDatabase struct {
	vars []string
}

func newTestDatabase() *testDatabase {
	GinkgoHelper()
	if base := os.Getenv("ROSTER_TEST_DATABASE_URL"); base != "" {
		dbURL, drop, err := fixtures.FreshPostgres(base)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(drop) // runs after the processes' cleanups, registered later
		return &testDatabase{vars: []string{"ROSTER_DATABASE_URL=" + dbURL}}
	}
	return &testDatabase{vars: []string{"ROSTER_DATA_DIR=" + GinkgoT().TempDir()}}
}

// env is the environment for a roster process on this database: the test's
// own environment without any ROSTER_ variable, plus the database and extra.
func (d *testDatabase) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROSTER_") {
			out = append(out, kv)
		}
	}
	out = append(out, d.vars...)
	return append(out, extra...)
}

// runRoster runs a roster subcommand to completion.
func runRoster(env []string, args ...string) (stdout, stderr string, code int) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rosterBinary(), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		Fail(fmt.Sprintf("roster %v: %v", args, err))
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// rosterProcess is a roster server running as a subprocess.
type rosterProcess struct {
	URL  string // base URL, ending in "/"
	addr string
	cmd  *exec.Cmd
	out  *fixtures.LogBuffer
	err  *fixtures.LogBuffer
	done chan struct{}
}

// startRoster starts `roster` (serve) on a free loopback port and waits
// until /healthz answers. The process is killed at the end of the spec if
// it still runs, and its output goes to the spec's log.
func startRoster(env []string) *rosterProcess {
	GinkgoHelper()
	rosterBinary() // built first, so that the address is still free when roster binds it
	return startRosterAt(env, fixtures.FreeAddr(GinkgoT()))
}

// startRosterAt is startRoster on a fixed address, so a restarted server
// keeps its ROSTER_BASE_URL — the issuer and audience of its tokens.
func startRosterAt(env []string, addr string) *rosterProcess {
	GinkgoHelper()
	p := &rosterProcess{URL: "http://" + addr + "/", addr: addr, out: &fixtures.LogBuffer{}, err: &fixtures.LogBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(rosterBinary())
	// No metrics port unless env asks for one (several processes run at
	// once), and JSON logs, which the specs read. env may override these
	// and ROSTER_BASE_URL (a later duplicate wins): a proxy's, say.
	p.cmd.Env = append(append([]string{"ROSTER_METRICS_ADDR=", "ROSTER_LOG_FORMAT=json", "ROSTER_BASE_URL=" + p.URL}, env...), "ROSTER_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	Expect(p.cmd.Start()).To(Succeed())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	DeferCleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		fmt.Fprintf(GinkgoWriter, "---- roster on %s (exit %d) stderr:\n%s\n", addr, p.cmd.ProcessState.ExitCode(), tail(p.stderr(), 8000))
	})
	Eventually(func() (int, error) {
		if p.exited() {
			return 0, StopTrying("roster exited before it was healthy:\n" + p.stderr())
		}
		resp, err := http.Get(p.URL + "healthz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}, startTimeout, 50*time.Millisecond).Should(Equal(200))
	return p
}

func (p *rosterProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *rosterProcess) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

func (p *rosterProcess) stderr() string { return p.err.String() }

// terminate sends SIGTERM and returns the exit code.
func (p *rosterProcess) terminate() int {
	GinkgoHelper()
	Expect(p.cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	Eventually(p.done, 30*time.Second).Should(BeClosed())
	return p.cmd.ProcessState.ExitCode()
}

// login signs in as MedplumClient does (POST /auth/login with a PKCE S256
// challenge, then the authorization_code grant with the verifier).
func (p *rosterProcess) login(email, password string) *apiClient {
	GinkgoHelper()
	c, err := p.tryLogin(email, password)
	Expect(err).NotTo(HaveOccurred())
	return c
}

func (p *rosterProcess) tryLogin(email, password string) (*apiClient, error) {
	verifier := randomHex(32) // 64 characters, within RFC 7636's 43..128
	sum := sha256.Sum256([]byte(verifier))
	c := &apiClient{base: p.URL, http: &http.Client{Timeout: 30 * time.Second}}
	r := c.do("POST", "auth/login", map[string]any{"email": email, "password": password,
		"codeChallenge": base64.RawURLEncoding.EncodeToString(sum[:]), "codeChallengeMethod": "S256"})
	code, _ := r.json()["code"].(string)
	if r.status != 200 || code == "" {
		return nil, fmt.Errorf("login: %s", r)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	resp, err := c.http.PostForm(p.URL+"oauth2/token", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("token: %d %s", resp.StatusCode, raw)
	}
	c.token = tok.AccessToken
	return c, nil
}

// ---- HTTP ----

type apiClient struct {
	base  string
	token string
	http  *http.Client
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

func (a *answer) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(a.body, &m)
	return m
}

func (c *apiClient) request(method, path string, body any) *http.Request {
	GinkgoHelper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	Expect(err).NotTo(HaveOccurred())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req
}

func (c *apiClient) do(method, path string, body any) *answer {
	GinkgoHelper()
	resp, err := c.http.Do(c.request(method, path, body))
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return &answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// searchIDs runs a FHIR search ("Type?params") and returns the ids found.
func (c *apiClient) searchIDs(query string) []string {
	GinkgoHelper()
	r := c.do("GET", "fhir/R4/"+query, nil)
	Expect(r.status).To(Equal(200), r.String())
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	Expect(json.Unmarshal(r.body, &bundle)).To(Succeed())
	Expect(bundle.Type).To(Equal("searchset"))
	ids := []string{}
	for _, e := range bundle.Entry {
		ids = append(ids, e.Resource.ID)
	}
	return ids
}

func getStatus(u string) int {
	GinkgoHelper()
	resp, err := http.Get(u)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	return resp.StatusCode
}

// requestStream sends small authenticated reads one after another, each on
// a new connection, until stopped, and counts what comes back.
type requestStream struct {
	ok        atomic.Int64
	mu        sync.Mutex
	badStatus []string
	stopc     chan struct{}
	done      chan struct{}
}

type streamStats struct {
	ok        int64
	badStatus []string
}

func startRequestStream(c *apiClient) *requestStream {
	s := &requestStream{stopc: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer GinkgoRecover()
		defer close(s.done)
		for i := 0; i < 5000; i++ { // bounded: about a minute at most
			select {
			case <-s.stopc:
				return
			case <-time.After(10 * time.Millisecond):
			}
			req, err := http.NewRequest("GET", c.base+"fhir/R4/Patient?_count=1", nil)
			if err != nil {
				continue
			}
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := client.Do(req)
			if err != nil {
				continue // refused once the server stops listening: expected
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				s.ok.Add(1)
			} else {
				s.mu.Lock()
				s.badStatus = append(s.badStatus, resp.Status)
				s.mu.Unlock()
			}
		}
	}()
	DeferCleanup(func() { s.stop() })
	return s
}

func (s *requestStream) stop() streamStats {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return streamStats{ok: s.ok.Load(), badStatus: append([]string(nil), s.badStatus...)}
}

// slowUpload is a Patient create whose body trickles in: the server holds
// it as an in-flight request until finish sends the rest.
type slowUpload struct {
	pw      *io.PipeWriter
	rest    []byte
	started chan struct{}
	result  chan upload
}

type upload struct {
	status   int
	location string
	body     string
	err      error
}

func startSlowUpload(c *apiClient, family string) *slowUpload {
	GinkgoHelper()
	body, err := json.Marshal(map[string]any{"resourceType": "Patient", "name": []map[string]any{{"family": family}}})
	Expect(err).NotTo(HaveOccurred())
	half := len(body) / 2
	pr, pw := io.Pipe()
	u := &slowUpload{pw: pw, rest: body[half:], started: make(chan struct{}), result: make(chan upload, 1)}
	req, err := http.NewRequest("POST", c.base+"fhir/R4/Patient", pr)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			u.result <- upload{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		u.result <- upload{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(raw)}
	}()
	go func() {
		// Write returns once the transport has taken these bytes: the
		// headers and this first chunk are then being sent.
		_, _ = pw.Write(body[:half])
		close(u.started)
	}()
	DeferCleanup(func() { _ = pw.CloseWithError(errors.New("spec ended")) })
	return u
}

func (u *slowUpload) finish() {
	go func() {
		_, _ = u.pw.Write(u.rest)
		_ = u.pw.Close()
	}()
}

// ---- small helpers ----

// randomHex returns n random bytes as lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomSuffix makes names unique per spec (letters and digits only, so it
// is a plain prefix in string searches).
func randomSuffix() string { return randomHex(6) }

func nestedString(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[k]
	}
	s, _ := cur.(string)
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
