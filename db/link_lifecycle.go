package db

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Lifecycle stages of a link, in the order a link normally goes through
// them. A link's State is the stage that best describes it now.
const (
	// StageCreated: a mint_on_open link that has not minted a token yet.
	StageCreated = "created"
	// StageMinted: a Pinwheel token exists; nobody opened the page yet.
	StageMinted = "minted"
	// StagePageOpened: the launch page was viewed.
	StagePageOpened = "page_opened"
	// StageLinkOpened: Link reported "open".
	StageLinkOpened = "link_opened"
	// StageLoggedIn: the user is logged in to the payroll account (Link
	// "login", account.added / a status update for the token, or implied by
	// a job outcome: an On Demand Update on a healthy account needs no
	// login step at all).
	StageLoggedIn = "logged_in"
	// StageSuccess, StageError and StagePending: the job outcome.
	StageSuccess = "success"
	StageError   = "error"
	StagePending = "pending"
	// StageExited: the user closed Link before any outcome.
	StageExited = "exited"
	// StageExpired: the link expired before any outcome.
	StageExpired = "expired"
	// StageRevoked: staff revoked the link before any outcome.
	StageRevoked = "revoked"
)

// States lists every state a link can be in, for filters.
var States = []string{StageCreated, StageMinted, StagePageOpened, StageLinkOpened, StageLoggedIn,
	StageSuccess, StageError, StagePending, StageExited, StageExpired, StageRevoked}

// Launch states: may the launch page open Link?
const (
	LaunchLive    = "live"
	LaunchExpired = "expired"
	LaunchUsed    = "used"
	LaunchRevoked = "revoked"
	// LaunchClosed: Linkdesk closed the link itself (Link.ClosedReason).
	LaunchClosed = "closed"
)

// WebhookFact is one webhook event about one of a link's Pinwheel tokens.
// Job and Outcome are set for job events (identity.added, ...).
type WebhookFact struct {
	Event       string
	Job         string
	Outcome     string
	ErrorType   string
	ErrorCode   string
	LinkTokenID string
	// At is the event's own time (occurred_at), ReceivedAt when it arrived.
	At         time.Time
	ReceivedAt time.Time
}

// LifecycleStep is one stage a link reached.
type LifecycleStep struct {
	Stage  string
	At     time.Time
	Detail string
}

// JobResult is the latest outcome of one requested job, from webhooks.
type JobResult struct {
	Job       string
	Outcome   string // "" until a webhook reports it
	At        time.Time
	ErrorType string
	ErrorCode string
}

// Lifecycle is a link's progress, computed by ComputeLifecycle.
type Lifecycle struct {
	// State is the stage that describes the link now.
	State string
	// Steps are the stages reached, in time order, terminal ones last.
	Steps []LifecycleStep
	// Jobs has one entry per requested job.
	Jobs []JobResult
	// Outcome is success, error, pending or "".
	Outcome string
	// OutcomeSource is "webhook" or "link" (Link reported it, no webhook
	// yet).
	OutcomeSource string
	// Used is set once the user's part is done: Link reported success, or
	// the jobs succeeded or are pending at Pinwheel. Pinwheel tokens are
	// single-use, and a link that did its job is not opened again.
	Used bool
	// Launch is LaunchLive, LaunchUsed, LaunchExpired, LaunchRevoked or
	// LaunchClosed.
	Launch string
}

// Reached returns the step of a stage, if reached.
func (l Lifecycle) Reached(stage string) (LifecycleStep, bool) {
	for _, s := range l.Steps {
		if s.Stage == stage {
			return s, true
		}
	}
	return LifecycleStep{}, false
}

