package pinwheel

import "encoding/json"

// Response is the success envelope of every Pinwheel endpoint:
// {"data": ..., "meta": ...}. List endpoints fill Meta.Count and
// Meta.NextCursor; single data objects carry Meta.RefreshedAt.
type Response[T any] struct {
	Data T     `json:"data"`
	Meta *Meta `json:"meta,omitempty"`
}

// Meta is the "meta" object of a response. NextCursor is nil on the last
// page (Pinwheel sends the key with null); pass it as cursor for the next.
// Encoding a Meta always writes count and next_cursor, as list pages do; see
// ObjectMeta for the single-object form.
type Meta struct {
	Count       int     `json:"count"`
	NextCursor  *string `json:"next_cursor"`
	RefreshedAt *Time   `json:"refreshed_at,omitempty"`
}

// ObjectMeta is the "meta" of a single data object as Pinwheel writes it,
// with refreshed_at only (when Pinwheel last queried the payroll provider).
// Clients read it into Meta; an emulator encodes it to match Pinwheel.
type ObjectMeta struct {
	RefreshedAt *Time `json:"refreshed_at"`
}

// LinkTokenCreate is the body of POST /v1/link_tokens (docs/pinwheel.md#link-tokens). Which fields are
// required depends on the API version: 2023-11-22 wants RequiredJobs unless
// AccountID is set; 2025-07-08 wants Solution and Features instead.
type LinkTokenCreate struct {
	OrgName                       string            `json:"org_name"`
	RequiredJobs                  []string          `json:"required_jobs,omitempty"`
	Features                      []string          `json:"features,omitempty"`
	Solution                      string            `json:"solution,omitempty"`
	EndUserID                     string            `json:"end_user_id,omitempty"`
	AccountID                     string            `json:"account_id,omitempty"`
	EmployerID                    string            `json:"employer_id,omitempty"`
	PlatformID                    string            `json:"platform_id,omitempty"`
	PlatformType                  string            `json:"platform_type,omitempty"`
	Allocation                    *Allocation       `json:"allocation,omitempty"`
	SkipIntroScreen               *bool             `json:"skip_intro_screen,omitempty"`
	DisableDirectDepositSplitting *bool             `json:"disable_direct_deposit_splitting,omitempty"`
	Language                      string            `json:"language,omitempty"`
	DocumentUploads               string            `json:"document_uploads,omitempty"`
	DepositForms                  string            `json:"deposit_forms,omitempty"`
	Tags                          map[string]string `json:"tags,omitempty"`
	EndUser                       *LinkEndUser      `json:"end_user,omitempty"`
	Cards                         []CardDetails     `json:"cards,omitempty"`
	ResellerCustomerID            string            `json:"reseller_customer_id,omitempty"`
	UseCase                       string            `json:"use_case,omitempty"`
}

// Allocation is the deposit-switch target of a Link token. A nil Type lets the
// end user pick full, amount or percentage in Link; Value is in dollars.
type Allocation struct {
	Type      *string       `json:"type,omitempty"`
	Value     *float64      `json:"value,omitempty"`
	MinAmount *float64      `json:"min_amount,omitempty"`
	Targets   []BankAccount `json:"targets,omitempty"`
}

