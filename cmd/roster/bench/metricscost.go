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

// MetricsCost is one workload measured with Roster's metrics off and on,
// the two alternating over the rounds of one run.
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
	// over off, each round's two measured a few seconds apart: throughput
	// (0.97 = 3 % fewer operations per second with metrics on) and the
	// server's CPU per operation (1.03 = 3 % more). Medians of paired
	// rounds, so drift in the machine's load falls on both sides alike.
	RatioThroughput float64 `json:"ratioThroughput"`
	RatioCPU        float64 `json:"ratioCpu"`
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

// costSample is one phase of the metrics cost.
type costSample struct {
	ops, errors    int64
	secs, cpu, p50 float64 // cpu: µs in the window
}

func (s costSample) rate() float64  { return float64(s.ops) / s.secs }
func (s costSample) perOp() float64 { return s.cpu / float64(s.ops) }

// measureMetricsCost restarts the server (on the same address: the token
// names it) with metrics off and on in turn — off first in even rounds, on
// first in odd ones — o.MetricsCost rounds, and runs each of
// metricsCostOps closed-loop at o.MetricsCostC in each configuration. It
// returns the server it leaves running.
func (o *Options) measureMetricsCost(ctx context.Context, srv *child, serverEnv []string, token string, w *world, out io.Writer) ([]MetricsCost, *child, error) {
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url, "http://"), "/")
	// samples[op][round][on]
	samples := map[string][][2]costSample{}
	scrapes := 0
	for r := 0; r < o.MetricsCost; r++ {
		for _, name := range metricsCostOps {
			samples[name] = append(samples[name], [2]costSample{})
		}
		for _, on := range []bool{r%2 == 1, r%2 == 0} {
			metricsAddr := ""
			if on {
				a, err := freeAddr()
				if err != nil {
					return nil, srv, err
				}
				metricsAddr = a
			}
			srv.stop()
			var err error
			if srv, _, err = o.start(ctx, "server", addr, append(slices.Clone(serverEnv), "ROSTER_METRICS_ADDR="+metricsAddr)); err != nil {
				return nil, nil, err
			}
			stopScraping := scrape(metricsAddr)
			for _, name := range metricsCostOps {
				m := closedLoop(ctx, srv.url, token, o.MetricsCostC, o.Warmup, o.Duration, findOp(name).roster(w), cpuMeter{serverPID: srv.pid()})
				if m.ops == 0 {
					return nil, srv, fmt.Errorf("metrics cost: no %s answered (%s)", name, m.firstErr)
				}
				samples[name][r][side(on)] = costSample{ops: m.ops, errors: m.errors, secs: m.elapsed.Seconds(), cpu: us(m.cpu), p50: ms(m.pct(0.5))}
			}
			n := stopScraping()
			if on && n == 0 {
				return nil, srv, fmt.Errorf("metrics cost: /metrics at %s never answered 200", metricsAddr)
			}
			scrapes += n
			if ctx.Err() != nil {
				return nil, srv, ctx.Err()
			}
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
		row.RoundRatiosThroughput, row.RoundRatiosCPU = ratios, cpuRatios
		rows = append(rows, row)
	}
	fmt.Fprintf(out, "\nmetrics cost: c=%d, %d rounds of off and on, on scraped every %s (%d scrapes); ×: median of the rounds' on/off\n",
		o.MetricsCostC, o.MetricsCost, scrapeEvery, scrapes)
	fmt.Fprintf(out, "%-10s %10s %10s %7s %13s %12s %12s %7s %13s %8s %8s %5s\n",
		"operation", "off ops/s", "on ops/s", "×ops", "rounds", "off cpu µs", "on cpu µs", "×cpu", "rounds", "off p50", "on p50", "err")
	for _, r := range rows {
		fmt.Fprintf(out, "%-10s %10.0f %10.0f %7.3f %13s %12.0f %12.0f %7.3f %13s %8.2f %8.2f %5d\n",
			r.Op, r.OffOps, r.OnOps, r.RatioThroughput, spread(r.RoundRatiosThroughput), r.OffCPUus, r.OnCPUus, r.RatioCPU,
			spread(r.RoundRatiosCPU), r.OffP50ms, r.OnP50ms, r.Errors)
	}
	return rows, srv, nil
}

// side is the index of a configuration in a round: 0 off, 1 on.
func side(on bool) int {
	if on {
		return 1
	}
	return 0
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
