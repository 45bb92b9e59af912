package views

import (
	"fmt"
	"strconv"
	"time"

	"linkdesk/static"
)

// Asset returns the cache-busting URL of a static file.
func Asset(name string) string { return static.Path(name) }

// When formats a time for tables: UTC, to the second.
func When(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// Day formats a date heading.
func Day(t time.Time) string { return t.UTC().Format("Monday 2 January 2006") }

// ISO formats a time for <time datetime>.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Itoa formats an int.
func Itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// Word is the noun for n things, without the number: Word(1, "link",
// "links") is "link".
func Word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Plural returns "1 thing" or "n things".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Cents formats integer cents as dollars.
func Cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%s.%02d", sign, groupThousands(c/100), c%100)
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	out := ""
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out += ","
		}
		out += string(r)
	}
	return out
}

// YesNo formats a bool.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
