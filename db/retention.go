package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Retention: how long raw webhook bodies and launch events' payloads are
// kept (settings, default forever), enforced by a daily job on the queue
// (JobRetention) that replaces what is past its time by what identifies
// it: ids, types, times, outcomes (redactWebhookBody). The rows stay, so
// lists, counts, timelines and the audit trail keep working. Removal runs
// in secure-delete transactions (secureTx), so the old values do not
// survive in the file's free space.

// Audit actions of retention.
const (
	// ActionRetentionChanged records new retention periods.
	ActionRetentionChanged = "settings.retention_changed"
	// ActionRetentionPurged records a run of the retention job that
	// removed something.
	ActionRetentionPurged = "retention.purged"
)

// The audit trail's daily jobs (worker.AuditJobs).
const (
	JobRetention   = "retention.purge"
	JobAuditVerify = "audit.verify"
)

// Settings rows of retention.
const (
	settingRetentionBodies   = "retention_webhook_body_days"
	settingRetentionPayloads = "retention_launch_payload_days"
	settingRetentionEventsAt = "retention_events_done_id"
	settingRetentionLaunchAt = "retention_launch_done_id"
)

// MaxRetentionDays bounds a retention period (ten years).
const MaxRetentionDays = 3650

// Retention is how many days raw data is kept; 0 means forever.
type Retention struct {
	WebhookBodyDays   int
	LaunchPayloadDays int
}

// Retention returns the retention periods (0: forever).
func (s *Store) Retention(ctx context.Context) (Retention, error) {
	var r Retention
	for _, f := range []struct {
		key string
		dst *int
	}{{settingRetentionBodies, &r.WebhookBodyDays}, {settingRetentionPayloads, &r.LaunchPayloadDays}} {
		v, err := s.Setting(ctx, f.key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return r, err
		}
		*f.dst, _ = strconv.Atoi(v)
	}
	return r, nil
}

// ValidateRetention checks retention form values: empty or 0 is forever,
// else a whole number of days from 1 to MaxRetentionDays.
func ValidateRetention(bodies, payloads string) (Retention, FieldErrors) {
	var r Retention
	fe := FieldErrors{}
	for _, f := range []struct {
		name, v string
		dst     *int
	}{{"webhook_body_days", bodies, &r.WebhookBodyDays}, {"launch_payload_days", payloads, &r.LaunchPayloadDays}} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(f.v)
		if err != nil || n < 0 || n > MaxRetentionDays {
			fe[f.name] = fmt.Sprintf("Enter a number of days from 1 to %d, or leave it empty to keep forever.", MaxRetentionDays)
			continue
		}
		*f.dst = n
	}
	if len(fe) > 0 {
		return r, fe
	}
	return r, nil
}

// SetRetention stores new retention periods, audited, and queues the
// retention job to apply them now.
func (s *Store) SetRetention(ctx context.Context, a Actor, r Retention) error {
	old, err := s.Retention(ctx)
	if err != nil {
		return err
	}
	if old == r {
		return nil
	}
	days := func(n int) any {
		if n == 0 {
			return "forever"
		}
		return n
	}
	now := FormatTime(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		for key, v := range map[string]int{settingRetentionBodies: r.WebhookBodyDays, settingRetentionPayloads: r.LaunchPayloadDays} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, strconv.Itoa(v), now); err != nil {
				return err
			}
		}
		if err := s.appendAudit(ctx, tx, a, ActionRetentionChanged, "settings", "retention", map[string]any{
			"webhook_body_days":   []any{days(old.WebhookBodyDays), days(r.WebhookBodyDays)},
			"launch_payload_days": []any{days(old.LaunchPayloadDays), days(r.LaunchPayloadDays)},
		}); err != nil {
			return err
		}
		_, err := s.enqueueJob(ctx, tx, NewJob{Kind: JobRetention, DedupeKey: "retention"})
		return err
	})
	if err != nil {
		return fmt.Errorf("db: set retention: %w", err)
	}
	return nil
}

