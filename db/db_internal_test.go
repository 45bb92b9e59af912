package db

import (
	"context"
	"testing"

	"linkdesk/dbtest"
)

// openInternal opens a Store on a fresh database named name (dbtest.Path:
// a SQLite file, or a PostgreSQL database with LINKDESK_TEST_DATABASE_URL),
// closed at cleanup.
func openInternal(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbtest.Path(t, name), Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runIngester starts an Ingester on s and stops it at cleanup, as
// runIngester of the external tests (ingest_test.go) does for them.
func runIngester(t *testing.T, s *Store, opt IngestOptions) *Ingester {
	t.Helper()
	g, err := s.NewIngester(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingester: %v", err)
		}
	})
	return g
}
