package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/evidence"
	"linkdesk/web"
)

// auditWorld is a server with two accounts of one end user and a trail:
// the admin reveals acc-a with a reason, the auditor reveals acc-b
// without one.
type auditWorld struct {
	*testServer
	admin, auditor, operator *http.Cookie
	accA, accB               string
}

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	s := newServer(t)
	w := &auditWorld{testServer: s, accA: "acc-audit-a", accB: "acc-audit-b"}
	s.ingest(t, accountAddedJSON("aw-1", w.accA, "eu-audit", true, "active"), accountAddedJSON("aw-2", w.accB, "eu-audit", true, "active"))
	w.admin, w.auditor, w.operator = s.login(t, "admin@example.com"), s.login(t, "auditor@example.com"), s.login(t, "operator@example.com")
	for _, r := range []struct {
		c       *http.Cookie
		account string
		reason  string
	}{{w.admin, w.accA, "ticket 4411"}, {w.auditor, w.accB, ""}} {
		// Identity data exists only after a fetch; a Reveal of an account
		// without it is still recorded.
		rec := s.do(t, http.MethodPost, "/accounts/"+r.account+"/reveal", url.Values{"fields": {db.PIISSNLastFour}, "reason": {r.reason}}, r.c)
		if rec.Code != http.StatusOK {
			t.Fatalf("reveal: %d %s", rec.Code, rec.Body.String())
		}
	}
	return w
}

// rowActions are the action codes of the rows of an /audit page, in order.
var rowActionRE = regexp.MustCompile(`<code>([a-z_]+\.[a-z_.]+)</code>`)

func rowActions(body string) []string {
	var out []string
	for _, m := range rowActionRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAudit_FiltersAndQuery(t *testing.T) {
	w := newAuditWorld(t)
	for _, tc := range []struct {
		name   string
		target string
		want   []string
		count  string
		has    []string
	}{
		{"the actor field", "/audit?actor=auditor&group=pii", []string{db.ActionPIIRevealed}, "1 of 8 rows matches",
			[]string{`Actor: <strong>auditor</strong></span> <a href="/audit?group=pii" class="chip-x"`, `<a href="/audit?actor=auditor" class="chip-x"`, `<a href="/audit" class="chips-clear">Clear all filters</a>`, `href="/audit/export.csv?actor=auditor&amp;group=pii"`, `href="/accounts/acc-audit-b"`, "as a query: <a href=\"/audit?q=actor%3Aauditor+action%3Apii.%2A\"><code>actor:auditor action:pii.*</code>", "Auditor (auditor@example.com)</a> revealed masked identity fields of <a href=\"/accounts/acc-audit-b\" class=\"target\">account acc-audit-b</a>"}},
		{"the query box", "/audit?q=" + url.QueryEscape("actor:admin action:pii.* target:account:acc-audit-a created:>2000-01-01"),
			[]string{db.ActionPIIRevealed}, "1 of 8 rows matches", []string{"<dt>reason</dt>", "ticket 4411"}},
		{"a group", "/audit?group=sign-in", []string{db.ActionSignIn, db.ActionSignIn, db.ActionSignIn}, "3 of 8 rows match", []string{`Action group: <strong>Sign-in</strong></span> <span class="chip-n">3</span>`, `aria-label="Filter the audit trail" id="audit-filters" data-autosubmit`}},
		{"unknown actor", "/audit?actor=nobody-at-all", nil, "0 of 8 rows match", []string{"No audit rows match"}},
		{"unknown target", "/audit?q=target:account:no-such", nil, "0 of 8 rows match", []string{`Query: <strong>target:account:no-such</strong></span> <span class="chip-n">0</span>`}},
		{"a malformed part", "/audit?q=" + url.QueryEscape("actor:auditor created:yesterday banana"), []string{db.ActionPIIRevealed, db.ActionSignIn}, "2 of 8 rows match",
			[]string{"Parts of the query were not understood", "<code>created:yesterday</code>", "<code>banana</code>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := get(t, w.testServer, w.auditor, tc.target).Body.String()
			if got := rowActions(body); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			if !strings.Contains(body, tc.count) {
				m := regexp.MustCompile(`id="list-count"[^>]*>[^<]*`).FindString(body)
				t.Errorf("count: want %q, have %q", tc.count, m)
			}
			for _, h := range tc.has {
				if !strings.Contains(body, h) {
					t.Errorf("lacks %q", h)
				}
			}
		})
	}
	if rec := w.do(t, http.MethodGet, "/audit?from=yesterday", nil, w.auditor); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Enter a date as YYYY-MM-DD.") {
		t.Errorf("a bad date: %d", rec.Code)
	}
	if rec := w.do(t, http.MethodGet, "/audit?before=x", nil, w.auditor); rec.Code != http.StatusBadRequest {
		t.Errorf("a bad cursor: %d", rec.Code)
	}

	// Pages of two keep the filter in the next link, marked rel="next".
	rows := 0
	next := "/audit?group=sign-in&before=999999"
	for pages := 0; next != ""; pages++ {
		body := get(t, w.testServer, w.auditor, next).Body.String()
		rows += len(rowActions(body))
		m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
		next = ""
		if m != nil {
			next = html.UnescapeString(m[1])
			if !strings.Contains(next, "group=sign-in") {
				t.Fatalf("the next link lost the filter: %s", next)
			}
		}
		if pages > 10 {
			t.Fatal("no end")
		}
	}
	if rows != 3 {
		t.Errorf("paged through %d sign-ins, want 3", rows)
	}
}

