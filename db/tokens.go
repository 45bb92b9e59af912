package db

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// This file holds On Demand Updates: Linkdesk's own Link tokens (launch
// links, "tokens" in the UI), the Pinwheel tokens minted for them, the Link
// events their launch pages report, the pre-flight facts shown beside the
// mint form, and the platform capability cache.
//
// A link is one row of link_tokens. Staff create it from an account; its
// launch page /l/{launch_id} opens Link with a Pinwheel token. A 'minted'
// link carries the token minted when staff created it and lives as long as
// that token (an hour). A 'mint_on_open' link has no token until the end
// user opens it; it lives for the configured link lifetime (7 days by
// default) and mints a fresh token whenever the last one has expired or was
// consumed, one at a time and at most MaxMintsPerLink times (ClaimMint).
// Every Pinwheel token is a link_token_mints row, so webhooks
// (which name Pinwheel's link_token_id) join to the link for its whole
// history.

// Link modes.
const (
	ModeMinted     = "minted"
	ModeMintOnOpen = "mint_on_open"
)

// Audit actions of On Demand Updates.
//
// A failed mint attempt is audited (link_token.mint_failed) although it
// leaves no token: the request reached Pinwheel on the staff member's
// behalf, and after a timeout Pinwheel may even have minted a token we never
// heard of (the client never retries a POST that may have been received).
// Auditors can then see who tried what on which account and why it failed.
// Form errors caught before calling Pinwheel are not audited: nothing left
// Linkdesk.
const (
	ActionLinkTokenMinted       = "link_token.minted"
	ActionLinkTokenCreated      = "link_token.created"
	ActionLinkTokenMintedOnOpen = "link_token.minted_on_open"
	ActionLinkTokenMintFailed   = "link_token.mint_failed"
	// ActionLinkTokenMintUnrecorded: Pinwheel minted a token but Linkdesk
	// could not store it, so a live token exists that no link shows.
	ActionLinkTokenMintUnrecorded = "link_token.mint_unrecorded"
	ActionLinkTokenRevoked        = "link_token.revoked"
	// ActionLinkTokenClosed: Linkdesk closed a mint-on-open link itself
	// (ClosedTargetArchived, ClosedMintBudget); audited once per link.
	ActionLinkTokenClosed  = "link_token.closed"
	ActionIdentityOverride = "link_token.identity_override"
)

// Launch event names Linkdesk itself records; the events endpoint refuses
// them from browsers.
const (
	EventPageOpened = "page_opened"
	EventMintFailed = "mint_failed"
)

// Link event names of the Link SDK (§5.3) that the lifecycle reads.
const (
	LinkEventOpen             = "open"
	LinkEventLogin            = "login"
	LinkEventSuccess          = "success"
	LinkEventError            = "error"
	LinkEventExit             = "exit"
	LinkEventScreenTransition = "screen_transition"
)

// Limits of launch events.
const (
	// MaxLaunchPayload is the largest payload object accepted (bytes).
	MaxLaunchPayload = 8 << 10
	// MaxLaunchEventsPerLink bounds what one link can store in total, so a
	// leaked link cannot fill the disk however slowly it is fed.
	MaxLaunchEventsPerLink = 1000
	// LaunchEventGrace is how long after a link expires its page may still
	// report events: a session opened a minute before expiry can finish.
	LaunchEventGrace = time.Hour
	// MintReuseMargin: a mint-on-open link reuses its current token only
	// while it has at least this long to live, so a user never starts a
	// session on a token about to die.
	MintReuseMargin = 10 * time.Minute
)

// Limits of minting on open. The launch page is public and its events are
// reported by the browser, unauthenticated, so nothing it sends may cost
// more than these.
const (
	// MaxMintsPerLink bounds the Pinwheel calls one mint-on-open link may
	// make (failed ones included); the claim that would exceed it closes the
	// link instead (ClosedMintBudget).
	MaxMintsPerLink = 10
	// MinRemintAge: a token Link reported ended (an error after opening
	// with it) is replaced only once it is this old, unless it is about to
	// expire, so that reported events pace re-mints at one per MinRemintAge
	// at most.
	MinRemintAge = 2 * time.Minute
	// MintLease is how long a claim to mint holds the link: longer than the
	// Pinwheel call plus storing its answer; a lease left by a crashed
	// process runs out after it.
	MintLease = 30 * time.Second
	// MintRetryDelay is how long a link waits after a failed mint before
	// trying again, so a Pinwheel outage is not hammered by refreshes.
	MintRetryDelay = 30 * time.Second
)

// Reasons Linkdesk closes a mint-on-open link itself (Link.ClosedReason).
const (
	// ClosedTargetArchived: the link's deposit account was archived, so its
	// deposit switch can no longer be minted.
	ClosedTargetArchived = "deposit_account_archived"
	// ClosedMintBudget: the link made MaxMintsPerLink mint attempts.
	ClosedMintBudget = "mint_budget"
)

// purposeLinkToken is the authenticated data of encrypted Link tokens.
const purposeLinkToken = "link_token_mints.token"

// ErrLinkClosed means a launch link is revoked or past its events window:
// it takes no more events.
var ErrLinkClosed = errors.New("db: launch link closed")

// ErrTooManyEvents means a launch link already stored MaxLaunchEventsPerLink
// events.
var ErrTooManyEvents = errors.New("db: too many launch events")

// ODUJobs are the jobs staff may request, in form order.
var ODUJobs = []string{
	pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobPaystubs,
	pinwheel.JobDDAllocations, pinwheel.JobDDSwitch,
}

// NewLinkIDs returns a fresh public token id (64 bits, hex: it only
// has to be unique) and launch id (192 bits, base64url: it must be
// unguessable, since it alone opens the launch page).
func NewLinkIDs() (tokenID, launchID string) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return RandomHex(8), base64.RawURLEncoding.EncodeToString(b)
}

// ValidLaunchID reports whether s looks like a launch id, so that obvious
// junk is refused before any query.
func ValidLaunchID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// LinkAllocation is the deposit switch part of a link, as stored and
// audited: masked numbers only. Type "amount" fixes the amount; "" lets the
// user choose in Link. Amounts are in cents.
type LinkAllocation struct {
	Type           string        `json:"type,omitempty"`
	AmountCents    int64         `json:"amount_cents,omitempty"`
	MinAmountCents int64         `json:"min_amount_cents,omitempty"`
	Targets        []LinkTarget `json:"targets"`
}

// LinkTarget is a deposit account a switch may go to, masked.
type LinkTarget struct {
	DepositAccountID int64  `json:"deposit_account_id"`
	Name             string `json:"name"`
	Type             string `json:"type"`
	RoutingNumber    string `json:"routing_number"`
	Last4            string `json:"last4"`
}

// Label is "Payroll Checking ••6789".
func (t LinkTarget) Label() string { return t.Name + " ••" + t.Last4 }

