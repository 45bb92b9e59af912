package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"linkdesk/db"
)

// browseFixture ingests webhook bodies through the real Ingester with
// chosen receive times.
type browseFixture struct {
	s   *db.Store
	clk *clock
	g   *db.Ingester
	raw *sql.DB // a second, read-only handle for COUNT(*) cross-checks
}

func newBrowseFixture(t *testing.T) *browseFixture {
	t.Helper()
	s, clk := newStore(t)
	raw, err := db.Connect(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &browseFixture{s: s, clk: clk, g: runIngester(t, s, db.IngestOptions{}), raw: raw}
}

// add ingests body as received at recv.
func (f *browseFixture) add(t *testing.T, body []byte, recv time.Time) db.IngestResult {
	t.Helper()
	d, err := db.ParseDelivery(body)
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	d.ReceivedAt, d.SentAt = recv, recv
	res, err := f.g.Ingest(context.Background(), d)
	if err != nil {
		t.Fatalf("ingest %s: %v", d.EventID, err)
	}
	return res
}

func addedBody(eventID, account, endUser, platformID, platformName, status string, connected bool, at time.Time) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": "account.added", "payload": {"created_at": %q, "link_token_id": "tok-%s", "platform_id": %q, "connected": %t, "monitoring_status": %q, "end_user_id": %q, "account_id": %q, "platform_name": %q}}`,
		eventID, at.Format(time.RFC3339Nano), account, platformID, connected, status, endUser, account, platformName)
}

func jobAt(eventID, event, account, endUser, outcome string, at time.Time) []byte {
	job := event[:len(event)-len(".added")]
	errType, errCode := "", ""
	if outcome == "error" {
		errType, errCode = "system_error", "platformUnavailable"
	}
	return jobBody(eventID, event, job, account, endUser, "tok-"+account, at.Format(time.RFC3339Nano), outcome, errType, errCode, "")
}

func accountIDs(rows []db.AccountRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.AccountID)
	}
	return out
}

// seedAccounts makes five accounts, a minute apart (acc-5 newest):
// acc-1 active/Workday, acc-2 degraded/ADP disconnected, acc-3 active/ADP
// with a failed last job, acc-4 unavailable/Workday (eu-2), acc-5
// active/Gusto whose identity job succeeded.
func seedAccounts(t *testing.T, f *browseFixture, base time.Time) {
	t.Helper()
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	f.add(t, addedBody("a1", "acc-1", "eu-1", "p-wd", "Workday", "active", true, at(1)), at(1))
	f.add(t, addedBody("a2", "acc-2", "eu-1", "p-adp", "ADP", "degraded", false, at(2)), at(2))
	f.add(t, addedBody("a3", "acc-3", "eu-3", "p-adp", "ADP", "active", true, at(3)), at(3))
	f.add(t, jobAt("j3", "income.added", "acc-3", "eu-3", "error", at(3).Add(time.Second)), at(3).Add(time.Second))
	f.add(t, addedBody("a4", "acc-4", "eu-2", "p-wd", "Workday", "unavailable", true, at(4)), at(4))
	f.add(t, addedBody("a5", "acc-5", "eu-4", "p-gusto", "Gusto", "active", true, at(5)), at(5))
	f.add(t, jobAt("j5", "identity.added", "acc-5", "eu-4", "success", at(5).Add(time.Second)), at(5).Add(time.Second))
}

// accountsOneByOne lists the accounts q selects a page of one row at a
// time, following the cursor.
func accountsOneByOne(t *testing.T, f *browseFixture, q db.AccountQuery) []string {
	t.Helper()
	var got []string
	q.Limit = 1
	for {
		rows, next, err := f.s.ListAccounts(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, accountIDs(rows)...)
		if next.IsZero() {
			return got
		}
		q.After = next
	}
}

