package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"linkdesk/db"
	"linkdesk/demo"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/worker"
)

// ingestion is the webhook side of serve: the group-commit ingester, the
// checkpointer that keeps WAL checkpoints off the commit path, the job
// runner that fetches the data behind the events, and their metrics.
type ingestion struct {
	ingester *db.Ingester
	jobs     *worker.Runner
	wg       sync.WaitGroup
}

// startIngestion starts the ingestion goroutines on bg; wait returns once
// they have all stopped after bg ends (the ingester first commits what it
// was handed).
func startIngestion(ctx, bg context.Context, store *db.Store, src worker.Source, reg *prometheus.Registry, log *slog.Logger) (*ingestion, error) {
	m := newIngestMetrics(reg, store)
	in := &ingestion{}
	byResult := map[string]prometheus.Counter{}
	for _, r := range []string{"accepted", "duplicate", "error"} {
		byResult[r] = m.deliveries.WithLabelValues(r)
	}
	ing, err := store.NewIngester(ctx, db.IngestOptions{Hooks: db.IngestHooks{
		Result: func(result string, wait time.Duration) {
			byResult[result].Inc()
			m.latency.Observe(wait.Seconds())
		},
		Rejected: func(reason string) { m.rejected.WithLabelValues(reason).Inc() },
		Batch: func(n, r int, took time.Duration) {
			m.batchSize.Observe(float64(n))
			m.commit.Observe(took.Seconds())
		},
		Queued: func() {
			if in.jobs != nil {
				in.jobs.Wake()
			}
		},
	}})
	if err != nil {
		return nil, err
	}
	in.ingester = ing
	in.jobs = worker.NewRunner(store, worker.Options{Log: log, Finished: func(kind, result string, took time.Duration) {
		m.jobAttempts.WithLabelValues(kind, result).Inc()
		m.jobSeconds.WithLabelValues(kind).Observe(took.Seconds())
	}})
	in.jobs.Add(worker.Fetches(src))

	in.wg.Go(func() {
		if err := ing.Run(bg); err != nil {
			log.Error("ingester stopped", "err", err)
		}
	})
	in.wg.Go(func() {
		err := ing.RunCheckpointer(bg, db.CheckpointOptions{Checkpointed: func(frames int, mode string, took time.Duration) {
			m.checkpoints.WithLabelValues(strings.ToLower(mode)).Observe(took.Seconds())
		}})
		if err != nil {
			log.Error("checkpointer stopped", "err", err)
		}
	})
	in.wg.Go(func() {
		if err := in.jobs.Run(bg); err != nil {
			log.Error("job runner stopped", "err", err)
		}
	})
	return in, nil
}

// startDemo builds the demo world in the background (emulator mode with
// LINKDESK_DEMO on): Link sessions driven through the emulator at
// emulatorBase (secret: the emulator's, for its emulator-only status knob),
// every event arriving as a signed webhook. It runs once per database (a
// settings row remembers).
func (in *ingestion) startDemo(bg context.Context, cfg config, store *db.Store, client *pinwheel.Client, emulatorBase, secret string, log *slog.Logger) {
	if !cfg.Demo || cfg.PinwheelMode != pinwheel.ModeEmulator {
		return
	}
	in.wg.Go(func() {
		// The demo world skips a database that already holds events; then
		// no demo customer records may be invented for real end users.
		if _, err := store.Setting(bg, "demo_world"); errors.Is(err, db.ErrNotFound) {
			if tot, err := store.Totals(bg); err == nil && tot["events"] > 0 {
				store.SetSetting(bg, "demo_customers", "done")
			}
		}
		err := demo.Run(bg, demo.Config{
			Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: emulatorBase, Secret: secret},
			Version: cfg.PinwheelVersion, Log: log.With("component", "demo"),
		})
		if err != nil {
			if bg.Err() == nil {
				log.Error("demo world", "err", err)
			}
			return
		}
		if err := seedDemoCustomers(bg, store); err != nil && bg.Err() == nil {
			log.Error("demo customers", "err", err)
		}
	})
}

// seedDemoCustomers gives the demo end users customer records (some
// matching their payroll identity, some not) once their identity fetches
// are stored, so the identity check can be tried at once. A settings row
// makes it happen once per database: later, real end users never get
// invented records.
func seedDemoCustomers(ctx context.Context, store *db.Store) error {
	if v, err := store.Setting(ctx, "demo_customers"); err == nil && v == "done" {
		return nil
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		st, err := store.JobStats(ctx)
		if err != nil {
			return err
		}
		var pending int64
		for _, k := range st {
			if slices.Contains(db.FetchJobKinds, k.Kind) {
				pending += k.Depth()
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if _, err := store.SeedDemoCustomers(ctx, db.Actor{Email: "demo", IP: "local"}); err != nil {
		return err
	}
	return store.SetSetting(ctx, "demo_customers", "done")
}

// wait blocks until every ingestion goroutine has returned.
func (in *ingestion) wait() { in.wg.Wait() }

type ingestMetrics struct {
	deliveries  *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	latency     prometheus.Histogram
	batchSize   prometheus.Histogram
	commit      prometheus.Histogram
	checkpoints *prometheus.HistogramVec
	jobAttempts *prometheus.CounterVec
	jobSeconds  *prometheus.HistogramVec
}

func newIngestMetrics(reg *prometheus.Registry, store *db.Store) *ingestMetrics {
	m := &ingestMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkdesk_webhook_deliveries_total", Help: "Verified webhook deliveries by result: accepted, duplicate or error.",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkdesk_webhook_rejected_total", Help: "Refused webhook deliveries by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "linkdesk_webhook_ingest_seconds", Help: "Time a verified delivery waited for its group commit.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "linkdesk_webhook_batch_size", Help: "Deliveries per group-commit transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "linkdesk_webhook_batch_seconds", Help: "Duration of a group-commit transaction, fsync included.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		checkpoints: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkdesk_db_checkpoint_seconds", Help: "WAL checkpoints that copied pages, by mode (passive, restart, truncate).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5},
		}, []string{"mode"}),
		jobAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkdesk_job_attempts_total", Help: "Background job attempts by kind and result: done, retry, failed or interrupted.",
		}, []string{"kind", "result"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkdesk_job_seconds", Help: "How long a background job's handler ran, by kind.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.deliveries, m.rejected, m.latency, m.batchSize, m.commit, m.checkpoints, m.jobAttempts, m.jobSeconds, queueCollector{store})
	return m
}

// queueCollector reads the job queue's figures on scrape: jobs by kind and
// state, and the age of the oldest queued or running job of each kind.
type queueCollector struct{ s *db.Store }

var (
	jobsDesc   = prometheus.NewDesc("linkdesk_jobs", "Background jobs by kind and state (queued, running, done, failed).", []string{"kind", "state"}, nil)
	oldestDesc = prometheus.NewDesc("linkdesk_jobs_oldest_seconds", "Age of the oldest queued or running job, by kind (0 when none).", []string{"kind"}, nil)
)

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- oldestDesc
}

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := q.s.JobStats(ctx)
	if err != nil {
		return
	}
	for _, k := range st {
		for _, state := range db.JobStates {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(k.ByState[state]), k.Kind, state)
		}
		age := 0.0
		if !k.Oldest.IsZero() {
			age = q.s.Now().Sub(k.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, k.Kind)
	}
}
