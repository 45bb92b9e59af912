package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Emulator-only pay knobs (not Pinwheel's API, so outside /v1): preset the
// pay profile an end user's next account gets, add a paystub to an account
// and delete one. They need the API secret, like the status knob. The next
// sync of the account (an On Demand Update) reports the added paystub in
// its paystubs.added and the deleted one in its deleted array.

// presetBody is the body of POST /emulator/pay_profiles.
type presetBody struct {
	EndUserID  string `json:"end_user_id"`
	PlatformID string `json:"platform_id"`
	PayProfile
}

// emulatorPresetPay handles POST /emulator/pay_profiles: the profile the
// end user's next account on the platform ("" for any) is created with.
func (e *Emulator) emulatorPresetPay(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	var b presetBody
	if !e.decodeBody(w, r, &b) {
		return
	}
	if strings.TrimSpace(b.EndUserID) == "" {
		e.writeError(w, invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: "end_user_id", Message: msgRequired}))
		return
	}
	if b.Kind == PayKindGig && b.Frequency == "" {
		b.Frequency = FreqVariable
	}
	if perr := b.PayProfile.validate(); perr != nil {
		e.writeError(w, perr)
		return
	}
	err := e.writeTx(r.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(r.Context(), `INSERT INTO pay_presets (end_user_id, platform_id, profile, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (end_user_id, platform_id) DO UPDATE SET profile = excluded.profile, created_at = excluded.created_at`,
			b.EndUserID, b.PlatformID, mustJSON(b.PayProfile), dbTime(e.now()))
		return err
	})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(obj{{"end_user_id", b.EndUserID}, {"platform_id", b.PlatformID},
		{"profile", rawJSON(mustJSON(b.PayProfile))}}, nil))
}

// paystubOverridable are the paystub keys the add knob may set.
var paystubOverridable = []string{"id", "pay_date", "pay_period_start", "pay_period_end", "currency", "gross_pay_amount",
	"net_pay_amount", "check_amount", "gross_pay_ytd", "net_pay_ytd", "total_taxes", "total_deductions", "total_reimbursements",
	"external_paystub_id", "employer_name"}

