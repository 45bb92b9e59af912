package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
)

// Exports beside pages (issue: "no one starves the read pool"): downloads
// whose readers stop reading, over real TCP with small socket buffers, so
// that the server blocks writing within the first chunk.

// smallBuffers makes each accepted connection's send buffer small, so a
// client that stops reading blocks the server's writes within kilobytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// listen serves s on a real loopback listener with small buffers.
func (s *testServer) listen(t testing.TB) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(s.Handler)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.CloseClientConnections)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fillEvents stores n webhook events of about 700 bytes, through the
// Ingester from several goroutines (group commit keeps it quick).
func (s *testServer) fillEvents(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				body := fmt.Sprintf(`{"event_id": "fill-%d", "event": "identity.added", "payload": {"id": "j%d", "name": "identity", "timestamp": "2026-11-26T12:00:00Z", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "t", "account_id": "fill-account-%d", "end_user_id": "fill-user-%d", "params": {"note": %q}}}`,
					i, i, i%50, i%20, strings.Repeat("n", 400))
				d, err := db.ParseDelivery([]byte(body))
				if err == nil {
					_, err = s.ing.Ingest(ctx, d)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// stall starts a download and stops reading once its status line arrived:
// the server is then writing it. It returns the connection (close it to
// end the download) and the status code.
func stall(t testing.TB, base, target string, cookie *http.Cookie) (net.Conn, int) {
	t.Helper()
	u, _ := url.Parse(base)
	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nSec-Fetch-Site: same-origin\r\n\r\n", target, u.Host, cookie.Name, cookie.Value)
	// A guard, not a speed limit: a server that never answers (all its
	// connections taken) gives code 0 after a minute.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	line, _ := bufio.NewReaderSize(c, 64).ReadString('\n')
	c.SetReadDeadline(time.Time{})
	var code int
	fmt.Sscanf(line, "HTTP/1.1 %d", &code)
	return c, code
}

// client signs in over HTTP and returns the session cookie.
func signIn(t testing.TB, base, email string) *http.Cookie {
	t.Helper()
	res, err := noRedirects.PostForm(base+"/login", url.Values{"email": {email}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "linkdesk" && res.StatusCode == http.StatusSeeOther {
			return c
		}
	}
	t.Fatalf("sign-in of %s: %d", email, res.StatusCode)
	return nil
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       time.Minute, // a guard against a hang, not a speed limit
}

// fetchCode fetches target with cookie, reading the whole body.
func fetchCode(t testing.TB, base, target string, cookie *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+target, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func TestExports_StalledReadersStarveNothing(t *testing.T) {
	s := newServer(t)
	s.fillEvents(t, 3000) // more than one chunk of an export
	base := s.listen(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	cookies := map[string]*http.Cookie{}
	for _, r := range db.Roles {
		cookies[r] = signIn(t, base, r+"@example.com")
		for _, format := range []string{"csv", "jsonl"} {
			c, code := stall(t, base, "/events/export."+format, cookies[r])
			if code != http.StatusOK {
				t.Fatalf("export as %s: %d", r, code)
			}
			conns = append(conns, c)
		}
	}
	// Six downloads stall with their first chunk read: none holds a
	// connection of either pool.
	waitFor(t, "stalled exports to hold no connection", func() bool {
		_, readers := s.store.Stats()
		return s.store.ExportStats().InUse == 0 && readers.InUse == 0
	})
	for _, target := range []string{"/readyz", "/accounts", "/events", "/accounts?status=active"} {
		if code := fetchCode(t, base, target, cookies[db.RoleAdmin]); code != http.StatusOK {
			t.Errorf("%s while exports stall: %d", target, code)
		}
	}
	if signIn(t, base, "operator@example.com") == nil {
		t.Error("sign-in while exports stall")
	}
	// A third download of one person waits for one of theirs to end.
	c, code := stall(t, base, "/events/export.csv", cookies[db.RoleAdmin])
	c.Close()
	if code != http.StatusTooManyRequests {
		t.Errorf("third download: %d, want 429", code)
	}
	for _, c := range conns[:2] { // the admin's
		c.Close()
	}
	waitFor(t, "the admin's places to be given back", func() bool {
		return fetchCode(t, base, "/events/export.csv?type=none", cookies[db.RoleAdmin]) == http.StatusOK
	})
}

// TestExports_WriteDeadlineCutsStalledReader: with a short write timeout,
// a download whose reader stopped is cut, and its place given back.
func TestExports_WriteDeadlineCutsStalledReader(t *testing.T) {
	s := newServer(t, withWriteTimeout(300*time.Millisecond))
	s.fillEvents(t, 3000)
	base := s.listen(t)
	cookie := signIn(t, base, "auditor@example.com")
	for range 2 {
		c, code := stall(t, base, "/events/export.jsonl", cookie)
		defer c.Close()
		if code != http.StatusOK {
			t.Fatalf("export: %d", code)
		}
	}
	waitFor(t, "the stalled downloads to be cut", func() bool {
		return fetchCode(t, base, "/events/export.csv?type=none", cookie) == http.StatusOK
	})
}

// BenchmarkStalledExports measures /accounts and sign-in alone, then while
// N downloads stall (their readers read nothing), over real TCP:
//
//	go test ./handlers -run '^$' -bench StalledExports -benchtime 200x
//
// It reports the median and p99 of each (ms) and how many requests got no
// answer within 10 s. LINKDESK_BENCH_DB is not needed: it fills a temp
// database with 20,000 events (about 14 MB of JSON Lines to export).
func BenchmarkStalledExports(b *testing.B) {
	s := newServer(b)
	s.fillEvents(b, 20000)
	base := s.listen(b)
	const people = 4 // exportsPerPerson each: 8 stalled downloads
	var cookies []*http.Cookie
	for i := range people {
		email := fmt.Sprintf("stall%d@example.com", i)
		if _, err := s.store.CreateStaff(context.Background(), db.Actor{Email: "bench"}, db.StaffCreate{Email: email, Name: "Stall", Role: db.RoleAuditor, Password: testPassword}); err != nil {
			b.Fatal(err)
		}
		cookies = append(cookies, signIn(b, base, email))
	}
	page := signIn(b, base, "admin@example.com")
	quick := &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirects.CheckRedirect}
	measure := func(name string) {
		var pages, logins []time.Duration
		lost := 0
		for range b.N {
			for _, kind := range []string{"page", "login"} {
				var req *http.Request
				if kind == "page" {
					req, _ = http.NewRequest(http.MethodGet, base+"/accounts", nil)
					req.AddCookie(page)
				} else {
					req, _ = http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"email": {"operator@example.com"}, "password": {testPassword}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				start := time.Now()
				res, err := quick.Do(req)
				if err != nil {
					lost++
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if kind == "page" {
					pages = append(pages, time.Since(start))
				} else {
					logins = append(logins, time.Since(start))
				}
			}
		}
		b.ReportMetric(quantileMS(pages, 0.5), name+"-accounts-p50-ms")
		b.ReportMetric(quantileMS(pages, 0.99), name+"-accounts-p99-ms")
		b.ReportMetric(quantileMS(logins, 0.5), name+"-signin-p50-ms")
		b.ReportMetric(quantileMS(logins, 0.99), name+"-signin-p99-ms")
		b.ReportMetric(float64(lost), name+"-unanswered")
	}
	b.ResetTimer()
	measure("idle")
	var conns []net.Conn
	for _, c := range cookies {
		for _, format := range []string{"jsonl", "csv"} {
			conn, code := stall(b, base, "/events/export."+format, c)
			if code != http.StatusOK {
				b.Logf("stalled export: no answer (%d)", code)
			}
			conns = append(conns, conn)
		}
	}
	measure("stalled")
	b.StopTimer()
	x := s.store.ExportStats()
	_, r := s.store.Stats()
	b.ReportMetric(float64(x.InUse+r.InUse), "conns-held-by-stalled")
	for _, c := range conns {
		c.Close()
	}
}

// quantileMS is the q-quantile of ds in milliseconds.
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
}
