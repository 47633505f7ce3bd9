package main_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("roster serve in test mode", func() {
	It("refuses to start on an address other machines can reach, and says why", func() {
		db := newTestDatabase()
		_, stderr, code := runRoster(db.env(append(adminEnv(), "ROSTER_TEST_MODE=1", "ROSTER_ADDR=0.0.0.0:0")...), "serve")
		Expect(code).NotTo(BeZero())
		Expect(stderr).To(ContainSubstring("ROSTER_TEST_MODE=1 refused"))
		Expect(stderr).To(ContainSubstring("ROSTER_TEST_MODE_ALLOW_REMOTE=1"))
	})

	It("runs the behave example's features from Python over HTTP", func() {
		behave, err := exec.LookPath("behave")
		if err != nil {
			fixtures.Missing(GinkgoT(), "behave", "apt-get install python3-behave")
		}
		db := newTestDatabase()
		p := startRoster(db.env(append(adminEnv(), "ROSTER_TEST_MODE=1")...))
		Expect(p.stderr()).To(ContainSubstring("TEST MODE IS ON"))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, behave, "--format", "plain", "--no-color", "--no-capture")
		cmd.Dir = filepath.Join(moduleRoot(), "examples", "behave")
		cmd.Env = append(db.env(), "ROSTER_URL="+p.URL)
		out, err := cmd.CombinedOutput()
		GinkgoWriter.Printf("---- behave:\n%s\n", out)
		Expect(err).NotTo(HaveOccurred(), "behave failed: its report is above")
		Expect(string(out)).To(ContainSubstring("2 features passed, 0 failed"))
		Expect(string(out)).To(MatchRegexp(`\b[1-9]\d* scenarios passed, 0 failed`))
	})
})
