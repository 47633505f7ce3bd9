package app_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver to check what the private server holds
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// privatePG is a PostgreSQL server of the spec's own, in a temporary
// directory on a free port: restarting it disturbs no other suite (the
// shared server of ROSTER_TEST_DATABASE_URL is never touched).
type privatePG struct {
	bin, dir, data, log string
	port                int
	asPostgres          bool // root runs the binaries as the postgres OS user
}

// startPrivatePG initdb's and starts a server; it is stopped and removed
// with the spec. Without PostgreSQL's binaries the spec is skipped, unless
// CI is set, where it fails.
func startPrivatePG() *privatePG {
	GinkgoHelper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if os.Getenv("CI") != "" {
			Fail("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
		}
		Skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	pg := &privatePG{bin: filepath.Dir(bins[len(bins)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "roster-pg-")
	Expect(err).NotTo(HaveOccurred())
	pg.dir, pg.data, pg.log = dir, filepath.Join(dir, "data"), filepath.Join(dir, "server.log")
	DeferCleanup(func() { _ = os.RemoveAll(dir) })
	if pg.asPostgres {
		u, err := user.Lookup("postgres")
		Expect(err).NotTo(HaveOccurred(), "root runs PostgreSQL as the postgres user, which must exist")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		Expect(os.Chown(dir, uid, gid)).To(Succeed())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	pg.port = l.Addr().(*net.TCPAddr).Port
	Expect(l.Close()).To(Succeed())

	Expect(pg.run("initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")).To(Succeed())
	Expect(pg.start()).To(Succeed())
	DeferCleanup(func() { _ = pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop") })
	return pg
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// run runs one of PostgreSQL's programs (as the postgres user under root).
func (pg *privatePG) run(program string, args ...string) error {
	cmd := exec.Command(filepath.Join(pg.bin, program), args...)
	if pg.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, program)}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(pg.log)
		return fmt.Errorf("%s %v: %v\n%s\n%s", program, args, err, out, log)
	}
	return nil
}

func (pg *privatePG) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir)
	return pg.run("pg_ctl", "-D", pg.data, "-l", pg.log, "-o", opts, "-w", "-t", "60", "start")
}

// stop shuts the server down the way an operator's restart does: fast mode
// ends every session at once, rolling back what is not committed.
func (pg *privatePG) stop() error {
	return pg.run("pg_ctl", "-D", pg.data, "-m", "fast", "-w", "-t", "60", "stop")
}

func (pg *privatePG) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// loadAnswer is one request of the load, as the client saw it.
type loadAnswer struct {
	worker, n int
	at        time.Time
	status    int // 0: no HTTP answer at all
	id        string
	err       string
}

var _ = Describe("PostgreSQL restarted under a write load", Label("fault"), func() {
	const (
		workers  = 8
		duration = 10 * time.Second
		maxEach  = 1000 // requests per worker, whatever happens
	)

	It("answers 503 while it is down, never a false success, and recovers without restarting Roster", SpecTimeout(3*time.Minute), func(ctx SpecContext) {
		if fixtures.DatabaseURL() == "" {
			Skip("PostgreSQL only: set ROSTER_TEST_DATABASE_URL (this spec starts a private PostgreSQL of its own)")
		}
		pg := startPrivatePG()
		const email, password = "fault-admin@example.com", "basalt-Meridian-orchid-6620"
		cfg := app.Config{DatabaseURL: pg.url(), BaseURL: "http://roster.test/", AdminEmail: email, AdminPassword: password, BodyLimit: 1 << 20}
		cfg.Mail.Disabled = true
		a, ts := start(cfg, io.Discard)
		srv := &fixtures.Server{App: a, HTTP: ts, URL: ts.URL + "/"}
		token, err := srv.Login(email, password)
		Expect(err).NotTo(HaveOccurred())

		client := &http.Client{Timeout: 15 * time.Second}
		post := func(worker, n int) loadAnswer {
			body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Load","given":["w%d-%d"]}]}`, worker, n)
			req, _ := http.NewRequest("POST", srv.URL+"fhir/R4/Patient", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer "+token)
			ans := loadAnswer{worker: worker, n: n, at: time.Now()}
			resp, err := client.Do(req)
			if err != nil {
				ans.err = err.Error()
				return ans
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			ans.status = resp.StatusCode
			if resp.StatusCode == http.StatusCreated {
				ans.id = jsonField(raw, "id")
			} else {
				ans.err = string(raw)
			}
			return ans
		}

		By(fmt.Sprintf("%d workers creating Patients for %s, PostgreSQL restarted in the middle", workers, duration))
		var (
			mu      sync.Mutex
			answers []loadAnswer
			wg      sync.WaitGroup
		)
		deadline := time.Now().Add(duration)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for n := 0; n < maxEach && time.Now().Before(deadline); n++ {
					ans := post(w, n)
					mu.Lock()
					answers = append(answers, ans)
					mu.Unlock()
					// A steady pace, not a flood: the spec shares the
					// machine with other suites.
					time.Sleep(25 * time.Millisecond)
				}
			}()
		}
		time.Sleep(3 * time.Second)
		downAt := time.Now()
		Expect(pg.stop()).To(Succeed())
		time.Sleep(1500 * time.Millisecond)
		Expect(pg.start()).To(Succeed())
		upAt := time.Now()
		wg.Wait()

		By("writing the client-side log")
		logPath := filepath.Join(GinkgoT().TempDir(), "load.log")
		f, err := os.Create(logPath)
		Expect(err).NotTo(HaveOccurred())
		byStatus := map[int]int{}
		var created []loadAnswer
		var afterRestart int
		for _, ans := range answers {
			fmt.Fprintf(f, "%s w%d-%d %d %s %s\n", ans.at.Format("15:04:05.000"), ans.worker, ans.n, ans.status, ans.id, firstLine(ans.err))
			byStatus[ans.status]++
			if ans.status == http.StatusCreated {
				created = append(created, ans)
				if ans.at.After(upAt) {
					afterRestart++
				}
			}
		}
		Expect(f.Close()).To(Succeed())
		AddReportEntry("load", fmt.Sprintf("%d requests %v; down %s, up after %s; %d created after the restart; log %s",
			len(answers), byStatus, downAt.Format("15:04:05.000"), upAt.Sub(downAt).Round(time.Millisecond), afterRestart, logPath))

		By("every failure is a 503, and there were some")
		for _, ans := range answers {
			if ans.status != http.StatusCreated {
				Expect(ans.status).To(Equal(http.StatusServiceUnavailable), "w%d-%d at %s: %s", ans.worker, ans.n, ans.at.Format("15:04:05.000"), ans.err)
			}
		}
		Expect(byStatus[http.StatusServiceUnavailable]).To(BeNumerically(">", 0), "the restart must have been noticed")

		By("the pool recovered by itself: requests succeed again after the restart, and Roster is ready")
		Expect(afterRestart).To(BeNumerically(">", 0))
		Eventually(func() int { return post(99, 0).status }).WithTimeout(10 * time.Second).Should(Equal(http.StatusCreated))
		r, _ := get(ts, "/readyz")
		Expect(r.StatusCode).To(Equal(http.StatusOK))

		By("every 201 the clients were given is in the database")
		db, err := sql.Open("pgx", pg.url())
		Expect(err).NotTo(HaveOccurred())
		defer db.Close()
		rows, err := db.QueryContext(ctx, "SELECT id FROM resources WHERE type = 'Patient' AND NOT deleted")
		Expect(err).NotTo(HaveOccurred())
		stored := map[string]bool{}
		for rows.Next() {
			var id string
			Expect(rows.Scan(&id)).To(Succeed())
			stored[id] = true
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
		for _, ans := range created {
			Expect(stored).To(HaveKey(ans.id), "w%d-%d was answered 201 at %s", ans.worker, ans.n, ans.at.Format("15:04:05.000"))
		}
		AddReportEntry("stored", fmt.Sprintf("%d Patients stored for %d answered 201 (more stored than answered: commits whose answer was lost)",
			len(stored), len(created)))
	})
})

func jsonField(raw []byte, key string) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
