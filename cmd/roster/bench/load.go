package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client is one load-generator connection: its own transport, so a worker
// keeps one keep-alive connection, bound to its own loopback source address
// (127.0.0.x) when the server is on loopback, so per-address limits see many
// clients as they would in production.
type client struct {
	hc    *http.Client
	base  string // ends in "/"
	token string
	// prefer, when set, is sent as the Prefer header (the loader asks for
	// return=minimal: it needs each entry's location, not the resource).
	prefer string
	buf    bytes.Buffer
}

// maxAnswer bounds what a worker reads of one answer.
const maxAnswer = 64 << 20

func newClient(base, token string, worker int) *client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if u, err := url.Parse(base); err == nil && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost") {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+worker/250), byte(2+worker%250))}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConns: 4, MaxIdleConnsPerHost: 4,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	return &client{hc: &http.Client{Transport: tr, Timeout: 120 * time.Second}, base: base, token: token}
}

// do sends one request and reads the whole answer into c.buf.
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte) (int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.prefer != "" {
		req.Header.Set("Prefer", c.prefer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	c.buf.Reset()
	_, err = c.buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, resp.Header, err
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// task is one request of a workload as a worker runs it: the status it got.
type task func(ctx context.Context) (status int, err error)

// worker builds worker w's task, given its client; c is the phase's
// concurrency (workers partition data by w mod c where writes would collide).
type worker func(cl *client, w, c int) task

// measured is what one phase produced.
type measured struct {
	ops      int64 // completed in the measured window
	errors   int64 // non-2xx or transport errors, over the whole phase
	statuses map[string]int64
	elapsed  time.Duration
	lat      []time.Duration // sorted
	cpu      time.Duration   // server process CPU in the window
	dbCPU    time.Duration   // PostgreSQL processes' CPU in the window
	firstErr string
}

func (m *measured) rate() float64 {
	if m.elapsed <= 0 {
		return 0
	}
	return float64(m.ops) / m.elapsed.Seconds()
}

func (m *measured) pct(p float64) time.Duration {
	if len(m.lat) == 0 {
		return 0
	}
	i := int(float64(len(m.lat)-1) * p)
	return m.lat[i]
}

// cpuMeter reads the CPU used so far by what a phase charges for.
type cpuMeter struct {
	serverPID int
	postgres  bool
}

// dbDelta is the database's CPU between two readings; backends that exited
// in between take their time with them, so a negative difference reads 0.
func dbDelta(before, after time.Duration) time.Duration { return max(0, after-before) }

func (c cpuMeter) read() (server, db time.Duration) {
	if c.serverPID > 0 {
		server = procCPU(c.serverPID)
	}
	if c.postgres {
		db, _ = postgresCPU()
	}
	return
}

// deferred is the database's deferred work so far (postgresCPU).
func (c cpuMeter) deferred() time.Duration {
	if !c.postgres {
		return 0
	}
	_, d := postgresCPU()
	return d
}

// tally collects outcomes from workers.
type tally struct {
	mu       sync.Mutex
	errors   atomic.Int64
	statuses map[string]int64
	firstErr string
}

func (t *tally) add(status int, err error) {
	key := fmt.Sprint(status)
	bad := err != nil || status < 200 || status > 299
	if err != nil {
		key = "error"
	}
	if bad {
		t.errors.Add(1)
	}
	t.mu.Lock()
	if t.statuses == nil {
		t.statuses = map[string]int64{}
	}
	t.statuses[key]++
	if bad && t.firstErr == "" {
		if err != nil {
			t.firstErr = err.Error()
		} else {
			t.firstErr = fmt.Sprint("status ", status)
		}
	}
	t.mu.Unlock()
}

// startWorkers starts n workers, each with a client of its own (returned,
// for the caller to close) and running loop with the task mk builds on it;
// wg waits for them.
func startWorkers(wg *sync.WaitGroup, base, token string, n int, mk worker, loop func(w int, run task)) []*client {
	clients := make([]*client, n)
	for w := range n {
		clients[w] = newClient(base, token, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(w, mk(clients[w], w, n))
		}()
	}
	return clients
}

// closedLoop runs c workers, each sending its next request as soon as the
// previous one answered, for warmup+dur; only the last dur is measured.
func closedLoop(ctx context.Context, base, token string, c int, warmup, dur time.Duration, mk worker, meter cpuMeter) *measured {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		t       tally
		wg      sync.WaitGroup
		lats    = make([][]time.Duration, c)
		counts  = make([]int64, c)
		start   = time.Now()
		from    = start.Add(warmup)
		until   = from.Add(dur)
		cpu0    time.Duration
		db0     time.Duration
		cpuRead = make(chan struct{})
	)
	go func() {
		select {
		case <-time.After(time.Until(from)):
		case <-ctx.Done():
		}
		cpu0, db0 = meter.read()
		close(cpuRead)
	}()
	clients := startWorkers(&wg, base, token, c, mk, func(w int, run task) {
		for {
			s := time.Now()
			if !s.Before(until) || ctx.Err() != nil {
				return
			}
			status, err := run(ctx)
			e := time.Now()
			t.add(status, err)
			// Throughput counts what completed in the window, whenever it
			// was sent, so slow operations (a login) are not lost.
			if !e.Before(from) && e.Before(until) {
				lats[w] = append(lats[w], e.Sub(s))
				counts[w]++
			}
		}
	})
	wg.Wait()
	<-cpuRead
	cpu1, db1 := meter.read()
	end := time.Now()
	if end.After(until) {
		end = until
	}
	for _, cl := range clients {
		cl.close()
	}
	m := &measured{errors: t.errors.Load(), statuses: t.statuses, firstErr: t.firstErr,
		elapsed: end.Sub(from), cpu: cpu1 - cpu0, dbCPU: dbDelta(db0, db1)}
	for w := range c {
		m.ops += counts[w]
		m.lat = append(m.lat, lats[w]...)
	}
	slices.Sort(m.lat)
	return m
}

// openLoop sends requests at a fixed rate whatever the answers' speed, from
// a pool of workers; a request's latency counts from when it was due, so a
// stalled server shows as latency, not as a lower rate (no coordinated
// omission).
func openLoop(ctx context.Context, base, token string, rate float64, dur time.Duration, mk worker, meter cpuMeter) *measured {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const pool = 64
	due := make(chan time.Time, 1<<16)
	var (
		t     tally
		wg    sync.WaitGroup
		lats  = make([][]time.Duration, pool)
		start = time.Now()
	)
	cpu0, db0 := meter.read()
	clients := startWorkers(&wg, base, token, pool, mk, func(w int, run task) {
		for at := range due {
			if ctx.Err() != nil {
				return
			}
			status, err := run(ctx)
			t.add(status, err)
			lats[w] = append(lats[w], time.Since(at))
		}
	})
	interval := time.Duration(float64(time.Second) / rate)
	n := int(dur.Seconds() * rate)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		sleepUntil(at)
		due <- at
	}
	close(due)
	// A server that fell far behind would keep the pool busy long after the
	// phase: give it a bounded grace, then stop waiting.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(dur + 30*time.Second):
		cancel()
		<-done
	}
	cpu1, db1 := meter.read()
	for _, cl := range clients {
		cl.close()
	}
	m := &measured{errors: t.errors.Load(), statuses: t.statuses, firstErr: t.firstErr,
		elapsed: time.Since(start), cpu: cpu1 - cpu0, dbCPU: dbDelta(db0, db1)}
	for w := range pool {
		m.lat = append(m.lat, lats[w]...)
	}
	m.ops = int64(len(m.lat))
	slices.Sort(m.lat)
	return m
}

func statusString(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}
