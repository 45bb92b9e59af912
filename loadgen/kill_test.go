package loadgen_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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
	"linkdesk/dbtest"
	"linkdesk/loadgen"
)

// buildLinkdesk builds the real binary once per test process.
func buildLinkdesk(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and kills a real linkdesk serve; skipped with -short")
	}
	built.Do(func() {
		dir, err := os.MkdirTemp("", "linkdesk-kill")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "linkdesk")
		build := exec.Command("go", "build", "-o", built.bin, ".")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

var built struct {
	sync.Once
	bin string
	err error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// dbEnv is the setting that puts linkdesk on the test's database: the
// SQLite file, or PostgreSQL's URL.
func dbEnv(path string) string {
	if db.IsPostgresURL(path) {
		return "LINKDESK_DATABASE_URL=" + path
	}
	return "LINKDESK_DB=" + path
}

// TestKill9DuringLoad builds the real binary, runs `linkdesk serve` (emulator
// mode, no demo) on a temp database, sends it webhook load, kills it with
// SIGKILL mid-run, restarts it, and checks that every event answered 200 is
// stored, exactly once, with its projection counted once. About 20–40 s;
// skipped with -short.
func TestKill9DuringLoad(t *testing.T) {
	bin := buildLinkdesk(t)
	dir := t.TempDir()
	path := dbtest.Path(t, "ld.db")
	const secret = "sk_kill_test_secret"
	env := append(os.Environ(), "LINKDESK_DEMO=off", dbEnv(path),
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
			Target: url + "/webhooks/pinwheel", Secret: secret, Concurrency: 32, Duration: loadUntilCancelled,
			Gen: loadgen.GenConfig{Accounts: 300}, Timeout: 5 * time.Second,
			OnAck: func(id string, dup bool) { mu.Lock(); acked[id] = true; mu.Unlock() },
		})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	// Kill once a thousand deliveries are acknowledged, load still going
	// (the load runs until cancelled: a slow machine only takes longer).
	deadline := time.Now().Add(hangGuard)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d acknowledged within %v", n, hangGuard)
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
		Duration: loadUntilCancelled, Gen: loadgen.GenConfig{Accounts: 10}})
	if err != nil || rep2.Acked != 200 {
		t.Errorf("after the restart: %+v, %v", rep2, err)
	}
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}

	checkStored(t, path, ids)
}

// checkStored checks that every acknowledged event is stored, each event
// once, and its projection counted once.
func checkStored(t *testing.T, path string, ids []string) {
	t.Helper()
	store, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, id := range ids {
		if _, err := store.EventByEventID(context.Background(), id); err != nil {
			t.Errorf("acknowledged event %s: %v", id, err)
		}
	}
	// What the killed instance's batches wrote refers only to rows that
	// exist (PostgreSQL keeps these references without foreign keys).
	if err := store.CheckReferences(context.Background()); err != nil {
		t.Error(err)
	}
	raw, err := db.Connect(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	check := "ok"
	if store.Backend() == "sqlite" {
		raw.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	}
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
	case <-time.After(hangGuard):
		t.Fatalf("linkdesk serve did not start within %v", hangGuard)
	}
	return nil, ""
}

