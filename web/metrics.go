package web

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"linkdesk/db"
)

// Metrics are every Prometheus metric Linkdesk exports on /metrics: HTTP
// requests (recorded by the middleware), the database pools, webhook
// ingestion and the job queue. `linkdesk serve` creates them once and hands
// their hooks to the ingester, the checkpointer and the job runner; the
// collectors read the Store on each scrape.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	deliveries  *prometheus.CounterVec
	byResult    map[string]prometheus.Counter
	rejected    *prometheus.CounterVec
	latency     prometheus.Histogram
	batchSize   prometheus.Histogram
	commit      prometheus.Histogram
	checkpoints *prometheus.HistogramVec

	jobAttempts *prometheus.CounterVec
	jobSeconds  *prometheus.HistogramVec
}

// NewMetrics registers Linkdesk's metrics on reg; store (nil in tests that
// need none) feeds the pool and queue collectors.
func NewMetrics(reg *prometheus.Registry, store *db.Store) *Metrics {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkdesk_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkdesk_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),

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
	m.byResult = map[string]prometheus.Counter{}
	for _, r := range []string{"accepted", "duplicate", "error"} {
		m.byResult[r] = m.deliveries.WithLabelValues(r)
	}
	reg.MustRegister(m.requests, m.duration, m.deliveries, m.rejected, m.latency, m.batchSize, m.commit, m.checkpoints,
		m.jobAttempts, m.jobSeconds)
	if store != nil {
		reg.MustRegister(dbStats{store}, jobStats{store}, alertStats{store}, auditStats{store}, listenStats{store})
	}
	return m
}

// Registry is where the metrics are registered (served by /metrics).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// IngestHooks are the ingester's hooks that record its metrics; queued is
// called when a commit queued jobs (it wakes the job runner).
func (m *Metrics) IngestHooks(queued func()) db.IngestHooks {
	return db.IngestHooks{
		Result: func(result string, wait time.Duration) {
			m.byResult[result].Inc()
			m.latency.Observe(wait.Seconds())
		},
		Rejected: func(reason string) { m.rejected.WithLabelValues(reason).Inc() },
		Batch: func(n, r int, took time.Duration) {
			m.batchSize.Observe(float64(n))
			m.commit.Observe(took.Seconds())
		},
		Queued: queued,
	}
}

// Checkpointed records a WAL checkpoint (db.CheckpointOptions.Checkpointed).
func (m *Metrics) Checkpointed(frames int, mode string, took time.Duration) {
	m.checkpoints.WithLabelValues(strings.ToLower(mode)).Observe(took.Seconds())
}

// JobFinished records a job attempt (worker.Options.Finished).
func (m *Metrics) JobFinished(kind, result string, took time.Duration) {
	m.jobAttempts.WithLabelValues(kind, result).Inc()
	m.jobSeconds.WithLabelValues(kind).Observe(took.Seconds())
}

// middleware records each request by route pattern and status.
func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Inc()
		m.duration.WithLabelValues(route, c.Request().Method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// dbStats exports sql.DBStats of the writer, reader and export pools.
type dbStats struct{ s *db.Store }

var (
	dbOpen  = prometheus.NewDesc("linkdesk_db_open_connections", "Open connections.", []string{"pool"}, nil)
	dbInUse = prometheus.NewDesc("linkdesk_db_in_use_connections", "Connections in use.", []string{"pool"}, nil)
	dbIdle  = prometheus.NewDesc("linkdesk_db_idle_connections", "Idle connections.", []string{"pool"}, nil)
	dbWait  = prometheus.NewDesc("linkdesk_db_wait_count_total", "Waits for a connection.", []string{"pool"}, nil)
	dbWaitD = prometheus.NewDesc("linkdesk_db_wait_seconds_total", "Time spent waiting for a connection.", []string{"pool"}, nil)
)

func (d dbStats) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{dbOpen, dbInUse, dbIdle, dbWait, dbWaitD} {
		ch <- x
	}
}

func (d dbStats) Collect(ch chan<- prometheus.Metric) {
	w, r := d.s.Stats()
	x := d.s.ExportStats()
	for pool, st := range map[string]struct {
		open, inUse, idle int
		wait              int64
		waitD             time.Duration
	}{
		"writer":  {w.OpenConnections, w.InUse, w.Idle, w.WaitCount, w.WaitDuration},
		"readers": {r.OpenConnections, r.InUse, r.Idle, r.WaitCount, r.WaitDuration},
		"exports": {x.OpenConnections, x.InUse, x.Idle, x.WaitCount, x.WaitDuration},
	} {
		ch <- prometheus.MustNewConstMetric(dbOpen, prometheus.GaugeValue, float64(st.open), pool)
		ch <- prometheus.MustNewConstMetric(dbInUse, prometheus.GaugeValue, float64(st.inUse), pool)
		ch <- prometheus.MustNewConstMetric(dbIdle, prometheus.GaugeValue, float64(st.idle), pool)
		ch <- prometheus.MustNewConstMetric(dbWait, prometheus.CounterValue, float64(st.wait), pool)
		ch <- prometheus.MustNewConstMetric(dbWaitD, prometheus.CounterValue, st.waitD.Seconds(), pool)
	}
}

// listenStats reads the LISTEN connection's counters (PostgreSQL only:
// live pages on every instance wake on its notifications).
type listenStats struct{ s *db.Store }

