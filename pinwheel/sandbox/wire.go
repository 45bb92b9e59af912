package sandbox

import (
	"math"
	"net/http"
	"time"

	"linkdesk/pinwheel"
)

// The /v1 response bodies. Each is built as an ordered obj so that key order
// and number formats match what Pinwheel writes (docs/pinwheel.md#numbers):
// keys in the recorded order where a recording exists, else in the order of
// the OpenAPI document's schema or example; amounts, counts and rates as
// integers; hours and percentages as Python floats (10.0). Objects without
// any recorded or documented example are rendered in schema order, and
// docs/sandbox.md says so.

// dataEnvelope is {"data": d} or, with meta, {"data": d, "meta": m}: single
// objects put data first (recorded identity, employment, income).
func dataEnvelope(d any, meta obj) obj {
	o := obj{{"data", d}}
	if meta != nil {
		o = append(o, kv{"meta", meta})
	}
	return o
}

// listEnvelope is {"meta": m, "data": [...]}: the recorded list answers
// (search, paystubs, shifts) put meta first.
func listEnvelope(meta obj, items []obj) obj {
	if items == nil {
		items = []obj{}
	}
	return obj{{"meta", meta}, {"data", items}}
}

// pageMeta is the meta of a paginated list: {count, next_cursor}, with
// refreshed_at first for account data (the recorded order).
func pageMeta(count int, next *string, refreshed *time.Time) obj {
	var o obj
	if refreshed != nil {
		o = append(o, kv{"refreshed_at", *refreshed})
	}
	var nc any
	if next != nil {
		nc = *next
	}
	return append(o, kv{"count", count}, kv{"next_cursor", nc})
}

func refreshedMeta(t time.Time) obj { return obj{{"refreshed_at", t}} }

// errorBody is the documented error envelope, in the documented key order,
// fields as [{message, name}] like the documented example.
func errorBody(pe *pinwheel.Error) obj {
	o := obj{{"type", pe.Type}, {"code", pe.Code}, {"message", pe.Message}, {"status_code", pe.StatusCode}}
	if len(pe.Fields) > 0 {
		fields := make([]obj, 0, len(pe.Fields))
		for _, f := range pe.Fields {
			fields = append(fields, obj{{"message", f.Message}, {"name", f.Name}})
		}
		o = append(o, kv{"fields", fields})
	}
	return obj{{"error", o}}
}

// writeAPI writes a /v1 response body.
func (e *Emulator) writeAPI(w http.ResponseWriter, status int, body obj) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(apiJSON(body))
}

// dataKeys is the key order of data_updated_at and data_refreshed_at
// (recorded, and the schema's).
var dataKeys = []string{pinwheel.JobDDAllocations, pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobIdentity,
	pinwheel.JobShifts, pinwheel.JobPaystubs}

func timesObj(m map[string]time.Time) obj {
	o := obj{}
	for _, k := range dataKeys {
		if t, ok := m[k]; ok {
			o = append(o, kv{k, t})
		}
	}
	return o
}

// accountObj renders an Account in the recorded key order; tags (2025-07-08
// schema) only when the token set some.
func accountObj(a *account, version string) obj {
	o := obj{
		{"created_at", a.CreatedAt},
		{"link_token_id", a.LinkTokenID},
		{"platform_id", a.PlatformID},
		{"connected", a.Connected},
		{"monitoring_status", a.MonitoringStatus},
		{"end_user_id", a.EndUserID},
		{"id", a.ID},
		{"data_updated_at", timesObj(a.DataUpdatedAt)},
		{"data_refreshed_at", timesObj(a.DataRefreshedAt)},
	}
	if newer(version) && len(a.Tags) > 0 {
		o = append(o, kv{"tags", a.Tags})
	}
	return o
}

