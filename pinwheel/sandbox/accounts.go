package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

var monitoringStatuses = []string{pinwheel.StatusActive, pinwheel.StatusDegraded, pinwheel.StatusUserActionRequired,
	pinwheel.StatusCustomerDisabled, pinwheel.StatusUnavailable}

// sandboxStatuses are the statuses PATCH /v1/sandbox/accounts/{id} accepts:
// the request schema's enum has this one value (docs/pinwheel.md#sandbox).
var sandboxStatuses = []string{pinwheel.StatusUserActionRequired}

func version(r *http.Request) string { return r.Header.Get(pinwheel.HeaderVersion) }

// listAccounts handles GET /v1/accounts.
func (e *Emulator) listAccounts(w http.ResponseWriter, r *http.Request) {
	f := accountFilter{}
	q := r.URL.Query()
	if s := q.Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			e.writeError(w, invalid(codeValidation, "Validation error.",
				pinwheel.FieldError{Name: "connected", Message: "Value is not a valid boolean."}))
			return
		}
		f.Connected = &b
	}
	if s := q.Get("monitoring_status"); s != "" {
		if !slices.Contains(monitoringStatuses, s) {
			e.writeError(w, invalid(codeValidation, "Validation error.",
				pinwheel.FieldError{Name: "monitoring_status", Message: enumMsg(monitoringStatuses)}))
			return
		}
		f.MonitoringStatus = &s
	}
	e.pageAccounts(w, r, f)
}

// listEndUserAccounts handles GET /v1/end_users/{end_user_id}/accounts.
func (e *Emulator) listEndUserAccounts(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("end_user_id")
	e.pageAccounts(w, r, accountFilter{EndUserID: &id})
}

func (e *Emulator) pageAccounts(w http.ResponseWriter, r *http.Request, f accountFilter) {
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	f.Limit, f.BeforeSeq = limit, c.Seq
	list, err := e.store.listAccounts(r.Context(), f)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	var next *string
	if len(list) > limit {
		list = list[:limit]
		next = e.encodeCursor(cursor{Seq: list[limit-1].Seq})
	}
	items := make([]obj, 0, len(list))
	for _, a := range list {
		items = append(items, accountObj(a, version(r)))
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, nil), items))
}

// accountOr404 loads the {id} account or answers 404 RECORD_NOT_FOUND.
func (e *Emulator) accountOr404(w http.ResponseWriter, r *http.Request) (*account, bool) {
	id := strings.ToLower(r.PathValue("id"))
	a, err := e.store.account(r.Context(), e.store.db, id)
	if errors.Is(err, errNotFound) {
		e.writeError(w, notFound("No account found with the given account_id."))
		return nil, false
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, false
	}
	return a, true
}

// getAccount handles GET /v1/accounts/{id}.
func (e *Emulator) getAccount(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeAPI(w, http.StatusOK, dataEnvelope(accountObj(a, version(r)), nil))
	}
}

// getIdentity handles GET /v1/accounts/{id}/identity.
//
// Whether data endpoints answer for jobs a token did not request is not
// documented publicly (docs/pinwheel.md#undocumented): we chose to answer for
// every account; meta.refreshed_at is then the account's creation time.
func (e *Emulator) getIdentity(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeAPI(w, http.StatusOK, dataEnvelope(identityObj(genIdentity(a)), refreshedMeta(dataTime(a, pinwheel.JobIdentity))))
	}
}

// getEmployment handles GET /v1/accounts/{id}/employment.
func (e *Emulator) getEmployment(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeAPI(w, http.StatusOK, dataEnvelope(employmentObj(genEmployment(a)), refreshedMeta(dataTime(a, pinwheel.JobEmployment))))
	}
}

// getIncome handles GET /v1/accounts/{id}/income.
func (e *Emulator) getIncome(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeAPI(w, http.StatusOK, dataEnvelope(incomeObj(genIncome(a)), refreshedMeta(dataTime(a, pinwheel.JobIncome))))
	}
}

