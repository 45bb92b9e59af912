package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func TestValidateCustomer(t *testing.T) {
	today := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	good := db.CustomerInput{EndUserID: "u-1", FullName: "Ash Userton", DateOfBirth: "1990-04-28", SSNLast4: "0123", Email: "ash@example.com"}
	tests := []struct {
		name  string
		edit  func(*db.CustomerInput)
		field string
		msg   string
	}{
		{"valid", func(*db.CustomerInput) {}, "", ""},
		{"email optional", func(c *db.CustomerInput) { c.Email = "" }, "", ""},
		{"end user id empty", func(c *db.CustomerInput) { c.EndUserID = "  " }, "end_user_id", "Enter the end user ID"},
		{"end user id too long", func(c *db.CustomerInput) { c.EndUserID = strings.Repeat("x", 256) }, "end_user_id", "255"},
		{"end user id control", func(c *db.CustomerInput) { c.EndUserID = "a\x00b" }, "end_user_id", "control"},
		{"name empty", func(c *db.CustomerInput) { c.FullName = "" }, "full_name", "full name"},
		{"dob format", func(c *db.CustomerInput) { c.DateOfBirth = "04/28/1990" }, "date_of_birth", "YYYY-MM-DD"},
		{"dob not a date", func(c *db.CustomerInput) { c.DateOfBirth = "1990-02-30" }, "date_of_birth", "real date"},
		{"dob today", func(c *db.CustomerInput) { c.DateOfBirth = "2026-11-26" }, "date_of_birth", "in the past"},
		{"dob future", func(c *db.CustomerInput) { c.DateOfBirth = "2030-01-01" }, "date_of_birth", "in the past"},
		{"dob ancient", func(c *db.CustomerInput) { c.DateOfBirth = "1850-01-01" }, "date_of_birth", "after 1900"},
		{"last4 leading zero dropped", func(c *db.CustomerInput) { c.SSNLast4 = "123" }, "ssn_last4", "leading zeros"},
		{"last4 whole ssn", func(c *db.CustomerInput) { c.SSNLast4 = "123456789" }, "ssn_last4", "only the last 4"},
		{"last4 letters", func(c *db.CustomerInput) { c.SSNLast4 = "12a4" }, "ssn_last4", "digits only"},
		{"email bad", func(c *db.CustomerInput) { c.Email = "ash@" }, "email", "valid email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			fe := db.ValidateCustomer(c, today)
			if tt.field == "" {
				if fe != nil {
					t.Fatalf("got %v, want none", fe)
				}
				return
			}
			if len(fe) != 1 || !strings.Contains(fe[tt.field], tt.msg) {
				t.Fatalf("got %v, want only %s: …%s…", fe, tt.field, tt.msg)
			}
		})
	}
}

func TestStore_SaveCustomer(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := db.CustomerInput{EndUserID: "u1", FullName: " Ash  Userton ", DateOfBirth: "1990-04-28", SSNLast4: "1234", Email: "Ash@Example.com"}

	c, created, err := s.SaveCustomer(ctx, admin, in)
	if err != nil || !created || c.FullName != "Ash Userton" || c.Email != "ash@example.com" {
		t.Fatalf("create: %+v %v %v", c, created, err)
	}
	got, err := s.CustomerByEndUserID(ctx, "u1")
	if err != nil || got != c {
		t.Fatalf("round trip: got %+v, want %+v (%v)", got, c, err)
	}
	if _, _, err := s.SaveCustomer(ctx, admin, in); err != nil {
		t.Fatal(err)
	}
	in.DateOfBirth, in.SSNLast4 = "1990-04-29", "4321"
	if _, created, err := s.SaveCustomer(ctx, admin, in); err != nil || created {
		t.Fatalf("update: %v %v", created, err)
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{TargetType: "customer", TargetID: "u1"})
	if len(rows) != 2 {
		t.Fatalf("got %d audit rows, want 2 (an unchanged save writes none)", len(rows))
	}
	upd := rows[0]
	if upd.Action != db.ActionCustomerUpdated || upd.Detail != `{"changed":["date_of_birth","ssn_last4"]}` {
		t.Fatalf("update audit %+v", upd)
	}
	for _, r := range rows {
		if strings.Contains(r.Detail, "1990") || strings.Contains(r.Detail, "4321") || strings.Contains(r.Detail, "1234") {
			t.Fatalf("audit detail holds a raw value: %s", r.Detail)
		}
	}
	var fe db.FieldErrors
	if _, _, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u2"}); !errors.As(err, &fe) || len(fe) != 3 {
		t.Fatalf("invalid: got %v, want 3 field errors", err)
	}
	if _, err := s.CustomerByEndUserID(ctx, "u2"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}

	t.Run("blank date of birth and SSN last four keep the stored values", func(t *testing.T) {
		c, created, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u1", FullName: "Ash Q. Userton", Email: "ash@example.com"})
		if err != nil || created || c.DateOfBirth != "1990-04-29" || c.SSNLast4 != "4321" || c.FullName != "Ash Q. Userton" {
			t.Fatalf("got %+v %v %v", c, created, err)
		}
		got, _ := s.CustomerByEndUserID(ctx, "u1")
		if got.DateOfBirth != "1990-04-29" || got.SSNLast4 != "4321" {
			t.Errorf("stored %+v", got)
		}
		rows, _, _ := s.ListAudit(ctx, db.AuditFilter{TargetType: "customer", TargetID: "u1"})
		if rows[0].Detail != `{"changed":["full_name"]}` {
			t.Errorf("audit %s, want only full_name changed", rows[0].Detail)
		}
		c, _, err = s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u1", FullName: "Ash Q. Userton", SSNLast4: "0007"})
		if err != nil || c.DateOfBirth != "1990-04-29" || c.SSNLast4 != "0007" {
			t.Errorf("one field kept, one changed: %+v %v", c, err)
		}
		if _, _, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u3", FullName: "New"}); !errors.As(err, &fe) || fe["date_of_birth"] == "" || fe["ssn_last4"] == "" {
			t.Errorf("a new record without them: got %v", err)
		}
	})
}

func TestStore_ListCustomers(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for i := range 7 {
		id := fmt.Sprintf("user_%d", i)
		if i >= 5 {
			id = fmt.Sprintf("other_%d", i)
		}
		if _, _, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: id, FullName: "N " + id, DateOfBirth: "1990-01-01", SSNLast4: "0000"}); err != nil {
			t.Fatal(err)
		}
	}
	page1, more, err := s.ListCustomers(ctx, db.CustomerFilter{Limit: 3})
	if err != nil || !more || len(page1) != 3 || page1[0].EndUserID != "other_5" {
		t.Fatalf("page 1: %v %v %v", page1, more, err)
	}
	var seen []string
	after := ""
	for {
		list, more, err := s.ListCustomers(ctx, db.CustomerFilter{Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			seen = append(seen, c.EndUserID)
		}
		if !more {
			break
		}
		after = list[len(list)-1].EndUserID
	}
	if len(seen) != 7 {
		t.Fatalf("walked %v, want 7", seen)
	}
	list, more, _ := s.ListCustomers(ctx, db.CustomerFilter{Prefix: "user_", Limit: 50})
	if len(list) != 5 || more {
		t.Fatalf("prefix: %d rows", len(list))
	}
	list, _, _ = s.ListCustomers(ctx, db.CustomerFilter{Prefix: "user_3"})
	if len(list) != 1 || list[0].EndUserID != "user_3" {
		t.Fatalf("prefix user_3: %v", list)
	}
}
