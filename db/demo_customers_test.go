package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"linkdesk/db"
)

func TestDemoCustomerFor(t *testing.T) {
	for _, id := range []db.IdentityData{
		{FullName: "Maria Gonzalez", DateOfBirth: "1980-02-03", LastFourSSN: "1234"},
		{FullName: "Ash Userton", DateOfBirth: "1993-08-28", LastFourSSN: "0042"},
		{FullName: "Li Wu", DateOfBirth: "1975-12-01", LastFourSSN: "9999"},
	} {
		want := []string{db.VerdictMatch, db.VerdictMatch, db.VerdictPartial, db.VerdictMismatch}
		for variant, w := range want {
			in := db.DemoCustomerFor("u", id, variant)
			if fe := db.ValidateCustomer(in, time.Now()); fe != nil {
				t.Errorf("%s variant %d: invalid record %+v: %v", id.FullName, variant, in, fe)
				continue
			}
			c := &db.Customer{EndUserID: in.EndUserID, FullName: in.FullName, DateOfBirth: in.DateOfBirth, SSNLast4: in.SSNLast4}
			if got := db.MatchIdentity(c, id); got.Result != w {
				t.Errorf("%s variant %d (%q): got %s %v, want %s", id.FullName, variant, in.FullName, got.Result, got.Fields, w)
			}
		}
	}
}

func TestStore_SeedDemoCustomers(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	names := []string{"Maria Gonzalez", "Ash Userton", "Dana Whitfield", "Noor Haddad"}
	var accounts []string
	for i := range names {
		account := fmt.Sprintf("0b6f0f6e-0000-4000-8000-0000000000%02d", 10+i)
		endUser := fmt.Sprintf("demo-user-%d", i)
		f.webhook(t, "added-"+account, "account.added", fmt.Sprintf(`{"created_at": %q, "link_token_id": "t", "platform_id": "p", "connected": true, "monitoring_status": "active", "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}`,
			f.clk.t.Format(time.RFC3339), endUser, account))
		f.webhook(t, "id-"+account, "identity.added", fmt.Sprintf(`{"id": "j", "name": "identity", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "t", "params": {}, "account_id": %q, "end_user_id": %q}`,
			f.clk.t.Format(time.RFC3339), account, endUser))
		accounts = append(accounts, account)
	}
	jobs, err := f.s.ClaimJobs(ctx, db.FetchJobKinds, 50, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var results []db.JobOutcome
	for _, j := range jobs {
		fj, _ := db.ReadFetchJob(j)
		if fj.Data != db.FetchIdentity {
			continue
		}
		i := demoIndexOf(accounts, fj.AccountID)
		if i < 0 {
			continue
		}
		body := fmt.Sprintf(`{"id": "i", "account_id": %q, "full_name": %q, "date_of_birth": "1990-01-0%d", "last_four_ssn": "123%d"}`, fj.AccountID, names[i], i+1, i)
		results = append(results, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body)}})
	}
	if len(results) != len(names) {
		t.Fatalf("%d identity fetches, want %d", len(results), len(names))
	}
	if err := f.s.FinishJobs(ctx, results); err != nil {
		t.Fatal(err)
	}
	// Storing an identity snapshot computes its verdict in the same transaction.
	for _, account := range accounts {
		if v, err := f.s.IdentityVerdict(ctx, account); err != nil || v.Result != db.VerdictNoCustomerRecord {
			t.Fatalf("%s after the fetch: %+v %v, want no customer record", account, v, err)
		}
	}

	n, err := f.s.SeedDemoCustomers(ctx, db.Actor{Email: "demo"})
	if err != nil || n != len(names) {
		t.Fatalf("seeded %d, %v", n, err)
	}
	want := []string{db.VerdictMatch, db.VerdictMatch, db.VerdictPartial, db.VerdictMismatch}
	for i, account := range accounts {
		v, err := f.s.IdentityVerdict(ctx, account)
		if err != nil || v.Result != want[i] {
			t.Errorf("%s: verdict %+v %v, want %s", names[i], v, err, want[i])
		}
	}
	if n, err := f.s.SeedDemoCustomers(ctx, db.Actor{Email: "demo"}); err != nil || n != 0 {
		t.Errorf("second run seeded %d, %v", n, err)
	}
}

func demoIndexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
