// Package metrics serves a stage's counters to Prometheus (--metrics-addr)
// and writes them, for cron runs, in node_exporter's textfile format when
// the stage exits (--metrics-file). Every metric is read from the counters
// the stage keeps anyway, when it is scraped: it costs the stage nothing
// per record.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
)

// Flags are --metrics-addr and --metrics-file.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics-addr", EnvVars: []string{"SKY_METRICS_ADDR"},
			Usage: "serve Prometheus metrics on http://`HOST:PORT`/metrics (port 0: any free one, said on stderr)"},
		&cli.StringFlag{Name: "metrics-file", EnvVars: []string{"SKY_METRICS_FILE"}, TakesFile: true,
			Usage: "at exit, write the metrics to `FILE` in node_exporter's textfile format, atomically"},
	}
}

// Set is the metrics of one stage: every one has the label stage.
type Set struct {
	reg   *prometheus.Registry
	stage string
}

// New returns the set of the named stage.
func New(stage string) *Set {
	return &Set{reg: prometheus.NewRegistry(), stage: stage}
}

func (s *Set) opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "skyflows", Name: name, Help: help, ConstLabels: prometheus.Labels{"stage": s.stage}}
}

// Counter is a counter whose value f reads.
func (s *Set) Counter(name, help string, f func() float64) {
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts(s.opts(name, help)), f))
}

// Count is a counter that reads v.
func (s *Set) Count(name, help string, v *atomic.Int64) {
	s.Counter(name, help, func() float64 { return float64(v.Load()) })
}

// Gauge is a gauge whose value f reads.
func (s *Set) Gauge(name, help string, f func() float64) {
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts(s.opts(name, help)), f))
}

// Seconds is a histogram of durations, from 5 ms to 40 s, of the named
// stage, to Register once the stage's set exists.
func Seconds(stage, name, help string) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "skyflows", Name: name, Help: help,
		ConstLabels: prometheus.Labels{"stage": stage}, Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)})
}

// Register adds a metric of its own.
func (s *Set) Register(c prometheus.Collector) { s.reg.MustRegister(c) }

// CounterVec registers counters by one more label, read by collect.
func (s *Set) CounterVec(name, help, label string, collect func(emit func(value float64, labelValue string))) {
	s.reg.MustRegister(&funcVec{desc: prometheus.NewDesc(prometheus.BuildFQName("skyflows", "", name), help,
		[]string{label}, prometheus.Labels{"stage": s.stage}), collect: collect})
}

// funcVec is a counter vector read when collected.
type funcVec struct {
	desc    *prometheus.Desc
	collect func(emit func(value float64, labelValue string))
}

func (v *funcVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *funcVec) Collect(ch chan<- prometheus.Metric) {
	v.collect(func(value float64, labelValue string) {
		ch <- prometheus.MustNewConstMetric(v.desc, prometheus.CounterValue, value, labelValue)
	})
}

// Start does what --metrics-addr and --metrics-file of c ask: it serves
// the metrics, saying where on errw unless quiet, until finish is called;
// finish then writes the file, saying on errw, as name, if it cannot.
func (s *Set) Start(c *cli.Context, errw io.Writer, quiet bool) (finish func(), err error) {
	stop := func() {}
	if addr := c.String("metrics-addr"); addr != "" {
		log := errw
		if quiet {
			log = nil
		}
		if stop, err = s.Serve(addr, log); err != nil {
			return nil, err
		}
	}
	return func() {
		stop()
		if path := c.String("metrics-file"); path != "" {
			if err := s.WriteFile(path); err != nil {
				fmt.Fprintf(errw, "%s: %v\n", s.stage, err)
			}
		}
	}, nil
}

// Serve serves /metrics on addr until stop is called, and says where on
// log, unless log is nil.
func (s *Set) Serve(addr string, log io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			fmt.Fprintf(log, "%s: metrics: %v\n", s.stage, err)
		}
	}()
	if log != nil {
		fmt.Fprintf(log, "%s: serving metrics on http://%s/metrics\n", s.stage, ln.Addr())
	}
	return func() { srv.Close() }, nil
}

// WriteFile writes the metrics to path in the textfile format, whole or
// not at all (a temporary file renamed).
func (s *Set) WriteFile(path string) error {
	if err := prometheus.WriteToTextfile(path, s.reg); err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	return nil
}