var (
	listenUp       = prometheus.NewDesc("linkdesk_db_listener_up", "1 while the connection that LISTENs for other instances' changes is up (PostgreSQL).", nil, nil)
	listenConnects = prometheus.NewDesc("linkdesk_db_listener_connects_total", "Connections the listener made: the first and every reconnect (PostgreSQL).", nil, nil)
	listenNotes    = prometheus.NewDesc("linkdesk_db_notifications_total", "Change notifications received (PostgreSQL).", nil, nil)
)

func (l listenStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- listenUp
	ch <- listenConnects
	ch <- listenNotes
}

func (l listenStats) Collect(ch chan<- prometheus.Metric) {
	if !l.s.AnnouncesEveryChange() {
		return // SQLite: no listener
	}
	st := l.s.ListenerStats()
	up := 0.0
	if st.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(listenUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(listenConnects, prometheus.CounterValue, float64(st.Connects))
	ch <- prometheus.MustNewConstMetric(listenNotes, prometheus.CounterValue, float64(st.Notifications))
}

// jobStats reads the job queue on each scrape: jobs by kind and state, and
// the age of the oldest queued or running job of each kind.
type jobStats struct{ s *db.Store }

var (
	jobsDesc      = prometheus.NewDesc("linkdesk_jobs", "Background jobs by kind and state (queued, running, done, failed).", []string{"kind", "state"}, nil)
	jobOldestDesc = prometheus.NewDesc("linkdesk_jobs_oldest_seconds", "Age of the oldest queued or running job, by kind (0 when none).", []string{"kind"}, nil)
)

func (j jobStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- jobOldestDesc
}

func (j jobStats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := j.s.JobStats(ctx)
	if err != nil {
		return
	}
	for _, k := range st {
		for _, state := range db.JobStates {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(k.ByState[state]), k.Kind, state)
		}
		age := 0.0
		if !k.Oldest.IsZero() {
			age = j.s.Now().Sub(k.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(jobOldestDesc, prometheus.GaugeValue, age, k.Kind)
	}
}

// alertStats reads the alerts that are not resolved on each scrape, so that
// a monitoring system outside Linkdesk can page on them too.
type alertStats struct{ s *db.Store }

var alertsDesc = prometheus.NewDesc("linkdesk_alerts", "Alerts not resolved, by rule and state (open, acknowledged, snoozed); every rule appears, 0 when it has none.", []string{"rule", "state"}, nil)

func (a alertStats) Describe(ch chan<- *prometheus.Desc) { ch <- alertsDesc }

func (a alertStats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := a.s.ActiveAlertCounts(ctx)
	if err != nil {
		return
	}
	n := map[[2]string]int{}
	for _, c := range counts {
		n[[2]string{c.Rule, c.State}] = c.N
	}
	for _, r := range db.Rules {
		for _, st := range []string{db.AlertOpen, db.AlertAcknowledged, db.AlertSnoozed} {
			ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, float64(n[[2]string{r.Name, st}]), r.Name, st)
		}
	}
}

// auditStats reads the audit chain's state on each scrape: the outcome and
// time of the last verification (the daily check or Verify now) and
// whether the anchor file took the last head, so that an alert can watch
// for a broken chain (linkdesk_audit_chain_ok == 0), a check that stopped
// running (time() - linkdesk_audit_verified_at > 2 days) or an anchor
// that cannot be written.
type auditStats struct{ s *db.Store }

var (
	auditOKDesc     = prometheus.NewDesc("linkdesk_audit_chain_ok", "1 when the last verification of the audit chain found it intact, 0 when it found a bad row (absent before the first).", nil, nil)
	auditAtDesc     = prometheus.NewDesc("linkdesk_audit_verified_at", "Unix time the last verification of the audit chain finished (0 before the first).", nil, nil)
	auditRowsDesc   = prometheus.NewDesc("linkdesk_audit_verified_rows", "Rows the last verification of the audit chain checked.", nil, nil)
	auditBadDesc    = prometheus.NewDesc("linkdesk_audit_bad_row", "The first bad row the last verification found (0 when intact).", nil, nil)
	auditAnchorDesc = prometheus.NewDesc("linkdesk_audit_anchor_ok", "1 when the last write of the chain head to the anchor file succeeded.", nil, nil)
)

func (a auditStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{auditOKDesc, auditAtDesc, auditRowsDesc, auditBadDesc, auditAnchorDesc} {
		ch <- d
	}
}

func (a auditStats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	anchorOK := 1.0
	if a.s.AnchorError() != nil {
		anchorOK = 0
	}
	ch <- prometheus.MustNewConstMetric(auditAnchorDesc, prometheus.GaugeValue, anchorOK)
	v, err := a.s.LastVerification(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(auditAtDesc, prometheus.GaugeValue, 0)
		return
	}
	ok := 0.0
	if v.OK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(auditOKDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(auditAtDesc, prometheus.GaugeValue, float64(v.FinishedAt.Unix()))
	ch <- prometheus.MustNewConstMetric(auditRowsDesc, prometheus.GaugeValue, float64(v.Rows))
	ch <- prometheus.MustNewConstMetric(auditBadDesc, prometheus.GaugeValue, float64(v.BadSeq))
}
