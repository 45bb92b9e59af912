package db

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// The mint form: what staff may ask of an On Demand Update, and
// ValidateODU, the pure check of the form against the account's
// pre-flight facts, run before anything reaches Pinwheel.

// ODUJobs are the jobs staff may request, in form order.
var ODUJobs = []string{
	pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobPaystubs,
	pinwheel.JobDDAllocations, pinwheel.JobDDSwitch,
}

// ODURequest is the mint form as staff filled it in: raw text.
type ODURequest struct {
	Jobs             []string
	TargetIDs        []string
	AllocationMode   string // "amount" (fixed) or "user" (the user chooses)
	Amount           string // dollars
	MinAmount        string // dollars, optional
	Language         string
	SkipIntro        bool
	Reason           string
	OverrideIdentity bool
	OverrideReason   string
}

// Allocation modes of the mint form.
const (
	AllocationFixed = "amount"
	AllocationUser  = "user"
)

// ODUContext is what ValidateODU checks a request against.
type ODUContext struct {
	Preflight Preflight
	// IdentityResult is the account's identity verdict ("" when none).
	IdentityResult string
	// Platform is the platform's capabilities; Known false when they could
	// not be had.
	Platform PlatformCaps
	// DepositAccounts are the organisation's active deposit accounts.
	DepositAccounts []DepositAccount
}

// Limits of the mint form.
const (
	maxReasonLen    = 500
	maxAmountCents  = 100_000_000 // $1,000,000.00
	ReasonFieldName = "reason"
)

// ValidateODU checks the mint form against the account's pre-flight facts
// and returns the masked link settings, or FieldErrors keyed by form field
// ("_form" is a message about the whole request). It is pure: the handler
// runs it before calling Pinwheel, so a bad form never leaves Linkdesk.
func ValidateODU(in ODURequest, cx ODUContext) (NewLink, FieldErrors) {
	fe := FieldErrors{}
	var out NewLink
	pre := cx.Preflight

	switch {
	case pre.ConnectedKnown && !pre.Connected:
		fe["_form"] = "This account is disconnected: Pinwheel can no longer reach it, so an On Demand Update cannot work. The user must connect their payroll account again through a new Link session."
	case pre.PlatformID == "":
		fe["_form"] = "Pinwheel has not reported this account's login yet (no account.added), so it cannot be updated."
	}

	for _, j := range ODUJobs {
		if slices.Contains(in.Jobs, j) {
			out.Jobs = append(out.Jobs, j)
		}
	}
	switch {
	case len(out.Jobs) == 0:
		fe["jobs"] = "Choose at least one thing to do."
	case len(out.Jobs) != len(sortedUniq(in.Jobs)):
		fe["jobs"] = "Choose only from the listed jobs."
	case cx.Platform.Known:
		var missing []string
		for _, j := range out.Jobs {
			if !slices.Contains(cx.Platform.SupportedJobs, j) {
				missing = append(missing, j)
			}
		}
		if len(missing) > 0 {
			fe["jobs"] = fmt.Sprintf("%s does not support %s.", stringOr(cx.Platform.Name, "This platform"), strings.Join(missing, ", "))
		}
	}

	switchJob := slices.Contains(out.Jobs, pinwheel.JobDDSwitch)
	if switchJob {
		out.Allocation = validateAllocation(in, cx.DepositAccounts, fe)
		if cx.IdentityResult == VerdictMismatch {
			switch r := strings.TrimSpace(in.OverrideReason); {
			case !in.OverrideIdentity:
				fe["override_identity"] = "The identity on this payroll account does not match the customer record. Tick the override to switch deposits anyway."
			case r == "":
				fe["override_reason"] = "Say why the deposit may go ahead despite the identity mismatch."
			case utf8.RuneCountInString(r) > maxReasonLen:
				fe["override_reason"] = fmt.Sprintf("Keep it under %d characters.", maxReasonLen)
			default:
				out.IdentityOverride = r
			}
		}
	}

	switch in.Language {
	case "en", "es":
		out.Language = in.Language
	case "":
		out.Language = "en"
	default:
		fe["language"] = "Choose English or Spanish."
	}
	out.SkipIntro = in.SkipIntro

	switch r := strings.TrimSpace(in.Reason); {
	case r == "":
		fe[ReasonFieldName] = "Say why, for the audit trail (for example: customer asked to raise their deposit, ticket 4521)."
	case utf8.RuneCountInString(r) > maxReasonLen:
		fe[ReasonFieldName] = fmt.Sprintf("Keep it under %d characters.", maxReasonLen)
	default:
		out.Reason = r
	}

	out.AccountID, out.EndUserID, out.PlatformID = pre.AccountID, pre.EndUserID, pre.PlatformID
	if len(fe) > 0 {
		return NewLink{}, fe
	}
	return out, nil
}

