package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Source is the part of the Pinwheel client the data fetches read from;
// *pinwheel.Client implements it.
type Source interface {
	Identity(ctx context.Context, accountID string) (pinwheel.Identity, pinwheel.Meta, error)
	Employment(ctx context.Context, accountID string) (pinwheel.Employment, pinwheel.Meta, error)
	Income(ctx context.Context, accountID string) (pinwheel.Income, pinwheel.Meta, error)
	DirectDepositAllocations(ctx context.Context, accountID string) (pinwheel.DDAllocations, pinwheel.Meta, error)
	Account(ctx context.Context, accountID string) (pinwheel.Account, error)
	PaystubPages(ctx context.Context, accountID string, f pinwheel.PaystubsFilter) iter.Seq2[pinwheel.RawPage, error]
	PaystubRaw(ctx context.Context, accountID, paystubID string) (json.RawMessage, error)
	ShiftPages(ctx context.Context, accountID string, f pinwheel.ShiftsFilter) iter.Seq2[pinwheel.RawPage, error]
}

// PayPlans says what a paystubs or shifts fetch must read (what changed
// since the last one); *db.Store implements it.
type PayPlans interface {
	PayFetchPlan(ctx context.Context, accountID, kind string) (db.PayFetchPlan, error)
}

// Fetches is the pool of data fetches: after webhook events, it reads the
// data behind them (identity, employment, income, deposit allocations, the
// account and its monitoring status) through src and stores a snapshot of
// each (db.SnapshotFetched), keeping the history Pinwheel itself does not
// keep; paystubs and shifts it pages through as plans says (only what
// changed) and stores each item once (db.PayItemsFetched). The kinds share
// one concurrency and one rate cap, because they share Pinwheel's API quota
// (Pinwheel bills and rate-limits calls): at most 2 at a time on each
// instance and 20 starts per second on all instances together (the pace
// "fetches") unless the caller changes the returned Pool. A page Pinwheel
// answers with 429 is retried by the client after its Retry-After.
func Fetches(src Source, plans PayPlans) Pool {
	return Pool{
		Kinds:       db.FetchJobKinds,
		Handle:      func(ctx context.Context, j db.Job) (db.JobEffect, error) { return fetch(ctx, src, plans, j) },
		Concurrency: 2,
		Rate:        20,
		Pace:        "fetches",
	}
}

// fetch calls the endpoint of a fetch job and returns its data as the
// snapshot to store. A request Pinwheel refused as invalid will not succeed
// later; anything else (5xx, 429, transport, not found yet, unauthorized
// while the secret is fixed) may, so it is retried.
func fetch(ctx context.Context, src Source, plans PayPlans, j db.Job) (db.JobEffect, error) {
	f, ok := db.ReadFetchJob(j)
	if !ok {
		return nil, Permanent(fmt.Errorf("worker: job %d (%s) is not a readable fetch", j.ID, j.Kind))
	}
	if f.Data == db.FetchPaystubs || f.Data == db.FetchShifts {
		eff, err := fetchPay(ctx, src, plans, f)
		if pinwheel.IsInvalidRequest(err) || errors.Is(err, db.ErrNotFound) {
			return nil, Permanent(err)
		}
		return eff, err
	}
	var data any
	var meta pinwheel.Meta
	var err error
	switch f.Data {
	case db.FetchIdentity:
		data, meta, err = src.Identity(ctx, f.AccountID)
	case db.FetchEmployment:
		data, meta, err = src.Employment(ctx, f.AccountID)
	case db.FetchIncome:
		data, meta, err = src.Income(ctx, f.AccountID)
	case db.FetchDDAllocations:
		data, meta, err = src.DirectDepositAllocations(ctx, f.AccountID)
	case db.FetchAccount:
		data, err = src.Account(ctx, f.AccountID)
	default:
		return nil, Permanent(fmt.Errorf("worker: unknown fetch %q", f.Data))
	}
	if pinwheel.IsInvalidRequest(err) {
		return nil, Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, Permanent(err)
	}
	snap := db.SnapshotFetched{Body: body}
	if meta.RefreshedAt != nil {
		snap.RefreshedAt = meta.RefreshedAt.Time
	}
	return snap, nil
}