// ComputeLifecycle derives a link's lifecycle from its row, its launch
// events (oldest first) and the webhooks of its tokens. It is pure: the
// /tokens list, the account page and the launch page all use it, so they
// never disagree.
//
// The outcome comes from webhooks when any reported a requested job: an
// error in any job wins, then pending; success needs every requested job to
// have succeeded (some succeeded and the rest not reported yet is pending).
// Without webhooks, Link's own "success" event counts as success and an
// "error" with pendingRetry as pending; other Link errors are not outcomes,
// since the user may retry (a wrong password fires one too).
func ComputeLifecycle(t Link, events []LaunchEvent, hooks []WebhookFact, now time.Time) Lifecycle {
	var lc Lifecycle
	var steps []LifecycleStep
	first := map[string]time.Time{}
	mark := func(stage string, at time.Time, detail string) {
		if _, ok := first[stage]; ok {
			return
		}
		first[stage] = at
		steps = append(steps, LifecycleStep{Stage: stage, At: at, Detail: detail})
	}

	if t.Mode == ModeMintOnOpen {
		mark(StageCreated, t.CreatedAt, "link created; a token is minted when the user opens it")
	}
	if t.Mints > 0 {
		detail := "token minted"
		if t.Mode == ModeMintOnOpen {
			detail = "token minted on open"
			if t.Mints > 1 {
				detail = "token minted on open (" + strconv.Itoa(t.Mints) + " tokens in all)"
			}
		}
		mark(StageMinted, firstNonZero(t.FirstMintedAt, t.CreatedAt), detail)
	}

	var lastOpen, lastExit, linkSuccess, linkPending time.Time
	var successJob string
	for _, e := range events {
		switch e.Name {
		case EventPageOpened:
			mark(StagePageOpened, e.At, "")
		case LinkEventOpen:
			mark(StageLinkOpened, e.At, "")
			lastOpen = e.At
		case LinkEventLogin:
			mark(StageLoggedIn, e.At, "logged in to the payroll account")
		case LinkEventSuccess:
			if linkSuccess.IsZero() {
				linkSuccess, successJob = e.At, e.Str("job")
			}
		case LinkEventError:
			var p struct {
				PendingRetry bool `json:"pendingRetry"`
			}
			if json.Unmarshal(e.Payload, &p) == nil && p.PendingRetry && linkPending.IsZero() {
				linkPending = e.At
			}
		case LinkEventExit:
			lastExit = e.At
		}
	}

	// Webhooks: logins and the latest outcome per requested job.
	latest := map[string]WebhookFact{}
	for _, h := range hooks {
		switch {
		case h.Event == pinwheel.EventAccountAdded:
			mark(StageLoggedIn, h.At, "account.added")
		case h.Event == pinwheel.EventMonitoringStatusUpdated:
			mark(StageLoggedIn, h.At, "logged in again (monitoring status updated)")
		case h.Job != "" && h.Outcome != "" && t.HasJob(h.Job):
			if cur, ok := latest[h.Job]; !ok || !h.At.Before(cur.At) {
				latest[h.Job] = h
			}
		}
	}
	var errAt, pendAt, succAt time.Time
	var waiting []string
	for _, j := range t.Jobs {
		h, ok := latest[j]
		r := JobResult{Job: j}
		if ok {
			r = JobResult{Job: j, Outcome: h.Outcome, At: h.At, ErrorType: h.ErrorType, ErrorCode: h.ErrorCode}
		}
		lc.Jobs = append(lc.Jobs, r)
		switch r.Outcome {
		case pinwheel.OutcomeError:
			errAt = laterOf(errAt, r.At)
		case pinwheel.OutcomePending:
			pendAt = laterOf(pendAt, r.At)
		case pinwheel.OutcomeSuccess:
			succAt = laterOf(succAt, r.At)
		default:
			waiting = append(waiting, j)
		}
	}

	var outcomeAt time.Time
	var outcomeDetail string
	switch {
	case !errAt.IsZero():
		lc.Outcome, lc.OutcomeSource, outcomeAt = StageError, "webhook", errAt
		outcomeDetail = "job failed: " + failedJobs(lc.Jobs)
	case !pendAt.IsZero():
		lc.Outcome, lc.OutcomeSource, outcomeAt = StagePending, "webhook", pendAt
		outcomeDetail = "Pinwheel is still working on it"
	case !succAt.IsZero() && len(waiting) == 0:
		lc.Outcome, lc.OutcomeSource, outcomeAt = StageSuccess, "webhook", succAt
		outcomeDetail = "every requested job succeeded"
	case !succAt.IsZero():
		lc.Outcome, lc.OutcomeSource, outcomeAt = StagePending, "webhook", succAt
		outcomeDetail = "waiting for " + strings.Join(waiting, ", ")
	case !linkSuccess.IsZero():
		lc.Outcome, lc.OutcomeSource, outcomeAt = StageSuccess, "link", linkSuccess
		outcomeDetail = "Link reported success; the webhook has not arrived yet"
		if successJob != "" {
			outcomeDetail = "Link reported success (" + successJob + "); the webhook has not arrived yet"
		}
	case !linkPending.IsZero():
		lc.Outcome, lc.OutcomeSource, outcomeAt = StagePending, "link", linkPending
		outcomeDetail = "Link says Pinwheel will retry and report by webhook"
	}
	if lc.Outcome != "" {
		mark(StageLoggedIn, outcomeAt, "no login step needed: the account was still connected")
	}
	slices.SortStableFunc(steps, func(a, b LifecycleStep) int { return a.At.Compare(b.At) })

	expired := !now.Before(t.LinkExpiresAt)
	exited := !lastExit.IsZero() && !lastExit.Before(lastOpen)
	switch {
	case lc.Outcome != "":
		lc.State = lc.Outcome
		steps = append(steps, LifecycleStep{Stage: lc.Outcome, At: outcomeAt, Detail: outcomeDetail})
	case t.Revoked():
		lc.State = StageRevoked
	case t.Closed():
		// Closed by Linkdesk: it can no longer be used, like an expired link.
		lc.State = StageExpired
		steps = append(steps, LifecycleStep{Stage: StageExpired, At: t.ClosedAt, Detail: closedDetail(t.ClosedReason)})
	case exited:
		lc.State = StageExited
		steps = append(steps, LifecycleStep{Stage: StageExited, At: lastExit, Detail: "the user closed Link before finishing"})
	case expired:
		lc.State = StageExpired
		detail := "expired unused"
		if _, opened := first[StagePageOpened]; opened {
			detail = "expired before finishing"
		}
		steps = append(steps, LifecycleStep{Stage: StageExpired, At: t.LinkExpiresAt, Detail: detail})
	default:
		lc.State = lastStage(first)
	}
	if t.Revoked() {
		steps = append(steps, LifecycleStep{Stage: StageRevoked, At: t.RevokedAt, Detail: "revoked by staff"})
	}
	lc.Steps = steps

	lc.Used = lc.Outcome == StageSuccess || lc.Outcome == StagePending || !linkSuccess.IsZero()
	switch {
	case t.Revoked():
		lc.Launch = LaunchRevoked
	case lc.Used:
		lc.Launch = LaunchUsed
	case t.Closed():
		lc.Launch = LaunchClosed
	case expired:
		lc.Launch = LaunchExpired
	default:
		lc.Launch = LaunchLive
	}
	return lc
}

