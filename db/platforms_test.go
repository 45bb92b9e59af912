package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"linkdesk/db"
)

func TestStore_PlatformCache(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	if _, err := s.CachedPlatform(ctx, "p"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if _, err := s.CachePlatform(ctx, db.PlatformCaps{ID: "p", Name: "Workday", SupportedJobs: []string{"identity"}}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := s.CachePlatform(ctx, db.PlatformCaps{ID: "p", Name: "Workday", SupportedJobs: []string{"identity", "income"}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.CachedPlatform(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Known || !p.Supports("income") || !p.FetchedAt.Equal(clk.t) {
		t.Errorf("got %+v", p)
	}
}
