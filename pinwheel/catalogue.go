package pinwheel

import "strings"

// EventType is one webhook event type and what Linkdesk does with it. The
// Events table below is the one place that lists them: the webhook
// subscription, the projection into Linkdesk's tables (db), the data fetched
// after an event (worker), the events log's type filter and the summaries
// (views), the emulator's accepted events and the load generator are all
// built from it, and tests fail when one of them disagrees.
type EventType struct {
	// Name is the event field of the delivery ("identity.added").
	Name string
	// Job is the job whose outcome the event reports ("identity"); "" for
	// an event that reports no job (account changes, sync milestones,
	// bills, Company Connect). A job event's payload has the job payload
	// shape (name, outcome, error, params).
	Job string
	// Fetch is the account data to read after the event, named like its
	// endpoint (identity, employment, income, direct_deposit_allocations,
	// paystubs, shifts, DataAccount for the account itself); "" for none.
	// Paystubs and shifts are read through pagination, only what changed
	// (db/pay_sync.go says what that is). A job event
	// fetches only after a successful outcome (a successful switch changes
	// the allocations, so it fetches those); another event after every
	// delivery.
	Fetch string
	// Label names it for people: a job event by its job ("Direct deposit
	// switch"), any other by what happened ("Bill reminder").
	Label string
	// Subscribe: Linkdesk registers its webhook for this event.
	Subscribe bool
	// Unregistrable: documented, but outside the enabled_events enum, so a
	// webhook registration cannot name it (docs/pinwheel.md#events);
	// Linkdesk stores and shows it if it ever arrives.
	Unregistrable bool
}

// DataAccount is the Fetch of the account itself (GET /accounts/{id}): its
// monitoring status and connection, read after a status update because
// updates carry no time of their own to order them by.
const DataAccount = "account"

