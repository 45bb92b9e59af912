package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Notifications: each alert that opens or resolves is sent to every
// enabled destination, an outbound webhook signed with our own secret (a
// body Slack's incoming webhooks accept) or an email over SMTP. Opening or
// resolving an alert inserts one alert_deliveries row per destination and
// queues a JobAlertNotify job for it, in the alert's transaction;
// worker.Notifications sends it, retrying with backoff, and records every
// attempt here (the delivery log). A destination whose attempts keep
// failing (DestinationFailLimit in a row) is marked failing: nothing more is
// sent to it (later alerts log a skipped delivery) until an admin enables
// it again or a test succeeds. Secrets (the webhook's URL, our signing
// secret, the SMTP password) are encrypted at rest (crypto.go).

// JobAlertNotify is the job kind that sends one notification.
const JobAlertNotify = "alert.notify"

// Notification events.
const (
	NotifyOpened   = "opened"
	NotifyResolved = "resolved"
	NotifyTest     = "test"
)

// Destination kinds.
const (
	DestinationWebhook = "webhook"
	DestinationEmail   = "email"
)

// Destination states.
const (
	DestinationOK      = "ok"
	DestinationFailing = "failing"
)

// SMTP connection security.
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// DestinationFailLimit is how many failed attempts in a row mark a
// destination failing.
const DestinationFailLimit = 5

// purposeDestinationSecrets is the purpose of destination secrets'
// ciphertext (a line of sealedColumns, so key rotation reseals them).
const purposeDestinationSecrets = "alert_destinations.secret_enc"

// DestinationConfig is what a destination's settings say, without
// secrets.
type DestinationConfig struct {
	// Webhook: the URL's host, for display (the URL itself is secret).
	Host string `json:"host,omitempty"`
	// Email: the SMTP server, sender and recipients.
	SMTPHost string   `json:"smtp_host,omitempty"`
	SMTPPort int      `json:"smtp_port,omitempty"`
	Security string   `json:"security,omitempty"`
	Username string   `json:"username,omitempty"`
	From     string   `json:"from,omitempty"`
	To       []string `json:"to,omitempty"`
}

// DestinationSecrets are a destination's secrets, decrypted for sending.
type DestinationSecrets struct {
	URL           string `json:"url,omitempty"`
	SigningSecret string `json:"signing_secret,omitempty"`
	Password      string `json:"password,omitempty"`
}

