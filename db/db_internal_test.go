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
