package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// runIngester starts an Ingester on s and stops it at cleanup (before the
// store closes: cleanups run last-in first-out).
func runIngester(t *testing.T, s *db.Store, opt db.IngestOptions) *db.Ingester {
	t.Helper()
	g, err := s.NewIngester(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingester: %v", err)
		}
	})
	return g
}

// Webhook bodies in Pinwheel's byte format (Python json.dumps separators).

func accountAddedBody(eventID, account, endUser, token, createdAt, status string, connected bool) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": "account.added", "payload": {"created_at": %q, "link_token_id": %q, "platform_id": "plat-1", "connected": %t, "monitoring_status": %q, "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}}`,
		eventID, createdAt, token, connected, status, endUser, account)
}

func statusBody(eventID, account, endUser, status string, connected bool) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": "account.monitoring_status.updated", "payload": {"created_at": "2026-11-26T10:00:00.000000+00:00", "link_token_id": "tok-1", "platform_id": "plat-1", "connected": %t, "monitoring_status": %q, "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}}`,
		eventID, connected, status, endUser, account)
}

func jobBody(eventID, event, job, account, endUser, token, ts, outcome, errType, errCode, params string) []byte {
	null := func(s string) string {
		if s == "" {
			return "null"
		}
		return `"` + s + `"`
	}
	if params == "" {
		params = "{}"
	}
	return fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": {"id": "job-%s", "name": %q, "timestamp": %q, "outcome": %q, "error_code": %s, "error_type": %s, "link_token_id": %q, "params": %s, "account_id": %q, "end_user_id": %q}}`,
		eventID, event, eventID, job, ts, outcome, null(errCode), null(errType), token, params, account, endUser)
}

func ingest(t *testing.T, g *db.Ingester, body []byte, sentAt time.Time) db.IngestResult {
	t.Helper()
	d, err := db.ParseDelivery(body)
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	d.SentAt = sentAt
	res, err := g.Ingest(context.Background(), d)
	if err != nil {
		t.Fatalf("ingest %s: %v", d.EventID, err)
	}
	return res
}

// The projections are read back the way the pages read them.

func accountOf(ctx context.Context, s *db.Store, id string) (db.Account, error) {
	o, err := s.AccountOverview(ctx, id)
	return o.Account, err
}

func jobsOf(ctx context.Context, s *db.Store, id string) ([]db.AccountJob, error) {
	o, err := s.AccountOverview(ctx, id)
	return o.Jobs, err
}

func historyOf(ctx context.Context, s *db.Store, id string) ([]db.StatusReport, error) {
	o, err := s.AccountOverview(ctx, id)
	return o.History, err
}

func switchesOf(ctx context.Context, s *db.Store, id string) ([]db.DDSwitch, error) {
	o, err := s.AccountOverview(ctx, id)
	return o.Switches, err
}

func endUserOf(ctx context.Context, s *db.Store, id string) (db.EndUser, error) {
	o, err := s.EndUserOverview(ctx, id)
	return o.EndUser, err
}

// statusCounts are the status facet of /accounts ("" = not known yet).
func statusCounts(ctx context.Context, s *db.Store) (map[string]int64, error) {
	f, err := s.AccountFacets(ctx)
	m := map[string]int64{}
	for _, c := range f.Statuses {
		m[c.Value] = c.N
	}
	return m, err
}

