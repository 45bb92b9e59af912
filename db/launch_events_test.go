package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func TestStore_RecordLaunchEvent_Refusals(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMinted)
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-1")); err != nil {
		t.Fatal(err)
	}
	var fe db.FieldErrors
	for _, tc := range []struct {
		name, launch, event, payload string
		want                         func(error) bool
	}{
		{"unknown link", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "open", "{}", func(err error) bool { return errors.Is(err, db.ErrNotFound) }},
		{"bad name", n.LaunchID, "Open!", "{}", func(err error) bool { return errors.As(err, &fe) }},
		{"array payload", n.LaunchID, "open", "[]", func(err error) bool { return errors.As(err, &fe) }},
		{"big payload", n.LaunchID, "open", `{"x":"` + strings.Repeat("a", 9000) + `"}`, func(err error) bool { return errors.As(err, &fe) }},
	} {
		if _, err := f.s.RecordLaunchEvent(ctx, tc.launch, tc.event, []byte(tc.payload)); !tc.want(err) {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}

	t.Run("quota", func(t *testing.T) {
		for i := range db.MaxLaunchEventsPerLink {
			if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "screen_transition", []byte(`{"i":`+fmt.Sprint(i)+`}`)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "open", nil); !errors.Is(err, db.ErrTooManyEvents) {
			t.Errorf("got %v, want ErrTooManyEvents", err)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		n2 := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n2, f.mint("pw-2")); err != nil {
			t.Fatal(err)
		}
		lt, err := f.s.RevokeLink(ctx, f.op, n2.TokenID)
		if err != nil || !lt.Revoked() {
			t.Fatal(lt, err)
		}
		if _, err := f.s.RevokeLink(ctx, f.op, n2.TokenID); err != nil {
			t.Fatal(err)
		}
		rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenRevoked})
		if len(rows) != 1 {
			t.Errorf("revoked twice: %d audit rows, want 1", len(rows))
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n2.LaunchID, "open", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("got %v, want ErrLinkClosed", err)
		}
		l, err := f.s.LaunchByID(ctx, n2.LaunchID)
		if err != nil || l.State != db.LaunchRevoked || l.Token != "" {
			t.Errorf("launch %+v %v", l, err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(61 * time.Minute)
		l, err := f.s.LaunchByID(ctx, n.LaunchID)
		if err != nil || l.State != db.LaunchExpired || l.Token != "" {
			t.Errorf("launch %+v %v", l, err)
		}
		f.clk.t = f.clk.t.Add(time.Hour)
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "exit", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("after the grace: got %v, want ErrLinkClosed", err)
		}
	})
}

// TestStore_CheckLaunchEvents: the read-side check answers while another
// connection holds the write lock, so a junk launch id never waits for (or
// takes) the writer.
func TestStore_CheckLaunchEvents(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMinted)
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-1")); err != nil {
		t.Fatal(err)
	}
	raw, err := db.Connect(f.s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// SQLite: hold the one write lock. PostgreSQL: hold the tables a
	// write would touch.
	lock := `BEGIN IMMEDIATE`
	if f.s.Backend() == "postgres" {
		lock = `BEGIN; LOCK TABLE launch_events, link_tokens IN EXCLUSIVE MODE`
	}
	if _, err := conn.ExecContext(ctx, lock); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)

	// A check that needed the writer would wait out the busy timeout
	// behind the open transaction and fail (on PostgreSQL: wait until the
	// deadline): success proves the read pool.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := f.s.CheckLaunchEvents(cctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown link: got %v, want ErrNotFound", err)
	}
	if err := f.s.CheckLaunchEvents(cctx, n.LaunchID); err != nil {
		t.Errorf("live link: got %v", err)
	}
}
