package demo

import (
	"context"
	"path/filepath"
	"testing"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// TestSeedDepositAccounts: a fresh install gets the deposit account its
// demo switches use, once; an organisation with its own accounts gets
// none.
func TestSeedDepositAccounts(t *testing.T) {
	ctx := context.Background()
	store, err := db.Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "ld.db")), db.Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for range 2 {
		if err := seedDepositAccounts(ctx, store); err != nil {
			t.Fatal(err)
		}
	}
	list, err := store.ListDepositAccounts(ctx, true)
	if err != nil || len(list) != 1 || list[0].Label() != "Linkdesk Checking ••4321" || list[0].RoutingNumber != DepositAccount.RoutingNumber {
		t.Fatalf("deposit accounts %+v %v", list, err)
	}

	own, err := db.Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "own.db")), db.Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if _, err := own.CreateDepositAccount(ctx, db.Actor{Email: "admin"}, db.DepositAccountCreate{Name: "Payroll", Type: "checking", RoutingNumber: "021000021", AccountNumber: "123456789"}); err != nil {
		t.Fatal(err)
	}
	if err := seedDepositAccounts(ctx, own); err != nil {
		t.Fatal(err)
	}
	if list, _ := own.ListDepositAccounts(ctx, false); len(list) != 1 || list[0].Name != "Payroll" {
		t.Errorf("an organisation with its own account got %+v", list)
	}
}
