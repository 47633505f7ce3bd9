package main_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("roster serve's metrics listener", func() {
	BeforeEach(func() {
		if runtime.GOOS != "linux" {
			Skip("reads the process's sockets from /proc")
		}
	})

	It("serves /metrics at ROSTER_METRICS_ADDR, beside the API", func() {
		addr := fixtures.FreeAddr(GinkgoT())
		p := startRoster(newTestDatabase().env(append(adminEnv(), "ROSTER_METRICS_ADDR="+addr)...))
		Expect(getStatus(p.URL + "fhir/R4/Patient")).To(Equal(http.StatusUnauthorized))

		resp, err := http.Get("http://" + addr + "/metrics")
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(string(body)).To(ContainSubstring(`roster_http_requests_total{method="GET",route="/fhir/R4/:type",status="401"} 1`))
		Expect(listeningPorts(p.cmd.Process.Pid)).To(ConsistOf(port(p.addr), port(addr)))
	})

	It("opens no listener but the API's when ROSTER_METRICS_ADDR is empty, and logs text unless asked for JSON", func() {
		p := startRoster(newTestDatabase().env(append(adminEnv(), "ROSTER_METRICS_ADDR=", "ROSTER_LOG_FORMAT=")...))
		Expect(listeningPorts(p.cmd.Process.Pid)).To(ConsistOf(port(p.addr)))
		Expect(p.stderr()).To(ContainSubstring("level=INFO msg=listening addr=" + p.addr))
		Expect(p.stderr()).NotTo(ContainSubstring("metrics listening"))
	})
})

func port(addr string) int {
	GinkgoHelper()
	_, p, err := net.SplitHostPort(addr)
	Expect(err).NotTo(HaveOccurred())
	n, err := strconv.Atoi(p)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// listeningPorts lists the TCP ports process pid listens on: its socket
// descriptors matched against the kernel's table of listening sockets.
func listeningPorts(pid int) []int {
	GinkgoHelper()
	fds, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	Expect(err).NotTo(HaveOccurred())
	inodes := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			n, err := strconv.ParseInt(hexPort, 16, 32)
			Expect(err).NotTo(HaveOccurred())
			ports = append(ports, int(n))
		}
	}
	return ports
}
