package pinwheel_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

func TestTime_Unmarshal(t *testing.T) {
	micro := time.Date(2025, 6, 24, 22, 4, 33, 547314000, time.UTC)
	whole := time.Date(2025, 6, 24, 22, 4, 33, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2025-06-24T22:04:33.547314+00:00"`, micro},
		{`"2025-06-24 22:04:33.547314+00:00"`, micro},
		{`"2025-06-24T22:04:33+00:00"`, whole},
		{`"2025-06-24 22:04:33+00:00"`, whole},
		{`"2025-06-24T22:04:33Z"`, whole},
		{`"2025-06-24T22:04:33.547314Z"`, micro},
		{`"2025-06-24T18:04:33.547314-04:00"`, micro},
		{`"2025-06-24T22:04:33.547314"`, micro},
		{`null`, time.Time{}},
		{`""`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got pinwheel.Time
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.IsZero() != tt.want.IsZero() {
				t.Errorf("got %v, want %v", got.Time, tt.want)
			}
		})
	}
	for _, bad := range []string{`"yesterday"`, `"2025-13-01T00:00:00Z"`, `1750802674`, `true`, `{}`} {
		var got pinwheel.Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s: got nil error", bad)
		}
	}
}

func TestTime_Marshal(t *testing.T) {
	tests := []struct {
		in   pinwheel.Time
		want string
	}{
		{pinwheel.NewTime(time.Date(2025, 6, 24, 22, 4, 33, 547314000, time.UTC)), `"2025-06-24T22:04:33.547314+00:00"`},
		{pinwheel.NewTime(time.Date(2025, 6, 24, 22, 4, 33, 0, time.UTC)), `"2025-06-24T22:04:33.000000+00:00"`},
		{pinwheel.NewTime(time.Date(2025, 6, 24, 9, 0, 0, 0, time.FixedZone("EDT", -4*3600))), `"2025-06-24T09:00:00.000000-04:00"`},
		{pinwheel.Time{}, `null`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
	// Nullable pointer and omitzero behave as documented.
	b, _ := json.Marshal(struct {
		A *pinwheel.Time `json:"a"`
		B pinwheel.Time  `json:"b,omitzero"`
	}{})
	if string(b) != `{"a":null}` {
		t.Errorf("got %s", b)
	}
}

func TestYear(t *testing.T) {
	for in, want := range map[string]pinwheel.Year{`2021`: 2021, `"2021"`: 2021, `null`: 0, `""`: 0} {
		var y pinwheel.Year
		if err := json.Unmarshal([]byte(in), &y); err != nil || y != want {
			t.Errorf("%s: got %d, %v, want %d", in, y, err, want)
		}
	}
	var y pinwheel.Year
	if err := json.Unmarshal([]byte(`"MMXXI"`), &y); err == nil {
		t.Error("got nil error for a non-numeric year")
	}
	var tf pinwheel.TaxForm
	if err := json.Unmarshal([]byte(`{"id":"t1","form_type":"W-2","year":"2021","unknown":1}`), &tf); err != nil || tf.Year != 2021 {
		t.Errorf("got %+v, %v", tf, err)
	}
	if b, _ := json.Marshal(tf.Year); string(b) != "2021" {
		t.Errorf("got %s, want 2021", b)
	}
}

func TestLinkTokenCreate_2025Example(t *testing.T) {
	in := pinwheel.LinkTokenCreate{
		OrgName:   "Fintech.io",
		Solution:  pinwheel.SolutionDepositSwitch,
		Features:  []string{pinwheel.JobDDSwitch},
		EndUserID: "my_user_12345",
		Allocation: &pinwheel.Allocation{
			Type:  ptr(pinwheel.AllocationAmount),
			Value: ptr(123.45),
			Targets: []pinwheel.BankAccount{
				{Name: "My Checking Account", Type: "checking", AccountNumber: "5675249802", RoutingNumber: "193487629"},
				{Name: "My Savings Account", Type: "savings", AccountNumber: "6675249802", RoutingNumber: "193487629"},
			},
		},
		EmployerID: "e3c3ec9e-eea5-42fc-b533-de3cea9c352f",
		EndUser: &pinwheel.LinkEndUser{PlatformMatching: &pinwheel.PlatformMatching{
			SocialSecurityNumber: "123456789", FirstName: "Alicia", LastName: "Green",
			MobilePhoneNumber: "1234567890", HomeAddressZipCode: "12345", DateOfBirth: "2023-11-22",
		}},
	}
	got, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, string(got), linkTokenRequest2025)

	var back pinwheel.LinkTokenCreate
	if err := json.Unmarshal([]byte(linkTokenRequest2025), &back); err != nil {
		t.Fatal(err)
	}
	if *back.Allocation.Value != 123.45 || back.EndUser.PlatformMatching.LastName != "Green" || back.Solution != "Deposit Switch" {
		t.Errorf("got %+v", back)
	}
}

func TestParseEvent_AccountAdded(t *testing.T) {
	e, err := pinwheel.ParseEvent([]byte(eventAccountAdded))
	if err != nil {
		t.Fatal(err)
	}
	if e.EventID != "ec61a8b1-af27-4904-87e8-e5e2dbe25197" || e.Event != pinwheel.EventAccountAdded {
		t.Errorf("got %+v", e)
	}
	p, err := e.AccountPayload()
	if err != nil {
		t.Fatal(err)
	}
	want := pinwheel.AccountPayload{
		CreatedAt:        pinwheel.NewTime(time.Date(2025, 6, 24, 22, 4, 33, 547314000, time.UTC)),
		LinkTokenID:      "a63c75ef-3e91-4fff-8147-78cf7efeddd2",
		PlatformID:       "5965580e-380f-4b86-8a8a-7278c77f73cb",
		Connected:        true,
		MonitoringStatus: pinwheel.StatusActive,
		EndUserID:        "6a927ef1-6c91-43c9-abbe-6728dc8ef877",
		AccountID:        "934f6406-c332-4c05-a3e8-6a90765c842d",
		PlatformName:     "Workday",
	}
	if !p.CreatedAt.Equal(want.CreatedAt.Time) {
		t.Errorf("created_at got %v", p.CreatedAt)
	}
	p.CreatedAt = want.CreatedAt
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}

	// Re-encoding keeps the observed key order and values.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"created_at":"2025-06-24T22:04:33.547314+00:00","link_token_id":"a63c75ef-3e91-4fff-8147-78cf7efeddd2","platform_id":"5965580e-380f-4b86-8a8a-7278c77f73cb","connected":true,"monitoring_status":"active","end_user_id":"6a927ef1-6c91-43c9-abbe-6728dc8ef877","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","platform_name":"Workday"}`
	if string(b) != wantJSON {
		t.Errorf("got %s, want %s", b, wantJSON)
	}
}

