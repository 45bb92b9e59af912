package pinwheel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is how Pinwheel writes timestamps: microseconds and a numeric
// offset, e.g. 2025-06-24T22:04:33.547314+00:00.
const TimeLayout = "2006-01-02T15:04:05.000000-07:00"

// Time is a Pinwheel timestamp. It decodes RFC 3339 with a "T" or a space
// between date and time (both appear in Pinwheel's examples), with or without
// fractional seconds, as well as null and "" (both the zero Time). It encodes
// in Pinwheel's own form (TimeLayout), and the zero Time as null.
type Time struct {
	time.Time
}

// NewTime wraps t, keeping its location.
func NewTime(t time.Time) Time { return Time{Time: t} }

// Ptr returns a pointer to a copy of t, for nullable fields.
func (t Time) Ptr() *Time { return &t }

// ParseTime parses a timestamp the way Time.UnmarshalJSON does.
func ParseTime(s string) (Time, error) {
	if s == "" {
		return Time{}, nil
	}
	norm := s
	if len(norm) > 10 && (norm[10] == ' ' || norm[10] == 't') {
		norm = norm[:10] + "T" + norm[11:]
	}
	if t, err := time.Parse(time.RFC3339Nano, norm); err == nil {
		return Time{Time: t}, nil
	}
	// A timestamp without an offset is not documented publicly (docs/pinwheel.md#undocumented)
	// (Pinwheel always sends one, docs/pinwheel.md#numbers): we chose to read
	// it as UTC rather than reject it, to stay lenient.
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", norm); err == nil {
		return Time{Time: t}, nil
	}
	return Time{}, fmt.Errorf("pinwheel: invalid timestamp %q", s)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("pinwheel: timestamp is not a string: %s", truncate(b, 40))
	}
	parsed, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.Format(TimeLayout) + `"`), nil
}

// String returns the timestamp in TimeLayout, or "" for the zero Time.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.Format(TimeLayout)
}

// Year is a calendar year that decodes from a JSON number or a string: the
// tax-form schema says integer but its example shows '2021'. It encodes as a
// number.
type Year int

// UnmarshalJSON implements json.Unmarshaler; null and "" leave the zero Year.
func (y *Year) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*y = 0
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("pinwheel: invalid year %s", truncate(b, 40))
	}
	*y = Year(n)
	return nil
}

// truncate shortens b for error messages so a huge body is never echoed.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
