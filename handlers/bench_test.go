package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/loadgen"
)

// Benchmarks of the browse pages on a seeded database, through the test
// server (newServer with onDatabase). They never run in a
// plain `go test ./...`: set LINKDESK_BENCH_DB to a database made by
//
//	go run . seed --db /tmp/browse.db --end-users 100000 --accounts 150000 --events 1000000
//
// then
//
//	LINKDESK_BENCH_DB=/tmp/browse.db go test ./handlers -run '^$' -bench Browse -benchtime 400x
//
// Each request goes through the whole router (middleware, session check,
// Store, templ) in process: the figures are server time without the
// network. Each benchmark reports the median and p99 of its requests. The
// first run adds one account with 5,000 events (for the timeline figure)
// and the test server's staff members to the database.

const (
	benchAccount   = "bench-timeline-account-0001"
	benchEndUser   = "bench-timeline-end-user"
	benchTimelineN = 5000
)

type benchEnv struct {
	srv    *testServer
	store  *db.Store
	cookie *http.Cookie
}

// openBench is the test server on the seeded database, signed in as the
// auditor.
func openBench(b *testing.B) *benchEnv {
	b.Helper()
	path := os.Getenv("LINKDESK_BENCH_DB")
	if path == "" {
		b.Skip("set LINKDESK_BENCH_DB to a database made by `linkdesk seed` (see handlers/bench_test.go)")
	}
	s := newServer(b, onDatabase(path))
	ensureTimelineAccount(b, s)
	s.clk.set(time.Now().UTC())
	env := &benchEnv{srv: s, store: s.store}
	form := url.Values{"email": {db.RoleAuditor + "@example.com"}, "password": {testPassword}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "linkdesk" {
			env.cookie = c
		}
	}
	if env.cookie == nil {
		b.Fatalf("bench login: %d", w.Code)
	}
	return env
}

// ensureTimelineAccount gives one account benchTimelineN events, then
// adds 5,000 events of ordinary traffic on top, so that page one of the
// lists is not all that one account (which would make it unrealistically
// cheap). A marker event records that this was done.
func ensureTimelineAccount(b *testing.B, s *testServer) {
	ctx := context.Background()
	if _, err := s.store.EventByEventID(ctx, "bench-traffic-done"); err == nil {
		return
	}
	ingest := func(body []byte, at time.Time) {
		s.clk.set(at)
		s.ingest(b, string(body))
	}
	start := time.Now().UTC().Add(-30 * 24 * time.Hour)
	if o, err := s.store.AccountOverview(ctx, benchAccount); err != nil || o.Account.EventCount < benchTimelineN {
		ingest([]byte(added("bench-tl-0", benchAccount, benchEndUser, "p-bench", "Bench Payroll", "active", true)), start)
		for i := 1; i < benchTimelineN; i++ {
			at := start.Add(time.Duration(i) * 8 * time.Minute)
			ingest([]byte(jobEvent(fmt.Sprintf("bench-tl-%d", i), []string{"paystubs.added", "shifts.added", "income.added"}[i%3],
				benchAccount, benchEndUser, []string{"success", "success", "error"}[i%3], at, "")), at)
		}
	}
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 99, Accounts: 1000})
	for range 5000 {
		ingest(gen.Next().Body, time.Now().UTC())
	}
	ingest([]byte(`{"event_id": "bench-traffic-done", "event": "bench.marker", "payload": {}}`), time.Now().UTC())
}

// measure runs b.N requests of target and reports the median and p99.
func (env *benchEnv) measure(b *testing.B, target string) {
	b.Helper()
	req := func() time.Duration {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.AddCookie(env.cookie)
		w := httptest.NewRecorder()
		start := time.Now()
		env.srv.ServeHTTP(w, r)
		d := time.Since(start)
		if w.Code != http.StatusOK && w.Code != http.StatusSeeOther {
			b.Fatalf("GET %s: %d %s", target, w.Code, w.Body.String())
		}
		return d
	}
	for range 5 { // warm the page cache and the statement caches
		req()
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		times = append(times, req())
	}
	b.StopTimer()
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
	b.ReportMetric(ms(times[min(len(times)-1, len(times)*99/100)]), "p99-ms")
}

// pageCursor walks n-1 pages of a keyset list to find page n's URL.
func accountsPage(b *testing.B, env *benchEnv, n int, q db.AccountQuery) string {
	for range n - 1 {
		_, next, err := env.store.ListAccounts(context.Background(), q)
		if err != nil || next.IsZero() {
			b.Fatalf("accounts page: %v", err)
		}
		q.After = next
	}
	return q.After.String()
}

// benchDeepPage is the page the "deep page" cases read: 1,000, or
// LINKDESK_BENCH_PAGE for a database too small to have 1,000 pages of
// accounts and end users (50 a page).
func benchDeepPage(b *testing.B) int {
	v := os.Getenv("LINKDESK_BENCH_PAGE")
	if v == "" {
		return 1000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		b.Fatalf("LINKDESK_BENCH_PAGE=%q: want a page number of at least 2", v)
	}
	return n
}

