package views

import (
	"strings"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Labels: every code a page shows, in words, from one place. Pinwheel's
// codes (outcomes, monitoring statuses, jobs, job errors) are worded by its
// catalogue (pinwheel/catalogue.go); Linkdesk's own (link stages and modes,
// projections, identity verdicts, job kinds of the queue) here. A page
// shows the words and, where staff may need the code to search or to tell
// Pinwheel, the code as small secondary text.

// StatusLabel is a monitoring status in words.
func StatusLabel(s string) string { return pinwheel.StatusLabel(s) }

// OutcomeLabel is a job outcome in words: succeeded, failed, pending.
func OutcomeLabel(o string) string { return pinwheel.OutcomeLabel(o) }

// JobName names a job: "Direct deposit switch".
func JobName(job string) string { return pinwheel.JobName(job) }

// jobLabel is JobName (the summaries' name for it).
func jobLabel(job string) string { return pinwheel.JobName(job) }

// JobsText names jobs: "Identity, Direct deposit switch".
func JobsText(jobs []string) string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = JobName(j)
	}
	return strings.Join(names, ", ")
}

// ErrorText says why a job failed, in words.
func ErrorText(errType, errCode string) string { return pinwheel.JobErrorText(errType, errCode) }

// ErrorCodes is a job error's type and code as Pinwheel sent them, for the
// small print: "systemError · platformUnavailable".
func ErrorCodes(errType, errCode string) string {
	switch {
	case errType != "" && errCode != "" && errType != errCode:
		return errType + " · " + errCode
	case errType != "":
		return errType
	}
	return errCode
}

// EventLabel names a webhook event: its catalogue label, with "added" for
// a job's data ("Identity added"), else the name in words.
func EventLabel(event string) string {
	e, ok := pinwheel.LookupEvent(event)
	switch {
	case !ok:
		return humanEvent(event)
	case e.Job != "" && strings.HasSuffix(event, ".added"):
		return e.Label + " job"
	}
	return e.Label
}

// ProjectionLabel says what Linkdesk did with a stored event.
func ProjectionLabel(p string) string {
	switch p {
	case "projected":
		return "processed"
	case "unknown":
		return "stored only: Linkdesk does not know this event type"
	case "failed":
		return "stored only: a field had the wrong type"
	}
	return p
}

// stageLabels are the lifecycle stages as staff read them.
var stageLabels = map[string]string{
	db.StageCreated:    "Created",
	db.StageMinted:     "Minted",
	db.StagePageOpened: "Page opened",
	db.StageLinkOpened: "Link opened",
	db.StageLoggedIn:   "Logged in",
	db.StageSuccess:    "Success",
	db.StageError:      "Error",
	db.StagePending:    "Pending",
	db.StageExited:     "Exited",
	db.StageExpired:    "Expired",
	db.StageRevoked:    "Revoked",
}

// StageLabel names a lifecycle stage.
func StageLabel(s string) string {
	if l, ok := stageLabels[s]; ok {
		return l
	}
	return s
}

// ModeLabel names a link mode.
func ModeLabel(m string) string {
	if m == db.ModeMintOnOpen {
		return "mints when opened"
	}
	return "minted at once"
}

// verdictLabel says how an identity compares with the customer record.
func verdictLabel(result string) string {
	switch result {
	case db.VerdictMatch:
		return "matches the customer record"
	case db.VerdictPartial:
		return "partly matches the customer record"
	case db.VerdictMismatch:
		return "does not match the customer record"
	case db.VerdictNoCustomerRecord:
		return "no customer record to compare"
	}
	return result
}

// QueueKindLabel names a kind of background job: "Fetch identity data".
func QueueKindLabel(kind string) string {
	if data, ok := strings.CutPrefix(kind, "fetch."); ok {
		if data == pinwheel.DataAccount {
			return "Fetch the account's status"
		}
		return "Fetch " + strings.ToLower(JobName(data)) + " data"
	}
	if kind == db.JobSearchReindex {
		return "Rebuild the search index"
	}
	return humanEvent(kind)
}

// SwitchWhat says what a direct deposit switch moved: "$150.00 of each
// paycheck", "20% of each paycheck", "the rest of each paycheck", "all of
// each paycheck".
func SwitchWhat(action, allocType string, value *float64, money func(float64) string) string {
	switch {
	case action == pinwheel.ActionFullSwitch:
		return "all of each paycheck"
	case allocType == pinwheel.AllocationAmount && value != nil:
		return money(*value) + " of each paycheck"
	case allocType == pinwheel.AllocationPercentage && value != nil:
		return percent(*value) + " of each paycheck"
	case allocType == pinwheel.AllocationRemainder:
		return "the rest of each paycheck"
	case action == pinwheel.ActionPartialSwitch:
		return "part of each paycheck"
	}
	return ""
}

var rejectionLabels = map[string]string{
	db.ReasonBodyTooLarge:       "body too large",
	db.ReasonMissingSignature:   "no signature",
	db.ReasonMalformedSignature: "signature not readable",
	db.ReasonMissingTimestamp:   "no timestamp",
	db.ReasonMalformedTimestamp: "timestamp not readable",
	db.ReasonBadSignature:       "wrong signature",
	db.ReasonStaleTimestamp:     "timestamp too old",
	db.ReasonFutureTimestamp:    "timestamp in the future",
	db.ReasonReadError:          "body could not be read",
	db.ReasonInvalidUTF8:        "body is not UTF-8 text",
	db.ReasonInvalidJSON:        "body is not JSON",
	db.ReasonInvalidEnvelope:    "not a Pinwheel event",
	db.ReasonMissingEventID:     "no event ID",
	db.ReasonMissingEvent:       "no event name",
	db.ReasonPayloadNotObject:   "payload is not an object",
}

// RejectionLabel says why a webhook delivery was refused, in words.
func RejectionLabel(reason string) string {
	if l, ok := rejectionLabels[reason]; ok {
		return l
	}
	return humanEvent(reason)
}

// knownEvent reports whether the catalogue names the event.
func knownEvent(name string) bool {
	_, ok := pinwheel.LookupEvent(name)
	return ok
}

// RoleMeaning says what a role may do, for the role change's question.
func RoleMeaning(role string) string {
	switch role {
	case db.RoleAdmin:
		return "they may do everything, including managing staff and settings."
	case db.RoleOperator:
		return "they may read everything and mint update links, but not manage staff or settings."
	case db.RoleAuditor:
		return "they may read everything, the audit trail included, and change nothing: no minting, no settings."
	}
	return "unknown role"
}

// TargetLabel names what an audit row is about: "update link", "deposit
// account".
func TargetLabel(targetType string) string {
	switch targetType {
	case "link_token":
		return "update link"
	case "settings":
		return "setting"
	}
	return strings.ReplaceAll(targetType, "_", " ")
}
