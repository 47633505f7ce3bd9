//go:build !unix

package bench

import "time"

// sleepUntil returns at or soon after at (see sleep_unix.go).
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }
