package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/evidence"
	"linkdesk/views"
)

// auditFilterKeys are the query parameters of /audit and its exports.
var auditFilterKeys = []string{"q", "actor", "group", "action", "target_type", "target_id", "from", "to"}

// auditFilter reads the filter of /audit (the query box and the fields;
// the query's parts take precedence) and resolves its actors and action
// patterns into the rows' values. Dates that do not parse become field
// errors; query parts that do not parse become problems; the rest applies.
func (h *Handler) auditFilter(c echo.Context) (props views.AuditProps, f db.AuditFilter, err error) {
	ctx := c.Request().Context()
	props = views.AuditProps{
		Q: strings.TrimSpace(c.QueryParam("q")), Actor: strings.TrimSpace(c.QueryParam("actor")), Group: c.QueryParam("group"),
		Action: strings.TrimSpace(c.QueryParam("action")), TargetType: c.QueryParam("target_type"), TargetID: strings.TrimSpace(c.QueryParam("target_id")),
		From: c.QueryParam("from"), To: c.QueryParam("to"), Errors: views.Errors{},
	}
	q := db.ParseAuditQuery(props.Q)
	props.Problems = q.Problems
	actors := q.Actors
	if len(actors) == 0 && props.Actor != "" {
		actors = []string{props.Actor}
	}
	patterns := q.Actions
	if len(patterns) == 0 {
		switch {
		case props.Action != "":
			patterns = []string{props.Action}
		case props.Group != "":
			patterns = []string{props.Group + ".*"}
		}
	}
	f.TargetType, f.TargetID = q.TargetType, q.TargetID
	if f.TargetType == "" {
		f.TargetType, f.TargetID = props.TargetType, props.TargetID
	}
	if f.TargetType == "" && f.TargetID != "" {
		props.Errors["target_id"] = "Choose the target type too."
	}
	f.From, f.To = q.From, q.To
	defer func() {
		// The effective filter as a query, so that a filter made with the
		// fields teaches the query box.
		props.AsQuery = db.AuditQuery{Actors: actors, Actions: patterns, TargetType: f.TargetType, TargetID: f.TargetID, From: f.From, To: f.To}.String()
	}()
	for _, d := range []struct {
		key, v string
		dst    *time.Time
		next   bool
	}{{"from", props.From, &f.From, false}, {"to", props.To, &f.To, true}} {
		if d.v == "" || !d.dst.IsZero() {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			props.Errors[d.key] = "Enter a date as YYYY-MM-DD."
			continue
		}
		if d.next {
			t = t.AddDate(0, 0, 1) // "to" includes its day
		}
		*d.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		props.Errors["to"] = "The end of the range must be after its start."
	}
	if len(actors) > 0 {
		if f.Actors, err = h.store.ResolveActors(ctx, actors...); err != nil {
			return props, f, err
		}
	}
	if len(patterns) > 0 {
		if f.Actions, err = h.store.ResolveActions(ctx, patterns...); err != nil {
			return props, f, err
		}
	}
	v := url.Values{}
	for _, k := range auditFilterKeys {
		setIf(v, k, strings.TrimSpace(c.QueryParam(k)))
	}
	props.Filtered = len(v) > 0
	if len(v) > 0 {
		props.Query = "?" + v.Encode()
	}
	return props, f, nil
}

// AuditIndex handles GET /audit (admins and auditors): the trail filtered
// by the query box and the fields, newest first, keyset paged
// (?before=<id>) with the count of every matching row, and the chain's
// verification.
func (h *Handler) AuditIndex(c echo.Context) error {
	ctx := c.Request().Context()
	props, f, err := h.auditFilter(c)
	if err != nil {
		return err
	}
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return badCursor()
		}
		f.Before = n
	}
	status := http.StatusOK
	if len(props.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		if props.Page, err = h.store.SearchAudit(ctx, f); err != nil {
			return err
		}
		if props.Page.More {
			v, _ := url.ParseQuery(strings.TrimPrefix(props.Query, "?"))
			v.Set("before", strconv.FormatInt(props.Page.Rows[len(props.Page.Rows)-1].ID, 10))
			props.Next = withQuery("/audit", v)
		}
	}
	props.Groups, props.TargetTypes = db.AuditGroups, db.TargetTypes
	if props.Actions, err = h.store.AuditActionCounts(ctx); err != nil {
		return err
	}
	if len(props.Errors) == 0 {
		auditCount(c, &props)
	}
	if props.Staff, err = h.store.ListStaff(ctx); err != nil {
		return err
	}
	if props.Chain, err = h.chainProps(ctx); err != nil {
		return err
	}
	return h.render(c, status, views.AuditIndex(h.page(c, "Audit"), props))
}

// auditCount fills in the count line of /audit (the total from the
// per-action counters) and the chips of the filters in force, each with
// the rows it matches alone where the counters know it.
func auditCount(c echo.Context, props *views.AuditProps) {
	byAction := map[string]int64{}
	var total int64
	for _, a := range props.Actions {
		byAction[a.Action] = a.N
		total += a.N
	}
	props.Count = listCount(props.Page.Count, props.Page.CountCapped, total, len(props.Page.Rows), props.Filtered, "row", "rows")
	label := func(list []db.AuditGroup, id string) string {
		for _, g := range list {
			if g.ID == id {
				return g.Label
			}
		}
		return id
	}
	var groupN int64
	for _, a := range db.ActionsOfGroup(props.Group) {
		groupN += byAction[a]
	}
	actionN := int64(-1)
	if n, ok := byAction[props.Action]; ok {
		actionN = n
	}
	for _, f := range []struct {
		key, label, value string
		n                 int64
	}{
		{"q", "Query", props.Q, -1},
		{"actor", "Actor", props.Actor, -1},
		{"group", "Action group", label(db.AuditGroups, props.Group), groupN},
		{"action", "Action", props.Action, actionN},
		{"target_type", "Target type", label(db.TargetTypes, props.TargetType), -1},
		{"target_id", "Target", views.ShortID(props.TargetID), -1},
		{"from", "From", props.From, -1},
		{"to", "To, included", props.To, -1},
	} {
		if strings.TrimSpace(c.QueryParam(f.key)) != "" {
			props.Chips = append(props.Chips, chip(c, "/audit", f.key, f.label, f.value, f.n))
		}
	}
	if len(props.Chips) == 1 && !props.Page.CountCapped {
		props.Chips[0].N = props.Page.Count
	}
}

// chainProps reads the chain panel: head, last verification, anchor,
// signing key.
func (h *Handler) chainProps(ctx context.Context) (views.ChainProps, error) {
	cp := views.ChainProps{AnchorPath: h.store.AnchorPath(), CanVerify: true}
	var err error
	if cp.Head, err = h.store.ChainHead(ctx); err != nil {
		return cp, err
	}
	if last, err := h.store.LastVerification(ctx); err == nil {
		cp.Last = &last
	} else if !isNotFound(err) {
		return cp, err
	}
	if err := h.store.AnchorError(); err != nil {
		cp.AnchorErr = err.Error()
	}
	keys := h.store.AuditKeys()
	cp.PublicKey, cp.KeyID = evidence.PublicKeyHex(keys), keys.Current
	return cp, nil
}

// AuditVerify handles POST /audit/verify (admins and auditors): it walks
// the whole chain now, records the outcome (audited) and shows it on
// /audit.
func (h *Handler) AuditVerify(c echo.Context) error {
	rec, err := h.store.VerifyNow(c.Request().Context(), actor(c), db.VerifyManual)
	if err != nil {
		return err
	}
	if rec.OK {
		h.flash(c, "ok", "The chain is intact: "+strconv.FormatInt(rec.Rows, 10)+" rows verified up to row "+strconv.FormatInt(rec.Head.Seq, 10)+".")
	} else {
		h.flash(c, "error", "The chain is broken at row "+strconv.FormatInt(rec.BadSeq, 10)+": "+rec.Reason+".")
	}
	return c.Redirect(http.StatusSeeOther, "/audit#chain")
}

// AuditExportCSV handles GET /audit/export.csv: the filtered trail (same
// filters as /audit) as CSV, streamed newest first with flat memory: a
// chain-head record first (the export's own audit row), then every row
// with all the fields its hash covers, its sequence, hash and previous
// hash, then an end record that counts and seals them. Audited.
func (h *Handler) AuditExportCSV(c echo.Context) error { return h.auditExport(c, formatCSV) }

// AuditExportJSONL handles GET /audit/export.jsonl: the same as JSON Lines.
func (h *Handler) AuditExportJSONL(c echo.Context) error { return h.auditExport(c, formatJSONL) }

