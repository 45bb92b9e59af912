package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/worker"
)

// paySource is a stand-in for Pinwheel's paystub and shift endpoints: the
// account's items, listed newest first in pages, with a call log.
type paySource struct {
	source
	mu       sync.Mutex
	stubs    []json.RawMessage // newest pay date first
	shifts   []json.RawMessage
	pageSize int
	calls    []string
}

func (p *paySource) log(s string) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	p.mu.Unlock()
}

func (p *paySource) set(stubs []json.RawMessage) {
	p.mu.Lock()
	p.stubs = stubs
	p.mu.Unlock()
}

func field(raw json.RawMessage, name string) string {
	var m map[string]any
	json.Unmarshal(raw, &m)
	s, _ := m[name].(string)
	return s
}

func (p *paySource) pages(items []json.RawMessage, keep func(json.RawMessage) bool, limit int) iter.Seq2[pinwheel.RawPage, error] {
	var sel []json.RawMessage
	for _, it := range items {
		if keep(it) {
			sel = append(sel, it)
		}
	}
	size := min(limit, p.pageSize)
	return func(yield func(pinwheel.RawPage, error) bool) {
		for i := 0; ; i += size {
			end := min(i+size, len(sel))
			pg := pinwheel.RawPage{Items: sel[i:end], Meta: pinwheel.Meta{Count: end - i,
				RefreshedAt: pinwheel.NewTime(time.Date(2026, 11, 26, 11, 30, 0, 0, time.UTC)).Ptr()}}
			if end < len(sel) {
				c := strconv.Itoa(end)
				pg.Meta.NextCursor = &c
			}
			if !yield(pg, nil) || end >= len(sel) {
				return
			}
		}
	}
}

func (p *paySource) PaystubPages(ctx context.Context, id string, f pinwheel.PaystubsFilter) iter.Seq2[pinwheel.RawPage, error] {
	p.log("list " + f.From + ".." + f.To)
	p.mu.Lock()
	stubs := p.stubs
	p.mu.Unlock()
	return p.pages(stubs, func(r json.RawMessage) bool {
		d := field(r, "pay_date")
		return (f.From == "" || d >= f.From) && (f.To == "" || d <= f.To)
	}, f.Limit)
}

func (p *paySource) PaystubRaw(ctx context.Context, id, paystub string) (json.RawMessage, error) {
	p.log("get " + paystub)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.stubs {
		if field(s, "id") == paystub {
			return s, nil
		}
	}
	return nil, &pinwheel.Error{Type: pinwheel.TypeNotFound, StatusCode: 404, Message: "No paystub found."}
}

func (p *paySource) ShiftPages(ctx context.Context, id string, f pinwheel.ShiftsFilter) iter.Seq2[pinwheel.RawPage, error] {
	p.log("shifts")
	return p.pages(p.shifts, func(json.RawMessage) bool { return true }, f.Limit)
}

// stub is a paystub on the wire; the document carries a pre-signed URL
// that changes at every read, as Pinwheel's does.
func stub(id, payDate string, gross, net int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "account_id": "acc", "pay_date": %q, "pay_period_start": null, "pay_period_end": null,
"currency": "USD", "gross_pay_amount": %d, "net_pay_amount": %d, "total_taxes": 0, "total_deductions": 0, "employer_name": "Acme",
"earnings": [{"name": "Regular", "category": "hourly", "amount": %d, "rate": 2500, "hours": 40.0}],
"document": {"id": "doc-%s", "download_url": "https://files.example/%s?sig=%d", "download_url_expiration": "2026-11-26T12:15:00+00:00"}}`,
		id, payDate, gross, net, gross, id, id, time.Now().UnixNano()))
}

func shift(id, day string, cents int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "account_id": "acc", "start_date": %q, "end_date": %q, "type": "shift", "currency": "USD",
"timestamps": [], "earnings": [{"name": "Delivery pay", "category": "base", "amount": %d, "rate": null, "hours": 4.5}]}`, id, day, day, cents))
}

// payEvent is a paystubs.added or shifts.added delivery.
func payEvent(eventID, event, account string, ts int, added, deleted []string, params string) []byte {
	refs := func(ids []string) string {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf(`{"id": %q, "document_type": null, "year": null, "pay_date": null}`, id))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	name := strings.TrimSuffix(event, ".added")
	return fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": {"added": %s, "deleted": %s, "id": "job-%s", "name": %q,
"timestamp": "2026-11-26T11:00:%02d.000000+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "tok",
"params": %s, "account_id": %q, "end_user_id": "eu"}}`, eventID, event, refs(added), refs(deleted), eventID, name, ts, params, account)
}

func milestone(eventID, event, account string, ts int) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": {"id": "job-m", "name": "paystubs", "timestamp": "2026-11-26T11:00:%02d.000000+00:00",
"outcome": "success", "error_code": null, "error_type": null, "link_token_id": "tok", "params": {"count": 3}, "account_id": %q, "end_user_id": "eu"}}`,
		eventID, event, ts, account)
}

