package evidence

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/pinwheel"
)

// Options tune a pack.
type Options struct {
	// Role is the exporter's role: bodies are masked by its policy (pii),
	// as the pages it came from mask them.
	Role string
	// PinwheelSecret, when set, re-verifies each stored webhook's
	// signature against its stored body.
	PinwheelSecret string
}

// Write streams the pack of ev to w (a ZIP). Each file is written as the
// Store reads it, in keyset chunks, so memory stays bounded by a chunk,
// not by the subject; the manifest and its signature come last.
func Write(ctx context.Context, w io.Writer, store *db.Store, ev *db.Evidence, opt Options) error {
	keys := store.AuditKeys()
	signer := keys.Signer()
	if signer == nil {
		return ErrNoSigner
	}
	zw := zip.NewWriter(w)
	p := &packWriter{zw: zw, modified: ev.GeneratedAt}
	steps := []struct {
		name  string
		write func(f *zipFile) error
	}{
		{FileReadme, func(f *zipFile) error { _, err := io.WriteString(f, readme(ev, opt, PublicKeyHex(keys))); return err }},
		{FileTimeline, func(f *zipFile) error { return writeTimeline(ctx, f, store, ev) }},
		{FileWebhooks, func(f *zipFile) error { return writeWebhooks(ctx, f, store, ev, opt) }},
		{FileTokens, func(f *zipFile) error { return writeTokens(ctx, f, store, ev) }},
		{FileStaffActions, func(f *zipFile) error { return writeStaffActions(ctx, f, store, ev) }},
		{FileSnapshots, func(f *zipFile) error { return writeSnapshots(ctx, f, store, ev, opt) }},
		{FileDecisions, func(f *zipFile) error { return writeDecisions(ctx, f, store, ev) }},
	}
	for _, s := range steps {
		if err := p.file(s.name, s.write); err != nil {
			return fmt.Errorf("evidence: %s: %w", s.name, err)
		}
	}
	m := Manifest{
		Format: Format, Subject: Subject{ev.Kind, ev.ID}, EndUserID: ev.EndUserID, Accounts: ev.Accounts, Generated: ev.GeneratedAt,
		ExportedBy: Person{StaffID: ev.By.StaffID, Email: ev.By.Email, IP: ev.By.IP}, ChainHead: ev.Head, KeyedFrom: ev.KeyedFrom,
		MaskedFor: opt.Role, Files: p.files,
		Signature: Signature{Algorithm: "ed25519", PublicKey: PublicKeyHex(keys), AuditKeyID: keys.Current},
	}
	if m.Accounts == nil {
		m.Accounts = []string{}
	}
	manifest, sig, err := signManifest(m, signer)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{FileManifest, manifest}, {FileSignature, sig}} {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: ev.GeneratedAt})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.body); err != nil {
			return err
		}
	}
	return zw.Close()
}

// TimelineHeader are the columns of timeline.csv.
var TimelineHeader = []string{"time", "source", "name", "outcome", "reference", "account_id", "summary"}