// TestKill9_OneOfTwoInstances runs two `linkdesk serve` processes on one
// PostgreSQL database (started together: migrations and the first admin
// race), with the keys shared through the environment. Webhook load goes
// to both, and staff members are created through both (signed in on one,
// the cookie used on the other); one instance is killed with SIGKILL
// mid-run, and the other goes on acknowledging. Every acknowledged event
// is then stored exactly once, every staff member whose creation was
// answered exists, and the audit chain verifies.
func TestKill9_OneOfTwoInstances(t *testing.T) {
	dsn := dbtest.Postgres(t)
	bin := buildLinkdesk(t)
	dir := t.TempDir()
	const secret = "sk_two_instances_secret"
	const adminPassword = "two instances admin"
	env := func(name string) []string {
		return append(os.Environ(), "LINKDESK_DEMO=off", "LINKDESK_DATABASE_URL="+dsn,
			"LINKDESK_SANDBOX_STATE="+filepath.Join(dir, name+"-sb.db"), "LINKDESK_PINWHEEL_SECRET="+secret,
			"LINKDESK_SESSION_KEYS="+strings.Repeat("ab", 64)+":"+strings.Repeat("cd", 32),
			"LINKDESK_ENCRYPTION_KEY="+strings.Repeat("ef", 32),
			"LINKDESK_ADMIN_EMAIL=admin@example.com", "LINKDESK_ADMIN_PASSWORD="+adminPassword,
			"LINKDESK_ADDR=127.0.0.1:0", "LINKDESK_LOG_LEVEL=error", "LINKDESK_PINWHEEL_MODE=emulator")
	}
	var a, b *exec.Cmd
	var urlA, urlB string
	var starting sync.WaitGroup
	starting.Go(func() { a, urlA = startServe(t, bin, env("a")) })
	starting.Go(func() { b, urlB = startServe(t, bin, env("b")) })
	starting.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	ackedBy := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var load sync.WaitGroup
	for i, target := range []string{urlA, urlB} {
		load.Go(func() {
			_, err := loadgen.Run(ctx, loadgen.Config{
				Target: target + "/webhooks/pinwheel", Secret: secret, Concurrency: 16, Duration: loadUntilCancelled,
				Gen: loadgen.GenConfig{Accounts: 200}, Timeout: 5 * time.Second,
				OnAck: func(id string, dup bool) { mu.Lock(); acked[id] = true; ackedBy[target]++; mu.Unlock() },
			})
			if err != nil {
				t.Errorf("load on instance %d: %v", i, err)
			}
		})
	}

	// Staff actions through both instances: sign in on A, create on either.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(base, path string, form url.Values) int {
		res, err := client.PostForm(base+path, form)
		if err != nil {
			return 0 // the instance is gone
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		// The session cookie is the same on both instances (shared keys).
		if u, _ := url.Parse(urlB); u != nil && base == urlA {
			au, _ := url.Parse(urlA)
			jar.SetCookies(u, jar.Cookies(au))
		}
		return res.StatusCode
	}
	if code := post(urlA, "/login", url.Values{"email": {"admin@example.com"}, "password": {adminPassword}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in on A: %d", code)
	}
	var created []string
	var aDead bool
	staffDone := make(chan struct{})
	go func() {
		defer close(staffDone)
		for i := 0; ctx.Err() == nil && i < 400; i++ {
			base := []string{urlA, urlB}[i%2]
			mu.Lock()
			dead := aDead
			mu.Unlock()
			if dead {
				base = urlB
			}
			email := fmt.Sprintf("member%d@example.com", i)
			code := post(base, "/staff", url.Values{"email": {email}, "name": {"Member"}, "role": {"operator"}, "password": {"member password 1"}})
			if code == http.StatusSeeOther {
				mu.Lock()
				created = append(created, email)
				mu.Unlock()
			}
		}
	}()

	// Kill A once it has acknowledged a good share, load still going.
	waitUntil(t, hangGuard, func() bool { mu.Lock(); defer mu.Unlock(); return ackedBy[urlA] >= 500 })
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	mu.Lock()
	aDead = true
	bAtKill := ackedBy[urlB]
	mu.Unlock()
	// B keeps acknowledging without A.
	waitUntil(t, hangGuard, func() bool { mu.Lock(); defer mu.Unlock(); return ackedBy[urlB] >= bAtKill+500 })
	cancel()
	load.Wait()
	<-staffDone
	b.Process.Signal(syscall.SIGTERM)
	if err := b.Wait(); err != nil {
		t.Errorf("instance B after SIGTERM: %v", err)
	}

	mu.Lock()
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	t.Logf("acknowledged: %d by A (killed), %d by B; %d distinct events; %d staff created", ackedBy[urlA], ackedBy[urlB], len(ids), len(created))
	mu.Unlock()
	checkStored(t, dsn, ids)

	store, err := db.Open(context.Background(), dsn, db.Options{EncryptionKey: bytes.Repeat([]byte{0xef}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, email := range created {
		if _, err := store.StaffByEmail(context.Background(), email); err != nil {
			t.Errorf("staff %s, created with a 303, is missing: %v", email, err)
		}
	}
	v, err := store.VerifyChain(context.Background(), db.VerifyOptions{Anchor: "-"})
	if err != nil || v.Bad != nil || v.Rows < int64(len(created)+2) {
		t.Errorf("audit chain: %d rows, %v, bad %v (want every creation and the sign-in in it)", v.Rows, err, v.Bad)
	}
}

// The kill tests' load runs until the test cancels it, once enough
// deliveries were acknowledged: how long that takes depends on the
// machine, never the outcome. hangGuard only catches a hang.
const (
	loadUntilCancelled = time.Hour
	hangGuard          = 10 * time.Minute
)

// waitUntil polls cond until it holds, failing the test after limit.
func waitUntil(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
