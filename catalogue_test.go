package main

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/loadgen"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/views"
	"linkdesk/worker"
)

// TestEventCatalogue proves that every place that knows webhook event types
// agrees with pinwheel.Events: the projection (db), the data fetched after
// an event (worker), the events log's filter (views), the subscription and
// the emulator's accepted events, and the load generator. Adding a line to
// the catalogue that one of them cannot handle fails here.
func TestEventCatalogue(t *testing.T) {
	names := pinwheel.EventNames()
	seen := map[string]bool{}
	for _, e := range pinwheel.Events {
		if seen[e.Name] || e.Label == "" {
			t.Errorf("catalogue entry %+v: duplicate or without a label", e)
		}
		seen[e.Name] = true
		if e.Subscribe && e.Unregistrable {
			t.Errorf("%s: Linkdesk cannot subscribe to an event outside the enabled_events enum", e.Name)
		}
	}

	t.Run("views", func(t *testing.T) {
		if !slices.Equal(views.EventTypes, names) {
			t.Errorf("views.EventTypes = %v, want the catalogue", views.EventTypes)
		}
		for _, e := range pinwheel.Events {
			body := fmt.Sprintf(`{"event_id": "e", "event": %q, "payload": {"outcome": "error", "error_type": null, "error_code": null}}`, e.Name)
			if e.Job == "" {
				body = fmt.Sprintf(`{"event_id": "e", "event": %q, "payload": {}}`, e.Name)
			}
			if s := views.EventSummary(e.Name, body); s == "" {
				t.Errorf("%s has no summary", e.Name)
			}
		}
	})

	t.Run("subscription and emulator", func(t *testing.T) {
		emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(t.TempDir(), "sb.db"), Secret: "sk_catalogue", PublicURL: "http://127.0.0.1:1/sandbox",
			AllowHTTPWebhooks: true})
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Close()
		srv := httptest.NewServer(emu)
		defer srv.Close()
		c := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/v1", Secret: "sk_catalogue"})
		for _, list := range [][]string{pinwheel.SubscribedEvents(), pinwheel.RegistrableEvents()} {
			if _, err := c.CreateWebhook(context.Background(), pinwheel.WebhookCreate{URL: "http://127.0.0.1:1/webhooks/pinwheel",
				Status: pinwheel.WebhookActive, EnabledEvents: list, Version: pinwheel.DefaultVersion}); err != nil {
				t.Errorf("the emulator refuses a registration for %v: %v", list, err)
			}
		}
	})

	t.Run("projection", func(t *testing.T) {
		ctx := context.Background()
		s, err := db.Open(ctx, dbtest.Path(t, "cat.db"), db.Options{PasswordCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		g, err := s.NewIngester(ctx, db.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.Run(rctx) }()
		defer func() { cancel(); <-done }()
		ingest := func(id, event, payload string) {
			d, err := db.ParseDelivery(fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": %s}`, id, event, payload))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Ingest(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		for i, e := range append(slices.Clone(pinwheel.Events), pinwheel.EventType{Name: "not.in.catalogue"}) {
			payload := `{"account_id": "acc", "end_user_id": "eu", "link_token_id": "tok", "created_at": "2026-11-26T10:00:00+00:00", "platform_id": "p", "connected": true, "monitoring_status": "active"}`
			if e.Job != "" {
				payload = `{"id": "j", "name": "` + e.Job + `", "timestamp": "2026-11-26T11:00:00+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "tok", "params": {}, "account_id": "acc", "end_user_id": "eu"}`
			}
			ingest(fmt.Sprint("ev-", i), e.Name, payload)
			stored, err := s.EventByEventID(ctx, fmt.Sprint("ev-", i))
			if err != nil {
				t.Fatal(err)
			}
			want := "projected"
			if e.Label == "" {
				want = "unknown"
			}
			if stored.Projection != want {
				t.Errorf("%s: projection %q, want %q", e.Name, stored.Projection, want)
			}
		}
		// Every fetch the catalogue asks for was queued, and the worker knows
		// how to run it.
		jobs, err := s.AccountFetches(ctx, "acc")
		if err != nil {
			t.Fatal(err)
		}
		var queued []string
		for _, j := range jobs {
			queued = append(queued, j.Data)
		}
		slices.Sort(queued)
		want := slices.Clone(pinwheel.FetchedData())
		slices.Sort(want)
		if !slices.Equal(queued, want) || !slices.Equal(db.FetchKinds, pinwheel.FetchedData()) {
			t.Errorf("fetches queued %v, db.FetchKinds %v, want %v", queued, db.FetchKinds, want)
		}
		fetch := worker.Fetches(emptySource{}, s)
		for _, j := range jobs {
			if _, err := fetch.Handle(ctx, j.Job); err != nil {
				t.Errorf("the worker cannot fetch %s: %v", j.Data, err)
			}
		}
	})

	t.Run("load generator", func(t *testing.T) {
		gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 9, Accounts: 200})
		for range 5000 {
			var env struct{ Event string }
			e := gen.Next()
			if err := json.Unmarshal(e.Body, &env); err != nil || !seen[env.Event] {
				t.Fatalf("the load generator sends %q, not in the catalogue (%v)", env.Event, err)
			}
		}
	})
}

// emptySource answers every fetch with empty data.
type emptySource struct{}

func (emptySource) Identity(context.Context, string) (pinwheel.Identity, pinwheel.Meta, error) {
	return pinwheel.Identity{}, pinwheel.Meta{}, nil
}
func (emptySource) Employment(context.Context, string) (pinwheel.Employment, pinwheel.Meta, error) {
	return pinwheel.Employment{}, pinwheel.Meta{}, nil
}
func (emptySource) Income(context.Context, string) (pinwheel.Income, pinwheel.Meta, error) {
	return pinwheel.Income{}, pinwheel.Meta{}, nil
}
func (emptySource) DirectDepositAllocations(context.Context, string) (pinwheel.DDAllocations, pinwheel.Meta, error) {
	return pinwheel.DDAllocations{}, pinwheel.Meta{}, nil
}
func (emptySource) Account(context.Context, string) (pinwheel.Account, error) {
	return pinwheel.Account{MonitoringStatus: pinwheel.StatusActive, Connected: true}, nil
}
func (emptySource) PaystubPages(context.Context, string, pinwheel.PaystubsFilter) iter.Seq2[pinwheel.RawPage, error] {
	return func(yield func(pinwheel.RawPage, error) bool) { yield(pinwheel.RawPage{}, nil) }
}
func (emptySource) PaystubRaw(context.Context, string, string) (json.RawMessage, error) {
	return nil, &pinwheel.Error{Type: pinwheel.TypeNotFound, StatusCode: 404}
}
func (emptySource) ShiftPages(context.Context, string, pinwheel.ShiftsFilter) iter.Seq2[pinwheel.RawPage, error] {
	return func(yield func(pinwheel.RawPage, error) bool) { yield(pinwheel.RawPage{}, nil) }
}
