package db_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseAuditQuery(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		q        string
		want     db.AuditQuery
		problems []string // the parts not understood
	}{
		{q: "", want: db.AuditQuery{}},
		{q: "actor:olga action:pii.* target:account:acc-1 created:>2026-12-01",
			want: db.AuditQuery{Actors: []string{"olga"}, Actions: []string{"pii.*"}, TargetType: "account", TargetID: "acc-1", From: day("2026-12-02")}},
		{q: `actor:"Olga Petrova" actor:ann`, want: db.AuditQuery{Actors: []string{"Olga Petrova", "ann"}}},
		{q: "target:staff", want: db.AuditQuery{TargetType: "staff"}},
		{q: "target:End-User:a:b:c", want: db.AuditQuery{TargetType: "end_user", TargetID: "a:b:c"}},
		{q: "created:2026-12-01", want: db.AuditQuery{From: day("2026-12-01"), To: day("2026-12-02")}},
		{q: "created:>=2026-12-01", want: db.AuditQuery{From: day("2026-12-01")}},
		{q: "created:<2026-12-01", want: db.AuditQuery{To: day("2026-12-01")}},
		{q: "created:<=2026-12-01", want: db.AuditQuery{To: day("2026-12-02")}},
		{q: "created:2026-10-01..2026-12-31", want: db.AuditQuery{From: day("2026-10-01"), To: day("2027-01-01")}},
		{q: "created:*..2026-12-31", want: db.AuditQuery{To: day("2027-01-01")}},
		{q: "created:>=2026-12-01T10:30", want: db.AuditQuery{From: at("2026-12-01T10:30:00Z")}},
		{q: "created:>2026-12-01 created:<2026-12-10", want: db.AuditQuery{From: day("2026-12-02"), To: day("2026-12-10")}},
		{q: "  ACTION:staff.sign_in   ", want: db.AuditQuery{Actions: []string{"staff.sign_in"}}},
		// Malformed parts are explained; the rest applies.
		{q: "actor:olga hello created:yesterday", want: db.AuditQuery{Actors: []string{"olga"}}, problems: []string{"hello", "created:yesterday"}},
		{q: "actor: target: colour:red", problems: []string{"actor:", "target:", "colour:red"}},
		{q: "target:account:1 target:staff:2", want: db.AuditQuery{TargetType: "account", TargetID: "1"}, problems: []string{"target:staff:2"}},
		{q: "created:2026-12-31..2026-12-01", problems: []string{"created:2026-12-31..2026-12-01"}},
		{q: "target:acc<ount:1", problems: []string{"target:acc<ount:1"}},
	} {
		t.Run(tc.q, func(t *testing.T) {
			got := db.ParseAuditQuery(tc.q)
			var parts []string
			for _, p := range got.Problems {
				parts = append(parts, p.Part)
				if p.Message == "" {
					t.Errorf("problem %q has no explanation", p.Part)
				}
			}
			if strings.Join(parts, "|") != strings.Join(tc.problems, "|") {
				t.Errorf("problems %q, want %q", parts, tc.problems)
			}
			got.Problems = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAuditQuery_StringRoundTrips: a query written back from its parts
// parses to the same parts.
func TestAuditQuery_StringRoundTrips(t *testing.T) {
	for _, q := range []string{
		"actor:olga action:pii.* target:account:acc-1 created:>=2026-12-02",
		`actor:"Olga Petrova" created:2026-10-01..2026-12-31`,
		"target:staff created:<2026-12-01T10:30",
		"created:>=2026-12-01T10:30:15 created:<=2026-12-31",
	} {
		a := db.ParseAuditQuery(q)
		b := db.ParseAuditQuery(a.String())
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q → %q parses to %+v, want %+v", q, a.String(), b, a)
		}
	}
}

func TestParseAuditQuery_HostileInput(t *testing.T) {
	q := db.ParseAuditQuery(strings.Repeat("actor:x ", 5000))
	if len(q.Problems) != 1 || len(q.Actors) > 200 {
		t.Errorf("a huge query: %d actors, problems %v", len(q.Actors), q.Problems)
	}
	q = db.ParseAuditQuery("actor:\xff\xfe")
	if len(q.Actors) != 1 {
		t.Errorf("invalid UTF-8: %+v", q)
	}
}
