package views

import (
	"encoding/json"
	"strings"
	"testing"

	"linkdesk/db"
)

func TestMaskedJSON(t *testing.T) {
	identity := `{"data": {"full_name": "Ash Userton", "emails": ["user_good@example.com"], "date_of_birth": "1993-08-28", "last_four_ssn": "1234", "address": {"raw": "20429 Pinwheel Drive", "city": "New York City", "postal_code": 99999}, "phone_numbers": [{"value": "+12345556789", "type": null}], "note": "ssn 123-45-6789 on file"}}`
	allocations := `{"allocations": [{"account_name": "Checking", "masked_account_number": "53", "routing_number": "540622601", "amount": 50000, "account_number": 123456789}], "target": {"last_four_account_number": "6789"}}`
	cases := []struct {
		name, raw, role string
		want            []string // substrings that must appear
		not             []string // substrings that must not
	}{
		{"admin sees identity", identity, db.RoleAdmin,
			[]string{`"date_of_birth": "1993-08-28"`, `"user_good@example.com"`, `"last_four_ssn": "1234"`, `"postal_code": 99999`, `123-45-6789`}, nil},
		{"operator sees identity", identity, db.RoleOperator, []string{`"+12345556789"`}, nil},
		{"auditor gets identity masked", identity, db.RoleAuditor,
			[]string{`"date_of_birth": "•••"`, `"last_four_ssn": "•••"`, `"emails": [` + "\n      \"•••\"", `"postal_code": "•••"`, `"value": "•••"`, `"type": null`, `"full_name": "Ash Userton"`, `ssn •••-••-•••• on file`},
			[]string{"1993", "1234", "example.com", "Pinwheel Drive", "5556789", "6789"}},
		{"account numbers masked for admin", allocations, db.RoleAdmin,
			[]string{`"masked_account_number": "••53"`, `"account_number": "••6789"`, `"last_four_account_number": "••6789"`, `"routing_number": "540622601"`, `"amount": 50000`},
			[]string{"123456789"}},
		{"auditor: routing number too", allocations, db.RoleAuditor,
			[]string{`"routing_number": "•••"`, `"account_number": "••6789"`}, []string{"540622601", "123456789"}},
		{"key order and nesting kept", `{"b": 1, "a": [true, {"z": null}], "c": {}}`, db.RoleAdmin,
			[]string{"{\n  \"b\": 1,\n  \"a\": [\n    true,\n    {\n      \"z\": null\n    }\n  ],\n  \"c\": {}\n}"}, nil},
		{"html is text", `{"x": "<script>"}`, db.RoleAdmin, []string{`"x": "<script>"`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := MaskedJSON([]byte(c.raw), c.role)
			if !ok {
				t.Fatalf("not ok: %s", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in\n%s", w, got)
				}
			}
			for _, n := range c.not {
				if strings.Contains(got, n) {
					t.Errorf("leaks %q in\n%s", n, got)
				}
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("output is not JSON:\n%s", got)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"a": 1} {"b": 2}`, "not json"} {
		if got, ok := MaskedJSON([]byte(bad), db.RoleAdmin); ok {
			t.Errorf("MaskedJSON(%q) ok: %s", bad, got)
		}
	}
}

func TestMaskAccountNumber(t *testing.T) {
	for in, want := range map[string]string{"123456789": "••6789", "53": "••53", "": "••", "12-34 5678": "••5678", "••6789": "••6789"} {
		if got := MaskAccountNumber(in); got != want {
			t.Errorf("MaskAccountNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

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
			"Direct deposit switch succeeded: partial, $150.00 to Checking ••6789"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success",
			`{"action": "partial_switch", "allocation": {"type": "percentage", "value": 20, "target": {"account_name": "", "account_type": "savings"}}}`),
			"Direct deposit switch succeeded: partial, 20% to Savings"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success",
			`{"action": "full_switch", "allocation": {"type": "remainder", "target": {"account_name": "Neobank", "account_type": "checking"}}}`),
			"Direct deposit switch succeeded: full switch to Neobank"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "success", `{"card_name": "Visa"}`),
			"Direct deposit switch succeeded: to card Visa"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "error", `{}`),
			"Direct deposit switch failed: system error (platformUnavailable)"},
		{"direct_deposit_switch.added", job("direct_deposit_switch.added", "direct_deposit_switch", "pending", `{}`), "Direct deposit switch pending"},
		{"identity.added", job("identity.added", "identity", "success", `{}`), "Identity data added"},
		{"income.added", job("income.added", "income", "error", `{}`), "Income job failed: system error (platformUnavailable)"},
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
