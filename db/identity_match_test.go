package db_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"linkdesk/db"
)

func TestNameScore(t *testing.T) {
	tests := []struct {
		a, b     string
		min, max float64
	}{
		{"José Álvarez", "Jose Alvarez", 1, 1},
		{"JOSE ALVAREZ", "josé álvarez", 1, 1},
		{"Maria Garcia", "María L. García", 1, 1},
		{"Maria Garcia", "Maria Luisa Garcia", 1, 1},
		{"Maria Luisa Garcia Lopez", "Maria Garcia", 1, 1},
		{"Ash Userton", "Userton Ash", 1, 1},
		{"Ash Userton", "Ash Usertn", 0.9, 0.95},
		{"Anna Smith-Jones", "Anna Smith Jones", 1, 1},
		{"Anna Smith-Jones", "Anna Smithjones", 1, 1},
		{"Seán O’Brien", "Sean O'Brien", 1, 1},
		{"Sean O'Brien", "Sean OBrien", 1, 1},
		{"John R. Smith", "John Smith", 1, 1},
		{"Dr. John Smith Jr.", "John Smith", 1, 1},
		{"Søren Łukasz Straße", "Soren Lukasz Strasse", 1, 1},
		{"Ash Userton", "Maria Garcia", 0, 0.4},
		{"Li Wu", "Li Wo", 0.75, 0.9},
		{"Smith", "John Smith", 0, 0.75},
		{"", "John Smith", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			got := db.NameScore(tt.a, tt.b)
			if got < tt.min || got > tt.max {
				t.Errorf("got %v, want %v..%v", got, tt.min, tt.max)
			}
			if back := db.NameScore(tt.b, tt.a); back != got {
				t.Errorf("not symmetric: %v one way, %v the other", got, back)
			}
		})
	}
}

func TestMatchIdentity(t *testing.T) {
	ash := db.Customer{EndUserID: "u1", FullName: "Ash Userton", DateOfBirth: "1990-04-28", SSNLast4: "1234"}
	maria := db.Customer{EndUserID: "u2", FullName: "Maria Garcia", DateOfBirth: "1985-01-02", SSNLast4: "0042"}
	jose := db.Customer{EndUserID: "u3", FullName: "Jose Alvarez", DateOfBirth: "1970-12-31", SSNLast4: "9876"}
	anna := db.Customer{EndUserID: "u4", FullName: "Anna Smith Jones", DateOfBirth: "2000-02-29", SSNLast4: "5555"}
	li := db.Customer{EndUserID: "u5", FullName: "Li Wu", DateOfBirth: "1999-09-09", SSNLast4: "1111"}
	tests := []struct {
		name   string
		c      *db.Customer
		id     db.IdentityData
		result string
		fields map[string]string
	}{
		{"exact", &ash, db.IdentityData{"Ash Userton", "1990-04-28", "1234"}, db.VerdictMatch, map[string]string{}},
		{"accents", &jose, db.IdentityData{"José Álvarez", "1970-12-31", "9876"}, db.VerdictMatch, map[string]string{}},
		{"middle initial", &maria, db.IdentityData{"María L. García", "1985-01-02", "0042"}, db.VerdictMatch, map[string]string{}},
		{"middle name", &maria, db.IdentityData{"Maria Luisa Garcia", "1985-01-02", "0042"}, db.VerdictMatch, map[string]string{}},
		{"swapped first and last", &ash, db.IdentityData{"Userton Ash", "1990-04-28", "1234"}, db.VerdictMatch, map[string]string{}},
		{"typo", &ash, db.IdentityData{"Ash Usertn", "1990-04-28", "1234"}, db.VerdictMatch, map[string]string{}},
		{"hyphenated surname", &anna, db.IdentityData{"Anna Smith-Jones", "2000-02-29", "5555"}, db.VerdictMatch, map[string]string{}},
		{"initials only dropped", &ash, db.IdentityData{"A. Userton", "1990-04-28", "1234"}, db.VerdictMismatch, map[string]string{"full_name": "differs"}},
		{"dob differs", &ash, db.IdentityData{"Ash Userton", "1990-04-29", "1234"}, db.VerdictPartial, map[string]string{"date_of_birth": "differs"}},
		{"last four differs", &ash, db.IdentityData{"Ash Userton", "1990-04-28", "4321"}, db.VerdictPartial, map[string]string{"ssn_last4": "differs"}},
		{"dob missing", &ash, db.IdentityData{"Ash Userton", "", "1234"}, db.VerdictPartial, map[string]string{"date_of_birth": "missing"}},
		{"dob and last four missing", &ash, db.IdentityData{"Ash Userton", "", ""}, db.VerdictPartial, map[string]string{"date_of_birth": "missing", "ssn_last4": "missing"}},
		{"same name, dob and last four differ", &ash, db.IdentityData{"Ash Userton", "1971-01-01", "9999"}, db.VerdictMismatch, map[string]string{"date_of_birth": "differs", "ssn_last4": "differs"}},
		{"close name, rest agrees", &li, db.IdentityData{"Li Wo", "1999-09-09", "1111"}, db.VerdictPartial, map[string]string{"full_name": "close"}},
		{"close name and dob differs", &li, db.IdentityData{"Li Wo", "1999-09-10", "1111"}, db.VerdictMismatch, map[string]string{"full_name": "close", "date_of_birth": "differs"}},
		{"name missing, rest agrees", &ash, db.IdentityData{"", "1990-04-28", "1234"}, db.VerdictPartial, map[string]string{"full_name": "missing"}},
		{"entirely different person", &ash, db.IdentityData{"Maria Garcia", "1985-01-02", "0042"}, db.VerdictMismatch, map[string]string{"full_name": "differs", "date_of_birth": "differs", "ssn_last4": "differs"}},
		{"different name, same dob and last four", &ash, db.IdentityData{"Maria Garcia", "1990-04-28", "1234"}, db.VerdictMismatch, map[string]string{"full_name": "differs"}},
		{"no customer record", nil, db.IdentityData{"Ash Userton", "1990-04-28", "1234"}, db.VerdictNoCustomerRecord, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := db.MatchIdentity(tt.c, tt.id)
			if v.Result != tt.result {
				t.Errorf("result: got %s, want %s (score %v, fields %v)", v.Result, tt.result, v.NameScore, v.Fields)
			}
			if !reflect.DeepEqual(v.Fields, tt.fields) {
				t.Errorf("fields: got %v, want %v", v.Fields, tt.fields)
			}
		})
	}
}

