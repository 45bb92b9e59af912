package db_test

import (
	"context"
	"testing"
	"time"

	"linkdesk/db"
)

// TestStore_LinkFunnel: the dashboard's funnel counts each link once per
// step, by its day of creation, from the launch events and the webhooks
// of its tokens (triggers of migration 072); links about to expire unused
// count as needing attention, and the finished ones of a staff member come
// back for a toast once their news arrives.
func TestStore_LinkFunnel(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	day1 := f.clk.t
	a, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMinted), f.mint("pw-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMintOnOpen), nil)
	if err != nil {
		t.Fatal(err)
	}
	start, err := f.s.ToastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.clk.t = day1.Add(time.Minute)
	for _, ev := range []string{db.EventPageOpened, db.LinkEventOpen, db.EventPageOpened, db.LinkEventOpen} {
		if _, err := f.s.RecordLaunchEvent(ctx, a.LaunchID, ev, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Link "success" has no webhook yet; then the job's webhook: one success.
	if _, err := f.s.RecordLaunchEvent(ctx, a.LaunchID, db.LinkEventSuccess, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	f.jobWebhook(t, "sw-1", "direct_deposit_switch", "pw-a", "success")
	f.jobWebhook(t, "sw-other", "direct_deposit_switch", "not-ours", "success")
	// The next day b's page is opened: it counts on the day b was created.
	f.clk.t = day1.Add(26 * time.Hour)
	if _, err := f.s.RecordLaunchEvent(ctx, b.LaunchID, db.EventPageOpened, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	d, err := f.s.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Funnel.Last(7)
	if got != (db.FunnelCounts{Created: 2, PageOpened: 2, LinkOpened: 1, Succeeded: 1}) {
		t.Errorf("last 7 days %+v", got)
	}
	if d.Funnel[len(d.Funnel)-2].Created != 2 || d.Funnel[len(d.Funnel)-1].Created != 0 {
		t.Errorf("the links are not counted on their day of creation: %+v", d.Funnel[len(d.Funnel)-2:])
	}
	if n, err := f.s.LinkTotal(ctx); err != nil || n != 2 {
		t.Errorf("link total %d %v", n, err)
	}

	// The minted link's Pinwheel token expires in an hour from day 1, long
	// gone; the link that mints when opened expires 7 days after day 1.
	f.clk.t = day1.Add(7*24*time.Hour - time.Hour)
	if d, _ = f.s.Dashboard(ctx); d.Attention.Expiring != 1 {
		t.Errorf("expiring %d, want the unopened link", d.Attention.Expiring)
	}
	list, _, err := f.s.ListLinks(ctx, db.LinkFilter{Expiring: true})
	if err != nil || len(list) != 1 || list[0].TokenID != b.TokenID {
		t.Errorf("expiring links %v %v", list, err)
	}
	if n, more, err := f.s.CountLinks(ctx, db.LinkFilter{Expiring: true}, 10); n != 1 || more || err != nil {
		t.Errorf("count %d %v %v", n, more, err)
	}

	// Toasts: the operator's link a finished; once its news is read, a
	// second poll finds nothing new.
	done, next, err := f.s.FinishedLinks(ctx, f.op.StaffID, start)
	if err != nil || len(done) != 1 || done[0].TokenID != a.TokenID || done[0].Lifecycle.State != db.StageSuccess {
		t.Fatalf("finished %+v %v", done, err)
	}
	if again, _, err := f.s.FinishedLinks(ctx, f.op.StaffID, next); err != nil || len(again) != 0 {
		t.Errorf("the same news twice: %+v %v", again, err)
	}
	if other, _, err := f.s.FinishedLinks(ctx, f.op.StaffID+1000, start); err != nil || len(other) != 0 {
		t.Errorf("someone else's links: %+v %v", other, err)
	}
	if c, err := db.ParseToastCursor(next.String()); err != nil || c != next {
		t.Errorf("cursor %q round trip: %+v %v", next, c, err)
	}
}

// TestStore_Stamps: a page's stamp moves when what its panels show moves,
// and stays put otherwise.
func TestStore_Stamps(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	stamps := func() [3]string {
		a, err1 := f.s.AccountStamp(ctx, f.account)
		u, err2 := f.s.EndUserStamp(ctx, f.endUser)
		d, err3 := f.s.DashboardStamp(ctx)
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return [3]string{a, u, d}
	}
	before := stamps()
	if again := stamps(); again != before {
		t.Fatal("stamps move by themselves")
	}
	f.jobWebhook(t, "j-1", "income", "first-token", "error")
	after := stamps()
	for i := range after {
		if after[i] == before[i] {
			t.Errorf("stamp %d did not move after a webhook", i)
		}
	}
	l, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMintOnOpen), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.s.LinkStamp(ctx, l.TokenID)
	a1, _ := f.s.AccountStamp(ctx, f.account)
	if a1 == after[0] {
		t.Error("the account stamp did not move with a new link")
	}
	if _, err := f.s.RevokeLink(ctx, f.op, l.TokenID); err != nil {
		t.Fatal(err)
	}
	if st2, _ := f.s.LinkStamp(ctx, l.TokenID); st2 == st {
		t.Error("the link stamp did not move with a revocation")
	}
	if _, err := f.s.AccountStamp(ctx, "nope"); err == nil {
		t.Error("a stamp of an unknown account")
	}
}

// TestStore_CountsAndOldestFirst: the bounded counts of filtered lists,
// and lists walked oldest first.
func TestStore_CountsAndOldestFirst(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	seedAccounts(t, f, f.clk.t.Add(-time.Hour))
	active := "active"
	for _, c := range []struct {
		q    db.AccountQuery
		want int64
		more bool
	}{
		{db.AccountQuery{Status: active}, 3, false},
		{db.AccountQuery{Platform: "p-adp"}, 2, false},
		{db.AccountQuery{Status: active, Platform: "p-wd"}, 1, false},
		{db.AccountQuery{}, 2, true}, // bounded at 2
	} {
		n, more, err := f.s.CountAccounts(ctx, c.q, 2)
		if c.q.Status != "" || c.q.Platform != "" {
			n, more, err = f.s.CountAccounts(ctx, c.q, 100)
		}
		if err != nil || n != c.want || more != c.more {
			t.Errorf("%+v: %d %v %v, want %d %v", c.q, n, more, err, c.want, c.more)
		}
	}
	if n, more, err := f.s.CountEndUsers(ctx, db.EndUserQuery{Platform: "p-wd"}, 100); err != nil || n != 2 || more {
		t.Errorf("end users on Workday: %d %v %v", n, more, err)
	}
	// A walking count reads a bounded number of users, and says "at least"
	// when it stopped before the last one.
	func() {
		defer db.SetDriveFactor(-1)()
		defer db.SetCountWalk(1)()
		if n, more, err := f.s.CountEndUsers(ctx, db.EndUserQuery{Platform: "p-wd"}, 100); err != nil || n > 1 || !more {
			t.Errorf("end users on Workday, walking one user: %d %v %v, want at most 1 and more", n, more, err)
		}
	}()
	if p, err := f.s.EventLogPage(ctx, db.EventQuery{Type: "account.added", Limit: 2}, 100); err != nil || p.Count != 5 || p.CountMore || len(p.Rows) != 2 || !p.More {
		t.Errorf("account.added events: %+v %v", p, err)
	} else {
		// The cursor narrows the page, never the count; a bounded count says so.
		p2, err := f.s.EventLogPage(ctx, db.EventQuery{Type: "account.added", Before: p.Rows[1].ID}, 3)
		if err != nil || p2.Count != 3 || !p2.CountMore || len(p2.Rows) != 3 || p2.More || p2.Rows[0].ID >= p.Rows[1].ID {
			t.Errorf("account.added events after %d: %+v %v", p.Rows[1].ID, p2, err)
		}
	}

	var newest, oldest []string
	rows, _, err := f.s.ListAccounts(ctx, db.AccountQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		newest = append(newest, r.AccountID)
	}
	// Oldest first, two a page.
	q := db.AccountQuery{Oldest: true, Limit: 2}
	for {
		rows, next, err := f.s.ListAccounts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			oldest = append(oldest, r.AccountID)
		}
		if next.IsZero() {
			break
		}
		q.After = next
	}
	if len(oldest) != len(newest) {
		t.Fatalf("oldest %v, newest %v", oldest, newest)
	}
	for i := range oldest {
		if oldest[i] != newest[len(newest)-1-i] {
			t.Fatalf("oldest %v is not newest %v reversed", oldest, newest)
		}
	}
	evNew, _, _ := f.s.ListEventLog(ctx, db.EventQuery{})
	evOld, _, _ := f.s.ListEventLog(ctx, db.EventQuery{Oldest: true})
	if len(evNew) == 0 || evNew[0].ID != evOld[len(evOld)-1].ID || evOld[0].ID >= evOld[1].ID {
		t.Error("events oldest first are not in id order")
	}
	users, _, err := f.s.ListEndUsers(ctx, db.EndUserQuery{Oldest: true})
	if err != nil || len(users) < 2 || users[0].LastSeenAt.After(users[1].LastSeenAt) {
		t.Errorf("end users oldest first: %+v %v", users, err)
	}
}

// TestStore_TimeZone: a staff member's time zone, validated and audited.
func TestStore_TimeZone(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	if tz, err := f.s.StaffTimeZone(ctx, f.op.StaffID); err != nil || tz != db.DefaultTimeZone {
		t.Fatalf("default %q %v", tz, err)
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "../etc/passwd"} {
		if err := f.s.SetStaffTimeZone(ctx, f.op, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := f.s.SetStaffTimeZone(ctx, f.op, " Europe/Paris "); err != nil {
		t.Fatal(err)
	}
	if tz, _ := f.s.StaffTimeZone(ctx, f.op.StaffID); tz != "Europe/Paris" {
		t.Errorf("got %q", tz)
	}
	rows, _, err := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionTimeZoneChanged, Limit: 5})
	if err != nil || len(rows) != 1 || rows[0].Detail != `{"from":"UTC","to":"Europe/Paris"}` {
		t.Errorf("audit %+v %v", rows, err)
	}
}
