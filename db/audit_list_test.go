package db_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"linkdesk/db"
)

// auditFixture is a store with accounts and a small trail: two staff
// members (Olga Petrova, Ann Lee) signing in, revealing, exporting, on
// three days.
type auditFixture struct {
	*browseFixture
	olga, ann db.Actor
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	f := newBrowseFixture(t)
	ctx := context.Background()
	seedAccounts(t, f, f.clk.t.Add(-40*24*time.Hour))
	af := &auditFixture{browseFixture: f}
	for _, p := range []struct {
		dst         *db.Actor
		email, name string
	}{{&af.olga, "olga@example.com", "Olga Petrova"}, {&af.ann, "ann@example.com", "Ann Lee"}} {
		st, err := f.s.CreateStaff(ctx, admin, db.StaffCreate{Email: p.email, Name: p.name, Role: db.RoleAuditor, Password: "long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = db.Actor{StaffID: st.ID, Email: st.Email, IP: "10.0.0.9", UserAgent: "test"}
	}
	// Day 1 (2026-12-01): Olga reveals acc-1; Ann signs out.
	f.clk.t = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	must(t, f.s.RevealPII(ctx, af.olga, "acc-1", []string{db.PIISSNLastFour}, "customer called"))
	must(t, f.s.SignOut(ctx, af.ann))
	// Day 2: Ann reveals acc-2 (no reason), Olga reveals acc-3.
	f.clk.t = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	must(t, f.s.RevealPII(ctx, af.ann, "acc-2", []string{db.PIIDateOfBirth}, ""))
	must(t, f.s.RevealPII(ctx, af.olga, "acc-3", []string{db.PIIDateOfBirth}, "dispute"))
	// Day 3: Olga signs out.
	f.clk.t = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	must(t, f.s.SignOut(ctx, af.olga))
	return af
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func actions(rows []db.AuditEntry) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Action+":"+r.ActorEmail+":"+r.TargetID)
	}
	return out
}

func TestStore_SearchAudit(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	olgaReveals := []string{"account.pii_revealed:olga@example.com:acc-3", "account.pii_revealed:olga@example.com:acc-1"}
	cases := []struct {
		name  string
		f     db.AuditFilter
		want  []string
		count int64
	}{
		{"actor", db.AuditFilter{Actors: []string{"olga@example.com"}}, append([]string{"staff.sign_out:olga@example.com:" + itoa64(f.olga.StaffID)}, olgaReveals...), 3},
		{"actor and action", db.AuditFilter{Actors: []string{"olga@example.com"}, Action: db.ActionPIIRevealed}, olgaReveals, 2},
		{"two actors, a group", db.AuditFilter{Actors: []string{"olga@example.com", "ann@example.com"}, Actions: db.ActionsOfGroup(db.GroupPII)},
			[]string{"account.pii_revealed:olga@example.com:acc-3", "account.pii_revealed:ann@example.com:acc-2", "account.pii_revealed:olga@example.com:acc-1"}, 3},
		{"target", db.AuditFilter{TargetType: "account", TargetID: "acc-2"}, []string{"account.pii_revealed:ann@example.com:acc-2"}, 1},
		{"target and action", db.AuditFilter{TargetType: "account", TargetID: "acc-1", Action: db.ActionPIIRevealed}, []string{"account.pii_revealed:olga@example.com:acc-1"}, 1},
		{"target type", db.AuditFilter{TargetType: "account", Actors: []string{"ann@example.com"}}, []string{"account.pii_revealed:ann@example.com:acc-2"}, 1},
		{"time range", db.AuditFilter{From: day("2026-12-02"), To: day("2026-12-03"), Actions: db.ActionsOfGroup(db.GroupPII)},
			[]string{"account.pii_revealed:olga@example.com:acc-3", "account.pii_revealed:ann@example.com:acc-2"}, 2},
		{"empty time range", db.AuditFilter{From: day("2027-01-01")}, nil, 0},
		{"nobody", db.AuditFilter{Actors: []string{}}, nil, 0},
		{"unknown target", db.AuditFilter{TargetType: "account", TargetID: "no-such"}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.s.SearchAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := actions(p.Rows); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			if p.Count != tc.count || p.CountCapped {
				t.Errorf("count %d (capped %v), want %d", p.Count, p.CountCapped, tc.count)
			}
		})
	}

	t.Run("keyset pages", func(t *testing.T) {
		all, _ := f.s.SearchAudit(ctx, db.AuditFilter{})
		var seen []int64
		before := int64(0)
		for {
			p, err := f.s.SearchAudit(ctx, db.AuditFilter{Limit: 2, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if p.Count != all.Count {
				t.Errorf("count on a later page %d, want %d", p.Count, all.Count)
			}
			for _, r := range p.Rows {
				seen = append(seen, r.ID)
			}
			if !p.More {
				break
			}
			before = p.Rows[len(p.Rows)-1].ID
		}
		if int64(len(seen)) != all.Count || !slices.IsSortedFunc(seen, func(a, b int64) int { return int(b - a) }) {
			t.Errorf("pages gave %v, want %d rows newest first", seen, all.Count)
		}
	})

	t.Run("names", func(t *testing.T) {
		p, _ := f.s.SearchAudit(ctx, db.AuditFilter{Actors: []string{"olga@example.com"}, Limit: 1})
		if p.Rows[0].ActorName != "Olga Petrova" {
			t.Errorf("actor name %q", p.Rows[0].ActorName)
		}
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func TestStore_ResolveActors(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		term string
		want []string
	}{
		{"olga", []string{"olga@example.com"}},
		{"Olga", []string{"olga@example.com"}},
		{"petrova", []string{"olga@example.com"}},
		{"Olga Petrova", []string{"olga@example.com"}},
		{"ann@example.com", []string{"ann@example.com"}},
		{"system", []string{"system"}},
		{"nobody", []string{}},
	} {
		got, err := f.s.ResolveActors(ctx, tc.term)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q → %v, want %v", tc.term, got, tc.want)
		}
	}
}

func TestStore_ResolveActions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"pii.*", db.ActionsOfGroup(db.GroupPII)},
		{"pii", db.ActionsOfGroup(db.GroupPII)},
		{"staff.sign_in", []string{"staff.sign_in"}},
		{"link_token.*", []string{db.ActionIdentityOverride, db.ActionLinkTokenClosed, db.ActionLinkTokenCreated, db.ActionLinkTokenMintFailed,
			db.ActionLinkTokenMintUnrecorded, db.ActionLinkTokenMinted, db.ActionLinkTokenMintedOnOpen, db.ActionLinkTokenRevoked}},
		{"no.such", []string{"no.such"}},
	} {
		got, err := s.ResolveActions(ctx, tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q → %v, want %v", tc.pattern, got, want)
		}
	}
}

