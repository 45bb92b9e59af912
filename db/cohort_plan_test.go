package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/dbtest"
)

// TestCampaignQueriesUseTheirIndexes asserts on EXPLAIN QUERY PLAN that a
// cohort's count and sample read cohort_accounts through the index of its
// main filter and never the events, snapshots or accounts tables, and that
// the members list, the median and the account's campaigns read their
// indexes without sorting. Without ANALYZE statistics SQLite's plans do not
// depend on the data, so an empty database shows the plans of a seeded one.
func TestCampaignQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	noScan := func(t *testing.T, plan []string) string {
		t.Helper()
		joined := strings.Join(plan, "\n")
		for _, line := range plan {
			for _, table := range []string{"events", "data_snapshots", "accounts", "campaign_members", "link_tokens"} {
				if line == "SCAN "+table || strings.HasPrefix(line, "SCAN "+table+" ") {
					t.Errorf("plan scans %s:\n%s", table, joined)
				}
			}
			if line == "SCAN a" || line == "SCAN m" || strings.HasPrefix(line, "SCAN m ") {
				t.Errorf("plan scans a big table:\n%s", joined)
			}
		}
		return joined
	}
	// covering: the count reads index entries only.
	cohorts := []struct {
		name     string
		f        CohortFilter
		index    string
		covering bool
	}{
		{"no allocation to us", CohortFilter{Alloc: CohortAllocNone, ExcludeLive: true}, "cohort_accounts_alloc", true},
		{"less than $100", CohortFilter{Alloc: CohortAllocAmount, AllocBelowCents: 10000, ExcludeLive: true}, "cohort_accounts_alloc", true},
		{"less than 20%", CohortFilter{Alloc: CohortAllocPercent, AllocBelowPct: 20}, "cohort_accounts_alloc", true},
		{"the remainder", CohortFilter{Alloc: CohortAllocRemainder}, "cohort_accounts_alloc", true},
		{"below $100 on a platform, connected, active, quiet, unlinked", CohortFilter{Alloc: CohortAllocAmount, AllocBelowCents: 10000,
			Platform: "p1", Status: "active", Connected: "yes", SwitchOlderDays: 90, ExcludeLive: true, ExcludeLinkedDays: 30,
			Verdict: VerdictMatch, AddedFrom: now.AddDate(-1, 0, 0), AddedTo: now}, "cohort_accounts_", false},
		{"a platform", CohortFilter{Platform: "p1"}, "cohort_accounts_platform", true},
		{"a status", CohortFilter{Status: "degraded"}, "cohort_accounts_status", true},
		{"a supported platform", CohortFilter{Alloc: CohortAllocNone, Supports: true}, "cohort_accounts_", true},
		{"below 20% and active", CohortFilter{Alloc: CohortAllocPercent, AllocBelowPct: 20, Status: "active", ExcludeLive: true}, "cohort_accounts_", true},
		{"any allocation, no switch or link lately", CohortFilter{SwitchOlderDays: 30, ExcludeLinkedDays: 30, ExcludeLive: true}, "cohort_accounts_alloc", true},
	}
	for _, c := range cohorts {
		t.Run("cohort/"+c.name, func(t *testing.T) {
			where, args := cohortWhere(c.f, now, []string{"p1", "p2"})
			for i, q := range []string{cohortCountSQL(where), cohortSampleSQL(where)} {
				plan := noScan(t, explain(t, s, q, args...))
				if !strings.Contains(plan, c.index) {
					t.Errorf("plan does not use %s:\n%s", c.index, plan)
				}
				if i == 0 && c.covering && !strings.Contains(plan, "COVERING INDEX") {
					t.Errorf("the count reads rows:\n%s", plan)
				}
				if strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("plan sorts:\n%s", plan)
				}
			}
		})
	}
	// With no filter at all a count reads the smallest covering index.
	where, args := cohortWhere(CohortFilter{}, now, nil)
	if plan := noScan(t, explain(t, s, cohortCountSQL(where), args...)); !strings.Contains(plan, "COVERING INDEX") {
		t.Errorf("an unfiltered count does not read an index:\n%s", plan)
	}

	members := []struct {
		name  string
		f     MemberFilter
		index string
	}{
		{"all", MemberFilter{}, "campaign_members_campaign"},
		{"group", MemberFilter{Group: GroupHoldout}, "campaign_members_group"},
		{"stage", MemberFilter{Stage: MemberLinkOpened}, "campaign_members_stage"},
		{"group and stage", MemberFilter{Group: GroupTreatment, Stage: MemberSuccess}, "campaign_members_"},
		{"converted", MemberFilter{Stage: "converted"}, "campaign_members_result"},
		{"eligible", MemberFilter{Stage: LedgerEligible}, "campaign_members_ledger"},
	}
	for _, c := range members {
		t.Run("members/"+c.name, func(t *testing.T) {
			where, args := c.f.where(7)
			for _, dir := range []string{"DESC", "ASC"} {
				w := append(where, "m.id < ?")
				plan := noScan(t, explain(t, s, memberListSQL(w, dir), append(args, 1000, 50)...))
				if !strings.Contains(plan, c.index) || strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("plan does not walk %s in order:\n%s", c.index, plan)
				}
			}
		})
	}
	t.Run("median", func(t *testing.T) {
		const where = ` FROM campaign_members WHERE campaign_id = ? AND grp = ? AND result = 'up' AND delta_cents IS NOT NULL`
		plan := noScan(t, explain(t, s, `SELECT delta_cents`+where+` ORDER BY delta_cents LIMIT 2 OFFSET 10`, 7, GroupTreatment))
		if !strings.Contains(plan, "campaign_members_delta") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("median does not walk the delta index:\n%s", plan)
		}
	})
	t.Run("account campaigns", func(t *testing.T) {
		plan := noScan(t, explain(t, s, `SELECT c.id FROM accounts a JOIN campaign_members m ON m.account_ref = a.id JOIN campaigns c ON c.id = m.campaign_id
WHERE a.account_id = ? ORDER BY c.id DESC LIMIT 50`, "acct"))
		if !strings.Contains(plan, "campaign_members_account") {
			t.Errorf("plan:\n%s", plan)
		}
	})
	t.Run("launch batch", func(t *testing.T) {
		plan := noScan(t, explain(t, s, launchBatchSQL, 7, 100, 1000))
		if !strings.Contains(plan, "id>?") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("the launch batch does not start after the cursor:\n%s", plan)
		}
	})
	t.Run("tracking by link and account", func(t *testing.T) {
		for _, q := range []string{`SELECT ` + campaignMemberColumns + ` FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE m.link_ref = ?`,
			`SELECT ` + campaignMemberColumns + ` FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE m.account_ref = ? AND c.state IN ('live')`,
			sqlCampaignLink} {
			noScan(t, explain(t, s, q, 1))
		}
	})
}
