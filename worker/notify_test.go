package worker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"linkdesk/db"
	"linkdesk/worker"
)

// receiver is a local HTTPS-less webhook receiver: it records what it got
// and answers the status the test sets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		st := r.status
		r.mu.Unlock()
		w.WriteHeader(st)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) set(status int) { r.mu.Lock(); r.status = status; r.mu.Unlock() }
func (r *receiver) count() int     { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }
func (r *receiver) last() received { r.mu.Lock(); defer r.mu.Unlock(); return r.got[len(r.got)-1] }

// admin creates an admin and returns it as an actor.
func admin(t *testing.T, s *db.Store) db.Actor {
	t.Helper()
	st, err := s.CreateStaff(context.Background(), db.Actor{Email: "system"}, db.StaffCreate{Email: "admin@example.com", Name: "Ada Admin", Role: db.RoleAdmin, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return db.Actor{StaffID: st.ID, Email: st.Email}
}

// notifyRunner runs the notification pool until the test ends.
func notifyRunner(t *testing.T, s *db.Store, cfg worker.NotifyConfig) {
	t.Helper()
	r := worker.NewRunner(s, worker.Options{Poll: 5 * time.Millisecond})
	r.Add(worker.Notifications(s, cfg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// openAlert opens (broken) or resolves (ok) the audit chain alert.
func chainCheck(t *testing.T, s *db.Store, ok bool) {
	t.Helper()
	if err := s.RecordAuditChainCheck(context.Background(), db.AuditChainCheck{OK: ok, RowsChecked: 5, BrokenAt: 3, Reason: "content does not match its hash"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckRule(context.Background(), db.RuleAuditChain); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNotifications_WebhookSignedRetriedMarkedFailing: a new alert goes to
// the receiver as a signed Slack-style body; when the receiver fails, the
// delivery is retried with backoff (on the Store's clock) and the
// destination is marked failing after five failures in a row, after which
// alerts are logged as skipped, not sent; a successful test heals it.
func TestNotifications_WebhookSignedRetriedMarkedFailing(t *testing.T) {
	s, clk := setup(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	d, secret, err := s.CreateDestination(ctx, admin(t, s), db.DestinationForm{Name: "Ops Slack", Kind: db.DestinationWebhook, URL: rcv.URL + "/hook", Enabled: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	notifyRunner(t, s, worker.NotifyConfig{BaseURL: "https://linkdesk.example.com", InsecureOK: true})

	chainCheck(t, s, false)
	waitUntil(t, "the opened alert's notification", func() bool { return rcv.count() == 1 })
	got := rcv.last()
	ts := got.header.Get(worker.HeaderTimestamp)
	if sig := got.header.Get(worker.HeaderSignature); sig != worker.SignNotification(secret, ts, got.body) {
		t.Errorf("signature %q does not verify with the destination's secret", sig)
	}
	var body struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Text != "[Linkdesk] Alert opened: The audit trail's hash chain is broken at row 3" || len(body.Blocks) != 2 ||
		!strings.Contains(body.Blocks[1].Text.Text, "<https://linkdesk.example.com/alerts/1|Open in Linkdesk>") {
		t.Errorf("body %s", got.body)
	}
	if got.header.Get(worker.HeaderEvent) != "opened" || got.header.Get(worker.HeaderAlertID) != "1" {
		t.Errorf("headers %v", got.header)
	}
	waitUntil(t, "the delivery recorded sent", func() bool {
		log, _ := s.AlertNotifications(ctx, 1)
		return len(log) == 1 && log[0].State == "sent" && log[0].Attempts == 1 && log[0].Response == "HTTP 200 ok"
	})

	// The receiver fails: the resolution is retried with backoff.
	rcv.set(http.StatusInternalServerError)
	chainCheck(t, s, true)
	waitUntil(t, "the first failed attempt", func() bool {
		log, _ := s.AlertNotifications(ctx, 1)
		return len(log) == 2 && log[0].Attempts == 1
	})
	log, _ := s.AlertNotifications(ctx, 1)
	if log[0].State != "pending" || !strings.Contains(log[0].LastError, "answered HTTP 500 ok") {
		t.Fatalf("after one failure: %+v", log[0])
	}
	// Nothing more happens until the backoff has passed on the clock.
	if n := rcv.count(); n != 2 {
		t.Fatalf("%d posts, want 2 before the backoff", n)
	}
	waitUntil(t, "the retries", func() bool {
		clk.add(15 * time.Minute) // past each backoff
		log, _ := s.AlertNotifications(ctx, 1)
		return log[0].Attempts >= db.DestinationFailLimit
	})
	log, _ = s.AlertNotifications(ctx, 1)
	dest, _ := s.DestinationByID(ctx, d.ID)
	if log[0].State != "failed" || dest.State != db.DestinationFailing || dest.Failures != db.DestinationFailLimit {
		t.Fatalf("after %d failures: delivery %+v, destination %+v", db.DestinationFailLimit, log[0], dest)
	}
	posts := rcv.count()
	clk.add(time.Hour)
	chainCheck(t, s, false) // a new alert: skipped, not sent
	log, _ = s.AlertNotifications(ctx, 2)
	if len(log) != 1 || log[0].State != "skipped" {
		t.Fatalf("the new alert's delivery to a failing destination: %+v", log)
	}
	if rcv.count() != posts {
		t.Fatal("something was sent to a failing destination")
	}

	// The receiver is fixed; a test succeeds and heals the destination.
	rcv.set(http.StatusOK)
	id, err := s.QueueTestNotification(ctx, admin2(t, s), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the test", func() bool {
		n, _ := s.NotificationByID(ctx, id)
		return n.State == "sent"
	})
	if rcv.last().header.Get(worker.HeaderEvent) != "test" {
		t.Error("the test was not marked as a test")
	}
	if dest, _ := s.DestinationByID(ctx, d.ID); dest.State != db.DestinationOK || dest.Failures != 0 {
		t.Errorf("after a good test: %+v", dest)
	}
}

// admin2 is the admin created by admin (looked up).
func admin2(t *testing.T, s *db.Store) db.Actor {
	st, err := s.StaffByEmail(context.Background(), "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return db.Actor{StaffID: st.ID, Email: st.Email}
}

// ---- email ----

// mailBackend is an in-process SMTP server (github.com/emersion/go-smtp)
// that keeps what it receives.
type mailBackend struct {
	mu   sync.Mutex
	mail []mailMessage
	// refuse makes RCPT fail (a temporary error).
	refuse bool
}

type mailMessage struct {
	from string
	to   []string
	data string
	auth string
}

type mailSession struct {
	be   *mailBackend
	msg  mailMessage
	user string
}

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{be: b}, nil }

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "alerts" || password != "smtp secret" {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = mailMessage{from: from, auth: s.user}
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.be.mu.Lock()
	refuse := s.be.refuse
	s.be.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(b)
	s.be.mu.Lock()
	s.be.mail = append(s.be.mail, s.msg)
	s.be.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// startSMTP serves the backend on loopback with STARTTLS (a certificate
// made here, trusted through the returned config).
func startSMTP(t *testing.T, be *mailBackend) (string, *tls.Config) {
	t.Helper()
	cert, pool := selfSigned(t)
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &tls.Config{RootCAs: pool}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestNotifications_Email: alerts and tests go out over SMTP with
// STARTTLS and PLAIN authentication, to every recipient; a server that
// refuses is retried.
func TestNotifications_Email(t *testing.T) {
	s, clk := setup(t)
	ctx := context.Background()
	be := &mailBackend{refuse: true}
	addr, tlsConf := startSMTP(t, be)
	host, port, _ := net.SplitHostPort(addr)
	d, _, err := s.CreateDestination(ctx, admin(t, s), db.DestinationForm{Name: "On-call mail", Kind: db.DestinationEmail, Enabled: true,
		SMTPHost: host, SMTPPort: port, Security: db.SMTPStartTLS, Username: "alerts", Password: "smtp secret",
		From: "Linkdesk <alerts@example.com>", To: "ops@example.com, Óscar Oncall <oncall@example.com>"}, false)
	if err != nil {
		t.Fatal(err)
	}
	notifyRunner(t, s, worker.NotifyConfig{BaseURL: "https://linkdesk.example.com", TLS: tlsConf})

	chainCheck(t, s, false)
	waitUntil(t, "the refused attempt", func() bool {
		log, _ := s.AlertNotifications(ctx, 1)
		return len(log) == 1 && log[0].Attempts == 1
	})
	log, _ := s.AlertNotifications(ctx, 1)
	if log[0].State != "pending" || !strings.Contains(log[0].LastError, "451") {
		t.Fatalf("refused: %+v", log[0])
	}
	be.mu.Lock()
	be.refuse = false
	be.mu.Unlock()
	waitUntil(t, "the mail", func() bool {
		clk.add(time.Minute) // past the backoff, however the attempt and its outcome interleave with this loop
		log, _ := s.AlertNotifications(ctx, 1)
		return log[0].State == "sent"
	})
	be.mu.Lock()
	m := be.mail[0]
	be.mu.Unlock()
	if m.from != "alerts@example.com" || strings.Join(m.to, ",") != "ops@example.com,oncall@example.com" || m.auth != "alerts" {
		t.Errorf("envelope %+v", m)
	}
	for _, want := range []string{"Subject: [Linkdesk] Alert opened: The audit trail's hash chain is broken at row 3", "To: ops@example.com, oncall@example.com",
		"Content-Type: text/plain; charset=utf-8", "https://linkdesk.example.com/alerts/1"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.data)
		}
	}
	if dest, _ := s.DestinationByID(ctx, d.ID); dest.State != db.DestinationOK || dest.Failures != 0 {
		t.Errorf("destination %+v", dest)
	}

	// Without TLS and outside emulator mode, nothing is sent.
	plain, _, err := s.CreateDestination(ctx, admin2(t, s), db.DestinationForm{Name: "Plain", Kind: db.DestinationEmail, Enabled: true,
		SMTPHost: host, SMTPPort: port, Security: db.SMTPNone, From: "a@example.com", To: "b@example.com"}, false)
	var fe db.FieldErrors
	if !errors.As(err, &fe) || fe["security"] == "" {
		t.Fatalf("a plain SMTP destination outside emulator mode: %+v %v", plain, err)
	}
}
