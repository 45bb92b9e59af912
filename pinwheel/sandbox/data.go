package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Everything an account's data endpoints serve is generated from a seed
// derived from the account id, so the same account yields the same identity,
// employment, income and paystubs across restarts. Only the direct deposit
// allocations are stored, because a switch changes them.

var (
	firstNames = []string{"Ana", "José", "Zoë", "Renée", "Björn", "Chloé", "Mateo", "Aisha", "Liam", "Noah",
		"Olivia", "Emma", "Sofía", "Lucas", "Mia", "Ethan", "Amelia", "Kenji", "Priya", "Oluwaseun", "Siobhán",
		"François", "Agnieszka", "Jürgen", "Marisol", "Darnell", "Hannah", "Wei", "Fatima", "Connor"}
	lastNames = []string{"García", "Núñez", "Müller", "O'Brien", "Nguyễn", "Smith", "Johnson", "Williams", "Brown",
		"Jones", "Miller", "Davis", "Rodríguez", "Martínez", "Hernández", "Lopez", "Wilson", "Anderson", "Thomas",
		"Taylor", "Moore", "Jackson", "Kowalski", "Søndergaard", "Okafor", "Patel", "Kim", "Chen", "Åberg", "Dubois"}
	streets = []string{"Maple Avenue", "Oak Street", "Pinwheel Drive", "Cedar Lane", "Elm Street", "Washington Boulevard",
		"Lakeview Road", "Sunset Drive", "Highland Avenue", "Mill Road", "Park Place", "Rue Saint-Honoré Court"}
	cities = []struct{ City, State, Zip string }{
		{"New York City", "NY", "100"}, {"Austin", "TX", "787"}, {"Denver", "CO", "802"}, {"Columbus", "OH", "432"},
		{"Portland", "OR", "972"}, {"Atlanta", "GA", "303"}, {"Chicago", "IL", "606"}, {"Phoenix", "AZ", "850"},
		{"San José", "CA", "951"}, {"Raleigh", "NC", "276"}, {"Boise", "ID", "837"}, {"Albuquerque", "NM", "871"},
	}
	companies = []string{"Acme Corporation", "Globex Corporation", "Initech", "Umbrella Health", "Stark Industries",
		"Hooli", "Soylent Foods", "Dunder Mifflin", "Vandelay Industries", "Café Olé Roasters"}
	titles = []string{"Warehouse Associate", "Software Engineer", "Registered Nurse", "Store Manager",
		"Customer Service Representative", "Delivery Driver", "Accountant", "Line Cook", "Teacher", "Technician"}
	banks = []struct{ Name, Routing string }{
		{"Chase", "021000021"}, {"Bank of America", "026009593"}, {"Wells Fargo", "121000248"},
		{"Citibank", "021000089"}, {"Capital One", "056073502"}, {"Ally Bank", "124003116"},
	}
)