// BankAccount is a destination account of a deposit switch
// (BankAccountDetails). Type, RoutingNumber and AccountNumber are required
// for direct_deposit_switch.
type BankAccount struct {
	Name          string `json:"name,omitempty"`
	Type          string `json:"type,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
}

// LinkEndUser is the end_user object of a Link token: PII for partner-based
// platform matching.
type LinkEndUser struct {
	PlatformMatching *PlatformMatching `json:"platform_matching,omitempty"`
}

// PlatformMatching is LinkUserAuthenticationDataObjCreate.
type PlatformMatching struct {
	SocialSecurityNumber         string `json:"social_security_number,omitempty"`
	SocialSecurityNumberLastFour string `json:"social_security_number_last_four,omitempty"`
	DateOfBirth                  string `json:"date_of_birth,omitempty"`
	FirstName                    string `json:"first_name,omitempty"`
	LastName                     string `json:"last_name,omitempty"`
	MobilePhoneNumber            string `json:"mobile_phone_number,omitempty"`
	HomeAddressZipCode           string `json:"home_address_zip_code,omitempty"`
	Email                        string `json:"email,omitempty"`
}

// CardDetails is one entry of a 2025-07-08 Link token's cards (bill switch).
type CardDetails struct {
	CardName          string `json:"card_name"`
	CardNumber        string `json:"card_number"`
	ExpirationDate    string `json:"expiration_date"`
	NameOnCard        string `json:"name_on_card"`
	CardZipCode       string `json:"card_zip_code"`
	CVC               string `json:"cvc,omitempty"`
	BillingAddress    string `json:"billing_address,omitempty"`
	BillingAddressTwo string `json:"billing_address_two,omitempty"`
	City              string `json:"city,omitempty"`
	State             string `json:"state,omitempty"`
}

// LinkToken is the response of POST /v1/link_tokens. ID is the link_token_id
// that later appears in webhooks and jobs; Token is opaque and is handed to
// Pinwheel.open in the browser. Tokens are single-use and expire in an hour.
type LinkToken struct {
	Mode           string  `json:"mode"`
	ID             string  `json:"id"`
	Token          string  `json:"token"`
	SmartBranchURL *string `json:"smart_branch_url"`
	Expires        Time    `json:"expires"`
}

// Account is a connected payroll account (PayrollAccountObjResponse).
// DataUpdatedAt says when each data type last changed and DataRefreshedAt
// when it was last checked; keys are job names such as JobPaystubs.
type Account struct {
	ID                 string            `json:"id"`
	CreatedAt          Time              `json:"created_at"`
	LinkTokenID        string            `json:"link_token_id,omitempty"`
	PlatformID         string            `json:"platform_id"`
	Connected          bool              `json:"connected"`
	MonitoringStatus   string            `json:"monitoring_status"`
	EndUserID          string            `json:"end_user_id,omitempty"`
	DataUpdatedAt      map[string]Time   `json:"data_updated_at"`
	DataRefreshedAt    map[string]Time   `json:"data_refreshed_at"`
	CustomerID         string            `json:"customer_id,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	ResellerCustomerID string            `json:"reseller_customer_id,omitempty"`
}

// Identity is GET /accounts/{id}/identity.
type Identity struct {
	ID           string   `json:"id"`
	CreatedAt    Time     `json:"created_at"`
	UpdatedAt    Time     `json:"updated_at"`
	AccountID    string   `json:"account_id"`
	FullName     string   `json:"full_name"`
	Emails       []string `json:"emails,omitempty"`
	DateOfBirth  *string  `json:"date_of_birth,omitempty"`
	LastFourSSN  *string  `json:"last_four_ssn,omitempty"`
	Address      *Address `json:"address,omitempty"`
	PhoneNumbers []Phone  `json:"phone_numbers,omitempty"`
}

