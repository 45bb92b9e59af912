package db

import (
	"strings"
)

// The audit action catalogue: every action code the trail can hold, with
// its group (the /audit filter and the query's action:GROUP.*) and the
// sentence a person reads. A new action is one constant beside its use
// case and one line here; TestAuditActions_EveryConstantCatalogued fails
// on a constant missing from this table.

// AuditGroup is a family of audit actions, as the /audit filter offers
// them.
type AuditGroup struct {
	// ID is the filter value and the query's action:ID.* prefix.
	ID string
	// Label is what the filter shows.
	Label string
}

// Audit groups, in the order the filter lists them.
const (
	GroupSignIn       = "sign-in"
	GroupStaff        = "staff"
	GroupSettings     = "settings"
	GroupCustomers    = "customers"
	GroupTokens       = "tokens"
	GroupCampaigns    = "campaigns"
	GroupPII          = "pii"
	GroupExports      = "exports"
	GroupAlerts       = "alerts"
	GroupUnderwriting = "underwriting"
	GroupAudit        = "audit"
	GroupConsole      = "console"
	GroupOther        = "other"
)

// AuditGroups lists every group, in filter order.
var AuditGroups = []AuditGroup{
	{GroupSignIn, "Sign-in"},
	{GroupStaff, "Staff"},
	{GroupSettings, "Settings"},
	{GroupCustomers, "Customer records"},
	{GroupTokens, "Tokens (launch links)"},
	{GroupCampaigns, "Campaigns"},
	{GroupPII, "Personal data (reveals, erasure, retention)"},
	{GroupExports, "Exports and evidence packs"},
	{GroupAlerts, "Alerts"},
	{GroupUnderwriting, "Underwriting"},
	{GroupAudit, "Audit trail"},
	{GroupConsole, "Console"},
	{GroupOther, "Other"},
}

// AuditAction describes one action code.
type AuditAction struct {
	Code  string
	Group string
	// Template is the row's sentence: {actor} and {target} stand for who
	// acted and what it concerned (the page links both).
	Template string
}