// getAllocations handles GET /v1/accounts/{id}/direct_deposit_allocations.
func (e *Emulator) getAllocations(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	set, err := e.store.allocations(r.Context(), e.store.db, a.ID)
	if errors.Is(err, errNotFound) {
		set = initialAllocations(a)
	} else if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(allocationsObj(wireAllocations(a.ID, set)),
		refreshedMeta(dataTime(a, pinwheel.JobDDAllocations))))
}

// dateParam reads an optional YYYY-MM-DD query parameter.
func dateParam(r *http.Request, name string) (string, *pinwheel.Error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return "", nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "", invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: name, Message: "Value is not a valid date (YYYY-MM-DD)."})
	}
	return s, nil
}

// listPaystubs handles GET /v1/accounts/{id}/paystubs: reverse-chronological
// by pay_date, filtered by from_pay_date/to_pay_date (inclusive).
//
// The default limit of this endpoint is not documented publicly
// (docs/pinwheel.md#undocumented): we chose 25 like the others.
func (e *Emulator) listPaystubs(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	from, perr := dateParam(r, "from_pay_date")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	to, perr := dateParam(r, "to_pay_date")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	if err := loadPayExtras(r.Context(), e.store.db, a); err != nil {
		e.fail(w, r, err)
		return
	}
	var items []stubItem
	for _, p := range genPaystubs(a) {
		if (from == "" || p.PayDate >= from) && (to == "" || p.PayDate <= to) && (c.Key == "" || p.sortKey() < c.Key) {
			items = append(items, p)
		}
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		next = e.encodeCursor(cursor{Key: items[limit-1].sortKey()})
	}
	out := make([]obj, 0, len(items))
	for _, p := range items {
		out = append(out, p.wire(e.documentObj(a.ID, docPaystub, p.Document.ID)))
	}
	refreshed := dataTime(a, pinwheel.JobPaystubs)
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(out), next, &refreshed), out))
}

// getPaystub handles GET /v1/accounts/{id}/paystubs/{paystub_id}.
func (e *Emulator) getPaystub(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	if err := loadPayExtras(r.Context(), e.store.db, a); err != nil {
		e.fail(w, r, err)
		return
	}
	id := r.PathValue("paystub_id")
	for _, p := range genPaystubs(a) {
		if strings.EqualFold(p.ID, id) {
			e.writeAPI(w, http.StatusOK, dataEnvelope(p.wire(e.documentObj(a.ID, docPaystub, p.Document.ID)), nil))
			return
		}
	}
	e.writeError(w, notFound("No paystub found with the given id."))
}

// listShifts handles GET /v1/accounts/{id}/shifts: reverse-chronological by
// end_date, with the documented date filters.
func (e *Emulator) listShifts(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	bounds := map[string]string{}
	for _, name := range []string{"from_start_date", "to_start_date", "from_end_date", "to_end_date"} {
		v, perr := dateParam(r, name)
		if perr != nil {
			e.writeError(w, perr)
			return
		}
		bounds[name] = v
	}
	in := func(v, lo, hi string) bool { return (lo == "" || v >= lo) && (hi == "" || v <= hi) }
	var items []pinwheel.Shift
	for _, s := range genShifts(a) {
		if in(s.StartDate, bounds["from_start_date"], bounds["to_start_date"]) &&
			in(s.EndDate, bounds["from_end_date"], bounds["to_end_date"]) && (c.Key == "" || s.EndDate < c.Key) {
			items = append(items, s)
		}
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		next = e.encodeCursor(cursor{Key: items[limit-1].EndDate})
	}
	out := make([]obj, 0, len(items))
	for _, s := range items {
		out = append(out, shiftObj(s))
	}
	refreshed := dataTime(a, pinwheel.JobShifts)
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(out), next, &refreshed), out))
}