// Destination is one notification destination.
type Destination struct {
	ID            int64
	Name          string
	Kind          string
	Enabled       bool
	State         string
	Config        DestinationConfig
	Failures      int
	LastError     string
	LastSuccessAt time.Time
	FailingSince  time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// DestinationForm is the destination form as submitted.
type DestinationForm struct {
	Name, Kind string
	Enabled    bool
	// Webhook.
	URL string
	// Email.
	SMTPHost, SMTPPort, Security, Username, Password, From, To string
}

// Limits of the destination form.
const (
	maxDestinationName = 100
	maxURLLen          = 2000
	maxRecipients      = 20
)

// ValidateDestination checks the form. insecureOK (emulator mode only)
// also accepts plain http:// webhooks and SMTP without TLS on a loopback
// host, for local receivers; anywhere else a webhook must be https:// and
// mail must travel encrypted. An edit leaves the password as it was when
// the field is empty (keep). Pure, for table tests.
func ValidateDestination(f DestinationForm, insecureOK, keep bool) (DestinationConfig, DestinationSecrets, FieldErrors) {
	fe := FieldErrors{}
	var cfg DestinationConfig
	var sec DestinationSecrets
	switch n := strings.TrimSpace(f.Name); {
	case n == "":
		fe["name"] = "Give it a name, such as “Ops Slack”."
	case utf8.RuneCountInString(n) > maxDestinationName:
		fe["name"] = fmt.Sprintf("Keep it under %d characters.", maxDestinationName)
	}
	switch f.Kind {
	case DestinationWebhook:
		raw := strings.TrimSpace(f.URL)
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			fe["url"] = "Enter the webhook's URL."
		case len(raw) > maxURLLen:
			fe["url"] = fmt.Sprintf("Keep it under %d characters.", maxURLLen)
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			fe["url"] = "Enter a full URL, such as https://hooks.slack.com/services/…"
		case u.User != nil:
			fe["url"] = "Leave credentials out of the URL."
		case u.Scheme == "http" && !(insecureOK && isLoopbackHost(u.Hostname())):
			fe["url"] = "The URL must start with https:// (plain http is accepted only for a local receiver in emulator mode)."
		default:
			cfg.Host, sec.URL = u.Host, raw
		}
	case DestinationEmail:
		cfg.SMTPHost = strings.TrimSpace(f.SMTPHost)
		if cfg.SMTPHost == "" || strings.ContainsAny(cfg.SMTPHost, " /:@") || len(cfg.SMTPHost) > 253 {
			fe["smtp_host"] = "Enter the SMTP server's host name, such as smtp.example.com."
		}
		cfg.SMTPPort = 587
		if p := strings.TrimSpace(f.SMTPPort); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				fe["smtp_port"] = "Enter a port from 1 to 65535 (587 for STARTTLS, 465 for TLS)."
			}
			cfg.SMTPPort = n
		}
		cfg.Security = stringOr(f.Security, SMTPStartTLS)
		switch cfg.Security {
		case SMTPStartTLS, SMTPTLS:
		case SMTPNone:
			if !insecureOK || !isLoopbackHost(cfg.SMTPHost) {
				fe["security"] = "Mail must travel encrypted: choose STARTTLS or TLS (no encryption only for a local server in emulator mode)."
			}
		default:
			fe["security"] = "Choose STARTTLS, TLS or none."
		}
		cfg.Username = strings.TrimSpace(f.Username)
		sec.Password = f.Password
		if cfg.Username != "" && sec.Password == "" && !keep {
			fe["password"] = "Enter the password of that SMTP user."
		}
		if len(cfg.Username) > 254 || len(sec.Password) > 1000 {
			fe["username"] = "That is too long."
		}
		from, err := mail.ParseAddress(strings.TrimSpace(f.From))
		if err != nil {
			fe["from"] = "Enter one email address, such as alerts@example.com."
		} else {
			cfg.From = from.Address
		}
		to, err := mail.ParseAddressList(strings.TrimSpace(f.To))
		switch {
		case strings.TrimSpace(f.To) == "":
			fe["to"] = "Enter at least one recipient."
		case err != nil:
			fe["to"] = "Enter email addresses separated by commas, such as ops@example.com, oncall@example.com."
		case len(to) > maxRecipients:
			fe["to"] = fmt.Sprintf("At most %d recipients.", maxRecipients)
		default:
			for _, a := range to {
				cfg.To = append(cfg.To, a.Address)
			}
		}
	default:
		fe["kind"] = "Choose a webhook or email."
	}
	if len(fe) > 0 {
		return cfg, sec, fe
	}
	return cfg, sec, nil
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newSigningSecret is a fresh secret to sign our webhooks with.
func newSigningSecret() string { return "whsec_" + RandomHex(24) }