// Link is one launch link with its current (latest) Pinwheel token.
type Link struct {
	ID               int64 // internal keyset order
	TokenID          string
	LaunchID         string
	Mode             string
	AccountID        string
	EndUserID        string
	PlatformID       string
	Jobs             []string
	Allocation       *LinkAllocation
	Language         string
	SkipIntro        bool
	Reason           string
	IdentityOverride string
	APIVersion       string
	Tags             map[string]string
	CreatedBy        int64
	CreatedByName    string
	CreatedAt        time.Time
	LinkExpiresAt    time.Time
	RevokedAt        time.Time // zero unless revoked
	RevokedBy        int64
	// ClosedAt and ClosedReason: Linkdesk closed the link itself (zero and
	// "" unless it did); see ClosedTargetArchived and ClosedMintBudget.
	ClosedAt     time.Time
	ClosedReason string
	// MintAttempts counts the mint-on-open attempts (calls to Pinwheel).
	MintAttempts int

	// LinkTokenID and TokenExpiresAt describe the latest mint ("" and zero
	// before the first); FirstMintedAt the first; Mints counts them.
	LinkTokenID    string
	TokenExpiresAt time.Time
	FirstMintedAt  time.Time
	Mints          int
}

// Revoked reports whether staff revoked the link.
func (t Link) Revoked() bool { return !t.RevokedAt.IsZero() }

// Closed reports whether Linkdesk closed the link itself.
func (t Link) Closed() bool { return !t.ClosedAt.IsZero() }

// HasJob reports whether the link requests job.
func (t Link) HasJob(job string) bool { return slices.Contains(t.Jobs, job) }

// Mint is one Pinwheel token of a link.
type Mint struct {
	ID          int64
	LinkTokenID string
	APIVersion  string
	MintedAt    time.Time
	ExpiresAt   time.Time
	MintedBy    int64 // 0: minted when the end user opened the link
}

// MintResult is what Pinwheel answered to POST /link_tokens.
type MintResult struct {
	LinkTokenID string
	Token       string
	ExpiresAt   time.Time
	APIVersion  string
}

