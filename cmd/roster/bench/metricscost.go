package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// MetricsCost is one workload measured with Roster's metrics off and on:
// two servers side by side on the run's database, measured in turn.
type MetricsCost struct {
	Op          string  `json:"op"`
	Concurrency int     `json:"concurrency"`
	Rounds      int     `json:"rounds"`
	OffOps      float64 `json:"offThroughput"` // over all rounds
	OnOps       float64 `json:"onThroughput"`
	OffCPUus    float64 `json:"offCpuUsPerOp"` // server process CPU per operation
	OnCPUus     float64 `json:"onCpuUsPerOp"`
	OffP50ms    float64 `json:"offP50Ms"` // the rounds' median
	OnP50ms     float64 `json:"onP50Ms"`
	Errors      int64   `json:"errors"`
	Scrapes     int     `json:"scrapes"` // of the "on" server's /metrics, answered 200
	// RatioThroughput and RatioCPU are the medians over the rounds of on
	// over off, each round's two windows measured back to back: throughput
	// (0.97 = 3 % fewer operations per second with metrics on) and the
	// server's CPU per operation (1.03 = 3 % more).
	RatioThroughput float64 `json:"ratioThroughput"`
	RatioCPU        float64 `json:"ratioCpu"`
	// PooledRatioThroughput and PooledRatioCPU are the same ratios of the
	// sums over all rounds (OnOps/OffOps, OnCPUus/OffCPUus): every window
	// weighs by its operations, so one noisy round moves them less than it
	// moves a median of few rounds.
	PooledRatioThroughput float64 `json:"pooledRatioThroughput"`
	PooledRatioCPU        float64 `json:"pooledRatioCpu"`
	// The rounds' own ratios, whose spread shows how far the machine's
	// noise reaches.
	RoundRatiosThroughput []float64 `json:"roundRatiosThroughput"`
	RoundRatiosCPU        []float64 `json:"roundRatiosCpu"`
}

// metricsCostOps are the workloads the cost is measured on: the cheapest
// request, where a fixed cost per request weighs most, and a write.
var metricsCostOps = []string{"read", "create"}

// scrapeEvery is how often the "on" server is scraped while measured:
// more often than Prometheus is usually asked to (15 s), so the scrapes'
// own cost is not flattered.
const scrapeEvery = time.Second

// costSample is one window of the metrics cost.
type costSample struct {
	ops, errors    int64
	secs, cpu, p50 float64 // cpu: µs in the window
}

func (s costSample) rate() float64  { return float64(s.ops) / s.secs }
func (s costSample) perOp() float64 { return s.cpu / float64(s.ops) }

// measureMetricsCost measures the cost of metrics on two fresh servers
// side by side on the run's database, one with metrics off and one with
// them on, not on one server restarted with each setting: a restart's cold
// caches, and whatever the database does meanwhile (autovacuum, a
// checkpoint, tables grown by the creates), would fall on one side of an
// effect of a few per cent. In each of o.MetricsCost rounds, each of
// metricsCostOps runs closed-loop at o.MetricsCostC on one server and then
// on the other, back to back, the order alternating from one pair of
// windows to the next (off, on, on, off, …), so drift falls on both sides
// alike. The "on" server is scraped only during its own windows: the
// scrapes' cost is its own, never taken from the "off" side's CPU.
//
// The run's server srv is stopped meanwhile (its pool's connections count
// against PostgreSQL's max_connections, and it should take no CPU from the
// pair) and started again after, on its address with env; measureMetricsCost
// returns it.
func (o *Options) measureMetricsCost(ctx context.Context, srv *child, env []string, token string, w *world, out io.Writer) ([]MetricsCost, *child, error) {
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url, "http://"), "/")
	base := srv.url
	srv.stop()
	rows, scrapes, err := o.metricsCostPair(ctx, base, env, token, w)
	srv, _, serr := o.start(ctx, "server", addr, env)
	if serr != nil {
		return nil, nil, serr
	}
	if err != nil {
		return nil, srv, err
	}
	fmt.Fprintf(out, "\nmetrics cost: c=%d, %d rounds of off and on, two servers side by side, windows back to back in alternating order;"+
		" on scraped every %s in its windows (%d scrapes)\n×: median of the rounds' on/off; Σ: on/off of the sums over the rounds\n",
		o.MetricsCostC, o.MetricsCost, scrapeEvery, scrapes)
	fmt.Fprintf(out, "%-10s %10s %10s %7s %7s %13s %12s %12s %7s %7s %13s %8s %8s %5s\n",
		"operation", "off ops/s", "on ops/s", "×ops", "Σops", "rounds", "off cpu µs", "on cpu µs", "×cpu", "Σcpu", "rounds", "off p50", "on p50", "err")
	for _, r := range rows {
		fmt.Fprintf(out, "%-10s %10.0f %10.0f %7.3f %7.3f %13s %12.0f %12.0f %7.3f %7.3f %13s %8.2f %8.2f %5d\n",
			r.Op, r.OffOps, r.OnOps, r.RatioThroughput, r.PooledRatioThroughput, spread(r.RoundRatiosThroughput),
			r.OffCPUus, r.OnCPUus, r.RatioCPU, r.PooledRatioCPU, spread(r.RoundRatiosCPU), r.OffP50ms, r.OnP50ms, r.Errors)
	}
	return rows, srv, nil
}

