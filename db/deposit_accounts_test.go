package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"linkdesk/db"
	"linkdesk/dbtest"
)

func TestValidRoutingNumber(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"021000021", true},
		{"011000015", true},
		{"121000358", true},
		{"021000022", false}, // check digit off by one
		{"12100035", false},  // 8 digits
		{"1210003580", false},
		{"12100035a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := db.ValidRoutingNumber(tt.in); got != tt.want {
			t.Errorf("ValidRoutingNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidateDepositAccount(t *testing.T) {
	good := db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "123456789"}
	tests := []struct {
		name  string
		edit  func(*db.DepositAccountCreate)
		field string
		msg   string
	}{
		{"valid", func(*db.DepositAccountCreate) {}, "", ""},
		{"separators ignored", func(c *db.DepositAccountCreate) { c.RoutingNumber, c.AccountNumber = "021 000 021", "1234-5678-9" }, "", ""},
		{"name too short", func(c *db.DepositAccountCreate) { c.Name = "P" }, "name", "2 to 30"},
		{"name too long", func(c *db.DepositAccountCreate) { c.Name = strings.Repeat("x", 31) }, "name", "2 to 30"},
		{"type", func(c *db.DepositAccountCreate) { c.Type = "brokerage" }, "type", "checking or savings"},
		{"routing check digit", func(c *db.DepositAccountCreate) { c.RoutingNumber = "021000022" }, "routing_number", "check digit is wrong"},
		{"routing length", func(c *db.DepositAccountCreate) { c.RoutingNumber = "02100002" }, "routing_number", "exactly 9 digits; this has 8"},
		{"routing letters", func(c *db.DepositAccountCreate) { c.RoutingNumber = "02100002O" }, "routing_number", "digits only"},
		{"routing empty", func(c *db.DepositAccountCreate) { c.RoutingNumber = "" }, "routing_number", "Enter the 9-digit"},
		{"account letters", func(c *db.DepositAccountCreate) { c.AccountNumber = "12345x789" }, "account_number", "digits only"},
		{"account short", func(c *db.DepositAccountCreate) { c.AccountNumber = "1234" }, "account_number", "5 to 17 digits"},
		{"account long", func(c *db.DepositAccountCreate) { c.AccountNumber = strings.Repeat("1", 18) }, "account_number", "5 to 17 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			fe := db.ValidateDepositAccount(c)
			if tt.field == "" {
				if fe != nil {
					t.Fatalf("got %v, want no errors", fe)
				}
				return
			}
			if !strings.Contains(fe[tt.field], tt.msg) || len(fe) != 1 {
				t.Fatalf("got %v, want only %s: …%s…", fe, tt.field, tt.msg)
			}
		})
	}
}

