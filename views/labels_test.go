package views

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// Plain words: every code a page shows has words, and the words never
// fall back to the code's own spelling for the codes Linkdesk knows.
func TestLabels(t *testing.T) {
	cases := []struct{ got, want string }{
		{OutcomeLabel("success"), "succeeded"},
		{OutcomeLabel("error"), "failed"},
		{StatusLabel("user_action_required"), "user action required"},
		{StatusLabel(""), "not known yet"},
		{JobName("direct_deposit_switch"), "Direct deposit switch"},
		{JobName("some_new_job"), "Some new job"},
		{JobsText([]string{"identity", "direct_deposit_switch"}), "Identity, Direct deposit switch"},
		{ErrorText("platformError", "platformUnavailable"), "the payroll platform was unavailable"},
		{ErrorText("userActionRequired", "somethingNew"), "the user must act on their payroll account"},
		{ErrorText("", "brandNewCode"), "brand new code"},
		{ErrorText("", ""), "an error Pinwheel did not explain"},
		{ErrorCodes("platformError", "platformUnavailable"), "platformError · platformUnavailable"},
		{ErrorCodes("systemError", "systemError"), "systemError"},
		{EventLabel("identity.added"), "Identity job"},
		{EventLabel("account.added"), "Account added"},
		{EventLabel("paystubs.fully_synced"), "Paystubs: fully synced"},
		{EventLabel("made.up"), "Made up"},
		{ProjectionLabel("projected"), "processed"},
		{RejectionLabel("bad_signature"), "wrong signature"},
		{ModeLabel(db.ModeMintOnOpen), "mints when opened"},
		{verdictLabel(db.VerdictPartial), "partly matches the customer record"},
		{QueueKindLabel("fetch.direct_deposit_allocations"), "Fetch direct deposit allocations data"},
		{QueueKindLabel("fetch.account"), "Fetch the account's status"},
		{LinkSummary("screen_transition"), "End user moved to another Link screen"},
		{Rate(2, 3), "67%"},
		{Rate(0, 0), "—"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	money := func(v float64) string { return Cents(int64(v * 100)) }
	v := 150.0
	for _, c := range []struct{ action, typ, want string }{
		{"partial_switch", "amount", "$150.00 of each paycheck"},
		{"partial_switch", "percentage", "150% of each paycheck"},
		{"partial_switch", "remainder", "the rest of each paycheck"},
		{"full_switch", "remainder", "all of each paycheck"},
		{"partial_switch", "", "part of each paycheck"},
	} {
		if got := SwitchWhat(c.action, c.typ, &v, money); got != c.want {
			t.Errorf("SwitchWhat(%s, %s) = %q, want %q", c.action, c.typ, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	cases := []struct {
		c    Count
		want string
	}{
		{Count{N: 70, Total: 70, Shown: 50, One: "account", Many: "accounts"}, "70 accounts; 50 on this page"},
		{Count{N: 6, Total: 70, Shown: 6, One: "account", Many: "accounts", Filtered: true}, "6 of 70 accounts match"},
		{Count{N: 1, Total: 1, Shown: 1, One: "account", Many: "accounts"}, "1 account"},
		{Count{N: 1, Total: 8, Shown: 1, One: "row", Many: "rows", Filtered: true}, "1 of 8 rows matches"},
		{Count{N: 0, Total: 1, Shown: 0, One: "alert", Many: "alerts", Filtered: true}, "0 of 1 alert match"},
		{Count{N: 0, Total: 0, Shown: 0, One: "alert", Many: "alerts", Filtered: true}, "No alerts yet"},
		{Count{N: 1000, AtLeast: true, Total: 70000, Shown: 50, One: "event", Many: "events", Filtered: true}, "At least 1,000 of 70,000 events match; 50 on this page"},
	}
	for _, c := range cases {
		if got := c.c.Text(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	q := url.Values{"status": {"active"}, "platform": {"p"}, "after": {"x"}, "empty": {""}}
	if got := ListURL("/accounts", q, "status", "after"); got != "/accounts?platform=p" {
		t.Errorf("ListURL = %q", got)
	}
}

func TestMatchedText(t *testing.T) {
	op, aud := &db.Staff{Role: db.RoleOperator}, &db.Staff{Role: db.RoleAuditor}
	email := db.SearchHit{Field: db.SearchEmail, Match: "liam.garcia@example.com", Source: "customer"}
	phone := db.SearchHit{Field: db.SearchPhone, Match: "+1 555 010 1234", Source: "identity"}
	for _, c := range []struct{ got, want string }{
		{MatchedText(email, op), "email l•••@example.com (customer record)"},
		{MatchedText(email, aud), "email ••• (customer record)"},
		{MatchedText(phone, op), "phone ••• 1234 (Pinwheel identity)"},
		{MatchedText(db.SearchHit{Field: db.SearchName, Source: "identity"}, op), "name (Pinwheel identity)"},
		{MatchedText(db.SearchHit{}, op), "end user ID"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestFunnelChart(t *testing.T) {
	f := make(db.Funnel, db.FunnelDays)
	f[29].Created, f[29].Succeeded = 4, 1
	f[0].Created = 2
	c := NewFunnelChart(f)
	if c.ViewBox() != "0 0 300 60" || len(c.Bars) != 30 {
		t.Fatalf("%s, %d bars", c.ViewBox(), len(c.Bars))
	}
	if b := c.Bars[29]; b.CreatedH != "60" || b.SucceededH != "15" || b.SucceededY != "45" {
		t.Errorf("last bar %+v", b)
	}
	if !strings.Contains(c.Summary(), "6 created, 1 succeeded") {
		t.Errorf("summary %q", c.Summary())
	}
	if got := f.Last(7); got.Created != 4 || got.Succeeded != 1 {
		t.Errorf("last 7 days %+v", got)
	}
}

func TestByDayInZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata")
	}
	es := []db.TimelineEntry{
		{At: time.Date(2026, 5, 2, 3, 0, 0, 0, time.UTC)}, // 1 May, 23:00 in New York
		{At: time.Date(2026, 5, 1, 22, 0, 0, 0, time.UTC)},
	}
	if g := ByDay(es, time.UTC); len(g) != 2 {
		t.Errorf("UTC: %d days", len(g))
	}
	g := ByDay(es, ny)
	if len(g) != 1 || DayKey(g[0].Day) != "2026-05-01" || DayLabel(es[0].At, ny) != "Friday 1 May 2026" {
		t.Errorf("New York: %+v", g)
	}
	if got := Clock(es[0].At, ny); got != "23:00:00 EDT" {
		t.Errorf("clock %q", got)
	}
}
