package views

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/pinwheel"
)

// One-line summaries of webhook events, staff actions and Link events for
// the browse pages (accounts, end users, events, timelines): pure functions
// of the stored bytes, with table tests. Values inside them are masked by
// the PII policy (package pii).

// JSONDoc is a stored JSON document as the PII policy lets role see it,
// cut at max bytes (pii.CapPage, CapPanel, CapEntry), for JSONBlock.
func JSONDoc(raw string, role string, max int, hide ...string) pii.Doc {
	return pii.Render([]byte(raw), role, max, hide...)
}

// EntryDoc is a timeline entry's JSON for JSONBlock: a webhook body read up
// to db.BodyPrefix, a Link event's payload or a staff action's detail, cut
// at pii.CapEntry.
func EntryDoc(e db.TimelineEntry, role string) pii.Doc {
	return pii.RenderPrefix([]byte(e.Body), e.BodySize, role, pii.CapEntry)
}

// RejectionDoc is a rejected delivery's body (read up to db.BodyPrefix) for
// JSONBlock, cut at pii.CapEntry.
func RejectionDoc(r db.WebhookRejection, role string) pii.Doc {
	return pii.RenderPrefix(r.Body, int(r.BodySize), role, pii.CapEntry)
}

// ByteSize is a size for people: 812 bytes, 16 KiB, 1.2 MiB.
func ByteSize(n int) string {
	switch {
	case n < 1<<10:
		return Plural(n, "byte", "bytes")
	case n < 1<<20:
		return strconv.FormatFloat(math.Round(float64(n)/(1<<10)*10)/10, 'f', -1, 64) + " KiB"
	}
	return strconv.FormatFloat(math.Round(float64(n)/(1<<20)*10)/10, 'f', -1, 64) + " MiB"
}

// ---- one-line summaries ----

// summaryPayload holds the payload fields summaries read.
type summaryPayload struct {
	Payload struct {
		Name             string          `json:"name"`
		Outcome          string          `json:"outcome"`
		ErrorType        *string         `json:"error_type"`
		ErrorCode        *string         `json:"error_code"`
		MonitoringStatus string          `json:"monitoring_status"`
		Connected        *bool           `json:"connected"`
		PlatformName     string          `json:"platform_name"`
		Params           json.RawMessage `json:"params"`
		Added            []any           `json:"added"`
	} `json:"payload"`
}

// listParams are the params of paystubs.added and shifts.added.
type listParams struct {
	Count      *int   `json:"count"`
	SyncStatus string `json:"sync_status"`
}

// EventSummary is the one-line human summary of a webhook event, computed
// from its stored body, for example "Direct deposit switch succeeded:
// $150.00 of each paycheck to Checking ••6789".
func EventSummary(event string, body string) string {
	var p summaryPayload
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return humanEvent(event) + " (payload not readable)"
	}
	pl := p.Payload
	switch event {
	case pinwheel.EventAccountAdded:
		s := "Account connected"
		if pl.Connected != nil && !*pl.Connected {
			s = "Account added (not connected)"
		}
		if pl.PlatformName != "" {
			s += " on " + pl.PlatformName
		}
		if pl.MonitoringStatus != "" {
			s += "; monitoring " + StatusLabel(pl.MonitoringStatus)
		}
		return s
	case pinwheel.EventMonitoringStatusUpdated:
		s := "Monitoring status is now " + StatusLabel(pl.MonitoringStatus)
		if pl.Connected != nil && !*pl.Connected {
			s += "; account disconnected"
		}
		return s
	case pinwheel.EventDDSwitchAdded:
		return switchSummary(pl.Outcome, pl.Params, pl.ErrorType, pl.ErrorCode)
	}
	et, known := pinwheel.LookupEvent(event)
	if pl.Outcome == "" || known && et.Job == "" {
		return humanEvent(event)
	}
	job := pl.Name
	if job == "" {
		job = et.Job
	}
	label := jobLabel(job)
	switch pl.Outcome {
	case pinwheel.OutcomeError:
		return label + " job failed" + errorText(pl.ErrorType, pl.ErrorCode)
	case pinwheel.OutcomePending:
		return label + " job pending"
	}
	if event == pinwheel.EventPaystubsAdded || event == pinwheel.EventShiftsAdded {
		var lp listParams
		json.Unmarshal(pl.Params, &lp)
		n := len(pl.Added)
		if lp.Count != nil {
			n = *lp.Count
		}
		noun := map[string][2]string{pinwheel.EventPaystubsAdded: {"paystub", "paystubs"}, pinwheel.EventShiftsAdded: {"shift", "shifts"}}[event]
		s := Plural(n, noun[0], noun[1]) + " added"
		switch lp.SyncStatus {
		case "in_progress":
			s += " (sync in progress)"
		case "complete":
			s += " (sync complete)"
		}
		return s
	}
	if event == pinwheel.EventDDAllocationsAdded {
		return "Direct deposit allocations updated"
	}
	return label + " data added"
}

