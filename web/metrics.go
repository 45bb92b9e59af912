package web

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"linkdesk/db"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers request counters and durations by route pattern and
// status, and the DB pool statistics.
func newMetrics(reg *prometheus.Registry, store *db.Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkdesk_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkdesk_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	if store != nil {
		reg.MustRegister(dbStats{store})
	}
	return m
}

func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
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

// dbStats exports sql.DBStats of the writer and reader pools.
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
	for pool, st := range map[string]struct {
		open, inUse, idle int
		wait              int64
		waitD             time.Duration
	}{
		"writer":  {w.OpenConnections, w.InUse, w.Idle, w.WaitCount, w.WaitDuration},
		"readers": {r.OpenConnections, r.InUse, r.Idle, r.WaitCount, r.WaitDuration},
	} {
		ch <- prometheus.MustNewConstMetric(dbOpen, prometheus.GaugeValue, float64(st.open), pool)
		ch <- prometheus.MustNewConstMetric(dbInUse, prometheus.GaugeValue, float64(st.inUse), pool)
		ch <- prometheus.MustNewConstMetric(dbIdle, prometheus.GaugeValue, float64(st.idle), pool)
		ch <- prometheus.MustNewConstMetric(dbWait, prometheus.CounterValue, float64(st.wait), pool)
		ch <- prometheus.MustNewConstMetric(dbWaitD, prometheus.CounterValue, st.waitD.Seconds(), pool)
	}
}