func TestStore_DepositAccounts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "987654326789"}

	d, err := s.CreateDepositAccount(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Last4 != "6789" || d.Label() != "Payroll Checking ••6789" || !d.Active {
		t.Fatalf("created %+v", d)
	}

	t.Run("encrypted at rest", func(t *testing.T) {
		raw, err := db.Connect(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var enc string
		if err := raw.QueryRow(`SELECT account_number_enc FROM deposit_accounts WHERE id = ?`, d.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(enc, "98765432") || strings.Contains(enc, in.AccountNumber) || !strings.HasPrefix(enc, "v1:") {
			t.Fatalf("stored %q: the number is not encrypted", enc)
		}
		var dump strings.Builder
		rows, _ := raw.Query(`SELECT detail FROM audit_log`)
		for rows.Next() {
			var s string
			rows.Scan(&s)
			dump.WriteString(s)
		}
		rows.Close()
		if strings.Contains(dump.String(), "98765432") {
			t.Fatal("the audit trail holds the account number")
		}
	})
	t.Run("secret decrypts", func(t *testing.T) {
		got, number, err := s.DepositAccountSecret(ctx, d.ID)
		if err != nil || number != in.AccountNumber || got.ID != d.ID {
			t.Fatalf("got %+v %q %v", got, number, err)
		}
		if _, _, err := s.DepositAccountSecret(ctx, 999); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("missing: got %v, want ErrNotFound", err)
		}
	})
	t.Run("active names are unique", func(t *testing.T) {
		dup := in
		dup.Name = "payroll checking"
		_, err := s.CreateDepositAccount(ctx, admin, dup)
		var fe db.FieldErrors
		if !errors.As(err, &fe) || !strings.Contains(fe["name"], "already has this name") {
			t.Fatalf("got %v, want a name field error", err)
		}
	})
	t.Run("archive keeps the row and frees the name", func(t *testing.T) {
		a, err := s.ArchiveDepositAccount(ctx, admin, d.ID)
		if err != nil || a.Active || a.ArchivedAt.IsZero() {
			t.Fatalf("got %+v %v", a, err)
		}
		if _, err := s.ArchiveDepositAccount(ctx, admin, d.ID); err != nil {
			t.Fatalf("archive twice: %v", err)
		}
		if _, err := s.ArchiveDepositAccount(ctx, admin, 999); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("archive missing: got %v", err)
		}
		active, _ := s.ListDepositAccounts(ctx, true)
		all, _ := s.ListDepositAccounts(ctx, false)
		if len(active) != 0 || len(all) != 1 {
			t.Fatalf("active %d, all %d; want 0 and 1", len(active), len(all))
		}
		if _, err := s.CreateDepositAccount(ctx, admin, in); err != nil {
			t.Fatalf("same name after archiving: %v", err)
		}
	})
	t.Run("audited", func(t *testing.T) {
		created, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionDepositAccountCreated})
		archived, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionDepositAccountArchived})
		if len(created) != 2 || len(archived) != 1 || !strings.Contains(created[1].Detail, `"last4":"6789"`) {
			t.Fatalf("created %v, archived %v", created, archived)
		}
		if _, err := s.VerifyAuditChain(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStore_EncryptionKey(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Path(t, "k.db")
	in := db.DepositAccountCreate{Name: "Ops Savings", Type: "savings", RoutingNumber: "011000015", AccountNumber: "55554444"}

	t.Run("generated key survives a restart", func(t *testing.T) {
		s, err := db.Open(ctx, path, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.CreateDepositAccount(ctx, admin, in)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		s, err = db.Open(ctx, path, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, n, err := s.DepositAccountSecret(ctx, d.ID); err != nil || n != in.AccountNumber {
			t.Fatalf("got %q %v", n, err)
		}
	})
	t.Run("a configured key encrypts new rows and still opens old ones", func(t *testing.T) {
		key := []byte(strings.Repeat("k", 32))
		s, err := db.Open(ctx, path, db.Options{EncryptionKey: key})
		if err != nil {
			t.Fatal(err)
		}
		in2 := in
		in2.Name = "Second"
		d2, err := s.CreateDepositAccount(ctx, admin, in2)
		if err != nil {
			t.Fatal(err)
		}
		if _, n, err := s.DepositAccountSecret(ctx, 1); err != nil || n != in.AccountNumber {
			t.Fatalf("old row: %q %v", n, err)
		}
		s.Close()

		// Without the configured key the new row cannot be opened.
		s, err = db.Open(ctx, path, db.Options{EncryptionKey: []byte(strings.Repeat("x", 32))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, _, err := s.DepositAccountSecret(ctx, d2.ID); !errors.Is(err, db.ErrUndecryptable) {
			t.Fatalf("wrong key: got %v, want ErrUndecryptable", err)
		}
	})
	t.Run("a key of the wrong size is refused", func(t *testing.T) {
		if _, err := db.Open(ctx, dbtest.Path(t, "x.db"), db.Options{EncryptionKey: []byte("short")}); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestStore_OrgName(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if n, err := s.OrgName(ctx); err != nil || n != db.DefaultOrgName {
		t.Fatalf("default: %q %v", n, err)
	}
	var fe db.FieldErrors
	if err := s.SetOrgName(ctx, admin, "ab"); !errors.As(err, &fe) || fe["org_name"] == "" {
		t.Fatalf("too short: %v", err)
	}
	if err := s.SetOrgName(ctx, admin, strings.Repeat("x", 31)); !errors.As(err, &fe) {
		t.Fatalf("too long: %v", err)
	}
	if err := s.SetOrgName(ctx, admin, "  Acme Payroll  "); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrgName(ctx, admin, "Acme Payroll"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OrgName(ctx); n != "Acme Payroll" {
		t.Fatalf("got %q", n)
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionOrgNameChanged})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"from":"Linkdesk Demo"`) {
		t.Fatalf("audit %v, want one change from the default", rows)
	}
}
