package odu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/odu"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// env is a Minter on a temp database, talking over HTTP to the emulator,
// with one account connected at Pinwheel, an operator and a deposit
// account. No handler is involved: this is how a worker mints.
type env struct {
	store   *db.Store
	emu     *sandbox.Emulator
	m       *odu.Minter
	op      db.Actor
	account string
	deposit db.DepositAccount
}

const secret = "odu_test_secret"

func newEnv(t *testing.T, version string) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	// The Store's clock stands still (the emulator keeps the wall clock,
	// whose tokens live an hour).
	now := time.Now().UTC()
	store, err := db.Open(ctx, dbtest.Path(t, "test.db"), db.Options{Now: func() time.Time { return now }, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	var root http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { root.ServeHTTP(w, r) }))
	emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(dir, "sandbox.db"), Secret: secret, PublicURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	root = emu
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
		store.Close()
	})
	noSleep := func(context.Context, time.Duration) error { return nil }
	pw := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/v1", Secret: secret, Version: version, Sleep: noSleep,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}})

	// A first Link session connects an account, as a user would.
	first := pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: "eu-1"}
	first.RequiredJobs, first.Features, first.Solution = []string{"identity"}, nil, ""
	if version == pinwheel.Version20250708 {
		first.RequiredJobs, first.Features, first.Solution = nil, []string{"identity"}, pinwheel.SolutionVerify
	}
	lt, err := pw.CreateLinkToken(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&sandbox.Driver{BaseURL: srv.URL}).Complete(ctx, lt.Token, sandbox.SessionPlan{})
	if err != nil || res.AccountID == "" {
		t.Fatalf("connect: %+v %v", res, err)
	}

	st, err := store.CreateStaff(ctx, db.Actor{Email: "system"}, db.StaffCreate{Email: "op@example.com", Name: "Olive Op", Role: db.RoleOperator, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, emu: emu, account: res.AccountID, op: db.Actor{StaffID: st.ID, Email: st.Email},
		m: odu.New(odu.Config{Store: store, Client: pw, APIVersion: version})}
	if err := store.SetOrgName(ctx, e.op, "Acme Payroll Co"); err != nil {
		t.Fatal(err)
	}
	e.deposit, err = store.CreateDepositAccount(ctx, e.op, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "123456789"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// link is a validated deposit switch of $150 to the deposit account.
func (e *env) link() db.NewLink {
	d := e.deposit
	return db.NewLink{AccountID: e.account, EndUserID: "eu-1", PlatformID: "p", Jobs: []string{pinwheel.JobDDSwitch}, Language: "en",
		Reason: "customer asked, ticket 4521", Allocation: &db.LinkAllocation{Type: pinwheel.AllocationAmount, AmountCents: 15000,
			Targets: []db.LinkTarget{{DepositAccountID: d.ID, Name: d.Name, Type: d.Type, RoutingNumber: d.RoutingNumber, Last4: d.Last4}}}}
}

// mintRequests returns the bodies of POST /v1/link_tokens after the first
// (the session that connected the account).
func (e *env) mintRequests() []map[string]any {
	var out []map[string]any
	for _, r := range e.emu.Requests() {
		if r.Method != http.MethodPost || r.Path != "/v1/link_tokens" {
			continue
		}
		var body map[string]any
		json.Unmarshal(r.Body, &body)
		out = append(out, body)
	}
	return out[1:]
}

func TestMinter_Mint(t *testing.T) {
	for _, version := range []string{pinwheel.Version20231122, pinwheel.Version20250708} {
		t.Run(version, func(t *testing.T) {
			e := newEnv(t, version)
			ctx := context.Background()
			l, err := e.m.Mint(ctx, e.op, e.link())
			if err != nil {
				t.Fatal(err)
			}
			if l.Mode != db.ModeMinted || l.APIVersion != version || l.LinkTokenID == "" || l.Mints != 1 || l.Tags["linkdesk_token_id"] != l.TokenID {
				t.Errorf("stored link %+v", l)
			}
			reqs := e.mintRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d mint requests, want 1", len(reqs))
			}
			body, _ := json.Marshal(reqs[0])
			for _, want := range []string{`"account_number":"123456789"`, `"org_name":"Acme Payroll Co"`, `"account_id":"` + e.account + `"`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("request lacks %s: %s", want, body)
				}
			}
			if strings.Contains(string(body), "ticket 4521") {
				t.Errorf("the reason reached Pinwheel: %s", body)
			}
			_, hasRequired := reqs[0]["required_jobs"]
			if version == pinwheel.Version20250708 && (hasRequired || reqs[0]["solution"] != pinwheel.SolutionDepositSwitch) ||
				version == pinwheel.Version20231122 && !hasRequired {
				t.Errorf("jobs not in %s's form: %s", version, body)
			}
			launch, err := e.store.LaunchByID(ctx, l.LaunchID)
			if err != nil || launch.Token == "" || launch.State != db.LaunchLive {
				t.Errorf("launch page: %+v %v", launch, err)
			}
		})
	}
}