// NewLink is a validated link to store; build it with ValidateODU.
type NewLink struct {
	TokenID, LaunchID string
	Mode              string
	AccountID         string
	EndUserID         string
	PlatformID        string
	Jobs              []string
	Allocation        *LinkAllocation
	Language          string
	SkipIntro         bool
	Reason            string
	IdentityOverride  string
	APIVersion        string
	Tags              map[string]string
	// LinkExpiresAt is the end of a mint_on_open link's life; for a minted
	// link the token's expiry is used.
	LinkExpiresAt time.Time
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

func sortedUniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func stringOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maskedAudit is the allocation as audited: masked, in dollars.
func (a *LinkAllocation) audit() map[string]any {
	if a == nil {
		return nil
	}
	targets := make([]string, len(a.Targets))
	for i, t := range a.Targets {
		targets[i] = t.Label()
	}
	m := map[string]any{"targets": targets, "type": stringOr(a.Type, "user_chooses")}
	if a.AmountCents > 0 {
		m["amount_cents"] = a.AmountCents
	}
	if a.MinAmountCents > 0 {
		m["min_amount_cents"] = a.MinAmountCents
	}
	return m
}

// CreateLink stores a new link and, for a minted link, its Pinwheel
// token, with the audit row(s), in one transaction. m is nil for a
// mint_on_open link.
func (s *Store) CreateLink(ctx context.Context, a Actor, in NewLink, m *MintResult) (Link, error) {
	now := s.now().UTC()
	switch {
	case in.Mode == ModeMinted && m == nil, in.Mode == ModeMintOnOpen && m != nil:
		return Link{}, fmt.Errorf("db: create link token: mode %s with mint %v", in.Mode, m != nil)
	case in.Mode != ModeMinted && in.Mode != ModeMintOnOpen:
		return Link{}, fmt.Errorf("db: create link token: unknown mode %q", in.Mode)
	case a.StaffID == 0:
		return Link{}, errors.New("db: create link token: no staff member")
	}
	expires := in.LinkExpiresAt
	if m != nil {
		expires = m.ExpiresAt
	}
	jobs, _ := json.Marshal(in.Jobs)
	tags, _ := json.Marshal(in.Tags)
	var alloc any
	if in.Allocation != nil {
		b, _ := json.Marshal(in.Allocation)
		alloc = string(b)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.purgeTokens(ctx, tx, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO link_tokens (token_id, launch_id, mode, account_id, end_user_id, platform_id,
			jobs, allocation, language, skip_intro, reason, identity_override, api_version, tags, created_by, created_at, link_expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.TokenID, in.LaunchID, in.Mode, in.AccountID, in.EndUserID, in.PlatformID, string(jobs), alloc, in.Language,
			boolInt(in.SkipIntro), in.Reason, sql.NullString{String: in.IdentityOverride, Valid: in.IdentityOverride != ""}, in.APIVersion, string(tags), a.StaffID,
			FormatTime(now), FormatTime(expires))
		if err != nil {
			if isUnique(err) {
				return ErrConflict
			}
			return err
		}
		ref, _ := res.LastInsertId()
		detail := map[string]any{
			"account_id": in.AccountID, "end_user_id": in.EndUserID, "jobs": in.Jobs, "reason": in.Reason,
			"mode": in.Mode, "language": in.Language, "skip_intro_screen": in.SkipIntro, "api_version": in.APIVersion,
			"link_expires_at": FormatTime(expires),
		}
		if in.Allocation != nil {
			detail["allocation"] = in.Allocation.audit()
		}
		if in.IdentityOverride != "" {
			detail["identity_override"] = in.IdentityOverride
		}
		action := ActionLinkTokenCreated
		if m != nil {
			action = ActionLinkTokenMinted
			detail["link_token_id"] = m.LinkTokenID
			detail["token_expires_at"] = FormatTime(m.ExpiresAt)
			if err := s.insertMint(ctx, tx, ref, *m, a.StaffID, now); err != nil {
				return err
			}
		}
		if err := s.appendAudit(ctx, tx, a, action, "link_token", in.TokenID, detail); err != nil {
			return err
		}
		if in.IdentityOverride != "" {
			return s.appendAudit(ctx, tx, a, ActionIdentityOverride, "link_token", in.TokenID, map[string]any{
				"account_id": in.AccountID, "end_user_id": in.EndUserID, "verdict": VerdictMismatch, "reason": in.IdentityOverride,
			})
		}
		return nil
	})
	if err != nil {
		return Link{}, fmt.Errorf("db: create link token: %w", err)
	}
	return s.link(ctx, s.r, `t.token_id = ?`, in.TokenID)
}

func (s *Store) insertMint(ctx context.Context, tx *sql.Tx, linkRef int64, m MintResult, by int64, now time.Time) error {
	var minter any
	if by != 0 {
		minter = by
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO link_token_mints (link_ref, link_token_id, token_enc, api_version, minted_at, expires_at, minted_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, linkRef, m.LinkTokenID, s.keys.seal(purposeLinkToken, m.Token), m.APIVersion,
		FormatTime(now), FormatTime(m.ExpiresAt), minter)
	if isUnique(err) {
		return fmt.Errorf("link_token_id %s already stored: %w", m.LinkTokenID, ErrConflict)
	}
	return err
}

// purgeTokens forgets the encrypted tokens that have expired: they are
// bearer credentials, kept only while they can open Link.
func (s *Store) purgeTokens(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE link_token_mints SET token_enc = NULL WHERE token_enc IS NOT NULL AND expires_at <= ?`, FormatTime(now))
	return err
}

// PurgeExpiredLinkTokens drops expired Pinwheel tokens now (writes do it
// too, as they go).
func (s *Store) PurgeExpiredLinkTokens(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.purgeTokens(ctx, tx, s.now().UTC()) })
}

// MintFailure describes a mint attempt Pinwheel refused or never answered.
type MintFailure struct {
	AccountID string
	Jobs      []string
	Mode      string
	Reason    string
	// Kind is invalid_request, unauthorized, not_found, rate_limited,
	// server_error or unreachable.
	Kind string
	// Status, Type, Code and RequestID come from Pinwheel's answer, if any.
	Status    int
	Type      string
	Code      string
	RequestID string
	// TokenID is the link the attempt was for (mint-on-open), if any.
	TokenID string
}

// RecordMintFailure audits a failed mint attempt; no token is stored. For
// a mint-on-open link (f.TokenID set) it also releases the link's mint
// claim and holds off the next attempt for MintRetryDelay.
func (s *Store) RecordMintFailure(ctx context.Context, a Actor, f MintFailure) error {
	detail := map[string]any{"account_id": f.AccountID, "jobs": f.Jobs, "mode": f.Mode, "kind": f.Kind}
	for k, v := range map[string]string{"reason": f.Reason, "type": f.Type, "code": f.Code, "request_id": f.RequestID} {
		if v != "" {
			detail[k] = v
		}
	}
	if f.Status != 0 {
		detail["status"] = f.Status
	}
	target := stringOr(f.TokenID, f.AccountID)
	targetType := "account"
	if f.TokenID != "" {
		targetType = "link_token"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if f.TokenID != "" {
			_, err := tx.ExecContext(ctx, `UPDATE link_tokens SET mint_lease_until = NULL, mint_not_before = ? WHERE token_id = ?`,
				FormatTime(s.now().UTC().Add(MintRetryDelay)), f.TokenID)
			if err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, a, ActionLinkTokenMintFailed, targetType, target, detail)
	})
	if err != nil {
		return fmt.Errorf("db: record mint failure: %w", err)
	}
	return nil
}

// UnrecordedMint is a token Pinwheel minted that Linkdesk then failed to
// store (the token itself is never kept).
type UnrecordedMint struct {
	AccountID string
	Jobs      []string
	Mode      string
	Reason    string
	// TokenID is our link the token was for: a mint-on-open link, or the id
	// a new link would have had (it was not stored).
	TokenID     string
	LinkTokenID string
	ExpiresAt   time.Time
	APIVersion  string
}

// RecordUnrecordedMint audits a token Pinwheel minted that could not be
// stored, so that auditors can still find the live token by its
// link_token_id (webhooks will name it). The target is the link when it
// exists (mint-on-open), else the account.
func (s *Store) RecordUnrecordedMint(ctx context.Context, a Actor, u UnrecordedMint) error {
	detail := map[string]any{"account_id": u.AccountID, "jobs": u.Jobs, "mode": u.Mode, "token_id": u.TokenID,
		"link_token_id": u.LinkTokenID, "token_expires_at": FormatTime(u.ExpiresAt), "api_version": u.APIVersion}
	if u.Reason != "" {
		detail["reason"] = u.Reason
	}
	targetType, target := "account", u.AccountID
	if u.Mode == ModeMintOnOpen {
		targetType, target = "link_token", u.TokenID
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, a, ActionLinkTokenMintUnrecorded, targetType, target, detail)
	})
	if err != nil {
		return fmt.Errorf("db: record unrecorded mint %s: %w", u.LinkTokenID, err)
	}
	return nil
}

// AddMint stores a token minted when the end user opened a mint_on_open
// link, audited with the (anonymous) actor of the launch page, and releases
// the link's mint claim (ClaimMint).
func (s *Store) AddMint(ctx context.Context, a Actor, tokenID string, m MintResult) error {
	now := s.now().UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.purgeTokens(ctx, tx, now); err != nil {
			return err
		}
		var ref int64
		var accountID string
		if err := tx.QueryRowContext(ctx, `SELECT id, account_id FROM link_tokens WHERE token_id = ?`, tokenID).Scan(&ref, &accountID); err != nil {
			return notFound(err)
		}
		if err := s.insertMint(ctx, tx, ref, m, 0, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE link_tokens SET mint_lease_until = NULL, mint_not_before = NULL WHERE id = ?`, ref); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionLinkTokenMintedOnOpen, "link_token", tokenID, map[string]any{
			"account_id": accountID, "link_token_id": m.LinkTokenID, "token_expires_at": FormatTime(m.ExpiresAt), "api_version": m.APIVersion,
		})
	})
	if err != nil {
		return fmt.Errorf("db: add mint to %s: %w", tokenID, err)
	}
	return nil
}

// RevokeLink revokes a link: its page stops loading Link, its events
// endpoint refuses events and its stored tokens are forgotten. Revoking a
// revoked link changes nothing and writes no audit row.
func (s *Store) RevokeLink(ctx context.Context, a Actor, tokenID string) (Link, error) {
	now := s.now().UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var ref int64
		var accountID string
		var revoked sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT id, account_id, revoked_at FROM link_tokens WHERE token_id = ?`, tokenID).Scan(&ref, &accountID, &revoked)
		if err != nil {
			return notFound(err)
		}
		if revoked.Valid {
			return nil
		}
		var by any
		if a.StaffID != 0 {
			by = a.StaffID
		}
		if _, err := tx.ExecContext(ctx, `UPDATE link_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`, FormatTime(now), by, ref); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE link_token_mints SET token_enc = NULL WHERE link_ref = ?`, ref); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionLinkTokenRevoked, "link_token", tokenID, map[string]any{"account_id": accountID})
	})
	if err != nil {
		return Link{}, fmt.Errorf("db: revoke link token %s: %w", tokenID, err)
	}
	return s.link(ctx, s.r, `t.token_id = ?`, tokenID)
}

// ---- reading links ----

