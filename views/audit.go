package views

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
)

// AuditProps is the /audit page: the filter as typed (fields and the
// query box), what did not parse, the page of rows, and the chain's state.
type AuditProps struct {
	// Q is the query box; the fields below are the filter form.
	Q                                                    string
	Actor, Group, Action, TargetType, TargetID, From, To string
	Problems                                             []db.QueryProblem
	Errors                                               Errors
	// AsQuery is the filter in effect, written as a query.
	AsQuery string
	// Filtered is set when anything filters the trail.
	Filtered bool
	Page     db.AuditPage
	// Chips are the filters in force; Count the count line.
	Chips []Chip
	Count Count
	// Next is the older page's URL ("" on the last page); Query is the
	// filter as a query string ("?…" or "") for the export links.
	Next, Query string
	// Choices of the filter form.
	Groups      []db.AuditGroup
	Actions     []db.ActionCount
	TargetTypes []db.AuditGroup
	Staff       []db.Staff
	Chain       ChainProps
}

// ChainProps is the chain panel: the last verification, the head, where
// the head is published, the key that signs exports and packs.
type ChainProps struct {
	Head       db.ChainHead
	Last       *db.VerificationRecord
	AnchorPath string
	AnchorErr  string
	PublicKey  string
	KeyID      string
	CanVerify  bool
}

// ActorPath is the audit trail filtered to one actor.
func ActorPath(email string) string { return "/audit?actor=" + url.QueryEscape(email) }

// AuditTargetPath is the page of what a row concerns: the account, end
// user, customer record, token, campaign or events log; for targets whose page is
// not for every reader of the trail (staff, settings, imports), the trail
// filtered to that target.
func AuditTargetPath(e db.AuditEntry) string {
	switch e.TargetType {
	case "account":
		if e.TargetID != "" {
			return AccountPath(e.TargetID)
		}
	case "end_user":
		if e.TargetID != "" {
			return EndUserPath(e.TargetID)
		}
	case "customer":
		if e.TargetID != "" {
			return CustomerPath(e.TargetID)
		}
	case "link_token":
		if e.TargetID != "" {
			return TokenPath(url.PathEscape(e.TargetID))
		}
	case "campaign":
		if id, err := strconv.ParseInt(e.TargetID, 10, 64); err == nil {
			return CampaignPath(id)
		}
	case "events":
		return "/events"
	case "audit":
		return "/audit"
	}
	if e.TargetType == "" {
		return ""
	}
	v := url.Values{"target_type": {e.TargetType}}
	if e.TargetID != "" {
		v.Set("target_id", e.TargetID)
	}
	return "/audit?" + v.Encode()
}

// AuditRowPath is the trail with the row at the top (its permalink).
func AuditRowPath(id int64) string { return "/audit?before=" + strconv.FormatInt(id+1, 10) }

// KV is one line of a row's readable detail.
type KV struct {
	Key, Value string
}

// detailLimit bounds what one value shows (the export has every byte).
const detailLimit = 2000

// DetailLines renders a row's JSON detail for people: one line per field,
// nested objects flattened ("allocation type"), lists joined, a [before,
// after] pair of a change shown as "before → after".
func DetailLines(e db.AuditEntry) []KV {
	var m map[string]any
	if json.Unmarshal([]byte(e.Detail), &m) != nil {
		if e.Detail == "" || e.Detail == "{}" {
			return nil
		}
		return []KV{{"detail", truncateText(e.Detail)}}
	}
	var out []KV
	flattenDetail(&out, "", m, e.Action == db.ActionStaffUpdated || strings.HasSuffix(e.Action, "_changed"))
	return out
}

func flattenDetail(out *[]KV, prefix string, m map[string]any, pairs bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", " ")
		if prefix != "" {
			name = prefix + " " + name
		}
		switch v := m[k].(type) {
		case string:
			*out = append(*out, KV{name, truncateText(plainDetail(k, v))})
		case map[string]any:
			flattenDetail(out, name, v, pairs)
		case []any:
			if pairs && len(v) == 2 {
				*out = append(*out, KV{name, detailValue(v[0]) + " → " + detailValue(v[1])})
				continue
			}
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = detailValue(x)
				if str, ok := x.(string); ok && str != "" {
					parts[i] = plainDetail(k, str)
				}
			}
			*out = append(*out, KV{name, truncateText(strings.Join(parts, ", "))})
		default:
			*out = append(*out, KV{name, truncateText(detailValue(v))})
		}
	}
}

// snakeCode is a value written as a code ("mint_on_open", "full_name").
var snakeCode = regexp.MustCompile(`^[a-z]+(_[a-z0-9]+)+$`)

