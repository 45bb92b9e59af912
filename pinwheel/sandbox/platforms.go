package sandbox

import (
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// platformInfo is one payroll platform of the emulated directory.
type platformInfo struct {
	ID   string
	Name string
	Type string
	Jobs []string
}

// employerInfo is one employer of the emulated directory and the platform
// its payroll runs on.
type employerInfo struct {
	ID         string
	Name       string
	PlatformID string
}

var (
	payrollJobs = []string{pinwheel.JobDDAllocations, pinwheel.JobDDSwitch, pinwheel.JobEmployment,
		pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobPaystubs, pinwheel.JobTaxForms, pinwheel.JobDDPayment}
	gigJobs = []string{pinwheel.JobDDAllocations, pinwheel.JobDDSwitch, pinwheel.JobEmployment,
		pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobPaystubs, pinwheel.JobShifts}
	taJobs = []string{pinwheel.JobEmployment, pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobShifts}
)

// Ids from public sources (docs/pinwheel.md#ids).
const (
	workdayID   = "5965580e-380f-4b86-8a8a-7278c77f73cb"
	adpID       = "5becff90-1e35-450a-8995-13ac411e749b"
	paycomID    = "3f812c04-ac83-495b-99ca-7ec7d56dc68b"
	paychexID   = "9a4e213b-aeed-4cb2-aace-696bcd2b1e0d"
	paylocityID = "913170d1-393c-4f35-8c23-df3133ce7529"
	paycorID    = "b0b655f8-4ae6-4d09-a60f-1df9a2a1fd16"
	justworksID = "fce3eee0-285b-496f-9b36-30e976194736"
)

func platformID(name string) string { return derivedID("platform", name) }

// A list of sandbox-only platforms is not documented publicly (docs/pinwheel.md#undocumented):
// we chose a small directory of well-known platforms, using the public ids of
// docs/pinwheel.md#ids where given and stable derived ids otherwise.
var platforms = []platformInfo{
	{workdayID, "Workday", pinwheel.PlatformPayroll, payrollJobs},
	{adpID, "ADP", pinwheel.PlatformPayroll, payrollJobs},
	{paycomID, "Paycom", pinwheel.PlatformPayroll, payrollJobs},
	{paychexID, "Paychex", pinwheel.PlatformPayroll, payrollJobs},
	{paylocityID, "Paylocity", pinwheel.PlatformPayroll, payrollJobs},
	{paycorID, "Paycor", pinwheel.PlatformPayroll, payrollJobs},
	{justworksID, "Justworks", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("Gusto"), "Gusto", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("Rippling"), "Rippling", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("TriNet"), "TriNet", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("UKG Pro"), "UKG Pro", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("Dayforce"), "Dayforce", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("Square Payroll"), "Square Payroll", pinwheel.PlatformPayroll, payrollJobs},
	{platformID("Amazon Flex"), "Amazon Flex", pinwheel.PlatformPayroll, gigJobs},
	{platformID("DoorDash"), "DoorDash", pinwheel.PlatformPayroll, gigJobs},
	{platformID("Uber Driver"), "Uber Driver", pinwheel.PlatformPayroll, gigJobs},
	{platformID("Lyft Driver"), "Lyft Driver", pinwheel.PlatformPayroll, gigJobs},
	{platformID("When I Work"), "When I Work", pinwheel.PlatformTimeAndAttendance, taJobs},
	{platformID("Deputy"), "Deputy", pinwheel.PlatformTimeAndAttendance, taJobs},
}

func employerID(name string) string { return derivedID("employer", name) }

var employers = []employerInfo{
	{"5a8cfb92-3373-4e65-b41b-54e821e79671", "McKee Foods", workdayID},
	{"bc507614-8b07-41b6-a00c-daa0d2890350", "Tyson Foods", workdayID},
	{"eec356b5-9338-4c7c-ac95-b5fdb2213633", "Amazon Flex", platformID("Amazon Flex")},
	{"737d833a-1b68-44f7-92ae-3808374cb459", "DoorDash", platformID("DoorDash")},
	{"91063607-2b4a-4c8e-8045-a543f01b8b09", "Uber Driver", platformID("Uber Driver")},
	{"70b2bed2-ada8-49ec-99c2-691cc7d28df6", "Lyft Driver", platformID("Lyft Driver")},
	{employerID("Acme Corporation"), "Acme Corporation", adpID},
	{employerID("Globex Corporation"), "Globex Corporation", paychexID},
	{employerID("Initech"), "Initech", platformID("Gusto")},
	{employerID("Umbrella Health"), "Umbrella Health", platformID("UKG Pro")},
	{employerID("Stark Industries"), "Stark Industries", workdayID},
	{employerID("Wayne Enterprises"), "Wayne Enterprises", paycomID},
	{employerID("Hooli"), "Hooli", platformID("Rippling")},
	{employerID("Soylent Foods"), "Soylent Foods", paylocityID},
	{employerID("Cyberdyne Systems"), "Cyberdyne Systems", platformID("TriNet")},
	{employerID("Dunder Mifflin"), "Dunder Mifflin", paycorID},
	{employerID("Vandelay Industries"), "Vandelay Industries", paychexID},
	{employerID("Café Olé Roasters"), "Café Olé Roasters", platformID("Square Payroll")},
	{employerID("Müller & Søn Logistics"), "Müller & Søn Logistics", platformID("Dayforce")},
}

// directoryUpdated is the fixed last_updated of every platform.
var directoryUpdated = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func findPlatform(id string) (platformInfo, bool) {
	i := slices.IndexFunc(platforms, func(p platformInfo) bool { return p.ID == id })
	if i < 0 {
		return platformInfo{}, false
	}
	return platforms[i], true
}

func findEmployer(id string) (employerInfo, bool) {
	i := slices.IndexFunc(employers, func(e employerInfo) bool { return e.ID == id })
	if i < 0 {
		return employerInfo{}, false
	}
	return employers[i], true
}

// supports reports whether the platform supports every data job in jobs.
// Jobs the emulator has no data for (bill_switch, paycheck_viewer, ...) do
// not filter.
func (p platformInfo) supports(jobs []string) bool {
	for _, j := range jobs {
		if slices.Contains(dataJobs, j) && !slices.Contains(p.Jobs, j) {
			return false
		}
	}
	return true
}

// dataJobs are the jobs whose data and events the emulator produces, in the
// order their events are sent.
var dataJobs = []string{pinwheel.JobIdentity, pinwheel.JobEmployment, pinwheel.JobIncome, pinwheel.JobDDAllocations,
	pinwheel.JobPaystubs, pinwheel.JobShifts, pinwheel.JobTaxForms, pinwheel.JobDDSwitch, pinwheel.JobDDPayment}

func fptr(f float64) *float64 { return &f }
func sptr(s string) *string   { return &s }

// wirePlatform renders p as the API's Platform object.
//
// The capability values of sandbox platforms are not documented publicly (docs/pinwheel.md#undocumented):
// we chose amount and percentage switches from 1 % to 100 % on every platform.
func wirePlatform(p platformInfo) pinwheel.Platform {
	return pinwheel.Platform{
		ID:                        p.ID,
		Name:                      p.Name,
		Type:                      p.Type,
		FractionalAmountSupported: true,
		LastUpdated:               pinwheel.NewTime(directoryUpdated),
		PercentageSupported:       true,
		MinPercentage:             fptr(1),
		MaxPercentage:             fptr(100),
		SupportedJobs:             slices.Clone(p.Jobs),
		AmountSupported:           true,
		MinAmount:                 fptr(1),
		MaxAmount:                 fptr(10000),
		LogoURL:                   nil,
	}
}

// searchResult is one row of /v1/search and /link-api/search.
type searchResult struct {
	ID                        string   `json:"id"`
	Name                      string   `json:"name"`
	PlatformType              string   `json:"platform_type"`
	ResponseType              string   `json:"response_type"`
	FractionalAmountSupported bool     `json:"fractional_amount_supported"`
	PercentageSupported       bool     `json:"percentage_supported"`
	MinPercentage             *float64 `json:"min_percentage"`
	MaxPercentage             *float64 `json:"max_percentage"`
	AmountSupported           bool     `json:"amount_supported"`
	MinAmount                 *float64 `json:"min_amount"`
	MaxAmount                 *float64 `json:"max_amount"`
	SupportedJobs             []string `json:"supported_jobs"`
	LogoURL                   *string  `json:"logo_url"`
	PlatformID                string   `json:"platform_id,omitempty"`
}

// search finds employers and platforms whose name contains q (case- and
// accent-insensitive prefix of any word, or substring), optionally limited to
// those supporting jobs and to the given response types.
func search(q string, jobs []string, responseTypes []string, limit int) []searchResult {
	q = fold(strings.TrimSpace(q))
	var out []searchResult
	want := func(t string) bool { return len(responseTypes) == 0 || slices.Contains(responseTypes, t) }
	if want("employer") {
		for _, e := range employers {
			p, _ := findPlatform(e.PlatformID)
			if !strings.Contains(fold(e.Name), q) || !p.supports(jobs) {
				continue
			}
			r := resultFor(p)
			r.ID, r.Name, r.ResponseType, r.PlatformID = e.ID, e.Name, "employer", p.ID
			out = append(out, r)
		}
	}
	if want("platform") {
		for _, p := range platforms {
			if !strings.Contains(fold(p.Name), q) || !p.supports(jobs) {
				continue
			}
			r := resultFor(p)
			r.ResponseType = "platform"
			out = append(out, r)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func resultFor(p platformInfo) searchResult {
	w := wirePlatform(p)
	return searchResult{ID: p.ID, Name: p.Name, PlatformType: p.Type, FractionalAmountSupported: true,
		PercentageSupported: true, MinPercentage: w.MinPercentage, MaxPercentage: w.MaxPercentage, AmountSupported: true,
		MinAmount: w.MinAmount, MaxAmount: w.MaxAmount, SupportedJobs: w.SupportedJobs}
}

// fold lower-cases s and strips the accents the directory uses.
func fold(s string) string { return strings.ToLower(asciiFolder.Replace(s)) }

// asciiFolder maps the accented letters of generated names to ASCII.
var asciiFolder = strings.NewReplacer(
	"á", "a", "à", "a", "ä", "a", "â", "a", "ã", "a", "å", "a", "Á", "A", "Å", "A",
	"é", "e", "è", "e", "ë", "e", "ê", "e", "É", "E",
	"í", "i", "ï", "i", "î", "i", "Í", "I",
	"ó", "o", "ò", "o", "ö", "o", "ô", "o", "ø", "o", "Ó", "O", "Ö", "O", "Ø", "O",
	"ú", "u", "ü", "u", "û", "u", "Ú", "U", "Ü", "U",
	"ñ", "n", "Ñ", "N", "ç", "c", "Ç", "C", "ł", "l", "Ł", "L", "ß", "ss", "ễ", "e", "ư", "u", "đ", "d", "Đ", "D",
)