const linkSelect = `SELECT t.id, t.token_id, t.launch_id, t.mode, t.account_id, t.end_user_id, t.platform_id, t.jobs,
	COALESCE(t.allocation, ''), t.language, t.skip_intro, t.reason, COALESCE(t.identity_override, ''), t.api_version, t.tags,
	t.created_by, COALESCE(st.name, ''), t.created_at, t.link_expires_at, COALESCE(t.revoked_at, ''), COALESCE(t.revoked_by, 0),
	COALESCE(m.link_token_id, ''), COALESCE(m.expires_at, ''),
	COALESCE((SELECT MIN(minted_at) FROM link_token_mints WHERE link_ref = t.id), ''),
	(SELECT COUNT(*) FROM link_token_mints WHERE link_ref = t.id),
	COALESCE(t.closed_at, ''), COALESCE(t.closed_reason, ''), t.mint_attempts
	FROM link_tokens t
	LEFT JOIN staff st ON st.id = t.created_by
	LEFT JOIN link_token_mints m ON m.id = (SELECT MAX(id) FROM link_token_mints WHERE link_ref = t.id)`

func scanLink(sc interface{ Scan(...any) error }) (Link, error) {
	var t Link
	var jobs, alloc, tags, created, expires, revoked, tokExp, firstMint, closed string
	var skip int
	err := sc.Scan(&t.ID, &t.TokenID, &t.LaunchID, &t.Mode, &t.AccountID, &t.EndUserID, &t.PlatformID, &jobs,
		&alloc, &t.Language, &skip, &t.Reason, &t.IdentityOverride, &t.APIVersion, &tags,
		&t.CreatedBy, &t.CreatedByName, &created, &expires, &revoked, &t.RevokedBy,
		&t.LinkTokenID, &tokExp, &firstMint, &t.Mints, &closed, &t.ClosedReason, &t.MintAttempts)
	if err != nil {
		return t, err
	}
	t.SkipIntro = skip == 1
	t.CreatedAt, t.LinkExpiresAt, t.RevokedAt, t.ClosedAt = ParseTime(created), ParseTime(expires), ParseTime(revoked), ParseTime(closed)
	t.TokenExpiresAt, t.FirstMintedAt = ParseTime(tokExp), ParseTime(firstMint)
	if err := json.Unmarshal([]byte(jobs), &t.Jobs); err != nil {
		return t, fmt.Errorf("jobs of %s: %w", t.TokenID, err)
	}
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return t, fmt.Errorf("tags of %s: %w", t.TokenID, err)
	}
	if alloc != "" {
		t.Allocation = &LinkAllocation{}
		if err := json.Unmarshal([]byte(alloc), t.Allocation); err != nil {
			return t, fmt.Errorf("allocation of %s: %w", t.TokenID, err)
		}
	}
	return t, nil
}

type readQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) link(ctx context.Context, q readQuerier, where string, args ...any) (Link, error) {
	t, err := scanLink(q.QueryRowContext(ctx, linkSelect+` WHERE `+where, args...))
	if err != nil {
		return Link{}, fmt.Errorf("db: link token: %w", notFound(err))
	}
	return t, nil
}

// LinkSummary is a link with its computed lifecycle.
type LinkSummary struct {
	Link
	Lifecycle Lifecycle
}

// LinkDetail is everything known about one link.
type LinkDetail struct {
	LinkSummary
	// History lists every Pinwheel token minted for the link, oldest first.
	History  []Mint
	Events   []LaunchEvent
	Webhooks []WebhookFact
	Switches []SwitchFact
}

// SwitchFact is a direct_deposit_switch.added about one of a link's tokens.
type SwitchFact struct {
	At              time.Time
	LinkTokenID     string
	Outcome         string
	ErrorCode       string
	Action          string
	AllocationType  string
	AllocationValue float64
	HasValue        bool
	TargetName      string
	TargetType      string
}

// LinkByID returns a link with its mints, launch events, the webhooks of
// its tokens and its lifecycle.
func (s *Store) LinkByID(ctx context.Context, tokenID string) (LinkDetail, error) {
	var d LinkDetail
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		t, err := s.link(ctx, tx, `t.token_id = ?`, tokenID)
		if err != nil {
			return err
		}
		if d.History, err = mintsOf(ctx, tx, t.ID); err != nil {
			return err
		}
		events, hooks, err := lifecycleInputs(ctx, tx, []Link{t}, false)
		if err != nil {
			return err
		}
		d.Events, d.Webhooks = events[t.ID], hooks[t.ID]
		d.LinkSummary = LinkSummary{Link: t, Lifecycle: ComputeLifecycle(t, d.Events, d.Webhooks, s.now().UTC())}
		d.Switches, err = switchesOf(ctx, tx, d.History)
		return err
	})
	if err != nil {
		return LinkDetail{}, fmt.Errorf("db: token %s: %w", tokenID, err)
	}
	return d, nil
}

func mintsOf(ctx context.Context, q readQuerier, ref int64) ([]Mint, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, link_token_id, api_version, minted_at, expires_at, COALESCE(minted_by, 0)
		FROM link_token_mints WHERE link_ref = ? ORDER BY id`, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Mint
	for rows.Next() {
		var m Mint
		var minted, expires string
		if err := rows.Scan(&m.ID, &m.LinkTokenID, &m.APIVersion, &minted, &expires, &m.MintedBy); err != nil {
			return nil, err
		}
		m.MintedAt, m.ExpiresAt = ParseTime(minted), ParseTime(expires)
		out = append(out, m)
	}
	return out, rows.Err()
}

func switchesOf(ctx context.Context, q readQuerier, mints []Mint) ([]SwitchFact, error) {
	if len(mints) == 0 {
		return nil, nil
	}
	ids := make([]any, len(mints))
	for i, m := range mints {
		ids[i] = m.LinkTokenID
	}
	rows, err := q.QueryContext(ctx, `SELECT at, link_token_id, outcome, COALESCE(error_code, ''), COALESCE(action, ''),
		COALESCE(allocation_type, ''), allocation_value, COALESCE(target_name, ''), COALESCE(target_type, '')
		FROM dd_switches WHERE link_token_id IN (`+sqlParams(len(ids))+`) ORDER BY at, id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SwitchFact
	for rows.Next() {
		var f SwitchFact
		var at string
		var v sql.NullFloat64
		if err := rows.Scan(&at, &f.LinkTokenID, &f.Outcome, &f.ErrorCode, &f.Action, &f.AllocationType, &v, &f.TargetName, &f.TargetType); err != nil {
			return nil, err
		}
		f.At, f.AllocationValue, f.HasValue = ParseTime(at), v.Float64, v.Valid
		out = append(out, f)
	}
	return out, rows.Err()
}

