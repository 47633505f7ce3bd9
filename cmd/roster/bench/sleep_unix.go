//go:build unix

package bench

import (
	"syscall"
	"time"
)

// sleepUntil returns close to at. Go's timers wake through the network
// poller, whose wait rounds up to whole milliseconds: a plain time.Sleep
// overshoots by ~0.6 ms at the median here, and an open-loop phase, which
// times each request from when it was due, would count that as the
// server's latency. The last millisecond is slept with nanosleep, which
// holds only this goroutine's thread and wakes within ~0.1 ms.
func sleepUntil(at time.Time) {
	if d := time.Until(at) - time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	if d := time.Until(at); d > 0 {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil) // EINTR only wakes it early
	}
}
