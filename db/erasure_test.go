package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// personWorld gives end user eu as its account acc an identity snapshot
// (fetched through the job queue), a deposit switch to a named account, a
// customer record, and returns the values that must disappear on erasure.
func personWorld(t *testing.T, f *browseFixture, eu, acc, name string) []string {
	t.Helper()
	ctx := context.Background()
	at := f.clk.t.Add(-time.Hour)
	f.add(t, addedBody("add-"+acc, acc, eu, "p-wd", "Workday", "active", true, at), at)
	f.add(t, jobAt("id-"+acc, "identity.added", acc, eu, "success", at.Add(time.Second)), at.Add(time.Second))
	bank := name + " Savings"
	f.add(t, jobBody("dd-"+acc, "direct_deposit_switch.added", "direct_deposit_switch", acc, eu, "tok-"+acc, at.Add(2*time.Second).Format(time.RFC3339Nano),
		"success", "", "", fmt.Sprintf(`{"action": "partial_switch", "allocation": {"type": "amount", "value": 150, "target": {"account_name": %q, "account_type": "checking", "last_four_account_number": "6789"}}}`, bank)),
		at.Add(2*time.Second))
	jobs, err := f.s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchIdentity)}, 50, time.Minute)
	must(t, err)
	var results []db.JobOutcome
	dob, email := "1971-03-14", strings.ToLower(strings.Fields(name)[0])+"@mail.example"
	for _, j := range jobs {
		if fj, _ := db.ReadFetchJob(j); fj.AccountID == acc {
			body := fmt.Sprintf(`{"id": "i", "account_id": %q, "full_name": %q, "date_of_birth": %q, "last_four_ssn": "4417", "emails": [%q], "addresses": [{"line1": %q}]}`,
				acc, name, dob, email, "12 "+strings.Fields(name)[1]+" Lane")
			results = append(results, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body)}})
		}
	}
	if len(results) != 1 {
		t.Fatalf("%d identity fetches of %s", len(results), acc)
	}
	must(t, f.s.FinishJobs(ctx, results))
	_, _, err = f.s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: eu, FullName: name, DateOfBirth: dob, SSNLast4: "4417", Email: email})
	must(t, err)
	// A paystub and an underwriting decision's figures (written as the pay
	// fetch and the decision would, through a second handle).
	employer := strings.Fields(name)[1] + " Widgets Ltd"
	raw, err := db.Connect(f.s.Path())
	must(t, err)
	defer raw.Close()
	_, err = raw.Exec(`INSERT INTO pay_items (account_ref, kind, item_id, pay_date, currency, gross, net, employer_name, body_sha256, body, first_seen_at, last_seen_at)
		SELECT id, 'paystubs', 'ps-1', '2026-11-01', 'USD', 512300, 400000, ?, 'x', ?, '2026-11-02T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z' FROM accounts WHERE account_id = ?`,
		employer, fmt.Sprintf(`{"id": "ps-1", "employer_name": %q, "gross_pay_amount": 512300}`, employer), acc)
	must(t, err)
	_, err = raw.Exec(`INSERT INTO underwriting_decisions (scope, subject_id, end_user_id, outcome, note, staff_email, basis_sha256, summary, decided_at)
		VALUES ('account', ?, ?, 'approved', 'ok', 'a@example.com', 'f', ?, '2026-11-02T00:00:00.000000Z')`, acc, eu, fmt.Sprintf(`{"accounts":[{"employer":%q}]}`, employer))
	must(t, err)
	return []string{name, bank, email, "12 " + strings.Fields(name)[1] + " Lane", employer}
}

// onFile says whether the test can read the database's files: SQLite's
// file, not PostgreSQL's server (whose secure deletion is a VACUUM of the
// tables changed: README, Retention and erasure on PostgreSQL).
func onFile() bool { return !dbtest.OnPostgres() }

// fileHolds reports which of values occur in the database file or its WAL.
func fileHolds(t *testing.T, path string, values []string) []string {
	t.Helper()
	var found []string
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		must(t, err)
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				found = append(found, v+" in "+p[strings.LastIndex(p, "/")+1:])
			}
		}
	}
	return found
}

