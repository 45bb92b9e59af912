package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
)

// Headers of our outbound webhooks. The signature is Stripe's scheme:
// HMAC-SHA256 with the destination's signing secret over the timestamp, a
// dot and the exact body, so a receiver can refuse old or forged posts.
const (
	HeaderSignature = "X-Linkdesk-Signature"
	HeaderTimestamp = "X-Linkdesk-Timestamp"
	HeaderEvent     = "X-Linkdesk-Event"
	HeaderAlertID   = "X-Linkdesk-Alert-Id"
	HeaderDelivery  = "X-Linkdesk-Delivery-Id"
)

// SignNotification is the X-Linkdesk-Signature of a body sent at ts (unix
// seconds): "v1=" + hex HMAC-SHA256(secret, ts + "." + body).
func SignNotification(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// NotifyConfig is what sending notifications needs.
type NotifyConfig struct {
	// BaseURL is Linkdesk's public URL, for the alert's link.
	BaseURL string
	// InsecureOK (emulator mode) allows plain http:// webhooks and SMTP
	// without TLS to loopback receivers; ValidateDestination enforces the
	// same when a destination is saved.
	InsecureOK bool
	// Timeout bounds one attempt; 0 means 15 s.
	Timeout time.Duration
	// HTTPClient sends webhooks; nil means one that never follows
	// redirects (a 3xx is a failure: the URL is wrong).
	HTTPClient *http.Client
	// TLS is the TLS configuration of SMTP (tests add their CA); nil means
	// the system's.
	TLS *tls.Config
}

// notifyMaxAttempts is how many times one notification is tried.
const notifyMaxAttempts = 6

// Notifications is the pool that sends alert notifications
// (db.JobAlertNotify): one delivery per job, each attempt recorded in the
// delivery log. A failure retries with backoff (10 s doubling to 10
// minutes, notifyMaxAttempts in all); a destination that keeps failing is
// marked failing by db and the deliveries still queued for it stop.
func Notifications(store *db.Store, cfg NotifyConfig) Pool {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return Pool{
		Kinds:       []string{db.JobAlertNotify},
		Concurrency: 2,
		MaxAttempts: notifyMaxAttempts,
		Backoff:     10 * time.Second,
		MaxBackoff:  10 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			return nil, notify(ctx, store, cfg, j)
		},
	}
}

func notify(ctx context.Context, store *db.Store, cfg NotifyConfig, j db.Job) error {
	var p db.NotifyPayload
	if err := j.Decode(&p); err != nil {
		return Permanent(err)
	}
	o, err := store.OutgoingNotification(ctx, p.DeliveryID)
	switch {
	case errors.Is(err, db.ErrNotificationDone):
		return nil
	case errors.Is(err, db.ErrNotFound):
		return Permanent(err)
	case err != nil:
		return err
	}
	switch {
	case o.Event == db.NotifyTest:
	case !o.Destination.Enabled:
		return store.GiveUpNotification(ctx, o.ID, "the destination was disabled; not sent")
	case o.Destination.State == db.DestinationFailing:
		return store.GiveUpNotification(ctx, o.ID, "the destination is marked failing; not sent")
	}
	var resp string
	var sendErr error
	switch o.Destination.Kind {
	case db.DestinationWebhook:
		resp, sendErr = sendWebhook(ctx, cfg, o, store.Now())
	case db.DestinationEmail:
		resp, sendErr = sendEmail(ctx, cfg, o, store.Now())
	default:
		sendErr = fmt.Errorf("unknown destination kind %q", o.Destination.Kind)
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the attempt does not count
	}
	final, err := store.RecordNotificationAttempt(ctx, o.ID, db.NotificationAttempt{Err: sendErr, Response: resp, Last: j.Attempts >= notifyMaxAttempts})
	switch {
	case err != nil:
		return err
	case sendErr == nil:
		return nil
	case final:
		return Permanent(sendErr)
	}
	return sendErr
}

// message is what a notification says, in words.
type message struct {
	Title, Subject, Detail, Link, Event string
}

// compose writes the notification of o.
func compose(cfg NotifyConfig, o db.Outgoing) message {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if o.Event == db.NotifyTest {
		return message{Event: o.Event, Title: "Test notification",
			Subject: "Test from Linkdesk: " + o.Destination.Name + " receives alerts.",
			Detail:  "Sent from the alert settings. Real notifications come when an alert opens or resolves.", Link: base + "/alerts"}
	}
	a := o.Alert
	title := "Alert opened"
	if o.Event == db.NotifyResolved {
		title = "Alert resolved"
		if a.Resolution == db.ResolvedManual && a.ResolvedBy != "" {
			title += " by " + a.ResolvedBy
		}
	}
	return message{Event: o.Event, Title: title, Subject: a.Subject,
		Detail: a.RuleLabel() + ". " + a.Evidence.Summary, Link: base + "/alerts/" + strconv.FormatInt(a.ID, 10)}
}

