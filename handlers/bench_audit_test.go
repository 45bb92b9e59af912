package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"linkdesk/db"
)

// Benchmarks of the auditors' workspace on a trail of a million rows. They
// never run in a plain `go test ./...`: set LINKDESK_BENCH_AUDIT_DB to a
// database made by
//
//	go run . seed --db /tmp/audit.db --events 0 --accounts 1000 --audit-rows 1000000
//
// then
//
//	LINKDESK_BENCH_AUDIT_DB=/tmp/audit.db go test ./handlers -run '^$' -bench Audit -benchtime 400x
//
// Each request goes through the whole router, signed in as the auditor;
// the figures are server time without the network (median and p99).

func openAuditBench(b *testing.B) *benchEnv {
	b.Helper()
	path := os.Getenv("LINKDESK_BENCH_AUDIT_DB")
	if path == "" {
		b.Skip("set LINKDESK_BENCH_AUDIT_DB to a database made by `linkdesk seed --audit-rows` (see handlers/bench_audit_test.go)")
	}
	s := newServer(b, onDatabase(path))
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

func BenchmarkAudit(b *testing.B) {
	env := openAuditBench(b)
	ctx := context.Background()
	head, err := env.store.ChainHead(ctx)
	if err != nil || head.Seq < 1000 {
		b.Fatalf("the trail has %d rows: %v", head.Seq, err)
	}
	// An account that has Reveals, and the trail's time span.
	reveals, _, err := env.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionPIIRevealed, Before: head.Seq / 2, Limit: 1})
	if err != nil || len(reveals) == 0 {
		b.Fatal("no reveal in the trail", err)
	}
	acc := reveals[0].TargetID
	mid := reveals[0].At
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	p := url.QueryEscape
	pages := []struct{ name, target string }{
		{"page1", "/audit"},
		{"page1000", "/audit?before=" + strconv.FormatInt(head.Seq-50*999, 10)},
		{"actor", "/audit?actor=seed-staff-03"},
		{"actor/page100", "/audit?actor=seed-staff-03&before=" + strconv.FormatInt(head.Seq*9/10, 10)},
		{"actor+group", "/audit?actor=seed-staff-03&group=pii"},
		{"group=pii", "/audit?group=pii"},
		{"group=sign-in", "/audit?group=sign-in"},
		{"action=rare", "/audit?action=" + db.ActionStaffUpdated},
		{"action=absent", "/audit?action=" + db.ActionEndUserErased},
		{"target=account", "/audit?target_type=account&target_id=" + p(acc)},
		{"target-type=staff", "/audit?target_type=staff"},
		{"one-day", "/audit?from=" + day(mid) + "&to=" + day(mid)},
		{"query", "/audit?q=" + p("actor:seed-staff-03 action:pii.* created:>"+day(mid.AddDate(0, 0, -10)))},
		{"query+target", "/audit?q=" + p("action:pii.* target:account:"+acc+" created:"+day(mid.AddDate(0, 0, -20))+".."+day(mid.AddDate(0, 0, 10)))},
		{"unknown-actor", "/audit?actor=nobody-here"},
		{"reveals/quarter", "/audit/reveals?from=" + day(mid.AddDate(0, 0, -45)) + "&to=" + day(mid.AddDate(0, 0, 45))},
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) { env.measure(b, pg.target) })
	}
}

// BenchmarkAuditExportCSV exports the whole trail as CSV through the
// router and reports rows/s and the growth of the resident set.
func BenchmarkAuditExportCSV(b *testing.B) {
	env := openAuditBench(b)
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
		r := httptest.NewRequest(http.MethodGet, "/audit/export.csv", nil)
		r.AddCookie(env.cookie)
		w := &countingWriter{h: http.Header{}}
		start, cpu0 := time.Now(), cpuTime()
		env.srv.ServeHTTP(w, r)
		took, cpu := time.Since(start), cpuTime()-cpu0
		close(stop)
		<-sampled
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("export: %d", w.code)
		}
		rows := w.lines - 3 // the column names, the chain head, the end
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
		b.ReportMetric(float64(peak.Load()-base)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(w.n)/(1<<20), "MiB-out")
	}
}

// BenchmarkAuditVerify walks the whole chain (as the daily check and
// `linkdesk audit verify` do) and reports rows/s.
func BenchmarkAuditVerify(b *testing.B) {
	env := openAuditBench(b)
	for range b.N {
		start, cpu0 := time.Now(), cpuTime()
		v, err := env.store.VerifyChain(context.Background(), db.VerifyOptions{})
		took, cpu := time.Since(start), cpuTime()-cpu0
		if err != nil || !v.OK() {
			b.Fatalf("verify: %v %+v", err, v.Bad)
		}
		b.ReportMetric(float64(v.Rows), "rows")
		b.ReportMetric(float64(v.Rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(v.Rows)/cpu.Seconds(), "rows/cpu-s")
	}
}

// cpuTime is the CPU time this process has used (user and system, every
// thread): on a machine shared with other work, rows per CPU-second says
// what the code costs, rows per second what the machine gave it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
