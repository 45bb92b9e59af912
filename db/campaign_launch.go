package db

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A campaign's launch, the work of the JobCampaignLaunch job
// (worker.CampaignLaunches): first the cohort is frozen into members in
// one transaction (FreezeCampaign: every member with its group and
// baseline), then launch links are created for the treatment members in
// batches (NextLaunchBatch, then odu's CreateCampaignLinks, which calls
// CreateCampaignLinks here), each batch one transaction that gives each
// member still without a link exactly one. A restart resumes with the
// members still without a link; pausing or cancelling stops it between two
// batches.

// HoldoutBucket is an account's place in a campaign's split: the first 53
// bits of HMAC-SHA256(salt, account_id) as a number in [0, 1), uniform and
// fixed for a salt. A member is in the holdout when it is below the
// holdout share.
func HoldoutBucket(salt, accountID string) float64 {
	mac := hmac.New(sha256.New, []byte(salt))
	mac.Write([]byte(accountID))
	return float64(binary.BigEndian.Uint64(mac.Sum(nil))>>11) / (1 << 53)
}

// freezeChunk is how many members one pass of the split reads.
const freezeChunk = 5000

// FreezeCampaign freezes a launching campaign's cohort, once: every
// account the filter matches now becomes a member, in the holdout or the
// treatment group by HoldoutBucket, with its baseline (the allocation
// projection of its latest snapshot, judged when younger than
// BaselineMaxAge for an allocation campaign). All in one transaction, so a
// crash leaves either no member or all of them. A cohort that came out
// empty cancels the campaign with a note. Nothing happens for a campaign
// already frozen or not launching.
func (s *Store) FreezeCampaign(ctx context.Context, id int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		if !c.FrozenAt.IsZero() || c.State != CampaignLaunching {
			return nil
		}
		now := s.now().UTC()
		a, err := s.launcher(ctx, tx, c)
		if err != nil {
			return err
		}
		sup, err := supportingPlatforms(ctx, tx, GoalJob(c.Goal))
		if err != nil {
			return err
		}
		where, args := cohortWhere(c.Cohort, now, sup)
		fresh := "1"
		var freshArgs []any
		if c.Goal == GoalAllocation {
			fresh = "CASE WHEN c.alloc <> 'unknown' AND c.alloc_at >= ? THEN 1 ELSE 0 END"
			freshArgs = []any{FormatTime(now.Add(-BaselineMaxAge))}
		}
		ins := `INSERT INTO campaign_members (campaign_id, account_ref, account_id, end_user_id, platform_id, grp, bucket, frozen_at,
  base_snapshot_ref, base_alloc, base_cents, base_pct, base_est_cents, base_at, base_fresh, stage)
SELECT ?, c.account_ref, a.account_id, COALESCE(u.end_user_id, ''), c.platform_id, 'treatment', 0, ?,
  c.alloc_snapshot_ref, c.alloc, c.alloc_cents, c.alloc_pct, c.alloc_est_cents, c.alloc_at, ` + fresh + `, 'waiting'
FROM cohort_accounts c JOIN accounts a ON a.id = c.account_ref LEFT JOIN end_users u ON u.id = a.end_user_ref
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY c.account_ref`
		all := append(append([]any{id, FormatTime(now)}, freshArgs...), args...)
		res, err := tx.ExecContext(ctx, ins, all...)
		if err != nil {
			return fmt.Errorf("members: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'cancelled', ended_at = ?, frozen_at = ?, note = ? WHERE id = ?`,
				FormatTime(now), FormatTime(now), "The cohort was empty when the launch froze it: nothing was sent.", id); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, a, ActionCampaignCancelled, "campaign", strconv.FormatInt(id, 10),
				map[string]any{"name": c.Name, "reason": "empty cohort at launch"})
		}
		if err := s.split(ctx, tx, id, c.salt, c.HoldoutPct); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_counts (campaign_id, grp, name, n)
SELECT ?, grp, 'members', COUNT(*) FROM campaign_members WHERE campaign_id = ? GROUP BY grp`, id, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_counts (campaign_id, grp, name, n)
SELECT ?, grp, 'judged', SUM(base_fresh) FROM campaign_members WHERE campaign_id = ? GROUP BY grp`, id, id); err != nil {
			return err
		}
		var treat, hold int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN grp = 'treatment' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN grp = 'holdout' THEN 1 ELSE 0 END), 0) FROM campaign_members WHERE campaign_id = ?`, id).Scan(&treat, &hold); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET frozen_at = ?, members = ?, treatment = ?, holdout = ? WHERE id = ?`,
			FormatTime(now), n, treat, hold, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cohort_accounts SET live_campaigns = live_campaigns + 1