// history is n weekly paystubs, newest first: p-000 is the oldest.
func history(n int) []json.RawMessage {
	start := time.Date(2021, 12, 3, 0, 0, 0, 0, time.UTC)
	out := make([]json.RawMessage, n)
	for i := range n {
		out[n-1-i] = stub(fmt.Sprintf("p-%03d", i), start.AddDate(0, 0, 7*i).Format(time.DateOnly), 100000+int64(i), 80000)
	}
	return out
}

func ids(items []db.PayItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ItemID)
	}
	return out
}

// ingestInto stores deliveries in s through an Ingester.
func ingestInto(t *testing.T, s *db.Store, bodies ...[]byte) {
	t.Helper()
	g, err := s.NewIngester(context.Background(), db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for _, b := range bodies {
		d, err := db.ParseDelivery(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Ingest(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
}

// settle runs the fetch pool until no fetch job is queued or running.
func settle(t *testing.T, s *db.Store, src worker.Source) {
	t.Helper()
	r := fetchRunner(s, src, nil)
	runUntil(t, r, func() bool {
		st, err := s.JobStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range st {
			if slices.Contains(db.FetchJobKinds, k.Kind) && k.Depth() > 0 {
				return false
			}
		}
		return true
	})
}

// TestPayFetch: the first sync's pages (added arrays), delivered out of
// order and one twice, store every paystub once; a later sync that adds
// one and deletes one, with its deletion delivered before the add it
// undoes, changes exactly that; a corrected paystub supersedes its old
// version; an announced id Pinwheel never returns is reported missing.
func TestPayFetch(t *testing.T) {
	ctx := context.Background()
	s, _ := setup(t, []byte(`{"event_id": "acc-added", "event": "account.added", "payload": {"created_at": "2026-11-26T10:00:00+00:00",
"link_token_id": "tok", "platform_id": "plat", "connected": true, "monitoring_status": "active", "end_user_id": "eu", "account_id": "acc", "platform_name": "Workday"}}`))
	src := &paySource{source: source{calls: map[string]int{}}, stubs: history(30), pageSize: 10}
	all := src.stubs
	page := func(i, j int) []string {
		var out []string
		for _, r := range all[i:j] {
			out = append(out, field(r, "id"))
		}
		return out
	}
	params := func(i, j, count int, status string) string {
		return fmt.Sprintf(`{"count": %d, "from_pay_date": %q, "to_pay_date": %q, "sync_status": %q}`,
			count, field(all[j-1], "pay_date"), field(all[i], "pay_date"), status)
	}
	p1 := payEvent("e1", "paystubs.added", "acc", 1, page(0, 1), nil, params(0, 1, 1, "in_progress"))
	p2 := payEvent("e2", "paystubs.added", "acc", 2, page(1, 2), nil, params(1, 2, 1, "in_progress"))
	p3 := payEvent("e3", "paystubs.added", "acc", 3, page(2, 4), nil, params(2, 4, 2, "in_progress"))
	p4 := payEvent("e4", "paystubs.added", "acc", 4, page(4, 30), nil, params(4, 30, 26, "complete"))
	done := milestone("e5", "paystubs.fully_synced", "acc", 5)

	t.Run("first sync, untidy", func(t *testing.T) {
		// The last page and the milestone overtake the first pages; the
		// second page comes twice.
		ingestInto(t, s, p4, done, p2, p1, p2, p3)
		settle(t, s, src)
		got, err := s.PayItems(ctx, "acc", db.FetchPaystubs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 30 || got[0].ItemID != "p-000" || got[29].ItemID != "p-029" {
			t.Fatalf("stored %d paystubs: %v", len(got), ids(got))
		}
		if g := got[29]; g.Gross == nil || *g.Gross != 100029 || g.DocumentID != "doc-p-029" || g.Rate == nil || *g.Rate != 2500 ||
			g.Hours == nil || *g.Hours != 40 || g.EmployerName != "Acme" || g.RefreshedAt.IsZero() {
			t.Errorf("newest paystub %+v", g)
		}
		st, err := s.PaySyncState(ctx, "acc", db.FetchPaystubs)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != pinwheel.SyncComplete || st.Pending != 0 || st.Waiting() || st.FullFetchedAt.IsZero() || st.FullySyncedAt.IsZero() {
			t.Errorf("sync state %+v", st)
		}
		// The redelivery asked for nothing: five distinct events, five requests.
		if st.Requested != 5 {
			t.Errorf("%d requests, want 5 (one per distinct event)", st.Requested)
		}
	})

	t.Run("a refetch changes nothing", func(t *testing.T) {
		before, _ := s.PayItems(ctx, "acc", db.FetchPaystubs)
		// The same history again (fresh document URLs): no new rows.
		src.set(history(30))
		src.calls = nil
		ingestInto(t, s, payEvent("e6", "paystubs.added", "acc", 6, page(29, 30), nil, params(0, 30, 30, "complete")))
		settle(t, s, src)
		if !slices.Contains(src.calls, "list "+field(all[29], "pay_date")+".."+field(all[0], "pay_date")) {
			t.Fatalf("the window was not read: %v", src.calls)
		}
		after, _ := s.PayItems(ctx, "acc", db.FetchPaystubs)
		if len(after) != 30 || after[29].Ref != before[29].Ref || after[29].SHA256 != before[29].SHA256 {
			t.Errorf("a second read stored new rows: %d items, newest ref %d → %d", len(after), before[29].Ref, after[29].Ref)
		}
	})

	t.Run("deleted before added, out of order", func(t *testing.T) {
		newer := stub("p-new", "2022-07-01", 200000, 150000)
		src.set(append([]json.RawMessage{newer}, history(30)...))
		// A later sync adds p-new and a third removes it again and p-003;
		// the removal arrives first.
		del := payEvent("e8", "paystubs.added", "acc", 8, nil, []string{"p-new", "p-003"}, `{"count": 0, "sync_status": "complete"}`)
		add := payEvent("e7", "paystubs.added", "acc", 7, []string{"p-new"}, nil,
			`{"count": 1, "from_pay_date": "2022-07-01", "to_pay_date": "2022-07-01", "sync_status": "complete"}`)
		ingestInto(t, s, del, add, del)
		settle(t, s, src)
		got, _ := s.PayItems(ctx, "acc", db.FetchPaystubs)
		if slices.Contains(ids(got), "p-new") || slices.Contains(ids(got), "p-003") || len(got) != 29 {
			t.Errorf("after the deletions: %v", ids(got))
		}
		st, _ := s.PaySyncState(ctx, "acc", db.FetchPaystubs)
		if st.Deleted != 2 || st.Pending != 0 {
			t.Errorf("sync state %+v", st)
		}
	})

	t.Run("a corrected paystub and a missing one", func(t *testing.T) {
		h := history(30)
		h[0] = stub("p-029", field(h[0], "pay_date"), 100029, 81111) // Pinwheel corrected the net
		src.set(h)
		before, _ := s.PayItems(ctx, "acc", db.FetchPaystubs)
		ingestInto(t, s, payEvent("e9", "paystubs.added", "acc", 9, []string{"p-029", "ghost"}, nil,
			fmt.Sprintf(`{"count": 2, "from_pay_date": %q, "to_pay_date": %q, "sync_status": "complete"}`, field(h[0], "pay_date"), field(h[0], "pay_date"))))
		settle(t, s, src)
		got, _ := s.PayItems(ctx, "acc", db.FetchPaystubs)
		last := got[len(got)-1]
		if len(got) != 29 || last.ItemID != "p-029" || *last.Net != 81111 || last.SHA256 == before[len(before)-1].SHA256 {
			t.Errorf("corrected paystub: %d items, newest %+v", len(got), last)
		}
		st, _ := s.PaySyncState(ctx, "acc", db.FetchPaystubs)
		if st.Missing != 1 || st.Pending != 1 {
			t.Errorf("the unknown id: %+v", st)
		}
		if !slices.Contains(src.calls, "get ghost") {
			t.Errorf("the announced id was not asked for: %v", src.calls)
		}
	})

	t.Run("shifts read newest first until the announced ones came", func(t *testing.T) {
		var sh []json.RawMessage
		for i := 40; i > 0; i-- {
			sh = append(sh, shift(fmt.Sprintf("s-%02d", i), time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly), 4500))
		}
		src.shifts = sh
		src.calls = nil
		ingestInto(t, s, payEvent("s1", "shifts.added", "acc", 10, []string{"s-40", "s-39"}, nil, `{"count": 2, "sync_status": "in_progress"}`))
		settle(t, s, src)
		got, _ := s.PayItems(ctx, "acc", db.FetchShifts)
		if len(got) != 10 || got[9].ItemID != "s-40" || got[9].Gross == nil || *got[9].Gross != 4500 {
			t.Errorf("one page of shifts: %v", ids(got))
		}
		ingestInto(t, s, milestone("s2", "shifts.fully_synced", "acc", 11))
		settle(t, s, src)
		if got, _ := s.PayItems(ctx, "acc", db.FetchShifts); len(got) != 40 {
			t.Errorf("after shifts.fully_synced: %d shifts", len(got))
		}
	})
}
