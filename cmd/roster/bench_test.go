package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The benchmark in a tiny configuration, end to end: the real binary starts
// Roster and the baseline as its children, loads a population through
// transaction Bundles, runs every workload once at c=1 and open-loop, and
// writes its JSON; then measures read and create with metrics off and on
// (one round on two servers side by side, which accept the run's token
// because they share its base URL; the "on" one scraped). No figure is
// asserted, only that everything answered 2xx.
var _ = Describe("roster bench", func() {
	It("runs every workload against Roster and the baseline and writes the JSON report", func() {
		db := newTestDatabase()
		out := filepath.Join(GinkgoT().TempDir(), "bench.json")
		stdout, stderr, code := runRoster(db.env(), "bench", "--resources", "200", "--bundle", "50",
			// 1.5 s per workload: one password login (bcrypt cost 11) must
			// complete inside the window even on a loaded CI machine.
			"--duration", "1500ms", "--warmup", "0s", "-c", "1", "--rates", "20", "--open-duration", "500ms",
			"--metrics-cost", "1", "--metrics-cost-c", "2", "--quiet", "--json", out)
		Expect(code).To(Equal(0), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		Expect(stdout).To(ContainSubstring("operation"))

		raw, err := os.ReadFile(out)
		Expect(err).NotTo(HaveOccurred())
		var rep struct {
			Database   string            `json:"database"`
			Resources  int               `json:"resources"`
			Patients   int               `json:"patients"`
			LoadErrors int64             `json:"loadErrors"`
			LoadRate   float64           `json:"loadResourcesPerSecond"`
			RSSPeakMB  float64           `json:"rssPeakMb"`
			RestartMs  float64           `json:"restartMs"`
			DBSizeMB   float64           `json:"databaseSizeMb"`
			Settings   map[string]string `json:"databaseSettings"`
			Rows       []struct {
				Op                 string  `json:"op"`
				Mode               string  `json:"mode"`
				Ops                int64   `json:"ops"`
				Errors             int64   `json:"errors"`
				Statuses           string  `json:"statuses"`
				FirstError         string  `json:"firstError"`
				Baseline           string  `json:"baseline"`
				BaselineThroughput float64 `json:"baselineThroughput"`
				BaselineErrors     int64   `json:"baselineErrors"`
				Versus             string  `json:"versus"`
				VersusRatioCPU     float64 `json:"versusRatioCpu"`
			} `json:"rows"`
			MetricsCost []struct {
				Op        string  `json:"op"`
				OffOps    float64 `json:"offThroughput"`
				OnOps     float64 `json:"onThroughput"`
				Errors    int64   `json:"errors"`
				Scrapes   int     `json:"scrapes"`
				RatioOps  float64 `json:"ratioThroughput"`
				Pooled    float64 `json:"pooledRatioThroughput"`
				PooledCPU float64 `json:"pooledRatioCpu"`
			} `json:"metricsCost"`
		}
		Expect(json.Unmarshal(raw, &rep)).To(Succeed())
		Expect(rep.Resources).To(Equal(200))
		Expect(rep.Patients).To(BeNumerically(">", 100))
		Expect(rep.LoadErrors).To(BeZero())
		Expect(rep.LoadRate).To(BeNumerically(">", 0))
		Expect(rep.RSSPeakMB).To(BeNumerically(">", 0))
		Expect(rep.RestartMs).To(BeNumerically(">", 0))
		Expect(rep.DBSizeMB).To(BeNumerically(">", 0))
		if rep.Database == "postgres" {
			Expect(rep.Settings).To(HaveKeyWithValue("shared_buffers", Not(BeEmpty())))
			Expect(stdout).To(MatchRegexp(`database after the load: \d+ MB; PostgreSQL shared_buffers \S+`))
		} else {
			Expect(rep.Settings).To(BeEmpty())
		}

		seen := map[string]bool{}
		for _, row := range rep.Rows {
			seen[row.Op+"/"+row.Mode] = true
			Expect(row.Ops).To(BeNumerically(">", 0), "%s %s", row.Op, row.Mode)
			Expect(row.Errors).To(BeZero(), "%s %s: %s %s", row.Op, row.Mode, row.Statuses, row.FirstError)
			Expect(row.BaselineErrors).To(BeZero(), "%s %s baseline", row.Op, row.Mode)
			if row.Baseline != "" {
				Expect(row.BaselineThroughput).To(BeNumerically(">", 0), "%s baseline", row.Op)
			}
			if row.Op == "search-include" {
				Expect(row.Versus).To(Equal("search-members"))
				Expect(row.VersusRatioCPU).To(BeNumerically(">", 0))
			}
		}
		for _, op := range []string{"read", "vread", "create", "update", "conditional-update", "search-name", "search-email", "search-identifier",
			"page-100", "history", "search-members", "search-include", "search-chain", "invite", "invite-resend", "invites-list",
			"login", "oidc-code-flow", "userinfo", "mixed", "bundle-1+9"} {
			Expect(seen).To(HaveKey(op+"/closed"), "workload %s", op)
		}
		for _, op := range []string{"read", "search-name", "create"} {
			Expect(seen).To(HaveKey(op+"/open"), "open-loop %s", op)
		}

		Expect(stdout).To(ContainSubstring("metrics cost: c=2, 1 rounds of off and on, two servers side by side"))
		Expect(rep.MetricsCost).To(HaveLen(2))
		for _, m := range rep.MetricsCost {
			Expect(m.Op).To(BeElementOf("read", "create"))
			Expect(m.OffOps).To(BeNumerically(">", 0), m.Op)
			Expect(m.OnOps).To(BeNumerically(">", 0), m.Op)
			Expect(m.RatioOps).To(BeNumerically(">", 0), m.Op)
			Expect(m.Pooled).To(BeNumerically(">", 0), m.Op)
			Expect(m.PooledCPU).To(BeNumerically(">", 0), m.Op)
			Expect(m.Errors).To(BeZero(), m.Op)
			Expect(m.Scrapes).To(BeNumerically(">", 0), "the metrics-on server was scraped")
		}
	})
})