WHERE account_ref IN (SELECT account_ref FROM campaign_members WHERE campaign_id = ?)`, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignFrozen, "campaign", strconv.FormatInt(id, 10),
			map[string]any{"name": c.Name, "members": n, "treatment": treat, "holdout": hold, "cohort": c.CohortQuery})
	})
	return campaignErr("freeze", id, err)
}

// split assigns the members of campaign id to their groups.
func (s *Store) split(ctx context.Context, tx *sql.Tx, id int64, salt string, holdoutPct float64) error {
	// A treatment member keeps the group and stage it was inserted with:
	// only its bucket changes, which no index holds.
	treat, err := tx.PrepareContext(ctx, `UPDATE campaign_members SET bucket = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer treat.Close()
	hold, err := tx.PrepareContext(ctx, `UPDATE campaign_members SET bucket = ?, grp = 'holdout', stage = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer hold.Close()
	share := holdoutPct / 100
	type row struct {
		id      int64
		account string
	}
	for after := int64(0); ; {
		rows, err := tx.QueryContext(ctx, `SELECT id, account_id FROM campaign_members WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?`,
			id, after, freezeChunk)
		if err != nil {
			return err
		}
		var chunk []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.account); err != nil {
				rows.Close()
				return err
			}
			chunk = append(chunk, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range chunk {
			b := HoldoutBucket(salt, r.account)
			if b < share {
				_, err = hold.ExecContext(ctx, b, MemberHoldout, r.id)
			} else {
				_, err = treat.ExecContext(ctx, b, r.id)
			}
			if err != nil {
				return err
			}
		}
		if len(chunk) < freezeChunk {
			return nil
		}
		after = chunk[len(chunk)-1].id
	}
}

// launcher is the actor of a launch's own steps: the staff member who
// launched, acting through the job.
func (s *Store) launcher(ctx context.Context, q readQuerier, c Campaign) (Actor, error) {
	a := Actor{StaffID: c.LaunchedBy, UserAgent: "campaign launch job"}
	if c.LaunchedBy == 0 {
		return a, nil
	}
	err := q.QueryRowContext(ctx, `SELECT email FROM staff WHERE id = ?`, c.LaunchedBy).Scan(&a.Email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return a, err
	}
	return a, nil
}

// LaunchMember is a treatment member still without a launch link.
type LaunchMember struct {
	ID                               int64
	AccountID, EndUserID, PlatformID string
}

// LaunchBatch is the next batch of a launch.
type LaunchBatch struct {
	Campaign Campaign
	// Actor is the staff member who launched, acting through the job.
	Actor   Actor
	Members []LaunchMember
	// Stop: the campaign is not launching (paused, cancelled, done) or has
	// no member left without a link.
	Stop bool
}

// NextLaunchBatch reads up to n treatment members of a launching campaign
// that have no launch link yet, oldest first, after the member id after
// (the last of the previous batch, 0 at first: the walk of the members
// then starts where the last batch ended rather than at the first member).
func (s *Store) NextLaunchBatch(ctx context.Context, id, after int64, n int) (LaunchBatch, error) {
	var b LaunchBatch
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		if b.Campaign, err = s.campaign(ctx, tx, id); err != nil {
			return err
		}
		if b.Campaign.State != CampaignLaunching || b.Campaign.FrozenAt.IsZero() {
			b.Stop = true
			return nil
		}
		if b.Actor, err = s.launcher(ctx, tx, b.Campaign); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, launchBatchSQL, id, after, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m LaunchMember
			if err := rows.Scan(&m.ID, &m.AccountID, &m.EndUserID, &m.PlatformID); err != nil {
				return err
			}
			b.Members = append(b.Members, m)
		}
		return rows.Err()
	})
	if err != nil {
		return LaunchBatch{}, campaignErr("read the launch of", id, err)
	}
	return b, nil
}

// launchBatchSQL reads the next treatment members without a link.
const launchBatchSQL = `SELECT id, account_id, end_user_id, platform_id FROM campaign_members
WHERE campaign_id = ? AND grp = 'treatment' AND link_ref IS NULL AND id > ? ORDER BY id LIMIT ?`

// LinkSettings are the jobs and the deposit switch of the campaign's
// launch links.
func (c Campaign) LinkSettings() ([]string, *LinkAllocation) {
	jobs := goalJobs(c.Goal)
	if c.Goal != GoalAllocation {
		return jobs, nil
	}
	d := c.DepositAccount
	a := &LinkAllocation{Targets: []LinkTarget{{DepositAccountID: d.ID, Name: d.Name, Type: d.Type, RoutingNumber: d.RoutingNumber, Last4: d.Last4}}}
	switch c.Ask {
	case AskAmount:
		a.Type, a.AmountCents = "amount", c.AskCents
	case AskMinimum:
		a.MinAmountCents = c.AskCents
	}
	return jobs, a
}

// LinkTags are the tags a campaign's links send to Pinwheel, beside the
// link's own linkdesk_token_id: the campaign's tags and its id.
func (c Campaign) LinkTags() map[string]string {
	t := make(map[string]string, len(c.Tags)+1)
	for k, v := range c.Tags {
		t[k] = v
	}
	t["linkdesk_campaign_id"] = strconv.FormatInt(c.ID, 10)
	return t
}

// LinkReason is the reason a campaign's links record.
func (c Campaign) LinkReason() string {
	return "Campaign " + strconv.FormatInt(c.ID, 10) + ": " + c.Name
}

// CreateCampaignLinks stores a batch of a campaign's mint-on-open launch
// links, links[i] for the member memberIDs[i], in one transaction: a
// member that already has a link (a batch run twice) is skipped, so every
// treatment member gets exactly one. It is audited once per batch. When no
// member is left without a link the launch is finished and the campaign
// live. done reports that the launch should stop (finished, or the
// campaign is no longer launching).
func (s *Store) CreateCampaignLinks(ctx context.Context, a Actor, id int64, links []NewLink, memberIDs []int64) (done bool, err error) {
	if len(links) != len(memberIDs) {
		return false, fmt.Errorf("db: create campaign links: %d links for %d members", len(links), len(memberIDs))
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM campaigns WHERE id = ?`, id).Scan(&state); err != nil {
			return notFound(err)
		}
		if state != CampaignLaunching {
			done = true
			return nil
		}
		now := s.now().UTC()
		at := FormatTime(now)
		pending, err := pendingMembers(ctx, tx, id, memberIDs)
		if err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, sqlLinkInsert)
		if err != nil {
			return err
		}
		defer ins.Close()
		upd, err := tx.PrepareContext(ctx, `UPDATE campaign_members SET link_ref = ?, stage = 'link_created', link_created_at = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		var created int64
		for i, in := range links {
			if !pending[memberIDs[i]] {
				continue
			}
			if in.Mode != ModeMintOnOpen || in.CampaignID != id {
				return fmt.Errorf("campaign link of member %d: mode %q, campaign %d", memberIDs[i], in.Mode, in.CampaignID)
			}
			if err := checkNewLink(a, in, nil); err != nil {
				return fmt.Errorf("campaign link of member %d: %w", memberIDs[i], err)
			}
			var ref int64
			err := ins.QueryRowContext(ctx, linkInsertArgs(a, in, now, in.LinkExpiresAt)...).Scan(&ref)
			if err != nil {
				if s.d.isUnique(err) {
					return ErrConflict
				}
				return err
			}
			if _, err := upd.ExecContext(ctx, ref, at, memberIDs[i]); err != nil {
				return err
			}
			created++
		}
		if created > 0 {
			if err := bumpCount(ctx, tx, id, GroupTreatment, countLinkCreated, created); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET links_created = links_created + ? WHERE id = ?`, created, id); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, a, ActionCampaignLinksCreated, "campaign", strconv.FormatInt(id, 10), map[string]any{
				"links": created, "first_member": memberIDs[0], "last_member": memberIDs[len(memberIDs)-1]}); err != nil {
				return err
			}
		}
		var left bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM campaign_members WHERE campaign_id = ? AND grp = 'treatment' AND link_ref IS NULL)`,
			id).Scan(&left); err != nil {
			return err
		}
		if left {
			return nil
		}
		done = true
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'live', launch_done_at = ? WHERE id = ?`, at, id); err != nil {
			return err
		}
		var links int64
		if err := tx.QueryRowContext(ctx, `SELECT links_created FROM campaigns WHERE id = ?`, id).Scan(&links); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignLaunchDone, "campaign", strconv.FormatInt(id, 10), map[string]any{"links": links})
	})
	if err != nil {
		return false, campaignErr("create links of", id, err)
	}
	return done, nil
}

