package db_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
)

func key(b byte) []byte { return []byte(strings.Repeat(string(rune(b)), db.EncryptionKeySize)) }

// rawDB opens the Store's file directly, to look at what is stored.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func openWith(t *testing.T, path string, opt db.Options) *db.Store {
	t.Helper()
	opt.PasswordCost = bcrypt.MinCost
	s, err := db.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var customer = db.CustomerInput{EndUserID: "eu-1", FullName: "Ada Lovelace", DateOfBirth: "1985-12-10", SSNLast4: "0415", Email: "ada@example.com"}

// TestCustomers_EncryptedAtRest: a customer's date of birth and SSN last
// four are sealed in the file and read back in clear.
func TestCustomers_EncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := openWith(t, path, db.Options{EncryptionKey: key('a')})
	defer s.Close()
	if _, _, err := s.SaveCustomer(ctx, admin, customer); err != nil {
		t.Fatal(err)
	}
	var dob, ssn string
	if err := rawDB(t, path).QueryRow(`SELECT date_of_birth, ssn_last4 FROM customers`).Scan(&dob, &ssn); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dob, "v1:") || !strings.HasPrefix(ssn, "v1:") || strings.Contains(dob+ssn, "1985") || strings.Contains(dob+ssn, "0415") {
		t.Fatalf("stored %q %q", dob, ssn)
	}
	c, err := s.CustomerByEndUserID(ctx, "eu-1")
	if err != nil || c.DateOfBirth != "1985-12-10" || c.SSNLast4 != "0415" {
		t.Fatalf("read back %+v %v", c, err)
	}
	// Saving the same values changes nothing (compared in clear).
	if _, created, err := s.SaveCustomer(ctx, admin, customer); err != nil || created {
		t.Fatal(err)
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionCustomerUpdated})
	if len(rows) != 0 {
		t.Errorf("an unchanged save was audited as a change: %+v", rows)
	}
}

// TestMigration_SealsClearCustomerRows: rows written in clear before
// encryption are sealed at the next Open (the data migration), once.
func TestMigration_SealsClearCustomerRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s := openWith(t, path, db.Options{EncryptionKey: key('a')})
	s.Close()
	raw := rawDB(t, path)
	for _, q := range []string{
		`INSERT INTO customers (end_user_id, full_name, date_of_birth, ssn_last4, email, created_at, updated_at)
		 VALUES ('eu-old', 'Old Row', '1970-01-02', '9876', '', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`,
		`DELETE FROM schema_migrations WHERE name = '025_seal_customer_pii.go'`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// A tool without a key leaves the rows for later, and reads them.
	tool := openWith(t, path, db.Options{NoGeneratedKey: true})
	if c, err := tool.CustomerByEndUserID(ctx, "eu-old"); err != nil || c.DateOfBirth != "1970-01-02" {
		t.Fatalf("clear row before the migration: %+v %v", c, err)
	}
	tool.Close()
	s = openWith(t, path, db.Options{EncryptionKey: key('a')})
	defer s.Close()
	var dob string
	raw.QueryRow(`SELECT date_of_birth FROM customers WHERE end_user_id = 'eu-old'`).Scan(&dob)
	if !strings.HasPrefix(dob, "v1:") {
		t.Fatalf("not sealed by the migration: %q", dob)
	}
	if c, err := s.CustomerByEndUserID(ctx, "eu-old"); err != nil || c.DateOfBirth != "1970-01-02" || c.SSNLast4 != "9876" {
		t.Fatalf("after the migration: %+v %v", c, err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Error(err)
	}
}

// TestReencrypt_Rotation: a new key goes first, the old one still reads;
// Reencrypt seals everything with the new one, after which the old key is
// no longer needed; a generated key kept in the database is deleted once a
// configured key replaced it.
func TestReencrypt_Rotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")

	// Start as the emulator mode does: a generated key in the database.
	s := openWith(t, path, db.Options{})
	if _, gen := s.KeyIDs(); !gen {
		t.Fatal("no generated key")
	}
	d, err := s.CreateDepositAccount(ctx, admin, db.DepositAccountCreate{Name: "Payroll", Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SaveCustomer(ctx, admin, customer); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Key A configured: the generated key still reads; reencrypt moves
	// everything to A and deletes the generated key.
	s = openWith(t, path, db.Options{EncryptionKey: key('a')})
	r, err := s.Reencrypt(ctx, admin, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resealed["deposit_accounts.account_number_enc"] != 1 || r.Resealed["customers.date_of_birth"] != 1 || !r.DroppedStoredKey || r.Key != db.KeyID(key('a')) {
		t.Fatalf("report %+v", r)
	}
	s.Close()

	// Rotate: B first, A still reads.
	s = openWith(t, path, db.Options{EncryptionKey: key('b'), OldEncryptionKeys: [][]byte{key('a')}})
	if _, n, err := s.DepositAccountSecret(ctx, d.ID); err != nil || n != "123456789" {
		t.Fatalf("old key still reads: %q %v", n, err)
	}
	if r, err = s.Reencrypt(ctx, admin, false); err != nil || r.Resealed["customers.ssn_last4"] != 1 {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	if r, err = s.Reencrypt(ctx, admin, false); err != nil || r.Resealed["customers.ssn_last4"] != 0 {
		t.Fatalf("again: %+v %v", r, err)
	}
	s.Close()

	// B alone reads everything.
	s = openWith(t, path, db.Options{EncryptionKey: key('b')})
	defer s.Close()
	if _, n, err := s.DepositAccountSecret(ctx, d.ID); err != nil || n != "123456789" {
		t.Fatalf("after rotation: %q %v", n, err)
	}
	if c, err := s.CustomerByEndUserID(ctx, "eu-1"); err != nil || c.SSNLast4 != "0415" {
		t.Fatalf("after rotation: %+v %v", c, err)
	}
	if _, err := s.Setting(ctx, "encryption_key"); err == nil {
		t.Error("the generated key is still in the database")
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionKeysReencrypted})
	if len(rows) != 3 {
		t.Errorf("%d audit rows of reencrypt, want 3", len(rows))
	}
}