// metricsCostPair starts the two servers under base (the bench's token
// names it), measures the rounds and stops them; it returns the rows and
// how many scrapes were answered.
func (o *Options) metricsCostPair(ctx context.Context, base string, env []string, token string, w *world) ([]MetricsCost, int, error) {
	env = withoutEnv(env, "ROSTER_METRICS_ADDR", "ROSTER_BENCH_PPROF")
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	var pair [2]*child // by side: off, on
	defer func() {
		for _, c := range pair {
			c.stop()
		}
	}()
	for i, m := range []string{"", metricsAddr} {
		if pair[i], _, err = o.startAs(ctx, "server", "", base, append(slices.Clone(env), "ROSTER_METRICS_ADDR="+m)); err != nil {
			return nil, 0, err
		}
	}
	// A fresh server's first run of a workload pays for what the later
	// ones find ready (connections, prepared statements, caches): each
	// server runs each workload once, unmeasured, before the rounds.
	for _, c := range pair {
		for _, name := range metricsCostOps {
			closedLoop(ctx, c.url, token, o.MetricsCostC, 0, o.Warmup, findOp(name).roster(w), cpuMeter{})
		}
	}
	// samples[op][round][side]
	samples := map[string][][2]costSample{}
	scrapes := 0
	for r := range o.MetricsCost {
		for i, name := range metricsCostOps {
			var round [2]costSample
			first := (r + i) % 2
			for _, s := range []int{first, 1 - first} {
				stopScraping := func() int { return 0 }
				if s == 1 {
					stopScraping = scrape(metricsAddr)
				}
				m := closedLoop(ctx, pair[s].url, token, o.MetricsCostC, o.Warmup, o.Duration, findOp(name).roster(w), cpuMeter{serverPID: pair[s].pid()})
				n := stopScraping()
				if ctx.Err() != nil {
					return nil, 0, ctx.Err()
				}
				if m.ops == 0 {
					return nil, 0, fmt.Errorf("metrics cost: no %s answered (%s)", name, m.firstErr)
				}
				if s == 1 && n == 0 {
					return nil, 0, fmt.Errorf("metrics cost: /metrics at %s never answered 200", metricsAddr)
				}
				scrapes += n
				round[s] = costSample{ops: m.ops, errors: m.errors, secs: m.elapsed.Seconds(), cpu: us(m.cpu), p50: ms(m.pct(0.5))}
			}
			samples[name] = append(samples[name], round)
		}
	}
	var rows []MetricsCost
	for _, name := range metricsCostOps {
		row := MetricsCost{Op: name, Concurrency: o.MetricsCostC, Rounds: o.MetricsCost, Scrapes: scrapes}
		var total [2]costSample
		var p50s [2][]float64
		var ratios, cpuRatios []float64
		for _, round := range samples[name] {
			for i, s := range round {
				total[i].ops, total[i].secs, total[i].cpu = total[i].ops+s.ops, total[i].secs+s.secs, total[i].cpu+s.cpu
				row.Errors += s.errors
				p50s[i] = append(p50s[i], s.p50)
			}
			ratios = append(ratios, round[1].rate()/round[0].rate())
			cpuRatios = append(cpuRatios, round[1].perOp()/round[0].perOp())
		}
		row.OffOps, row.OnOps = total[0].rate(), total[1].rate()
		row.OffCPUus, row.OnCPUus = total[0].perOp(), total[1].perOp()
		row.OffP50ms, row.OnP50ms = median(p50s[0]), median(p50s[1])
		row.RatioThroughput, row.RatioCPU = median(ratios), median(cpuRatios)
		row.PooledRatioThroughput, row.PooledRatioCPU = row.OnOps/row.OffOps, row.OnCPUus/row.OffCPUus
		row.RoundRatiosThroughput, row.RoundRatiosCPU = ratios, cpuRatios
		rows = append(rows, row)
	}
	return rows, scrapes, nil
}

// withoutEnv is env without the settings of keys.
func withoutEnv(env []string, keys ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(keys, k)
	})
}

// spread is the range of v, "0.91–1.07".
func spread(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(v), slices.Max(v))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// scrape fetches http://addr/metrics every scrapeEvery until the returned
// function is called, which answers how many scrapes were answered 200
// ("" scrapes nothing).
func scrape(addr string) (stop func() int) {
	if addr == "" {
		return func() int { return 0 }
	}
	done, finished := make(chan struct{}), make(chan struct{})
	ok := 0
	go func() {
		defer close(finished)
		hc := &http.Client{Timeout: 5 * time.Second}
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for {
			if resp, err := hc.Get("http://" + addr + "/metrics"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok++
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int { close(done); <-finished; return ok }
}