func TestStore_IdentityVerdicts(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	id := db.IdentityData{FullName: "Ash Userton", DateOfBirth: "1990-04-28", LastFourSSN: "1234"}

	if _, err := s.IdentityVerdict(ctx, "acct_1"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("before any: got %v, want ErrNotFound", err)
	}
	v, err := s.RecordIdentityVerdict(ctx, "acct_1", "u1", id, "snap_1")
	if err != nil || v.Result != db.VerdictNoCustomerRecord {
		t.Fatalf("without a customer: %+v %v", v, err)
	}

	t.Run("a new customer record recomputes the verdict", func(t *testing.T) {
		clk.t = clk.t.Add(1)
		if _, _, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u1", FullName: "Ash Userton", DateOfBirth: "1990-04-28", SSNLast4: "1234"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.IdentityVerdict(ctx, "acct_1")
		if err != nil || got.Result != db.VerdictMatch || got.SnapshotRef != "snap_1" || got.EndUserID != "u1" {
			t.Fatalf("got %+v %v, want match with snapshot snap_1", got, err)
		}
	})
	t.Run("an edit recomputes it again", func(t *testing.T) {
		if _, _, err := s.SaveCustomer(ctx, admin, db.CustomerInput{EndUserID: "u1", FullName: "Ash Userton", DateOfBirth: "1990-04-29", SSNLast4: "1234"}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.IdentityVerdict(ctx, "acct_1")
		if got.Result != db.VerdictPartial || got.Fields["date_of_birth"] != db.FieldDiffers {
			t.Fatalf("got %+v, want partial with date_of_birth differs", got)
		}
	})
	t.Run("recording again replaces the verdict", func(t *testing.T) {
		v, err := s.RecordIdentityVerdict(ctx, "acct_1", "u1", db.IdentityData{FullName: "Ash Userton", DateOfBirth: "1990-04-29", LastFourSSN: "1234"}, "")
		if err != nil || v.Result != db.VerdictMatch {
			t.Fatalf("got %+v %v", v, err)
		}
		got, _ := s.IdentityVerdict(ctx, "acct_1")
		if got.Result != db.VerdictMatch || got.SnapshotRef != "" || len(got.Fields) != 0 {
			t.Fatalf("stored %+v", got)
		}
		list, err := s.IdentityVerdictsOf(ctx, "u1")
		if err != nil || len(list) != 1 {
			t.Fatalf("verdicts of u1: %v %v", list, err)
		}
	})
}
