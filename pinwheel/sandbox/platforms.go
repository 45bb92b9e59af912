package sandbox

import (
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// The emulated directory (docs/pinwheel.md#directory, #ids). Real entries
// carry the ids, names, capabilities and supported_jobs that public sources
// give; the recorded sandbox's own answers where there are some. Invented
// entries are kept apart in inventedPlatforms: their ids are derived by the
// emulator and will not exist on the real API (docs/sandbox.md lists them).

// platformInfo is one platform of the emulated directory.
type platformInfo struct {
	ID          string
	Name        string
	Type        string
	Jobs        []string // supported_jobs, in the recorded order where recorded
	LogoURL     string   // "" is null
	LastUpdated time.Time
	Fractional  bool // fractional_amount_supported
	Amount      bool // amount_supported
	Percentage  bool // percentage_supported
	// Invented marks an entry no public source gives (derived id).
	Invented bool
}

// employerInfo is one employer of the emulated directory and the platform
// its payroll runs on. The platform is internal to the emulator (the
// Employer object has no platform field): it names the login screen and the
// accounts' platform_id.
type employerInfo struct {
	ID          string
	Name        string
	PlatformID  string
	Jobs        []string
	LogoURL     string
	LastUpdated time.Time
	Fractional  bool
	Amount      bool
	Percentage  bool
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Ids from public sources (docs/pinwheel.md#ids).
const (
	workdayID   = "5965580e-380f-4b86-8a8a-7278c77f73cb"
	adpID       = "5becff90-1e35-450a-8995-13ac411e749b"
	paycomID    = "3f812c04-ac83-495b-99ca-7ec7d56dc68b"
	paychexID   = "9a4e213b-aeed-4cb2-aace-696bcd2b1e0d"
	paylocityID = "913170d1-393c-4f35-8c23-df3133ce7529"
	paycorID    = "b0b655f8-4ae6-4d09-a60f-1df9a2a1fd16"
)

// workdayJobs are Workday's supported_jobs as the recorded sandbox answered
// GET /v1/platforms/{id}, in its order.
var workdayJobs = []string{"paystubs", "employment", "tax_forms", "shifts", "company_census", "company_employments",
	"direct_deposit_allocations", "identity", "company_incomes", "income", "direct_deposit_switch"}

// directoryUpdated is the last_updated of entries whose real value no public
// source gives.
var directoryUpdated = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// realPlatforms: Workday exactly as recorded; the other five have public ids
// and logos (DSACMS's provider_search_service.rb), while their capabilities
// and supported_jobs are not documented publicly (docs/pinwheel.md#undocumented):
// we chose Workday's, the one recorded payroll platform.
var realPlatforms = []platformInfo{
	{ID: workdayID, Name: "Workday", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL:     "https://cdn.getpinwheel.com/assets/platforms/logos/search/cfmpw.png",
		LastUpdated: mustTime("2025-05-13T18:41:08.804385+00:00"), Fractional: true, Amount: true, Percentage: true},
	{ID: adpID, Name: "ADP", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL: "https://cdn.getpinwheel.com/assets/platforms/logos/search/adpPortal.svg", LastUpdated: directoryUpdated,
		Fractional: true, Amount: true, Percentage: true},
	{ID: paycomID, Name: "Paycom", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL: "https://cdn.getpinwheel.com/assets/platforms/logos/search/paycom.svg", LastUpdated: directoryUpdated,
		Fractional: true, Amount: true, Percentage: true},
	{ID: paychexID, Name: "Paychex", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL: "https://cdn.getpinwheel.com/assets/platforms/logos/search/paychex.svg", LastUpdated: directoryUpdated,
		Fractional: true, Amount: true, Percentage: true},
	{ID: paylocityID, Name: "Paylocity", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL: "https://cdn.getpinwheel.com/assets/platforms/logos/search/paylocity.png", LastUpdated: directoryUpdated,
		Fractional: true, Amount: true, Percentage: true},
	{ID: paycorID, Name: "Paycor", Type: pinwheel.PlatformPayroll, Jobs: workdayJobs,
		LogoURL: "https://cdn.getpinwheel.com/assets/platforms/logos/search/paycor.png", LastUpdated: directoryUpdated,
		Fractional: true, Amount: true, Percentage: true},
}

// inventedID is the derived id of an invented platform. Such ids exist only
// in the emulator.
func inventedID(name string) string { return derivedID("platform", name) }

var (
	gigJobs = []string{pinwheel.JobPaystubs, pinwheel.JobEmployment, pinwheel.JobShifts, pinwheel.JobDDAllocations,
		pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobDDSwitch}
	taJobs = []string{pinwheel.JobEmployment, pinwheel.JobShifts, pinwheel.JobIdentity, pinwheel.JobIncome}
)

// inventedPlatforms are the emulator's own entries, kept so the demo and
// tests have platforms of every kind: two payroll platforms without a public
// id, the platforms behind the public gig employers (whose platform ids no
// public source gives) and two time-and-attendance platforms. Every id here
// is derived and would get 404 from the real API.
var inventedPlatforms = func() []platformInfo {
	var out []platformInfo
	add := func(name, typ string, jobs []string) {
		out = append(out, platformInfo{ID: inventedID(name), Name: name, Type: typ, Jobs: jobs, LastUpdated: directoryUpdated,
			Fractional: true, Amount: true, Percentage: true, Invented: true})
	}
	add("Gusto", pinwheel.PlatformPayroll, workdayJobs)
	add("Rippling", pinwheel.PlatformPayroll, workdayJobs)
	for _, n := range []string{"Amazon Flex", "DoorDash", "Uber Driver", "Lyft Driver", "Instacart", "TaskRabbit"} {
		add(n, pinwheel.PlatformPayroll, gigJobs)
	}
	add("When I Work", pinwheel.PlatformTimeAndAttendance, taJobs)
	add("Deputy", pinwheel.PlatformTimeAndAttendance, taJobs)
	return out
}()

// platforms is the whole platform directory: real entries first.
var platforms = append(slices.Clone(realPlatforms), inventedPlatforms...)

// employers: the 25 employers of the recorded GET /v1/search?q=foo with
// their recorded capabilities and supported_jobs, then the gig employers
// whose ids DSACMS's provider_search_service.rb gives. Which platform each
// runs on is not documented publicly (docs/pinwheel.md#undocumented) except
// McKee Foods (Workday, in the recorded Link session): we chose Workday for
// the recorded ones and each gig employer's own invented platform.
var employers = append([]employerInfo{
	{ID: "5a8cfb92-3373-4e65-b41b-54e821e79671", Name: "McKee Foods", PlatformID: workdayID, LogoURL: "https://cdn.getpinwheel.com/assets/employers/logos/McKee%20Foods.png",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "bc507614-8b07-41b6-a00c-daa0d2890350", Name: "Tyson Foods", PlatformID: workdayID, LogoURL: "https://cdn.getpinwheel.com/assets/employers/logos/Tyson%20Foods.png",
		LastUpdated: mustTime("2023-08-22T20:06:41.070099+00:00"), Fractional: true, Amount: true, Percentage: false,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "bf323346-3eb2-4aff-8db4-aba727f88768", Name: "Wakefern Food Corporation", PlatformID: workdayID, LogoURL: "https://cdn.getpinwheel.com/assets/employers/logos/Wakefern%20Food%20Corporation.jpeg",
		LastUpdated: mustTime("2022-10-07T17:28:52.736273+00:00"), Fractional: false, Amount: false, Percentage: false,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "ccfe6b12-f4ab-449d-af38-78e88bdc432c", Name: "Food 4 Less", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2023-06-13T16:05:06.555758+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "ed8e8c70-9650-43dd-bba4-bec9b23b0f32", Name: "Food Depot", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-11-21T20:24:05.298129+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "41e23a45-bdf9-47ea-ab94-303c19de7ff2", Name: "Foods Co.", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2023-06-13T16:05:06.555758+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "73fb1dae-7e5f-4e5b-86a0-ace234351439", Name: "76 Gas Station & Food Mart", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "715486cb-54a4-4f17-a4a8-5466245b7605", Name: "AVI Foodsystems", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "8655f036-9b70-4faa-a415-32377fc5cef7", Name: "American Dehydrated Foods, LLC", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-11-01T15:26:32.374781+00:00"), Fractional: false, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "company_census", "direct_deposit_allocations", "direct_deposit_switch", "employment", "company_paystubs", "paystubs", "company_employments"}},
	{ID: "260143e7-0866-44cd-a795-0bf9c15ca175", Name: "Be Worthy Foods", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: false,
		Jobs: []string{"company_employments", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "4ae15949-d1f4-40c9-96d2-e12a0996f7ed", Name: "Blue Line Foodservice Distribution", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "c1c25cc0-6f0c-428a-8243-d7e28287125f", Name: "Border Foods", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-03-19T23:19:22.707781+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "4943e082-dbe7-4732-8c42-9ac16a1e210a", Name: "Bottom Dollar Food", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2023-02-16T15:47:02.914404+00:00"), Fractional: false, Amount: true, Percentage: false,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "abba5280-bdbf-47a5-bb2b-a05779641e39", Name: "Charter Foods Inc", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-11-21T21:21:03.780802+00:00"), Fractional: true, Amount: true, Percentage: false,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "3449a450-a3b5-4d56-80c1-c05d447c5e53", Name: "ConAgra Foods Packaged Foods", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "35883773-5d90-4d35-8444-f46683231d80", Name: "Cotti Foods Corporation", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "014fafe8-03b0-44ca-982e-4b76e9dc0c93", Name: "Crocs Footwear", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "cfe01d72-eca9-4fa4-b407-1e00620158ca", Name: "DN-Angel Food-Hells Kitchen", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "c2aa7627-5250-43b4-aaf0-361c9f4e162c", Name: "FPL Food LLC", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-01-16T17:19:29.270713+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "c2d92f7d-3c5b-4ba2-b669-650c1f283d86", Name: "Fourteen Foods", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-03-19T23:19:22.707781+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "direct_deposit_allocations", "identity", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "c6159d2f-1fba-4566-b04d-667769776104", Name: "Georgia Foods Llc", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2023-10-27T15:06:31.448680+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "c572567f-7fa4-4210-b32b-87a213765b11", Name: "Giant Food Stores Supermarket & Pharmacy", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2023-09-25T19:42:01.220598+00:00"), Fractional: false, Amount: true, Percentage: false,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "92767427-8613-46ff-843e-c64d925916e8", Name: "Gordon Food Service", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "615b482b-fad8-466e-9bb6-0a6817b3d047", Name: "Gordon Food Service Store", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2025-05-13T18:41:08.886885+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "employment", "paystubs", "direct_deposit_switch"}},
	{ID: "dda6a6ef-2985-4148-9d44-bf39b41da86b", Name: "Haza Foods Of Northeast, Llc", PlatformID: workdayID, LogoURL: "",
		LastUpdated: mustTime("2024-11-07T22:07:02.678082+00:00"), Fractional: true, Amount: true, Percentage: true,
		Jobs: []string{"company_incomes", "company_employments", "shifts", "income", "tax_forms", "identity", "direct_deposit_allocations", "company_census", "employment", "paystubs", "direct_deposit_switch"}},
}, gigEmployers()...)

func gigEmployers() []employerInfo {
	var out []employerInfo
	for _, e := range []struct{ id, name, logo string }{
		{"eec356b5-9338-4c7c-ac95-b5fdb2213633", "Amazon Flex", "https://cdn.getpinwheel.com/assets/employers/logos/Amazon%20Flex.png"},
		{"737d833a-1b68-44f7-92ae-3808374cb459", "DoorDash", "https://cdn.getpinwheel.com/assets/employers/logos/DoorDash%20%28Dasher%29.svg"},
		{"91063607-2b4a-4c8e-8045-a543f01b8b09", "Uber Driver", "https://cdn.getpinwheel.com/assets/employers/logos/Uber%20%28Driver%29.svg"},
		{"70b2bed2-ada8-49ec-99c2-691cc7d28df6", "Lyft Driver", "https://cdn.getpinwheel.com/assets/employers/logos/Lyft%20%28Driver%29.svg"},
		{"9f7ddcaf-cbc5-4bd2-b701-d40c67389eae", "Instacart", "https://cdn.getpinwheel.com/assets/employers/logos/Instacart%20%28Full%20Service%20Shopper%29.svg"},
		{"adde7178-43cd-4cc6-8857-65dfc54a77e8", "TaskRabbit", "https://cdn.getpinwheel.com/assets/platforms/logos/search/taskRabbit.png"},
	} {
		out = append(out, employerInfo{ID: e.id, Name: e.name, PlatformID: inventedID(e.name), LogoURL: e.logo,
			LastUpdated: directoryUpdated, Fractional: true, Amount: true, Percentage: true, Jobs: gigJobs})
	}
	return out
}

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

// supportsAll reports whether supported covers every data job in jobs.
// Jobs the emulator has no data for (bill_switch, paycheck_viewer, ...) do
// not filter.
func supportsAll(supported, jobs []string) bool {
	for _, j := range jobs {
		if slices.Contains(dataJobs, j) && !slices.Contains(supported, j) {
			return false
		}
	}
	return true
}

func (p platformInfo) supports(jobs []string) bool { return supportsAll(p.Jobs, jobs) }
func (e employerInfo) supports(jobs []string) bool { return supportsAll(e.Jobs, jobs) }

// dataJobs are the jobs whose data and events the emulator produces.
var dataJobs = []string{pinwheel.JobIdentity, pinwheel.JobEmployment, pinwheel.JobIncome, pinwheel.JobDDAllocations,
	pinwheel.JobPaystubs, pinwheel.JobShifts, pinwheel.JobTaxForms, pinwheel.JobDDSwitch, pinwheel.JobDDPayment}

func sptr(s string) *string { return &s }

// nullStr is s, or null when empty.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Capability values of entries whose real values no public source gives are
// not documented publicly (docs/pinwheel.md#undocumented): we chose the
// recorded ones (percentages 1 to 99, no amount limits), which every
// recorded entry shares.
const (
	minPercentage = 1
	maxPercentage = 99
)

// platformObj renders p as the API's Platform object, in the recorded key
// order (docs/pinwheel.md#directory).
func platformObj(p platformInfo) obj {
	return obj{
		{"id", p.ID},
		{"name", p.Name},
		{"type", p.Type},
		{"fractional_amount_supported", p.Fractional},
		{"min_amount", nil},
		{"max_amount", nil},
		{"last_updated", p.LastUpdated},
		{"logo_url", nullStr(p.LogoURL)},
		{"percentage_supported", p.Percentage},
		{"min_percentage", minPercentage},
		{"max_percentage", maxPercentage},
		{"supported_jobs", slices.Clone(p.Jobs)},
		{"amount_supported", p.Amount},
	}
}

// employerObj renders an Employer: the search result's fields without
// platform_type and response_type (no recorded example; the order follows
// the recorded search result).
func employerObj(e employerInfo) obj {
	return obj{
		{"id", e.ID},
		{"name", e.Name},
		{"last_updated", e.LastUpdated},
		{"logo_url", nullStr(e.LogoURL)},
		{"supported_jobs", slices.Clone(e.Jobs)},
		{"fractional_amount_supported", e.Fractional},
		{"amount_supported", e.Amount},
		{"min_amount", nil},
		{"max_amount", nil},
		{"min_percentage", minPercentage},
		{"max_percentage", maxPercentage},
		{"percentage_supported", e.Percentage},
	}
}

// searchResult is one row of /v1/search and /link-api/search.
type searchResult struct {
	ID, Name, PlatformType, ResponseType string
	LogoURL                              string
	LastUpdated                          time.Time
	Jobs                                 []string
	Fractional, Amount, Percentage       bool
	// PlatformID is the employer's platform (link-api only).
	PlatformID string
}

// obj renders the recorded search result, in its key order.
func (r searchResult) obj() obj {
	return obj{
		{"id", r.ID},
		{"name", r.Name},
		{"platform_type", r.PlatformType},
		{"last_updated", r.LastUpdated},
		{"logo_url", nullStr(r.LogoURL)},
		{"supported_jobs", slices.Clone(r.Jobs)},
		{"fractional_amount_supported", r.Fractional},
		{"amount_supported", r.Amount},
		{"min_amount", nil},
		{"max_amount", nil},
		{"response_type", r.ResponseType},
		{"min_percentage", minPercentage},
		{"max_percentage", maxPercentage},
		{"percentage_supported", r.Percentage},
	}
}

// search finds employers and platforms whose name contains q (case- and
// accent-insensitive), optionally limited to those supporting jobs and to
// the given response types; employers first, like the recorded answer.
func search(q string, jobs []string, responseTypes []string, limit int) []searchResult {
	q = fold(strings.TrimSpace(q))
	var out []searchResult
	want := func(t string) bool { return len(responseTypes) == 0 || slices.Contains(responseTypes, t) }
	if want("employer") {
		for _, e := range employers {
			p, _ := findPlatform(e.PlatformID)
			if !strings.Contains(fold(e.Name), q) || !e.supports(jobs) {
				continue
			}
			out = append(out, searchResult{ID: e.ID, Name: e.Name, PlatformType: p.Type, ResponseType: "employer",
				LogoURL: e.LogoURL, LastUpdated: e.LastUpdated, Jobs: e.Jobs, Fractional: e.Fractional, Amount: e.Amount,
				Percentage: e.Percentage, PlatformID: p.ID})
		}
	}
	if want("platform") {
		for _, p := range platforms {
			if !strings.Contains(fold(p.Name), q) || !p.supports(jobs) {
				continue
			}
			out = append(out, searchResult{ID: p.ID, Name: p.Name, PlatformType: p.Type, ResponseType: "platform",
				LogoURL: p.LogoURL, LastUpdated: p.LastUpdated, Jobs: p.Jobs, Fractional: p.Fractional, Amount: p.Amount,
				Percentage: p.Percentage})
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
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
