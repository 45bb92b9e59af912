package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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
	e, chosen := findEmployer(a.EmployerID)
	switch {
	case chosen:
		p.Employer = e.Name
	case a.Pay != nil && a.Pay.Employer != "":
		p.Employer = a.Pay.Employer
	case isGig(a):
		pl, _ := findPlatform(a.PlatformID)
		p.Employer = pl.Name // a gig worker works for the platform
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
	pl := planPay(a)
	status, ended := "employed", (*string)(nil)
	if !pl.end.IsZero() {
		status, ended = "terminated", sptr(formatDate(pl.end))
	}
	return pinwheel.Employment{
		ID:                  derivedID("employment", a.ID),
		CreatedAt:           pinwheel.NewTime(a.CreatedAt),
		UpdatedAt:           pinwheel.NewTime(updatedTime(a, pinwheel.JobEmployment)),
		AccountID:           a.ID,
		Status:              sptr(status),
		StartDate:           sptr(formatDate(pl.jobStart)),
		TerminationDate:     ended,
		EmployerName:        p.Employer,
		EmployerAddress:     address(p.EmployerLine1, p.EmployerCity.City, p.EmployerCity.State, p.EmployerCity.Zip+"00"),
		EmployerPhoneNumber: &pinwheel.Phone{Value: p.EmployerPhone, Type: sptr("work")},
		Title:               p.Title,
	}
}

// genIncome states the compensation the employer has on file now (after
// a raise): a salary per year, or a rate per hour (gig platforms: the base
// rate, paid weekly for the week's shifts, pay_frequency variable).
func genIncome(a *account) pinwheel.Income {
	pl := planPay(a)
	unit := "hourly"
	if pl.Kind == PayKindSalaried {
		unit = "annually"
	}
	at := day(a.CreatedAt)
	if !pl.end.IsZero() {
		at = pl.end
	}
	return pinwheel.Income{
		ID:                 derivedID("income", a.ID),
		CreatedAt:          pinwheel.NewTime(a.CreatedAt),
		UpdatedAt:          pinwheel.NewTime(updatedTime(a, pinwheel.JobIncome)),
		AccountID:          a.ID,
		CompensationAmount: pl.rateAt(at),
		CompensationUnit:   unit,
		Currency:           "USD",
		PayFrequency:       sptr(pl.Frequency),
	}
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
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
