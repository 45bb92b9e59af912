package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	// Time zones are validated against the IANA database embedded in the
	// binary, so a machine without /usr/share/zoneinfo knows them too.
	_ "time/tzdata"
)

// Staff preferences: what each staff member chooses for themselves. Today
// the time zone pages show times in (UTC until they choose).

// ActionTimeZoneChanged is the audit action of a staff member choosing
// their time zone.
const ActionTimeZoneChanged = "staff.time_zone_changed"

// DefaultTimeZone is the time zone of a staff member who chose none.
const DefaultTimeZone = "UTC"

// StaffTimeZone returns the IANA name of a staff member's time zone
// (DefaultTimeZone when they chose none).
func (s *Store) StaffTimeZone(ctx context.Context, staffID int64) (string, error) {
	var tz string
	err := s.r.QueryRowContext(ctx, `SELECT time_zone FROM staff_preferences WHERE staff_id = ?`, staffID).Scan(&tz)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return DefaultTimeZone, nil
	case err != nil:
		return "", fmt.Errorf("db: time zone of staff %d: %w", staffID, err)
	}
	return tz, nil
}

// ValidateTimeZone checks an IANA time zone name ("Europe/Paris", "UTC").
func ValidateTimeZone(tz string) FieldErrors {
	tz = strings.TrimSpace(tz)
	if tz == "" || len(tz) > 64 || strings.EqualFold(tz, "Local") {
		return FieldErrors{"time_zone": "Choose a time zone from the list, such as Europe/Paris or America/New_York."}
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return FieldErrors{"time_zone": "That is not a time zone Linkdesk knows: choose one from the list, such as America/Chicago."}
	}
	return nil
}

// SetStaffTimeZone stores the acting staff member's time zone and audits
// the change.
func (s *Store) SetStaffTimeZone(ctx context.Context, a Actor, tz string) error {
	tz = strings.TrimSpace(tz)
	if fe := ValidateTimeZone(tz); fe != nil {
		return fe
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old := DefaultTimeZone
		err := tx.QueryRowContext(ctx, `SELECT time_zone FROM staff_preferences WHERE staff_id = ?`, a.StaffID).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old == tz {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_preferences (staff_id, time_zone, updated_at) VALUES (?, ?, ?)
ON CONFLICT (staff_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at`, a.StaffID, tz, FormatTime(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionTimeZoneChanged, "staff", fmt.Sprint(a.StaffID), map[string]any{"from": old, "to": tz})
	})
	if err != nil {
		return fmt.Errorf("db: set time zone of staff %d: %w", a.StaffID, err)
	}
	return nil
}