func TestAudit_ExportVerifies(t *testing.T) {
	w := newAuditWorld(t)
	for _, format := range []string{"csv", "jsonl"} {
		rec := w.do(t, http.MethodGet, "/audit/export."+format+"?q=action:pii.*", nil, w.auditor)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Disposition"), "linkdesk-audit-") {
			t.Fatalf("%s: %d %v", format, rec.Code, rec.Header())
		}
		v, err := db.VerifyAuditExport(bytes.NewReader(rec.Body.Bytes()), w.store.AuditKeys())
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, rec.Body.String())
		}
		if v.Rows != 2 || v.Header.ExportedBy != "auditor@example.com" || v.Header.Filter["q"] != "action:pii.*" {
			t.Errorf("%s: %d rows, header %+v", format, v.Rows, v.Header)
		}
		// The export's own audit row is the head it names.
		head, _ := w.store.ChainHead(context.Background())
		e, _ := w.store.AuditEntryByID(context.Background(), v.Header.Head.Seq)
		if e.Action != db.ActionAuditExported || head.Seq != v.Header.Head.Seq {
			t.Errorf("%s: the head is row %d (%s), the trail's %d", format, v.Header.Head.Seq, e.Action, head.Seq)
		}
		if err := w.store.CompareExport(context.Background(), v); err != nil {
			t.Error(err)
		}
	}
	if rec := w.do(t, http.MethodGet, "/audit/export.csv?from=never", nil, w.auditor); rec.Code != http.StatusBadRequest {
		t.Errorf("a bad filter: %d", rec.Code)
	}
}

// TestAudit_VerifyNowShowsTampering: each tampering of the issue is caught
// by Verify now and shown on /audit with its row.
func TestAudit_VerifyNowShowsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		row    string
		reason string
	}{
		{"edit a row", `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor_email = 'x@example.com' WHERE id = 2`, "2", "does not match its hash"},
		{"delete the newest rows", `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id > (SELECT MAX(id) - 2 FROM audit_log)`, "", "missing: the anchor file published"},
		{"rewrite and rehash without the key", "", "3", "hashed without the key"},
		{"drop a row in the middle", `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 3`, "3", "row 3 is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAuditWorld(t)
			rec := w.do(t, http.MethodPost, "/audit/verify", url.Values{}, w.auditor)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("verify now: %d", rec.Code)
			}
			if body := get(t, w.testServer, w.auditor, "/audit").Body.String(); !strings.Contains(body, `<span class="badge ok">intact</span>`) {
				t.Fatal("the intact chain is not shown as intact")
			}
			raw, err := db.Connect(w.store.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if tc.sql != "" {
				if _, err := raw.Exec(dbtest.Tamper(w.store.Path(), tc.sql)); err != nil {
					t.Fatal(err)
				}
			} else {
				rehashFrom(t, w.testServer, raw, 3)
			}
			w.do(t, http.MethodPost, "/audit/verify", url.Values{}, w.auditor)
			body := get(t, w.testServer, w.auditor, "/audit").Body.String()
			want := "The chain is broken at row " + tc.row
			if !strings.Contains(body, want) || !strings.Contains(body, tc.reason) {
				i := strings.Index(body, "chain-last")
				t.Fatalf("want %q … %q on the page:\n%s", want, tc.reason, body[i:min(len(body), i+800)])
			}
		})
	}
}