// switchSummary describes a direct_deposit_switch.added. The allocation
// value of type amount is taken to be dollars: Pinwheel's docs state no
// unit (their example is 50), and the emulator (pinwheel/sandbox) sends the
// amount the user chose in dollars.
func switchSummary(outcome string, params json.RawMessage, errType, errCode *string) string {
	switch outcome {
	case pinwheel.OutcomeError:
		return "Direct deposit switch failed" + errorText(errType, errCode)
	case pinwheel.OutcomePending:
		return "Direct deposit switch pending"
	}
	var sp pinwheel.SwitchParams
	json.Unmarshal(params, &sp)
	s := "Direct deposit switch succeeded"
	action, allocType := "", ""
	var value *float64
	if sp.Action != nil {
		action = *sp.Action
	}
	a := sp.Allocation
	if a != nil {
		allocType, value = a.Type, a.Value
	}
	what := SwitchWhat(action, allocType, value, func(v float64) string { return Cents(int64(math.Round(v * 100))) })
	target := ""
	switch {
	case a != nil && a.Target != nil:
		target = targetName(a.Target.AccountName, a.Target.AccountType)
		if l := a.Target.LastFourAccountNumber; l != nil && *l != "" {
			target += " " + pii.MaskAccountNumber(*l)
		}
	case sp.CardName != nil:
		target = "card " + *sp.CardName
	}
	if target != "" {
		what = strings.TrimSpace(what + " to " + target)
	}
	if what != "" {
		s += ": " + what
	}
	return s
}

// percent formats a percentage: "20%".
func percent(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }

func targetName(name, typ string) string {
	if name != "" {
		return name
	}
	if typ != "" {
		return strings.ToUpper(typ[:1]) + typ[1:]
	}
	return "an account"
}

// errorText says why a job failed, in words (the codes go in the small
// print: ErrorCodes).
func errorText(errType, errCode *string) string {
	return ": " + ErrorText(deref(errType), deref(errCode))
}

