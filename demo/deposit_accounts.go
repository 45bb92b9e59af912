package demo

import (
	"context"

	"linkdesk/db"
)

// The organisation's deposit accounts of the demo world: the account its
// direct deposit switches send pay to, so that a fresh install can mint a
// switch at once (the demo's own switches went to it too: runAccount).

// DepositAccount is the demo organisation's checking account.
var DepositAccount = db.DepositAccountCreate{
	Name: "Linkdesk Checking", Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "7000004321",
}

// depositKey is the settings row that records the deposit accounts as
// given.
const depositKey = "demo_deposit_accounts"

// seedDepositAccounts adds DepositAccount once per database, unless the
// organisation has deposit accounts of its own already.
func seedDepositAccounts(ctx context.Context, store *db.Store) error {
	if v, err := store.Setting(ctx, depositKey); err == nil && v == "done" {
		return nil
	}
	have, err := store.ListDepositAccounts(ctx, false)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		if _, err := store.CreateDepositAccount(ctx, db.Actor{Email: "demo", IP: "local"}, DepositAccount); err != nil {
			return err
		}
	}
	return store.SetSetting(ctx, depositKey, "done")
}