// rehashFrom rewrites row from (its IP) and re-hashes it and every later
// row with the unkeyed scheme: what someone without the key can do.
func rehashFrom(t *testing.T, s *testServer, raw *sql.DB, from int64) {
	t.Helper()
	if _, err := raw.Exec(dbtest.Tamper(s.store.Path(), `DROP TRIGGER audit_log_no_update`)); err != nil {
		t.Fatal(err)
	}
	rows, _, err := s.store.ListAudit(context.Background(), db.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := len(rows) - 1; i >= 0; i-- {
		e := rows[i]
		if e.ID < from {
			prev = e.Hash
			continue
		}
		if e.ID == from {
			e.IP = "6.6.6.6"
		}
		e.PrevHash = prev
		e.Hash = unkeyedHash(e)
		prev = e.Hash
		if _, err := raw.Exec(`UPDATE audit_log SET ip = ?, prev_hash = ?, hash = ? WHERE id = ?`, e.IP, e.PrevHash, e.Hash, e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAudit_WhoSawAndReveals(t *testing.T) {
	w := newAuditWorld(t)
	for _, c := range []*http.Cookie{w.admin, w.auditor} {
		body := get(t, w.testServer, c, "/accounts/"+w.accA).Body.String()
		i := strings.Index(body, `id="who-saw"`)
		if i < 0 {
			t.Fatal("no Who saw this panel")
		}
		panel := body[i:]
		panel = panel[:strings.Index(panel, "</section>")]
		for _, want := range []string{">Admin</a>", "revealed SSN last four of account acc-audit-a", "“ticket 4411”", `href="/accounts/acc-audit-a/evidence.zip"`} {
			if !strings.Contains(panel, want) {
				t.Errorf("panel lacks %q:\n%s", want, panel)
			}
		}
		if strings.Contains(panel, "acc-audit-b") {
			t.Error("the panel of acc-a lists acc-b's reveal")
		}
	}
	if body := get(t, w.testServer, w.operator, "/accounts/"+w.accA).Body.String(); strings.Contains(body, `id="who-saw"`) {
		t.Error("an operator sees the panel")
	}
	// The end user's panel has both accounts' reveals.
	body := get(t, w.testServer, w.auditor, "/end-users/eu-audit").Body.String()
	if !strings.Contains(body, "of account acc-audit-a") || !strings.Contains(body, "of account acc-audit-b") || !strings.Contains(body, "no reason given") {
		t.Error("the end user's panel lacks a reveal")
	}
	// The report: who revealed this person's data, and why.
	body = get(t, w.testServer, w.auditor, "/audit/reveals?end_user=eu-audit&from=2000-01-01").Body.String()
	for _, want := range []string{`id="reveal-people"`, "ticket 4411", "none given", `<span class="badge warn">1</span>`,
		`aria-label="Filter reveals" data-autosubmit`, `id="list-count" role="status">2 of 2 reveals match</p>`,
		`End user: <strong>eu-audit</strong></span> <a href="/audit/reveals?from=2000-01-01" class="chip-x"`} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	body = get(t, w.testServer, w.auditor, "/audit/reveals?account="+w.accA).Body.String()
	if !strings.Contains(body, "ticket 4411") || strings.Contains(body, "none given") || !strings.Contains(body, `<span class="chip-n">1</span>`) {
		t.Error("the report of one account")
	}
	if body := get(t, w.testServer, w.auditor, "/accounts/"+w.accA).Body.String(); !strings.Contains(body, `href="/audit/reveals?account=acc-audit-a"`) {
		t.Error("the panel does not link the account's reveals report")
	}
	if rec := w.do(t, http.MethodPost, "/accounts/"+w.accA+"/reveal", url.Values{"fields": {db.PIISSNLastFour}, "reason": {strings.Repeat("x", 400)}}, w.auditor); rec.Code != http.StatusBadRequest {
		t.Errorf("a reason too long: %d", rec.Code)
	}
}

func TestAudit_EvidencePack(t *testing.T) {
	w := newAuditWorld(t)
	for _, target := range []string{"/accounts/" + w.accA + "/evidence.zip", "/end-users/eu-audit/evidence.zip"} {
		rec := w.do(t, http.MethodGet, target, nil, w.auditor)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/zip" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", target, rec.Code, rec.Header())
		}
		b := rec.Body.Bytes()
		rep, err := evidence.Verify(bytes.NewReader(b), int64(len(b)), evidence.Trust{Keys: w.store.AuditKeys()})
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if rep.Manifest.ExportedBy.Email != "auditor@example.com" || rep.Manifest.MaskedFor != db.RoleAuditor || rep.StaffActionsChecked == 0 {
			t.Errorf("%s: manifest %+v", target, rep.Manifest)
		}
	}
	rows, _, _ := w.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionEvidenceExported})
	if len(rows) != 2 {
		t.Errorf("%d packs audited, want 2", len(rows))
	}
	if rec := w.do(t, http.MethodGet, "/accounts/no-such/evidence.zip", nil, w.auditor); rec.Code != http.StatusNotFound {
		t.Errorf("unknown account: %d", rec.Code)
	}
}

