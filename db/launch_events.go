package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Launch events: the Link events a launch page reports (POST
// /l/{id}/events), and page_opened and mint_failed, which Linkdesk records
// itself. They are public input, so each is bounded in size and number.

// Launch event names Linkdesk itself records; the events endpoint refuses
// them from browsers.
const (
	EventPageOpened = "page_opened"
	EventMintFailed = "mint_failed"
)

// Link event names of the Link SDK (docs/pinwheel.md#link-events) that the lifecycle reads.
const (
	LinkEventOpen             = "open"
	LinkEventLogin            = "login"
	LinkEventSuccess          = "success"
	LinkEventError            = "error"
	LinkEventExit             = "exit"
	LinkEventScreenTransition = "screen_transition"
)

// Limits of launch events.
const (
	// MaxLaunchPayload is the largest payload object accepted (bytes).
	MaxLaunchPayload = 8 << 10
	// MaxLaunchDepth is the deepest nesting of a payload. Link's event
	// payloads are flat or one list deep (docs/pinwheel.md#link-events:
	// other_event carries a list of {key, value, type}); anything deeper
	// is not from Link.
	MaxLaunchDepth = 8
	// MaxLaunchKeys bounds the keys of a payload, at every level.
	MaxLaunchKeys = 100
	// MaxLaunchValues bounds the values of a payload (scalars, objects and
	// arrays), at every level.
	MaxLaunchValues = 500
	// MaxLaunchString bounds each string of a payload, key or value, in
	// bytes: Link sends names, ids, screen names and error messages.
	MaxLaunchString = 2 << 10
	// MaxLaunchEventsPerLink bounds what one link can store in total, so a
	// leaked link cannot fill the disk however slowly it is fed.
	MaxLaunchEventsPerLink = 1000
	// LaunchEventGrace is how long after a link expires its page may still
	// report events: a session opened a minute before expiry can finish.
	LaunchEventGrace = time.Hour
)

// ErrLinkClosed means a launch link is revoked or past its events window:
// it takes no more events.
var ErrLinkClosed = errors.New("db: launch link closed")

// ErrTooManyEvents means a launch link already stored MaxLaunchEventsPerLink
// events.
var ErrTooManyEvents = errors.New("db: too many launch events")

// LaunchEvent is one event a launch page reported (or page_opened and
// mint_failed, which Linkdesk records itself).
type LaunchEvent struct {
	ID          int64
	At          time.Time
	TokenID     string // ours
	LaunchID    string // a bearer secret: show it only to staff who may share the link
	AccountID   string
	EndUserID   string
	LinkTokenID string // Pinwheel's, "" before the first mint
	Name        string
	Payload     json.RawMessage // a JSON object

	linkRef, mintRef int64
}

// Str returns a string field of the payload, or "".
func (e LaunchEvent) Str(key string) string {
	var m map[string]any
	if json.Unmarshal(e.Payload, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

const launchEventColumns = `e.id, e.at, t.token_id, t.launch_id, e.account_id, e.end_user_id, COALESCE(e.link_token_id, ''), e.name, e.payload, e.link_ref, COALESCE(e.mint_ref, 0)`

func scanLaunchEvent(sc interface{ Scan(...any) error }) (LaunchEvent, error) {
	var e LaunchEvent
	var at, payload string
	err := sc.Scan(&e.ID, &at, &e.TokenID, &e.LaunchID, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.Name, &payload, &e.linkRef, &e.mintRef)
	e.At, e.Payload = ParseTime(at), json.RawMessage(payload)
	return e, err
}

// LaunchEventByID returns launch event id of the link tokenID (ours).
func (s *Store) LaunchEventByID(ctx context.Context, tokenID string, id int64) (LaunchEvent, error) {
	e, err := scanLaunchEvent(s.r.QueryRowContext(ctx, `SELECT `+launchEventColumns+` FROM launch_events e JOIN link_tokens t ON t.id = e.link_ref
WHERE e.id = ? AND t.token_id = ?`, id, tokenID))
	if err != nil {
		return LaunchEvent{}, fmt.Errorf("db: launch event %d of %s: %w", id, tokenID, notFound(err))
	}
	return e, nil
}

var eventNameRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// ValidLaunchEventName reports whether name may be stored: Link's event
// names are lower snake case (open, login_attempt, screen_transition, and
// the names of later SDK versions, which we accept without knowing them).
func ValidLaunchEventName(name string) bool { return eventNameRE.MatchString(name) }

// NormalizePayload checks that p is a JSON object within the limits of a
// launch event (MaxLaunchPayload bytes, MaxLaunchDepth levels,
// MaxLaunchKeys keys, MaxLaunchValues values, MaxLaunchString bytes per
// string) and returns it compacted; empty means {}.
func NormalizePayload(p []byte) ([]byte, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || string(p) == "null" {
		return []byte("{}"), nil
	}
	if len(p) > MaxLaunchPayload {
		return nil, fmt.Errorf("db: payload of %d bytes exceeds %d", len(p), MaxLaunchPayload)
	}
	if err := checkPayloadShape(p); err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p, &obj); err != nil {
		return nil, fmt.Errorf("db: payload is not a JSON object: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PayloadLimits says what a launch event's payload may be, for answers.
var PayloadLimits = fmt.Sprintf("a JSON object of at most %d KiB, nested at most %d levels, with at most %d keys, %d values and %d bytes per string",
	MaxLaunchPayload>>10, MaxLaunchDepth, MaxLaunchKeys, MaxLaunchValues, MaxLaunchString)

// checkPayloadShape walks a payload's tokens once and refuses one beyond
// the launch event limits.
func checkPayloadShape(p []byte) error {
	type frame struct{ obj, expectKey bool }
	var stack []frame
	keys, values := 0, 0
	// afterValue: in an object, a key comes next.
	afterValue := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("db: payload is not JSON: %w", err)
		}
		if n := len(stack); n > 0 && stack[n-1].expectKey {
			if k, ok := tok.(string); ok {
				if keys++; keys > MaxLaunchKeys {
					return fmt.Errorf("db: payload has more than %d keys", MaxLaunchKeys)
				}
				if len(k) > MaxLaunchString {
					return fmt.Errorf("db: payload key longer than %d bytes", MaxLaunchString)
				}
				stack[n-1].expectKey = false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			afterValue()
			continue
		}
		if values++; values > MaxLaunchValues {
			return fmt.Errorf("db: payload has more than %d values", MaxLaunchValues)
		}
		switch t := tok.(type) {
		case json.Delim: // { or [
			if len(stack) >= MaxLaunchDepth {
				return fmt.Errorf("db: payload nested deeper than %d levels", MaxLaunchDepth)
			}
			stack = append(stack, frame{obj: t == '{', expectKey: t == '{'})
		case string:
			if len(t) > MaxLaunchString {
				return fmt.Errorf("db: payload string longer than %d bytes", MaxLaunchString)
			}
			afterValue()
		default:
			afterValue()
		}
	}
}

// eventTarget is the link a launch event is for.
type eventTarget struct {
	ref                       int64
	tokenID, account, endUser string
}

// launchEventTarget finds the link launchID and checks that it takes
// events: ErrNotFound, ErrLinkClosed (revoked, closed by Linkdesk, or past
// its expiry plus LaunchEventGrace) or ErrTooManyEvents.
func launchEventTarget(ctx context.Context, q readQuerier, launchID string, now time.Time) (eventTarget, error) {
	var t eventTarget
	var expires string
	var revoked, closed sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, token_id, account_id, end_user_id, link_expires_at, revoked_at, closed_at FROM link_tokens WHERE launch_id = ?`, launchID).
		Scan(&t.ref, &t.tokenID, &t.account, &t.endUser, &expires, &revoked, &closed)
	if err != nil {
		return t, notFound(err)
	}
	if revoked.Valid || closed.Valid || !now.Before(ParseTime(expires).Add(LaunchEventGrace)) {
		return t, ErrLinkClosed
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM launch_events WHERE link_ref = ?`, t.ref).Scan(&n); err != nil {
		return t, err
	}
	if n >= MaxLaunchEventsPerLink {
		return t, ErrTooManyEvents
	}
	return t, nil
}

// CheckLaunchEvents reports, on the read pool, whether the link launchID
// takes events: nil, or the error RecordLaunchEvent would return
// (ErrNotFound, ErrLinkClosed, ErrTooManyEvents). The public events
// endpoint calls it first, so that a junk or dead launch id never costs a
// write transaction (the single writer is shared with webhook ingestion).
func (s *Store) CheckLaunchEvents(ctx context.Context, launchID string) error {
	_, err := launchEventTarget(ctx, s.r, launchID, s.now().UTC())
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrLinkClosed), errors.Is(err, ErrTooManyEvents):
		return err
	case err != nil:
		return fmt.Errorf("db: check launch events: %w", err)
	}
	return nil
}

// RecordLaunchEvent stores one launch event of the link with launchID. It
// returns ErrNotFound for an unknown link, ErrLinkClosed for a revoked or
// closed link or one past its expiry plus LaunchEventGrace,
// ErrTooManyEvents when the link's quota is used up, and FieldErrors for a
// bad name or payload. The event is attributed to the link's latest
// Pinwheel token. Callers facing the public call CheckLaunchEvents first.
func (s *Store) RecordLaunchEvent(ctx context.Context, launchID, name string, payload []byte) (LaunchEvent, error) {
	if !ValidLaunchEventName(name) {
		return LaunchEvent{}, FieldErrors{"name": "not a Link event name"}
	}
	p, err := NormalizePayload(payload)
	if err != nil {
		return LaunchEvent{}, FieldErrors{"payload": PayloadLimits}
	}
	now := s.now().UTC()
	var e LaunchEvent
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// One at a time, so that ids follow commit order (a live timeline
		// shows what lies above the last id it sent).
		if err := s.d.lock(ctx, tx, "launch_events"); err != nil {
			return err
		}
		t, err := launchEventTarget(ctx, tx, launchID, now)
		if err != nil {
			return err
		}
		ref, tokenID, account, endUser := t.ref, t.tokenID, t.account, t.endUser
		var mintRef sql.NullInt64
		var ltid sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT id, link_token_id FROM link_token_mints WHERE link_ref = ? ORDER BY id DESC LIMIT 1`, ref).Scan(&mintRef, &ltid)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO launch_events (link_ref, mint_ref, account_id, end_user_id, link_token_id, name, payload, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, ref, mintRef, account, endUser, ltid, name, string(p), FormatTime(now)).Scan(&id)
		if err != nil {
			return err
		}
		e = LaunchEvent{ID: id, At: now, TokenID: tokenID, LaunchID: launchID, AccountID: account, EndUserID: endUser,
			LinkTokenID: ltid.String, Name: name, Payload: p, linkRef: ref, mintRef: mintRef.Int64}
		if err := s.trackLaunchEvent(ctx, tx, ref, name, now); err != nil {
			return err
		}
		if err := s.changed(ctx, tx, TopicLaunch); err != nil {
			return err
		}
		return s.purgeTokens(ctx, tx, now)
	})
	var fe FieldErrors
	switch {
	case errors.As(err, &fe), errors.Is(err, ErrNotFound), errors.Is(err, ErrLinkClosed), errors.Is(err, ErrTooManyEvents):
		return LaunchEvent{}, err
	case err != nil:
		return LaunchEvent{}, fmt.Errorf("db: record launch event: %w", err)
	}
	return e, nil
}