func validateAllocation(in ODURequest, accounts []DepositAccount, fe FieldErrors) *LinkAllocation {
	a := &LinkAllocation{}
	seen := map[int64]bool{}
	for _, raw := range in.TargetIDs {
		id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		i := slices.IndexFunc(accounts, func(d DepositAccount) bool { return d.ID == id })
		if err != nil || i < 0 || !accounts[i].Active {
			fe["targets"] = "Choose from the organisation's active deposit accounts."
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		d := accounts[i]
		if !ValidRoutingNumber(d.RoutingNumber) {
			fe["targets"] = d.Label() + " has an invalid routing number; an admin should fix it in Settings."
			continue
		}
		a.Targets = append(a.Targets, LinkTarget{DepositAccountID: d.ID, Name: d.Name, Type: d.Type, RoutingNumber: d.RoutingNumber, Last4: d.Last4})
	}
	if len(in.TargetIDs) == 0 {
		switch {
		case len(accounts) == 0:
			fe["targets"] = "The organisation has no deposit accounts yet; an admin adds them in Settings."
		default:
			fe["targets"] = "Choose the account the deposit should go to."
		}
	}

	var minCents int64
	if strings.TrimSpace(in.MinAmount) != "" {
		c, msg := parseAmount(in.MinAmount)
		if msg != "" {
			fe["min_amount"] = msg
		}
		minCents = c
	}
	switch in.AllocationMode {
	case AllocationFixed:
		a.Type = pinwheel.AllocationAmount
		if strings.TrimSpace(in.Amount) == "" {
			fe["amount"] = "Enter the amount per paycheck, or let the user choose."
			break
		}
		c, msg := parseAmount(in.Amount)
		switch {
		case msg != "":
			fe["amount"] = msg
		case minCents > 0 && c < minCents:
			fe["min_amount"] = "The minimum cannot be above the amount."
		}
		a.AmountCents = c
	case AllocationUser, "":
		a.Type = ""
	default:
		fe["allocation_mode"] = "Choose a fixed amount or let the user choose."
	}
	a.MinAmountCents = minCents
	return a
}

// parseAmount reads a dollar amount such as "150", "150.5", "$1,500.00"
// into cents; msg says what is wrong.
func parseAmount(s string) (cents int64, msg string) {
	cents, err := ParseDollars(s)
	switch {
	case err != nil:
		return 0, "Enter an amount in dollars, such as 150 or 150.00."
	case cents <= 0:
		return 0, "Enter an amount above zero."
	case cents > maxAmountCents:
		return 0, "Enter at most $1,000,000.00."
	}
	return cents, ""
}

var dollarsRE = regexp.MustCompile(`^(\d{1,3}(,\d{3})+|\d+)(\.\d{1,2})?$`)

// ParseDollars parses a non-negative dollar amount with at most two
// decimals ("150", "1,500.5", "$20.00") into cents.
func ParseDollars(s string) (int64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	s = strings.TrimSpace(s)
	if !dollarsRE.MatchString(s) {
		return 0, fmt.Errorf("db: not a dollar amount: %q", s)
	}
	whole, frac, _ := strings.Cut(strings.ReplaceAll(s, ",", ""), ".")
	if len(whole) > 12 {
		return 0, fmt.Errorf("db: amount too large: %q", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}
