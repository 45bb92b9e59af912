package db

import (
	"math"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

func ptr[T any](v T) *T { return &v }

// ours is the organisation's one deposit account in these tests.
var testOurs = []ourAccount{{routing: "021000021", last4: "6789"}}

func row(typ string, amount int64, pct float64, masked, routing string) pinwheel.DDAllocation {
	a := pinwheel.DDAllocation{AllocationType: typ, MaskedAccountNumber: ptr(masked), RoutingNumber: ptr(routing), Currency: "USD"}
	switch typ {
	case pinwheel.AllocationAmount:
		a.Amount = ptr(amount)
	case pinwheel.AllocationPercentage:
		a.Percentage = ptr(pct)
	}
	return a
}

func TestLevelOf(t *testing.T) {
	elsewhere := row(pinwheel.AllocationRemainder, 0, 0, "••4321", "011000015")
	tests := []struct {
		name     string
		rows     []pinwheel.DDAllocation
		paycheck int64
		want     AllocationLevel
	}{
		{"nothing to us", []pinwheel.DDAllocation{elsewhere}, 200000, AllocationLevel{Kind: AllocNone, EstKnown: true}},
		{"an amount to us", []pinwheel.DDAllocation{row(pinwheel.AllocationAmount, 20000, 0, "••6789", "021000021"), elsewhere}, 0,
			AllocationLevel{Kind: AllocAmount, Cents: 20000, EstCents: 20000, EstKnown: true}},
		{"two-digit mask still matches", []pinwheel.DDAllocation{row(pinwheel.AllocationAmount, 5000, 0, "XX89", "021000021"), elsewhere}, 0,
			AllocationLevel{Kind: AllocAmount, Cents: 5000, EstCents: 5000, EstKnown: true}},
		{"same last four at another bank is not ours", []pinwheel.DDAllocation{row(pinwheel.AllocationAmount, 5000, 0, "••6789", "011000015"), elsewhere}, 0,
			AllocationLevel{Kind: AllocNone, EstKnown: true}},
		{"a percentage, priced", []pinwheel.DDAllocation{row(pinwheel.AllocationPercentage, 0, 25, "6789", "021000021"), elsewhere}, 200000,
			AllocationLevel{Kind: AllocPercentage, Pct: 25, EstCents: 50000, EstKnown: true}},
		{"a percentage without a paycheck", []pinwheel.DDAllocation{row(pinwheel.AllocationPercentage, 0, 25, "6789", "021000021"), elsewhere}, 0,
			AllocationLevel{Kind: AllocPercentage, Pct: 25}},
		{"the remainder after others' amount", []pinwheel.DDAllocation{row(pinwheel.AllocationAmount, 30000, 0, "••4321", "011000015"),
			row(pinwheel.AllocationRemainder, 0, 0, "••6789", "021000021")}, 200000,
			AllocationLevel{Kind: AllocRemainder, EstCents: 170000, EstKnown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LevelOf(&pinwheel.DDAllocations{Allocations: tt.rows}, testOurs, tt.paycheck)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := LevelOf(nil, testOurs, 0); got.Kind != AllocUnknown {
		t.Errorf("no snapshot: %+v", got)
	}
}

func TestCompareLevels(t *testing.T) {
	none := AllocationLevel{Kind: AllocNone, EstKnown: true}
	amt := func(c int64) AllocationLevel {
		return AllocationLevel{Kind: AllocAmount, Cents: c, EstCents: c, EstKnown: true}
	}
	pct := func(p float64) AllocationLevel { return AllocationLevel{Kind: AllocPercentage, Pct: p} }
	rem := AllocationLevel{Kind: AllocRemainder}
	tests := []struct {
		name      string
		base, cur AllocationLevel
		want      int
	}{
		{"none to an amount", none, amt(20000), 1},
		{"amount raised", amt(5000), amt(20000), 1},
		{"amount lowered", amt(20000), amt(5000), -1},
		{"amount unchanged", amt(5000), amt(5000), 0},
		{"amount baseline, percentage added", amt(5000), AllocationLevel{Kind: AllocPercentage, Cents: 5000, Pct: 10}, 1},
		{"percentage raised", pct(10), pct(20), 1},
		{"percentage dropped to none", pct(10), none, -1},
		{"remainder taken", amt(50000), rem, 1},
		{"remainder lost", rem, amt(50000), -1},
		{"remainder kept", rem, rem, 0},
		{"amount up, percentage down, unpriced: neither", AllocationLevel{Kind: AllocPercentage, Cents: 1000, Pct: 20}, AllocationLevel{Kind: AllocPercentage, Cents: 9000, Pct: 5}, 0},
		{"amount up, percentage down, priced: the estimate decides",
			AllocationLevel{Kind: AllocPercentage, Cents: 1000, Pct: 20, EstCents: 41000, EstKnown: true},
			AllocationLevel{Kind: AllocPercentage, Cents: 9000, Pct: 5, EstCents: 19000, EstKnown: true}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareLevels(tt.base, tt.cur); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPaycheckCents(t *testing.T) {
	tests := []struct {
		in   pinwheel.Income
		want int64
	}{
		{pinwheel.Income{CompensationAmount: 5200000, CompensationUnit: "annually", PayFrequency: ptr("bi-weekly")}, 200000},
		{pinwheel.Income{CompensationAmount: 2500, CompensationUnit: "hourly", PayFrequency: ptr("weekly")}, 100000},
		{pinwheel.Income{CompensationAmount: 2500, CompensationUnit: "hourly"}, 200000},
		{pinwheel.Income{CompensationAmount: 2500, CompensationUnit: "variable"}, 0},
	}
	for _, tt := range tests {
		if got := PaycheckCents(&tt.in); got != tt.want {
			t.Errorf("%+v: got %d, want %d", tt.in, got, tt.want)
		}
	}
}

// The funnel: stages imply the ones before; only the first time counts; an
// outcome implies the login; a success stays.
func TestStageMachine(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	m := memberState{Group: GroupTreatment, Goal: GoalAllocation, LinkCreatedAt: t0}
	if m.Stage() != MemberLinkCreated {
		t.Fatalf("stage %s", m.Stage())
	}
	m = advanceStage(m, trackLinkOpened, at(2))
	if m.PageOpenedAt != at(2) || m.LinkOpenedAt != at(2) || m.Stage() != MemberLinkOpened {
		t.Errorf("Link opened without a page view: %+v", m)
	}
	m = advanceStage(m, trackPageOpened, at(5))
	if m.PageOpenedAt != at(2) {
		t.Errorf("a second page view moved the first: %v", m.PageOpenedAt)
	}
	m = applyOutcome(m, pinwheel.OutcomePending, at(6))
	if m.LoggedInAt != at(6) || m.Stage() != MemberPending {
		t.Errorf("pending implies the login: %+v", m)
	}
	m = applyOutcome(m, pinwheel.OutcomeSuccess, at(7))
	if m.Stage() != MemberSuccess {
		t.Errorf("pending then success: %s", m.Stage())
	}
	m = applyOutcome(m, pinwheel.OutcomeError, at(8))
	if m.Stage() != MemberSuccess || m.OutcomeAt != at(7) {
		t.Errorf("a late error undid a success: %+v", m)
	}
	c := m.counts()
	for _, k := range []string{countLinkCreated, countPageOpened, countLinkOpened, countLoggedIn, countOutcome + MemberSuccess} {
		if c[k] != 1 {
			t.Errorf("count %s = %d", k, c[k])
		}
	}
	if c[countOutcome+MemberPending] != 0 {
		t.Error("the replaced pending still counts")
	}
	h := memberState{Group: GroupHoldout}
	if got := advanceStage(h, trackLinkOpened, at(1)); got != h || got.Stage() != MemberHoldout {
		t.Errorf("a holdout member moved: %+v", got)
	}
	w := memberState{Group: GroupTreatment}
	if got := applyOutcome(w, pinwheel.OutcomeSuccess, at(1)); got != w {
		t.Errorf("a member without a link moved: %+v", got)
	}
}

// The conversion table: amount, percentage and remainder baselines, a
// decrease, a stale baseline, snapshots out of order, and the incentive's
// hold period.
func TestJudgeSnapshot(t *testing.T) {
	launch := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return launch.Add(time.Duration(d) * 24 * time.Hour) }
	none := AllocationLevel{Kind: AllocNone, EstKnown: true}
	amt := func(c int64) AllocationLevel {
		return AllocationLevel{Kind: AllocAmount, Cents: c, EstCents: c, EstKnown: true}
	}
	pct := func(p float64, est int64) AllocationLevel {
		return AllocationLevel{Kind: AllocPercentage, Pct: p, EstCents: est, EstKnown: true}
	}
	rem := AllocationLevel{Kind: AllocRemainder, EstCents: 150000, EstKnown: true}
	member := func(base AllocationLevel) memberState {
		return memberState{Group: GroupTreatment, Goal: GoalAllocation, HoldDays: 30, Ask: AskMinimum, AskCents: 20000,
			FrozenAt: launch, Judged: true, Base: base}
	}
	alloc := FetchDDAllocations
	now := day(100)

	t.Run("amount baseline raised converts and starts the hold", func(t *testing.T) {
		m := judgeSnapshot(member(amt(5000)), alloc, amt(25000), day(2), now)
		if m.Result != ResultUp || m.ConvertedAt != day(2) || !m.DeltaKnown || m.Delta != 20000 {
			t.Fatalf("%+v", m)
		}
		if m.Ledger != LedgerHolding || m.HoldUntil != day(32) {
			t.Errorf("ledger %s until %v", m.Ledger, m.HoldUntil)
		}
	})
	t.Run("percentage baseline raised", func(t *testing.T) {
		m := judgeSnapshot(member(pct(5, 10000)), alloc, pct(20, 40000), day(1), now)
		if m.Result != ResultUp || m.Delta != 30000 || m.Ledger != LedgerHolding {
			t.Errorf("%+v", m)
		}
	})
	t.Run("remainder baseline cannot rise, and a fixed amount lowers it", func(t *testing.T) {
		m := judgeSnapshot(member(rem), alloc, rem, day(1), now)
		if m.Result != ResultSame || m.Ledger != "" {
			t.Errorf("same: %+v", m)
		}
		m = judgeSnapshot(m, alloc, amt(50000), day(2), now)
		if m.Result != ResultDown || m.Delta != -100000 {
			t.Errorf("down: %+v", m)
		}
	})
	t.Run("a decrease counts against", func(t *testing.T) {
		m := judgeSnapshot(member(amt(20000)), alloc, amt(5000), day(1), now)
		if m.Result != ResultDown || m.Delta != -15000 || m.Ledger != "" {
			t.Errorf("%+v", m)
		}
		c := m.counts()
		if c[countLowered] != 1 || c[countConverted] != 0 || c[countDeltaSum] != -15000 {
			t.Errorf("counts %v", c)
		}
	})
	t.Run("a stale baseline is not judged", func(t *testing.T) {
		s := member(none)
		s.Judged = false
		if m := judgeSnapshot(s, alloc, amt(50000), day(1), now); m != s {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a snapshot from before the launch changes nothing", func(t *testing.T) {
		s := member(none)
		if m := judgeSnapshot(s, alloc, amt(50000), launch.Add(-time.Hour), now); m != s {
			t.Errorf("%+v", m)
		}
	})
	t.Run("out of order: an older snapshot arriving later does not overwrite", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(5), now)
		m = judgeSnapshot(m, alloc, none, day(3), now)
		if m.Result != ResultUp || m.LastSnapAt != day(5) || m.Cur != amt(30000) {
			t.Errorf("%+v", m)
		}
	})
	t.Run("out of order: the older decrease inside the hold still claws back", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(2), now)
		m = judgeSnapshot(m, alloc, amt(40000), day(9), now)
		m = judgeSnapshot(m, alloc, amt(10000), day(5), now)
		if m.Ledger != LedgerClawback || m.ClawbackAt != day(5) || m.Result != ResultUp {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a decrease inside the hold claws back and un-converts", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(2), now)
		m = judgeSnapshot(m, alloc, none, day(10), now)
		if m.Ledger != LedgerClawback || m.Result != ResultSame || m.counts()[countConverted] != 0 {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a later snapshot at or above the level after the hold makes it eligible", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(2), now)
		m = judgeSnapshot(m, alloc, amt(30000), day(40), now)
		if m.Ledger != LedgerEligible || m.EligibleAt != now {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a decrease after the hold leaves the incentive", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(2), now)
		m = promoteHold(m, day(33))
		m = judgeSnapshot(m, alloc, none, day(40), now)
		if m.Ledger != LedgerEligible || m.Result != ResultSame {
			t.Errorf("%+v", m)
		}
	})
	t.Run("the hold period passing with no decrease", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(30000), day(2), now)
		if got := promoteHold(m, day(31)); got.Ledger != LedgerHolding {
			t.Errorf("early: %+v", got)
		}
		if got := promoteHold(m, day(32)); got.Ledger != LedgerEligible || got.EligibleAt != day(32) {
			t.Errorf("at the end: %+v", got)
		}
	})
	t.Run("below the ask converts without an incentive", func(t *testing.T) {
		m := judgeSnapshot(member(none), alloc, amt(5000), day(2), now)
		if m.Result != ResultUp || m.Ledger != LedgerNotQualified {
			t.Errorf("%+v", m)
		}
	})
	t.Run("no hold period: eligible at once", func(t *testing.T) {
		s := member(none)
		s.HoldDays = 0
		m := judgeSnapshot(s, alloc, amt(30000), day(2), now)
		if m.Ledger != LedgerEligible || m.EligibleAt != now {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a holdout member converts without a ledger", func(t *testing.T) {
		s := member(none)
		s.Group = GroupHoldout
		m := judgeSnapshot(s, alloc, amt(30000), day(2), now)
		if m.Result != ResultUp || m.Ledger != "" {
			t.Errorf("%+v", m)
		}
	})
	t.Run("an identity campaign converts on fresh identity data", func(t *testing.T) {
		s := member(AllocationLevel{Kind: AllocUnknown})
		s.Goal, s.Ask, s.AskCents = GoalIdentity, "", 0
		if m := judgeSnapshot(s, alloc, amt(30000), day(1), now); m != s {
			t.Errorf("allocations judged an identity campaign: %+v", m)
		}
		m := judgeSnapshot(s, FetchIdentity, AllocationLevel{}, day(1), now)
		if m.Result != ResultUp || m.Ledger != LedgerHolding {
			t.Errorf("%+v", m)
		}
	})
}

func TestHoldoutBucket(t *testing.T) {
	if HoldoutBucket("salt-a", "acct-1") != HoldoutBucket("salt-a", "acct-1") {
		t.Fatal("same salt and account, different buckets")
	}
	if HoldoutBucket("salt-a", "acct-1") == HoldoutBucket("salt-b", "acct-1") {
		t.Error("the salt does not change the bucket")
	}
	const n = 10000
	hold := 0
	for i := range n {
		b := HoldoutBucket("campaign-salt", "account-"+string(rune('a'+i%26))+itoaTest(i))
		if b < 0 || b >= 1 {
			t.Fatalf("bucket %v out of [0, 1)", b)
		}
		if b < 0.10 {
			hold++
		}
	}
	// 10% of 10,000: the standard deviation is 30, so ±1.5 points is five of them.
	if share := float64(hold) / n; math.Abs(share-0.10) > 0.015 {
		t.Errorf("holdout share %.4f, want 0.10 ± 0.015", share)
	}
}

func itoaTest(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoaTest(i/10) + digits[i%10:i%10+1]
}
