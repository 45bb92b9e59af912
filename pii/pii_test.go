package pii

import (
	"encoding/json"
	"strings"
	"testing"

	"linkdesk/db"
)

func TestMaskJSON(t *testing.T) {
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
			got, ok := MaskJSON([]byte(c.raw), c.role)
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
		if got, ok := MaskJSON([]byte(bad), db.RoleAdmin); ok {
			t.Errorf("MaskJSON(%q) ok: %s", bad, got)
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