// Events is the catalogue of webhook event types (the enabled_events enum
// of the 2025-07-08 API, plus documented events outside it:
// docs/pinwheel.md#events), in the order the events log lists them. Adding an event is one line here; the
// projection defaults to "job" for an event with a Job and to "touch" (mark
// its account, end user and token as seen) for the others, and db only
// needs its own function for an event with more to record.
var Events = []EventType{
	{Name: EventAccountAdded, Label: "Account added", Subscribe: true},
	{Name: EventMonitoringStatusUpdated, Fetch: DataAccount, Label: "Monitoring status updated", Subscribe: true},
	{Name: EventAdditionalConnectionsRecommended, Label: "Additional connections recommended"},
	{Name: EventIdentityAdded, Job: JobIdentity, Fetch: JobIdentity, Label: "Identity", Subscribe: true},
	{Name: EventEmploymentAdded, Job: JobEmployment, Fetch: JobEmployment, Label: "Employment", Subscribe: true},
	{Name: EventIncomeAdded, Job: JobIncome, Fetch: JobIncome, Label: "Income", Subscribe: true},
	{Name: EventPaystubsAdded, Job: JobPaystubs, Fetch: JobPaystubs, Label: "Paystubs", Subscribe: true},
	{Name: EventPaystubsDocumentsAdded, Job: "paystubs.documents", Label: "Paystub documents"},
	{Name: EventShiftsAdded, Job: JobShifts, Fetch: JobShifts, Label: "Shifts", Subscribe: true},
	{Name: EventTaxFormsAdded, Job: JobTaxForms, Label: "Tax forms"},
	{Name: EventDocumentsAdded, Job: "documents", Label: "Documents"},
	{Name: EventDDSwitchAdded, Job: JobDDSwitch, Fetch: JobDDAllocations, Label: "Direct deposit switch", Subscribe: true},
	{Name: EventDDAllocationsAdded, Job: JobDDAllocations, Fetch: JobDDAllocations, Label: "Direct deposit allocations", Subscribe: true},
	{Name: EventDDPaymentAdded, Job: JobDDPayment, Label: "Direct deposit payment", Unregistrable: true},
	{Name: EventBillSwitchAdded, Job: JobBillSwitch, Label: "Bill switch"},
	{Name: EventBillSwitchCancelled, Job: JobBillSwitch, Label: "Bill switch cancelled"},
	{Name: EventCardSwitchAdded, Job: JobCardSwitch, Label: "Card switch", Unregistrable: true},
	{Name: EventPayoutCardsAdded, Job: JobPayoutCards, Label: "Payout cards", Unregistrable: true},
	{Name: EventPaycheckViewerAdded, Job: JobPaycheckViewer, Label: "Paycheck viewer"},
	{Name: EventPaystubsSevenDaysSynced, Fetch: JobPaystubs, Label: "Paystubs: seven days synced", Subscribe: true},
	{Name: EventPaystubsThirtyDaysSynced, Fetch: JobPaystubs, Label: "Paystubs: thirty days synced", Subscribe: true},
	{Name: EventPaystubsNinetyDaysSynced, Fetch: JobPaystubs, Label: "Paystubs: ninety days synced", Subscribe: true},
	{Name: EventPaystubsFullySynced, Fetch: JobPaystubs, Label: "Paystubs: fully synced", Subscribe: true},
	{Name: EventShiftsSevenDaysSynced, Fetch: JobShifts, Label: "Shifts: seven days synced", Subscribe: true},
	{Name: EventShiftsThirtyDaysSynced, Fetch: JobShifts, Label: "Shifts: thirty days synced", Subscribe: true},
	{Name: EventShiftsNinetyDaysSynced, Fetch: JobShifts, Label: "Shifts: ninety days synced", Subscribe: true},
	{Name: EventShiftsFullySynced, Fetch: JobShifts, Label: "Shifts: fully synced", Subscribe: true},
	{Name: EventVerificationReportsRefreshed, Label: "Verification reports refreshed"},
	{Name: EventEarningsStreamPayoutsRefreshed, Label: "Earnings stream payouts refreshed"},
	{Name: EventBillAdded, Label: "Bill added"},
	{Name: EventBillUpdated, Label: "Bill updated"},
	{Name: EventBillRemoved, Label: "Bill removed"},
	{Name: EventBillReminder, Label: "Bill reminder"},
	{Name: EventCompanyConnectStatusUpdated, Label: "Company Connect status updated"},
	{Name: EventCompanyConnectEmploymentsAdded, Label: "Company Connect employments added"},
	{Name: EventCompanyConnectIncomesAdded, Label: "Company Connect incomes added"},
	{Name: EventCompanyConnectCensusAdded, Label: "Company Connect census added"},
}

// eventIndex finds catalogue entries by name.
var eventIndex = func() map[string]int {
	m := make(map[string]int, len(Events))
	for i, e := range Events {
		m[e.Name] = i
	}
	return m
}()

// LookupEvent returns the catalogue entry of an event name; ok is false for
// a name Linkdesk does not know (stored and shown, never projected).
func LookupEvent(name string) (e EventType, ok bool) {
	i, ok := eventIndex[name]
	if !ok {
		return EventType{}, false
	}
	return Events[i], true
}

// EventNames lists every event name of the catalogue, in its order.
func EventNames() []string { return eventNames(func(EventType) bool { return true }) }

// SubscribedEvents lists the events Linkdesk's webhook registration enables.
func SubscribedEvents() []string { return eventNames(func(e EventType) bool { return e.Subscribe }) }

// RegistrableEvents lists the events a webhook registration may name: the
// enabled_events enum.
func RegistrableEvents() []string {
	return eventNames(func(e EventType) bool { return !e.Unregistrable })
}

func eventNames(keep func(EventType) bool) []string {
	var out []string
	for _, e := range Events {
		if keep(e) {
			out = append(out, e.Name)
		}
	}
	return out
}

// FetchedData lists the account data fetched after some event (the Fetch
// values of the catalogue), each once, in catalogue order.
func FetchedData() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range Events {
		if e.Fetch != "" && !seen[e.Fetch] {
			seen[e.Fetch] = true
			out = append(out, e.Fetch)
		}
	}
	return out
}