func writeTimeline(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence) error {
	cw := csv.NewWriter(f)
	if err := cw.Write(TimelineHeader); err != nil {
		return err
	}
	err := store.EvidenceTimeline(ctx, ev, func(l db.TimelineLine) error {
		summary := ""
		switch l.Source {
		case "webhook":
			summary = pinwheelLabel(l.Name, l.Outcome)
		case "staff":
			if l.Staff != nil {
				summary = l.Staff.SentenceText()
			}
		case "link":
			summary = "Launch page reported " + strings.ReplaceAll(l.Name, "_", " ")
		}
		f.records++
		return cw.Write([]string{db.FormatTime(l.At), l.Source, l.Name, l.Outcome, l.Reference, l.AccountID, summary})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// pinwheelLabel names a webhook event for people.
func pinwheelLabel(event, outcome string) string {
	label := event
	if et, ok := pinwheel.LookupEvent(event); ok && et.Label != "" {
		label = et.Label
	}
	if outcome != "" {
		label += ": " + outcome
	}
	return label
}

// webhookLine is one line of webhooks.jsonl.
type webhookLine struct {
	EventID        string `json:"event_id"`
	Event          string `json:"event"`
	AccountID      string `json:"account_id,omitempty"`
	EndUserID      string `json:"end_user_id,omitempty"`
	LinkTokenID    string `json:"link_token_id,omitempty"`
	Outcome        string `json:"outcome,omitempty"`
	OccurredAt     string `json:"occurred_at,omitempty"`
	XTimestamp     string `json:"x_timestamp,omitempty"`
	ReceivedAt     string `json:"received_at"`
	LastReceivedAt string `json:"last_received_at"`
	DeliveryCount  int    `json:"delivery_count"`
	APIVersion     string `json:"api_version,omitempty"`
	WebhookID      string `json:"webhook_id,omitempty"`
	// SignatureHeader is the X-Pinwheel-Signature it arrived with.
	SignatureHeader string `json:"signature_header"`
	// VerifiedOnReceipt: Linkdesk stores only deliveries whose signature
	// verified; refused ones are kept apart.
	VerifiedOnReceipt bool `json:"verified_on_receipt"`
	// SignatureNow re-verifies the stored body now: "valid", "invalid",
	// "not checked" (no secret, or the body was removed).
	SignatureNow     string          `json:"signature_now"`
	SignatureVerdict string          `json:"signature_verdict"`
	BodySHA256       string          `json:"stored_body_sha256"`
	BodyMasked       bool            `json:"body_masked"`
	BodyRemoved      string          `json:"body_removed,omitempty"`
	BodyRemovedAt    string          `json:"body_removed_at,omitempty"`
	Body             json.RawMessage `json:"body"`
}

func writeWebhooks(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence, opt Options) error {
	line := jsonLines(f)
	return store.EvidenceWebhooks(ctx, ev, func(w db.EvidenceWebhook) error {
		sum := sha256.Sum256([]byte(w.Body))
		l := webhookLine{EventID: w.EventID, Event: w.Event.Event, AccountID: w.AccountID, EndUserID: w.EndUserID, LinkTokenID: w.LinkTokenID,
			Outcome: w.Outcome, OccurredAt: timeOrEmpty(w.OccurredAt), XTimestamp: timeOrEmpty(w.SentAt), ReceivedAt: db.FormatTime(w.ReceivedAt),
			LastReceivedAt: db.FormatTime(w.LastReceivedAt), DeliveryCount: w.DeliveryCount, APIVersion: w.APIVersion, WebhookID: w.WebhookID,
			SignatureHeader: w.Signature, VerifiedOnReceipt: true, BodySHA256: hex.EncodeToString(sum[:]), BodyRemoved: w.BodyRemoved,
			BodyRemovedAt: timeOrEmpty(w.BodyRemovedAt)}
		l.SignatureNow, l.SignatureVerdict = signatureVerdict(w, opt.PinwheelSecret)
		body, ok := pii.MaskJSONLine([]byte(w.Body), opt.Role)
		if !ok {
			body = []byte("null")
		}
		l.Body, l.BodyMasked = body, !jsonEqual(body, []byte(w.Body))
		return line(l)
	})
}

// signatureVerdict re-checks a stored webhook's signature where it can.
func signatureVerdict(w db.EvidenceWebhook, secret string) (now, verdict string) {
	const receipt = "The signature was verified when the delivery arrived (Linkdesk stores no delivery whose signature fails)."
	switch {
	case w.BodyRemoved != "":
		return "not checked", receipt + " The body was since removed (" + w.BodyRemoved + "), so it cannot be checked again."
	case secret == "" || w.Signature == "" || w.SentAt.IsZero():
		return "not checked", receipt
	}
	ts := strconv.FormatInt(w.SentAt.Unix(), 10)
	if pinwheel.Sign(secret, ts, []byte(w.Body)) == w.Signature {
		return "valid", receipt + " Checked again now: the stored body matches the signature under the current Pinwheel secret."
	}
	return "invalid", receipt + " Checked again now, it does not match under the current Pinwheel secret: the secret changed since, or the stored body did."
}

// jsonEqual reports whether two JSON documents are the same value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return db.FormatTime(t)
}

// tokenLine is one line of tokens.jsonl: a launch link and its lifecycle.
type tokenLine struct {
	TokenID       string         `json:"token_id"`
	Mode          string         `json:"mode"`
	AccountID     string         `json:"account_id"`
	EndUserID     string         `json:"end_user_id"`
	CreatedBy     string         `json:"created_by"`
	CreatedAt     string         `json:"created_at"`
	Reason        string         `json:"reason"`
	Jobs          []string       `json:"jobs"`
	APIVersion    string         `json:"api_version"`
	LinkExpiresAt string         `json:"link_expires_at"`
	RevokedAt     string         `json:"revoked_at,omitempty"`
	ClosedAt      string         `json:"closed_at,omitempty"`
	ClosedReason  string         `json:"closed_reason,omitempty"`
	State         string         `json:"state"`
	Outcome       string         `json:"outcome,omitempty"`
	Steps         []stepLine     `json:"steps"`
	Mints         []mintLine     `json:"mints"`
	LaunchEvents  []launchLine   `json:"launch_events"`
	Webhooks      []webhookBrief `json:"webhooks"`
}

type stepLine struct {
	Stage  string `json:"stage"`
	At     string `json:"at"`
	Detail string `json:"detail,omitempty"`
}

type mintLine struct {
	LinkTokenID string `json:"link_token_id"`
	MintedAt    string `json:"minted_at"`
	ExpiresAt   string `json:"expires_at"`
	ByStaff     bool   `json:"minted_by_staff"`
}

type launchLine struct {
	At          string `json:"at"`
	Name        string `json:"name"`
	LinkTokenID string `json:"link_token_id,omitempty"`
}

type webhookBrief struct {
	Event       string `json:"event"`
	LinkTokenID string `json:"link_token_id,omitempty"`
	At          string `json:"at"`
	ReceivedAt  string `json:"received_at"`
	Outcome     string `json:"outcome,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
}

func writeTokens(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence) error {
	links, err := store.EvidenceLinks(ctx, ev)
	if err != nil {
		return err
	}
	line := jsonLines(f)
	for _, d := range links {
		l := tokenLine{TokenID: d.TokenID, Mode: d.Mode, AccountID: d.AccountID, EndUserID: d.EndUserID, CreatedBy: d.CreatedByName,
			CreatedAt: db.FormatTime(d.CreatedAt), Reason: d.Reason, Jobs: d.Jobs, APIVersion: d.APIVersion, LinkExpiresAt: db.FormatTime(d.LinkExpiresAt),
			RevokedAt: timeOrEmpty(d.RevokedAt), ClosedAt: timeOrEmpty(d.ClosedAt), ClosedReason: d.ClosedReason, State: d.Lifecycle.State,
			Outcome: d.Lifecycle.Outcome, Steps: []stepLine{}, Mints: []mintLine{}, LaunchEvents: []launchLine{}, Webhooks: []webhookBrief{}}
		for _, s := range d.Lifecycle.Steps {
			l.Steps = append(l.Steps, stepLine{s.Stage, timeOrEmpty(s.At), s.Detail})
		}
		for _, m := range d.History {
			l.Mints = append(l.Mints, mintLine{m.LinkTokenID, db.FormatTime(m.MintedAt), db.FormatTime(m.ExpiresAt), m.MintedBy != 0})
		}
		for _, e := range d.Events {
			l.LaunchEvents = append(l.LaunchEvents, launchLine{db.FormatTime(e.At), e.Name, e.LinkTokenID})
		}
		for _, w := range d.Webhooks {
			l.Webhooks = append(l.Webhooks, webhookBrief{w.Event, w.LinkTokenID, timeOrEmpty(w.At), timeOrEmpty(w.ReceivedAt), w.Outcome, w.ErrorCode})
		}
		if err := line(l); err != nil {
			return err
		}
	}
	return nil
}

func writeStaffActions(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence) error {
	line := jsonLines(f)
	return store.EvidenceStaffActions(ctx, ev, func(e db.AuditEntry) error { return line(e.ExportRow()) })
}

// snapshotLine is one line of snapshots.jsonl.
type snapshotLine struct {
	AccountID     string          `json:"account_id"`
	Kind          string          `json:"kind"`
	FetchedAt     string          `json:"fetched_at"`
	RefreshedAt   string          `json:"refreshed_at,omitempty"`
	SourceEventID string          `json:"source_event_id,omitempty"`
	BodySHA256    string          `json:"stored_body_sha256"`
	BodyMasked    bool            `json:"body_masked"`
	ErasedAt      string          `json:"erased_at,omitempty"`
	Body          json.RawMessage `json:"body"`
}

func writeSnapshots(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence, opt Options) error {
	line := jsonLines(f)
	return store.EvidenceSnapshots(ctx, ev, func(sn db.EvidenceSnapshot) error {
		body, ok := pii.MaskJSONLine([]byte(sn.Body), opt.Role)
		if !ok {
			body = []byte("null")
		}
		return line(snapshotLine{AccountID: sn.AccountID, Kind: sn.Kind, FetchedAt: db.FormatTime(sn.FetchedAt), RefreshedAt: timeOrEmpty(sn.RefreshedAt),
			SourceEventID: sn.SourceEventID, BodySHA256: sn.BodySHA256, BodyMasked: !jsonEqual(body, []byte(sn.Body)), ErasedAt: timeOrEmpty(sn.ErasedAt), Body: body})
	})
}

// decisionLine is one line of decisions.jsonl: an underwriting decision,
// the data it was bound to, and whether that data is still as it was.
type decisionLine struct {
	db.Decision
	// BindingsHold is set when every bound snapshot, paystub and shift is
	// still stored with the same SHA-256; Changed lists those that are not.
	BindingsHold bool           `json:"bindings_hold"`
	Changed      []db.BasisItem `json:"changed,omitempty"`
}

func writeDecisions(ctx context.Context, f *zipFile, store *db.Store, ev *db.Evidence) error {
	line := jsonLines(f)
	seen := map[int64]bool{}
	write := func(d db.Decision) error {
		if seen[d.ID] {
			return nil
		}
		seen[d.ID] = true
		l := decisionLine{Decision: d}
		if len(d.Bindings) > 0 {
			bad, err := store.VerifyDecision(ctx, d)
			if err != nil && len(bad) == 0 {
				return err
			}
			l.BindingsHold, l.Changed = err == nil && len(bad) == 0, bad
		}
		return line(l)
	}
	for _, a := range ev.Accounts {
		ds, err := store.AccountDecisions(ctx, a)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := write(d); err != nil {
				return err
			}
		}
	}
	if ev.Kind == db.SubjectEndUser {
		ds, err := store.DecisionsAbout(ctx, db.ScopeEndUser, ev.ID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := write(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// readme explains the pack to whoever receives it.
func readme(ev *db.Evidence, opt Options, publicKey string) string {
	subject := "account " + ev.ID
	if ev.Kind == db.SubjectEndUser {
		subject = "end user " + ev.ID
	}
	return fmt.Sprintf(`Linkdesk evidence pack: %s
Generated %s by %s. Audit chain head at export: row %d, hash %s.

Files
  timeline.csv         every webhook, staff action and launch-page event, in time order
  webhooks.jsonl       the webhooks Pinwheel sent (bodies masked for the role %q), with the
                       signature header, when Pinwheel sent them (x_timestamp), when Linkdesk
                       received them, how many deliveries, and the signature verdict
  tokens.jsonl         the launch links (On Demand Update tokens), their mints, launch-page
                       events, webhooks and lifecycle
  staff_actions.jsonl  the audit rows touching the subject, each with its sequence number,
                       hash and previous hash (checkable with the audit key)
  snapshots.jsonl      the data Linkdesk fetched from Pinwheel (identity, employment, income,
                       deposit allocations), masked for the role
  decisions.jsonl      underwriting decisions about it, with the data each was bound to and
                       whether that data is still stored unchanged
  manifest.json        each file's SHA-256 and size, the chain head, who exported the pack
  manifest.sig         the Ed25519 signature of manifest.json (hex)

Checking it
  linkdesk evidence verify --public-key %s PACK.zip
  (or with LINKDESK_AUDIT_KEY set, which also checks every staff action's chain hash).
  The public key must be the one Linkdesk's /audit page shows; a pack signed with any other
  key proves nothing.
`, subject, db.FormatTime(ev.GeneratedAt), ev.By.Email, ev.Head.Seq, ev.Head.Hash, opt.Role, publicKey)
}
