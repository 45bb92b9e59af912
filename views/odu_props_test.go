package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"linkdesk/db"
	"linkdesk/views"
)

func TestLaunchAsk(t *testing.T) {
	target := []db.LinkTarget{{Name: "Payroll Checking", Last4: "6789"}}
	two := append(target, db.LinkTarget{Name: "Rainy Day", Last4: "1111"})
	for _, tc := range []struct {
		name string
		link db.Link
		want string
	}{
		{"fixed amount", db.Link{Jobs: []string{"direct_deposit_switch"}, Allocation: &db.LinkAllocation{Type: "amount", AmountCents: 15000, Targets: target}},
			"Acme would like you to update your direct deposit: $150.00 to Payroll Checking ••6789."},
		{"user chooses, minimum, two targets", db.Link{Jobs: []string{"direct_deposit_switch"}, Allocation: &db.LinkAllocation{MinAmountCents: 5000, Targets: two}},
			"Acme would like you to update your direct deposit: an amount you choose (at least $50.00) to Payroll Checking ••6789 or Rainy Day ••1111."},
		{"identity", db.Link{Jobs: []string{"identity"}}, "Acme would like you to confirm your identity."},
		{"data jobs", db.Link{Jobs: []string{"identity", "income", "employment", "paystubs"}}, "Acme would like you to confirm your identity and share your income, employment details and paystubs."},
		{"switch and identity", db.Link{Jobs: []string{"identity", "direct_deposit_switch"}, Allocation: &db.LinkAllocation{Type: "amount", AmountCents: 100, Targets: target}},
			"Acme would like you to update your direct deposit: $1.00 to Payroll Checking ••6789, and confirm your identity."},
	} {
		if got := views.LaunchAsk("Acme", tc.link); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAllocationText(t *testing.T) {
	a := &db.LinkAllocation{Type: "amount", AmountCents: 123456, MinAmountCents: 100, Targets: []db.LinkTarget{{Name: "Checking", Last4: "0001"}}}
	if got, want := views.AllocationText(a), "$1,234.56 per paycheck, at least $1.00 to Checking ••0001"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if views.AllocationText(nil) != "—" {
		t.Error("nil allocation")
	}
}

func TestAccountTokens(t *testing.T) {
	op := &db.Staff{ID: 2, Role: db.RoleOperator}
	list := []db.LinkSummary{{Link: db.Link{TokenID: "0123456789abcdef", AccountID: "acc", Jobs: []string{"identity"}, Mode: db.ModeMinted},
		Lifecycle: db.Lifecycle{State: db.StageSuccess}}}
	for _, tc := range []struct {
		staff      *db.Staff
		list       []db.LinkSummary
		want, deny []string
	}{
		{op, list, []string{`href="/accounts/acc/update"`, `href="/tokens/0123456789abcdef"`, `data-state="success"`}, nil},
		{&db.Staff{Role: db.RoleAuditor}, nil, []string{"No token was minted"}, []string{"/update"}},
	} {
		var buf bytes.Buffer
		if err := views.AccountTokens(views.Page{Staff: tc.staff}, "acc", tc.list).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: lacks %s", tc.staff.Role, w)
			}
		}
		for _, d := range tc.deny {
			if strings.Contains(buf.String(), d) {
				t.Errorf("%s: shows %s", tc.staff.Role, d)
			}
		}
	}
}

func TestODUPaths_Escape(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{views.ODUPath("acct/1 50%"), "/accounts/acct%2F1%2050%25/update"},
		{views.ODUPath(".."), "/accounts/%2E./update"},
		{views.AccountTokensPath("a&b=c d#"), "/tokens?account=a%26b%3Dc+d%23"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