func TestStore_EraseEndUser(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	zeb := personWorld(t, f, "eu-zeb", "acc-zeb", "Zebulon Quixote")
	other := personWorld(t, f, "eu-wil", "acc-wil", "Wilhelmina Brightwater")
	// The customer record changed once: its old name must go too.
	_, _, err := f.s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "eu-zeb", FullName: "Zebulon Q. Quixote", DateOfBirth: "1971-03-14", SSNLast4: "4417"})
	must(t, err)
	if got := fileHolds(t, f.s.Path(), zeb); onFile() && len(got) == 0 {
		t.Fatal("the test data is not in the file to begin with")
	}

	p, err := f.s.PreviewErasure(ctx, "eu-zeb")
	must(t, err)
	if p.Counts.WebhookBodies != 3 || p.Counts.Snapshots != 1 || p.Counts.CustomerRecords != 1 || len(p.Accounts) != 1 {
		t.Fatalf("preview %+v", p)
	}
	if _, err := f.s.EraseEndUser(ctx, admin, "eu-zeb", " "); err == nil {
		t.Error("an erasure without a reason")
	}
	if _, err := f.s.EraseEndUser(ctx, admin, "eu-nobody", "GDPR request 17"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown end user: %v, want ErrNotFound", err)
	}
	e, err := f.s.EraseEndUser(ctx, admin, "eu-zeb", "GDPR request 17")
	must(t, err)
	if e.Erased.WebhookBodies != 3 || e.Erased.Snapshots != 1 || e.Erased.CustomerRecords != 1 || e.Erased.SwitchTargets != 1 || e.Erased.IdentityVerdicts != 1 ||
		e.Erased.PayItems != 1 || e.Erased.Decisions != 1 {
		t.Errorf("erased %+v", e.Erased)
	}

	if got := fileHolds(t, f.s.Path(), zeb); onFile() && len(got) > 0 {
		t.Errorf("erased values still in the file: %v", got)
	}
	if got := fileHolds(t, f.s.Path(), other); onFile() && len(got) == 0 {
		t.Error("the other person's data went too")
	}
	// What identifies the events stays; the chain still verifies; the
	// tombstone says who, when and why.
	ev, err := f.s.EventByEventID(ctx, "dd-acc-zeb")
	must(t, err)
	if !strings.Contains(ev.Body, `"account_id":"acc-zeb"`) || !strings.Contains(ev.Body, `"linkdesk_removed":"erasure"`) || strings.Contains(ev.Body, "Savings") {
		t.Errorf("erased body %s", ev.Body)
	}
	if v := verify(t, f.s, ""); !v.OK() {
		t.Fatalf("chain after erasure: %+v", v.Bad)
	}
	ts, err := f.s.Erasures(ctx, "eu-zeb")
	if err != nil || len(ts) != 1 || ts[0].Reason != "GDPR request 17" || ts[0].ByEmail != "system" {
		t.Fatalf("tombstones %+v, %v", ts, err)
	}
	if _, err := f.s.CustomerByEndUserID(ctx, "eu-zeb"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("customer record after erasure: %v", err)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionEndUserErased})
	if len(rows) != 1 || rows[0].TargetID != "eu-zeb" || strings.Contains(rows[0].Detail, "Zebulon") {
		t.Errorf("audit row %+v", rows)
	}

	// A later erasure (after the first rewrote the file) relies on secure
	// deletion alone.
	_, err = f.s.EraseEndUser(ctx, admin, "eu-wil", "GDPR request 18")
	must(t, err)
	if got := fileHolds(t, f.s.Path(), other); onFile() && len(got) > 0 {
		t.Errorf("second erasure left %v", got)
	}
}

// TestStore_FetchAfterErasureStoresNothing: a fetch that began before the
// erasure does not bring the data back.
func TestStore_FetchAfterErasureStoresNothing(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	at := f.clk.t.Add(-time.Hour)
	f.add(t, addedBody("a", "acc-1", "eu-1", "p", "Workday", "active", true, at), at)
	f.add(t, jobAt("i", "identity.added", "acc-1", "eu-1", "success", at), at)
	jobs, err := f.s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchIdentity)}, 5, time.Minute)
	must(t, err)
	f.clk.t = f.clk.t.Add(time.Second)
	_, err = f.s.EraseEndUser(ctx, admin, "eu-1", "request")
	must(t, err)
	must(t, f.s.FinishJobs(ctx, []db.JobOutcome{{Job: jobs[0], Effect: db.SnapshotFetched{Body: []byte(`{"full_name": "Back Again"}`)}}}))
	o, err := f.s.AccountOverview(ctx, "acc-1")
	must(t, err)
	if _, ok := o.Latest[db.FetchIdentity]; ok {
		t.Error("a fetch stored identity data after the erasure")
	}
}

