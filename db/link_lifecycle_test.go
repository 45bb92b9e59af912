package db_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"linkdesk/db"
)

func TestComputeLifecycle(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ev := func(m int, name, payload string) db.LaunchEvent {
		if payload == "" {
			payload = "{}"
		}
		return db.LaunchEvent{At: at(m), Name: name, Payload: json.RawMessage(payload)}
	}
	hook := func(m int, event, job, outcome string) db.WebhookFact {
		return db.WebhookFact{At: at(m), Event: event, Job: job, Outcome: outcome}
	}
	minted := db.Link{Mode: db.ModeMinted, Jobs: []string{"direct_deposit_switch"}, CreatedAt: t0, FirstMintedAt: t0, Mints: 1, LinkExpiresAt: at(60)}
	data := minted
	data.Jobs = []string{"identity", "income"}
	onOpen := db.Link{Mode: db.ModeMintOnOpen, Jobs: []string{"identity"}, CreatedAt: t0, LinkExpiresAt: at(7 * 24 * 60)}
	revoked := minted
	revoked.RevokedAt = at(5)

	for _, tc := range []struct {
		name    string
		link    db.Link
		events  []db.LaunchEvent
		hooks   []db.WebhookFact
		now     int
		state   string
		launch  string
		stages  []string
		outcome string
	}{
		{name: "just minted", link: minted, now: 1, state: db.StageMinted, launch: db.LaunchLive, stages: []string{"minted"}},
		{name: "mint on open, not opened", link: onOpen, now: 1, state: db.StageCreated, launch: db.LaunchLive, stages: []string{"created"}},
		{name: "page opened", link: minted, now: 3, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StagePageOpened, launch: db.LaunchLive, stages: []string{"minted", "page_opened"}},
		{name: "link opened", link: minted, now: 3, events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", "")},
			state: db.StageLinkOpened, launch: db.LaunchLive, stages: []string{"minted", "page_opened", "link_opened"}},
		{name: "logged in", link: minted, now: 4, events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", ""), ev(3, "login", `{"accountId":"a"}`)},
			state: db.StageLoggedIn, launch: db.LaunchLive, stages: []string{"minted", "page_opened", "link_opened", "logged_in"}},
		{name: "success from Link only", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", ""), ev(4, "success", `{"job":"direct_deposit_switch"}`)},
			state:  db.StageSuccess, launch: db.LaunchUsed, outcome: "link",
			stages: []string{"minted", "page_opened", "link_opened", "logged_in", "success"}},
		{name: "success from webhook, silent On Demand Update", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", "")},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "success")},
			state:  db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook",
			stages: []string{"minted", "page_opened", "link_opened", "logged_in", "success"}},
		{name: "webhook error beats Link success", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "open", ""), ev(4, "success", "")},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "error")},
			state:  db.StageError, launch: db.LaunchUsed, outcome: "webhook",
			stages: []string{"minted", "link_opened", "logged_in", "error"}},
		{name: "job error leaves the link live", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "error", `{"type":"platformError","pendingRetry":false}`)},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "error")},
			state:  db.StageError, launch: db.LaunchLive, outcome: "webhook",
			stages: []string{"minted", "link_opened", "logged_in", "error"}},
		{name: "pending webhook", link: minted, now: 5, hooks: []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "pending")},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "pending"}},
		{name: "pending then success", link: minted, now: 9, hooks: []db.WebhookFact{
			hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "pending"),
			hook(8, "direct_deposit_switch.added", "direct_deposit_switch", "success")},
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "success"}},
		{name: "Link pendingRetry error", link: minted, now: 5, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "error", `{"pendingRetry":true}`)},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "link", stages: []string{"minted", "link_opened", "logged_in", "pending"}},
		{name: "one of two jobs reported is pending", link: data, now: 5, hooks: []db.WebhookFact{hook(4, "identity.added", "identity", "success")},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "pending"}},
		{name: "both jobs reported", link: data, now: 6, hooks: []db.WebhookFact{
			hook(4, "identity.added", "identity", "success"), hook(5, "income.added", "income", "success"),
			hook(5, "paystubs.added", "paystubs", "error")}, // not requested: ignored
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "success"}},
		{name: "account.added means logged in", link: data, now: 6, hooks: []db.WebhookFact{hook(4, "account.added", "", "")},
			state: db.StageLoggedIn, launch: db.LaunchLive, stages: []string{"minted", "logged_in"}},
		{name: "exited", link: minted, now: 6, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "exit", "")},
			state: db.StageExited, launch: db.LaunchLive, stages: []string{"minted", "link_opened", "exited"}},
		{name: "reopened after exit", link: minted, now: 6, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "exit", ""), ev(4, "open", "")},
			state: db.StageLinkOpened, launch: db.LaunchLive, stages: []string{"minted", "link_opened"}},
		{name: "expired unused", link: minted, now: 61, state: db.StageExpired, launch: db.LaunchExpired, stages: []string{"minted", "expired"}},
		{name: "expired after opening", link: minted, now: 90, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StageExpired, launch: db.LaunchExpired, stages: []string{"minted", "page_opened", "expired"}},
		{name: "success then expiry stays success", link: minted, now: 90, events: []db.LaunchEvent{ev(2, "success", "")},
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "link", stages: []string{"minted", "logged_in", "success"}},
		{name: "revoked", link: revoked, now: 6, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StageRevoked, launch: db.LaunchRevoked, stages: []string{"minted", "page_opened", "revoked"}},
		{name: "revoked after success keeps the outcome", link: revoked, now: 6, events: []db.LaunchEvent{ev(2, "success", "")},
			state: db.StageSuccess, launch: db.LaunchRevoked, outcome: "link", stages: []string{"minted", "logged_in", "success", "revoked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := db.ComputeLifecycle(tc.link, tc.events, tc.hooks, at(tc.now))
			var stages []string
			for _, s := range lc.Steps {
				stages = append(stages, s.Stage)
			}
			if lc.State != tc.state || lc.Launch != tc.launch || lc.OutcomeSource != tc.outcome || !reflect.DeepEqual(stages, tc.stages) {
				t.Errorf("got state %s launch %s source %q stages %v; want %s %s %q %v",
					lc.State, lc.Launch, lc.OutcomeSource, stages, tc.state, tc.launch, tc.outcome, tc.stages)
			}
			if len(lc.Jobs) != len(tc.link.Jobs) {
				t.Errorf("jobs %v, want one per requested job", lc.Jobs)
			}
		})
	}
}