func sqlParams(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// lifecycleNames are the launch events the lifecycle reads; lists load only
// these.
var lifecycleNames = []string{EventPageOpened, EventMintFailed, LinkEventOpen, LinkEventLogin, LinkEventSuccess, LinkEventError, LinkEventExit}

// lifecycleInputs loads the launch events and the webhook facts of links,
// keyed by link id. With onlyLifecycle, only the events the lifecycle reads
// are loaded.
func lifecycleInputs(ctx context.Context, q readQuerier, links []Link, onlyLifecycle bool) (map[int64][]LaunchEvent, map[int64][]WebhookFact, error) {
	events := map[int64][]LaunchEvent{}
	hooks := map[int64][]WebhookFact{}
	if len(links) == 0 {
		return events, hooks, nil
	}
	refs := make([]any, len(links))
	for i, t := range links {
		refs[i] = t.ID
	}
	q1 := `SELECT ` + launchEventColumns + ` FROM launch_events e JOIN link_tokens t ON t.id = e.link_ref
		WHERE e.link_ref IN (` + sqlParams(len(refs)) + `)`
	args := slices.Clone(refs)
	if onlyLifecycle {
		q1 += ` AND e.name IN (` + sqlParams(len(lifecycleNames)) + `)`
		for _, n := range lifecycleNames {
			args = append(args, n)
		}
	}
	rows, err := q.QueryContext(ctx, q1+` ORDER BY e.id`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanLaunchEvent(rows)
		if err != nil {
			return nil, nil, err
		}
		events[e.linkRef] = append(events[e.linkRef], e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close()

	// Webhooks name Pinwheel's link_token_id: join through the mints.
	rows, err = q.QueryContext(ctx, `SELECT m.link_ref, s.link_token_id, e.event, COALESCE(e.outcome, ''),
		COALESCE(e.occurred_at, e.received_at), e.received_at,
		COALESCE(json_extract(e.body, '$.payload.name'), ''),
		COALESCE(json_extract(e.body, '$.payload.error_type'), ''),
		COALESCE(json_extract(e.body, '$.payload.error_code'), '')
		FROM link_token_mints m
		JOIN link_tokens_seen s ON s.link_token_id = m.link_token_id
		JOIN events e ON e.link_token_ref = s.id
		WHERE m.link_ref IN (`+sqlParams(len(refs))+`) ORDER BY e.id`, refs...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref int64
		var f WebhookFact
		var at, recv string
		if err := rows.Scan(&ref, &f.LinkTokenID, &f.Event, &f.Outcome, &at, &recv, &f.Job, &f.ErrorType, &f.ErrorCode); err != nil {
			return nil, nil, err
		}
		f.At, f.ReceivedAt = ParseTime(at), ParseTime(recv)
		if f.Outcome == "" {
			f.Job = ""
		}
		hooks[ref] = append(hooks[ref], f)
	}
	return events, hooks, rows.Err()
}

// LinkFilter selects links for the /tokens list and the account page.
type LinkFilter struct {
	// State keeps links whose lifecycle state is this (a Stage constant).
	State     string
	AccountID string
	CreatedBy int64
	// Before is the keyset cursor: only links with a smaller ID.
	Before int64
	// Limit defaults to 50 (at most 200).
	Limit int
}

// tokenScanMax bounds the rows one state-filtered page examines: the state
// is computed in Go (ComputeLifecycle is the one definition of it), so a
// rare state could otherwise scan the whole table. A page may then hold
// fewer rows than Limit while a next cursor still continues the scan.
const tokenScanMax = 2000

// ListLinks returns links newest first with their lifecycles, and the
// cursor of the next page (0 when there is none).
func (s *Store) ListLinks(ctx context.Context, f LinkFilter) ([]LinkSummary, int64, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	where, args := []string{"1=1"}, []any{}
	if f.AccountID != "" {
		where, args = append(where, "t.account_id = ?"), append(args, f.AccountID)
	}
	if f.CreatedBy != 0 {
		where, args = append(where, "t.created_by = ?"), append(args, f.CreatedBy)
	}
	var out []LinkSummary
	var next int64
	now := s.now().UTC()
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		before, scanned := f.Before, 0
		batch := f.Limit + 1
		if f.State != "" {
			batch = 200
		}
		for {
			w, a := slices.Clone(where), slices.Clone(args)
			if before > 0 {
				w, a = append(w, "t.id < ?"), append(a, before)
			}
			a = append(a, batch)
			rows, err := tx.QueryContext(ctx, linkSelect+` WHERE `+strings.Join(w, " AND ")+` ORDER BY t.id DESC LIMIT ?`, a...)
			if err != nil {
				return err
			}
			var links []Link
			for rows.Next() {
				t, err := scanLink(rows)
				if err != nil {
					rows.Close()
					return err
				}
				links = append(links, t)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			events, hooks, err := lifecycleInputs(ctx, tx, links, true)
			if err != nil {
				return err
			}
			for _, t := range links {
				scanned++
				before = t.ID
				lc := ComputeLifecycle(t, events[t.ID], hooks[t.ID], now)
				if f.State != "" && lc.State != f.State {
					continue
				}
				if len(out) == f.Limit {
					next = out[len(out)-1].ID
					return nil
				}
				out = append(out, LinkSummary{Link: t, Lifecycle: lc})
			}
			switch {
			case len(links) < batch:
				return nil
			case scanned >= tokenScanMax:
				next = before
				return nil
			}
		}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("db: list tokens: %w", err)
	}
	return out, next, nil
}

// ---- launch page ----

// Launch is what the launch page needs: the link, its lifecycle, its state
// and, while live, the current token.
type Launch struct {
	Link      Link
	Lifecycle Lifecycle
	// State is LaunchLive, LaunchExpired, LaunchUsed, LaunchRevoked or
	// LaunchClosed.
	State string
	// Token is the current Pinwheel token when it may still open Link; ""
	// means a mint_on_open link must mint one first (NeedsMint).
	Token string
	// NeedsMint is set for a live mint_on_open link without a usable token.
	// It may mint only through ClaimMint, and only when neither Minting nor
	// RetryAfter says to wait.
	NeedsMint bool
	// Minting: another request holds the claim to mint this link's token;
	// wait for it rather than mint a second one.
	Minting bool
	// RetryAfter > 0: no mint may start before this long (a failed mint
	// cooling down, or a token Link reported ended less than MinRemintAge
	// after it was minted).
	RetryAfter time.Duration
	// Claimed is set by ClaimMint when the caller won the claim: it must
	// now mint and then call AddMint, RecordMintFailure or CloseLink.
	Claimed bool

	attemptsLeft bool
}

// mintFacts are what decides whether a live mint_on_open link reuses its
// token or may mint a new one now.
type mintFacts struct {
	Now time.Time
	// HasToken: the latest token is still stored (tokens are forgotten once
	// expired); MintedAt and ExpiresAt are its times.
	HasToken            bool
	MintedAt, ExpiresAt time.Time
	// Ended: Link reported an error (or success) for the latest token after
	// Link opened with it.
	Ended bool
	// LeaseUntil: a claim to mint holds the link until then.
	LeaseUntil time.Time
	// NotBefore: after a failed mint, no attempt before then.
	NotBefore time.Time
	Attempts  int
}

// mintDecision is the outcome of decideMint.
type mintDecision struct {
	Reuse      bool          // the latest token may open Link
	Minting    bool          // someone else is minting: wait for them
	RetryAfter time.Duration // >0: nothing may be minted for this long
	Spent      bool          // the link used its MaxMintsPerLink attempts
}

// decideMint decides, for a live mint_on_open link, between reusing its
// token, waiting and minting. A token is reused while it has
// MintReuseMargin to live and Link did not report it ended. Otherwise a
// mint may start unless another request holds the claim, a failed mint is
// cooling down, the ended token is younger than MinRemintAge (it still has
// time to live, so only reported events could have ended it: they may not
// force a re-mint more often than that), or the budget is spent.
func decideMint(f mintFacts) mintDecision {
	live := f.HasToken && f.ExpiresAt.Sub(f.Now) >= MintReuseMargin
	switch {
	case live && !f.Ended:
		return mintDecision{Reuse: true}
	case f.LeaseUntil.After(f.Now):
		return mintDecision{Minting: true}
	case f.NotBefore.After(f.Now):
		return mintDecision{RetryAfter: f.NotBefore.Sub(f.Now)}
	case live && f.Now.Sub(f.MintedAt) < MinRemintAge:
		return mintDecision{RetryAfter: f.MintedAt.Add(MinRemintAge).Sub(f.Now)}
	case f.Attempts >= MaxMintsPerLink:
		return mintDecision{Spent: true}
	}
	return mintDecision{}
}

// LaunchByID loads a launch link by its launch id, on the read pool.
func (s *Store) LaunchByID(ctx context.Context, launchID string) (Launch, error) {
	var l Launch
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		l, err = s.launch(ctx, tx, launchID, s.now().UTC())
		return err
	})
	if err != nil {
		return Launch{}, fmt.Errorf("db: launch: %w", err)
	}
	return l, nil
}

// launch computes a launch link's state and, for a live mint_on_open link,
// the mint decision (decideMint), in the transaction q.
func (s *Store) launch(ctx context.Context, q readQuerier, launchID string, now time.Time) (Launch, error) {
	var l Launch
	t, err := s.link(ctx, q, `t.launch_id = ?`, launchID)
	if err != nil {
		return Launch{}, err
	}
	events, hooks, err := lifecycleInputs(ctx, q, []Link{t}, true)
	if err != nil {
		return Launch{}, err
	}
	l.Link = t
	l.Lifecycle = ComputeLifecycle(t, events[t.ID], hooks[t.ID], now)
	l.State = l.Lifecycle.Launch
	if l.State != LaunchLive {
		return l, nil
	}
	var sealed sql.NullString
	var mintRef int64
	var minted, expires string
	err = q.QueryRowContext(ctx, `SELECT id, token_enc, minted_at, expires_at FROM link_token_mints WHERE link_ref = ? ORDER BY id DESC LIMIT 1`, t.ID).
		Scan(&mintRef, &sealed, &minted, &expires)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Launch{}, err
	}
	if t.Mode != ModeMintOnOpen {
		if !sealed.Valid || !now.Before(ParseTime(expires)) {
			// A minted link whose token is gone: it can no longer open Link.
			l.State = LaunchExpired
			return l, nil
		}
		l.Token, err = s.keys.open(purposeLinkToken, sealed.String)
		return l, err
	}

	f := mintFacts{Now: now, HasToken: sealed.Valid && now.Before(ParseTime(expires)), MintedAt: ParseTime(minted), ExpiresAt: ParseTime(expires),
		Ended: ended(events[t.ID], mintRef), Attempts: t.MintAttempts}
	var lease, notBefore string
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(mint_lease_until, ''), COALESCE(mint_not_before, '') FROM link_tokens WHERE id = ?`, t.ID).
		Scan(&lease, &notBefore); err != nil {
		return Launch{}, err
	}
	f.LeaseUntil, f.NotBefore = ParseTime(lease), ParseTime(notBefore)
	d := decideMint(f)
	if d.Reuse {
		l.Token, err = s.keys.open(purposeLinkToken, sealed.String)
		return l, err
	}
	l.NeedsMint, l.Minting, l.RetryAfter, l.attemptsLeft = true, d.Minting, d.RetryAfter, !d.Spent
	return l, nil
}

// ended reports whether Link reported the token mintRef ended: an error or
// a success for it after Link opened with it. Events are reported by the
// browser, so an "error" alone, without the "open" Link fires first, does
// not count.
func ended(events []LaunchEvent, mintRef int64) bool {
	opened := false
	for _, e := range events {
		if e.mintRef != mintRef {
			continue
		}
		switch e.Name {
		case LinkEventOpen:
			opened = true
		case LinkEventError, LinkEventSuccess:
			if opened {
				return true
			}
		}
	}
	return false
}

// ClaimMint decides again, inside one write transaction, whether the live
// mint_on_open link launchID may mint, and if so claims it: the link is
// leased to the caller for MintLease and its attempt counted, so that
// concurrent opens, in this process or another on the same database, mint
// one token between them. The returned Launch has Claimed set for the
// winner; the others see Minting (wait and read again), RetryAfter, a token
// to reuse, or another state. A link whose MaxMintsPerLink attempts are
// used up is closed instead (ClosedMintBudget), audited once with actor a.
func (s *Store) ClaimMint(ctx context.Context, a Actor, launchID string) (Launch, error) {
	var l Launch
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now().UTC()
		var err error
		l, err = s.launch(ctx, tx, launchID, now)
		switch {
		case err != nil:
			return err
		case l.State != LaunchLive || !l.NeedsMint || l.Minting || l.RetryAfter > 0:
			return nil
		case !l.attemptsLeft:
			if err := s.closeLink(ctx, tx, a, l.Link, ClosedMintBudget, now); err != nil {
				return err
			}
			l.State, l.NeedsMint, l.Link.ClosedAt, l.Link.ClosedReason = LaunchClosed, false, now, ClosedMintBudget
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE link_tokens SET mint_lease_until = ?, mint_attempts = mint_attempts + 1
			WHERE id = ? AND closed_at IS NULL AND mint_attempts < ? AND (mint_lease_until IS NULL OR mint_lease_until <= ?)`,
			FormatTime(now.Add(MintLease)), l.Link.ID, MaxMintsPerLink, FormatTime(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			l.Minting = true
			return nil
		}
		l.Claimed = true
		l.Link.MintAttempts++
		return nil
	})
	if err != nil {
		return Launch{}, fmt.Errorf("db: claim mint of a launch link: %w", err)
	}
	return l, nil
}

