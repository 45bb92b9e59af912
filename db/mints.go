package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mints: the Pinwheel tokens minted for launch links (link_token_mints,
// the token itself encrypted and forgotten once expired), the audit of a
// failed or unrecorded mint, and minting on open: the launch page's state
// of a link, the decision to reuse its token or mint another, and the
// claim that lets one request at a time mint it. The Pinwheel call itself
// is the odu package's; this file only records.

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
	// MintReuseMargin: a mint-on-open link reuses its current token only
	// while it has at least this long to live, so a user never starts a
	// session on a token about to die.
	MintReuseMargin = 10 * time.Minute
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

// insertMint stores a token minted for the link linkRef, encrypted; by is
// the staff member who minted it (0 for a mint on open).
func (s *Store) insertMint(ctx context.Context, tx *sql.Tx, linkRef int64, m MintResult, by int64, now time.Time) error {
	var minter any
	if by != 0 {
		minter = by
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO link_token_mints (link_ref, link_token_id, token_enc, api_version, minted_at, expires_at, minted_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, linkRef, m.LinkTokenID, s.keys.seal(purposeLinkToken, m.Token), m.APIVersion,
		FormatTime(now), FormatTime(m.ExpiresAt), minter)
	if s.d.isUnique(err) {
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
	events, hooks, err := s.lifecycleInputs(ctx, q, []Link{t}, true)
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
		// The link's row is locked before it is read (PostgreSQL; SQLite's
		// one writer already serializes this): otherwise, at READ
		// COMMITTED, a claim that read the link before another caller's
		// claim, mint and AddMint (which releases the lease) had all
		// committed would find the lease free and mint a second token.
		if s.d.forUpdate != "" {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM link_tokens WHERE launch_id = ?`+s.d.forUpdate, launchID).Scan(&id)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
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
