package db_test

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestStore_Search(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	seedAccounts(t, f, f.clk.t.Add(-time.Hour))
	cases := []struct {
		q    string
		want []string // kind:id
	}{
		{"acc-3", []string{"account:acc-3"}},
		{" eu-2 ", []string{"end_user:eu-2"}},
		{"j3", []string{"event:j3"}},
		{"tok-acc-5", []string{"link_token:tok-acc-5"}},
		{"gusto", []string{"platform:p-gusto"}},
		{"ADP", []string{"platform:p-adp"}},
		{"tok-acc", []string{"link_token:tok-acc-1", "link_token:tok-acc-2", "link_token:tok-acc-3", "link_token:tok-acc-4", "link_token:tok-acc-5"}},
		{"acc", nil}, // too short for a prefix
		{"nothing-like-this", nil},
		{"", nil},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			hits, err := f.s.Search(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.Kind+":"+h.ID)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