// rng returns a deterministic generator for the given parts.
func rng(parts ...string) *rand.Rand {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func fptr(f float64) *float64 { return &f }

// profile is the generated person and job behind an account.
type profile struct {
	First, Last   string
	DOB           time.Time
	SSN4          string
	Email         string
	Phone         string
	Line1         string
	City, State   string
	Zip           string
	Employer      string
	EmployerLine1 string
	EmployerCity  struct{ City, State, Zip string }
	EmployerPhone string
	Title         *string
	StartDate     time.Time
	Hourly        bool
	Rate          int64 // cents per hour when Hourly, else cents per year
	PayPhase      int   // 0 or 7: which Friday of the biweekly grid
	Bank          struct{ Name, Routing string }
	Masked        string
}

func newProfile(a *account) profile {
	r := rng("profile", a.ID)
	var p profile
	p.First, p.Last = pick(r, firstNames), pick(r, lastNames)
	p.DOB = time.Date(1958+r.IntN(45), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	p.SSN4 = fmt.Sprintf("%04d", r.IntN(10000))
	local := strings.ToLower(asciiFolder.Replace(p.First) + "." + strings.ReplaceAll(asciiFolder.Replace(p.Last), "'", ""))
	p.Email = fmt.Sprintf("%s%d@example.com", local, r.IntN(100))
	p.Phone = fmt.Sprintf("+1%03d555%04d", 201+r.IntN(780), r.IntN(10000))
	c := pick(r, cities)
	p.Line1 = fmt.Sprintf("%d %s", 100+r.IntN(29900), pick(r, streets))
	p.City, p.State, p.Zip = c.City, c.State, fmt.Sprintf("%s%02d", c.Zip, r.IntN(100))
	p.Employer = pick(r, companies)
	if e, ok := findEmployer(a.EmployerID); ok {
		p.Employer = e.Name
	}
	p.EmployerLine1 = fmt.Sprintf("%d %s", 1+r.IntN(9000), pick(r, streets))
	p.EmployerCity = pick(r, cities)
	p.EmployerPhone = fmt.Sprintf("+1%03d555%04d", 201+r.IntN(780), r.IntN(10000))
	if r.IntN(5) > 0 {
		p.Title = sptr(pick(r, titles))
	}
	p.StartDate = time.Date(2005+r.IntN(19), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	p.Hourly = r.IntN(2) == 0
	if p.Hourly {
		p.Rate = int64(1500 + 25*r.IntN(200)) // $15.00–$64.75
	} else {
		p.Rate = int64(40000+1000*r.IntN(140)) * 100 // $40k–$179k a year
	}
	p.PayPhase = 7 * r.IntN(2)
	p.Bank = pick(r, banks)
	p.Masked = fmt.Sprintf("%04d", r.IntN(10000))
	return p
}

func address(line1, city, state, zip string) *pinwheel.Address {
	return &pinwheel.Address{
		Raw:        fmt.Sprintf("%s, %s, %s %s", line1, city, state, zip),
		Line1:      sptr(line1),
		Line2:      nil,
		City:       sptr(city),
		State:      sptr(state),
		PostalCode: sptr(zip),
		Country:    sptr("US"),
	}
}

func dataTime(a *account, job string) time.Time {
	if t, ok := a.DataRefreshedAt[job]; ok {
		return t
	}
	return a.CreatedAt
}

func updatedTime(a *account, job string) time.Time {
	if t, ok := a.DataUpdatedAt[job]; ok {
		return t
	}
	return a.CreatedAt
}

func genIdentity(a *account) pinwheel.Identity {
	p := newProfile(a)
	return pinwheel.Identity{
		ID:           derivedID("identity", a.ID),
		CreatedAt:    pinwheel.NewTime(a.CreatedAt),
		UpdatedAt:    pinwheel.NewTime(updatedTime(a, pinwheel.JobIdentity)),
		AccountID:    a.ID,
		FullName:     p.First + " " + p.Last,
		Emails:       []string{p.Email},
		DateOfBirth:  sptr(formatDate(p.DOB)),
		LastFourSSN:  sptr(p.SSN4),
		Address:      address(p.Line1, p.City, p.State, p.Zip),
		PhoneNumbers: []pinwheel.Phone{{Value: p.Phone, Type: nil}},
	}
}

func genEmployment(a *account) pinwheel.Employment {
	p := newProfile(a)
	return pinwheel.Employment{
		ID:                  derivedID("employment", a.ID),
		CreatedAt:           pinwheel.NewTime(a.CreatedAt),
		UpdatedAt:           pinwheel.NewTime(updatedTime(a, pinwheel.JobEmployment)),
		AccountID:           a.ID,
		Status:              sptr("employed"),
		StartDate:           sptr(formatDate(p.StartDate)),
		TerminationDate:     nil,
		EmployerName:        p.Employer,
		EmployerAddress:     address(p.EmployerLine1, p.EmployerCity.City, p.EmployerCity.State, p.EmployerCity.Zip+"00"),
		EmployerPhoneNumber: &pinwheel.Phone{Value: p.EmployerPhone, Type: sptr("work")},
		Title:               p.Title,
	}
}

func genIncome(a *account) pinwheel.Income {
	p := newProfile(a)
	unit := "annually"
	if p.Hourly {
		unit = "hourly"
	}
	return pinwheel.Income{
		ID:                 derivedID("income", a.ID),
		CreatedAt:          pinwheel.NewTime(a.CreatedAt),
		UpdatedAt:          pinwheel.NewTime(updatedTime(a, pinwheel.JobIncome)),
		AccountID:          a.ID,
		CompensationAmount: p.Rate,
		CompensationUnit:   unit,
		Currency:           "USD",
		PayFrequency:       sptr("bi-weekly"),
	}
}

// payGridOrigin is a Friday; pay dates fall every 14 days from it (plus the
// account's phase).
var payGridOrigin = time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC)

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// payDates returns the account's biweekly pay dates in (from, to], newest first.
func payDates(a *account, from, to time.Time) []time.Time {
	phase := newProfile(a).PayPhase
	origin := payGridOrigin.AddDate(0, 0, phase)
	to = day(to)
	n := int(to.Sub(origin).Hours() / 24 / 14)
	var out []time.Time
	for d := origin.AddDate(0, 0, 14*n); d.After(from); d = d.AddDate(0, 0, -14) {
		if !d.After(to) {
			out = append(out, d)
		}
	}
	return out
}

// historyStart is where an account's pay history begins: a year before it
// was connected.
func historyStart(a *account) time.Time { return day(a.CreatedAt).AddDate(-1, 0, 0) }

// genPaystubs returns every paystub of the account, newest first.
func genPaystubs(a *account) []pinwheel.Paystub {
	p := newProfile(a)
	dates := payDates(a, historyStart(a), a.SyncedThrough)
	out := make([]pinwheel.Paystub, len(dates))
	ytdGross, ytdNet := map[int]int64{}, map[int]int64{}
	for i := len(dates) - 1; i >= 0; i-- {
		out[i] = genPaystub(a, &p, dates[i], ytdGross, ytdNet)
	}
	return out
}

func pct(amount int64, permille int64) int64 { return amount * permille / 1000 }

func genPaystub(a *account, p *profile, payDate time.Time, ytdGross, ytdNet map[int]int64) pinwheel.Paystub {
	r := rng("paystub", a.ID, formatDate(payDate))
	var earnings []pinwheel.Earning
	var gross int64
	if p.Hourly {
		hours := 72 + 0.5*float64(r.IntN(33))
		amount := int64(float64(p.Rate) * hours)
		earnings = append(earnings, pinwheel.Earning{Name: "Regular", Category: "hourly", Amount: amount,
			Rate: fptr(float64(p.Rate)), Hours: fptr(hours)})
		gross = amount
		if r.IntN(4) == 0 {
			ot := 0.5 * float64(1+r.IntN(16))
			otRate := math.Round(float64(p.Rate) * 1.5) // rates are whole cents (recorded)
			otAmount := int64(otRate * ot)
			earnings = append(earnings, pinwheel.Earning{Name: "Overtime", Category: "overtime", Amount: otAmount,
				Rate: fptr(otRate), Hours: fptr(ot)})
			gross += otAmount
		}
	} else {
		gross = p.Rate / 26
		earnings = append(earnings, pinwheel.Earning{Name: "Salary", Category: "salary", Amount: gross, Hours: fptr(80)})
	}
	taxes := []pinwheel.PaystubTax{
		{Name: "Federal Income Tax", Category: "federal_income", Amount: pct(gross, 100)},
		{Name: "Employee Social Security Tax", Category: "social_security", Amount: pct(gross, 62)},
		{Name: "Employee Medicare Tax", Category: "medicare", Amount: pct(gross, 14)},
		{Name: "State Income Tax", Category: "state_income", Amount: pct(gross, 40)},
	}
	deductions := []pinwheel.PaystubDeduction{
		{Name: "401(k)", Category: "retirement", Amount: pct(gross, 50), Type: "pre_tax"},
		{Name: "Medical", Category: "medical_insurance", Amount: 4500, Type: "pre_tax"},
		{Name: "Dental", Category: "dental", Amount: 800, Type: "pre_tax"},
	}
	var totalTaxes, totalDeductions int64
	for _, t := range taxes {
		totalTaxes += t.Amount
	}
	for _, d := range deductions {
		totalDeductions += d.Amount
	}
	net := gross - totalTaxes - totalDeductions
	y := payDate.Year()
	ytdGross[y] += gross
	ytdNet[y] += net
	g, n := ytdGross[y], ytdNet[y]
	end := payDate.AddDate(0, 0, -6)
	created := a.CreatedAt
	if payDate.After(day(a.CreatedAt)) {
		created = payDate.Add(12 * time.Hour)
	}
	return pinwheel.Paystub{
		ID:                  derivedID("paystub", a.ID, formatDate(payDate)),
		CreatedAt:           pinwheel.NewTime(created),
		AccountID:           a.ID,
		PayDate:             formatDate(payDate),
		PayPeriodStart:      sptr(formatDate(end.AddDate(0, 0, -13))),
		PayPeriodEnd:        sptr(formatDate(end)),
		Currency:            "USD",
		GrossPayAmount:      gross,
		NetPayAmount:        net,
		CheckAmount:         net,
		GrossPayYTD:         &g,
		NetPayYTD:           &n,
		TotalTaxes:          totalTaxes,
		TotalDeductions:     totalDeductions,
		TotalReimbursements: 0,
		ExternalPaystubID:   nil,
		EmployerName:        sptr(p.Employer),
		Taxes:               taxes,
		Deductions:          deductions,
		Earnings:            earnings,
		TimeOff: []pinwheel.TimeOff{
			{Name: "PTO", Category: "pto", AvailableHours: fptr(float64(8 + r.IntN(80))), EarnedHours: fptr(3.08), UsedHours: fptr(0)},
			{Name: "Sick Leave", Category: "sick", AvailableHours: fptr(float64(r.IntN(40))), EarnedHours: fptr(1.54), UsedHours: fptr(0)},
		},
		Document: &pinwheel.Document{ID: derivedID("paystub document", a.ID, formatDate(payDate))},
	}
}

// shiftDays returns the days with a shift in (from, to], newest first: every
// day, like the recorded sandbox (90 daily shifts for 90 days).
func shiftDays(from, to time.Time) []time.Time {
	var out []time.Time
	for d := day(to); d.After(from); d = d.AddDate(0, 0, -1) {
		out = append(out, d)
	}
	return out
}

// shiftHistoryStart is where shift history begins: 90 days before connection.
func shiftHistoryStart(a *account) time.Time { return day(a.CreatedAt).AddDate(0, 0, -90) }

var newYork = func() *time.Location {
	if l, err := time.LoadLocation("America/New_York"); err == nil {
		return l
	}
	return time.FixedZone("EST", -5*3600)
}()

// genShifts returns every shift of the account, newest first.
func genShifts(a *account) []pinwheel.Shift {
	p := newProfile(a)
	rate := p.Rate
	if !p.Hourly {
		rate = p.Rate / 2080
	}
	days := shiftDays(shiftHistoryStart(a), a.SyncedThrough)
	out := make([]pinwheel.Shift, len(days))
	for i, d := range days {
		from := time.Date(d.Year(), d.Month(), d.Day(), 9, 0, 0, 0, newYork)
		to := from.Add(8 * time.Hour)
		created := a.CreatedAt
		if d.After(day(a.CreatedAt)) {
			created = to.UTC()
		}
		out[i] = pinwheel.Shift{
			ID:         derivedID("shift", a.ID, formatDate(d)),
			CreatedAt:  pinwheel.NewTime(created),
			AccountID:  a.ID,
			StartDate:  formatDate(d),
			EndDate:    formatDate(d),
			Type:       "shift",
			Timezone:   sptr("America/New_York"),
			Timestamps: []pinwheel.ShiftTimestamp{{From: pinwheel.NewTime(from), To: pinwheel.NewTime(to)}},
			Currency:   "USD",
			Earnings: []pinwheel.Earning{{Name: "Regular", Category: "hourly", Amount: rate * 8,
				Rate: fptr(float64(rate)), Hours: fptr(8)}},
		}
	}
	return out
}

// initialAllocations is the allocation snapshot of a new account: 100 % of
// the paycheck (remainder) to a primary checking account.
func initialAllocations(a *account) *allocationSet {
	p := newProfile(a)
	bank := p.Bank.Name
	return &allocationSet{
		ID:        derivedID("direct_deposit_allocations", a.ID),
		CreatedAt: a.CreatedAt,
		UpdatedAt: a.CreatedAt,
		Allocations: []allocation{{
			AccountName:         "Primary Checking",
			AccountType:         "checking",
			AllocationType:      pinwheel.AllocationRemainder,
			BankName:            &bank,
			Currency:            "USD",
			MaskedAccountNumber: p.Masked,
			Priority:            1,
			RoutingNumber:       p.Bank.Routing,
		}},
	}
}

func wireAllocations(accountID string, s *allocationSet) pinwheel.DDAllocations {
	out := pinwheel.DDAllocations{
		ID:          s.ID,
		AccountID:   accountID,
		CreatedAt:   pinwheel.NewTime(s.CreatedAt),
		UpdatedAt:   pinwheel.NewTime(s.UpdatedAt),
		Allocations: make([]pinwheel.DDAllocation, 0, len(s.Allocations)),
	}
	for _, a := range s.Allocations {
		prio := a.Priority
		out.Allocations = append(out.Allocations, pinwheel.DDAllocation{
			AccountName:         sptr(a.AccountName),
			AccountType:         sptr(a.AccountType),
			AllocationType:      a.AllocationType,
			Amount:              a.Amount,
			BankName:            a.BankName,
			Currency:            a.Currency,
			MaskedAccountNumber: sptr(a.MaskedAccountNumber),
			Percentage:          a.Percentage,
			Priority:            &prio,
			RoutingNumber:       sptr(a.RoutingNumber),
		})
	}
	return out
}

// switchChoice is what the user chose on the allocation screen.
type switchChoice struct {
	Action string   `json:"action"` // full_switch | partial_switch
	Type   string   `json:"type"`   // amount | percentage | remainder ("" for full_switch)
	Value  *float64 `json:"value"`  // dollars for amount, percent for percentage
	Target target   `json:"target"`
}

// lastFour returns the last four characters of s.
func lastFour(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

// applySwitch changes an allocation snapshot the way a deposit switch does:
// a full switch (or a partial remainder switch) makes the target the
// remainder account; an amount or percentage switch adds or updates a row
// for the target that is filled before the remainder.
func applySwitch(s *allocationSet, c switchChoice, now time.Time) {
	masked := lastFour(c.Target.AccountNumber)
	row := allocation{
		AccountName:         c.Target.Name,
		AccountType:         c.Target.Type,
		Currency:            "USD",
		MaskedAccountNumber: masked,
		RoutingNumber:       c.Target.RoutingNumber,
	}
	same := func(a allocation) bool {
		return a.MaskedAccountNumber == masked && a.RoutingNumber == c.Target.RoutingNumber
	}
	var rows []allocation
	switch {
	case c.Action == pinwheel.ActionFullSwitch:
		row.AllocationType = pinwheel.AllocationRemainder
		rows = []allocation{row}
	case c.Type == pinwheel.AllocationRemainder:
		row.AllocationType = pinwheel.AllocationRemainder
		for _, a := range s.Allocations {
			if a.AllocationType != pinwheel.AllocationRemainder && !same(a) {
				rows = append(rows, a)
			}
		}
		rows = append(rows, row)
	default:
		row.AllocationType = c.Type
		if c.Type == pinwheel.AllocationAmount {
			cents := int64(*c.Value*100 + 0.5)
			row.Amount = &cents
		} else {
			v := *c.Value
			row.Percentage = &v
		}
		rows = append(rows, row)
		for _, a := range s.Allocations {
			if same(a) && a.AllocationType != pinwheel.AllocationRemainder {
				continue // replaced by the new row
			}
			rows = append(rows, a)
		}
	}
	// Amount and percentage rows first (in their order), the remainder last.
	var fixed, rest []allocation
	for _, a := range rows {
		if a.AllocationType == pinwheel.AllocationRemainder {
			rest = append(rest, a)
		} else {
			fixed = append(fixed, a)
		}
	}
	rows = append(fixed, rest...)
	for i := range rows {
		rows[i].Priority = i + 1
	}
	s.Allocations = rows
	s.UpdatedAt = now
}
