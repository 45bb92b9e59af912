package db_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
)

func TestStore_MintOnOpen(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMintOnOpen, "identity")
	lt, err := f.s.CreateLink(ctx, f.op, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lt.Mints != 0 || !lt.LinkExpiresAt.Equal(f.clk.t.Add(7*24*time.Hour)) {
		t.Errorf("stored %+v", lt)
	}
	if _, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMintOnOpen), f.mint("x")); err == nil {
		t.Error("mint_on_open with a mint: got nil error")
	}

	l, err := f.s.LaunchByID(ctx, n.LaunchID)
	if err != nil || l.State != db.LaunchLive || !l.NeedsMint {
		t.Fatalf("launch %+v %v", l, err)
	}
	anon := db.Actor{IP: "198.51.100.7", Email: "launch page"}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-a")); err != nil {
		t.Fatal(err)
	}
	l, _ = f.s.LaunchByID(ctx, n.LaunchID)
	if l.NeedsMint || l.Token != "jwt.pw-a.sig" {
		t.Errorf("after mint: %+v", l)
	}

	// Within the token's life the token is reused; near its end a new one is needed.
	f.clk.t = f.clk.t.Add(30 * time.Minute)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.NeedsMint {
		t.Error("30 minutes in: wants a new mint")
	}
	f.clk.t = f.clk.t.Add(25 * time.Minute)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint {
		t.Error("55 minutes in: reuses a token about to expire")
	}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-b")); err != nil {
		t.Fatal(err)
	}
	// An "error" without the "open" Link fires first is not a Link error:
	// the token is reused.
	if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "error", []byte(`{"type":"platformError"}`)); err != nil {
		t.Fatal(err)
	}
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.NeedsMint || l.Token != "jwt.pw-b.sig" {
		t.Errorf("after a bare error: %+v", l)
	}
	// A Link error after opening ends the token: the next open mints again,
	// but not before the token is MinRemintAge old.
	for _, name := range []string{"open", "error"} {
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || l.State != db.LaunchLive || l.RetryAfter != db.MinRemintAge {
		t.Errorf("right after an error: %+v", l)
	}
	f.clk.t = f.clk.t.Add(db.MinRemintAge)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || l.RetryAfter != 0 || l.Minting {
		t.Errorf("after an error, MinRemintAge later: %+v", l)
	}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-c")); err != nil {
		t.Fatal(err)
	}

	// A webhook for any of the link's tokens counts.
	f.jobWebhook(t, "e-id", "identity", "pw-b", "error")
	f.clk.t = f.clk.t.Add(time.Minute)
	f.jobWebhook(t, "e-id2", "identity", "pw-c", "success")
	d, err := f.s.LinkByID(ctx, n.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Mints != 3 || d.LinkTokenID != "pw-c" || d.Lifecycle.State != db.StageSuccess {
		t.Errorf("mints %d current %s state %s", d.Mints, d.LinkTokenID, d.Lifecycle.State)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintedOnOpen})
	if len(rows) != 3 || rows[0].ActorID != 0 || rows[0].IP != "198.51.100.7" {
		t.Errorf("minted-on-open audit rows: %+v", rows)
	}

	t.Run("the next write forgets expired tokens", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(2 * time.Hour)
		if _, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMintOnOpen, "identity"), nil); err != nil {
			t.Fatal(err)
		}
		if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.Token != "" {
			t.Errorf("token still readable: %+v", l)
		}
	})
}

func TestStore_MintFailureAndOverrideAudit(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	err := f.s.RecordMintFailure(ctx, f.op, db.MintFailure{AccountID: f.account, Jobs: []string{"identity"}, Mode: db.ModeMinted,
		Reason: "why", Kind: "rate_limited", Status: 429, Type: "RATE_LIMIT_EXCEEDED"})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintFailed})
	if len(rows) != 1 || rows[0].TargetID != f.account || !strings.Contains(rows[0].Detail, `"status":429`) {
		t.Errorf("audit %+v", rows)
	}
	list, _, _ := f.s.ListLinks(ctx, db.LinkFilter{})
	if len(list) != 0 {
		t.Errorf("a failed mint left %d tokens", len(list))
	}

	n := f.newLink(t, db.ModeMinted)
	n.IdentityOverride = "called the customer"
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-o")); err != nil {
		t.Fatal(err)
	}
	rows, _, _ = f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionIdentityOverride})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, "called the customer") {
		t.Errorf("override audit %+v", rows)
	}
	if _, err := f.s.VerifyAuditChain(ctx); err != nil {
		t.Error(err)
	}
}