// plainDetail says a recorded value in words: a link's mode and a job by
// their labels, another code with spaces for its underscores ("full
// name"); anything else as recorded.
func plainDetail(key, v string) string {
	switch {
	case key == "mode" && (v == db.ModeMintOnOpen || v == "mint"):
		return ModeLabel(v)
	case key == "jobs" || key == "job":
		if l := JobName(v); l != "" && l != v {
			return l
		}
	}
	if snakeCode.MatchString(v) {
		return strings.ReplaceAll(v, "_", " ")
	}
	return v
}

func detailValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case bool:
		return YesNo(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func truncateText(s string) string {
	if len(s) <= detailLimit {
		return s
	}
	return s[:detailLimit] + "… (the export has it whole)"
}

// ActionGroupLabel is the label of an action's group.
func ActionGroupLabel(code string) string {
	g, _ := db.AuditGroupOf(db.AuditActionOf(code).Group)
	return g.Label
}

// ShortHash shows the start of a hash.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// RevealsProps is the report of Reveals by person and period.
type RevealsProps struct {
	From, To, Actor, EndUser, Account string
	Errors                            Errors
	Report                            db.RevealReport
	Filtered                          bool
	// Export is the audit export of the same Reveals.
	Export string
	// Chips are the filters in force; Count the count line.
	Chips []Chip
	Count Count
}

// WhoSawProps is the "Who saw this" panel of an account or end user.
type WhoSawProps struct {
	Rows []db.Sighting
	More bool
	// All is the audit trail filtered to the subject.
	All string
	// Evidence is the pack's download ("" when the reader may not build one).
	Evidence string
	// Reveals is the reveals report of the subject.
	Reveals string
}

// SightingText says what a sighting was, for people.
func SightingText(s db.Sighting) string {
	switch s.Kind {
	case db.SawReveal:
		fields := make([]string, len(s.Fields))
		for i, f := range s.Fields {
			fields[i] = strings.ReplaceAll(strings.ReplaceAll(f, "last_four_ssn", "SSN last four"), "_", " ")
		}
		t := "revealed " + strings.Join(fields, " and ")
		if s.AccountID != "" {
			t += " of account " + s.AccountID
		}
		return t
	case db.SawExport:
		var f []string
		for k, v := range s.Filter {
			f = append(f, k+"="+v)
		}
		sort.Strings(f)
		t := "exported the events log (" + s.Format
		if len(f) > 0 {
			t += ", " + strings.Join(f, ", ")
		}
		return t + ") including its events"
	case db.SawEvidence:
		if s.AccountID != "" {
			return "downloaded the evidence pack of account " + s.AccountID
		}
		return "downloaded an evidence pack of the end user"
	case db.SawErasure:
		return "erased the personal data"
	case db.SawCampaignExport:
		f := []string{s.Format}
		for _, k := range []string{"group", "stage"} {
			if v := s.Filter[k]; v != "" {
				f = append(f, k+"="+v)
			}
		}
		t := "exported the members of campaign " + strconv.FormatInt(s.CampaignID, 10) + " (" + strings.Join(f, ", ") + ")"
		if s.Filter["stage"] != "" {
			return t + ", which may have included it"
		}
		return t + " including it"
	case db.SawPayExport:
		if s.AccountID != "" {
			return "exported the paystubs and shifts of account " + s.AccountID + " (" + s.Format + ")"
		}
		return "exported the end user's paystubs and shifts (" + s.Format + ")"
	}
	return s.Kind
}

// ErasureProps is the erasure confirmation page.
type ErasureProps struct {
	Preview db.ErasurePreview
	Reason  string
	Errors  Errors
	// Unknown is set when Linkdesk holds nothing about the end user.
	Unknown bool
}

// RetentionForm is the retention section of /settings.
type RetentionForm struct {
	WebhookBodyDays, LaunchPayloadDays string
	Errors                             Errors
}

// DaysText writes a retention period.
func DaysText(n int) string {
	if n == 0 {
		return "forever"
	}
	return Plural(n, "day", "days")
}

// LastAccessDay is the last day of time-boxed access (access ends when it
// does).
func LastAccessDay(until time.Time) string {
	return until.Add(-time.Second).UTC().Format(time.DateOnly)
}

func accessDateValue(st db.Staff) string {
	if st.AccessUntil.IsZero() {
		return ""
	}
	return LastAccessDay(st.AccessUntil)
}

// RetentionFormOf is the form showing stored retention periods.
func RetentionFormOf(r db.Retention) RetentionForm {
	f := RetentionForm{}
	if r.WebhookBodyDays > 0 {
		f.WebhookBodyDays = strconv.Itoa(r.WebhookBodyDays)
	}
	if r.LaunchPayloadDays > 0 {
		f.LaunchPayloadDays = strconv.Itoa(r.LaunchPayloadDays)
	}
	return f
}
