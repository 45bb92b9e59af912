// Package odu mints On Demand Update links. From a link's settings it
// builds Pinwheel's POST /link_tokens request (deposit account numbers are
// decrypted only for it), calls Pinwheel and records the outcome in the
// Store: the token, an audited refusal, or a token Pinwheel minted that
// could not be stored. Staff handlers, the public launch page and
// background workers (campaigns, remediation) all mint through a Minter;
// it renders nothing and never answers a browser.
package odu

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// DefaultLinkLifetime is how long a mint-on-open link stays usable unless
// configured (LINKDESK_LINK_LIFETIME).
const DefaultLinkLifetime = 7 * 24 * time.Hour

// Time limits of minting.
const (
	// mintTimeout bounds the Pinwheel call of Mint (a staff member waits).
	mintTimeout = 20 * time.Second
	// openMintTimeout bounds the Pinwheel call of Open; it must stay well
	// under db.MintLease.
	openMintTimeout = 15 * time.Second
	// openWait is how long Open waits for another request that is minting
	// the same link's token; openPoll how often it looks.
	openWait = openMintTimeout + 5*time.Second
	openPoll = 100 * time.Millisecond
	// auditTimeout bounds the audit of an unrecorded mint, written after
	// the store already failed once.
	auditTimeout = 5 * time.Second
)

// Config is what a Minter works with.
type Config struct {
	Store  *db.Store
	Client *pinwheel.Client
	// APIVersion is the Pinwheel-Version the client sends: it decides how
	// jobs are expressed in the request. "" means pinwheel.DefaultVersion.
	APIVersion string
	// LinkLifetime is how long a mint-on-open link stays usable; 0 means
	// DefaultLinkLifetime.
	LinkLifetime time.Duration
}

// Minter mints links. It holds no state of its own: every decision that
// must hold across requests and processes (one mint at a time per link, the
// mint budget, the retry delay) is made in the database.
type Minter struct {
	store    *db.Store
	pw       *pinwheel.Client
	version  string
	lifetime time.Duration
}

// New returns a Minter.
func New(c Config) *Minter {
	if c.APIVersion == "" {
		c.APIVersion = pinwheel.DefaultVersion
	}
	if c.LinkLifetime <= 0 {
		c.LinkLifetime = DefaultLinkLifetime
	}
	return &Minter{store: c.Store, pw: c.Client, version: c.APIVersion, lifetime: c.LinkLifetime}
}

// ErrTargetArchived means a link's deposit account was archived after the
// link was validated: its deposit switch can no longer be minted.
var ErrTargetArchived = errors.New("odu: deposit account archived")

// UpstreamError is a mint Pinwheel refused or never answered. The attempt
// was audited (link_token.mint_failed); nothing was stored.
type UpstreamError struct{ Err error }