// PurgeResult counts what one retention run removed.
type PurgeResult struct {
	WebhookBodies  int64 `json:"webhook_bodies"`
	LaunchPayloads int64 `json:"launch_payloads"`
}

// purgeBatch is how many rows one secure-delete transaction rewrites.
const purgeBatch = 500

// PurgeExpired applies the retention periods at the Store's clock:
// webhook bodies received and launch payloads recorded before their
// cut-off are replaced by what identifies them, in batches, each its own
// transaction. Ids follow time in both tables, so each walk resumes after
// the last id it finished (a setting), and a run cut short resumes on the
// next. A run that removed something is audited.
func (s *Store) PurgeExpired(ctx context.Context) (PurgeResult, error) {
	var res PurgeResult
	r, err := s.Retention(ctx)
	if err != nil {
		return res, err
	}
	now := s.now().UTC()
	if r.WebhookBodyDays > 0 {
		n, err := s.purgeWalk(ctx, purgeEvents, now.AddDate(0, 0, -r.WebhookBodyDays))
		res.WebhookBodies = n
		if err != nil {
			return res, err
		}
	}
	if r.LaunchPayloadDays > 0 {
		n, err := s.purgeWalk(ctx, purgeLaunch, now.AddDate(0, 0, -r.LaunchPayloadDays))
		res.LaunchPayloads = n
		if err != nil {
			return res, err
		}
	}
	if res.WebhookBodies+res.LaunchPayloads == 0 {
		return res, nil
	}
	if err := s.truncateWAL(ctx, "events", "launch_events"); err != nil {
		return res, fmt.Errorf("db: retention: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, SystemActor, ActionRetentionPurged, "settings", "retention", map[string]any{
			"webhook_bodies": res.WebhookBodies, "launch_payloads": res.LaunchPayloads,
			"webhook_body_days": r.WebhookBodyDays, "launch_payload_days": r.LaunchPayloadDays,
		})
	})
	return res, err
}

// purgeTable is one walk of the retention job.
type purgeTable struct {
	done string // the setting holding the last id finished
	// table and timeCol give the cut-off id: the first row at or after
	// the cut-off time, ids following time.
	table, timeCol string
	// selects reads rows in (after, upper) not yet removed.
	selects string
	rewrite func(ctx context.Context, tx *sql.Tx, id int64, a, b string, at string) error
}

var purgeEvents = purgeTable{
	done: settingRetentionEventsAt, table: "events", timeCol: "received_at",
	selects: `SELECT id, event_id, body FROM events WHERE id > ? AND id < ? AND body_removed IS NULL ORDER BY id LIMIT ?`,
	rewrite: func(ctx context.Context, tx *sql.Tx, id int64, eventID, body, at string) error {
		_, err := tx.ExecContext(ctx, `UPDATE events SET body = ?, body_removed = 'retention', body_removed_at = ? WHERE id = ?`,
			string(redactWebhookBody([]byte(body), "retention")), at, id)
		return err
	},
}

var purgeLaunch = purgeTable{
	done: settingRetentionLaunchAt, table: "launch_events", timeCol: "at",
	selects: `SELECT id, name, payload FROM launch_events WHERE id > ? AND id < ? AND payload_removed IS NULL ORDER BY id LIMIT ?`,
	rewrite: func(ctx context.Context, tx *sql.Tx, id int64, _, _ string, at string) error {
		_, err := tx.ExecContext(ctx, `UPDATE launch_events SET payload = '{}', payload_removed = 'retention', payload_removed_at = ? WHERE id = ?`, at, id)
		return err
	},
}