// CloseLink closes a mint-on-open link for good, for reason (for example
// ClosedTargetArchived), and releases its mint claim. Only the first
// closure is recorded and audited: closing a closed link changes nothing.
func (s *Store) CloseLink(ctx context.Context, a Actor, tokenID, reason string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.link(ctx, tx, `t.token_id = ?`, tokenID)
		if err != nil {
			return err
		}
		return s.closeLink(ctx, tx, a, t, reason, s.now().UTC())
	})
	if err != nil {
		return fmt.Errorf("db: close link %s: %w", tokenID, err)
	}
	return nil
}

func (s *Store) closeLink(ctx context.Context, tx *sql.Tx, a Actor, t Link, reason string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE link_tokens SET closed_at = ?, closed_reason = ?, mint_lease_until = NULL WHERE id = ? AND closed_at IS NULL`,
		FormatTime(now), reason, t.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return s.appendAudit(ctx, tx, a, ActionLinkTokenClosed, "link_token", t.TokenID, map[string]any{
		"account_id": t.AccountID, "reason": reason, "mint_attempts": t.MintAttempts,
	})
}

// ---- launch events ----

// LaunchEvent is one event a launch page reported (or page_opened and
// mint_failed, which Linkdesk records itself).
type LaunchEvent struct {
	ID          int64
	At          time.Time
	TokenID     string // ours
	LaunchID    string // a bearer secret: show it only to staff who may share the link
	AccountID   string
	EndUserID   string
	LinkTokenID string // Pinwheel's, "" before the first mint
	Name        string
	Payload     json.RawMessage // a JSON object

	linkRef, mintRef int64
}

// Str returns a string field of the payload, or "".
func (e LaunchEvent) Str(key string) string {
	var m map[string]any
	if json.Unmarshal(e.Payload, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

const launchEventColumns = `e.id, e.at, t.token_id, t.launch_id, e.account_id, e.end_user_id, COALESCE(e.link_token_id, ''), e.name, e.payload, e.link_ref, COALESCE(e.mint_ref, 0)`

func scanLaunchEvent(sc interface{ Scan(...any) error }) (LaunchEvent, error) {
	var e LaunchEvent
	var at, payload string
	err := sc.Scan(&e.ID, &at, &e.TokenID, &e.LaunchID, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.Name, &payload, &e.linkRef, &e.mintRef)
	e.At, e.Payload = ParseTime(at), json.RawMessage(payload)
	return e, err
}

var eventNameRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// ValidLaunchEventName reports whether name may be stored: Link's event
// names are lower snake case (open, login_attempt, screen_transition, and
// the names of later SDK versions, which we accept without knowing them).
func ValidLaunchEventName(name string) bool { return eventNameRE.MatchString(name) }

// NormalizePayload checks that p is a JSON object of at most
// MaxLaunchPayload bytes and returns it compacted; empty means {}.
func NormalizePayload(p []byte) ([]byte, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || string(p) == "null" {
		return []byte("{}"), nil
	}
	if len(p) > MaxLaunchPayload {
		return nil, fmt.Errorf("db: payload of %d bytes exceeds %d", len(p), MaxLaunchPayload)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p, &obj); err != nil {
		return nil, fmt.Errorf("db: payload is not a JSON object: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// eventTarget is the link a launch event is for.
type eventTarget struct {
	ref                       int64
	tokenID, account, endUser string
}

// launchEventTarget finds the link launchID and checks that it takes
// events: ErrNotFound, ErrLinkClosed (revoked, closed by Linkdesk, or past
// its expiry plus LaunchEventGrace) or ErrTooManyEvents.
func launchEventTarget(ctx context.Context, q readQuerier, launchID string, now time.Time) (eventTarget, error) {
	var t eventTarget
	var expires string
	var revoked, closed sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, token_id, account_id, end_user_id, link_expires_at, revoked_at, closed_at FROM link_tokens WHERE launch_id = ?`, launchID).
		Scan(&t.ref, &t.tokenID, &t.account, &t.endUser, &expires, &revoked, &closed)
	if err != nil {
		return t, notFound(err)
	}
	if revoked.Valid || closed.Valid || !now.Before(ParseTime(expires).Add(LaunchEventGrace)) {
		return t, ErrLinkClosed
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM launch_events WHERE link_ref = ?`, t.ref).Scan(&n); err != nil {
		return t, err
	}
	if n >= MaxLaunchEventsPerLink {
		return t, ErrTooManyEvents
	}
	return t, nil
}

// CheckLaunchEvents reports, on the read pool, whether the link launchID
// takes events: nil, or the error RecordLaunchEvent would return
// (ErrNotFound, ErrLinkClosed, ErrTooManyEvents). The public events
// endpoint calls it first, so that a junk or dead launch id never costs a
// write transaction (the single writer is shared with webhook ingestion).
func (s *Store) CheckLaunchEvents(ctx context.Context, launchID string) error {
	_, err := launchEventTarget(ctx, s.r, launchID, s.now().UTC())
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrLinkClosed), errors.Is(err, ErrTooManyEvents):
		return err
	case err != nil:
		return fmt.Errorf("db: check launch events: %w", err)
	}
	return nil
}

// RecordLaunchEvent stores one launch event of the link with launchID. It
// returns ErrNotFound for an unknown link, ErrLinkClosed for a revoked or
// closed link or one past its expiry plus LaunchEventGrace,
// ErrTooManyEvents when the link's quota is used up, and FieldErrors for a
// bad name or payload. The event is attributed to the link's latest
// Pinwheel token. Callers facing the public call CheckLaunchEvents first.
func (s *Store) RecordLaunchEvent(ctx context.Context, launchID, name string, payload []byte) (LaunchEvent, error) {
	if !ValidLaunchEventName(name) {
		return LaunchEvent{}, FieldErrors{"name": "not a Link event name"}
	}
	p, err := NormalizePayload(payload)
	if err != nil {
		return LaunchEvent{}, FieldErrors{"payload": "must be a JSON object of at most 8 KiB"}
	}
	now := s.now().UTC()
	var e LaunchEvent
	err = s.tx(ctx, func(tx *sql.Tx) error {
		t, err := launchEventTarget(ctx, tx, launchID, now)
		if err != nil {
			return err
		}
		ref, tokenID, account, endUser := t.ref, t.tokenID, t.account, t.endUser
		var mintRef sql.NullInt64
		var ltid sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT id, link_token_id FROM link_token_mints WHERE link_ref = ? ORDER BY id DESC LIMIT 1`, ref).Scan(&mintRef, &ltid)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO launch_events (link_ref, mint_ref, account_id, end_user_id, link_token_id, name, payload, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ref, mintRef, account, endUser, ltid, name, string(p), FormatTime(now))
		if err != nil {
			return err
		}
		id, _ := res.LastInsertId()
		e = LaunchEvent{ID: id, At: now, TokenID: tokenID, LaunchID: launchID, AccountID: account, EndUserID: endUser,
			LinkTokenID: ltid.String, Name: name, Payload: p, linkRef: ref, mintRef: mintRef.Int64}
		return s.purgeTokens(ctx, tx, now)
	})
	var fe FieldErrors
	switch {
	case errors.As(err, &fe), errors.Is(err, ErrNotFound), errors.Is(err, ErrLinkClosed), errors.Is(err, ErrTooManyEvents):
		return LaunchEvent{}, err
	case err != nil:
		return LaunchEvent{}, fmt.Errorf("db: record launch event: %w", err)
	}
	return e, nil
}