// closedDetail says why Linkdesk closed a link.
func closedDetail(reason string) string {
	switch reason {
	case ClosedTargetArchived:
		return "closed: its deposit account was archived, so it cannot mint a token"
	case ClosedMintBudget:
		return "closed: it made " + strconv.Itoa(MaxMintsPerLink) + " mint attempts, the most one link may"
	}
	return "closed: " + reason
}

// lastStage is the furthest non-terminal stage reached.
func lastStage(first map[string]time.Time) string {
	for _, s := range []string{StageLoggedIn, StageLinkOpened, StagePageOpened, StageMinted} {
		if _, ok := first[s]; ok {
			return s
		}
	}
	return StageCreated
}

func failedJobs(jobs []JobResult) string {
	var out []string
	for _, j := range jobs {
		if j.Outcome == pinwheel.OutcomeError {
			s := j.Job
			if j.ErrorCode != "" {
				s += " (" + j.ErrorCode + ")"
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// lifecycleNames are the launch events the lifecycle reads; lists load only
// these.
var lifecycleNames = []string{EventPageOpened, EventMintFailed, LinkEventOpen, LinkEventLogin, LinkEventSuccess, LinkEventError, LinkEventExit}

// lifecycleInputs loads the launch events and the webhook facts of links,
// keyed by link id. With onlyLifecycle, only the events the lifecycle reads
// are loaded.
func (s *Store) lifecycleInputs(ctx context.Context, q readQuerier, links []Link, onlyLifecycle bool) (map[int64][]LaunchEvent, map[int64][]WebhookFact, error) {
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
	rows, err = q.QueryContext(ctx, `SELECT m.link_ref, p.link_token_id, e.event, COALESCE(e.outcome, ''),
		COALESCE(e.occurred_at, e.received_at), e.received_at,
		COALESCE(`+s.d.jsonText("e.body", "$.payload.name")+`, ''),
		COALESCE(`+s.d.jsonText("e.body", "$.payload.error_type")+`, ''),
		COALESCE(`+s.d.jsonText("e.body", "$.payload.error_code")+`, '')
		FROM link_token_mints m
		JOIN link_tokens_seen p ON p.link_token_id = m.link_token_id
		JOIN events e ON e.link_token_ref = p.id
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