// AuditActions is the catalogue, by group.
var AuditActions = []AuditAction{
	{ActionSignIn, GroupSignIn, "{actor} signed in"},
	{ActionSignInFailed, GroupSignIn, "{actor} failed to sign in"},
	{ActionSignInExpired, GroupSignIn, "{actor} was refused: their access had ended"},
	{ActionSignOut, GroupSignIn, "{actor} signed out"},
	{ActionPasswordAccepted, GroupSignIn, "{actor} gave the right password; the second step followed"},
	{ActionSecondFactorFailed, GroupSignIn, "{actor} gave a wrong second-factor code"},
	{ActionThrottleCleared, GroupSignIn, "{actor} cleared a sign-in throttle"},

	{ActionStaffCreated, GroupStaff, "{actor} added staff member {target}"},
	{ActionStaffUpdated, GroupStaff, "{actor} changed staff member {target}"},
	{ActionStaffAccessUntil, GroupStaff, "{actor} set when the access of {target} ends"},
	{ActionPasswordChange, GroupStaff, "{actor} changed the password of {target}"},
	{ActionPasswordReset, GroupStaff, "{actor} reset the password of {target}"},
	{ActionSecondFactorEnrolled, GroupStaff, "{actor} turned on two-factor sign-in"},
	{ActionSecondFactorDisabled, GroupStaff, "{actor} turned off two-factor sign-in"},
	{ActionSecondFactorReset, GroupStaff, "{actor} reset the second factor of {target}"},
	{ActionRecoveryCodesRenewed, GroupStaff, "{actor} made new recovery codes"},
	{ActionTimeZoneChanged, GroupConsole, "{actor} chose the time zone pages show times in"},

	{ActionOrgNameChanged, GroupSettings, "{actor} renamed the organisation"},
	{ActionSecondFactorRequired, GroupSettings, "{actor} changed whether two-factor sign-in is required"},
	{ActionKeysReencrypted, GroupSettings, "{actor} re-encrypted stored secrets with the newest key"},
	{ActionDepositAccountCreated, GroupSettings, "{actor} added deposit account {target}"},
	{ActionDepositAccountArchived, GroupSettings, "{actor} archived deposit account {target}"},
	{ActionRetentionChanged, GroupSettings, "{actor} changed how long raw data is kept"},
	{ActionStaleDaysChanged, GroupSettings, "{actor} changed when income data counts as stale"},

	{ActionCustomerCreated, GroupCustomers, "{actor} created the customer record of {target}"},
	{ActionCustomerUpdated, GroupCustomers, "{actor} updated the customer record of {target}"},
	{ActionCustomersImported, GroupCustomers, "{actor} imported customer records ({target})"},

	{ActionLinkTokenMinted, GroupTokens, "{actor} created launch link {target} with a minted Link token"},
	{ActionLinkTokenCreated, GroupTokens, "{actor} created launch link {target}, to mint its Link token when opened"},
	{ActionLinkTokenMintedOnOpen, GroupTokens, "{actor} minted a Link token for {target} as the end user opened it"},
	{ActionLinkTokenMintFailed, GroupTokens, "{actor} could not mint a Link token for {target}"},
	{ActionLinkTokenMintUnrecorded, GroupTokens, "{actor} minted a Link token for {target} at Pinwheel that Linkdesk could not record"},
	{ActionLinkTokenRevoked, GroupTokens, "{actor} revoked {target}"},
	{ActionLinkTokenClosed, GroupTokens, "{actor} closed {target}"},
	{ActionIdentityOverride, GroupTokens, "{actor} overrode an identity mismatch for {target}"},

	{ActionCampaignCreated, GroupCampaigns, "{actor} drafted campaign {target}"},
	{ActionCampaignUpdated, GroupCampaigns, "{actor} edited the draft of campaign {target}"},
	{ActionCampaignApproved, GroupCampaigns, "{actor} approved campaign {target}"},
	{ActionCampaignLaunched, GroupCampaigns, "{actor} launched campaign {target}"},
	{ActionCampaignFrozen, GroupCampaigns, "{actor}'s launch of campaign {target} froze its cohort"},
	{ActionCampaignLinksCreated, GroupCampaigns, "{actor}'s launch of campaign {target} created a batch of launch links"},
	{ActionCampaignLaunchDone, GroupCampaigns, "{actor}'s launch of campaign {target} finished"},
	{ActionCampaignPaused, GroupCampaigns, "{actor} paused the launch of campaign {target}"},
	{ActionCampaignResumed, GroupCampaigns, "{actor} resumed the launch of campaign {target}"},
	{ActionCampaignCancelled, GroupCampaigns, "{actor} cancelled campaign {target} and revoked its links"},
	{ActionCampaignEnded, GroupCampaigns, "{actor} ended campaign {target}"},
	{ActionCampaignPaid, GroupCampaigns, "{actor} marked incentives of campaign {target} paid"},
	{ActionCampaignMembersExport, GroupExports, "{actor} downloaded the members of campaign {target}"},
	{ActionCampaignApprovalRule, GroupSettings, "{actor} changed whether campaign launches need a second approval"},

	{ActionPIIRevealed, GroupPII, "{actor} revealed masked identity fields of {target}"},
	{ActionEndUserErased, GroupPII, "{actor} erased the personal data of {target}"},
	{ActionRetentionPurged, GroupPII, "{actor} removed raw data past its retention period"},

	{ActionEventsExported, GroupExports, "{actor} exported the events log"},
	{ActionAuditExported, GroupExports, "{actor} exported the audit trail"},
	{ActionEvidenceExported, GroupExports, "{actor} downloaded the evidence pack of {target}"},
	{ActionPayItemsExported, GroupExports, "{actor} exported the paystubs and shifts of {target}"},

	{ActionReconnectBatchCreated, GroupAlerts, "{actor} sent reconnect links ({target})"},
	{ActionReconnectExported, GroupExports, "{actor} exported the reconnect links of {target}"},
	{ActionAlertAcknowledged, GroupAlerts, "{actor} acknowledged {target}"},
	{ActionAlertSnoozed, GroupAlerts, "{actor} snoozed {target}"},
	{ActionAlertResolved, GroupAlerts, "{actor} resolved {target} by hand"},
	{ActionAlertSettingsUpdated, GroupSettings, "{actor} changed the alert thresholds"},
	{ActionDestinationCreated, GroupSettings, "{actor} added the notification destination {target}"},
	{ActionDestinationUpdated, GroupSettings, "{actor} changed the notification destination {target}"},
	{ActionDestinationTested, GroupAlerts, "{actor} sent a test notification to {target}"},
	{ActionReconcileRequested, GroupAlerts, "{actor} asked to reconcile {target} with Pinwheel"},
	{ActionAccountReconciled, GroupAlerts, "{actor}'s reconcile filled in {target} from Pinwheel's API"},
	{ActionAccountReconcileRefuse, GroupAlerts, "Pinwheel refused {actor}'s reconcile of {target}"},

	{ActionUnderwritingDecision, GroupUnderwriting, "{actor} recorded an underwriting decision ({target})"},

	{ActionChainKeyed, GroupAudit, "{actor} sealed the audit trail with its key"},
	{ActionChainKeyChanged, GroupAudit, "{actor} moved the audit trail to a new key"},
	{ActionChainVerified, GroupAudit, "{actor} verified the audit chain"},
}

