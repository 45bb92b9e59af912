package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func TestParsePeopleQuery(t *testing.T) {
	cases := []struct {
		q    string
		want db.PeopleQuery
	}{
		{"Liam García", db.PeopleQuery{Words: []string{"liam", "garcia"}}},
		{"  GARCÍA,  liam ", db.PeopleQuery{Words: []string{"garcia", "liam"}}},
		{"O'Brien", db.PeopleQuery{Words: []string{"obrien"}}},
		{"Müller-Straße", db.PeopleQuery{Words: []string{"muller", "strasse"}}},
		{"Nguyễn Văn", db.PeopleQuery{Words: []string{"nguyen", "van"}}},
		{"liam liam", db.PeopleQuery{Words: []string{"liam"}}},
		{"Liam.Garcia@Example.com", db.PeopleQuery{Email: "liam.garcia@example.com"}},
		{"liam@", db.PeopleQuery{Email: "liam@"}},
		{"+1 (555) 010-1234", db.PeopleQuery{Phone: "15550101234"}},
		{"555.010", db.PeopleQuery{Phone: "555010"}},
		{"123", db.PeopleQuery{Words: []string{"123"}}}, // too few digits for a phone
		{"a b c d e f g h", db.PeopleQuery{Words: []string{"a", "b", "c", "d", "e", "f"}}},
		{"", db.PeopleQuery{}},
		{"\xff", db.PeopleQuery{}},
	}
	for _, c := range cases {
		if got := db.ParsePeopleQuery(c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParsePeopleQuery(%q) = %+v, want %+v", c.q, got, c.want)
		}
	}
}

// searchFixture stores customer records and identities (through the fetch
// jobs, as the worker would) and searches them.
type searchFixture struct {
	*oduFixture
}

// identity stores an identity snapshot for a new account of endUser.
func (f searchFixture) identity(t *testing.T, n int, endUser, body string) string {
	t.Helper()
	ctx := context.Background()
	account := fmt.Sprintf("0b6f0f6e-0000-4000-8000-%012d", 500+n)
	f.webhook(t, fmt.Sprintf("added-%d", n), "account.added", fmt.Sprintf(`{"created_at": %q, "link_token_id": "t", "platform_id": "p", "connected": true, "monitoring_status": "active", "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}`,
		f.clk.t.Format(time.RFC3339), endUser, account))
	f.webhook(t, fmt.Sprintf("identity-%d", n), "identity.added", fmt.Sprintf(`{"id": "j", "name": "identity", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "t", "params": {}, "account_id": %q, "end_user_id": %q}`,
		f.clk.t.Format(time.RFC3339), account, endUser))
	jobs, err := f.s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchIdentity)}, 50, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.JobOutcome
	for _, j := range jobs {
		if fj, _ := db.ReadFetchJob(j); fj.AccountID == account {
			out = append(out, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(strings.ReplaceAll(body, "ACCOUNT", account))}})
		} else {
			out = append(out, db.JobOutcome{Job: j, Err: fmt.Errorf("not this one")})
		}
	}
	if len(out) == 0 {
		t.Fatal("no identity fetch queued")
	}
	if err := f.s.FinishJobs(ctx, out); err != nil {
		t.Fatal(err)
	}
	return account
}

func (f searchFixture) customer(t *testing.T, endUser, name, email string) {
	t.Helper()
	_, _, err := f.s.SaveCustomer(context.Background(), f.op, db.CustomerInput{EndUserID: endUser, FullName: name, DateOfBirth: "1990-01-02", SSNLast4: "1234", Email: email})
	if err != nil {
		t.Fatal(err)
	}
}

// people returns "end_user_id field match" of the people a query finds.
func (f searchFixture) people(t *testing.T, q string) []string {
	t.Helper()
	hits, err := f.s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hits {
		if h.Kind == db.HitEndUser && h.Field != "" {
			out = append(out, h.ID+" "+h.Field+" "+h.Match)
		}
	}
	return out
}