func (h *Handler) auditExport(c echo.Context, format string) error {
	props, f, err := h.auditFilter(c)
	if err != nil {
		return err
	}
	if len(props.Errors) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The filter is not valid; fix it on the audit page first.")
	}
	filter := map[string]any{}
	for _, k := range auditFilterKeys {
		if v := strings.TrimSpace(c.QueryParam(k)); v != "" {
			filter[k] = v
		}
	}
	x, err := h.startExport(c, "audit", format, db.AuditCSVHeader)
	if err != nil {
		return err
	}
	write := func(rec []string, v any) error {
		if format == formatCSV {
			return x.record(rec)
		}
		return x.line(v)
	}
	var rec []string
	ax, err := h.store.ExportAudit(c.Request().Context(), actor(c), f, filter, format,
		func(hd db.AuditExportHeader) error { return write(hd.CSV(), hd) },
		func(r *db.AuditExportRow) error {
			if format == formatCSV {
				rec = r.AppendCSV(rec)
				return x.record(rec)
			}
			return x.line(r)
		})
	if err == nil {
		end := ax.End()
		err = write(end.CSV(), end)
	}
	return x.finish(err)
}

// AuditReveals handles GET /audit/reveals (admins and auditors): Reveals
// of personal data by person (count, accounts, without a reason, first
// and last) and each Reveal with its reason, for a period, a person and
// an end user.
func (h *Handler) AuditReveals(c echo.Context) error {
	ctx := c.Request().Context()
	props := views.RevealsProps{From: c.QueryParam("from"), To: c.QueryParam("to"), Actor: strings.TrimSpace(c.QueryParam("actor")),
		EndUser: strings.TrimSpace(c.QueryParam("end_user")), Account: strings.TrimSpace(c.QueryParam("account")), Errors: views.Errors{}}
	q := db.RevealQuery{EndUserID: props.EndUser, AccountID: props.Account}
	for _, d := range []struct {
		key, v string
		dst    *time.Time
		next   bool
	}{{"from", props.From, &q.From, false}, {"to", props.To, &q.To, true}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			props.Errors[d.key] = "Enter a date as YYYY-MM-DD."
			continue
		}
		if d.next {
			t = t.AddDate(0, 0, 1)
		}
		*d.dst = t
	}
	props.Filtered = props.From != "" || props.To != "" || props.Actor != "" || props.EndUser != "" || props.Account != ""
	export := url.Values{"action": {db.ActionPIIRevealed}}
	setIf(export, "from", props.From)
	setIf(export, "to", props.To)
	setIf(export, "actor", props.Actor)
	if props.Account != "" {
		export.Set("target_type", "account")
		export.Set("target_id", props.Account)
	}
	props.Export = "/audit/export.csv?" + export.Encode()
	status := http.StatusOK
	if len(props.Errors) > 0 {
		status = http.StatusUnprocessableEntity
		return h.render(c, status, views.AuditReveals(h.page(c, "Reveals"), props))
	}
	var err error
	if props.Actor != "" {
		if q.Actors, err = h.store.ResolveActors(ctx, props.Actor); err != nil {
			return err
		}
	}
	if props.Report, err = h.store.Reveals(ctx, q); err != nil {
		return err
	}
	counts, err := h.store.AuditActionCounts(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, a := range counts {
		if a.Action == db.ActionPIIRevealed {
			total = a.N
		}
	}
	props.Count = listCount(props.Report.Total, false, total, int(props.Report.Total), props.Filtered, "reveal", "reveals")
	for _, f := range []struct{ key, label, value string }{
		{"from", "From", props.From}, {"to", "To, included", props.To}, {"actor", "Person", props.Actor},
		{"end_user", "End user", views.ShortID(props.EndUser)}, {"account", "Account", views.ShortID(props.Account)},
	} {
		if strings.TrimSpace(c.QueryParam(f.key)) != "" {
			props.Chips = append(props.Chips, chip(c, "/audit/reveals", f.key, f.label, f.value, -1))
		}
	}
	if len(props.Chips) == 1 {
		props.Chips[0].N = props.Report.Total
	}
	return h.render(c, status, views.AuditReveals(h.page(c, "Reveals"), props))
}

// whoSaw builds the "Who saw this" panel for readers of the audit trail
// (nil for others).
func (h *Handler) whoSaw(c echo.Context, q db.WhoSawQuery, all, pack string) (*views.WhoSawProps, error) {
	st := staff(c)
	if st == nil || !CanReadAudit(*st) {
		return nil, nil
	}
	rows, more, err := h.store.WhoSaw(c.Request().Context(), q)
	if err != nil {
		return nil, err
	}
	reveals := "/audit/reveals?" + url.Values{"end_user": {q.EndUserID}}.Encode()
	if q.AccountID != "" {
		reveals = "/audit/reveals?" + url.Values{"account": {q.AccountID}}.Encode()
	}
	return &views.WhoSawProps{Rows: rows, More: more, All: all, Evidence: pack, Reveals: reveals}, nil
}

func isNotFound(err error) bool { return errors.Is(err, db.ErrNotFound) }
