package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Tax forms (docs/pinwheel.md#tax-forms): a W-2 for each of the two calendar
// years before the account was connected, computed from the same generated
// paystubs the paystubs endpoint serves, so the figures agree.

// taxForm is one generated W-2.
type taxForm struct {
	ID         string
	DocumentID string
	Year       int
	CreatedAt  time.Time
	Wages      int64
	FederalTax int64
	SocialTax  int64
	Medicare   int64
	StateTax   int64
	Retirement int64
	State      string
}

// genTaxForms returns the account's W-2s, newest year first.
func genTaxForms(a *account) []taxForm {
	p := newProfile(a)
	pl := planPay(a)
	stubs := pl.scheduledStubs(a, time.Date(a.CreatedAt.Year()-1, 12, 31, 0, 0, 0, 0, time.UTC))
	var out []taxForm
	for _, year := range []int{a.CreatedAt.Year() - 1, a.CreatedAt.Year() - 2} {
		f := taxForm{ID: derivedID("tax_form", a.ID, strconv.Itoa(year)), DocumentID: derivedID("tax form document", a.ID, strconv.Itoa(year)),
			Year: year, CreatedAt: a.CreatedAt, State: p.EmployerCity.State}
		for _, stub := range stubs {
			if !strings.HasPrefix(stub.PayDate, strconv.Itoa(year)+"-") {
				continue
			}
			f.Wages += stub.GrossPayAmount
			for _, t := range stub.Taxes {
				switch t.Category {
				case "federal_income":
					f.FederalTax += t.Amount
				case "social_security":
					f.SocialTax += t.Amount
				case "medicare":
					f.Medicare += t.Amount
				case "state_income":
					f.StateTax += t.Amount
				}
			}
			for _, d := range stub.Deductions {
				if d.Category == "retirement" {
					f.Retirement += d.Amount
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// taxFormObj renders a tax form in the key order of the OpenAPI example;
// year is an integer (the schema's type; the example's '2021' is a string).
func taxFormObj(a *account, f taxForm) obj {
	return obj{{"id", f.ID}, {"account_id", a.ID}, {"created_at", f.CreatedAt}, {"form_type", "W-2"}, {"year", f.Year}}
}

// w2ParsedData renders the W-2 boxes (amounts in cents, as the OpenAPI
// example's integers).
func w2ParsedData(a *account, f taxForm) obj {
	p := newProfile(a)
	id := genIdentity(a)
	emp := genEmployment(a)
	ein := fmt.Sprintf("%09d", rng("ein", a.ID).IntN(1_000_000_000))
	return obj{
		{"box_a", "XXX-XX-" + p.SSN4},
		{"box_b", ein},
		{"box_c", obj{{"name", strings.ToUpper(emp.EmployerName)}, {"address", addressObj(emp.EmployerAddress)}}},
		{"box_d", nil},
		{"box_e", strings.ToUpper(id.FullName)},
		{"box_f", addressObj(id.Address)},
		{"box_1", f.Wages - f.Retirement},
		{"box_2", f.FederalTax},
		{"box_3", f.Wages},
		{"box_4", f.SocialTax},
		{"box_5", f.Wages},
		{"box_6", f.Medicare},
		{"box_7", nil},
		{"box_8", nil},
		{"box_9", nil},
		{"box_10", nil},
		{"box_11", nil},
		{"box_12", []obj{{{"code", "D"}, {"amount", f.Retirement}}}},
		{"box_13", obj{{"statutory_employee", false}, {"retirement_plan", f.Retirement > 0}, {"third_party_sick_pay", false}}},
		{"box_14", nil},
		{"box_15_to_20", []obj{{{"box_15_state", f.State}, {"box_15_employer_state_id", nil}, {"box_16", f.Wages - f.Retirement},
			{"box_17", f.StateTax}, {"box_18", nil}, {"box_19", nil}, {"box_20", nil}}}},
	}
}

func taxFormLines(a *account, f taxForm) []string {
	return []string{"Form W-2 " + strconv.Itoa(f.Year) + " (Pinwheel sandbox emulator)", "Employer: " + genEmployment(a).EmployerName,
		"Employee: " + genIdentity(a).FullName, "Wages: " + money(f.Wages-f.Retirement), "Federal tax withheld: " + money(f.FederalTax),
		"Social security tax: " + money(f.SocialTax), "Medicare tax: " + money(f.Medicare), "State tax: " + money(f.StateTax)}
}

// yearParam reads an optional integer year parameter.
func yearParam(r *http.Request, name string) (int, bool, *pinwheel.Error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1900 || n > 9999 {
		return 0, false, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: name, Message: "Value is not a valid integer year."})
	}
	return n, true, nil
}

// listTaxForms handles GET /v1/accounts/{id}/tax_forms: newest year first,
// from_year/to_year inclusive, without the document.
func (e *Emulator) listTaxForms(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	from, hasFrom, perr := yearParam(r, "from_year")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	to, hasTo, perr := yearParam(r, "to_year")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	var items []obj
	var next *string
	for i, f := range genTaxForms(a) {
		if i < c.Index || (hasFrom && f.Year < from) || (hasTo && f.Year > to) {
			continue
		}
		if len(items) == limit {
			next = e.encodeCursor(cursor{Index: i})
			break
		}
		items = append(items, taxFormObj(a, f))
	}
	refreshed := dataTime(a, pinwheel.JobTaxForms)
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, &refreshed), items))
}

// getTaxForm handles GET /v1/accounts/{id}/tax_forms/{tax_form_id}: the form
// with its document and, with with_parsed_data=true, the W-2 boxes.
func (e *Emulator) getTaxForm(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	parsed := false
	if s := r.URL.Query().Get("with_parsed_data"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			e.writeError(w, invalid(codeValidation, "Validation error.",
				pinwheel.FieldError{Name: "with_parsed_data", Message: "Value is not a valid boolean."}))
			return
		}
		parsed = b
	}
	id := strings.ToLower(r.PathValue("tax_form_id"))
	for _, f := range genTaxForms(a) {
		if f.ID != id {
			continue
		}
		o := taxFormObj(a, f)
		o = append(o, kv{"document", e.documentObj(a.ID, docTaxForm, f.DocumentID)})
		if parsed {
			o = append(o, kv{"parsed_data", w2ParsedData(a, f)}, kv{"warnings", []obj{}})
		}
		e.writeAPI(w, http.StatusOK, dataEnvelope(o, nil))
		return
	}
	e.writeError(w, notFound("No tax form found with the given id."))
}
