package db

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The /audit query box, in the manner of GitHub's audit log search:
//
//	actor:olga action:pii.* target:account:<id> created:>2026-12-01
//
// actor:TERM (repeatable: any of them) names who acted: an email, the part
// before the @, a staff member's name or first name, "system", "console".
// action:CODE or action:GROUP.* (repeatable). target:TYPE:ID or target:TYPE.
// created:DATE (that day), created:>DATE, >=, <, <=, created:A..B (both
// days included; * leaves a side open); a DATE is YYYY-MM-DD or
// YYYY-MM-DDTHH:MM[:SS] (UTC). Values may be quoted: actor:"Olga Petrova".
// What is not understood is reported, part by part, and the rest applies.

// AuditQuery is a parsed query: the terms still to resolve against the
// Store (actors, action patterns) and what did not parse.
type AuditQuery struct {
	Actors     []string
	Actions    []string
	TargetType string
	TargetID   string
	From, To   time.Time
	// Problems are the parts not understood, in the order written.
	Problems []QueryProblem
}

// QueryProblem is one part of a query that was not understood.
type QueryProblem struct {
	Part    string
	Message string
}

// maxQueryLen bounds the query text parsed (a hostile value costs no more
// than this).
const maxQueryLen = 1000

// queryKeys are the filters the query box knows.
const queryKeys = "actor:, action:, target: or created:"

// ParseAuditQuery parses the query box.
func ParseAuditQuery(q string) AuditQuery {
	var out AuditQuery
	if len(q) > maxQueryLen {
		out.Problems = append(out.Problems, QueryProblem{q[:40] + "…", fmt.Sprintf("the query is longer than %d characters; only the start was read", maxQueryLen)})
		q = q[:maxQueryLen]
	}
	if !utf8.ValidString(q) {
		q = strings.ToValidUTF8(q, "?")
	}
	for _, tok := range splitQuery(q) {
		key, val, hasColon := strings.Cut(tok, ":")
		val = unquote(val)
		problem := func(msg string) { out.Problems = append(out.Problems, QueryProblem{tok, msg}) }
		switch strings.ToLower(key) {
		case "actor":
			if val == "" {
				problem("actor: needs a name or an email, e.g. actor:olga")
				continue
			}
			out.Actors = append(out.Actors, val)
		case "action":
			if val == "" {
				problem("action: needs an action or a group, e.g. action:pii.* or action:staff.sign_in")
				continue
			}
			if strings.ContainsFunc(val, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
				problem("an action has no spaces")
				continue
			}
			out.Actions = append(out.Actions, val)
		case "target":
			typ, id, _ := strings.Cut(val, ":")
			switch {
			case typ == "":
				problem("target: needs a type and an id, e.g. target:account:<id>, or a type alone, e.g. target:staff")
			case out.TargetType != "":
				problem("only one target: can be given; the first one is used")
			case strings.ContainsFunc(typ, func(r rune) bool { return !(r == '_' || r == '-' || unicode.IsLetter(r)) }):
				problem("a target type is a word such as account, end_user, link_token or staff")
			default:
				out.TargetType, out.TargetID = strings.ReplaceAll(strings.ToLower(typ), "-", "_"), id
			}
		case "created", "date":
			from, to, msg := parseCreated(val)
			if msg != "" {
				problem(msg)
				continue
			}
			if !from.IsZero() && (out.From.IsZero() || from.After(out.From)) {
				out.From = from
			}
			if !to.IsZero() && (out.To.IsZero() || to.Before(out.To)) {
				out.To = to
			}
		default:
			if !hasColon {
				problem("not understood: a search word needs a filter in front, one of " + queryKeys)
			} else {
				problem("unknown filter " + key + ":; use " + queryKeys)
			}
		}
	}
	return out
}

// splitQuery splits on spaces outside double quotes.
func splitQuery(q string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case unicode.IsSpace(r) && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.Trim(s, `"`)
}

// parseCreated reads a created: value into [from, to); msg explains a
// value that does not parse.
func parseCreated(v string) (from, to time.Time, msg string) {
	const help = "created: wants a date as YYYY-MM-DD (or YYYY-MM-DDTHH:MM, UTC), with >, >=, <, <= or a range A..B"
	if v == "" {
		return from, to, help
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		if a != "*" && a != "" {
			t, _, ok := parseQueryTime(a)
			if !ok {
				return from, to, help
			}
			from = t
		}
		if b != "*" && b != "" {
			t, day, ok := parseQueryTime(b)
			if !ok {
				return from, to, help
			}
			to = endOf(t, day)
		}
		if !from.IsZero() && !to.IsZero() && !from.Before(to) {
			return time.Time{}, time.Time{}, "created: the range ends before it starts"
		}
		return from, to, ""
	}
	op := ""
	for _, o := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(v, o) {
			op, v = o, v[len(o):]
			break
		}
	}
	t, day, ok := parseQueryTime(v)
	if !ok {
		return time.Time{}, time.Time{}, help
	}
	switch op {
	case ">=":
		from = t
	case ">":
		from = endOf(t, day)
	case "<":
		to = t
	case "<=":
		to = endOf(t, day)
	default:
		from, to = t, endOf(t, day)
		if !day {
			from, to = t, t.Add(time.Minute)
		}
	}
	return from, to, ""
}

// endOf is the first instant after t: the next day for a date, the next
// microsecond (the stored precision) for a time.
func endOf(t time.Time, day bool) time.Time {
	if day {
		return t.AddDate(0, 0, 1)
	}
	return t.Add(time.Microsecond)
}

// parseQueryTime reads a date or a time (UTC); day reports a date alone.
func parseQueryTime(s string) (t time.Time, day, ok bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), false, true
		}
	}
	return time.Time{}, false, false
}

// String writes the query back in its canonical form (for the query box of
// a page built from the filter fields).
func (q AuditQuery) String() string {
	var parts []string
	for _, a := range q.Actors {
		parts = append(parts, "actor:"+quoteIfSpaced(a))
	}
	for _, a := range q.Actions {
		parts = append(parts, "action:"+quoteIfSpaced(a))
	}
	if q.TargetType != "" {
		t := "target:" + q.TargetType
		if q.TargetID != "" {
			t += ":" + q.TargetID
		}
		parts = append(parts, quoteIfSpaced(t))
	}
	midnight := func(t time.Time) bool { return t.Equal(t.Truncate(24 * time.Hour)) }
	switch {
	case !q.From.IsZero() && !q.To.IsZero() && midnight(q.From) && midnight(q.To):
		parts = append(parts, "created:"+queryTime(q.From)+".."+queryTime(q.To.AddDate(0, 0, -1)))
	default:
		if !q.From.IsZero() {
			parts = append(parts, "created:>="+queryTime(q.From))
		}
		if !q.To.IsZero() && midnight(q.To) {
			parts = append(parts, "created:<="+queryTime(q.To.AddDate(0, 0, -1)))
		} else if !q.To.IsZero() {
			parts = append(parts, "created:<"+queryTime(q.To))
		}
	}
	return strings.Join(parts, " ")
}

func quoteIfSpaced(s string) string {
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return `"` + s + `"`
	}
	return s
}

// queryTime writes a time as a date when it is midnight, else to the
// minute or second.
func queryTime(t time.Time) string {
	t = t.UTC()
	switch {
	case t.Equal(t.Truncate(24 * time.Hour)):
		return t.Format(time.DateOnly)
	case t.Second() == 0 && t.Nanosecond() == 0:
		return t.Format("2006-01-02T15:04")
	}
	return t.Format("2006-01-02T15:04:05")
}