func TestStore_ListAccounts(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	base := f.clk.t.Add(-40 * 24 * time.Hour)
	seedAccounts(t, f, base)
	no, yes := false, true

	cases := []struct {
		name string
		q    db.AccountQuery
		want []string
	}{
		{"all, latest activity first", db.AccountQuery{}, []string{"acc-5", "acc-4", "acc-3", "acc-2", "acc-1"}},
		{"status", db.AccountQuery{Status: "active"}, []string{"acc-5", "acc-3", "acc-1"}},
		{"platform", db.AccountQuery{Platform: "p-adp"}, []string{"acc-3", "acc-2"}},
		{"disconnected", db.AccountQuery{Connected: &no}, []string{"acc-2"}},
		{"connected", db.AccountQuery{Connected: &yes}, []string{"acc-5", "acc-4", "acc-3", "acc-1"}},
		{"last job failed", db.AccountQuery{LastOutcome: "error"}, []string{"acc-3"}},
		{"last job succeeded", db.AccountQuery{LastOutcome: "success"}, []string{"acc-5"}},
		{"status and platform", db.AccountQuery{Status: "active", Platform: "p-wd"}, []string{"acc-1"}},
		{"quiet 30 days", db.AccountQuery{QuietDays: 30}, []string{"acc-5", "acc-4", "acc-3", "acc-2", "acc-1"}},
		{"quiet 50 days", db.AccountQuery{QuietDays: 50}, nil},
	}
	for _, plan := range []struct {
		name   string
		factor int64
	}{{"walk", -1}, {"drive", 1 << 40}} {
		for _, c := range cases {
			t.Run(plan.name+"/"+c.name, func(t *testing.T) {
				defer db.SetAccountDriveFactor(plan.factor)()
				// Page one row at a time: the cursor must work in both plans.
				if got := accountsOneByOne(t, f, c.q); !reflect.DeepEqual(got, c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			})
		}
	}

	// A quiet cutoff between the accounts, paged one row at a time both
	// ways: the cutoff and the cursor make one bound newest first.
	saved := f.clk.t
	f.clk.t = base.Add(3*time.Minute + 30*time.Second).Add(40 * 24 * time.Hour)
	for _, oldest := range []bool{false, true} {
		got := accountsOneByOne(t, f, db.AccountQuery{QuietDays: 40, Oldest: oldest})
		want := []string{"acc-3", "acc-2", "acc-1"}
		if oldest {
			want = []string{"acc-1", "acc-2", "acc-3"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("quiet since minute 3.5, oldest first %v: got %v, want %v", oldest, got, want)
		}
		if n, more, err := f.s.CountAccounts(ctx, db.AccountQuery{QuietDays: 40}, 100); err != nil || n != 3 || more {
			t.Errorf("quiet count: %d %v %v", n, more, err)
		}
	}
	f.clk.t = saved

	t.Run("row fields", func(t *testing.T) {
		rows, _, err := f.s.ListAccounts(ctx, db.AccountQuery{Platform: "p-adp", Status: "active"})
		if err != nil || len(rows) != 1 {
			t.Fatalf("rows %v, err %v", rows, err)
		}
		r := rows[0]
		if r.EndUserID != "eu-3" || r.PlatformName != "ADP" || r.LastJob != "income" || r.LastJobOutcome != "error" || r.Connected == nil || !*r.Connected || r.EventCount != 2 {
			t.Errorf("row = %+v", r)
		}
	})

	t.Run("invalid filter", func(t *testing.T) {
		_, _, err := f.s.ListAccounts(ctx, db.AccountQuery{Status: "bogus"})
		var fe db.FieldErrors
		if !errors.As(err, &fe) || fe["status"] == "" {
			t.Errorf("err = %v, want a status field error", err)
		}
	})

	t.Run("facets equal counts over accounts", func(t *testing.T) {
		checkFacets(t, f)
	})
}

// checkFacets compares every facet counter with a GROUP BY over accounts.
func checkFacets(t *testing.T, f *browseFixture) {
	t.Helper()
	fc, err := f.s.AccountFacets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []db.FacetCount
		sql  string
	}{
		{"status", fc.Statuses, `SELECT COALESCE(monitoring_status, ''), COUNT(*) FROM accounts GROUP BY 1`},
		{"platform", fc.Platforms, `SELECT COALESCE(platform_id, ''), COUNT(*) FROM accounts GROUP BY 1`},
		{"connected", fc.Connected, `SELECT COALESCE(CAST(connected AS TEXT), ''), COUNT(*) FROM accounts GROUP BY 1`},
		{"last outcome", fc.LastOutcome, `SELECT COALESCE(last_job_outcome, ''), COUNT(*) FROM accounts GROUP BY 1`},
	} {
		want := groupCounts(t, f.raw, c.sql)
		got := map[string]int64{}
		for _, v := range c.got {
			got[v.Value] = v.N
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s facet = %v, want %v", c.name, got, want)
		}
	}
	var total int64
	f.raw.QueryRow(`SELECT COUNT(*) FROM accounts`).Scan(&total)
	if fc.Total != total {
		t.Errorf("total = %d, want %d", fc.Total, total)
	}
}

func groupCounts(t *testing.T, raw *sql.DB, query string, args ...any) map[string]int64 {
	t.Helper()
	rows, err := raw.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

// TestStore_ListAccounts_KeysetWhileEventsArrive pages through accounts two
// at a time while new events arrive between pages: for a new account (it
// goes to the front) and for an account already listed (it moves to the
// front). No account is listed twice, and every account whose activity did
// not change is listed exactly once.
func TestStore_ListAccounts_KeysetWhileEventsArrive(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	base := f.clk.t.Add(-time.Hour)
	for i := 1; i <= 9; i++ {
		at := base.Add(time.Duration(i) * time.Minute)
		f.add(t, addedBody(fmt.Sprintf("a%d", i), fmt.Sprintf("acc-%d", i), "eu-1", "p-wd", "Workday", "active", true, at), at)
	}
	seen := map[string]int{}
	var cur db.Cursor
	late := base.Add(time.Hour)
	for page := 0; ; page++ {
		rows, next, err := f.s.ListAccounts(ctx, db.AccountQuery{After: cur, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seen[r.AccountID]++
		}
		// Between pages: a brand-new account and a new event on one shown.
		late = late.Add(time.Second)
		f.add(t, addedBody(fmt.Sprintf("n%d", page), fmt.Sprintf("new-%d", page), "eu-9", "p-wd", "Workday", "active", true, late), late)
		if len(rows) > 0 {
			f.add(t, jobAt(fmt.Sprintf("m%d", page), "identity.added", rows[0].AccountID, "eu-1", "success", late), late)
		}
		if next.IsZero() {
			break
		}
		cur = next
	}
	for i := 1; i <= 9; i++ {
		id := fmt.Sprintf("acc-%d", i)
		if seen[id] != 1 {
			t.Errorf("%s listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
}

func TestStore_ListEndUsers(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	base := f.clk.t.Add(-time.Hour)
	seedAccounts(t, f, base)

	cases := []struct {
		name string
		q    db.EndUserQuery
		want []string
	}{
		{"all", db.EndUserQuery{}, []string{"eu-4", "eu-2", "eu-3", "eu-1"}},
		{"status", db.EndUserQuery{Status: "active"}, []string{"eu-4", "eu-3", "eu-1"}},
		{"degraded", db.EndUserQuery{Status: "degraded"}, []string{"eu-1"}},
		{"platform", db.EndUserQuery{Platform: "p-wd"}, []string{"eu-2", "eu-1"}},
		{"status and platform", db.EndUserQuery{Status: "active", Platform: "p-adp"}, []string{"eu-3"}},
		{"active since", db.EndUserQuery{ActiveSince: base.Add(4 * time.Minute)}, []string{"eu-4", "eu-2"}},
	}
	for _, plan := range []struct {
		name  string
		drive int64
	}{{"walk", -1}, {"drive", 1 << 40}} {
		for _, c := range cases {
			t.Run(plan.name+"/"+c.name, func(t *testing.T) {
				defer db.SetDriveFactor(plan.drive)()
				// Page one row at a time: the cursor must work in both plans.
				var got []string
				var cur db.Cursor
				for {
					c.q.After, c.q.Limit = cur, 1
					rows, next, err := f.s.ListEndUsers(ctx, c.q)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						got = append(got, r.EndUserID)
					}
					if next.IsZero() {
						break
					}
					cur = next
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			})
		}
	}

	t.Run("row fields", func(t *testing.T) {
		rows, _, err := f.s.ListEndUsers(ctx, db.EndUserQuery{Status: "degraded"})
		if err != nil || len(rows) != 1 {
			t.Fatalf("rows %v, err %v", rows, err)
		}
		r := rows[0]
		sort.Strings(r.Statuses)
		if r.AccountCount != 2 || r.EventCount != 2 || !reflect.DeepEqual(r.Statuses, []string{"active", "degraded"}) {
			t.Errorf("row = %+v", r)
		}
	})

	t.Run("overview", func(t *testing.T) {
		o, err := f.s.EndUserOverview(ctx, "eu-1")
		if err != nil {
			t.Fatal(err)
		}
		if got := accountIDs(o.Accounts); !reflect.DeepEqual(got, []string{"acc-2", "acc-1"}) {
			t.Errorf("accounts %v", got)
		}
		if _, err := f.s.EndUserOverview(ctx, "nobody"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("unknown end user: err %v, want ErrNotFound", err)
		}
	})
}

func TestStore_Timeline(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	base := f.clk.t.Add(-time.Hour)
	var want []string // newest first
	for i := 1; i <= 7; i++ {
		at := base.Add(time.Duration(i) * time.Minute)
		if i == 1 {
			f.add(t, addedBody("w1", "acc-1", "eu-1", "p-wd", "Workday", "active", true, at), at)
		} else {
			f.add(t, jobAt(fmt.Sprintf("w%d", i), "identity.added", "acc-1", "eu-1", "success", at), at)
		}
		want = append([]string{fmt.Sprintf("webhook:w%d", i)}, want...)
		if i%3 == 0 { // a staff action half a minute later
			f.clk.t = at.Add(30 * time.Second)
			if err := f.s.RevealPII(ctx, admin, "acc-1", []string{db.PIIDateOfBirth}, ""); err != nil {
				t.Fatal(err)
			}
			want = append([]string{fmt.Sprintf("staff:%d", i)}, want...)
		}
	}
	label := func(e db.TimelineEntry) string {
		if e.Kind == db.KindStaff {
			return fmt.Sprintf("staff:%d", int(e.At.Sub(base).Minutes()))
		}
		return e.Kind + ":" + e.EventID
	}

	for _, subject := range []db.TimelineQuery{{AccountID: "acc-1"}, {EndUserID: "eu-1"}} {
		t.Run(fmt.Sprintf("paged %+v", subject), func(t *testing.T) {
			var got []string
			q := subject
			q.Limit = 3
			for {
				pg, err := f.s.Timeline(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range pg.Entries {
					got = append(got, label(e))
				}
				if pg.Next.IsZero() {
					break
				}
				q.Before = pg.Next
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}

	t.Run("kind filter", func(t *testing.T) {
		pg, err := f.s.Timeline(ctx, db.TimelineQuery{AccountID: "acc-1", Kinds: []string{db.KindStaff}})
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Entries) != 2 || pg.Entries[0].Action != db.ActionPIIRevealed {
			t.Errorf("staff entries %+v", pg.Entries)
		}
	})

	t.Run("live: entries since the page", func(t *testing.T) {
		q := db.TimelineQuery{AccountID: "acc-1"}
		pg, err := f.s.Timeline(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, pos, err := f.s.TimelineSince(ctx, q, pg.Latest, 0)
		if err != nil || len(got) != 0 || pos != pg.Latest {
			t.Fatalf("nothing new: got %v, %v, %v", got, pos, err)
		}
		at := base.Add(time.Hour)
		f.add(t, jobAt("w8", "income.added", "acc-1", "eu-1", "error", at), at)
		f.clk.t = at.Add(time.Second)
		if err := f.s.RevealPII(ctx, admin, "acc-1", []string{db.PIISSNLastFour}, ""); err != nil {
			t.Fatal(err)
		}
		got, pos, err = f.s.TimelineSince(ctx, q, pg.Latest, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].EventID != "w8" || got[1].Kind != db.KindStaff {
			t.Fatalf("new entries %+v", got)
		}
		again, pos2, err := f.s.TimelineSince(ctx, q, pos, 0)
		if err != nil || len(again) != 0 || pos2 != pos {
			t.Errorf("second poll: %v %v %v", again, pos2, err)
		}
		// A live stream given no cursor starts from the newest positions.
		top, err := f.s.TimelinePositions(ctx, q)
		if err != nil || top != pos {
			t.Errorf("positions %v, want %v (%v)", top, pos, err)
		}
	})

	t.Run("cursor round trip", func(t *testing.T) {
		c := db.TimelineCursor{Event: 12, Audit: 3, Link: 0}
		back, err := db.ParseTimelineCursor(c.String())
		if err != nil || back != c {
			t.Errorf("round trip %q: %v %v", c.String(), back, err)
		}
		for _, bad := range []string{"x", "e1.a2", "a1.e2.l3", "e-1.a0.l0", "e1.a2.lx"} {
			if _, err := db.ParseTimelineCursor(bad); err == nil {
				t.Errorf("ParseTimelineCursor(%q) accepted", bad)
			}
		}
	})
}

func TestParseCursor(t *testing.T) {
	c := db.Cursor{At: "2026-11-26T12:00:00.000000Z", ID: 42}
	back, err := db.ParseCursor(c.String())
	if err != nil || back != c {
		t.Errorf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"x", "2026-11-26T12:00:00.000000Z", "2026_1", "2026-11-26T12:00:00.000000Z_-3", "2026-11-26T12:00:00.000000Z_x"} {
		if _, err := db.ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
}

// TestStore_TimelineLinkEvents: a launch link made for the account puts
// its staff action (audited on the link) and the Link events its launch
// page reported on the account's and the end user's timelines, and live.
func TestStore_TimelineLinkEvents(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	f.clk.t = f.clk.t.Add(time.Minute)
	n := f.newLink(t, "minted")
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("lt-1")); err != nil {
		t.Fatal(err)
	}
	q := db.TimelineQuery{AccountID: f.account}
	pg, err := f.s.Timeline(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(time.Minute)
	if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "open", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(time.Minute)
	if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "success", []byte(`{"job": "direct_deposit_switch"}`)); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []db.TimelineQuery{q, {EndUserID: f.endUser}} {
		pg, err := f.s.Timeline(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range pg.Entries {
			got = append(got, e.Kind+":"+e.Action+e.Event)
		}
		want := []string{"link:success", "link:open", "staff:link_token.minted", "webhook:account.added"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: got %v, want %v", sub, got, want)
		}
		if e := pg.Entries[0]; e.TokenID != n.TokenID || e.AccountID != f.account || e.Body != `{"job":"direct_deposit_switch"}` {
			t.Errorf("link entry %+v", e)
		}
	}
	live, _, err := f.s.TimelineSince(ctx, q, pg.Latest, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].Action != "open" || live[1].Action != "success" {
		t.Errorf("live link entries %+v", live)
	}
	kinds, err := f.s.Timeline(ctx, db.TimelineQuery{AccountID: f.account, Kinds: []string{db.KindLink}})
	if err != nil || len(kinds.Entries) != 2 {
		t.Errorf("kind=link: %+v %v", kinds.Entries, err)
	}
}