// pendingMembers returns which of the members ids are treatment members
// of campaign id still without a link, in one query.
func pendingMembers(ctx context.Context, tx *sql.Tx, id int64, ids []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, id)
		for _, m := range chunk {
			args = append(args, m)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM campaign_members WHERE campaign_id = ? AND grp = 'treatment' AND link_ref IS NULL
  AND id IN (`+sqlParams(len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m int64
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return nil, err
			}
			out[m] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LaunchProgress is what the launch's live progress shows.
type LaunchProgress struct {
	State        string
	Frozen       bool
	Treatment    int64
	LinksCreated int64
	Note         string
	At           time.Time
}

// Key identifies a progress state: the live stream sends a new fragment
// only when it changes.
func (p LaunchProgress) Key() string {
	return p.State + "." + strconv.FormatBool(p.Frozen) + "." + strconv.FormatInt(p.LinksCreated, 10)
}

// Share is the part done, 0 to 1.
func (p LaunchProgress) Share() float64 {
	if p.Treatment == 0 {
		return 0
	}
	return float64(p.LinksCreated) / float64(p.Treatment)
}

// CampaignProgress reads a campaign's launch progress (one row by key).
func (s *Store) CampaignProgress(ctx context.Context, id int64) (LaunchProgress, error) {
	var p LaunchProgress
	var frozen string
	err := s.r.QueryRowContext(ctx, `SELECT state, COALESCE(frozen_at, ''), treatment, links_created, note FROM campaigns WHERE id = ?`, id).
		Scan(&p.State, &frozen, &p.Treatment, &p.LinksCreated, &p.Note)
	if err != nil {
		return LaunchProgress{}, fmt.Errorf("db: campaign %d progress: %w", id, notFound(err))
	}
	p.Frozen, p.At = frozen != "", s.now().UTC()
	return p, nil
}
