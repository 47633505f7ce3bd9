package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, which /proc/*/stat counts CPU in; it is
// 100 on every Linux this runs on.
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used so far, read
// from /proc/PID/stat (0 when it cannot be read, e.g. not on Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return statCPU(b)
}

// statCPU parses utime and stime out of a /proc/PID/stat line. The command
// name in parentheses may hold spaces, so fields are counted after the last ')'.
func statCPU(b []byte) time.Duration {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3 of the line, utime 14 and stime 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// postgresCPU sums the CPU time of the processes named postgres on this
// machine: with the database on loopback, that is the database's share of
// an operation. work is what serves statements (backends, the WAL writer,
// the postmaster); deferred is the cleanup PostgreSQL runs when it will
// (autovacuum, checkpoints, the background writer), which would otherwise
// be charged to whichever phase follows the writes that caused it — the
// baseline's, say. Backends that exited between two readings are not
// counted, so work is a lower bound.
func postgresCPU() (work, deferred time.Duration) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// The process title, as ps shows it: "postgres: 15/main: checkpointer".
		title, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		if isDeferredWork(string(title)) {
			deferred += statCPU(b)
		} else {
			work += statCPU(b)
		}
	}
	return work, deferred
}

func isDeferredWork(title string) bool {
	for _, w := range []string{": autovacuum ", ": checkpointer", ": background writer"} {
		if strings.Contains(title, w) {
			return true
		}
	}
	return false
}

// procMemory returns a process's resident set now and at its peak (VmRSS,
// VmHWM), in bytes.
func procMemory(pid int) (rss, peak int64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// loadAverage is the one-minute load average ("" off Linux).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