// CreateDestination validates the form and stores a new destination with a
// fresh signing secret (webhooks), audited without its secrets. It returns
// the destination and, for a webhook, the signing secret, shown once.
func (s *Store) CreateDestination(ctx context.Context, a Actor, f DestinationForm, insecureOK bool) (Destination, string, error) {
	cfg, sec, fe := ValidateDestination(f, insecureOK, false)
	if fe != nil {
		return Destination{}, "", fe
	}
	if f.Kind == DestinationWebhook {
		sec.SigningSecret = newSigningSecret()
	}
	cj, _ := json.Marshal(cfg)
	sj, _ := json.Marshal(sec)
	now := FormatTime(s.now())
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var by any
		if a.StaffID != 0 {
			by = a.StaffID
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO alert_destinations (name, kind, enabled, config, secret_enc, created_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, strings.TrimSpace(f.Name), f.Kind, boolInt(f.Enabled), string(cj),
			s.keys.seal(purposeDestinationSecrets, string(sj)), by, now, now).Scan(&id)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionDestinationCreated, "alert_destination", fmt.Sprint(id), map[string]any{
			"name": strings.TrimSpace(f.Name), "kind": f.Kind, "config": cfg, "enabled": f.Enabled})
	})
	if err != nil {
		return Destination{}, "", fmt.Errorf("db: create destination: %w", err)
	}
	d, err := s.DestinationByID(ctx, id)
	return d, sec.SigningSecret, err
}

// UpdateDestination validates the form and saves it. The kind cannot
// change; an empty URL or password keeps the stored one. Enabling a
// failing destination gives it a fresh start (state ok).
func (s *Store) UpdateDestination(ctx context.Context, a Actor, id int64, f DestinationForm, insecureOK bool) (Destination, error) {
	d, err := s.DestinationByID(ctx, id)
	if err != nil {
		return d, err
	}
	old, err := s.DestinationSecrets(ctx, id)
	if err != nil {
		return d, err
	}
	f.Kind = d.Kind
	if f.Kind == DestinationWebhook && strings.TrimSpace(f.URL) == "" {
		f.URL = old.URL
	}
	cfg, sec, fe := ValidateDestination(f, insecureOK, true)
	if fe != nil {
		return d, fe
	}
	sec.SigningSecret = old.SigningSecret
	if sec.Password == "" {
		sec.Password = old.Password
	}
	cj, _ := json.Marshal(cfg)
	sj, _ := json.Marshal(sec)
	now := FormatTime(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alert_destinations SET name = ?, enabled = ?, config = ?, secret_enc = ?, updated_at = ?,
  state = CASE WHEN ? = 1 AND enabled = 0 THEN 'ok' ELSE state END,
  failures = CASE WHEN ? = 1 AND enabled = 0 THEN 0 ELSE failures END,
  failing_since = CASE WHEN ? = 1 AND enabled = 0 THEN NULL ELSE failing_since END
WHERE id = ?`, strings.TrimSpace(f.Name), boolInt(f.Enabled), string(cj), s.keys.seal(purposeDestinationSecrets, string(sj)), now,
			boolInt(f.Enabled), boolInt(f.Enabled), boolInt(f.Enabled), id)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionDestinationUpdated, "alert_destination", fmt.Sprint(id), map[string]any{
			"name": strings.TrimSpace(f.Name), "config": cfg, "enabled": f.Enabled, "url_changed": sec.URL != old.URL, "password_changed": sec.Password != old.Password})
	})
	if err != nil {
		return d, fmt.Errorf("db: update destination %d: %w", id, err)
	}
	return s.DestinationByID(ctx, id)
}

// RotateDestinationSecret gives a webhook destination a new signing secret
// (audited without it) and returns it, to be shown once.
func (s *Store) RotateDestinationSecret(ctx context.Context, a Actor, id int64) (string, error) {
	d, err := s.DestinationByID(ctx, id)
	if err != nil {
		return "", err
	}
	if d.Kind != DestinationWebhook {
		return "", FieldErrors{"_form": "Only a webhook has a signing secret."}
	}
	sec, err := s.DestinationSecrets(ctx, id)
	if err != nil {
		return "", err
	}
	sec.SigningSecret = newSigningSecret()
	sj, _ := json.Marshal(sec)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE alert_destinations SET secret_enc = ?, updated_at = ? WHERE id = ?`,
			s.keys.seal(purposeDestinationSecrets, string(sj)), FormatTime(s.now()), id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionDestinationUpdated, "alert_destination", fmt.Sprint(id), map[string]any{"signing_secret": "rotated"})
	})
	if err != nil {
		return "", fmt.Errorf("db: rotate destination secret %d: %w", id, err)
	}
	return sec.SigningSecret, nil
}