func TestAudit_Erasure(t *testing.T) {
	w := newAuditWorld(t)
	rec := w.do(t, http.MethodGet, "/end-users/eu-audit/erase", nil, w.admin)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "2 raw webhook bodies") {
		t.Fatalf("confirmation page: %d\n%s", rec.Code, rec.Body.String())
	}
	if rec := w.do(t, http.MethodPost, "/end-users/eu-audit/erase", url.Values{"reason": {"request 17"}}, w.admin); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "Tick the box") {
		t.Errorf("without the confirmation: %d", rec.Code)
	}
	if rec := w.do(t, http.MethodPost, "/end-users/eu-audit/erase", url.Values{"confirm": {"yes"}}, w.admin); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("without a reason: %d", rec.Code)
	}
	if rec := w.do(t, http.MethodGet, "/end-users/eu-unknown/erase", nil, w.admin); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "there is nothing to erase") {
		t.Errorf("unknown end user's page: %d", rec.Code)
	}
	if rec := w.do(t, http.MethodPost, "/end-users/eu-unknown/erase", url.Values{"reason": {"x"}, "confirm": {"yes"}}, w.admin); rec.Code != http.StatusNotFound {
		t.Errorf("erasing an unknown end user: %d", rec.Code)
	}
	rec = w.do(t, http.MethodPost, "/end-users/eu-audit/erase", url.Values{"reason": {"request 17"}, "confirm": {"yes"}}, w.admin)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/end-users/eu-audit" {
		t.Fatalf("erase: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	body := get(t, w.testServer, w.auditor, "/end-users/eu-audit").Body.String()
	if !strings.Contains(body, `id="tombstones"`) || !strings.Contains(body, "by admin@example.com: “request 17”") || !strings.Contains(body, "erased the personal data") {
		t.Error("no tombstone or who-saw line on the end user's page")
	}
	if strings.Contains(body, `id="erase-link"`) {
		t.Error("an auditor is offered the erasure")
	}
	if v, _ := w.store.VerifyChain(context.Background(), db.VerifyOptions{}); !v.OK() {
		t.Errorf("chain after erasure: %+v", v.Bad)
	}
}