func TestStore_Reveals(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	r, err := f.s.Reveals(ctx, db.RevealQuery{From: day("2026-12-01"), To: day("2026-12-03")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 3 || len(r.People) != 2 || r.People[0].ActorEmail != "olga@example.com" || r.People[0].Reveals != 2 || r.People[0].Accounts != 2 ||
		r.People[1].WithoutReason != 1 {
		t.Fatalf("people %+v (total %d)", r.People, r.Total)
	}
	// Who revealed eu-1's data (acc-1 and acc-2), and why.
	r, err = f.s.Reveals(ctx, db.RevealQuery{EndUserID: "eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2 || r.Rows[1].Reason != "customer called" || r.Rows[1].EndUserID != "eu-1" || r.Rows[0].ActorName != "Ann Lee" {
		t.Fatalf("rows %+v", r.Rows)
	}
}

func TestStore_WhoSaw(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	// An events export of everything includes acc-1; one filtered to
	// acc-3 does not.
	f.clk.t = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	_, err := f.s.ExportEvents(ctx, f.ann, db.EventQuery{}, "csv", false, func(db.ExportRow) error { return nil })
	must(t, err)
	_, err = f.s.ExportEvents(ctx, f.ann, db.EventQuery{AccountID: "acc-3"}, "csv", false, func(db.ExportRow) error { return nil })
	must(t, err)
	ev, err := f.s.StartEvidence(ctx, f.olga, db.SubjectEndUser, "eu-1")
	must(t, err)
	_ = ev

	saw, _, err := f.s.WhoSaw(ctx, db.WhoSawQuery{AccountID: "acc-1"})
	must(t, err)
	var kinds []string
	for _, s := range saw {
		kinds = append(kinds, s.Kind+":"+s.ActorEmail)
	}
	want := []string{"evidence:olga@example.com", "export:ann@example.com", "reveal:olga@example.com"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("who saw acc-1: %v, want %v", kinds, want)
	}
	if saw[2].Reason != "customer called" || saw[2].Fields[0] != db.PIISSNLastFour {
		t.Errorf("the reveal: %+v", saw[2])
	}
	saw, _, err = f.s.WhoSaw(ctx, db.WhoSawQuery{AccountID: "acc-3"})
	must(t, err)
	kinds = nil
	for _, s := range saw {
		kinds = append(kinds, s.Kind+":"+s.ActorEmail)
	}
	want = []string{"export:ann@example.com", "export:ann@example.com", "reveal:olga@example.com"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("who saw acc-3: %v, want %v", kinds, want)
	}
}
