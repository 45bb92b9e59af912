package views

import (
	"testing"

	"linkdesk/db"
)

func TestEventSummary(t *testing.T) {
	job := func(event, name, outcome, params string) string {
		return `{"event_id": "e", "event": "` + event + `", "payload": {"name": "` + name + `", "outcome": "` + outcome + `", "error_type": ` +
			map[bool]string{true: `"system_error"`, false: "null"}[outcome == "error"] + `, "error_code": ` +
			map[bool]string{true: `"platformUnavailable"`, false: "null"}[outcome == "error"] + `, "params": ` + params + `}}`
	}
	cases := []struct {
		event, body, want string
	}{
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success",
			`{"action": "partial_switch", "allocation": {"type": "amount", "value": 150, "target": {"account_name": "Checking", "account_type": "checking", "last_four_account_number": "6789"}}}`),
			"Direct deposit switch succeeded: $150.00 of each paycheck to Checking ••6789"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success",
			`{"action": "partial_switch", "allocation": {"type": "percentage", "value": 20, "target": {"account_name": "", "account_type": "savings"}}}`),
			"Direct deposit switch succeeded: 20% of each paycheck to Savings"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success",
			`{"action": "full_switch", "allocation": {"type": "remainder", "target": {"account_name": "Neobank", "account_type": "checking"}}}`),
			"Direct deposit switch succeeded: all of each paycheck to Neobank"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success", `{"card_name": "Visa"}`),
			"Direct deposit switch succeeded: to card Visa"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "error", `{}`),
			"Direct deposit switch failed: the payroll platform was unavailable"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "pending", `{}`), "Direct deposit switch pending"},
		{"identity.added", job("identity.added", "identity", "success", `{}`), "Identity data added"},
		{"income.added", job("income.added", "income", "error", `{}`), "Income job failed: the payroll platform was unavailable"},
		{"paystubs.added", job("paystubs.added", "paystubs", "success", `{"count": 27, "sync_status": "complete"}`), "27 paystubs added (sync complete)"},
		{"shifts.added", job("shifts.added", "shifts", "success", `{"count": 1, "sync_status": "in_progress"}`), "1 shift added (sync in progress)"},
		{"direct_deposit_allocations.added", job("direct_deposit_allocations.added", "direct_deposit_allocations", "success", `{}`), "Direct deposit allocations updated"},
		{"paystubs.fully_synced", job("paystubs.fully_synced", "paystubs", "success", `{"count": 27}`), "Paystubs: fully synced"},
		{"paystubs.thirty_days_synced", job("paystubs.thirty_days_synced", "paystubs", "success", `{}`), "Paystubs: thirty days synced"},
		{"account.added", `{"event_id": "e", "event": "account.added", "payload": {"platform_name": "Workday", "connected": true, "monitoring_status": "active"}}`,
			"Account connected on Workday; monitoring active"},
		{"account.monitoring_status.updated", `{"event_id": "e", "event": "account.monitoring_status.updated", "payload": {"connected": false, "monitoring_status": "user_action_required"}}`,
			"Monitoring status is now user action required; account disconnected"},
		{"bill.added", `{"event_id": "e", "event": "bill.added", "payload": {"id": "b"}}`, "Bill added"},
		{"identity.added", `not json`, "Identity added (payload not readable)"},
	}
	for _, c := range cases {
		if got := EventSummary(c.event, c.body); got != c.want {
			t.Errorf("%s: got %q, want %q", c.event, got, c.want)
		}
	}
}

func TestStaffSummary(t *testing.T) {
	if got, want := StaffSummary(db.ActionPIIRevealed, "a@x", `{"fields":["date_of_birth","last_four_ssn"]}`), "Revealed date of birth and SSN last four (a@x)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := StaffSummary("something.new", "", `{}`), "Something new"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPaths(t *testing.T) {
	for in, want := range map[string]string{
		AccountPath("934f6406-c332"): "/accounts/934f6406-c332",
		EndUserPath("my user/1"):     "/end-users/my%20user%2F1",
		EndUserPath(".."):            "/end-users/%2E.",
		EventPath("rejected"):        "/events/%72ejected",
		EventPath("b331e9ed"):        "/events/b331e9ed",
	} {
		if in != want {
			t.Errorf("got %q, want %q", in, want)
		}
	}
}