const destinationColumns = `id, name, kind, enabled, state, config, failures, COALESCE(last_error, ''), COALESCE(last_success_at, ''),
  COALESCE(failing_since, ''), created_at, updated_at`

func scanDestination(sc interface{ Scan(...any) error }) (Destination, error) {
	var d Destination
	var cfg, success, failing, created, updated string
	err := sc.Scan(&d.ID, &d.Name, &d.Kind, &d.Enabled, &d.State, &cfg, &d.Failures, &d.LastError, &success, &failing, &created, &updated)
	if err != nil {
		return d, err
	}
	_ = json.Unmarshal([]byte(cfg), &d.Config)
	d.LastSuccessAt, d.FailingSince, d.CreatedAt, d.UpdatedAt = ParseTime(success), ParseTime(failing), ParseTime(created), ParseTime(updated)
	return d, nil
}

// Destinations lists every destination, oldest first (a handful).
func (s *Store) Destinations(ctx context.Context) ([]Destination, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+destinationColumns+` FROM alert_destinations ORDER BY id LIMIT 200`)
	if err != nil {
		return nil, fmt.Errorf("db: destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("db: destinations: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DestinationByID returns one destination.
func (s *Store) DestinationByID(ctx context.Context, id int64) (Destination, error) {
	d, err := scanDestination(s.r.QueryRowContext(ctx, `SELECT `+destinationColumns+` FROM alert_destinations WHERE id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("db: destination %d: %w", id, notFound(err))
	}
	return d, nil
}

// DestinationSecrets decrypts a destination's secrets, for sending.
func (s *Store) DestinationSecrets(ctx context.Context, id int64) (DestinationSecrets, error) {
	var enc string
	if err := s.r.QueryRowContext(ctx, `SELECT secret_enc FROM alert_destinations WHERE id = ?`, id).Scan(&enc); err != nil {
		return DestinationSecrets{}, fmt.Errorf("db: destination %d: %w", id, notFound(err))
	}
	plain, err := s.keys.open(purposeDestinationSecrets, enc)
	if err != nil {
		return DestinationSecrets{}, fmt.Errorf("db: destination %d: %w", id, err)
	}
	var sec DestinationSecrets
	if err := json.Unmarshal([]byte(plain), &sec); err != nil {
		return DestinationSecrets{}, fmt.Errorf("db: destination %d: %w", id, err)
	}
	return sec, nil
}

// NotifyPayload is the payload of a JobAlertNotify job.
type NotifyPayload struct {
	DeliveryID int64 `json:"delivery_id"`
}

// queueNotifications inserts a delivery of the alert's event for every
// enabled destination and queues its job, inside tx; a destination marked
// failing gets a skipped delivery instead, so the alert's log says so.
func (s *Store) queueNotifications(ctx context.Context, tx *sql.Tx, alertID int64, event string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, state FROM alert_destinations WHERE enabled = 1 ORDER BY id`)
	if err != nil {
		return err
	}
	type dest struct {
		id    int64
		state string
	}
	var dests []dest
	for rows.Next() {
		var d dest
		if err := rows.Scan(&d.id, &d.state); err != nil {
			rows.Close()
			return err
		}
		dests = append(dests, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range dests {
		if _, err := s.insertNotification(ctx, tx, sql.NullInt64{Int64: alertID, Valid: true}, d.id, event, d.state == DestinationFailing, now); err != nil {
			return err
		}
	}
	return nil
}

// insertNotification adds one delivery row and, unless skipped, its job.
func (s *Store) insertNotification(ctx context.Context, tx *sql.Tx, alertID sql.NullInt64, destID int64, event string, skip bool, now time.Time) (int64, error) {
	at := FormatTime(now)
	state, lastErr := "pending", sql.NullString{}
	if skip {
		state, lastErr = "skipped", sql.NullString{String: "the destination is marked failing; enable it again or send a test", Valid: true}
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO alert_deliveries (alert_id, destination_id, event, state, last_error, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, alertID, destID, event, state, lastErr, at, at).Scan(&id)
	if err != nil || skip {
		return id, err
	}
	_, err = s.enqueueJob(ctx, tx, NewJob{Kind: JobAlertNotify, Payload: NotifyPayload{DeliveryID: id}})
	return id, err
}

// QueueTestNotification queues a test message to a destination (also a
// failing or disabled one: a test is how a fixed destination is checked),
// audited, and returns the delivery's id.
func (s *Store) QueueTestNotification(ctx context.Context, a Actor, destID int64) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM alert_destinations WHERE id = ?`, destID).Scan(&name); err != nil {
			return notFound(err)
		}
		var err error
		if id, err = s.insertNotification(ctx, tx, sql.NullInt64{}, destID, NotifyTest, false, s.now()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionDestinationTested, "alert_destination", fmt.Sprint(destID), map[string]any{"name": name})
	})
	if err != nil {
		return 0, fmt.Errorf("db: test notification to %d: %w", destID, err)
	}
	return id, nil
}

// Notification is one delivery of the log.
type Notification struct {
	ID              int64
	AlertID         int64 // 0 for a test
	AlertSubject    string
	DestinationID   int64
	DestinationName string
	DestinationKind string
	Event           string
	State           string
	Attempts        int
	LastError       string
	Response        string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SentAt          time.Time
}

// Final reports whether the delivery will not change any more.
func (n Notification) Final() bool { return n.State != "pending" }

const notificationColumns = `n.id, COALESCE(n.alert_id, 0), COALESCE(al.subject, ''), n.destination_id, d.name, d.kind, n.event, n.state, n.attempts,
  COALESCE(n.last_error, ''), COALESCE(n.response, ''), n.created_at, n.updated_at, COALESCE(n.sent_at, '')`

const notificationFrom = ` FROM alert_deliveries n JOIN alert_destinations d ON d.id = n.destination_id LEFT JOIN alerts al ON al.id = n.alert_id`

func scanNotification(sc interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var created, updated, sent string
	err := sc.Scan(&n.ID, &n.AlertID, &n.AlertSubject, &n.DestinationID, &n.DestinationName, &n.DestinationKind, &n.Event, &n.State, &n.Attempts,
		&n.LastError, &n.Response, &created, &updated, &sent)
	n.CreatedAt, n.UpdatedAt, n.SentAt = ParseTime(created), ParseTime(updated), ParseTime(sent)
	return n, err
}

func (s *Store) notifications(ctx context.Context, where string, args ...any) ([]Notification, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+notificationColumns+notificationFrom+` WHERE `+where+` ORDER BY n.id DESC LIMIT 100`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("db: notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AlertNotifications is an alert's delivery log, newest first.
func (s *Store) AlertNotifications(ctx context.Context, alertID int64) ([]Notification, error) {
	return s.notifications(ctx, `n.alert_id = ?`, alertID)
}

// DestinationNotifications is a destination's delivery log (its last 100),
// newest first.
func (s *Store) DestinationNotifications(ctx context.Context, destID int64) ([]Notification, error) {
	return s.notifications(ctx, `n.destination_id = ?`, destID)
}

// NotificationByID returns one delivery.
func (s *Store) NotificationByID(ctx context.Context, id int64) (Notification, error) {
	n, err := scanNotification(s.r.QueryRowContext(ctx, `SELECT `+notificationColumns+notificationFrom+` WHERE n.id = ?`, id))
	if err != nil {
		return n, fmt.Errorf("db: notification %d: %w", id, notFound(err))
	}
	return n, nil
}

// Outgoing is everything a worker needs to send one notification.
type Outgoing struct {
	Notification
	Destination Destination
	Secrets     DestinationSecrets
	// Alert is the alert (zero for a test).
	Alert Alert
}

// ErrNotificationDone means the delivery was already sent or given up.
var ErrNotificationDone = errors.New("db: notification already final")

// OutgoingNotification reads a pending delivery with its destination (its
// secrets decrypted) and alert.
func (s *Store) OutgoingNotification(ctx context.Context, id int64) (Outgoing, error) {
	var o Outgoing
	var err error
	if o.Notification, err = s.NotificationByID(ctx, id); err != nil {
		return o, err
	}
	if o.Final() {
		return o, ErrNotificationDone
	}
	if o.Destination, err = s.DestinationByID(ctx, o.DestinationID); err != nil {
		return o, err
	}
	if o.Secrets, err = s.DestinationSecrets(ctx, o.DestinationID); err != nil {
		return o, err
	}
	if o.AlertID != 0 {
		if o.Alert, err = s.AlertByID(ctx, o.AlertID); err != nil {
			return o, err
		}
	}
	return o, nil
}

// NotificationAttempt is how one attempt went.
type NotificationAttempt struct {
	// Err is the failure; nil means delivered.
	Err error
	// Response is a short account of the answer (the HTTP status, the SMTP
	// server's last reply).
	Response string
	// Last: no retry follows (the job's attempts are used up).
	Last bool
}

// RecordNotificationAttempt records an attempt in the delivery log and on
// its destination, in one transaction. A success marks the delivery sent
// and the destination healthy; a failure counts against the destination,
// which becomes failing at DestinationFailLimit failures in a row. It
// reports whether the delivery is final (sent, or failed for good: no
// attempts left, or its destination failing).
func (s *Store) RecordNotificationAttempt(ctx context.Context, id int64, at NotificationAttempt) (final bool, err error) {
	now := FormatTime(s.now())
	resp := truncate(strings.ToValidUTF8(at.Response, "?"), 300)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var destID int64
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT destination_id, state FROM alert_deliveries WHERE id = ?`, id).Scan(&destID, &state); err != nil {
			return notFound(err)
		}
		if state != "pending" {
			final = true
			return nil
		}
		if at.Err == nil {
			final = true
			if _, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = 'sent', attempts = attempts + 1, last_error = NULL, response = ?, sent_at = ?, updated_at = ? WHERE id = ?`,
				resp, now, now, id); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE alert_destinations SET failures = 0, state = 'ok', failing_since = NULL, last_success_at = ?, last_error = NULL WHERE id = ?`, now, destID)
			return err
		}
		msg := truncate(strings.ToValidUTF8(at.Err.Error(), "?"), 500)
		var failures int
		if err := tx.QueryRowContext(ctx, `UPDATE alert_destinations SET failures = failures + 1, last_error = ?,
  state = CASE WHEN failures + 1 >= ? THEN 'failing' ELSE state END,
  failing_since = CASE WHEN failures + 1 >= ? AND failing_since IS NULL THEN ? ELSE failing_since END
WHERE id = ? RETURNING failures`, msg, DestinationFailLimit, DestinationFailLimit, now, destID).Scan(&failures); err != nil {
			return err
		}
		final = at.Last || failures >= DestinationFailLimit
		newState := "pending"
		if final {
			newState = "failed"
		}
		_, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = ?, attempts = attempts + 1, last_error = ?, response = ?, updated_at = ? WHERE id = ?`,
			newState, msg, resp, now, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("db: notification %d attempt: %w", id, err)
	}
	return final, nil
}

// GiveUpNotification marks a pending delivery failed without an attempt
// (its destination is failing or was deleted meanwhile).
func (s *Store) GiveUpNotification(ctx context.Context, id int64, reason string) error {
	now := FormatTime(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
			truncate(reason, 500), now, id)
		return err
	})
}
