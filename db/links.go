package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Launch links: Linkdesk's own On Demand Update links, one row of
// link_tokens each (named "tokens" in the UI, at /tokens/{token_id}). Staff
// create a link from an account; its launch page /l/{launch_id} opens Link
// with a Pinwheel token. A 'minted' link carries the token minted when staff
// created it and lives as long as that token (an hour). A 'mint_on_open'
// link has no token until the end user opens it; it lives for the
// configured link lifetime (7 days by default) and mints a fresh token
// whenever the last one has expired or was consumed (mints.go). Every
// Pinwheel token is a link_token_mints row, so webhooks (which name
// Pinwheel's link_token_id) join to the link for its whole history.

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
	Type           string       `json:"type,omitempty"`
	AmountCents    int64        `json:"amount_cents,omitempty"`
	MinAmountCents int64        `json:"min_amount_cents,omitempty"`
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
	// CampaignID, CampaignName and Incentive: the campaign that made the
	// link (0 and "" for a link staff made), and its incentive in words.
	CampaignID   int64
	CampaignName string
	Incentive    string

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
	// CampaignID is the campaign whose launch made the link (0: none).
	CampaignID int64
}

// audit is the allocation as audited: masked, in dollars.
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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.purgeTokens(ctx, tx, now); err != nil {
			return err
		}
		_, err := s.insertLink(ctx, tx, a, in, m, now)
		return err
	})
	if err != nil {
		return Link{}, fmt.Errorf("db: create link token: %w", err)
	}
	return s.link(ctx, s.r, `t.token_id = ?`, in.TokenID)
}

// sqlLinkInsert stores one link row (linkInsertArgs); insertLink runs it,
// and a campaign's launch batch (CreateCampaignLinks) prepares it once per
// batch and audits the batch rather than each link.
const sqlLinkInsert = `INSERT INTO link_tokens (token_id, launch_id, mode, account_id, end_user_id, platform_id,
		jobs, allocation, language, skip_intro, reason, identity_override, api_version, tags, created_by, created_at, link_expires_at, campaign_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// checkNewLink refuses a link whose mode and mint disagree, or without the
// staff member who creates it.
func checkNewLink(a Actor, in NewLink, m *MintResult) error {
	switch {
	case in.Mode == ModeMinted && m == nil, in.Mode == ModeMintOnOpen && m != nil:
		return fmt.Errorf("mode %s with mint %v", in.Mode, m != nil)
	case in.Mode != ModeMinted && in.Mode != ModeMintOnOpen:
		return fmt.Errorf("unknown mode %q", in.Mode)
	case a.StaffID == 0:
		return errors.New("no staff member")
	}
	return nil
}

// linkInsertArgs are sqlLinkInsert's arguments for in, created by a at now
// and living until expires.
func linkInsertArgs(a Actor, in NewLink, now, expires time.Time) []any {
	jobs, _ := json.Marshal(in.Jobs)
	tags, _ := json.Marshal(in.Tags)
	var alloc any
	if in.Allocation != nil {
		b, _ := json.Marshal(in.Allocation)
		alloc = string(b)
	}
	return []any{in.TokenID, in.LaunchID, in.Mode, in.AccountID, in.EndUserID, in.PlatformID, string(jobs), alloc, in.Language,
		boolInt(in.SkipIntro), in.Reason, sql.NullString{String: in.IdentityOverride, Valid: in.IdentityOverride != ""}, in.APIVersion, string(tags), a.StaffID,
		FormatTime(now), FormatTime(expires), sql.NullInt64{Int64: in.CampaignID, Valid: in.CampaignID != 0}}
}

// insertLink stores one validated link (and its token, for a minted link)
// with its audit row(s) inside tx, and returns the link's row id. It is
// the one writer of new links: CreateLink stores one, a reconnect batch
// (AddReconnectLinks) a chunk at a time beside its own rows; a campaign's
// launch batch (CreateCampaignLinks) runs its statement and arguments
// (sqlLinkInsert, linkInsertArgs) with one audit row per batch.
func (s *Store) insertLink(ctx context.Context, tx *sql.Tx, a Actor, in NewLink, m *MintResult, now time.Time) (int64, error) {
	if err := checkNewLink(a, in, m); err != nil {
		return 0, err
	}
	expires := in.LinkExpiresAt
	if m != nil {
		expires = m.ExpiresAt
	}
	var ref int64
	err := tx.QueryRowContext(ctx, sqlLinkInsert, linkInsertArgs(a, in, now, expires)...).Scan(&ref)
	if err != nil {
		if s.d.isUnique(err) {
			return 0, ErrConflict
		}
		return 0, err
	}
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
			return 0, err
		}
	}
	if err := s.appendAudit(ctx, tx, a, action, "link_token", in.TokenID, detail); err != nil {
		return 0, err
	}
	if in.IdentityOverride != "" {
		err := s.appendAudit(ctx, tx, a, ActionIdentityOverride, "link_token", in.TokenID, map[string]any{
			"account_id": in.AccountID, "end_user_id": in.EndUserID, "verdict": VerdictMismatch, "reason": in.IdentityOverride,
		})
		if err != nil {
			return 0, err
		}
	}
	return ref, nil
}

// RevokeLink revokes a link: its launch page stops opening Link, its events
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
	COALESCE(t.closed_at, ''), COALESCE(t.closed_reason, ''), t.mint_attempts,
	COALESCE(t.campaign_id, 0), COALESCE(cp.name, ''), COALESCE(cp.incentive_text, '')
	FROM link_tokens t
	LEFT JOIN staff st ON st.id = t.created_by
	LEFT JOIN campaigns cp ON cp.id = t.campaign_id
	LEFT JOIN link_token_mints m ON m.id = (SELECT MAX(id) FROM link_token_mints WHERE link_ref = t.id)`