// humanEvent names an event: the catalogue label of an event that reports
// no job ("Paystubs: fully synced"), else its name in words ("Identity
// added", "Bill added").
func humanEvent(event string) string {
	if e, ok := pinwheel.LookupEvent(event); ok && e.Job == "" {
		return e.Label
	}
	s := strings.NewReplacer(".", " ", "_", " ").Replace(event)
	if s == "" {
		return "Event"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// staffDetail holds the detail fields staff summaries read.
type staffDetail struct {
	Fields []string `json:"fields"`
	Reason string   `json:"reason"`
}

// StaffSummary is the one-line summary of a staff action on the timeline.
func StaffSummary(action, actor, detail string) string {
	var d staffDetail
	json.Unmarshal([]byte(detail), &d)
	var s string
	switch action {
	case db.ActionPIIRevealed:
		var names []string
		for _, f := range d.Fields {
			names = append(names, map[string]string{db.PIIDateOfBirth: "date of birth", db.PIISSNLastFour: "SSN last four"}[f])
		}
		s = "Revealed " + strings.Join(names, " and ")
	case "link_token.created":
		s = "Created an update link"
	case "link_token.minted":
		s = "Created an update link and minted its Pinwheel token"
	case "link_token.minted_on_open":
		s = "Minted a Pinwheel token as the end user opened the link"
	case "link_token.mint_failed":
		s = "Pinwheel refused to mint a token"
	case "link_token.revoked":
		s = "Revoked an update link"
	case "link_token.identity_override":
		s = "Overrode an identity mismatch"
		if d.Reason != "" {
			s += ": " + d.Reason
		}
	case db.ActionUnderwritingDecision:
		var dd struct {
			Outcome string `json:"outcome"`
			Note    string `json:"note"`
			Scope   string `json:"scope"`
			Items   int    `json:"items"`
		}
		json.Unmarshal([]byte(detail), &dd)
		s = "Recorded an underwriting decision: " + db.OutcomeLabel(dd.Outcome)
		if dd.Note != "" {
			s += " (" + dd.Note + ")"
		}
		s += fmt.Sprintf(", bound to %d items of data", dd.Items)
	case db.ActionStaleDaysChanged:
		s = "Changed when income report data counts as stale"
	case db.ActionPayItemsExported:
		s = "Exported paystubs"
	case "customer.created":
		s = "Created the customer record"
	case "customer.updated":
		s = "Updated the customer record"
	default:
		s = humanEvent(action)
	}
	if actor != "" {
		s += " (" + actor + ")"
	}
	return s
}

// LinkSummary is the one-line summary of a Link event a launch page
// reported.
func LinkSummary(name string) string {
	switch name {
	case "page_opened":
		return "End user opened the update page"
	case "mint_failed":
		return "Token could not be minted as the page opened"
	case "open":
		return "Link opened"
	case "login":
		return "End user logged in to their payroll account"
	case "success":
		return "Link reported success"
	case "error":
		return "Link reported an error"
	case "exit":
		return "End user closed Link"
	case db.LinkEventScreenTransition:
		return "End user moved to another Link screen"
	}
	return "Link reported " + strings.ReplaceAll(name, "_", " ")
}

// EntrySummary is the one-line summary of any timeline entry.
func EntrySummary(e db.TimelineEntry) string {
	switch e.Kind {
	case db.KindWebhook:
		return EventSummary(e.Event, e.Body)
	case db.KindStaff:
		return StaffSummary(e.Action, e.ActorEmail, e.Body)
	case db.KindLink:
		return LinkSummary(e.Action)
	}
	return e.Kind
}

// EntryBadge is the outcome badge of a timeline entry: its class and text
// ("" when none).
func EntryBadge(e db.TimelineEntry) (class, text string) {
	switch e.Kind {
	case db.KindWebhook:
		if e.Outcome != "" {
			return e.Outcome, OutcomeLabel(e.Outcome)
		}
		if e.Event == pinwheel.EventAccountAdded || e.Event == pinwheel.EventMonitoringStatusUpdated {
			var p summaryPayload
			if json.Unmarshal([]byte(e.Body), &p) == nil && p.Payload.MonitoringStatus != "" {
				return p.Payload.MonitoringStatus, StatusLabel(p.Payload.MonitoringStatus)
			}
		}
		return "", ""
	case db.KindStaff:
		return "staff", "staff"
	case db.KindLink:
		switch e.Action {
		case "success":
			return "success", "success"
		case "error", "mint_failed":
			return "error", "error"
		}
		return "link", "link"
	}
	return "", ""
}

// EntryCodes is the small print of a failed job's entry: its error type
// and code as Pinwheel sent them ("" when none).
func EntryCodes(e db.TimelineEntry) string {
	if e.Kind != db.KindWebhook || e.Outcome != pinwheel.OutcomeError {
		return ""
	}
	var p summaryPayload
	if json.Unmarshal([]byte(e.Body), &p) != nil {
		return ""
	}
	return ErrorCodes(deref(p.Payload.ErrorType), deref(p.Payload.ErrorCode))
}

// EntryKindLabel names an entry's source.
func EntryKindLabel(kind string) string {
	switch kind {
	case db.KindWebhook:
		return "Pinwheel"
	case db.KindStaff:
		return "Staff"
	case db.KindLink:
		return "Link"
	}
	return kind
}

// ---- paths ----

// idSegment escapes an ID for a path segment. IDs that would read as a
// dot segment get their first character percent-encoded (the handler
// unescapes it).
func idSegment(id string) string {
	seg := url.PathEscape(id)
	if seg == "." || seg == ".." {
		seg = fmt.Sprintf("%%%02X", seg[0]) + seg[1:]
	}
	return seg
}

// AccountPath is an account's page.
func AccountPath(accountID string) string { return "/accounts/" + idSegment(accountID) }

// EndUserPath is an end user's page.
func EndUserPath(endUserID string) string {
	seg := idSegment(endUserID)
	return "/end-users/" + seg
}

// EventPath is an event's page.
func EventPath(eventID string) string {
	seg := idSegment(eventID)
	switch seg {
	case "rejected", "export.csv", "export.jsonl":
		seg = fmt.Sprintf("%%%02X", seg[0]) + seg[1:]
	}
	return "/events/" + seg
}

// AccountLivePath is the SSE stream of an account's timeline.
func AccountLivePath(accountID string) string { return AccountPath(accountID) + "/live" }

// EndUserLivePath is the SSE stream of an end user's timeline.
func EndUserLivePath(endUserID string) string { return EndUserPath(endUserID) + "/live" }
