package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"strings"

	"linkdesk/pinwheel"
)

// The emulator-only allocation knob: POST /emulator/accounts/{id}/allocations
// changes an account's direct deposit allocations as if the user had
// changed them at work, outside any Link session, and sends what
// Pinwheel's monitoring sends when it finds new data: a
// direct_deposit_allocations.added job event (docs/pinwheel.md#monitoring)
// carrying the account's own link token. It exists so that a campaign's
// holdout group, which gets no link, can convert (or lower) in tests and
// in the demo world. Like the status knob it needs the API secret and lives
// outside /v1.

// Actions of the allocation knob beyond a switch's.
const knobRemove = "remove"

// allocationChange is the knob's body: a switch's choice (full_switch, or
// partial_switch with type and value) or remove, and the bank account it
// is about.
type allocationChange struct {
	Action string   `json:"action"`
	Type   string   `json:"type"`
	Value  *float64 `json:"value"`
	Target *target  `json:"target"`
}

// check validates a change; it returns the switch choice to apply.
func (c allocationChange) check() (switchChoice, *pinwheel.Error) {
	var fields []pinwheel.FieldError
	bad := func(name, msg string) { fields = append(fields, pinwheel.FieldError{Name: name, Message: msg}) }
	actions := []string{pinwheel.ActionFullSwitch, pinwheel.ActionPartialSwitch, knobRemove}
	if !slices.Contains(actions, c.Action) {
		bad("action", enumMsg(actions))
	}
	t := c.Target
	switch {
	case t == nil:
		bad("target", msgRequired)
	default:
		if len(t.RoutingNumber) != 9 || strings.Trim(t.RoutingNumber, "0123456789") != "" {
			bad("target.routing_number", "The routing number has 9 digits.")
		}
		if len(t.AccountNumber) < 4 || len(t.AccountNumber) > 17 || strings.Trim(t.AccountNumber, "0123456789") != "" {
			bad("target.account_number", "The account number has 4 to 17 digits.")
		}
		if t.Type == "" {
			t.Type = "checking"
		}
		if t.Name == "" {
			t.Name = "Checking"
		}
	}
	if c.Action == pinwheel.ActionPartialSwitch {
		switch c.Type {
		case pinwheel.AllocationRemainder:
		case pinwheel.AllocationAmount:
			if c.Value == nil || *c.Value <= 0 || *c.Value > 10000 {
				bad("value", "An amount from 0.01 to 10000 dollars.")
			}
		case pinwheel.AllocationPercentage:
			if c.Value == nil || *c.Value < 1 || *c.Value > 100 {
				bad("value", "A percentage from 1 to 100.")
			}
		default:
			bad("type", enumMsg([]string{pinwheel.AllocationAmount, pinwheel.AllocationPercentage, pinwheel.AllocationRemainder}))
		}
	}
	if len(fields) > 0 {
		return switchChoice{}, invalid(codeValidation, "Validation error.", fields...)
	}
	return switchChoice{Action: c.Action, Type: c.Type, Value: c.Value, Target: *t}, nil
}

// removeTarget takes a bank account out of an allocation set; when that
// leaves no remainder account, the remainder goes back to the account's
// primary checking account.
func removeTarget(s *allocationSet, t target, primary allocation) {
	masked := lastFour(t.AccountNumber)
	var rows []allocation
	remainder := false
	for _, a := range s.Allocations {
		if a.MaskedAccountNumber == masked && a.RoutingNumber == t.RoutingNumber {
			continue
		}
		remainder = remainder || a.AllocationType == pinwheel.AllocationRemainder
		rows = append(rows, a)
	}
	if !remainder {
		rows = append(rows, primary)
	}
	for i := range rows {
		rows[i].Priority = i + 1
	}
	s.Allocations = rows
}

// emulatorSetAllocations handles POST /emulator/accounts/{id}/allocations.
// It answers the new allocations as GET /v1/accounts/{id}/direct_deposit_allocations
// does.
func (e *Emulator) emulatorSetAllocations(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	var body allocationChange
	if !e.decodeBody(w, r, &body) {
		return
	}
	choice, perr := body.check()
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	ctx := r.Context()
	id := strings.ToLower(r.PathValue("id"))
	var out *allocationSet
	var acc *account
	err := e.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := e.store.account(ctx, tx, id)
		if err != nil {
			return err
		}
		set, err := e.store.allocations(ctx, tx, a.ID)
		if errors.Is(err, errNotFound) {
			set, err = initialAllocations(a), nil
		}
		if err != nil {
			return err
		}
		now := e.now()
		if choice.Action == knobRemove {
			removeTarget(set, choice.Target, initialAllocations(a).Allocations[0])
			set.UpdatedAt = now
		} else {
			applySwitch(set, choice, now)
		}
		if err := saveAllocations(ctx, tx, a.ID, set); err != nil {
			return err
		}
		setTime(&a.DataUpdatedAt, pinwheel.JobDDAllocations, now)
		setTime(&a.DataRefreshedAt, pinwheel.JobDDAllocations, now)
		if err := updateAccount(ctx, tx, a); err != nil {
			return err
		}
		out, acc = set, a
		rc := &runContext{acc: a, linkTokenID: a.LinkTokenID, now: now}
		return e.emit(ctx, tx, rc.job(pinwheel.JobDDAllocations, pinwheel.OutcomeSuccess).event(pinwheel.EventDDAllocationsAdded))
	})
	switch {
	case errors.Is(err, errNotFound):
		e.writeError(w, notFound("No account found with the given account_id."))
	case err != nil:
		e.fail(w, r, err)
	default:
		e.writeAPI(w, http.StatusOK, dataEnvelope(allocationsObj(wireAllocations(acc.ID, out)), refreshedMeta(dataTime(acc, pinwheel.JobDDAllocations))))
	}
}

// AllocationChange is what a user changes in their direct deposit
// allocations at work (Driver.SetAllocation): a full switch to Target, a
// partial switch (Type amount, percentage or remainder; Value in dollars or
// percent), or "remove" to stop paying into Target.
type AllocationChange struct {
	Action string      `json:"action"`
	Type   string      `json:"type,omitempty"`
	Value  float64     `json:"value,omitempty"`
	Target BankAccount `json:"target"`
}

// BankAccount is a bank account of an AllocationChange.
type BankAccount struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	RoutingNumber string `json:"routing_number"`
	AccountNumber string `json:"account_number"`
}

// SetAllocation changes an account's allocations as if the user had done
// it at work, through the emulator-only endpoint POST
// /emulator/accounts/{id}/allocations (needs Driver.Secret). The emulator
// sends direct_deposit_allocations.added, as monitoring would.
func (d *Driver) SetAllocation(ctx context.Context, accountID string, c AllocationChange) error {
	return d.emulatorPost(ctx, "/emulator/accounts/"+urlPathEscape(accountID)+"/allocations", c)
}