func scanLink(sc interface{ Scan(...any) error }) (Link, error) {
	var t Link
	var jobs, alloc, tags, created, expires, revoked, tokExp, firstMint, closed string
	var skip int
	err := sc.Scan(&t.ID, &t.TokenID, &t.LaunchID, &t.Mode, &t.AccountID, &t.EndUserID, &t.PlatformID, &jobs,
		&alloc, &t.Language, &skip, &t.Reason, &t.IdentityOverride, &t.APIVersion, &tags,
		&t.CreatedBy, &t.CreatedByName, &created, &expires, &revoked, &t.RevokedBy,
		&t.LinkTokenID, &tokExp, &firstMint, &t.Mints, &closed, &t.ClosedReason, &t.MintAttempts,
		&t.CampaignID, &t.CampaignName, &t.Incentive)
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
		events, hooks, err := s.lifecycleInputs(ctx, tx, []Link{t}, false)
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

// LinkFilter selects links for the /tokens list and the account page.
type LinkFilter struct {
	// State keeps links whose lifecycle state is this (a Stage constant).
	State     string
	AccountID string
	CreatedBy int64
	// Expiring keeps links that expire within ExpiringWithin of now with
	// no outcome yet, neither revoked nor closed.
	Expiring bool
	// Before is the keyset cursor: only links with a smaller ID.
	Before int64
	// Oldest lists oldest first, from the cursor After (a larger ID).
	Oldest bool
	After  int64
	// Limit defaults to 50 (at most 200).
	Limit int
}

// linkWhere is the SQL filter of f (its state aside, computed in Go).
func (f LinkFilter) where(now time.Time) ([]string, []any) {
	where, args := []string{"1=1"}, []any{}
	if f.AccountID != "" {
		where, args = append(where, "t.account_id = ?"), append(args, f.AccountID)
	}
	if f.CreatedBy != 0 {
		where, args = append(where, "t.created_by = ?"), append(args, f.CreatedBy)
	}
	if f.Expiring {
		where = append(where, "t.revoked_at IS NULL AND t.succeeded_at IS NULL AND t.closed_at IS NULL AND t.link_expires_at >= ? AND t.link_expires_at < ?")
		args = append(args, FormatTime(now), FormatTime(now.Add(ExpiringWithin)))
	}
	return where, args
}

// CountLinks counts the links f selects, up to limit (its state filter
// aside: the state is computed from each link's events); more reports that
// there are at least limit.
func (s *Store) CountLinks(ctx context.Context, f LinkFilter, limit int) (n int64, more bool, err error) {
	where, args := f.where(s.now().UTC())
	if n, more, err = countRows(ctx, s.r, "link_tokens t", where, args, limit); err != nil {
		return 0, false, fmt.Errorf("db: count tokens: %w", err)
	}
	return n, more, nil
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
	now := s.now().UTC()
	where, args := f.where(now)
	var out []LinkSummary
	var next int64
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		before, scanned := f.Before, 0
		if f.Oldest {
			before = f.After
		}
		bound, order := "t.id < ?", "DESC"
		if f.Oldest {
			bound, order = "t.id > ?", "ASC"
		}
		batch := f.Limit + 1
		if f.State != "" {
			batch = 200
		}
		for {
			w, a := slices.Clone(where), slices.Clone(args)
			if before > 0 {
				w, a = append(w, bound), append(a, before)
			}
			a = append(a, batch)
			rows, err := tx.QueryContext(ctx, linkSelect+` WHERE `+strings.Join(w, " AND ")+` ORDER BY t.id `+order+` LIMIT ?`, a...)
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
			events, hooks, err := s.lifecycleInputs(ctx, tx, links, true)
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

// LinkTotal is the number of links ever created, from the funnel's daily
// counters (migration 072) rather than a count of the table.
func (s *Store) LinkTotal(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM link_funnel_days WHERE stage = 'created'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: link total: %w", err)
	}
	return n, nil
}