func TestIngester_ProjectsALinkSession(t *testing.T) {
	s, clk := newStore(t)
	g := runIngester(t, s, db.IngestOptions{})
	ctx := context.Background()
	sent := clk.t

	ingest(t, g, accountAddedBody("e1", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:00.000000+00:00", "active", true), sent)
	ingest(t, g, jobBody("e2", "identity.added", "identity", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:01.000000+00:00", "success", "", "", ""), sent)
	ingest(t, g, jobBody("e3", "paystubs.added", "paystubs", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:02.000000+00:00", "success", "", "",
		`{"count": 1, "from_pay_date": "2026-11-01", "to_pay_date": "2026-11-15", "sync_status": "in_progress"}`), sent)
	ingest(t, g, jobBody("e4", "direct_deposit_switch.added", "direct_deposit_switch", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:03.000000+00:00", "success", "", "",
		`{"action": "partial_switch", "allocation": {"type": "amount", "value": 50, "target": {"account_name": "My Checking", "account_type": "checking", "last_four_account_number": "6789"}}}`), sent)
	ingest(t, g, jobBody("e5", "income.added", "income", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:04.000000+00:00", "error", "system_error", "platformUnavailable", ""), sent)

	a, err := accountOf(ctx, s, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.EndUserID != "eu-1" || a.PlatformName != "Workday" || a.PlatformID != "plat-1" || a.MonitoringStatus != "active" ||
		a.Connected == nil || !*a.Connected || a.EventCount != 5 || a.LinkTokenID != "tok-1" {
		t.Errorf("account = %+v", a)
	}
	if got, want := a.CreatedAt, time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("created_at = %v, want %v", got, want)
	}
	if got, want := a.LastEventAt, time.Date(2026, 11, 26, 11, 0, 4, 0, time.UTC); !got.Equal(want) {
		t.Errorf("last_event_at = %v, want %v", got, want)
	}

	u, err := endUserOf(ctx, s, "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if u.AccountCount != 1 || u.EventCount != 5 {
		t.Errorf("end user = %+v, want 1 account, 5 events", u)
	}

	jobs, err := jobsOf(ctx, s, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	byJob := map[string]db.AccountJob{}
	for _, j := range jobs {
		byJob[j.Job] = j
	}
	if len(jobs) != 4 || byJob["identity"].Outcome != "success" || byJob["income"].ErrorCode != "platformUnavailable" ||
		byJob["income"].ErrorType != "system_error" || byJob["direct_deposit_switch"].EventID != "e4" {
		t.Errorf("jobs = %+v", jobs)
	}

	sw, err := switchesOf(ctx, s, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(sw) != 1 || sw[0].Action != "partial_switch" || sw[0].AllocationType != "amount" || sw[0].AllocationValue == nil ||
		*sw[0].AllocationValue != 50 || sw[0].TargetName != "My Checking" || sw[0].TargetLast4 != "6789" || sw[0].Outcome != "success" {
		t.Errorf("switches = %+v", sw)
	}

	tok, err := s.PinwheelTokenByID(ctx, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.EventCount != 5 || tok.SuccessCount != 3 || tok.ErrorCount != 1 || tok.LastJob != "income" || tok.LastOutcome != "error" || tok.AccountID != "acc-1" {
		t.Errorf("token = %+v", tok)
	}

	fetches, err := s.AccountFetches(ctx, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, f := range fetches {
		kinds[f.Data] = f.EventID
	}
	// identity.added, paystubs.added and the successful switch; the failed
	// income job has no data.
	if len(fetches) != 3 || kinds[db.FetchIdentity] != "e2" || kinds[db.FetchPaystubs] != "e3" || kinds[db.FetchDDAllocations] != "e4" {
		t.Errorf("fetches = %+v", fetches)
	}

	tot, err := s.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot["events"] != 5 || tot["accounts"] != 1 || tot["end_users"] != 1 || tot["link_tokens"] != 1 || tot["duplicates"] != 0 {
		t.Errorf("totals = %v", tot)
	}
	sc, _ := statusCounts(ctx, s)
	if len(sc) != 1 || sc["active"] != 1 {
		t.Errorf("status counts = %v", sc)
	}
	dash, err := s.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dash.Events24h) != 5 || dash.Events24h[0].Accepted != 1 {
		t.Errorf("event counts = %+v", dash.Events24h)
	}

	e, err := s.EventByEventID(ctx, "e4")
	if err != nil {
		t.Fatal(err)
	}
	if e.AccountID != "acc-1" || e.EndUserID != "eu-1" || e.LinkTokenID != "tok-1" || e.Outcome != "success" || e.DeliveryCount != 1 ||
		e.Projection != "projected" || !strings.Contains(e.Body, `"partial_switch"`) || !e.SentAt.Equal(sent) {
		t.Errorf("event = %+v", e)
	}
	list, more, err := s.ListEventLog(ctx, db.EventQuery{AccountID: "acc-1", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || !more || list[0].EventID != "e5" {
		t.Errorf("list = %d events, more %v, first %q", len(list), more, list[0].EventID)
	}
	list, more, _ = s.ListEventLog(ctx, db.EventQuery{AccountID: "acc-1", Before: list[2].ID})
	if len(list) != 2 || more || list[1].EventID != "e1" {
		t.Errorf("second page = %d events, more %v", len(list), more)
	}
}

func TestIngester_SameEventFiveTimesAtOnceIsStoredOnce(t *testing.T) {
	s, clk := newStore(t)
	g := runIngester(t, s, db.IngestOptions{})
	ctx := context.Background()
	body := jobBody("dup-1", "identity.added", "identity", "acc-d", "eu-d", "tok-d", "2026-11-26T11:00:01.000000+00:00", "success", "", "", "")

	var wg sync.WaitGroup
	results := make(chan db.IngestResult, 5)
	for range 5 {
		wg.Go(func() { results <- ingest(t, g, body, clk.t) })
	}
	wg.Wait()
	close(results)
	var dups int
	for r := range results {
		if r.Duplicate {
			dups++
		}
	}
	if dups != 4 {
		t.Errorf("%d answers were duplicates, want 4", dups)
	}
	e, err := s.EventByEventID(ctx, "dup-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.DeliveryCount != 5 {
		t.Errorf("delivery_count = %d, want 5", e.DeliveryCount)
	}
	a, _ := accountOf(ctx, s, "acc-d")
	tok, _ := s.PinwheelTokenByID(ctx, "tok-d")
	u, _ := endUserOf(ctx, s, "eu-d")
	if a.EventCount != 1 || tok.EventCount != 1 || tok.SuccessCount != 1 || u.EventCount != 1 {
		t.Errorf("projected more than once: account %d, token %d/%d, end user %d events", a.EventCount, tok.EventCount, tok.SuccessCount, u.EventCount)
	}
	f, _ := s.AccountFetches(ctx, "acc-d")
	if len(f) != 1 {
		t.Errorf("%d fetches queued, want 1", len(f))
	}
	tot, _ := s.Totals(ctx)
	if tot["events"] != 1 || tot["duplicates"] != 4 || tot["deliveries"] != 5 {
		t.Errorf("totals = %v", tot)
	}
	dash, _ := s.Dashboard(ctx)
	if len(dash.Events24h) != 1 || dash.Events24h[0].Accepted != 1 || dash.Events24h[0].Duplicates != 4 {
		t.Errorf("event counts = %+v", dash.Events24h)
	}
}

func TestIngester_OrderInsensitive(t *testing.T) {
	ctx := context.Background()

	t.Run("status update before account.added", func(t *testing.T) {
		s, clk := newStore(t)
		g := runIngester(t, s, db.IngestOptions{})
		// The update was sent at 12:00:00 and says user_action_required; the
		// account.added (created 12:00:00.5, i.e. later by the clock than the
		// whole-second X-Timestamp) arrives afterwards saying active.
		ingest(t, g, statusBody("s1", "acc-o", "eu-o", "user_action_required", false), clk.t)
		a, _ := accountOf(ctx, s, "acc-o")
		if a.MonitoringStatus != "user_action_required" || !a.CreatedAt.IsZero() || a.PlatformName != "Workday" {
			t.Errorf("after the update alone: %+v", a)
		}
		ingest(t, g, accountAddedBody("a1", "acc-o", "eu-o", "tok-o", "2026-11-26T12:00:00.500000+00:00", "active", true), clk.t.Add(time.Second))

		a, err := accountOf(ctx, s, "acc-o")
		if err != nil {
			t.Fatal(err)
		}
		if a.MonitoringStatus != "user_action_required" || a.Connected == nil || *a.Connected {
			t.Errorf("final status %q connected %v, want user_action_required, false", a.MonitoringStatus, a.Connected)
		}
		if a.CreatedAt.IsZero() || a.LinkTokenID != "tok-o" {
			t.Errorf("account.added fields not filled in: %+v", a)
		}
		h, err := historyOf(ctx, s, "acc-o")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2 || !h[0].FromAdded || h[0].Status != "active" || h[1].Status != "user_action_required" {
			t.Errorf("history = %+v", h)
		}
		u, _ := endUserOf(ctx, s, "eu-o")
		if u.AccountCount != 1 {
			t.Errorf("account_count = %d, want 1", u.AccountCount)
		}
		sc, _ := statusCounts(ctx, s)
		if len(sc) != 1 || sc["user_action_required"] != 1 {
			t.Errorf("status counts = %v", sc)
		}
	})

	t.Run("updates in any order", func(t *testing.T) {
		s, clk := newStore(t)
		g := runIngester(t, s, db.IngestOptions{})
		ingest(t, g, accountAddedBody("a1", "acc-u", "eu-u", "tok-u", "2026-11-26T09:00:00.000000+00:00", "active", true), clk.t)
		ingest(t, g, statusBody("s3", "acc-u", "eu-u", "active", true), clk.t.Add(3*time.Minute))
		ingest(t, g, statusBody("s1", "acc-u", "eu-u", "degraded", true), clk.t.Add(time.Minute))
		ingest(t, g, statusBody("s2", "acc-u", "eu-u", "user_action_required", false), clk.t.Add(2*time.Minute))
		a, _ := accountOf(ctx, s, "acc-u")
		if a.MonitoringStatus != "active" || !a.MonitoringStatusAt.Equal(clk.t.Add(3*time.Minute)) {
			t.Errorf("status %q at %v, want active at +3m", a.MonitoringStatus, a.MonitoringStatusAt)
		}
		h, _ := historyOf(ctx, s, "acc-u")
		var got []string
		for _, r := range h {
			got = append(got, r.Status)
		}
		if strings.Join(got, ",") != "active,degraded,user_action_required,active" {
			t.Errorf("history = %v", got)
		}
		sc, _ := statusCounts(ctx, s)
		if len(sc) != 1 || sc["active"] != 1 {
			t.Errorf("status counts = %v", sc)
		}
	})

	t.Run("an older job outcome never overwrites a newer one", func(t *testing.T) {
		s, clk := newStore(t)
		g := runIngester(t, s, db.IngestOptions{})
		ingest(t, g, jobBody("j2", "paystubs.added", "paystubs", "acc-j", "eu-j", "tok-j", "2026-11-26T11:05:00.000000+00:00", "success", "", "", ""), clk.t)
		ingest(t, g, jobBody("j1", "paystubs.added", "paystubs", "acc-j", "eu-j", "tok-j", "2026-11-26T11:00:00.000000+00:00", "pending", "", "", ""), clk.t)
		jobs, _ := jobsOf(ctx, s, "acc-j")
		if len(jobs) != 1 || jobs[0].Outcome != "success" || jobs[0].EventID != "j2" {
			t.Errorf("jobs = %+v", jobs)
		}
		tok, _ := s.PinwheelTokenByID(ctx, "tok-j")
		if tok.LastOutcome != "success" || tok.PendingCount != 1 || tok.SuccessCount != 1 {
			t.Errorf("token = %+v", tok)
		}
		a, _ := accountOf(ctx, s, "acc-j")
		if !a.FirstSeenAt.Equal(time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)) || !a.LastEventAt.Equal(time.Date(2026, 11, 26, 11, 5, 0, 0, time.UTC)) {
			t.Errorf("first seen %v, last event %v", a.FirstSeenAt, a.LastEventAt)
		}
		sc, _ := statusCounts(ctx, s)
		if sc[""] != 1 {
			t.Errorf("status counts = %v, want one account of unknown status", sc)
		}
	})

	t.Run("the account's latest job is the newest outcome of any job", func(t *testing.T) {
		s, clk := newStore(t)
		g := runIngester(t, s, db.IngestOptions{})
		latest := func(step, job, outcome string, at time.Time) {
			t.Helper()
			list, _, err := s.ListAccounts(ctx, db.AccountQuery{})
			if err != nil || len(list) != 1 {
				t.Fatalf("%s: accounts %+v, %v", step, list, err)
			}
			r := list[0]
			if r.LastJob != job || r.LastJobOutcome != outcome || !r.LastJobAt.Equal(at) {
				t.Errorf("%s: latest job %s/%s at %v, want %s/%s at %v", step, r.LastJob, r.LastJobOutcome, r.LastJobAt, job, outcome, at)
			}
			fc, err := s.AccountFacets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(fc.LastOutcome) != 1 || fc.LastOutcome[0].Value != outcome || fc.LastOutcome[0].N != 1 {
				t.Errorf("%s: last outcome facet %+v, want one %s", step, fc.LastOutcome, outcome)
			}
		}
		at := func(m int) time.Time { return time.Date(2026, 11, 26, 11, m, 0, 0, time.UTC) }
		ts := func(m int) string { return at(m).Format("2006-01-02T15:04:05.000000+00:00") }
		// An account first seen through a job event carries that job.
		ingest(t, g, jobBody("k1", "income.added", "income", "acc-k", "eu-k", "tok-k", ts(10), "success", "", "", ""), clk.t)
		latest("first", "income", "success", at(10))
		// An older outcome of another job does not replace it, though its
		// own job row is new.
		ingest(t, g, jobBody("k2", "paystubs.added", "paystubs", "acc-k", "eu-k", "tok-k", ts(5), "pending", "", "", ""), clk.t)
		latest("older", "income", "success", at(10))
		if jobs, _ := jobsOf(ctx, s, "acc-k"); len(jobs) != 2 {
			t.Errorf("jobs = %+v, want income and paystubs", jobs)
		}
		// A status update moves no job.
		ingest(t, g, statusBody("k3", "acc-k", "eu-k", "degraded", true), clk.t)
		latest("status", "income", "success", at(10))
		// The same time: the later delivery wins, as for the job's own row.
		ingest(t, g, jobBody("k4", "employment.added", "employment", "acc-k", "eu-k", "tok-k", ts(10), "error", "platform_error", "", ""), clk.t)
		latest("tie", "employment", "error", at(10))
		ingest(t, g, jobBody("k5", "paystubs.added", "paystubs", "acc-k", "eu-k", "tok-k", ts(20), "success", "", "", ""), clk.t)
		latest("newer", "paystubs", "success", at(20))
	})
}

func TestIngester_UnknownAndMalformedPayloadsAreStoredNotProjected(t *testing.T) {
	s, clk := newStore(t)
	g := runIngester(t, s, db.IngestOptions{})
	ctx := context.Background()

	ingest(t, g, []byte(`{"event_id": "u1", "event": "brand_new.event", "payload": {"account_id": "acc-x", "whatever": [1, 2]}}`), clk.t)
	e, err := s.EventByEventID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Projection != "unknown" || e.AccountID != "" {
		t.Errorf("unknown event = %+v", e)
	}
	if _, err := accountOf(ctx, s, "acc-x"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("an unknown event created an account: %v", err)
	}

	// Once the account exists, an unknown event links to it (timelines) but
	// still changes nothing.
	ingest(t, g, accountAddedBody("a1", "acc-x", "eu-x", "tok-x", "2026-11-26T11:00:00.000000+00:00", "active", true), clk.t)
	ingest(t, g, []byte(`{"event_id": "u2", "event": "brand_new.event", "payload": {"account_id": "acc-x"}}`), clk.t)
	e, _ = s.EventByEventID(ctx, "u2")
	a, _ := accountOf(ctx, s, "acc-x")
	if e.AccountID != "acc-x" || a.EventCount != 1 {
		t.Errorf("unknown event: account %q; account event_count %d, want acc-x and 1", e.AccountID, a.EventCount)
	}

	ingest(t, g, []byte(`{"event_id": "m1", "event": "identity.added", "payload": {"account_id": 42, "outcome": "success"}}`), clk.t)
	e, _ = s.EventByEventID(ctx, "m1")
	if e.Projection != "failed" || !strings.Contains(e.ProjectionError, "account_id") {
		t.Errorf("malformed payload = %+v", e)
	}
	tot, _ := s.Totals(ctx)
	if tot["events"] != 4 || tot["accounts"] != 1 {
		t.Errorf("totals = %v", tot)
	}
}

func TestParseDelivery(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"valid", `{"event_id": "a", "event": "x.y", "payload": {}}`, ""},
		{"empty body", ``, db.ReasonInvalidJSON},
		{"truncated", `{"event_id": "a", "event": "x.y", "payl`, db.ReasonInvalidJSON},
		{"array", `[1, 2]`, db.ReasonInvalidEnvelope},
		{"missing event_id", `{"event": "x.y", "payload": {}}`, db.ReasonMissingEventID},
		{"empty event_id", `{"event_id": "", "event": "x.y", "payload": {}}`, db.ReasonMissingEventID},
		{"numeric event_id", `{"event_id": 7, "event": "x.y", "payload": {}}`, db.ReasonInvalidEnvelope},
		{"missing event", `{"event_id": "a", "payload": {}}`, db.ReasonMissingEvent},
		{"payload string", `{"event_id": "a", "event": "x.y", "payload": "hi"}`, db.ReasonPayloadNotObject},
		{"payload null", `{"event_id": "a", "event": "x.y", "payload": null}`, db.ReasonPayloadNotObject},
		{"payload missing", `{"event_id": "a", "event": "x.y"}`, db.ReasonPayloadNotObject},
		{"invalid utf-8", "{\"event_id\": \"a\xff\", \"event\": \"x.y\", \"payload\": {}}", db.ReasonInvalidUTF8},
		{"huge event_id", `{"event_id": "` + strings.Repeat("a", 300) + `", "event": "x.y", "payload": {}}`, db.ReasonInvalidEnvelope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.ParseDelivery([]byte(tc.body))
			var de *db.DeliveryError
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.reason != "" && (!errors.As(err, &de) || de.Reason != tc.reason):
				t.Errorf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func TestIngester_RecordsRejectionsWithoutBlocking(t *testing.T) {
	s, _ := newStore(t)
	g := runIngester(t, s, db.IngestOptions{RejectQueue: 8, KeepRejections: 5})
	ctx := context.Background()

	// A flood: Reject never blocks; what does not fit the queue is counted.
	for i := range 3000 {
		g.Reject(db.Rejection{Reason: db.ReasonBadSignature, Status: 401, RemoteAddr: "192.0.2.1:5",
			Headers: map[string]string{"X-Timestamp": "1"}, Body: fmt.Appendf(nil, "body %d", i)})
	}
	g.Reject(db.Rejection{Reason: db.ReasonInvalidJSON, Status: 400, RemoteAddr: "192.0.2.1:5", Body: []byte("{not json"), KeepBody: true})
	// An accepted delivery commits after (or with) the rejections before it.
	ingest(t, g, jobBody("after", "identity.added", "identity", "acc-r", "", "", "2026-11-26T11:00:00.000000+00:00", "success", "", "", ""), time.Time{})
	waitFor(t, func() bool {
		tot, _ := s.Totals(ctx)
		return tot["rejections"] == 3001
	})
	list, _, err := s.ListRejections(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 || len(list) > 1000+5 {
		t.Errorf("%d rejection rows kept", len(list))
	}
	var withBody int
	for _, r := range list {
		if r.Body != nil {
			withBody++
			if string(r.Body) != "{not json" || r.Reason != db.ReasonInvalidJSON || r.BodySize != 9 {
				t.Errorf("kept body of %+v", r)
			}
		}
		if len(r.BodySHA256) != 64 {
			t.Errorf("hash %q", r.BodySHA256)
		}
	}
	if withBody > 1 {
		t.Errorf("%d rows kept a body, want at most the one with a valid signature", withBody)
	}
	dash, _ := s.Dashboard(ctx)
	if n := db.Total24h(dash.Rejected24h); n != 3001 {
		t.Errorf("rejection counts sum to %d, want 3001", n)
	}
}

func TestIngester_ShutdownCommitsWhatWasHandedOver(t *testing.T) {
	s, clk := newStore(t)
	g, err := s.NewIngester(context.Background(), db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	var wg sync.WaitGroup
	acked := make(chan string, 200)
	for i := range 200 {
		wg.Go(func() {
			d, _ := db.ParseDelivery(jobBody(fmt.Sprintf("sd-%d", i), "paystubs.added", "paystubs", fmt.Sprintf("acc-%d", i%7), "", "", "2026-11-26T11:00:00.000000+00:00", "success", "", "", ""))
			d.ReceivedAt = clk.t
			if _, err := g.Ingest(context.Background(), d); err == nil {
				acked <- d.EventID
			} else if !errors.Is(err, db.ErrIngesterClosed) {
				t.Errorf("ingest: %v", err)
			}
		})
		if i == 100 {
			cancel()
		}
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(acked)
	for id := range acked {
		if _, err := s.EventByEventID(context.Background(), id); err != nil {
			t.Errorf("acknowledged %s is not stored: %v", id, err)
		}
	}
	if _, err := g.Ingest(context.Background(), db.Delivery{EventID: "late", Event: "x"}); !errors.Is(err, db.ErrIngesterClosed) {
		t.Errorf("ingest after shutdown: %v, want ErrIngesterClosed", err)
	}
}

func TestIngester_ManyConcurrentDeliveries(t *testing.T) {
	s, clk := newStore(t)
	g := runIngester(t, s, db.IngestOptions{MaxBatch: 32})
	ctx := context.Background()
	const n = 600
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := jobBody(fmt.Sprintf("c-%d", i%(n-50)), "paystubs.added", "paystubs", fmt.Sprintf("acc-%d", i%20), fmt.Sprintf("eu-%d", i%10),
				fmt.Sprintf("tok-%d", i%20), fmt.Sprintf("2026-11-26T11:%02d:%02d.000000+00:00", i/60%60, i%60), "success", "", "", "")
			ingest(t, g, body, clk.t)
		})
	}
	wg.Wait()
	tot, _ := s.Totals(ctx)
	if tot["events"] != n-50 || tot["duplicates"] != 50 || tot["accounts"] != 20 || tot["end_users"] != 10 {
		t.Errorf("totals = %v", tot)
	}
	var sum int
	for i := range 20 {
		a, _ := accountOf(ctx, s, fmt.Sprintf("acc-%d", i))
		sum += a.EventCount
	}
	if sum != n-50 {
		t.Errorf("account event counts sum to %d, want %d", sum, n-50)
	}
}

// TestIngester_AFailingProjectionIsStoredAloneUnprojected: when one
// delivery's projection fails in the database (here: its switch row is
// refused), the batch's first, all-at-once attempt is rolled back and the
// batch runs again item by item: the failing delivery is stored
// unprojected with its error, every other one is projected, and all are
// acknowledged.
func TestIngester_AFailingProjectionIsStoredAloneUnprojected(t *testing.T) {
	s, clk := newStore(t)
	g := runIngester(t, s, db.IngestOptions{MaxBatch: 64})
	ctx := context.Background()
	defer dbtest.RefuseInserts(t, s.Path(), "dd_switches")()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			event, job := "paystubs.added", "paystubs"
			if i == 17 {
				event, job = "direct_deposit_switch.added", "direct_deposit_switch"
			}
			ingest(t, g, jobBody(fmt.Sprintf("f-%d", i), event, job, fmt.Sprintf("acc-%d", i%5), "eu-1", fmt.Sprintf("tok-%d", i%5),
				fmt.Sprintf("2026-11-26T11:00:%02d.000000+00:00", i), "success", "", "", ""), clk.t)
		})
	}
	wg.Wait()
	for i := range n {
		e, err := s.EventByEventID(ctx, fmt.Sprintf("f-%d", i))
		switch {
		case err != nil:
			t.Fatalf("f-%d: %v", i, err)
		case i == 17 && (e.Projection != "failed" || !strings.Contains(e.ProjectionError, "insert refused")):
			t.Errorf("the refused switch: %q %q, want failed with the database's error", e.Projection, e.ProjectionError)
		case i != 17 && e.Projection != "projected":
			t.Errorf("f-%d: %q (%s), want projected", i, e.Projection, e.ProjectionError)
		}
	}
	if tot, _ := s.Totals(ctx); tot["events"] != n || tot["accounts"] != 5 {
		t.Errorf("totals = %v", tot)
	}
}

// waitFor polls cond until it holds, failing after 10 s. Tests wait on
// conditions, never on fixed sleeps.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
