package sandbox

import (
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The bodies below are real sandbox deliveries (docs/pinwheel.md#event-payloads),
// byte for byte; the emulator must reproduce them exactly.
func TestWebhookBodies_MatchRecordedDeliveries(t *testing.T) {
	const (
		tokenID = "a63c75ef-3e91-4fff-8147-78cf7efeddd2"
		accID   = "934f6406-c332-4c05-a3e8-6a90765c842d"
		endUser = "6a927ef1-6c91-43c9-abbe-6728dc8ef877"
	)
	a := &account{ID: accID, EndUserID: endUser, PlatformID: workdayID, Connected: true,
		MonitoringStatus: "active", CreatedAt: ts("2025-06-24T22:04:33.547314Z")}
	added := accountEvent(pinwheel.EventAccountAdded, a, tokenID)
	added.ID = "ec61a8b1-af27-4904-87e8-e5e2dbe25197"

	identity := jobRun{ID: "5fd6446d-1739-4686-a454-f60a6ad65864", Name: "identity",
		Time: ts("2025-06-24T22:04:34.383896Z"), Outcome: "success", LinkTokenID: tokenID, AccountID: accID,
		EndUserID: endUser}.event(pinwheel.EventIdentityAdded)
	identity.ID = "b331e9ed-a273-48fa-8f5f-ec476870f8f4"

	stubs := jobRun{ID: "ff3a851d-ccf6-442d-b144-e55545280e2a", Name: "paystubs",
		Time: ts("2025-06-24T22:04:35.048975Z"), Outcome: "success", LinkTokenID: tokenID, AccountID: accID,
		EndUserID: endUser, Added: []string{"c80ed2d6-a0fe-4b63-8c92-92414cea9b37"},
		Params: func(string) obj {
			return obj{{"count", 1}, {"from_pay_date", "2025-06-24"}, {"to_pay_date", "2025-06-24"}, {"sync_status", "in_progress"}}
		}}.event(pinwheel.EventPaystubsAdded)
	stubs.ID = "3cfe63ad-c0fd-4b87-8dcb-3ab178cbc9c4"

	for _, tc := range []struct {
		name string
		ev   *event
		want string
		sig  string
	}{
		{"account.added", added,
			`{"event_id": "ec61a8b1-af27-4904-87e8-e5e2dbe25197", "event": "account.added", "payload": {"created_at": "2025-06-24T22:04:33.547314+00:00", "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": true, "monitoring_status": "active", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877", "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "platform_name": "Workday"}}`,
			"v2=f5510a0a520b497e58994e7214f74e48b82b000a2fcf8d423b6697264e053102"},
		{"identity.added", identity,
			`{"event_id": "b331e9ed-a273-48fa-8f5f-ec476870f8f4", "event": "identity.added", "payload": {"id": "5fd6446d-1739-4686-a454-f60a6ad65864", "name": "identity", "timestamp": "2025-06-24T22:04:34.383896+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "params": {}, "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877"}}`,
			"v2=d53eeaff89c417d68d5c81d37e0e9dc9d22b45b4af2b7b1c4f4e241cccc46731"},
		{"paystubs.added", stubs,
			`{"event_id": "3cfe63ad-c0fd-4b87-8dcb-3ab178cbc9c4", "event": "paystubs.added", "payload": {"added": [{"id": "c80ed2d6-a0fe-4b63-8c92-92414cea9b37", "document_type": null, "year": null, "pay_date": null}], "deleted": [], "id": "ff3a851d-ccf6-442d-b144-e55545280e2a", "name": "paystubs", "timestamp": "2025-06-24T22:04:35.048975+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "params": {"count": 1, "from_pay_date": "2025-06-24", "to_pay_date": "2025-06-24", "sync_status": "in_progress"}, "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877"}}`,
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.ev.body(pinwheel.Version20231122)
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if tc.sig != "" {
				if s := pinwheel.Sign("test_api_secret_0123456789abcdef", "1750802674", got); s != tc.sig {
					t.Errorf("signature %s, want %s", s, tc.sig)
				}
			}
		})
	}

	// 2025-07-08 account payloads add platform_type.
	if got := string(added.body(pinwheel.Version20250708)); !strings.HasSuffix(got, `"platform_name": "Workday", "platform_type": "payroll"}}`) {
		t.Errorf("2025 body: %s", got)
	}
}

func TestPyJSON(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{obj{{"full_name", "José Álvarez — 漢字 🚀"}}, `{"full_name": "Jos\u00e9 \u00c1lvarez \u2014 \u6f22\u5b57 \ud83d\ude80"}`},
		{obj{{"s", "a\"b\\c\n\t/<>"}}, `{"s": "a\"b\\c\n\t/<>"}`},
		{[]any{1, int64(-2), 10.0, 0.5, 1e16, 1e-5, 123.45, nil, true}, `[1, -2, 10.0, 0.5, 1e+16, 1e-05, 123.45, null, true]`},
		{obj{}, `{}`},
		{[]obj{}, `[]`},
	} {
		if got := string(pyJSON(tc.in)); got != tc.want {
			t.Errorf("pyJSON(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestApplySwitch(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &account{ID: "acc", CreatedAt: now}
	savings := target{Name: "Savings", Type: "savings", RoutingNumber: "193487629", AccountNumber: "6675249802"}
	v := func(f float64) *float64 { return &f }

	s := initialAllocations(a)
	applySwitch(s, switchChoice{Action: "partial_switch", Type: "amount", Value: v(100), Target: savings}, now)
	applySwitch(s, switchChoice{Action: "partial_switch", Type: "amount", Value: v(250.5), Target: savings}, now)
	if len(s.Allocations) != 2 || *s.Allocations[0].Amount != 25050 || s.Allocations[1].AllocationType != "remainder" ||
		s.Allocations[0].Priority != 1 || s.Allocations[1].Priority != 2 {
		t.Errorf("amount update: %+v", s.Allocations)
	}
	applySwitch(s, switchChoice{Action: "partial_switch", Type: "remainder", Target: savings}, now)
	if len(s.Allocations) != 1 || s.Allocations[0].AllocationType != "remainder" || s.Allocations[0].MaskedAccountNumber != "9802" {
		t.Errorf("remainder: %+v", s.Allocations)
	}
}