// purgeWalk removes what t holds from before cutoff, resuming after the
// last id it finished. Ids follow time (a webhook's id is given at its
// commit, its received_at when it arrived: the two disagree only among
// deliveries in flight together), so the rows before the cut-off are the
// ids below the first row at or after it, found by a binary search over
// the primary key; a row is at most the in-flight moment early or late.
func (s *Store) purgeWalk(ctx context.Context, t purgeTable, cutoff time.Time) (int64, error) {
	var total int64
	after := int64(0)
	if v, err := s.Setting(ctx, t.done); err == nil {
		after, _ = strconv.ParseInt(v, 10, 64)
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	upper, err := firstIDAtOrAfterIn(ctx, s.r, t.table, t.timeCol, FormatTime(cutoff))
	if err != nil {
		return 0, fmt.Errorf("db: retention: %w", err)
	}
	for ctx.Err() == nil {
		var n int
		err := s.secureTx(ctx, nil, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, t.selects, after, upper, purgeBatch)
			if err != nil {
				return err
			}
			type row struct {
				id   int64
				a, b string
			}
			var batch []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.a, &r.b); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			at := FormatTime(s.now())
			for _, r := range batch {
				if err := t.rewrite(ctx, tx, r.id, r.a, r.b, at); err != nil {
					return err
				}
				after = r.id
			}
			n = len(batch)
			_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, t.done, strconv.FormatInt(after, 10), at)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("db: retention: %w", err)
		}
		total += int64(n)
		if n < purgeBatch {
			break
		}
	}
	return total, ctx.Err()
}

// keptPayloadKeys are the payload fields a removed webhook body keeps:
// what identifies the event and what happened, never personal data.
var keptPayloadKeys = map[string]bool{
	"id": true, "name": true, "account_id": true, "end_user_id": true, "link_token_id": true, "platform_id": true,
	"platform_name": true, "platform_type": true, "timestamp": true, "created_at": true, "outcome": true, "error_code": true,
	"error_type": true, "monitoring_status": true, "connected": true,
}

// redactWebhookBody keeps of a webhook body its envelope (event_id, event)
// and the payload's identifying fields, and says why the rest was removed.
// A body that does not decode keeps nothing but the reason.
func redactWebhookBody(body []byte, why string) []byte {
	var env map[string]json.RawMessage
	out := map[string]any{"linkdesk_removed": why}
	if json.Unmarshal(body, &env) == nil {
		for _, k := range []string{"event_id", "event"} {
			if v, ok := env[k]; ok {
				out[k] = v
			}
		}
		var payload map[string]json.RawMessage
		if json.Unmarshal(env["payload"], &payload) == nil {
			kept := map[string]json.RawMessage{}
			for k, v := range payload {
				if keptPayloadKeys[k] {
					kept[k] = v
				}
			}
			out["payload"] = kept
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// secureTx runs fn in a write transaction on a writer connection readied
// for secure deletion (the dialect's secureConn: on SQLite secure_delete,
// which zeroes what it overwrites or deletes, set again here so that a
// writer opened by an older DSN cannot skip it). With tables to scrub,
// the old versions are then removed (the dialect's scrub: on SQLite the
// WAL is checkpointed and truncated, so the older page images it held go
// too; on PostgreSQL those tables are VACUUMed).
func (s *Store) secureTx(ctx context.Context, scrub []string, fn func(tx *sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := s.d.secureConn(ctx, conn); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		s.txDone(tx, false)
		s.settle(tx, false)
		return err
	}
	err = tx.Commit()
	s.txDone(tx, err == nil)
	s.settle(tx, err == nil)
	if err != nil || len(scrub) == 0 {
		return err
	}
	return s.d.scrub(ctx, conn, scrub)
}

// truncateWAL removes the old versions of rows removed before: on SQLite
// it checkpoints the WAL into the database file and truncates it, so that
// page images written before a removal leave the disk; on PostgreSQL it
// VACUUMs tables.
func (s *Store) truncateWAL(ctx context.Context, tables ...string) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return s.d.scrub(ctx, conn, tables)
}

// checkpointTruncate runs a TRUNCATE checkpoint on conn. A reader in the
// middle of a long read can keep it from finishing (it waits up to the
// busy timeout); the periodic checkpoints then finish the job.
func checkpointTruncate(ctx context.Context, conn *sql.Conn) error {
	var busy, log, done int
	return conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done)
}