// auditActionIndex finds a catalogue entry by code.
var auditActionIndex = func() map[string]int {
	m := make(map[string]int, len(AuditActions))
	for i, a := range AuditActions {
		m[a.Code] = i
	}
	return m
}()

// AuditActionOf returns the catalogue entry of code. An unknown code (a
// row written by a newer or older version) gets group "other" and a
// sentence that names the code.
func AuditActionOf(code string) AuditAction {
	if i, ok := auditActionIndex[code]; ok {
		return AuditActions[i]
	}
	return AuditAction{Code: code, Group: GroupOther, Template: "{actor} did " + code + " on {target}"}
}

// AuditGroupOf returns the group with id, and whether it exists.
func AuditGroupOf(id string) (AuditGroup, bool) {
	for _, g := range AuditGroups {
		if g.ID == id {
			return g, true
		}
	}
	return AuditGroup{}, false
}

// ActionsOfGroup lists the catalogued codes of a group.
func ActionsOfGroup(group string) []string {
	var out []string
	for _, a := range AuditActions {
		if a.Group == group {
			out = append(out, a.Code)
		}
	}
	return out
}

// SentencePart is a piece of a rendered sentence: text, the actor, or the
// target.
type SentencePart struct {
	// Kind is "text", "actor" or "target".
	Kind string
	Text string
}

// Sentence splits the row's sentence into parts, so that the page links
// the actor and the target and a CSV writes them as text. A template
// without {target} leaves the target out (the row's target column still
// names it).
func (e AuditEntry) Sentence() []SentencePart {
	tpl := AuditActionOf(e.Action).Template
	var out []SentencePart
	for tpl != "" {
		i := strings.IndexByte(tpl, '{')
		j := strings.IndexByte(tpl, '}')
		if i < 0 || j < i {
			out = append(out, SentencePart{"text", tpl})
			break
		}
		if i > 0 {
			out = append(out, SentencePart{"text", tpl[:i]})
		}
		switch tpl[i+1 : j] {
		case "actor":
			out = append(out, SentencePart{"actor", e.ActorLabel()})
		case "target":
			out = append(out, SentencePart{"target", e.TargetLabel()})
		default:
			out = append(out, SentencePart{"text", tpl[i : j+1]})
		}
		tpl = tpl[j+1:]
	}
	return out
}

// SentenceText is the sentence as plain text (exports).
func (e AuditEntry) SentenceText() string {
	var b strings.Builder
	for _, p := range e.Sentence() {
		b.WriteString(p.Text)
	}
	return b.String()
}

// ActorLabel names who acted: the staff member's name and email, or what
// the row recorded (an email typed at sign-in, the console, the system).
func (e AuditEntry) ActorLabel() string {
	switch {
	case e.ActorName != "" && e.ActorEmail != "":
		return e.ActorName + " (" + e.ActorEmail + ")"
	case e.ActorEmail != "":
		return e.ActorEmail
	}
	return "someone unknown"
}

// targetNouns names target types in sentences.
var targetNouns = map[string]string{
	"account": "account", "end_user": "end user", "customer": "end user", "staff": "", "link_token": "",
	"deposit_account": "", "customer_import": "import", "settings": "setting", "events": "events", "audit": "audit trail",
	"underwriting_decision": "decision",
}

// TargetLabel names what the row concerns, as its sentence shows it.
func (e AuditEntry) TargetLabel() string {
	if e.TargetType == "" && e.TargetID == "" {
		return "—"
	}
	noun, ok := targetNouns[e.TargetType]
	if !ok {
		noun = strings.ReplaceAll(e.TargetType, "_", " ")
	}
	switch {
	case e.TargetID == "":
		return noun
	case e.TargetType == "staff" && e.TargetName != "":
		return e.TargetName
	case noun == "":
		return e.TargetID
	}
	return noun + " " + e.TargetID
}

// TargetTypes lists the target types the /audit filter offers, with labels.
var TargetTypes = []AuditGroup{
	{"account", "Account"}, {"end_user", "End user"}, {"customer", "Customer record"}, {"link_token", "Token (launch link)"},
	{"staff", "Staff member"}, {"deposit_account", "Deposit account"}, {"customer_import", "Customer import"},
	{"settings", "Setting"}, {"events", "Events log"}, {"audit", "Audit trail"}, {"underwriting_decision", "Underwriting decision"},
}