// FetchAfter returns the data to fetch after an event with outcome, or "".
// Only a successful job has data behind it; an event that reports no job
// fetches after every delivery.
func FetchAfter(event, outcome string) string {
	e, ok := LookupEvent(event)
	if !ok || e.Job != "" && outcome != OutcomeSuccess {
		return ""
	}
	return e.Fetch
}

// JobEvent returns the event that reports a job's outcome (job + ".added"
// when the catalogue has it), or "".
func JobEvent(job string) string {
	if e, ok := LookupEvent(job + ".added"); ok && e.Job == job {
		return e.Name
	}
	return ""
}

// JobLabel names a job for people: the label of the event that reports
// it; "" for a job no catalogue event reports.
func JobLabel(job string) string {
	for _, e := range Events {
		if e.Job == job {
			return e.Label
		}
	}
	return ""
}

// Words for Pinwheel's codes, for people: job outcomes, monitoring statuses
// and the documented job error types and codes (docs/pinwheel.md, "Job
// errors"). Pages show these and keep the code itself as small secondary
// text; a code not listed here is shown in words made from the code.

var outcomeLabels = map[string]string{
	OutcomeSuccess: "succeeded",
	OutcomeError:   "failed",
	OutcomePending: "pending",
}

// OutcomeLabel is a job outcome in words: "succeeded", "failed",
// "pending".
func OutcomeLabel(outcome string) string {
	if l, ok := outcomeLabels[outcome]; ok {
		return l
	}
	return humanize(outcome)
}

var statusLabels = map[string]string{
	StatusActive:             "active",
	StatusDegraded:           "degraded",
	StatusUserActionRequired: "user action required",
	StatusCustomerDisabled:   "disabled by us",
	StatusUnavailable:        "unavailable",
}

// StatusLabel is a monitoring status in words ("" is "not known yet").
func StatusLabel(status string) string {
	if status == "" {
		return "not known yet"
	}
	if l, ok := statusLabels[status]; ok {
		return l
	}
	return humanize(status)
}

var jobErrorTypes = map[string]string{
	"invalidAccountsConfiguration": "the payroll account's setup does not allow it",
	"invalidUserInput":             "the user's answer was not accepted",
	"platformError":                "the payroll platform had a problem",
	"systemError":                  "Pinwheel had an internal problem",
	"userActionRequired":           "the user must act on their payroll account",
}

var jobErrorCodes = map[string]string{
	"changesTemporarilyDisabled": "changes are temporarily disabled on the payroll account",
	"maxAccounts":                "the payroll account already has the most deposit accounts it allows",
	"challengeAnswerIncorrect":   "a security answer was wrong",
	"systemError":                "Pinwheel had an internal problem",
	"accountLocked":              "the payroll account is locked",
	"changePasswordRequired":     "the payroll site asks the user for a new password",
	"accountNotActive":           "the payroll account is not active",
	"platformUnavailable":        "the payroll platform was unavailable",
}

// JobErrorText says in words why a job failed, from its error_type and
// error_code: the code's meaning when known, else the type's, else "an
// error Pinwheel did not explain".
func JobErrorText(errType, errCode string) string {
	if l, ok := jobErrorCodes[errCode]; ok {
		return l
	}
	if l, ok := jobErrorTypes[errType]; ok {
		return l
	}
	if errCode != "" {
		return humanize(errCode)
	}
	if errType != "" {
		return humanize(errType)
	}
	return "an error Pinwheel did not explain"
}

// JobName names a job for people: its catalogue label ("Direct deposit
// switch"), else the job key in words.
func JobName(job string) string {
	if l := JobLabel(job); l != "" {
		return l
	}
	s := humanize(job)
	if s == "" {
		return "Job"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// humanize turns a code into words: "platform_error" and "platformError"
// become "platform error".
func humanize(code string) string {
	var b []byte
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '_' || c == '.' || c == '-':
			b = append(b, ' ')
		case c >= 'A' && c <= 'Z':
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, c-'A'+'a')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