// Paging of pay data.
const (
	// payPageLimit is the page size asked for: Pinwheel's largest.
	payPageLimit = 100
	// maxOneByOne is how many announced paystubs a fetch reads one by one
	// (GET /paystubs/{id}) when no listing brought them; beyond it the
	// fetch lists the whole history instead.
	maxOneByOne = 25
	// maxPayItems bounds what one fetch holds in memory; an account with
	// more items than this is read in several fetches' worth of history.
	maxPayItems = 50_000
)

// errTooManyItems stops a listing that would hold more than maxPayItems.
var errTooManyItems = errors.New("worker: more pay items than one fetch may hold")

// fetchPay reads what changed of an account's paystubs or shifts, as the
// account's plan says: the whole history (once, after the first sync), the
// pay dates a paystubs.added named, and the ids announced but not stored.
// Shifts carry no dates in their webhooks, so they are read newest first
// until every announced id has come. Announced paystubs no listing brought
// are read one by one; ids Pinwheel does not return are reported missing.
func fetchPay(ctx context.Context, src Source, plans PayPlans, f db.FetchJob) (db.JobEffect, error) {
	plan, err := plans.PayFetchPlan(ctx, f.AccountID, f.Data)
	if err != nil {
		return nil, err
	}
	res := db.PayItemsFetched{Plan: plan}
	if plan.Empty() {
		return res, nil
	}
	want := map[string]bool{}
	for _, id := range plan.Pending {
		want[id] = true
	}
	take := func(page pinwheel.RawPage) error {
		if t := page.Meta.RefreshedAt; t != nil && t.After(res.RefreshedAt) {
			res.RefreshedAt = t.Time
		}
		for _, raw := range page.Items {
			var head struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(raw, &head) == nil {
				delete(want, head.ID)
			}
			res.Items = append(res.Items, raw)
		}
		if len(res.Items) > maxPayItems {
			return errTooManyItems
		}
		return nil
	}

	switch f.Data {
	case db.FetchPaystubs:
		filter := pinwheel.PaystubsFilter{Limit: payPageLimit}
		list := true
		switch {
		case plan.Full || (plan.From == "" && len(want) > maxOneByOne):
			res.Covered = db.PayCoverage{All: true}
		case plan.From != "":
			filter.From, filter.To = plan.From, plan.To
			res.Covered = db.PayCoverage{From: plan.From, To: plan.To}
		default:
			list = false
		}
		if list {
			for page, err := range src.PaystubPages(ctx, f.AccountID, filter) {
				if err != nil {
					return nil, err
				}
				if err := take(page); err != nil {
					return nil, err
				}
			}
		}
		ids := make([]string, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			raw, err := src.PaystubRaw(ctx, f.AccountID, id)
			switch {
			case pinwheel.IsNotFound(err):
				res.Missing = append(res.Missing, id)
			case err != nil:
				return nil, err
			default:
				res.Items = append(res.Items, raw)
			}
		}
	case db.FetchShifts:
		res.Covered = db.PayCoverage{All: true}
		oldest := ""
		for page, err := range src.ShiftPages(ctx, f.AccountID, pinwheel.ShiftsFilter{Limit: payPageLimit}) {
			if err != nil {
				return nil, err
			}
			if err := take(page); err != nil {
				return nil, err
			}
			for _, raw := range page.Items {
				var s struct {
					EndDate string `json:"end_date"`
				}
				if json.Unmarshal(raw, &s) == nil && s.EndDate != "" && (oldest == "" || s.EndDate < oldest) {
					oldest = s.EndDate
				}
			}
			if !plan.Full && len(want) == 0 && page.Meta.NextCursor != nil {
				// Everything announced has come: the older pages are
				// known already. Only the dates read are covered.
				res.Covered = db.PayCoverage{From: oldest}
				break
			}
		}
		for id := range want {
			res.Missing = append(res.Missing, id)
		}
		slices.Sort(res.Missing)
	}
	return res, nil
}