func TestStore_SearchPeople(t *testing.T) {
	f := searchFixture{newODUFixture(t)}
	f.customer(t, "cust-liam", "Liam García", "Liam.Garcia@Example.com")
	f.customer(t, "cust-lia", "Lia Garner", "")
	f.customer(t, "cust-noor", "Noor O'Brien-Núñez", "noor@example.org")
	f.identity(t, 1, "cust-ana", `{"id": "i", "account_id": "ACCOUNT", "full_name": "Ana Müller", "emails": ["ana.mueller@example.net"], "phone_numbers": [{"value": "+15550101234", "type": "mobile"}]}`)

	cases := []struct {
		q    string
		want []string
	}{
		{"Liam García", []string{"cust-liam name Liam García"}},
		{"garcia liam", []string{"cust-liam name Liam García"}},
		{"GARCÍA", []string{"cust-liam name Liam García"}},
		{"gar li", []string{"cust-lia name Lia Garner", "cust-liam name Liam García"}},
		{"li", []string{"cust-lia name Lia Garner", "cust-liam name Liam García"}},
		{"liam garner", nil},
		{"obrien", []string{"cust-noor name Noor O'Brien-Núñez"}},
		{"nunez noor", []string{"cust-noor name Noor O'Brien-Núñez"}},
		{"liam.garcia@example.com", []string{"cust-liam email liam.garcia@example.com"}},
		{"NOOR@EX", []string{"cust-noor email noor@example.org"}},
		{"muller", []string{"cust-ana name Ana Müller"}},
		{"ana.mueller@example.net", []string{"cust-ana email ana.mueller@example.net"}},
		{"+1 555 010 1234", []string{"cust-ana phone +15550101234"}},
		{"(555) 010-1234", []string{"cust-ana phone +15550101234"}},
		{"555 010", []string{"cust-ana phone +15550101234"}},
		{"Zed", nil},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			if got := f.people(t, c.q); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}

	t.Run("a person found by email is named", func(t *testing.T) {
		hits, err := f.s.Search(context.Background(), "noor@example.org")
		if err != nil || len(hits) != 1 || hits[0].Name != "Noor O'Brien-Núñez" || hits[0].EndUser {
			t.Fatalf("%+v %v", hits, err)
		}
		hits, err = f.s.Search(context.Background(), "ana muller")
		if err != nil || len(hits) != 1 || !hits[0].EndUser || hits[0].Accounts != 1 || hits[0].Source != "identity" {
			t.Fatalf("%+v %v", hits, err)
		}
	})

	t.Run("an end user id of a customer record only", func(t *testing.T) {
		hits, err := f.s.Search(context.Background(), "cust-lia")
		if err != nil || len(hits) != 1 || hits[0].ID != "cust-lia" || hits[0].EndUser || hits[0].Source != "customer" {
			t.Fatalf("%+v %v", hits, err)
		}
	})

	t.Run("a changed name is found by its new words only", func(t *testing.T) {
		f.customer(t, "cust-liam", "William Brown", "liam.garcia@example.com")
		if got := f.people(t, "liam garcia"); got != nil {
			t.Errorf("old name still found: %q", got)
		}
		if got := f.people(t, "brown"); !reflect.DeepEqual(got, []string{"cust-liam name William Brown"}) {
			t.Errorf("new name: %q", got)
		}
	})

	t.Run("an identity fetched again replaces its terms", func(t *testing.T) {
		f.identity(t, 2, "cust-bo", `{"id": "i", "account_id": "ACCOUNT", "full_name": "Bo Jensen"}`)
		if got := f.people(t, "jensen"); len(got) != 1 {
			t.Fatalf("jensen: %q", got)
		}
	})

	t.Run("an import indexes every record", func(t *testing.T) {
		csv := "end_user_id,full_name,date_of_birth,ssn_last4,email\nimp-1,Zoë Ångström,1980-01-02,0001,zoe@example.com\nimp-2,Åsa Lind,1981-01-02,0002,\n"
		ci, err := f.s.CreateCustomerImport(context.Background(), f.op, "c.csv", strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.ConfirmCustomerImport(context.Background(), f.op, ci.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.people(t, "angstrom zoe"); !reflect.DeepEqual(got, []string{"imp-1 name Zoë Ångström"}) {
			t.Errorf("got %q", got)
		}
		if got := f.people(t, "asa"); len(got) != 1 {
			t.Errorf("asa: %q", got)
		}
	})
}

// TestStore_SearchPeopleBounds: a query whose words are common finds the
// first people, never more than a page, and a query with many words costs
// a bounded number of probes.
func TestStore_SearchPeopleBounds(t *testing.T) {
	f := searchFixture{newODUFixture(t)}
	for i := range 45 {
		f.customer(t, fmt.Sprintf("p-%03d", i), fmt.Sprintf("Alex Smith%d", i), "")
	}
	if got := f.people(t, "a"); len(got) != db.MaxSearchHits {
		t.Fatalf("%d people", len(got))
	}
	if got := f.people(t, "smith44 alex"); !reflect.DeepEqual(got, []string{"p-044 name Alex Smith44"}) {
		t.Errorf("got %q", got)
	}
}

// TestStore_ReindexSearch empties the index and rebuilds it in batches, as
// the job after migration 070 does for an older database.
func TestStore_ReindexSearch(t *testing.T) {
	f := searchFixture{newODUFixture(t)}
	ctx := context.Background()
	f.customer(t, "cust-liam", "Liam García", "liam@example.com")
	f.identity(t, 1, "cust-ana", `{"id": "i", "account_id": "ACCOUNT", "full_name": "Ana Müller", "phone_numbers": [{"value": "+15550101234"}]}`)
	raw := searchRawDB(t, f.s.Path())
	if _, err := raw.Exec(`DELETE FROM search_terms`); err != nil {
		t.Fatal(err)
	}
	if got := f.people(t, "garcia"); got != nil {
		t.Fatalf("index not empty: %q", got)
	}
	if err := f.s.RestartSearchReindex(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		done, err := f.s.ReindexSearch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if i > 10 {
			t.Fatal("reindex does not finish")
		}
	}
	if got := f.people(t, "garcia liam"); len(got) != 1 {
		t.Errorf("customer not reindexed: %q", got)
	}
	if got := f.people(t, "5550101234"); len(got) != 1 {
		t.Errorf("identity not reindexed: %q", got)
	}
	if jobs, err := f.s.Jobs(ctx, []string{db.JobSearchReindex}, "all"); err != nil || len(jobs) != 1 {
		t.Errorf("reindex jobs %+v %v", jobs, err)
	}
}

// TestStore_SearchTermsFollowDeletes: erasing a customer record or an
// identity snapshot erases its terms (triggers of migration 070).
func TestStore_SearchTermsFollowDeletes(t *testing.T) {
	f := searchFixture{newODUFixture(t)}
	f.customer(t, "cust-liam", "Liam García", "")
	account := f.identity(t, 1, "cust-liam", `{"id": "i", "account_id": "ACCOUNT", "full_name": "Liam Garcia Lopez"}`)
	raw := searchRawDB(t, f.s.Path())
	var n int
	raw.QueryRow(`SELECT COUNT(*) FROM search_terms WHERE person = 'cust-liam'`).Scan(&n)
	if n != 5 {
		t.Fatalf("%d terms, want 5 (liam, garcia twice; lopez)", n)
	}
	if _, err := raw.Exec(`DELETE FROM customers WHERE end_user_id = 'cust-liam'`); err != nil {
		t.Fatal(err)
	}
	raw.QueryRow(`SELECT COUNT(*) FROM search_terms WHERE person = 'cust-liam'`).Scan(&n)
	if n != 3 {
		t.Fatalf("%d terms after the record's erasure, want the identity's 3", n)
	}
	if _, err := raw.Exec(`DELETE FROM identity_verdicts`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM data_snapshots WHERE account_ref = (SELECT id FROM accounts WHERE account_id = '` + account + `')`); err != nil {
		t.Fatal(err)
	}
	raw.QueryRow(`SELECT COUNT(*) FROM search_terms`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d terms after the identity's erasure", n)
	}
}

// searchRawDB opens the test's database behind the Store's back: the SQLite file,
// or the PostgreSQL database when the Store runs on one (its Path is then a
// postgres:// URL). Statements run on both: no placeholders.
func searchRawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	if strings.HasPrefix(path, "postgres") {
		driver, dsn = "pgx", path
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
