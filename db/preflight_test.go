package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"linkdesk/db"
)

func TestStore_Preflight(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	f.clk.t = f.clk.t.Add(time.Minute)
	f.jobWebhook(t, "e-id", "identity", "first-token", "success")

	p, err := f.s.Preflight(ctx, f.account)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ConnectedKnown || !p.Connected || p.MonitoringStatus != "active" || p.EndUserID != f.endUser || p.PlatformName != "Workday" {
		t.Errorf("got %+v", p)
	}
	if len(p.Jobs) != 1 || p.Jobs[0].Job != "identity" || p.Jobs[0].Outcome != "success" {
		t.Errorf("jobs %+v", p.Jobs)
	}
	if _, err := f.s.Preflight(ctx, "nope"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown account: got %v, want ErrNotFound", err)
	}

	t.Run("MFA sessions", func(t *testing.T) {
		n := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("m-1")); err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct{ name, payload string }{
			{"open", "{}"}, {"screen_transition", `{"screenName":"MFA"}`}, {"screen_transition", `{"screenName":"LOGIN"}`},
		} {
			if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, e.name, []byte(e.payload)); err != nil {
				t.Fatal(err)
			}
		}
		n2 := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n2, f.mint("m-2")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n2.LaunchID, "open", nil); err != nil {
			t.Fatal(err)
		}
		p, err := f.s.Preflight(ctx, f.account)
		if err != nil {
			t.Fatal(err)
		}
		if p.Sessions != 2 || p.MFASessions != 1 {
			t.Errorf("sessions %d mfa %d, want 2 and 1", p.Sessions, p.MFASessions)
		}
	})
}
