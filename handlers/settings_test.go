package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"linkdesk/db"
)

func TestSettings_OrgName(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "admin@example.com")
	page := s.do(t, "GET", "/settings", nil, c)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `value="Linkdesk Demo"`) {
		t.Fatalf("got %d, want the default name in the form", page.Code)
	}
	c = updatedCookie(page, c)

	rec := s.do(t, "POST", "/settings/org", url.Values{"org_name": {"Ac"}}, c)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "3 to 30 characters") || !strings.Contains(rec.Body.String(), `value="Ac"`) {
		t.Fatalf("too short: got %d, want 422 with the message and the input kept", rec.Code)
	}
	rec = s.do(t, "POST", "/settings/org", url.Values{"org_name": {"Acme Payroll"}}, c)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings" {
		t.Fatalf("save: got %d %s", rec.Code, rec.Header().Get("Location"))
	}
	c = updatedCookie(rec, c)
	body := s.do(t, "GET", "/settings", nil, c).Body.String()
	if !strings.Contains(body, `value="Acme Payroll"`) || !strings.Contains(body, "Organisation name saved.") {
		t.Fatal("the new name or the flash is missing")
	}
	if n, _ := s.store.OrgName(context.Background()); n != "Acme Payroll" {
		t.Fatalf("stored %q", n)
	}
}

func TestSettings_DepositAccounts(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.login(t, "admin@example.com")
	const number = "987654326789"
	valid := url.Values{"name": {"Payroll Checking"}, "type": {"checking"}, "routing_number": {"021000021"}, "account_number": {number}}

	t.Run("validation re-renders with messages, never the account number", func(t *testing.T) {
		tests := []struct {
			field, value, msg string
		}{
			{"routing_number", "021000022", "The routing number&#39;s check digit is wrong — check for a typo."},
			{"routing_number", "02100002", "exactly 9 digits"},
			{"routing_number", "02100002x", "digits only"},
			{"account_number", "9876x4326789", "digits only"},
			{"account_number", "1234", "5 to 17 digits"},
			{"name", "P", "2 to 30 characters"},
			{"type", "brokerage", "Choose checking or savings."},
		}
		for _, tt := range tests {
			form := url.Values{}
			for k, v := range valid {
				form[k] = v
			}
			form.Set(tt.field, tt.value)
			rec := s.do(t, "POST", "/settings/deposit-accounts", form, c)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, tt.msg) {
				t.Errorf("%s=%q: got %d, want 422 with %q", tt.field, tt.value, rec.Code, tt.msg)
			}
			if strings.Contains(body, "98765432") || strings.Contains(body, "9876x432") {
				t.Errorf("%s=%q: the account number was echoed back", tt.field, tt.value)
			}
			if tt.field != "name" && !strings.Contains(body, `value="Payroll Checking"`) {
				t.Errorf("%s=%q: the name was not kept", tt.field, tt.value)
			}
		}
		if list, _ := s.store.ListDepositAccounts(ctx, false); len(list) != 0 {
			t.Fatalf("%d accounts after invalid input", len(list))
		}
	})
	t.Run("add: encrypted at rest, masked on the page, audited", func(t *testing.T) {
		rec := s.do(t, "POST", "/settings/deposit-accounts", valid, c)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("got %d: %s", rec.Code, rec.Body.String())
		}
		c = updatedCookie(rec, c)
		page := s.do(t, "GET", "/settings", nil, c)
		c = updatedCookie(page, c)
		body := page.Body.String()
		if !strings.Contains(body, "Payroll Checking ••6789") {
			t.Fatal("the masked label is missing")
		}
		if strings.Contains(body, number) || strings.Contains(body, "98765432") {
			t.Fatal("the full account number is in the page")
		}

		raw, err := db.Connect(s.store.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var enc, last4 string
		if err := raw.QueryRow(`SELECT account_number_enc, account_last4 FROM deposit_accounts`).Scan(&enc, &last4); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(enc, "98765432") || last4 != "6789" {
			t.Fatalf("stored %q / %q: the number is not encrypted", enc, last4)
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionDepositAccountCreated})
		if len(rows) != 1 || rows[0].ActorEmail != "admin@example.com" || strings.Contains(rows[0].Detail, "98765432") {
			t.Fatalf("audit %+v", rows)
		}
	})
	t.Run("archive", func(t *testing.T) {
		list, _ := s.store.ListDepositAccounts(ctx, true)
		rec := s.do(t, "POST", "/settings/deposit-accounts/"+itoa(list[0].ID)+"/archive", url.Values{}, c)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("got %d", rec.Code)
		}
		c = updatedCookie(rec, c)
		if active, _ := s.store.ListDepositAccounts(ctx, true); len(active) != 0 {
			t.Fatal("still active")
		}
		body := s.do(t, "GET", "/settings", nil, c).Body.String()
		if !strings.Contains(body, "archived") || !strings.Contains(body, "Archived Payroll Checking ••6789") {
			t.Fatal("no archived row or flash")
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionDepositAccountArchived})
		if len(rows) != 1 {
			t.Fatalf("%d archive audit rows", len(rows))
		}
		if rec := s.do(t, "POST", "/settings/deposit-accounts/999/archive", url.Values{}, c); rec.Code != http.StatusNotFound {
			t.Fatalf("missing account: got %d, want 404", rec.Code)
		}
	})
	t.Run("operators and auditors are refused", func(t *testing.T) {
		for _, role := range []string{"operator", "auditor"} {
			rc := s.login(t, role+"@example.com")
			if rec := s.do(t, "GET", "/settings", nil, rc); rec.Code != http.StatusForbidden {
				t.Errorf("%s GET: %d", role, rec.Code)
			}
			if rec := s.do(t, "POST", "/settings/deposit-accounts", valid, rc); rec.Code != http.StatusForbidden {
				t.Errorf("%s POST: %d", role, rec.Code)
			}
			if strings.Contains(s.do(t, "GET", "/", nil, rc).Body.String(), `href="/settings"`) {
				t.Errorf("%s sees the Settings nav entry", role)
			}
		}
		if !strings.Contains(s.do(t, "GET", "/", nil, c).Body.String(), `href="/settings"`) {
			t.Error("admins lack the Settings nav entry")
		}
	})
}
