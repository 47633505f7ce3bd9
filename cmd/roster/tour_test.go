package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// The documentation's examples are specs too. A fenced block whose info
// string is "sh tour" is runnable: these specs collect the runnable blocks
// of README.md and of every page under docs/, start the real binary on a
// fresh database, and run each page's blocks in order in one bash process,
// as a reader pasting them into a terminal would. Every block checks its own
// result (jq -e, test), so a wrong answer fails as well as an error status.

// tourInfo is the info string that marks a runnable block: "```sh tour".
const tourInfo = "sh tour"

// tourRequired are the pages that must have runnable blocks: losing the
// marker by accident must not turn their examples into untested text.
var tourRequired = []string{"README.md", "docs/api/fhir.md", "docs/api/admin.md", "docs/dialects/medallion.md"}

// tourPageTimeout bounds one page's run (its blocks, not the server start).
const tourPageTimeout = 5 * time.Minute

// tourMarker starts each block's output, so a failure can be traced to the
// block that ran last.
const tourMarker = "[tour] ==== "

type tourBlock struct {
	line int // of the opening fence
	code string
}

type tourPage struct {
	file   string // relative to the module root, with forward slashes
	blocks []tourBlock
}

// tourPages, tourErr: collected while the spec tree is built, so that each
// page becomes a spec of its own.
var tourPages, tourErr = collectTourPages()

var _ = Describe("The documentation tour", Label("tour"), func() {
	BeforeEach(func() {
		Expect(tourErr).NotTo(HaveOccurred())
	})

	It("has runnable blocks on every page that must have them", func() {
		have := map[string]int{}
		for _, p := range tourPages {
			have[p.file] = len(p.blocks)
		}
		for _, f := range tourRequired {
			Expect(have[f]).To(BeNumerically(">", 0), "%s has no ```%s blocks", f, tourInfo)
		}
	})

	for _, page := range tourPages {
		It("runs the examples of "+page.file+" in order against a fresh server", func() {
			requireTourTools()
			p := startRoster(newTestDatabase().env(adminEnv()...))
			runTourPage(p, page)
		})
	}

	It("runs every page one after another against one server", func() {
		requireTourTools()
		p := startRoster(newTestDatabase().env(adminEnv()...))
		for _, page := range tourPages {
			By(page.file)
			runTourPage(p, page)
		}
	})
})

// requireTourTools skips the spec when a program the examples use is
// missing (fails it under CI, see fixtures.Missing).
func requireTourTools() {
	GinkgoHelper()
	var missing []string
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		fixtures.Missing(GinkgoT(), strings.Join(missing, ", ")+" (needed to run the documentation's examples)",
			"apt-get install bash curl jq openssl")
	}
}

// runTourPage runs page's blocks in order in one bash process against p and
// fails, showing the failing block and its output, unless it exits 0.
func runTourPage(p *rosterProcess, page tourPage) {
	GinkgoHelper()
	var script strings.Builder
	// errtrace: a failure inside a function (sign_in) reports the command.
	script.WriteString("set -E\n")
	script.WriteString(`trap 'printf "[tour] exit %d at: %s\n" "$?" "$BASH_COMMAND" >&2' ERR` + "\n")
	for _, b := range page.blocks {
		fmt.Fprintf(&script, "printf '\\n%%s\\n' %s\n", shellQuote(tourMarker+blockName(page, b)))
		script.WriteString(b.code)
		script.WriteString("\n")
	}

	dir := GinkgoT().TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), tourPageTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = tourEnv(p, dir)
	// bash's children (curl, jq) go down with it on a timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one writer: the two streams keep their order
	started := time.Now()
	err := cmd.Run()
	fmt.Fprintf(GinkgoWriter, "---- %s: %d blocks in %s\n", page.file, len(page.blocks), time.Since(started).Round(time.Millisecond))
	if err == nil {
		return
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		Fail(fmt.Sprintf("%s: running bash: %v\n%s", page.file, err, out.String()))
	}
	name, output := lastTourBlock(out.String())
	code := ""
	for _, b := range page.blocks {
		if blockName(page, b) == name {
			code = b.code
		}
	}
	if ctx.Err() != nil {
		name += fmt.Sprintf(" (timed out after %s)", tourPageTimeout)
	}
	// The server's log goes to the spec's timeline (startRoster).
	Fail(fmt.Sprintf("the example at %s failed (bash exit %d)\n---- the block:\n%s\n---- its output:\n%s",
		name, exit.ExitCode(), code, tail(output, 8000)))
}

// tourEnv is the examples' environment: the test's own without any ROSTER_
// variable, the server's address and admin, the built binary first on PATH
// (for `roster invite`), and loopback kept away from any proxy.
func tourEnv(p *rosterProcess, dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "ROSTER_"), name == "PATH", name == "HOME",
			strings.EqualFold(name, "no_proxy"), strings.EqualFold(name, "http_proxy"),
			strings.EqualFold(name, "https_proxy"), strings.EqualFold(name, "all_proxy"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"ROSTER="+strings.TrimSuffix(p.URL, "/"),
		"ROSTER_ADMIN_EMAIL="+e2eAdminEmail,
		"ROSTER_ADMIN_PASSWORD="+e2eAdminPassword,
		"PATH="+filepath.Dir(rosterBinary())+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+dir, // no ~/.curlrc of the machine's user
		"NO_PROXY=*", "no_proxy=*",
	)
}

func blockName(page tourPage, b tourBlock) string { return page.file + ":" + strconv.Itoa(b.line) }

// lastTourBlock finds, in a page's combined output, the block that ran last
// and what it printed.
func lastTourBlock(out string) (name, output string) {
	i := strings.LastIndex(out, tourMarker)
	if i < 0 {
		return "(before the first block)", out
	}
	rest := out[i+len(tourMarker):]
	name, output, _ = strings.Cut(rest, "\n")
	return name, output
}

// shellQuote quotes s for bash as one word.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// collectTourPages reads README.md and docs/**/*.md of the module and
// returns the pages that have runnable blocks: README first, then docs in
// path order.
func collectTourPages() ([]tourPage, error) {
	root, err := findModuleRoot()
	if err != nil {
		return nil, err
	}
	files := []string{"README.md"}
	var docs []string
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			docs = append(docs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	sort.Strings(docs)
	files = append(files, docs...)
	var pages []tourPage
	for _, f := range files {
		blocks, err := readTourBlocks(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		if len(blocks) > 0 {
			pages = append(pages, tourPage{file: f, blocks: blocks})
		}
	}
	return pages, nil
}

// readTourBlocks returns the runnable blocks of one Markdown file, in order.
// Any fence (``` with or without an info string) opens a block and a bare
// ``` closes it, so runnable markers inside other blocks are not taken.
func readTourBlocks(path string) ([]tourBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks   []tourBlock
		in, keep bool
		start    int
		code     strings.Builder
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, start = true, n
			keep = strings.Join(strings.Fields(strings.TrimPrefix(trimmed, "```")), " ") == tourInfo
			code.Reset()
		case in && trimmed == "```":
			in = false
			if keep {
				blocks = append(blocks, tourBlock{line: start, code: code.String()})
			}
		case in && keep:
			code.WriteString(line)
			code.WriteString("\n")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if in {
		return nil, fmt.Errorf("%s: the block opened at line %d is never closed", path, start)
	}
	return blocks, nil
}

// findModuleRoot is moduleRoot without Gomega, for use while the spec tree
// is built.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