func (e *UpstreamError) Error() string { return "odu: pinwheel: " + e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

// UnrecordedError is a token Pinwheel minted that could not be stored, so
// a live token that no link shows exists at Pinwheel until it expires,
// within the hour. It was audited (link_token.mint_unrecorded, naming
// LinkTokenID, which webhooks about it will name too) if the database
// allowed; Err holds the store's failure and the audit's, if any.
type UnrecordedError struct {
	LinkTokenID string
	Err         error
}

func (e *UnrecordedError) Error() string {
	return "odu: minted " + e.LinkTokenID + " but not recorded: " + e.Err.Error()
}
func (e *UnrecordedError) Unwrap() error { return e.Err }

// Mint mints a Pinwheel token for the validated link n now and stores the
// link with it, both audited as a's. The ids, mode, API version and tags
// are filled in here. A refusal by Pinwheel is an *UpstreamError; a token
// minted but not stored, an *UnrecordedError. The store write runs even if
// ctx is cancelled once Pinwheel has answered: the token is live.
func (m *Minter) Mint(ctx context.Context, a db.Actor, n db.NewLink) (db.Link, error) {
	n = m.prepare(n, db.ModeMinted)
	mint, err := m.call(ctx, n, mintTimeout)
	var up *UpstreamError
	if errors.As(err, &up) {
		f := failure(up.Err)
		f.AccountID, f.Jobs, f.Mode, f.Reason = n.AccountID, n.Jobs, n.Mode, n.Reason
		if aerr := m.store.RecordMintFailure(ctx, a, f); aerr != nil {
			return db.Link{}, aerr
		}
	}
	if err != nil {
		return db.Link{}, err
	}
	ctx = context.WithoutCancel(ctx)
	l, err := m.store.CreateLink(ctx, a, n, &mint)
	if err != nil {
		return db.Link{}, m.unrecorded(ctx, a, db.UnrecordedMint{AccountID: n.AccountID, Jobs: n.Jobs, Mode: n.Mode, Reason: n.Reason,
			TokenID: n.TokenID, LinkTokenID: mint.LinkTokenID, ExpiresAt: mint.ExpiresAt, APIVersion: mint.APIVersion}, err)
	}
	return l, nil
}

// CreateOnOpen stores the validated link n as a launch link that mints its
// token when the end user opens it (Open), audited as a's; nothing reaches
// Pinwheel now, so a campaign can create thousands without a call. It lives
// for the configured link lifetime.
func (m *Minter) CreateOnOpen(ctx context.Context, a db.Actor, n db.NewLink) (db.Link, error) {
	return m.store.CreateLink(ctx, a, m.PrepareOnOpen(n), nil)
}

// PrepareOnOpen fills in what a mint-on-open link gets before it is stored
// (fresh ids, mode, API version, tags, the end of its life), for callers
// that store many at once in a transaction of their own (reconnect
// batches: db.AddReconnectLinks; campaign launches: CreateCampaignLinks).
func (m *Minter) PrepareOnOpen(n db.NewLink) db.NewLink {
	n = m.prepare(n, db.ModeMintOnOpen)
	n.LinkExpiresAt = m.store.Now().Add(m.lifetime)
	return n
}

// prepare fills in what every new link gets: fresh ids (unless set), the
// mode, the API version, and the tag that names our link at Pinwheel,
// beside the tags the link already carries (a campaign's).
func (m *Minter) prepare(n db.NewLink, mode string) db.NewLink {
	if n.TokenID == "" || n.LaunchID == "" {
		n.TokenID, n.LaunchID = db.NewLinkIDs()
	}
	n.Mode, n.APIVersion = mode, m.version
	tags := make(map[string]string, len(n.Tags)+1)
	for k, v := range n.Tags {
		tags[k] = v
	}
	tags["linkdesk_token_id"] = n.TokenID
	n.Tags = tags
	return n
}

// CreateCampaignLinks creates the launch links of a batch of a campaign's
// treatment members (db.NextLaunchBatch): one mint-on-open link each, with
// the campaign's jobs, deposit switch and tags, living the campaign's link
// lifetime, stored in one transaction by db.CreateCampaignLinks (a member
// that already has a link is skipped). Nothing reaches Pinwheel until a
// user opens a link. done reports that the launch should stop.
func (m *Minter) CreateCampaignLinks(ctx context.Context, b db.LaunchBatch) (done bool, err error) {
	c := b.Campaign
	jobs, alloc := c.LinkSettings()
	expires := m.store.Now().AddDate(0, 0, c.LifetimeDays)
	links := make([]db.NewLink, len(b.Members))
	ids := make([]int64, len(b.Members))
	for i, mem := range b.Members {
		n := m.PrepareOnOpen(db.NewLink{AccountID: mem.AccountID, EndUserID: mem.EndUserID, PlatformID: mem.PlatformID, Jobs: jobs,
			Allocation: alloc, Language: "en", Reason: c.LinkReason(), Tags: c.LinkTags(), CampaignID: c.ID})
		n.LinkExpiresAt = expires // the campaign's link lifetime, not the configured one
		links[i], ids[i] = n, mem.ID
	}
	return m.store.CreateCampaignLinks(ctx, b.Actor, c.ID, links, ids)
}

// Open gets a token for the live mint-on-open launch link l that needs one
// (l.NeedsMint), acting as a (the launch page's anonymous visitor). Only
// the caller that wins the link's claim in the database (db.ClaimMint)
// calls Pinwheel; concurrent callers, in this process or another, wait for
// it by reading the link again. It returns the link as it then is: with a
// token, or closed, or without a token when none can be had now (a failed
// or too early mint, a wait that ran out; RetryAfter says how long).
func (m *Minter) Open(ctx context.Context, a db.Actor, l db.Launch) (db.Launch, error) {
	id := l.Link.LaunchID
	var err error
	for waitUntil := time.Now().Add(openWait); l.State == db.LaunchLive && l.NeedsMint && l.RetryAfter == 0 && time.Now().Before(waitUntil); {
		if !l.Minting {
			if l, err = m.store.ClaimMint(ctx, a, id); err != nil {
				return l, err
			}
			if l.Claimed {
				return m.mintClaimed(ctx, a, l)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(openPoll):
		}
		if l, err = m.store.LaunchByID(ctx, id); err != nil {
			return l, err
		}
	}
	return l, nil
}

// mintClaimed mints the token of a link whose claim the caller won, and
// records the outcome, which releases the claim: the token (AddMint), a
// failure (audited, with a mint_failed launch event; the next attempt waits
// db.MintRetryDelay), or the closing of a link whose deposit account was
// archived (audited once; the link never tries again). It finishes even if
// ctx is cancelled, since other callers wait for it.
func (m *Minter) mintClaimed(ctx context.Context, a db.Actor, l db.Launch) (db.Launch, error) {
	ctx = context.WithoutCancel(ctx)
	lt := l.Link
	mint, err := m.call(ctx, settingsOf(lt), openMintTimeout)
	var up *UpstreamError
	switch {
	case errors.Is(err, ErrTargetArchived):
		if err := m.store.CloseLink(ctx, a, lt.TokenID, db.ClosedTargetArchived); err != nil {
			return l, err
		}
		l.State, l.NeedsMint, l.Link.ClosedReason = db.LaunchClosed, false, db.ClosedTargetArchived
		return l, nil
	case errors.As(err, &up):
		f := failure(up.Err)
		f.AccountID, f.Jobs, f.Mode, f.TokenID = lt.AccountID, lt.Jobs, lt.Mode, lt.TokenID
		payload, _ := json.Marshal(map[string]any{"kind": f.Kind, "status": f.Status, "code": f.Code})
		_, _ = m.store.RecordLaunchEvent(ctx, lt.LaunchID, db.EventMintFailed, payload)
		l.RetryAfter = db.MintRetryDelay
		return l, m.store.RecordMintFailure(ctx, a, f)
	case err != nil:
		return l, err
	}
	if err := m.store.AddMint(ctx, a, lt.TokenID, mint); err != nil {
		return l, m.unrecorded(ctx, a, db.UnrecordedMint{AccountID: lt.AccountID, Jobs: lt.Jobs, Mode: lt.Mode,
			TokenID: lt.TokenID, LinkTokenID: mint.LinkTokenID, ExpiresAt: mint.ExpiresAt, APIVersion: mint.APIVersion}, err)
	}
	l.Token, l.NeedsMint, l.Claimed = mint.Token, false, false
	return l, nil
}

// unrecorded handles a token Pinwheel minted that could not be stored
// (cause): it audits link_token.mint_unrecorded, best effort (the database
// that just failed may fail again), and returns the *UnrecordedError.
func (m *Minter) unrecorded(ctx context.Context, a db.Actor, u db.UnrecordedMint, cause error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	aerr := m.store.RecordUnrecordedMint(actx, a, u)
	return &UnrecordedError{LinkTokenID: u.LinkTokenID, Err: errors.Join(cause, aerr)}
}

// jobsFor expresses jobs in the given API version: 2023-11-22 takes
// required_jobs; 2025-07-08 takes features plus a solution, "Deposit
// Switch" when a switch is asked for and "Verify" for data jobs only.
func jobsFor(version string, jobs []string) (required, features []string, solution string) {
	if version != pinwheel.Version20250708 {
		return jobs, nil, ""
	}
	solution = pinwheel.SolutionVerify
	if slices.Contains(jobs, pinwheel.JobDDSwitch) {
		solution = pinwheel.SolutionDepositSwitch
	}
	return nil, jobs, solution
}