func TestMinter_MintRefused(t *testing.T) {
	e := newEnv(t, pinwheel.DefaultVersion)
	ctx := context.Background()
	e.emu.SetFaults(sandbox.Faults{ErrorRate: 1, Paths: []string{"/v1/link_tokens"}})
	_, err := e.m.Mint(ctx, e.op, e.link())
	var up *odu.UpstreamError
	if !errors.As(err, &up) || !pinwheel.IsServerError(up.Err) {
		t.Fatalf("got %v, want an UpstreamError of a 500", err)
	}
	if list, _, _ := e.store.ListLinks(ctx, db.LinkFilter{}); len(list) != 0 {
		t.Errorf("a refused mint stored %d links", len(list))
	}
	rows, _, _ := e.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintFailed})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"kind":"server_error"`) || rows[0].ActorID != e.op.StaffID {
		t.Errorf("mint_failed audit: %+v", rows)
	}
}

func TestMinter_MintUnrecorded(t *testing.T) {
	e := newEnv(t, pinwheel.DefaultVersion)
	ctx := context.Background()
	defer dbtest.RefuseInserts(t, e.store.Path(), "link_tokens")()
	_, err := e.m.Mint(ctx, e.op, e.link())
	var un *odu.UnrecordedError
	if !errors.As(err, &un) || un.LinkTokenID == "" {
		t.Fatalf("got %v, want an UnrecordedError naming the token", err)
	}
	rows, _, _ := e.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintUnrecorded})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, un.LinkTokenID) || rows[0].TargetID != e.account {
		t.Errorf("mint_unrecorded audit: %+v", rows)
	}
}

// TestMinter_CreateOnOpenThenOpen: creating a mint-on-open link calls
// nobody; opening it from several places at once mints one token, which
// later opens reuse.
func TestMinter_CreateOnOpenThenOpen(t *testing.T) {
	e := newEnv(t, pinwheel.DefaultVersion)
	ctx := context.Background()
	l, err := e.m.CreateOnOpen(ctx, e.op, e.link())
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != db.ModeMintOnOpen || l.Mints != 0 || len(e.mintRequests()) != 0 {
		t.Fatalf("created %+v with %d mint requests", l, len(e.mintRequests()))
	}
	if life := l.LinkExpiresAt.Sub(l.CreatedAt); life != odu.DefaultLinkLifetime {
		t.Errorf("link lives %v, want %v", life, odu.DefaultLinkLifetime)
	}

	visitor := db.Actor{IP: "198.51.100.7", Email: "launch page"}
	tokens := make([]string, 4)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			launch, err := e.store.LaunchByID(ctx, l.LaunchID)
			if err == nil && launch.NeedsMint {
				launch, err = e.m.Open(ctx, visitor, launch)
			}
			if err != nil {
				t.Error(err)
			}
			tokens[i] = launch.Token
		})
	}
	wg.Wait()
	if n := len(e.mintRequests()); n != 1 {
		t.Errorf("%d mint requests for concurrent opens, want 1", n)
	}
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Errorf("opens got tokens %q", tokens)
		}
	}
	launch, _ := e.store.LaunchByID(ctx, l.LaunchID)
	if launch.NeedsMint || launch.Token != tokens[0] {
		t.Errorf("a later open does not reuse the token: %+v", launch)
	}
}

func TestMinter_OpenArchivedTarget(t *testing.T) {
	e := newEnv(t, pinwheel.DefaultVersion)
	ctx := context.Background()
	l, err := e.m.CreateOnOpen(ctx, e.op, e.link())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ArchiveDepositAccount(ctx, e.op, e.deposit.ID); err != nil {
		t.Fatal(err)
	}
	launch, err := e.store.LaunchByID(ctx, l.LaunchID)
	if err != nil {
		t.Fatal(err)
	}
	launch, err = e.m.Open(ctx, db.Actor{Email: "launch page"}, launch)
	if err != nil || launch.State != db.LaunchClosed || launch.Link.ClosedReason != db.ClosedTargetArchived {
		t.Errorf("got %+v %v, want the link closed", launch, err)
	}
	if n := len(e.mintRequests()); n != 0 {
		t.Errorf("%d mint requests for an archived target", n)
	}
}