func TestParseEvent_JobEvents(t *testing.T) {
	t.Run("identity.added", func(t *testing.T) {
		e, err := pinwheel.ParseEvent([]byte(eventIdentityAdded))
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.JobPayload()
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != pinwheel.JobIdentity || p.Outcome != pinwheel.OutcomeSuccess || p.ErrorCode != nil || p.Added != nil ||
			p.AccountID != "934f6406-c332-4c05-a3e8-6a90765c842d" || string(p.Params) != "{}" {
			t.Errorf("got %+v", p)
		}
		sync, err := p.SyncParams()
		if err != nil || sync.Count != 0 || sync.SyncStatus != nil {
			t.Errorf("got %+v, %v", sync, err)
		}
	})
	t.Run("paystubs.added", func(t *testing.T) {
		e, _ := pinwheel.ParseEvent([]byte(eventPaystubsAdded))
		p, err := e.JobPayload()
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Added) != 1 || p.Added[0].ID != "c80ed2d6-a0fe-4b63-8c92-92414cea9b37" || p.Added[0].Year != nil ||
			p.Deleted == nil || len(p.Deleted) != 0 {
			t.Errorf("got added %+v deleted %#v", p.Added, p.Deleted)
		}
		s, err := p.SyncParams()
		if err != nil {
			t.Fatal(err)
		}
		if s.Count != 1 || *s.FromPayDate != "2025-06-24" || *s.SyncStatus != pinwheel.SyncInProgress {
			t.Errorf("got %+v", s)
		}
		// added is kept, the empty deleted is kept as [] (not dropped, not null).
		b, _ := json.Marshal(p)
		if !strings.HasPrefix(string(b), `{"added":[{"id":"c80ed2d6-a0fe-4b63-8c92-92414cea9b37","document_type":null,"year":null,"pay_date":null}],"deleted":[],"id":`) {
			t.Errorf("got %s", b)
		}
	})
	t.Run("direct_deposit_switch.added", func(t *testing.T) {
		e, _ := pinwheel.ParseEvent([]byte(eventDDSwitch))
		p, err := e.JobPayload()
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.SwitchParams()
		if err != nil {
			t.Fatal(err)
		}
		if *s.Action != pinwheel.ActionPartialSwitch || s.Allocation.Type != pinwheel.AllocationAmount || *s.Allocation.Value != 50 ||
			s.Allocation.Target.AccountName != "My Checking Account" || s.Allocation.Target.LastFourAccountNumber != nil {
			t.Errorf("got %+v", s)
		}
	})
	t.Run("direct_deposit_allocations.added without params", func(t *testing.T) {
		e, _ := pinwheel.ParseEvent([]byte(eventDDAllocations))
		p, err := e.JobPayload()
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != pinwheel.JobDDAllocations || p.Params != nil {
			t.Errorf("got %+v", p)
		}
		if s, err := p.SwitchParams(); err != nil || s.Action != nil {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("deleted as bare ids", func(t *testing.T) {
		var p pinwheel.JobPayload
		if err := json.Unmarshal([]byte(`{"deleted":["p1",{"id":"p2","year":"2024"}],"name":"paystubs"}`), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Deleted) != 2 || p.Deleted[0].ID != "p1" || *p.Deleted[1].Year != 2024 {
			t.Errorf("got %+v", p.Deleted)
		}
	})
}

func TestParseEvent_Malformed(t *testing.T) {
	for _, body := range []string{``, `[]`, `null`, `{}`, `{"event":"account.added"}`, `{"event_id":"x"}`, `{"event_id":1,"event":"a"}`} {
		if _, err := pinwheel.ParseEvent([]byte(body)); !errors.Is(err, pinwheel.ErrMalformedEvent) {
			t.Errorf("%q: got %v, want ErrMalformedEvent", body, err)
		}
	}
	e, err := pinwheel.ParseEvent([]byte(`{"event_id":"x","event":"account.added","payload":null,"new":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AccountPayload(); !errors.Is(err, pinwheel.ErrMalformedEvent) {
		t.Errorf("got %v, want ErrMalformedEvent for a null payload", err)
	}
	e, _ = pinwheel.ParseEvent([]byte(`{"event_id":"x","event":"identity.added","payload":{"outcome":7}}`))
	if _, err := e.JobPayload(); err == nil {
		t.Error("got nil error for a mistyped payload")
	}
}

func TestEvent_MarshalKeyOrder(t *testing.T) {
	e := pinwheel.Event{EventID: "e1", Event: pinwheel.EventIdentityAdded, Payload: json.RawMessage(`{"a":1}`)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"event_id":"e1","event":"identity.added","payload":{"a":1}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestModes(t *testing.T) {
	tests := []struct {
		mode       pinwheel.Mode
		base, link string
	}{
		{pinwheel.ModeSandbox, "https://sandbox.getpinwheel.com/v1", "https://cdn.getpinwheel.com/pinwheel-v3.1.0.js"},
		{pinwheel.ModeDevelopment, "https://development.getpinwheel.com/v1", "https://cdn.getpinwheel.com/pinwheel-v3.1.0.js"},
		{pinwheel.ModeProduction, "https://api.getpinwheel.com/v1", "https://cdn.getpinwheel.com/pinwheel-v3.1.0.js"},
		{pinwheel.ModeEmulator, "", "http://127.0.0.1:8080/sandbox/link.js"},
	}
	for _, tt := range tests {
		if got := pinwheel.BaseURL(tt.mode); got != tt.base {
			t.Errorf("BaseURL(%s) got %q, want %q", tt.mode, got, tt.base)
		}
		if got := pinwheel.LinkScriptURL(tt.mode, "http://127.0.0.1:8080/sandbox/"); got != tt.link {
			t.Errorf("LinkScriptURL(%s) got %q, want %q", tt.mode, got, tt.link)
		}
	}
	if pinwheel.KnownVersions[0] != pinwheel.Version20250708 || pinwheel.KnownVersions[1] != pinwheel.DefaultVersion || len(pinwheel.KnownVersions) != 7 {
		t.Errorf("KnownVersions got %v", pinwheel.KnownVersions)
	}
}
