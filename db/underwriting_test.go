package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// wirePaystub is a paystub as Pinwheel sends it.
func wirePaystub(id, payDate string, gross int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "pay_date": %q, "pay_period_start": null, "pay_period_end": null, "currency": "USD",
"gross_pay_amount": %d, "net_pay_amount": %d, "total_taxes": %d, "total_deductions": 500, "employer_name": "Acme",
"taxes": [{"name": "Federal Income Tax", "category": "federal_income", "amount": %d}],
"deductions": [{"name": "Dental", "category": "dental", "amount": 500, "type": "pre_tax"}], "earnings": [],
"document": {"id": "d-%s", "download_url": "https://x/%s?sig=1"}}`, id, payDate, gross, gross*8/10, gross/10, gross/10, id, id))
}

// fetchAll finishes every queued fetch job of s with data: the employment
// and income snapshots given, and the paystubs of stubs Pinwheel would
// return for the plan.
func fetchAll(t *testing.T, s *db.Store, employment, income string, stubs []json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	jobs, err := s.ClaimJobs(ctx, db.FetchJobKinds, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.JobOutcome
	for _, j := range jobs {
		f, _ := db.ReadFetchJob(j)
		o := db.JobOutcome{Job: j}
		switch f.Data {
		case db.FetchEmployment:
			o.Effect = db.SnapshotFetched{Body: []byte(employment)}
		case db.FetchIncome:
			o.Effect = db.SnapshotFetched{Body: []byte(income)}
		case db.FetchPaystubs:
			plan, err := s.PayFetchPlan(ctx, f.AccountID, f.Data)
			if err != nil {
				t.Fatal(err)
			}
			o.Effect = db.PayItemsFetched{Plan: plan, Items: stubs, Covered: db.PayCoverage{All: true}}
		default:
			o.Effect = db.SnapshotFetched{Body: []byte(`{}`)}
		}
		out = append(out, o)
	}
	if err := s.FinishJobs(ctx, out); err != nil {
		t.Fatal(err)
	}
}

// TestDecision_BoundToSnapshotHashes: a decision binds the report's exact
// employment and income snapshots and paystubs (ids and SHA-256 of what
// was stored), is refused when the data changed after the operator looked,
// stays verifiable after new and corrected paystubs arrive, is audited
// with itself as the target, and shows on the account's and the end
// user's timelines.
func TestDecision_BoundToSnapshotHashes(t *testing.T) {
	s, clk := newStore(t)
	clk.t = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	g := runIngester(t, s, db.IngestOptions{})
	sent := clk.t
	var stubs []json.RawMessage
	var ids []string
	for i := range 26 {
		day := time.Date(2025, 7, 4, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 14*i).Format(time.DateOnly)
		stubs = append(stubs, wirePaystub(fmt.Sprint("ps-", i), day, 200000))
		ids = append(ids, fmt.Sprint(`{"id": "ps-`, i, `"}`))
	}
	ingest(t, g, accountAddedBody("e1", "acc-u", "eu-u", "tok", "2026-06-29T10:00:00.000000+00:00", "active", true), sent)
	ingest(t, g, jobBody("e2", "employment.added", "employment", "acc-u", "eu-u", "tok", "2026-06-29T10:00:01.000000+00:00", "success", "", "", ""), sent)
	ingest(t, g, jobBody("e3", "income.added", "income", "acc-u", "eu-u", "tok", "2026-06-29T10:00:02.000000+00:00", "success", "", "", ""), sent)
	paystubsAdded := strings.Replace(string(jobBody("e4", "paystubs.added", "paystubs", "acc-u", "eu-u", "tok", "2026-06-29T10:00:03.000000+00:00",
		"success", "", "", `{"count": 26, "from_pay_date": "2025-07-04", "to_pay_date": "2026-06-19", "sync_status": "complete"}`)),
		`"payload": {`, `"payload": {"added": [`+strings.Join(ids, ", ")+`], "deleted": [], `, 1)
	ingest(t, g, []byte(paystubsAdded), sent)
	employment := `{"id": "emp", "account_id": "acc-u", "status": "employed", "start_date": "2021-03-01", "termination_date": null, "employer_name": "Acme", "title": "Engineer"}`
	income := `{"id": "inc", "account_id": "acc-u", "compensation_amount": 5200000, "compensation_unit": "annually", "currency": "USD", "pay_frequency": "bi-weekly"}`
	fetchAll(t, s, employment, income, stubs)

	rep, err := s.AccountIncomeReport(ctx, "acc-u")
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Accounts[0]
	if a.Employment == nil || a.Employment.EmployerName != "Acme" || a.Employment.TenureMonths != 63 || a.Stated == nil || a.Stated.Annual != 5200000 ||
		a.Frequency != db.FrequencyBiweekly || a.Paystubs.Usable != 26 || a.Annualised[2].Gross != 200000*26 {
		t.Fatalf("report %+v", a)
	}
	counts := rep.Basis.Counts()
	if counts["employment"] != 1 || counts["income"] != 1 || counts["paystubs"] != 26 || len(rep.Basis.Fingerprint) != 64 {
		t.Fatalf("basis %v %s", counts, rep.Basis.Fingerprint)
	}
	admin := db.Actor{StaffID: 0, Email: "olga@example.com", IP: "192.0.2.1"}

	t.Run("refused without a note or on changed data", func(t *testing.T) {
		_, err := s.RecordDecision(ctx, admin, db.DecisionInput{Scope: db.ScopeAccount, SubjectID: "acc-u", Outcome: db.OutcomeDeclined, Fingerprint: rep.Basis.Fingerprint})
		var fe db.FieldErrors
		if !errors.As(err, &fe) || fe["note"] == "" {
			t.Errorf("declined without a note: %v", err)
		}
		_, err = s.RecordDecision(ctx, admin, db.DecisionInput{Scope: db.ScopeAccount, SubjectID: "acc-u", Outcome: db.OutcomeApproved, Fingerprint: strings.Repeat("0", 64)})
		if !errors.Is(err, db.ErrBasisChanged) {
			t.Errorf("stale fingerprint: %v", err)
		}
	})

	var dec db.Decision
	t.Run("recorded, bound, audited, on the timelines", func(t *testing.T) {
		dec, err = s.RecordDecision(ctx, admin, db.DecisionInput{Scope: db.ScopeAccount, SubjectID: "acc-u", Outcome: db.OutcomeApproved,
			Note: "Steady salary for a year", Fingerprint: rep.Basis.Fingerprint})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.AccountDecisions(ctx, "acc-u")
		if err != nil || len(list) != 1 {
			t.Fatalf("decisions %+v %v", list, err)
		}
		got := list[0]
		if got.Outcome != db.OutcomeApproved || got.EndUserID != "eu-u" || got.Items != 28 || !slices.Equal(got.Bindings, rep.Basis.Items) {
			t.Errorf("decision %+v", got)
		}
		// Each snapshot binding is that snapshot's stored hash.
		o, err := s.AccountOverview(ctx, "acc-u")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range got.Bindings {
			if b.Kind == db.FetchEmployment || b.Kind == db.FetchIncome {
				sn := o.Latest[b.Kind]
				if b.Ref != strconv.FormatInt(sn.ID, 10) || b.SHA256 != sn.BodySHA256 {
					t.Errorf("%s bound to %s %s, stored %d %s", b.Kind, b.Ref, b.SHA256, sn.ID, sn.BodySHA256)
				}
			}
		}
		items, _ := s.PayItems(ctx, "acc-u", db.FetchPaystubs)
		if b := got.Bindings[2]; b.Kind != db.FetchPaystubs || b.Ref != items[0].ItemID || b.SHA256 != items[0].SHA256 {
			t.Errorf("paystub binding %+v, stored %s %s", b, items[0].ItemID, items[0].SHA256)
		}
		if bad, err := s.VerifyDecision(ctx, got); err != nil || len(bad) != 0 {
			t.Errorf("verify: %v %v", bad, err)
		}
		var summary struct {
			Accounts []struct {
				Employer   string
				Annualised []db.Annualised
			}
		}
		if json.Unmarshal(got.Summary, &summary) != nil || summary.Accounts[0].Employer != "Acme" || summary.Accounts[0].Annualised[2].Gross != 5200000 {
			t.Errorf("summary %s", got.Summary)
		}
		audit, _, err := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionUnderwritingDecision})
		if err != nil || len(audit) != 1 || audit[0].TargetType != "underwriting_decision" || audit[0].TargetID != strconv.FormatInt(dec.ID, 10) ||
			!strings.Contains(audit[0].Detail, rep.Basis.Fingerprint) {
			t.Errorf("audit %+v %v", audit, err)
		}
		for _, q := range []db.TimelineQuery{{AccountID: "acc-u"}, {EndUserID: "eu-u"}} {
			pg, err := s.Timeline(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(pg.Entries, func(e db.TimelineEntry) bool { return e.Action == db.ActionUnderwritingDecision }) {
				t.Errorf("timeline %+v lacks the decision", q)
			}
		}
		eu, err := s.EndUserDecisions(ctx, "eu-u")
		if err != nil || len(eu) != 1 || eu[0].ID != dec.ID {
			t.Errorf("end user decisions %+v %v", eu, err)
		}
	})

	t.Run("new and corrected data change the report, not the decision", func(t *testing.T) {
		clk.t = clk.t.Add(24 * time.Hour)
		stubs[25] = wirePaystub("ps-25", "2026-06-19", 210000) // corrected
		stubs = append(stubs, wirePaystub("ps-new", "2026-07-03", 200000))
		ingest(t, g, []byte(strings.Replace(string(jobBody("e5", "paystubs.added", "paystubs", "acc-u", "eu-u", "tok", "2026-07-01T10:00:03.000000+00:00",
			"success", "", "", `{"count": 1, "from_pay_date": "2026-06-19", "to_pay_date": "2026-07-03", "sync_status": "complete"}`)),
			`"payload": {`, `"payload": {"added": [{"id": "ps-new"}], "deleted": [], `, 1)), clk.t)
		fetchAll(t, s, employment, income, stubs)
		now, err := s.AccountIncomeReport(ctx, "acc-u")
		if err != nil {
			t.Fatal(err)
		}
		if now.Basis.Fingerprint == rep.Basis.Fingerprint || len(now.Decisions) != 1 || now.Decisions[0].Fingerprint != rep.Basis.Fingerprint {
			t.Errorf("after new data: basis %s, decisions %+v", now.Basis.Fingerprint, now.Decisions)
		}
		list, _ := s.AccountDecisions(ctx, "acc-u")
		if bad, err := s.VerifyDecision(ctx, list[0]); err != nil || len(bad) != 0 {
			t.Errorf("the superseded paystub is still stored as bound: %v %v", bad, err)
		}
		tampered := list[0]
		tampered.Bindings = slices.Clone(tampered.Bindings)
		tampered.Bindings[3].SHA256 = strings.Repeat("a", 64)
		if _, err := s.VerifyDecision(ctx, tampered); err == nil {
			t.Error("altered bindings verified")
		}
	})

	t.Run("the stale threshold", func(t *testing.T) {
		if err := s.SetStaleDays(ctx, admin, "0"); err == nil {
			t.Error("0 days accepted")
		}
		if err := s.SetStaleDays(ctx, admin, "1"); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(72 * time.Hour)
		r, _ := s.AccountIncomeReport(ctx, "acc-u")
		if r.StaleDays != 1 || !r.Accounts[0].Employment.Stale || !r.Accounts[0].Paystubs.Stale {
			t.Errorf("stale flags: %+v", r.Accounts[0].Employment.Dated)
		}
	})
}
