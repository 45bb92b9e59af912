package db_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"linkdesk/db"
)

func eventIDs(rows []db.EventRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.EventID)
	}
	return out
}

func TestStore_EventLog(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	base := f.clk.t.Add(-time.Hour)
	seedAccounts(t, f, base)
	// A redelivery of a3 makes it a duplicate.
	if res := f.add(t, addedBody("a3", "acc-3", "eu-3", "p-adp", "ADP", "active", true, base.Add(3*time.Minute)), base.Add(10*time.Minute)); !res.Duplicate {
		t.Fatal("a3 again was not a duplicate")
	}
	all := []string{"j5", "a5", "a4", "j3", "a3", "a2", "a1"}

	cases := []struct {
		name string
		q    db.EventQuery
		want []string
	}{
		{"all", db.EventQuery{}, all},
		{"accepted", db.EventQuery{Status: db.StatusAccepted}, all},
		{"type", db.EventQuery{Type: "account.added"}, []string{"a5", "a4", "a3", "a2", "a1"}},
		{"outcome error", db.EventQuery{Outcome: "error"}, []string{"j3"}},
		{"outcome success", db.EventQuery{Outcome: "success"}, []string{"j5"}},
		{"account", db.EventQuery{AccountID: "acc-3"}, []string{"j3", "a3"}},
		{"end user", db.EventQuery{EndUserID: "eu-1"}, []string{"a2", "a1"}},
		{"link token", db.EventQuery{LinkTokenID: "tok-acc-5"}, []string{"j5", "a5"}},
		{"unknown account", db.EventQuery{AccountID: "nope"}, nil},
		{"duplicates", db.EventQuery{Status: db.StatusDuplicate}, []string{"a3"}},
		{"from", db.EventQuery{From: base.Add(4 * time.Minute)}, []string{"j5", "a5", "a4"}},
		{"to", db.EventQuery{To: base.Add(3 * time.Minute)}, []string{"a2", "a1"}},
		{"range", db.EventQuery{From: base.Add(2 * time.Minute), To: base.Add(4 * time.Minute)}, []string{"j3", "a3", "a2"}},
		{"empty range", db.EventQuery{From: base.Add(time.Hour), To: base.Add(2 * time.Hour)}, nil},
		{"type and account", db.EventQuery{Type: "income.added", AccountID: "acc-3"}, []string{"j3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Page two at a time: the keyset must give the same list.
			var got []string
			q := c.q
			q.Limit = 2
			for {
				rows, more, err := f.s.ListEventLog(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, eventIDs(rows)...)
				if !more {
					break
				}
				q.Before = rows[len(rows)-1].ID
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			// The export of the same filter equals the list.
			var exported []string
			n, err := f.s.ExportEvents(ctx, admin, c.q, "csv", true, func(r db.ExportRow) error {
				if r.Body == "" {
					t.Errorf("export row %s has no body", r.EventID)
				}
				exported = append(exported, r.EventID)
				return nil
			})
			if err != nil || n != int64(len(exported)) {
				t.Fatalf("export: n=%d err=%v", n, err)
			}
			if !reflect.DeepEqual(exported, c.want) {
				t.Errorf("export %v, want %v", exported, c.want)
			}
		})
	}

	t.Run("export is audited", func(t *testing.T) {
		rows, _, err := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionEventsExported, Limit: 1})
		if err != nil || len(rows) != 1 {
			t.Fatalf("audit %v %v", rows, err)
		}
		// The last case exported was "type and account".
		if want := `{"filter":{"account":"acc-3","type":"income.added"},"format":"csv"}`; rows[0].Detail != want {
			t.Errorf("detail %s", rows[0].Detail)
		}
	})

	t.Run("row fields", func(t *testing.T) {
		rows, _, err := f.s.ListEventLog(ctx, db.EventQuery{Status: db.StatusDuplicate})
		if err != nil || len(rows) != 1 {
			t.Fatal(rows, err)
		}
		r := rows[0]
		if r.DeliveryCount != 2 || r.AccountID != "acc-3" || r.EndUserID != "eu-3" || r.LinkTokenID != "tok-acc-3" || r.Event != "account.added" {
			t.Errorf("row %+v", r)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		var fe db.FieldErrors
		if _, _, err := f.s.ListEventLog(ctx, db.EventQuery{Outcome: "maybe"}); !errors.As(err, &fe) {
			t.Errorf("bad outcome: %v", err)
		}
		if _, _, err := f.s.ListEventLog(ctx, db.EventQuery{From: base, To: base}); !errors.As(err, &fe) {
			t.Errorf("empty time range: %v", err)
		}
	})
}