// Address is a postal address; Raw is always present, the parts may be null.
type Address struct {
	Raw        string  `json:"raw"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	City       *string `json:"city"`
	State      *string `json:"state"`
	PostalCode *string `json:"postal_code"`
	Country    *string `json:"country"`
}

// Phone is a phone number in E.164; Type (home, work, mobile) is often null.
type Phone struct {
	Value string  `json:"value"`
	Type  *string `json:"type"`
}

// Employment is GET /accounts/{id}/employment.
type Employment struct {
	ID                  string   `json:"id"`
	CreatedAt           Time     `json:"created_at"`
	UpdatedAt           Time     `json:"updated_at"`
	AccountID           string   `json:"account_id"`
	Status              *string  `json:"status"`
	StartDate           *string  `json:"start_date"`
	TerminationDate     *string  `json:"termination_date"`
	EmployerName        string   `json:"employer_name"`
	EmployerAddress     *Address `json:"employer_address"`
	EmployerPhoneNumber *Phone   `json:"employer_phone_number"`
	Title               *string  `json:"title"`
}

// Income is GET /accounts/{id}/income. CompensationAmount is in cents per
// CompensationUnit.
type Income struct {
	ID                 string  `json:"id"`
	CreatedAt          Time    `json:"created_at"`
	UpdatedAt          Time    `json:"updated_at"`
	AccountID          string  `json:"account_id"`
	CompensationAmount int64   `json:"compensation_amount"`
	CompensationUnit   string  `json:"compensation_unit"`
	Currency           string  `json:"currency"`
	PayFrequency       *string `json:"pay_frequency"`
}

// Paystub is one pay statement (PaystubObjResponse_v2022_03_02). Amounts are
// integer cents; dates are YYYY-MM-DD strings.
type Paystub struct {
	ID                  string             `json:"id"`
	CreatedAt           Time               `json:"created_at"`
	AccountID           string             `json:"account_id"`
	PayDate             string             `json:"pay_date"`
	PayPeriodStart      *string            `json:"pay_period_start"`
	PayPeriodEnd        *string            `json:"pay_period_end"`
	Currency            string             `json:"currency"`
	GrossPayAmount      int64              `json:"gross_pay_amount"`
	NetPayAmount        int64              `json:"net_pay_amount"`
	CheckAmount         int64              `json:"check_amount"`
	GrossPayYTD         *int64             `json:"gross_pay_ytd"`
	NetPayYTD           *int64             `json:"net_pay_ytd"`
	TotalTaxes          int64              `json:"total_taxes"`
	TotalDeductions     int64              `json:"total_deductions"`
	TotalReimbursements int64              `json:"total_reimbursements"`
	ExternalPaystubID   *string            `json:"external_paystub_id"`
	EmployerName        *string            `json:"employer_name"`
	Taxes               []PaystubTax       `json:"taxes"`
	Deductions          []PaystubDeduction `json:"deductions"`
	Earnings            []Earning          `json:"earnings"`
	TimeOff             []TimeOff          `json:"time_off"`
	Document            *Document          `json:"document,omitempty"`
}

// PaystubTax is one tax line of a paystub, in cents.
type PaystubTax struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Amount   int64  `json:"amount"`
}

// PaystubDeduction is one deduction line of a paystub, in cents; Type is
// pre_tax, post_tax or unknown.
type PaystubDeduction struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Amount   int64  `json:"amount"`
	Type     string `json:"type"`
}

// Earning is one earning line of a paystub or shift. Amount and Rate are in
// cents (Rate per hour); Rate is a float so a fractional-cent rate never
// fails a decode.
type Earning struct {
	Name     string   `json:"name"`
	Category string   `json:"category"`
	Amount   int64    `json:"amount"`
	Rate     *float64 `json:"rate,omitempty"`
	Hours    *float64 `json:"hours,omitempty"`
}

// TimeOff is a time-off balance on a paystub, in hours.
type TimeOff struct {
	Name           string   `json:"name"`
	Category       string   `json:"category"`
	AvailableHours *float64 `json:"available_hours"`
	EarnedHours    *float64 `json:"earned_hours"`
	UsedHours      *float64 `json:"used_hours"`
}

// Document is a downloadable file (paystub PDF, tax form). Sandbox download
// URLs are pre-signed and valid for 900 s.
type Document struct {
	ID                    string  `json:"id"`
	DownloadURL           *string `json:"download_url,omitempty"`
	DownloadURLExpiration *Time   `json:"download_url_expiration,omitempty"`
}

// Shift is one work shift (ShiftObjResponse).
type Shift struct {
	ID         string           `json:"id"`
	CreatedAt  Time             `json:"created_at"`
	AccountID  string           `json:"account_id"`
	StartDate  string           `json:"start_date"`
	EndDate    string           `json:"end_date"`
	Type       string           `json:"type"`
	Timezone   *string          `json:"timezone,omitempty"`
	Timestamps []ShiftTimestamp `json:"timestamps"`
	Currency   string           `json:"currency"`
	Earnings   []Earning        `json:"earnings"`
}

// ShiftTimestamp is one worked interval of a shift.
type ShiftTimestamp struct {
	From Time `json:"from"`
	To   Time `json:"to"`
}

// DDAllocations is GET /accounts/{id}/direct_deposit_allocations: how a
// paycheck is split across bank accounts.
type DDAllocations struct {
	ID          string         `json:"id"`
	AccountID   string         `json:"account_id"`
	CreatedAt   Time           `json:"created_at"`
	UpdatedAt   Time           `json:"updated_at"`
	Allocations []DDAllocation `json:"allocations"`
}

// DDAllocation is one destination of a paycheck. AllocationType is amount
// (Amount in cents), percentage (Percentage) or remainder; lower Priority is
// filled first.
type DDAllocation struct {
	AccountName         *string  `json:"account_name"`
	AccountType         *string  `json:"account_type"`
	AllocationType      string   `json:"allocation_type"`
	Amount              *int64   `json:"amount"`
	BankName            *string  `json:"bank_name"`
	Currency            string   `json:"currency"`
	MaskedAccountNumber *string  `json:"masked_account_number"`
	Percentage          *float64 `json:"percentage"`
	Priority            *int     `json:"priority"`
	RoutingNumber       *string  `json:"routing_number"`
}

// TaxForm is a tax document (W-2, 1099-…); Document and ParsedData come only
// from the single-form endpoint.
type TaxForm struct {
	ID         string           `json:"id"`
	CreatedAt  Time             `json:"created_at"`
	AccountID  string           `json:"account_id"`
	FormType   string           `json:"form_type"`
	Year       Year             `json:"year"`
	Document   *Document        `json:"document,omitempty"`
	ParsedData json.RawMessage  `json:"parsed_data,omitempty"`
	Warnings   []TaxFormWarning `json:"warnings,omitempty"`
}

// TaxFormWarning flags a tax-form field that could not be parsed.
type TaxFormWarning struct {
	Field   string `json:"field"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Platform is a payroll (or time-and-attendance, tax, merchant) platform and
// what it supports. SupportedJobs may contain job names this package does not
// know (e.g. company_census); that is expected.
type Platform struct {
	ID                        string   `json:"id"`
	Name                      string   `json:"name"`
	Type                      string   `json:"type"`
	FractionalAmountSupported bool     `json:"fractional_amount_supported"`
	LastUpdated               Time     `json:"last_updated"`
	PercentageSupported       bool     `json:"percentage_supported"`
	MinPercentage             *float64 `json:"min_percentage"`
	MaxPercentage             *float64 `json:"max_percentage"`
	SupportedJobs             []string `json:"supported_jobs"`
	AmountSupported           bool     `json:"amount_supported"`
	MinAmount                 *float64 `json:"min_amount,omitempty"`
	MaxAmount                 *float64 `json:"max_amount,omitempty"`
	LogoURL                   *string  `json:"logo_url,omitempty"`
	MerchantCategory          *string  `json:"merchant_category,omitempty"`
}

// Webhook is a registered webhook subscription. Version decides the payload
// format of deliveries and cannot be changed by an update.
type Webhook struct {
	URL           string   `json:"url"`
	ID            string   `json:"id"`
	CreatedAt     Time     `json:"created_at"`
	LastUpdated   Time     `json:"last_updated"`
	EnabledEvents []string `json:"enabled_events"`
	Status        string   `json:"status"`
	Version       string   `json:"version"`
	CustomerID    string   `json:"customer_id,omitempty"`
}

// WebhookCreate is the body of POST /v1/webhooks (WebhookCreate_v2023_04_18).
// URL must be https, EnabledEvents non-empty, Version one of WebhookVersions.
type WebhookCreate struct {
	URL           string   `json:"url"`
	Status        string   `json:"status"`
	EnabledEvents []string `json:"enabled_events"`
	Version       string   `json:"version"`
	CustomerID    string   `json:"customer_id,omitempty"`
}

// WebhookUpdate is the body of PUT /v1/webhooks/{id}; nil fields are left
// unchanged.
type WebhookUpdate struct {
	URL           *string  `json:"url,omitempty"`
	Status        *string  `json:"status,omitempty"`
	EnabledEvents []string `json:"enabled_events,omitempty"`
	CustomerID    *string  `json:"customer_id,omitempty"`
}

// Job is a Link-initiated job from GET /v1/jobs (JobObjResponse_v2023_11_22).
type Job struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Timestamp    Time            `json:"timestamp"`
	Outcome      string          `json:"outcome"`
	ErrorCode    *string         `json:"error_code"`
	ErrorType    *string         `json:"error_type"`
	LinkTokenID  string          `json:"link_token_id"`
	Params       json.RawMessage `json:"params,omitempty"`
	AccountID    string          `json:"account_id,omitempty"`
	PlatformID   string          `json:"platform_id,omitempty"`
	PlatformName string          `json:"platform_name,omitempty"`
}