// LaunchEventFilter selects launch events of an account for its timeline.
type LaunchEventFilter struct {
	AccountID string
	// AfterID is the keyset cursor: only events with a larger ID.
	AfterID int64
	// Limit defaults to 100 (at most 1000).
	Limit int
}

// ListLaunchEvents returns an account's launch events oldest first.
func (s *Store) ListLaunchEvents(ctx context.Context, f LaunchEventFilter) ([]LaunchEvent, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+launchEventColumns+` FROM launch_events e JOIN link_tokens t ON t.id = e.link_ref
		WHERE e.account_id = ? AND e.id > ? ORDER BY e.id LIMIT ?`, f.AccountID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("db: list launch events: %w", err)
	}
	defer rows.Close()
	var out []LaunchEvent
	for rows.Next() {
		e, err := scanLaunchEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("db: list launch events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- pre-flight ----

// PreflightJob is the latest outcome of one job on an account.
type PreflightJob struct {
	Job         string
	Outcome     string
	At          time.Time
	ErrorType   string
	ErrorCode   string
	LinkTokenID string
}

// Preflight is what staff see beside the mint form: whether the account can
// be updated, how it last went, and how often it needed MFA.
type Preflight struct {
	AccountID    string
	EndUserID    string
	PlatformID   string
	PlatformName string
	// ConnectedKnown is false until account.added (or a status update)
	// said whether the account is connected.
	ConnectedKnown   bool
	Connected        bool
	MonitoringStatus string
	// StatusSince is when the current monitoring status was first reported
	// in the run of identical reports that leads to now.
	StatusSince time.Time
	Jobs        []PreflightJob
	// Sessions counts the Pinwheel tokens of this account whose Link
	// session opened (a Link "open" event); MFASessions those that reached
	// an MFA screen (a screen_transition whose screenName contains "MFA").
	// Only sessions launched from Linkdesk's launch pages are seen.
	Sessions    int
	MFASessions int
}

// Preflight returns the pre-flight facts of an account, or ErrNotFound.
func (s *Store) Preflight(ctx context.Context, accountID string) (Preflight, error) {
	p := Preflight{AccountID: accountID}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var ref int64
		var connected sql.NullInt64
		var statusAt string
		err := tx.QueryRowContext(ctx, `SELECT a.id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''), COALESCE(a.platform_name, ''),
			a.connected, COALESCE(a.monitoring_status, ''), COALESCE(a.monitoring_status_at, '')
			FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.account_id = ?`, accountID).
			Scan(&ref, &p.EndUserID, &p.PlatformID, &p.PlatformName, &connected, &p.MonitoringStatus, &statusAt)
		if err != nil {
			return notFound(err)
		}
		p.ConnectedKnown, p.Connected = connected.Valid, connected.Int64 == 1
		p.StatusSince = ParseTime(statusAt)

		rows, err := tx.QueryContext(ctx, `SELECT status, at FROM monitoring_status_history WHERE account_ref = ?
			ORDER BY status_rank DESC, at DESC, id DESC LIMIT 200`, ref)
		if err != nil {
			return err
		}
		for rows.Next() {
			var st, at string
			if err := rows.Scan(&st, &at); err != nil {
				rows.Close()
				return err
			}
			if st != p.MonitoringStatus {
				break
			}
			p.StatusSince = ParseTime(at)
		}
		rows.Close()

		rows, err = tx.QueryContext(ctx, `SELECT job, outcome, at, COALESCE(error_type, ''), COALESCE(error_code, ''), COALESCE(link_token_id, '')
			FROM account_jobs WHERE account_ref = ? ORDER BY job`, ref)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j PreflightJob
			var at string
			if err := rows.Scan(&j.Job, &j.Outcome, &at, &j.ErrorType, &j.ErrorCode, &j.LinkTokenID); err != nil {
				return err
			}
			j.At = ParseTime(at)
			p.Jobs = append(p.Jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT
			COUNT(DISTINCT CASE WHEN name = 'open' THEN mint_ref END),
			COUNT(DISTINCT CASE WHEN name = 'screen_transition'
				AND instr(upper(COALESCE(json_extract(payload, '$.screenName'), '')), 'MFA') > 0 THEN mint_ref END)
			FROM launch_events WHERE account_id = ?`, accountID).Scan(&p.Sessions, &p.MFASessions)
	})
	if err != nil {
		return Preflight{}, fmt.Errorf("db: preflight %s: %w", accountID, err)
	}
	return p, nil
}

// ---- platform capabilities ----

// PlatformCaps are the capabilities of a payroll platform. Known is false
// when Pinwheel could not tell us (and nothing was cached).
type PlatformCaps struct {
	ID            string
	Name          string
	SupportedJobs []string
	FetchedAt     time.Time
	Known         bool
}

// Supports reports whether the platform is known to support job.
func (p PlatformCaps) Supports(job string) bool { return slices.Contains(p.SupportedJobs, job) }

// CachedPlatform returns cached capabilities, or ErrNotFound.
func (s *Store) CachedPlatform(ctx context.Context, id string) (PlatformCaps, error) {
	p := PlatformCaps{ID: id, Known: true}
	var jobs, at string
	err := s.r.QueryRowContext(ctx, `SELECT name, supported_jobs, fetched_at FROM platforms_cache WHERE platform_id = ?`, id).Scan(&p.Name, &jobs, &at)
	if err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cached platform %s: %w", id, notFound(err))
	}
	p.FetchedAt = ParseTime(at)
	if err := json.Unmarshal([]byte(jobs), &p.SupportedJobs); err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cached platform %s: %w", id, err)
	}
	return p, nil
}

// CachePlatform stores capabilities fetched now.
func (s *Store) CachePlatform(ctx context.Context, p PlatformCaps) (PlatformCaps, error) {
	if p.SupportedJobs == nil {
		p.SupportedJobs = []string{}
	}
	jobs, _ := json.Marshal(p.SupportedJobs)
	p.FetchedAt, p.Known = s.now().UTC(), true
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO platforms_cache (platform_id, name, supported_jobs, fetched_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (platform_id) DO UPDATE SET name = excluded.name, supported_jobs = excluded.supported_jobs, fetched_at = excluded.fetched_at`,
			p.ID, p.Name, string(jobs), FormatTime(p.FetchedAt))
		return err
	})
	if err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cache platform %s: %w", p.ID, err)
	}
	return p, nil
}