// slackBody is a body Slack's incoming webhooks accept: text (the
// fallback and notification line) and blocks.
func slackBody(m message) []byte {
	text := "[Linkdesk] " + m.Title + ": " + m.Subject
	type textObj struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type block struct {
		Type string   `json:"type"`
		Text *textObj `json:"text,omitempty"`
	}
	body := struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}{
		Text: text,
		Blocks: []block{
			{Type: "section", Text: &textObj{Type: "mrkdwn", Text: "*" + slackEscape(m.Title) + "*: " + slackEscape(m.Subject)}},
			{Type: "section", Text: &textObj{Type: "mrkdwn", Text: slackEscape(m.Detail) + "\n<" + m.Link + "|Open in Linkdesk>"}},
		},
	}
	b, _ := json.Marshal(body)
	return b
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// sendWebhook posts the notification, signed, and reports the answer.
func sendWebhook(ctx context.Context, cfg NotifyConfig, o db.Outgoing, now time.Time) (string, error) {
	u, err := url.Parse(o.Secrets.URL)
	if err != nil || (u.Scheme != "https" && !(cfg.InsecureOK && u.Scheme == "http")) {
		return "", errors.New("the URL must be https")
	}
	body := slackBody(compose(cfg, o))
	ts := strconv.FormatInt(now.Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Secrets.URL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Linkdesk-Alerts/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, SignNotification(o.Secrets.SigningSecret, ts, body))
	req.Header.Set(HeaderEvent, o.Event)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(o.ID, 10))
	if o.AlertID != 0 {
		req.Header.Set(HeaderAlertID, strconv.FormatInt(o.AlertID, 10))
	}
	res, err := cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL itself is secret: keep it out of the log
		}
		return "", fmt.Errorf("no answer from %s: %w", u.Host, err)
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	answer := fmt.Sprintf("HTTP %d %s", res.StatusCode, strings.TrimSpace(string(bytes.ToValidUTF8(snippet, []byte("?")))))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return answer, fmt.Errorf("%s answered %s", u.Host, answer)
	}
	return answer, nil
}

// sendEmail sends the notification over SMTP (net/smtp): implicit TLS or
// STARTTLS as configured (plain only to a loopback server in emulator
// mode), PLAIN authentication when a user is set.
func sendEmail(ctx context.Context, cfg NotifyConfig, o db.Outgoing, now time.Time) (string, error) {
	c := o.Destination.Config
	if c.Security == db.SMTPNone && !cfg.InsecureOK {
		return "", errors.New("mail without TLS is refused outside emulator mode")
	}
	addr := net.JoinHostPort(c.SMTPHost, strconv.Itoa(c.SMTPPort))
	tlsConf := &tls.Config{ServerName: c.SMTPHost, MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tlsConf = cfg.TLS.Clone()
		tlsConf.ServerName = c.SMTPHost
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * cfg.Timeout))
	if c.Security == db.SMTPTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return "", fmt.Errorf("TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	client, err := smtp.NewClient(conn, c.SMTPHost)
	if err != nil {
		conn.Close()
		return "", fmt.Errorf("SMTP greeting from %s: %w", addr, err)
	}
	defer client.Close()
	if err := client.Hello(helloName(cfg.BaseURL)); err != nil {
		return "", fmt.Errorf("EHLO: %w", err)
	}
	if c.Security == db.SMTPStartTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return "", fmt.Errorf("%s does not offer STARTTLS", addr)
		}
		if err := client.StartTLS(tlsConf); err != nil {
			return "", fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if c.Username != "" {
		if err := client.Auth(smtp.PlainAuth("", c.Username, o.Secrets.Password, c.SMTPHost)); err != nil {
			return "", fmt.Errorf("authentication as %s: %w", c.Username, err)
		}
	}
	if err := client.Mail(c.From); err != nil {
		return "", fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range c.To {
		if err := client.Rcpt(to); err != nil {
			return "", fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := client.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(emailMessage(c, compose(cfg, o), o.ID, now)); err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	_ = client.Quit()
	recipients := "recipients"
	if len(c.To) == 1 {
		recipients = "recipient"
	}
	return fmt.Sprintf("accepted by %s for %d %s", addr, len(c.To), recipients), nil
}

// helloName is the name we greet SMTP servers with: our public host.
func helloName(base string) string {
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// oneLine drops control characters, so that no text of ours can start a
// new mail header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// emailMessage is the RFC 5322 message of a notification: UTF-8 text,
// quoted-printable, the subject encoded when it needs to be.
func emailMessage(c db.DestinationConfig, m message, id int64, now time.Time) []byte {
	var b bytes.Buffer
	subject := "[Linkdesk] " + m.Title + ": " + m.Subject
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", mime.QEncoding.Encode("utf-8", "Linkdesk alerts")+" <"+c.From+">")
	hdr("To", strings.Join(c.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(subject)))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<linkdesk-alert-%d-%d@%s>", id, now.Unix(), "linkdesk"))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("X-Linkdesk-Event", m.Event)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	fmt.Fprintf(qp, "%s: %s\r\n\r\n%s\r\n\r\n%s\r\n", m.Title, m.Subject, m.Detail, m.Link)
	qp.Close()
	return b.Bytes()
}