func strOrNull(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// floatOrNull renders a float field (hours, percentages) as a Python float.
func floatOrNull(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// centsOrNull renders an integer field held as a float (rates) as an int.
func centsOrNull(p *float64) any {
	if p == nil {
		return nil
	}
	return int64(math.Round(*p))
}

func intOrNull(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func timeOf(t pinwheel.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Time
}

func addressObj(a *pinwheel.Address) any {
	if a == nil {
		return nil
	}
	return obj{{"raw", a.Raw}, {"line1", strOrNull(a.Line1)}, {"line2", strOrNull(a.Line2)}, {"city", strOrNull(a.City)},
		{"state", strOrNull(a.State)}, {"postal_code", strOrNull(a.PostalCode)}, {"country", strOrNull(a.Country)}}
}

func phoneObj(p pinwheel.Phone) obj { return obj{{"value", p.Value}, {"type", strOrNull(p.Type)}} }

func identityObj(id pinwheel.Identity) obj {
	phones := make([]obj, 0, len(id.PhoneNumbers))
	for _, p := range id.PhoneNumbers {
		phones = append(phones, phoneObj(p))
	}
	return obj{
		{"id", id.ID},
		{"created_at", timeOf(id.CreatedAt)},
		{"updated_at", timeOf(id.UpdatedAt)},
		{"account_id", id.AccountID},
		{"full_name", id.FullName},
		{"emails", id.Emails},
		{"date_of_birth", strOrNull(id.DateOfBirth)},
		{"last_four_ssn", strOrNull(id.LastFourSSN)},
		{"address", addressObj(id.Address)},
		{"phone_numbers", phones},
	}
}

func employmentObj(em pinwheel.Employment) obj {
	var phone any
	if em.EmployerPhoneNumber != nil {
		phone = phoneObj(*em.EmployerPhoneNumber)
	}
	return obj{
		{"id", em.ID},
		{"created_at", timeOf(em.CreatedAt)},
		{"updated_at", timeOf(em.UpdatedAt)},
		{"account_id", em.AccountID},
		{"status", strOrNull(em.Status)},
		{"start_date", strOrNull(em.StartDate)},
		{"termination_date", strOrNull(em.TerminationDate)},
		{"employer_name", em.EmployerName},
		{"employer_address", addressObj(em.EmployerAddress)},
		{"employer_phone_number", phone},
		{"title", strOrNull(em.Title)},
	}
}

func incomeObj(in pinwheel.Income) obj {
	return obj{
		{"id", in.ID},
		{"created_at", timeOf(in.CreatedAt)},
		{"updated_at", timeOf(in.UpdatedAt)},
		{"account_id", in.AccountID},
		{"compensation_amount", in.CompensationAmount},
		{"compensation_unit", in.CompensationUnit},
		{"currency", in.Currency},
		{"pay_frequency", strOrNull(in.PayFrequency)},
	}
}

func earningsObj(es []pinwheel.Earning) []obj {
	out := make([]obj, 0, len(es))
	for _, e := range es {
		out = append(out, obj{{"name", e.Name}, {"category", e.Category}, {"amount", e.Amount},
			{"rate", centsOrNull(e.Rate)}, {"hours", floatOrNull(e.Hours)}})
	}
	return out
}

// paystubObj renders a paystub in the recorded key order. doc is its
// document object (recorded: {id, download_url, download_url_expiration}).
func paystubObj(p pinwheel.Paystub, doc obj) obj {
	taxes := make([]obj, 0, len(p.Taxes))
	for _, t := range p.Taxes {
		taxes = append(taxes, obj{{"name", t.Name}, {"category", t.Category}, {"amount", t.Amount}})
	}
	deds := make([]obj, 0, len(p.Deductions))
	for _, d := range p.Deductions {
		deds = append(deds, obj{{"name", d.Name}, {"category", d.Category}, {"amount", d.Amount}, {"type", d.Type}})
	}
	offs := make([]obj, 0, len(p.TimeOff))
	for _, t := range p.TimeOff {
		offs = append(offs, obj{{"name", t.Name}, {"category", t.Category}, {"available_hours", floatOrNull(t.AvailableHours)},
			{"earned_hours", floatOrNull(t.EarnedHours)}, {"used_hours", floatOrNull(t.UsedHours)}})
	}
	o := obj{
		{"id", p.ID},
		{"created_at", timeOf(p.CreatedAt)},
		{"account_id", p.AccountID},
		{"pay_date", p.PayDate},
		{"pay_period_start", strOrNull(p.PayPeriodStart)},
		{"pay_period_end", strOrNull(p.PayPeriodEnd)},
		{"currency", p.Currency},
		{"gross_pay_amount", p.GrossPayAmount},
		{"net_pay_amount", p.NetPayAmount},
		{"check_amount", p.CheckAmount},
		{"gross_pay_ytd", intOrNull(p.GrossPayYTD)},
		{"net_pay_ytd", intOrNull(p.NetPayYTD)},
		{"total_taxes", p.TotalTaxes},
		{"total_deductions", p.TotalDeductions},
		{"total_reimbursements", p.TotalReimbursements},
		{"external_paystub_id", strOrNull(p.ExternalPaystubID)},
		{"employer_name", strOrNull(p.EmployerName)},
		{"taxes", taxes},
		{"deductions", deds},
		{"earnings", earningsObj(p.Earnings)},
		{"time_off", offs},
	}
	if doc != nil {
		o = append(o, kv{"document", doc})
	}
	return o
}

// shiftObj renders a shift in the recorded key order; its timestamps keep
// their local offset (recorded: 2025-06-24T09:00:00-04:00).
func shiftObj(s pinwheel.Shift) obj {
	stamps := make([]obj, 0, len(s.Timestamps))
	for _, ts := range s.Timestamps {
		stamps = append(stamps, obj{{"from", ts.From.Format(localLayout)}, {"to", ts.To.Format(localLayout)}})
	}
	return obj{
		{"id", s.ID},
		{"created_at", timeOf(s.CreatedAt)},
		{"account_id", s.AccountID},
		{"start_date", s.StartDate},
		{"end_date", s.EndDate},
		{"type", s.Type},
		{"timezone", strOrNull(s.Timezone)},
		{"timestamps", stamps},
		{"currency", s.Currency},
		{"earnings", earningsObj(s.Earnings)},
	}
}

// localLayout is a shift timestamp: seconds and the local offset (recorded).
const localLayout = "2006-01-02T15:04:05-07:00"

// allocationsObj renders direct deposit allocations in the key order of the
// OpenAPI example (no recording). percentage is a number in the schema; we
// write it as a Python float.
func allocationsObj(d pinwheel.DDAllocations) obj {
	items := make([]obj, 0, len(d.Allocations))
	for _, a := range d.Allocations {
		var prio any
		if a.Priority != nil {
			prio = *a.Priority
		}
		items = append(items, obj{
			{"account_name", strOrNull(a.AccountName)},
			{"account_type", strOrNull(a.AccountType)},
			{"allocation_type", a.AllocationType},
			{"amount", intOrNull(a.Amount)},
			{"bank_name", strOrNull(a.BankName)},
			{"currency", a.Currency},
			{"masked_account_number", strOrNull(a.MaskedAccountNumber)},
			{"percentage", floatOrNull(a.Percentage)},
			{"priority", prio},
			{"routing_number", strOrNull(a.RoutingNumber)},
		})
	}
	return obj{{"id", d.ID}, {"account_id", d.AccountID}, {"created_at", timeOf(d.CreatedAt)},
		{"updated_at", timeOf(d.UpdatedAt)}, {"allocations", items}}
}

// webhookObj renders a Webhook in the key order of the OpenAPI example.
func webhookObj(w *webhook) obj {
	o := obj{{"url", w.URL}, {"id", w.ID}, {"created_at", w.CreatedAt}, {"last_updated", w.LastUpdated},
		{"enabled_events", w.EnabledEvents}, {"status", w.Status}, {"version", w.Version}}
	if w.CustomerID != nil {
		o = append(o, kv{"customer_id", *w.CustomerID})
	}
	return o
}
