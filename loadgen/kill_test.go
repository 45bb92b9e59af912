package loadgen_test

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"linkdesk/db"
	"linkdesk/loadgen"
)

// TestKill9DuringLoad builds the real binary, runs `linkdesk serve` (emulator
// mode, no demo) on a temp database, sends it webhook load, kills it with
// SIGKILL mid-run, restarts it, and checks that every event answered 200 is
// stored, exactly once, with its projection counted once. About 20–40 s;
// skipped with -short.
func TestKill9DuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real linkdesk serve; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "linkdesk")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const secret = "sk_kill_test_secret"
	env := append(os.Environ(), "LINKDESK_DEMO=off", "LINKDESK_DB="+filepath.Join(dir, "ld.db"),
		"LINKDESK_SANDBOX_STATE="+filepath.Join(dir, "sb.db"), "LINKDESK_PINWHEEL_SECRET="+secret,
		"LINKDESK_ADDR=127.0.0.1:0", "LINKDESK_LOG_LEVEL=error", "LINKDESK_PINWHEEL_MODE=emulator")

	srv, url := startServe(t, bin, env)
	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan loadgen.Report, 1)
	go func() {
		rep, err := loadgen.Run(ctx, loadgen.Config{
			Target: url + "/webhooks/pinwheel", Secret: secret, Concurrency: 32, Duration: time.Minute,
			Gen: loadgen.GenConfig{Accounts: 300}, Timeout: 5 * time.Second,
			OnAck: func(id string, dup bool) { mu.Lock(); acked[id] = true; mu.Unlock() },
		})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	// Kill once a few thousand deliveries are acknowledged, load still going.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d acknowledged within 30s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	cancel()
	rep := <-done
	mu.Lock()
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	mu.Unlock()
	t.Logf("before the kill: %d acknowledged (%d distinct events), %d failed", rep.Acked, len(ids), rep.Failed)

	// Restart on the same files: SQLite recovers the WAL; then stop cleanly.
	srv, url = startServe(t, bin, env)
	rep2, err := loadgen.Run(context.Background(), loadgen.Config{Target: url + "/webhooks/pinwheel", Secret: secret, Concurrency: 4, Max: 200,
		Duration: 20 * time.Second, Gen: loadgen.GenConfig{Accounts: 10}})
	if err != nil || rep2.Acked != 200 {
		t.Errorf("after the restart: %+v, %v", rep2, err)
	}
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}

	store, err := db.Open(context.Background(), filepath.Join(dir, "ld.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, id := range ids {
		if _, err := store.EventByEventID(context.Background(), id); err != nil {
			t.Errorf("acknowledged event %s: %v", id, err)
		}
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, "ld.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var check string
	raw.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	var rows, distinct, projected, accountSum, total int64
	raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events`).Scan(&rows, &distinct)
	raw.QueryRow(`SELECT COUNT(*) FROM events WHERE account_ref IS NOT NULL AND projection = 'projected'`).Scan(&projected)
	raw.QueryRow(`SELECT COALESCE(SUM(event_count), 0) FROM accounts`).Scan(&accountSum)
	raw.QueryRow(`SELECT n FROM totals WHERE name = 'events'`).Scan(&total)
	if check != "ok" || rows != distinct || total != rows || accountSum != projected {
		t.Errorf("integrity %q; %d event rows, %d distinct ids, totals.events %d; account event counts %d for %d projected events",
			check, rows, distinct, total, accountSum, projected)
	}
}

// startServe starts the binary and returns it with its base URL, read from
// the line it prints once listening.
func startServe(t *testing.T, bin string, env []string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Linkdesk is listening on "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case u := <-urls:
		return cmd, u
	case <-time.After(2 * time.Minute):
		t.Fatal("linkdesk serve did not start within 30s")
	}
	return nil, ""
}