// disconnectAccount handles POST /v1/accounts/{id}/disconnect: permanent;
// the account stays readable but On Demand Updates fail.
func (e *Emulator) disconnectAccount(w http.ResponseWriter, r *http.Request) {
	e.changeAccount(w, r, func(a *account) { a.Connected = false }, false, false)
}

// disableMonitoring handles POST /v1/accounts/{id}/disable_monitoring.
//
// The resulting status is not documented publicly
// (docs/pinwheel.md#undocumented): we chose customer_disabled, whose name
// fits, and send account.monitoring_status.updated.
func (e *Emulator) disableMonitoring(w http.ResponseWriter, r *http.Request) {
	e.changeAccount(w, r, func(a *account) { a.MonitoringStatus = pinwheel.StatusCustomerDisabled }, false, false)
}

// statusBody is the body of the sandbox status override.
type statusBody struct {
	MonitoringStatus *string `json:"monitoring_status"`
}

// patchSandboxAccount handles PATCH /v1/sandbox/accounts/{id}: only the
// statuses the spec's enum allows (user_action_required); the emulator-only
// POST /emulator/accounts/{id}/monitoring_status sets the others.
//
// Whether this sends account.monitoring_status.updated is not documented
// publicly (docs/pinwheel.md#undocumented): we chose to send it on every
// call, even when the status is unchanged, because it is the sandbox's way
// to trigger the event.
func (e *Emulator) patchSandboxAccount(w http.ResponseWriter, r *http.Request) {
	e.setStatus(w, r, sandboxStatuses)
}

// emulatorSetStatus handles POST /emulator/accounts/{id}/monitoring_status
// {"monitoring_status": any of the five}: an emulator-only knob (not part of
// Pinwheel's API) for demo data and tests that need degraded, unavailable or
// customer_disabled accounts. It needs the API secret and answers like the
// sandbox PATCH.
func (e *Emulator) emulatorSetStatus(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	e.setStatus(w, r, monitoringStatuses)
}

func (e *Emulator) setStatus(w http.ResponseWriter, r *http.Request, allowed []string) {
	var body statusBody
	if !e.decodeBody(w, r, &body) {
		return
	}
	if body.MonitoringStatus == nil {
		e.writeError(w, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: "monitoring_status", Message: msgRequired}))
		return
	}
	status := *body.MonitoringStatus
	if !slices.Contains(allowed, status) {
		e.writeError(w, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: "monitoring_status", Message: enumMsg(allowed)}))
		return
	}
	e.changeAccount(w, r, func(a *account) { a.MonitoringStatus = status }, true, true)
}

// changeAccount applies change in a transaction, sends
// account.monitoring_status.updated when the status changed (or always,
// with alwaysNotify), and answers {"data": Account} (withBody) or 204.
func (e *Emulator) changeAccount(w http.ResponseWriter, r *http.Request, change func(*account), withBody, alwaysNotify bool) {
	ctx := r.Context()
	id := strings.ToLower(r.PathValue("id"))
	var out *account
	err := e.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := e.store.account(ctx, tx, id)
		if err != nil {
			return err
		}
		before := a.MonitoringStatus
		change(a)
		if err := updateAccount(ctx, tx, a); err != nil {
			return err
		}
		out = a
		if alwaysNotify || a.MonitoringStatus != before {
			return e.emit(ctx, tx, accountEvent(pinwheel.EventMonitoringStatusUpdated, a, a.LinkTokenID))
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotFound):
		e.writeError(w, notFound("No account found with the given account_id."))
	case err != nil:
		e.fail(w, r, err)
	case withBody:
		e.writeAPI(w, http.StatusOK, dataEnvelope(accountObj(out, version(r)), nil))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// writeTx runs fn in a write transaction and, after a commit, wakes Run so
// queued deliveries and tasks go out promptly.
func (e *Emulator) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := e.store.tx(ctx, fn); err != nil {
		return err
	}
	e.nudge()
	return nil
}

// nudge wakes Run without blocking.
func (e *Emulator) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