// emulatorAddPaystub handles POST /emulator/accounts/{id}/paystubs: adds a
// paystub, by default the next of the account's schedule, or, when that
// lies in the future, one paid today for the days since the last pay
// period (off the schedule); the body may set any of paystubOverridable,
// to any JSON value, so that a test can send a bad paystub (null or
// negative amounts, another currency, a repeated id, a future pay date).
// It answers {"data": the paystub}.
func (e *Emulator) emulatorAddPaystub(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	over := map[string]json.RawMessage{}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		e.writeError(w, invalid(codeInvalidJSON, "Could not read the request body."))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &over); err != nil {
			e.writeError(w, invalid(codeInvalidJSON, "The body must be a JSON object."))
			return
		}
	}
	for k := range over {
		if !slices.Contains(paystubOverridable, k) {
			e.writeError(w, invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: k, Message: enumMsg(paystubOverridable)}))
			return
		}
	}
	var payDate, id string
	if v, ok := over["pay_date"]; ok {
		if json.Unmarshal(v, &payDate) != nil || ParseDate(payDate).IsZero() {
			e.writeError(w, invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: "pay_date", Message: "Value is not a valid date (YYYY-MM-DD)."}))
			return
		}
	}
	if v, ok := over["id"]; ok {
		if json.Unmarshal(v, &id) != nil || id == "" || len(id) > 64 {
			e.writeError(w, invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: "id", Message: "A string of 1 to 64 characters."}))
			return
		}
		delete(over, "id")
	}
	delete(over, "pay_date")
	ctx := r.Context()
	var out stubItem
	err = e.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := e.store.account(ctx, tx, strings.ToLower(r.PathValue("id")))
		if err != nil {
			return err
		}
		now := e.now()
		if payDate == "" {
			d, scheduled := nextPayDate(a, now)
			payDate = formatDate(d)
			if !scheduled {
				// Paid today, off the schedule: for the days since the
				// last period, so that the periods do not overlap.
				if err := loadPayExtras(ctx, tx, a); err != nil {
					return err
				}
				start := d
				for _, s := range genPaystubs(a) {
					if s.PayPeriodEnd != nil && *s.PayPeriodEnd < formatDate(d) {
						start = ParseDate(*s.PayPeriodEnd).AddDate(0, 0, 1)
						break
					}
				}
				for k, v := range map[string]string{"pay_period_start": formatDate(start), "pay_period_end": formatDate(d)} {
					if _, set := over[k]; !set {
						over[k], _ = json.Marshal(v)
					}
				}
			}
		}
		var seq int64
		err = tx.QueryRowContext(ctx, `INSERT INTO extra_paystubs (account_id, item_id, pay_date, overrides, added_at)
VALUES (?, '', ?, ?, ?) RETURNING seq`, a.ID, payDate, mustJSON(over), dbTime(now)).Scan(&seq)
		if err != nil {
			return err
		}
		if id == "" {
			id = derivedID("paystub", a.ID, "extra", fmt.Sprint(seq))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE extra_paystubs SET item_id = ? WHERE seq = ?`, id, seq); err != nil {
			return err
		}
		x := extraPaystub{Seq: seq, ID: id, PayDate: payDate, Overrides: over, AddedAt: now}
		out = x.item(a, planPay(a))
		return nil
	})
	switch {
	case errors.Is(err, errNotFound):
		e.writeError(w, notFound("No account found with the given account_id."))
	case err != nil:
		e.fail(w, r, err)
	default:
		e.writeAPI(w, http.StatusOK, dataEnvelope(out.wire(nil), nil))
	}
}

// nextPayDate is the account's next scheduled pay date after its last
// reported one (scheduled), or today when that lies in the future.
func nextPayDate(a *account, now time.Time) (d time.Time, scheduled bool) {
	pl := planPay(a)
	today := day(now)
	for _, d := range pl.scheduleDates(day(a.SyncedThrough), today.AddDate(0, 2, 0)) {
		if pl.paid(d) {
			if d.After(today) {
				return today, false
			}
			return d, true
		}
	}
	return today, false
}

// emulatorDeletePaystub handles POST
// /emulator/accounts/{id}/paystubs/{paystub_id}/delete: the paystub (every
// one with that id) disappears from the API, and the next sync reports the
// id as deleted. 204; 404 for an id the account does not have.
func (e *Emulator) emulatorDeletePaystub(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	ctx := r.Context()
	pid := r.PathValue("paystub_id")
	err := e.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := e.store.account(ctx, tx, strings.ToLower(r.PathValue("id")))
		if err != nil {
			return err
		}
		if err := loadPayExtras(ctx, tx, a); err != nil {
			return err
		}
		if !slices.ContainsFunc(genPaystubs(a), func(s stubItem) bool { return s.ID == pid }) {
			return errNotFound
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO deleted_paystubs (account_id, item_id, deleted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			a.ID, pid, dbTime(e.now()))
		return err
	})
	switch {
	case errors.Is(err, errNotFound):
		e.writeError(w, notFound("No paystub found with the given id."))
	case err != nil:
		e.fail(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// SetPayProfile presets the pay profile of the end user's next account on
// the platform ("" for any) through POST /emulator/pay_profiles. It needs
// Driver.Secret.
func (d *Driver) SetPayProfile(ctx context.Context, endUserID, platformID string, p PayProfile) error {
	_, err := d.knob(ctx, "/emulator/pay_profiles", presetBody{EndUserID: endUserID, PlatformID: platformID, PayProfile: p}, http.StatusOK)
	return err
}

// AddPaystub adds a paystub to an account through POST
// /emulator/accounts/{id}/paystubs, with the given wire keys set (nil: the
// account's next paystub), and returns it as the API will serve it.
func (d *Driver) AddPaystub(ctx context.Context, accountID string, set map[string]any) (json.RawMessage, error) {
	if set == nil {
		set = map[string]any{}
	}
	raw, err := d.knob(ctx, "/emulator/accounts/"+url.PathEscape(accountID)+"/paystubs", set, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("sandbox: add paystub: %w", err)
	}
	return env.Data, nil
}

// DeletePaystub deletes a paystub of an account through POST
// /emulator/accounts/{id}/paystubs/{paystub_id}/delete.
func (d *Driver) DeletePaystub(ctx context.Context, accountID, paystubID string) error {
	_, err := d.knob(ctx, "/emulator/accounts/"+url.PathEscape(accountID)+"/paystubs/"+url.PathEscape(paystubID)+"/delete", nil, http.StatusNoContent)
	return err
}

// knob posts body to an emulator-only endpoint with the secret and returns
// the answer when its status is want.
func (d *Driver) knob(ctx context.Context, path string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(d.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-secret", d.Secret)
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("sandbox: %s: %s: %s", path, resp.Status, raw)
	}
	return raw, nil
}
