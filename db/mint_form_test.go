package db_test

import (
	"reflect"
	"strings"
	"testing"

	"linkdesk/db"
)

func TestParseDollars(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"150", 15000, false},
		{"150.5", 15050, false},
		{"150.05", 15005, false},
		{"$1,500.00", 150000, false},
		{" 0.01 ", 1, false},
		{"0", 0, false},
		{"1,50", 0, true},
		{"150.001", 0, true},
		{"-5", 0, true},
		{"abc", 0, true},
		{"", 0, true},
		{"1e3", 0, true},
	} {
		got, err := db.ParseDollars(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseDollars(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func oduContext() db.ODUContext {
	return db.ODUContext{
		Preflight: db.Preflight{AccountID: "acc-1", EndUserID: "user-1", PlatformID: "plat-1", PlatformName: "Workday",
			ConnectedKnown: true, Connected: true, MonitoringStatus: "active"},
		Platform: db.PlatformCaps{ID: "plat-1", Name: "Workday", Known: true,
			SupportedJobs: []string{"identity", "income", "employment", "paystubs", "direct_deposit_allocations", "direct_deposit_switch"}},
		DepositAccounts: []db.DepositAccount{
			{ID: 1, Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", Last4: "6789", Active: true},
			{ID: 2, Name: "Old Savings", Type: "savings", RoutingNumber: "021000021", Last4: "1111", Active: false},
		},
	}
}

func TestValidateODU(t *testing.T) {
	good := db.ODURequest{Jobs: []string{"direct_deposit_switch"}, TargetIDs: []string{"1"}, AllocationMode: "amount",
		Amount: "150", Language: "en", Reason: "customer asked"}
	for _, tc := range []struct {
		name  string
		edit  func(*db.ODURequest, *db.ODUContext)
		field string // "" means valid
		check func(*testing.T, db.NewLink)
	}{
		{name: "valid switch", check: func(t *testing.T, n db.NewLink) {
			want := &db.LinkAllocation{Type: "amount", AmountCents: 15000, Targets: []db.LinkTarget{
				{DepositAccountID: 1, Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", Last4: "6789"}}}
			if !reflect.DeepEqual(n.Allocation, want) {
				t.Errorf("allocation %+v, want %+v", n.Allocation, want)
			}
			if n.AccountID != "acc-1" || n.EndUserID != "user-1" || n.Reason != "customer asked" {
				t.Errorf("got %+v", n)
			}
		}},
		{name: "user chooses with minimum", edit: func(r *db.ODURequest, _ *db.ODUContext) {
			r.AllocationMode, r.Amount, r.MinAmount = "user", "", "$25.50"
		}, check: func(t *testing.T, n db.NewLink) {
			if n.Allocation.Type != "" || n.Allocation.MinAmountCents != 2550 {
				t.Errorf("allocation %+v", n.Allocation)
			}
		}},
		{name: "data jobs keep form order and have no allocation", edit: func(r *db.ODURequest, _ *db.ODUContext) {
			r.Jobs, r.TargetIDs = []string{"paystubs", "identity"}, nil
		}, check: func(t *testing.T, n db.NewLink) {
			if !reflect.DeepEqual(n.Jobs, []string{"identity", "paystubs"}) || n.Allocation != nil {
				t.Errorf("jobs %v allocation %+v", n.Jobs, n.Allocation)
			}
		}},
		{name: "no jobs", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Jobs = nil }, field: "jobs"},
		{name: "unknown job", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Jobs = append(r.Jobs, "bill_switch") }, field: "jobs"},
		{name: "unsupported by platform", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Platform.SupportedJobs = []string{"identity"}
		}, field: "jobs"},
		{name: "capabilities unknown do not block", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Platform = db.PlatformCaps{}
		}},
		{name: "reason required", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Reason = "  " }, field: "reason"},
		{name: "reason too long", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Reason = strings.Repeat("x", 501) }, field: "reason"},
		{name: "amount zero", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "0" }, field: "amount"},
		{name: "amount negative", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "-3" }, field: "amount"},
		{name: "amount missing", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "" }, field: "amount"},
		{name: "amount garbage", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "lots" }, field: "amount"},
		{name: "amount huge", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "2000000" }, field: "amount"},
		{name: "minimum above amount", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.MinAmount = "200" }, field: "min_amount"},
		{name: "minimum zero", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.MinAmount = "0" }, field: "min_amount"},
		{name: "no target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = nil }, field: "targets"},
		{name: "archived target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = []string{"2"} }, field: "targets"},
		{name: "unknown target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = []string{"99"} }, field: "targets"},
		{name: "bad routing number on file", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.DepositAccounts[0].RoutingNumber = "021000022"
		}, field: "targets"},
		{name: "bad language", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Language = "fr" }, field: "language"},
		{name: "bad allocation mode", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.AllocationMode = "percent" }, field: "allocation_mode"},
		{name: "disconnected is blocked", edit: func(_ *db.ODURequest, c *db.ODUContext) { c.Preflight.Connected = false }, field: "_form"},
		{name: "user_action_required is allowed", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Preflight.MonitoringStatus = "user_action_required"
		}},
		{name: "mismatch needs override", edit: func(_ *db.ODURequest, c *db.ODUContext) { c.IdentityResult = db.VerdictMismatch }, field: "override_identity"},
		{name: "override needs a reason", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.OverrideIdentity = db.VerdictMismatch, true
		}, field: "override_reason"},
		{name: "override with reason", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.OverrideIdentity, r.OverrideReason = db.VerdictMismatch, true, " verified by phone "
		}, check: func(t *testing.T, n db.NewLink) {
			if n.IdentityOverride != "verified by phone" {
				t.Errorf("override %q", n.IdentityOverride)
			}
		}},
		{name: "mismatch does not block data jobs", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.Jobs, r.TargetIDs = db.VerdictMismatch, []string{"identity"}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, cx := good, oduContext()
			in.Jobs = append([]string(nil), good.Jobs...)
			if tc.edit != nil {
				tc.edit(&in, &cx)
			}
			n, fe := db.ValidateODU(in, cx)
			switch {
			case tc.field == "" && fe != nil:
				t.Fatalf("got errors %v, want none", fe)
			case tc.field != "" && fe[tc.field] == "":
				t.Fatalf("got errors %v, want one on %s", fe, tc.field)
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}