func BenchmarkBrowse(b *testing.B) {
	env := openBench(b)
	ctx := context.Background()

	deep := benchDeepPage(b)
	after1000 := accountsPage(b, env, deep, db.AccountQuery{})
	q := db.EndUserQuery{}
	for range deep - 1 {
		_, next, err := env.store.ListEndUsers(ctx, q)
		if err != nil || next.IsZero() {
			b.Fatalf("end users page: %v", err)
		}
		q.After = next
	}
	euAfter1000 := q.After.String()
	var top int64
	rows, _, err := env.store.ListEventLog(ctx, db.EventQuery{Limit: 1})
	if err != nil || len(rows) == 0 {
		b.Fatal("no events", err)
	}
	top = rows[0].ID
	sample, _, err := env.store.ListEventLog(ctx, db.EventQuery{Before: top - 5000, Limit: 1})
	if err != nil || len(sample) == 0 {
		b.Fatal("no sample event", err)
	}
	ev := sample[0]
	o, err := env.store.AccountOverview(ctx, ev.AccountID)
	acc := o.Account
	if err != nil {
		b.Fatal(err)
	}
	tlPage, err := env.store.Timeline(ctx, db.TimelineQuery{AccountID: benchAccount})
	if err != nil {
		b.Fatal(err)
	}
	p := url.QueryEscape
	lastDay := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")
	dayFrom := time.Now().UTC().Add(-10 * 24 * time.Hour).Format("2006-01-02T15:04")
	dayTo := time.Now().UTC().Add(-9 * 24 * time.Hour).Format("2006-01-02T15:04")

	pages := []struct{ name, target string }{
		{"dashboard", "/"},
		{"accounts/page1", "/accounts"},
		{fmt.Sprintf("accounts/page%d", deep), "/accounts?after=" + p(after1000)},
		{"accounts/status=degraded", "/accounts?status=degraded"},
		{"accounts/platform", "/accounts?platform=" + p(acc.PlatformID)},
		{"accounts/disconnected", "/accounts?connected=no"},
		{"accounts/last_outcome=error", "/accounts?last_outcome=error"},
		{"accounts/quiet_days=7", "/accounts?quiet_days=7"},
		{"end-users/page1", "/end-users"},
		{fmt.Sprintf("end-users/page%d", deep), "/end-users?after=" + p(euAfter1000)},
		{"end-users/status=active", "/end-users?status=active"},
		{"end-users/status=unavailable", "/end-users?status=unavailable"},
		{"end-users/platform", "/end-users?platform=" + p(acc.PlatformID)},
		{"events/page1", "/events"},
		{fmt.Sprintf("events/page%d", deep), "/events?before=" + strconv.FormatInt(top-50*int64(deep-1), 10)},
		{"events/type", "/events?type=direct_deposit_switch.added"},
		{"events/outcome=error", "/events?outcome=error"},
		{"events/duplicates", "/events?status=duplicate"},
		{"events/account", "/events?account=" + p(ev.AccountID)},
		{"events/last24h", "/events?from=" + p(lastDay)},
		{"events/one-day-range", "/events?from=" + p(dayFrom) + "&to=" + p(dayTo)},
		{"event", "/events/" + p(ev.EventID)},
		{"account", "/accounts/" + p(ev.AccountID)},
		{"end-user", "/end-users/" + p(ev.EndUserID)},
		{"timeline5000/page1", "/accounts/" + benchAccount},
		{"timeline5000/page2", "/accounts/" + benchAccount + "?before=" + p(tlPage.Next.String())},
		{"timeline5000/live-poll", "/accounts/" + benchAccount + "/live?after=" + p(tlPage.Latest.String())},
		{"search/account_id", "/search?q=" + p(ev.AccountID)},
		{"search/end_user_id", "/search?q=" + p(ev.EndUserID)},
		{"search/event_id", "/search?q=" + p(ev.EventID)},
		{"search/link_token_id", "/search?q=" + p(ev.LinkTokenID)},
		{"search/platform", "/search?q=" + p(acc.PlatformName)},
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) { env.measure(b, pg.target) })
	}
}

// rssBytes reads the resident set size of this process (Linux).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// countingWriter is a ResponseWriter that counts and drops the body.
type countingWriter struct {
	h     http.Header
	n     int64
	lines int64
	code  int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(c int)   { w.code = c }
func (w *countingWriter) Flush()              {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// BenchmarkBrowseExportCSV exports every event as CSV through the router
// and reports rows/s and the growth of the resident set during the export.
func BenchmarkBrowseExportCSV(b *testing.B) {
	env := openBench(b)
	for range b.N {
		runtime.GC()
		base := rssBytes()
		var peak atomic.Int64
		peak.Store(base)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if r := rssBytes(); r > peak.Load() {
						peak.Store(r)
					}
				}
			}
		}()
		r := httptest.NewRequest(http.MethodGet, "/events/export.csv", nil)
		r.AddCookie(env.cookie)
		w := &countingWriter{h: http.Header{}}
		start := time.Now()
		env.srv.ServeHTTP(w, r)
		took := time.Since(start)
		close(stop)
		<-sampled
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("export: %d", w.code)
		}
		rows := w.lines - 1
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(peak.Load()-base)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(w.n)/(1<<20), "MiB-out")
	}
}