func TestStore_Retention(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	now := f.clk.t
	old, recent := now.AddDate(0, 0, -40), now.AddDate(0, 0, -5)
	f.add(t, jobBody("old", "direct_deposit_switch.added", "direct_deposit_switch", "acc-1", "eu-1", "t", old.Format(time.RFC3339Nano), "success", "", "",
		`{"allocation": {"target": {"account_name": "Old Secret Bank"}}, "memo": "Old Secret Memo"}`), old)
	f.add(t, jobBody("new", "direct_deposit_switch.added", "direct_deposit_switch", "acc-1", "eu-1", "t", recent.Format(time.RFC3339Nano), "success", "", "",
		`{"allocation": {"target": {"account_name": "Recent Bank"}}}`), recent)

	// Forever by default: nothing goes.
	res, err := f.s.PurgeExpired(ctx)
	if err != nil || res.WebhookBodies != 0 {
		t.Fatalf("default retention purged %+v, %v", res, err)
	}
	if _, fe := db.ValidateRetention("abc", "-1"); len(fe) != 2 {
		t.Errorf("bad values: %v", fe)
	}
	r, fe := db.ValidateRetention("30", "")
	if fe != nil {
		t.Fatal(fe)
	}
	must(t, f.s.SetRetention(ctx, admin, r))
	res, err = f.s.PurgeExpired(ctx)
	if err != nil || res.WebhookBodies != 1 {
		t.Fatalf("purged %+v, %v; want the old body", res, err)
	}
	ev, _ := f.s.EventByEventID(ctx, "old")
	if strings.Contains(ev.Body, "Old Secret Bank") || !strings.Contains(ev.Body, `"linkdesk_removed":"retention"`) || !strings.Contains(ev.Body, `"account_id":"acc-1"`) {
		t.Errorf("old body %s", ev.Body)
	}
	if ev, _ := f.s.EventByEventID(ctx, "new"); !strings.Contains(ev.Body, "Recent Bank") {
		t.Errorf("recent body went: %s", ev.Body)
	}
	// Again: nothing more, and the run that purged was audited once.
	if res, _ := f.s.PurgeExpired(ctx); res.WebhookBodies != 0 {
		t.Errorf("second run purged %+v", res)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionRetentionPurged})
	changed, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionRetentionChanged})
	if len(rows) != 1 || len(changed) != 1 {
		t.Errorf("audit: %d purges, %d changes", len(rows), len(changed))
	}
	// (The switch's target name stays in its projection, dd_switches: only
	// raw bodies have a retention period.)
	if got := fileHolds(t, f.s.Path(), []string{"Old Secret Memo"}); onFile() && len(got) > 0 {
		t.Errorf("purged body still in the file: %v", got)
	}
	// Ten days later the other one goes.
	f.clk.t = now.AddDate(0, 0, 30)
	if res, _ := f.s.PurgeExpired(ctx); res.WebhookBodies != 1 {
		t.Errorf("later run purged %+v", res)
	}
}

func TestStore_AccessUntil(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	aud, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "aud@example.com", Name: "Aud", Role: db.RoleAuditor, Password: "long enough password"})
	must(t, err)
	op, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "op@example.com", Name: "Op", Role: db.RoleOperator, Password: "long enough password"})
	must(t, err)
	var fe db.FieldErrors
	if _, err := s.SetAccessUntil(ctx, admin, op.ID, clk.t.Add(time.Hour)); !errors.As(err, &fe) {
		t.Errorf("an operator's end date: %v", err)
	}
	end := clk.t.Add(48 * time.Hour)
	st, err := s.SetAccessUntil(ctx, admin, aud.ID, end)
	if err != nil || !st.AccessUntil.Equal(end) {
		t.Fatalf("set: %+v, %v", st, err)
	}
	if _, err := s.Authenticate(ctx, "aud@example.com", "long enough password", "10.0.0.1", "ua"); err != nil {
		t.Fatalf("before the end: %v", err)
	}
	clk.t = end
	_, err = s.Authenticate(ctx, "aud@example.com", "long enough password", "10.0.0.1", "ua")
	var ae *db.AccessEndedError
	if !errors.As(err, &ae) || !ae.Until.Equal(end) {
		t.Fatalf("after the end: %v", err)
	}
	if _, err := s.Authenticate(ctx, "aud@example.com", "wrong password!", "10.0.0.1", "ua"); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("a wrong password after the end: %v (must not tell)", err)
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionSignInExpired})
	if len(rows) != 1 {
		t.Errorf("%d refused sign-ins audited", len(rows))
	}
	// Cleared, they can sign in again.
	if _, err := s.SetAccessUntil(ctx, admin, aud.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "aud@example.com", "long enough password", "10.0.0.1", "ua"); err != nil {
		t.Errorf("after clearing: %v", err)
	}
}