func TestStore_ClaimMint(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	anon := db.Actor{IP: "198.51.100.7", Email: "launch page"}
	n := f.newLink(t, db.ModeMintOnOpen, "identity")
	if _, err := f.s.CreateLink(ctx, f.op, n, nil); err != nil {
		t.Fatal(err)
	}
	claims := 0
	claim := func(t *testing.T) db.Launch {
		t.Helper()
		l, err := f.s.ClaimMint(ctx, anon, n.LaunchID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Claimed {
			claims++
		}
		return l
	}

	t.Run("concurrent claims: one wins, the others wait", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]db.Launch, 10)
		for i := range results {
			wg.Go(func() {
				l, err := f.s.ClaimMint(ctx, anon, n.LaunchID)
				if err != nil {
					t.Error(err)
				}
				results[i] = l
			})
		}
		wg.Wait()
		won, waiting := 0, 0
		for _, l := range results {
			switch {
			case l.Claimed:
				won++
			case l.Minting:
				waiting++
			}
		}
		if won != 1 || waiting != 9 {
			t.Fatalf("%d claims won, %d waiting; want 1 and 9", won, waiting)
		}
		claims++
		if l, _ := f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || !l.Minting {
			t.Errorf("while minting: %+v", l)
		}
		if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-1")); err != nil {
			t.Fatal(err)
		}
		if l := claim(t); l.Claimed || l.NeedsMint || l.Token != "jwt.pw-1.sig" {
			t.Errorf("after the mint: %+v", l)
		}
	})

	t.Run("a lease left behind runs out", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(55 * time.Minute) // the token is about to expire
		if l := claim(t); !l.Claimed {
			t.Fatalf("got %+v, want the claim", l)
		}
		f.clk.t = f.clk.t.Add(db.MintLease - time.Second)
		if l := claim(t); l.Claimed || !l.Minting {
			t.Errorf("within the lease: %+v", l)
		}
		f.clk.t = f.clk.t.Add(time.Second)
		if l := claim(t); !l.Claimed {
			t.Errorf("after the lease: %+v", l)
		}
	})

	t.Run("a failed mint holds off the next attempt", func(t *testing.T) {
		if err := f.s.RecordMintFailure(ctx, anon, db.MintFailure{AccountID: f.account, Mode: db.ModeMintOnOpen, Kind: "server_error", TokenID: n.TokenID}); err != nil {
			t.Fatal(err)
		}
		if l, _ := f.s.LaunchByID(ctx, n.LaunchID); l.Minting || l.RetryAfter != db.MintRetryDelay {
			t.Errorf("after a failure: %+v", l)
		}
		if l := claim(t); l.Claimed {
			t.Error("claimed during the retry delay")
		}
		f.clk.t = f.clk.t.Add(db.MintRetryDelay)
		if l := claim(t); !l.Claimed {
			t.Errorf("after the retry delay: %+v", l)
		}
	})

	t.Run("the budget closes the link, audited once", func(t *testing.T) {
		for claims < db.MaxMintsPerLink {
			f.clk.t = f.clk.t.Add(db.MintLease)
			if l := claim(t); !l.Claimed {
				t.Fatalf("claim %d: %+v", claims+1, l)
			}
		}
		f.clk.t = f.clk.t.Add(db.MintLease)
		for range 3 {
			if l := claim(t); l.Claimed || l.State != db.LaunchClosed || l.Link.ClosedReason != db.ClosedMintBudget {
				t.Fatalf("past the budget: %+v", l)
			}
		}
		if claims != db.MaxMintsPerLink {
			t.Errorf("%d claims, want %d", claims, db.MaxMintsPerLink)
		}
		rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenClosed})
		if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"reason":"mint_budget"`) {
			t.Errorf("closed audit rows: %+v", rows)
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "open", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("event on a closed link: got %v, want ErrLinkClosed", err)
		}
		d, _ := f.s.LinkByID(ctx, n.TokenID)
		if d.Lifecycle.State != db.StageExpired || d.Lifecycle.Launch != db.LaunchClosed || d.MintAttempts != db.MaxMintsPerLink {
			t.Errorf("lifecycle %+v, attempts %d", d.Lifecycle, d.MintAttempts)
		}
	})
}

func TestStore_CloseLink(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMintOnOpen)
	if _, err := f.s.CreateLink(ctx, f.op, n, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := f.s.CloseLink(ctx, db.Actor{Email: "launch page"}, n.TokenID, db.ClosedTargetArchived); err != nil {
			t.Fatal(err)
		}
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenClosed, TargetID: n.TokenID})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, db.ClosedTargetArchived) {
		t.Errorf("closed audit rows: %+v", rows)
	}
	l, err := f.s.LaunchByID(ctx, n.LaunchID)
	if err != nil || l.State != db.LaunchClosed || l.NeedsMint || l.Link.ClosedReason != db.ClosedTargetArchived {
		t.Errorf("launch %+v %v", l, err)
	}
	if l, _ := f.s.ClaimMint(ctx, db.Actor{}, n.LaunchID); l.Claimed {
		t.Error("a closed link was claimed")
	}
	if err := f.s.CheckLaunchEvents(ctx, n.LaunchID); !errors.Is(err, db.ErrLinkClosed) {
		t.Errorf("events: got %v, want ErrLinkClosed", err)
	}
}