// Event is the envelope of every webhook delivery. Its fields are in
// Pinwheel's key order (event_id, event, payload); EventID is unique per
// event and is the de-duplication key, since delivery is at least once.
type Event struct {
	EventID string          `json:"event_id"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// AccountPayload is the payload of account.added, and of
// account.monitoring_status.updated, whose fields are not documented publicly (docs/pinwheel.md#undocumented): we
// chose the account.added fields because that event describes the same
// account. Field order follows the recorded sandbox delivery
// (docs/pinwheel.md#event-payloads). PlatformType is absent in 2023-11-22
// deliveries; ReportedPlatformName and ReservedPlatformID are bill-switch only.
type AccountPayload struct {
	CreatedAt            Time   `json:"created_at"`
	LinkTokenID          string `json:"link_token_id"`
	PlatformID           string `json:"platform_id"`
	Connected            bool   `json:"connected"`
	MonitoringStatus     string `json:"monitoring_status"`
	EndUserID            string `json:"end_user_id,omitempty"`
	AccountID            string `json:"account_id"`
	PlatformName         string `json:"platform_name"`
	PlatformType         string `json:"platform_type,omitempty"`
	ReportedPlatformName string `json:"reported_platform_name,omitempty"`
	ReservedPlatformID   string `json:"reserved_platform_id,omitempty"`
}

// JobPayload is the common payload of job events (identity.added,
// paystubs.added, direct_deposit_switch.added, …). Added and Deleted appear
// only for paystubs and shifts; a nil slice is omitted, an empty one is sent
// as [] (as Pinwheel does for deleted). Params is job specific: decode it with
// SwitchParams or SyncParams.
type JobPayload struct {
	Added       []PaystubRef    `json:"added,omitzero"`
	Deleted     []PaystubRef    `json:"deleted,omitzero"`
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Timestamp   Time            `json:"timestamp"`
	Outcome     string          `json:"outcome"`
	ErrorCode   *string         `json:"error_code"`
	ErrorType   *string         `json:"error_type"`
	LinkTokenID string          `json:"link_token_id"`
	Params      json.RawMessage `json:"params,omitempty"`
	AccountID   string          `json:"account_id"`
	EndUserID   string          `json:"end_user_id,omitempty"`
	CustomerID  string          `json:"customer_id,omitempty"`
}

// PaystubRef names one paystub or shift added or deleted by a job. Pinwheel
// sends DocumentType, Year and PayDate as null for paystubs and shifts.
type PaystubRef struct {
	ID           string  `json:"id"`
	DocumentType *string `json:"document_type"`
	Year         *Year   `json:"year"`
	PayDate      *string `json:"pay_date"`
}

// UnmarshalJSON implements json.Unmarshaler. Besides the observed object
// form it accepts a bare id string.
//
// The element shape of "deleted" is not documented publicly (docs/pinwheel.md#undocumented)
// (only ever seen empty): we chose the "added" shape because the two lists
// sit side by side, and also tolerate plain id strings.
func (r *PaystubRef) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*r = PaystubRef{ID: id}
		return nil
	}
	type plain PaystubRef
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = PaystubRef(p)
	return nil
}

// SwitchParams is the params object of direct_deposit_switch.added
// (ParamsPayload_v2023_11_22). Action is full_switch or partial_switch and
// may be absent for partner-based switches; Amount is the pre-2023-11-22 field.
type SwitchParams struct {
	Action     *string           `json:"action,omitempty"`
	Allocation *SwitchAllocation `json:"allocation,omitempty"`
	CardName   *string           `json:"card_name,omitempty"`
	Amount     *float64          `json:"amount,omitempty"`
}

// SwitchAllocation is what the user chose in a partial switch. Type is
// amount, percentage or remainder.
//
// The unit of Value for type amount is not documented publicly (docs/pinwheel.md#undocumented)
// (the spec's example is 50): we chose a float because then either dollars or
// cents decode.
type SwitchAllocation struct {
	Type   string        `json:"type"`
	Value  *float64      `json:"value,omitempty"`
	Target *SwitchTarget `json:"target,omitempty"`
}

// SwitchTarget is the bank account a switch went to; AccountName is the
// targets[].name given when the Link token was created.
type SwitchTarget struct {
	AccountName           string  `json:"account_name"`
	AccountType           string  `json:"account_type"`
	LastFourAccountNumber *string `json:"last_four_account_number,omitempty"`
}

// SyncParams is the params object of paystubs.added, shifts.added and the
// *.fully_synced events. Count is the number of objects fetched by this job;
// SyncStatus is in_progress or complete (absent on fully_synced).
type SyncParams struct {
	Count                         int     `json:"count"`
	FromPayDate                   *string `json:"from_pay_date,omitempty"`
	ToPayDate                     *string `json:"to_pay_date,omitempty"`
	SyncStatus                    *string `json:"sync_status,omitempty"`
	HasPotentialPaystubsDocuments *bool   `json:"has_potential_paystubs_documents,omitempty"`
}

// Webhook event names (the enabled_events enum of the 2025-07-08 spec, plus
// documented events outside it).
const (
	EventAccountAdded                     = "account.added"
	EventMonitoringStatusUpdated          = "account.monitoring_status.updated"
	EventAdditionalConnectionsRecommended = "account.additional_connections_recommended"
	EventIdentityAdded                    = "identity.added"
	EventEmploymentAdded                  = "employment.added"
	EventIncomeAdded                      = "income.added"
	EventPaystubsAdded                    = "paystubs.added"
	EventPaystubsDocumentsAdded           = "paystubs.documents.added"
	EventShiftsAdded                      = "shifts.added"
	EventTaxFormsAdded                    = "tax_forms.added"
	EventDocumentsAdded                   = "documents.added"
	EventVerificationReportsRefreshed     = "verification_reports.refreshed"
	EventEarningsStreamPayoutsRefreshed   = "earnings_stream.payouts.refreshed"
	EventPaystubsSevenDaysSynced          = "paystubs.seven_days_synced"
	EventPaystubsThirtyDaysSynced         = "paystubs.thirty_days_synced"
	EventPaystubsNinetyDaysSynced         = "paystubs.ninety_days_synced"
	EventPaystubsFullySynced              = "paystubs.fully_synced"
	EventShiftsSevenDaysSynced            = "shifts.seven_days_synced"
	EventShiftsThirtyDaysSynced           = "shifts.thirty_days_synced"
	EventShiftsNinetyDaysSynced           = "shifts.ninety_days_synced"
	EventShiftsFullySynced                = "shifts.fully_synced"
	EventDDSwitchAdded                    = "direct_deposit_switch.added"
	EventDDAllocationsAdded               = "direct_deposit_allocations.added"
	EventBillSwitchAdded                  = "bill_switch.added"
	EventBillSwitchCancelled              = "bill_switch.cancelled"
	EventBillAdded                        = "bill.added"
	EventBillUpdated                      = "bill.updated"
	EventBillRemoved                      = "bill.removed"
	EventBillReminder                     = "bill.reminder"
	EventPaycheckViewerAdded              = "paycheck_viewer.added"
	EventCompanyConnectStatusUpdated      = "company_connect.status.updated"
	EventCompanyConnectEmploymentsAdded   = "company_connect.employments.added"
	EventCompanyConnectIncomesAdded       = "company_connect.incomes.added"
	EventCompanyConnectCensusAdded        = "company_connect.census.added"
	EventCardSwitchAdded                  = "card_switch.added"
	EventPayoutCardsAdded                 = "payout_cards.added"
	EventDDPaymentAdded                   = "direct_deposit_payment.added"
)

// Account monitoring statuses (monitoring_status).
const (
	StatusActive             = "active"
	StatusDegraded           = "degraded"
	StatusUserActionRequired = "user_action_required"
	StatusCustomerDisabled   = "customer_disabled"
	StatusUnavailable        = "unavailable"
)

// Job outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeError   = "error"
	OutcomePending = "pending"
)

// Job names, used in required_jobs, features, supported_jobs, webhook
// payloads and as keys of Account.DataUpdatedAt.
const (
	JobIdentity         = "identity"
	JobIncome           = "income"
	JobEmployment       = "employment"
	JobPaystubs         = "paystubs"
	JobShifts           = "shifts"
	JobTaxForms         = "tax_forms"
	JobDDAllocations    = "direct_deposit_allocations"
	JobDDSwitch         = "direct_deposit_switch"
	JobDDPayment        = "direct_deposit_payment"
	JobBillSwitch       = "bill_switch"
	JobBillCancellation = "bill_cancellation"
	JobPaycheckViewer   = "paycheck_viewer"
	JobCardSwitch       = "card_switch"
	JobPayoutCards      = "payout_cards"
	JobLogin            = "login"
)

// Sync statuses of paystubs/shifts job params.
const (
	SyncInProgress = "in_progress"
	SyncComplete   = "complete"
)

// Deposit-switch actions and allocation types of SwitchParams.
const (
	ActionFullSwitch     = "full_switch"
	ActionPartialSwitch  = "partial_switch"
	AllocationAmount     = "amount"
	AllocationPercentage = "percentage"
	AllocationRemainder  = "remainder"
)

// Webhook statuses.
const (
	WebhookActive = "active"
	WebhookPaused = "paused"
)

// Solutions of a 2025-07-08 Link token (the values contain spaces).
const (
	SolutionVerify         = "Verify"
	SolutionBillSwitch     = "Bill Switch"
	SolutionBillManager    = "Bill Manager"
	SolutionPaycheckViewer = "Paycheck Viewer"
	SolutionSwitchKit      = "Switch Kit"
	SolutionDepositSwitch  = "Deposit Switch"
)

// Platform types.
const (
	PlatformPayroll           = "payroll"
	PlatformTimeAndAttendance = "time_and_attendance"
	PlatformTax               = "tax"
	PlatformMerchant          = "merchant"
)
