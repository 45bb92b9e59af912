package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"linkdesk/db"
)

// TestReconnect_ReturnCountsInAnyOrder: a member whose account comes back to
// active after its link counts as returned whatever order Linkdesk learns
// it in: the monitoring update (whose time is Pinwheel's X-Timestamp, whole
// seconds) before or after the account fetch of the earlier status, within
// the second the link was made, or from a Pinwheel clock a little behind
// ours; and, its link opened before, as returned through the link. An
// account that came back before its link was made never counts.
// (Migration 052's trigger compared the update's time with linked_at and
// missed the first and third cases: TestBrowser_AccountHealth under load.)
func TestReconnect_ReturnCountsInAnyOrder(t *testing.T) {
	const (
		fetchFirst   = "fetch of the earlier status first"
		webhookFirst = "monitoring update first, sent in the second of the link"
		clockBehind  = "monitoring update first, Pinwheel's clock 3 s behind"
		beforeLink   = "active again before the link was made"
	)
	for _, order := range []string{fetchFirst, webhookFirst, clockBehind, beforeLink} {
		t.Run(order, func(t *testing.T) {
			ctx := context.Background()
			s, clk := newStore(t)
			g := runIngester(t, s, db.IngestOptions{})
			start := clk.t
			at := func(d time.Duration) { clk.t = start.Add(d) }
			op, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "olga@example.com", Name: "Olga", Role: db.RoleOperator, Password: "operator password 1"})
			if err != nil {
				t.Fatal(err)
			}
			actor := db.Actor{StaffID: op.ID, Email: op.Email}

			ingest(t, g, accountAddedBody("e-added", "acc-1", "eu-1", "tok-1", start.Format(time.RFC3339Nano), "active", true), start)
			at(time.Second)
			ingest(t, g, statusBody("e-uar", "acc-1", "eu-1", "user_action_required", true), clk.t)
			if order == fetchFirst {
				at(2 * time.Second)
				fetchAccount(t, s, "user_action_required")
			}

			at(4 * time.Second)
			b, err := s.CreateReconnectBatch(ctx, actor, db.ReconnectRequest{AccountIDs: []string{"acc-1"}, Jobs: []string{"identity"}, Language: "en", Reason: "monitoring needs the user"})
			if err != nil {
				t.Fatal(err)
			}
			_, a, cands, err := s.ReconnectCandidates(ctx, b.ID, 10)
			if err != nil || len(cands) != 1 {
				t.Fatalf("candidates %+v %v", cands, err)
			}
			if order == beforeLink { // between the candidates and their links
				ingest(t, g, statusBody("e-active", "acc-1", "eu-1", "active", true), start.Add(4*time.Second))
			}
			at(5*time.Second + 300*time.Millisecond)
			tok, launch := db.NewLinkIDs()
			link := db.NewLink{TokenID: tok, LaunchID: launch, Mode: db.ModeMintOnOpen, AccountID: "acc-1", EndUserID: "eu-1", PlatformID: "plat-1",
				Jobs: []string{"identity"}, Language: "en", Reason: "monitoring needs the user", APIVersion: "2025-07-08", LinkExpiresAt: clk.t.Add(24 * time.Hour)}
			if _, err := s.AddReconnectLinks(ctx, a, b.ID, []db.ReconnectOutcome{{Seq: cands[0].Seq, Link: &link}}); err != nil {
				t.Fatal(err)
			}

			// The user opens the link (its token is minted) and logs in
			// again: Pinwheel sends the update (X-Timestamp in whole
			// seconds); its fetch follows.
			at(5*time.Second + 500*time.Millisecond)
			if err := s.AddMint(ctx, db.Actor{Email: "launch page"}, tok, db.MintResult{LinkTokenID: "ptok-1", Token: "secret-token",
				ExpiresAt: clk.t.Add(time.Hour), APIVersion: "2025-07-08"}); err != nil {
				t.Fatal(err)
			}
			at(5*time.Second + 800*time.Millisecond)
			switch order {
			case fetchFirst, webhookFirst:
				ingest(t, g, statusBody("e-active", "acc-1", "eu-1", "active", true), start.Add(5*time.Second))
			case clockBehind:
				ingest(t, g, statusBody("e-active", "acc-1", "eu-1", "active", true), start.Add(2*time.Second+300*time.Millisecond))
			}
			at(7 * time.Second)
			fetchAccount(t, s, "active")

			want := 1
			if order == beforeLink {
				want = 0
			}
			tr, err := s.ReconnectTrackingOf(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, err = s.ReconnectBatchByID(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			ms, _, err := s.ReconnectMembers(ctx, b.ID, 0, 10)
			if err != nil || len(ms) != 1 {
				t.Fatalf("members %+v %v", ms, err)
			}
			m := ms[0]
			if tr.Returned != want || b.Returned != want || tr.ThroughLink != want || m.StatusNow != "active" {
				t.Fatalf("returned: tracking %d (%d through the link), batch %d, want %d (member %+v)", tr.Returned, tr.ThroughLink, b.Returned, want, m)
			}
			if want == 1 && (m.ReturnedAt.Before(m.LinkedAt) || m.TookToReturn() < 0) {
				t.Errorf("returned at %v, before its link at %v", m.ReturnedAt, m.LinkedAt)
			}
		})
	}
}

// fetchAccount runs the queued account fetch (GET /accounts/{id}) of acc-1,
// whose answer says status.
func fetchAccount(t *testing.T, s *db.Store, status string) {
	t.Helper()
	ctx := context.Background()
	jobs, err := s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchAccount)}, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("account fetches %+v %v", jobs, err)
	}
	body := fmt.Appendf(nil, `{"id": "acc-1", "monitoring_status": %q, "connected": true}`, status)
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: jobs[0], Effect: db.SnapshotFetched{Body: body}}}); err != nil {
		t.Fatal(err)
	}
}