func TestAudit_TimeBoxedAccess(t *testing.T) {
	s := newServer(t, startAt(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	admin := s.login(t, "admin@example.com")
	auditor := s.login(t, "auditor@example.com")
	st, _ := s.store.StaffByEmail(context.Background(), "auditor@example.com")
	op, _ := s.store.StaffByEmail(context.Background(), "operator@example.com")
	if rec := s.do(t, http.MethodPost, "/staff/"+itoa(op.ID)+"/access", url.Values{"access_until": {"2026-12-31"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("operator: %d", rec.Code)
	}
	if o, _ := s.store.StaffByID(context.Background(), op.ID); !o.AccessUntil.IsZero() {
		t.Error("an operator got an end date")
	}
	rec := s.do(t, http.MethodPost, "/staff/"+itoa(st.ID)+"/access", url.Values{"access_until": {"2026-12-01"}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("set: %d", rec.Code)
	}
	if body := get(t, s, admin, "/staff").Body.String(); !strings.Contains(body, "until 2026-12-01") {
		t.Error("/staff does not show the end date")
	}
	// Still the same day: the session works.
	get(t, s, auditor, "/audit")
	s.clk.add(14 * time.Hour) // past midnight UTC
	if rec := s.do(t, http.MethodGet, "/audit", nil, auditor); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("the open session after the end: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = s.do(t, http.MethodPost, "/login", url.Values{"email": {"auditor@example.com"}, "password": {testPassword}})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Your access ended on 2026-12-01") {
		t.Errorf("sign-in after the end: %d", rec.Code)
	}
	admin = s.login(t, "admin@example.com") // the jump outlived the admin's idle session too
	if body := get(t, s, admin, "/staff").Body.String(); !strings.Contains(body, "ended 2026-12-01") {
		t.Error("/staff does not show the access as ended")
	}
	// Cleared, they are back.
	s.do(t, http.MethodPost, "/staff/"+itoa(st.ID)+"/access", url.Values{"access_until": {""}}, admin)
	s.login(t, "auditor@example.com")
}

func TestAudit_RetentionSettings(t *testing.T) {
	s := newServer(t)
	admin := s.login(t, "admin@example.com")
	if rec := s.do(t, http.MethodPost, "/settings/retention", url.Values{"webhook_body_days": {"soon"}}, admin); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "Enter a number of days") {
		t.Errorf("a bad value: %d", rec.Code)
	}
	if rec := s.do(t, http.MethodPost, "/settings/retention", url.Values{"webhook_body_days": {"90"}, "launch_payload_days": {""}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("save: %d", rec.Code)
	}
	body := get(t, s, admin, "/settings").Body.String()
	if !strings.Contains(body, "Raw webhook bodies are kept 90 days, launch-page event payloads forever") {
		t.Error("settings do not show the retention")
	}
	if r, _ := s.store.Retention(context.Background()); r.WebhookBodyDays != 90 || r.LaunchPayloadDays != 0 {
		t.Errorf("stored %+v", r)
	}
}

func TestAudit_Metrics(t *testing.T) {
	w := newAuditWorld(t)
	reg := prometheus.NewRegistry()
	web.NewMetrics(reg, w.store)
	gauge := func(name string) (float64, bool) {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == name {
				return f.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	if _, ok := gauge("linkdesk_audit_chain_ok"); ok {
		t.Error("chain_ok before any verification")
	}
	if at, _ := gauge("linkdesk_audit_verified_at"); at != 0 {
		t.Errorf("verified_at before any verification: %v", at)
	}
	w.do(t, http.MethodPost, "/audit/verify", url.Values{}, w.auditor)
	if ok, _ := gauge("linkdesk_audit_chain_ok"); ok != 1 {
		t.Errorf("chain_ok %v", ok)
	}
	if at, _ := gauge("linkdesk_audit_verified_at"); at != float64(w.store.Now().Unix()) {
		t.Errorf("verified_at %v", at)
	}
	raw, _ := db.Connect(w.store.Path())
	defer raw.Close()
	raw.Exec(dbtest.Tamper(w.store.Path(), `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = '{}' WHERE id = 1`))
	w.do(t, http.MethodPost, "/audit/verify", url.Values{}, w.auditor)
	if ok, _ := gauge("linkdesk_audit_chain_ok"); ok != 0 {
		t.Errorf("chain_ok after tampering %v", ok)
	}
	if bad, _ := gauge("linkdesk_audit_bad_row"); bad != 1 {
		t.Errorf("bad row %v", bad)
	}
}

// unkeyedHash is the unkeyed hash of a row (SHA-256 of its canonical
// form, db/audit.go): what anyone can compute without the key.
func unkeyedHash(e db.AuditEntry) string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.ID, 10), db.FormatTime(e.At), strconv.FormatInt(e.ActorID, 10), e.ActorEmail,
		e.Action, e.TargetType, e.TargetID, e.IP, e.UserAgent, e.Detail} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}
