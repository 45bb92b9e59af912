package pinwheel_test

// Bodies recorded in Pinwheel's sandbox or given in its spec, as quoted in
// docs/pinwheel.md (sources there: the DSACMS/iv-cbv-payroll recording and
// the OpenAPI document; some with the document URL shortened).

const linkTokenRequestObserved = `{"org_name":"Report My Income","required_jobs":["paystubs"],"end_user_id":"6a927ef1-6c91-43c9-abbe-6728dc8ef877","skip_intro_screen":true,"language":"en","employer_id":"5a8cfb92-3373-4e65-b41b-54e821e79671"}`

const linkTokenResponseObserved = `{"data":{"mode":"sandbox","id":"a63c75ef-3e91-4fff-8147-78cf7efeddd2","token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJkYXRh...","smart_branch_url":null,"expires":"2025-06-24T23:04:28.391042+00:00"}}`

const linkTokenRequest2025 = `{
  "org_name": "Fintech.io",
  "solution": "Deposit Switch",
  "features": ["direct_deposit_switch"],
  "end_user_id": "my_user_12345",
  "allocation": {
    "type": "amount",
    "value": 123.45,
    "targets": [
      {"name": "My Checking Account", "type": "checking", "account_number": "5675249802", "routing_number": "193487629"},
      {"name": "My Savings Account",  "type": "savings",  "account_number": "6675249802", "routing_number": "193487629"}
    ]
  },
  "employer_id": "e3c3ec9e-eea5-42fc-b533-de3cea9c352f",
  "end_user": {"platform_matching": {"social_security_number": "123456789", "first_name": "Alicia", "last_name": "Green",
    "mobile_phone_number": "1234567890", "home_address_zip_code": "12345", "date_of_birth": "2023-11-22"}}
}`

const accountObserved = `{"created_at":"2025-06-24T22:04:33.547314+00:00","link_token_id":"a63c75ef-3e91-4fff-8147-78cf7efeddd2","platform_id":"5965580e-380f-4b86-8a8a-7278c77f73cb","connected":true,"monitoring_status":"active","end_user_id":"6a927ef1-6c91-43c9-abbe-6728dc8ef877","id":"934f6406-c332-4c05-a3e8-6a90765c842d","data_updated_at":{"direct_deposit_allocations":"2025-06-24T22:04:34.948037+00:00","income":"2025-06-24T22:04:34.629192+00:00","employment":"2025-06-24T22:04:41.075640+00:00","identity":"2025-06-24T22:04:34.548440+00:00","shifts":"2025-06-24T22:04:39.588394+00:00","paystubs":"2025-06-24T22:04:38.805798+00:00"},"data_refreshed_at":{"direct_deposit_allocations":"2025-06-24T22:04:34.948037+00:00","income":"2025-06-24T22:04:34.629192+00:00","employment":"2025-06-24T22:04:41.075640+00:00","identity":"2025-06-24T22:04:34.548440+00:00","shifts":"2025-06-24T22:04:39.588394+00:00","paystubs":"2025-06-24T22:04:38.805798+00:00"}}`

const identityObserved = `{"data":{"id":"75b85ffa-1057-45a3-a9fb-77de821747b6","created_at":"2025-06-24T22:04:34.456512+00:00","updated_at":"2025-06-24T22:04:34.456512+00:00","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","full_name":"Ash Userton","emails":["user_good@example.com"],"date_of_birth":"1993-08-28","last_four_ssn":"1234","address":{"raw":"20429 Pinwheel Drive, New York City, NY 99999","line1":"20429 Pinwheel Drive","line2":null,"city":"New York City","state":"NY","postal_code":"99999","country":"US"},"phone_numbers":[{"value":"+12345556789","type":null}]},"meta":{"refreshed_at":"2025-06-24T22:04:34.548440+00:00"}}`

const employmentObserved = `{"data":{"id":"c9d3fc3b-3e2e-4a3e-855a-1eb77396a85c","created_at":"2025-06-24T22:04:40.979175+00:00","updated_at":"2025-06-24T22:04:40.979175+00:00","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","status":"employed","start_date":"2010-01-01","termination_date":null,"employer_name":"Acme Corporation","employer_address":{"raw":"20429 Pinwheel Drive, New York City, NY 99999","line1":"20429 Pinwheel Drive","line2":null,"city":"New York City","state":"NY","postal_code":"99999","country":"US"},"employer_phone_number":{"value":"+16126597057","type":"work"},"title":null},"meta":{"refreshed_at":"2025-06-24T22:04:41.075640+00:00"}}`

const incomeObserved = `{"data":{"id":"c8dae54d-915c-4573-975a-f5ba54f57aa0","created_at":"2025-06-24T22:04:34.558075+00:00","updated_at":"2025-06-24T22:04:38.686874+00:00","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","compensation_amount":1000,"compensation_unit":"hourly","currency":"USD","pay_frequency":"bi-weekly"},"meta":{"refreshed_at":"2025-06-24T22:04:34.629192+00:00"}}`

const paystubObserved = `{"id":"c80ed2d6-a0fe-4b63-8c92-92414cea9b37","created_at":"2025-06-24T22:04:35.119310+00:00","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","pay_date":"2025-06-24","pay_period_start":"2025-06-11","pay_period_end":"2025-06-24","currency":"USD","gross_pay_amount":50000,"net_pay_amount":46000,"check_amount":46000,"gross_pay_ytd":50000,"net_pay_ytd":46000,"total_taxes":3825,"total_deductions":175,"total_reimbursements":0,"external_paystub_id":null,"employer_name":null,"taxes":[{"name":"Pinwheel Tax","category":"state_income","amount":0},{"name":"Employee Medicare Tax","category":"medicare","amount":725},{"name":"Employee Social Security Tax","category":"social_security","amount":3100},{"name":"Federal Income Tax","category":"federal_income","amount":0}],"deductions":[{"name":"Deduction","category":"other","amount":175,"type":"unknown"}],"earnings":[{"name":"Regular","category":"hourly","amount":50000,"rate":5000,"hours":10.0}],"time_off":[{"name":"PTO","category":"pto","available_hours":25.0,"earned_hours":0.75,"used_hours":0.0},{"name":"Sick Leave","category":"sick","available_hours":8.0,"earned_hours":0.1,"used_hours":2.0}],"document":{"id":"00000000-0000-0000-0000-000000000000","download_url":"https://production-newton-paystubs.s3.amazonaws.com/x.pdf?X-Amz-Expires=900"}}`

const shiftObserved = `{"id":"35841865-b1f1-4d96-b8c5-c49824fa8bfc","created_at":"2025-06-24T22:04:35.276087+00:00","account_id":"934f6406-c332-4c05-a3e8-6a90765c842d","start_date":"2025-06-24","end_date":"2025-06-24","type":"shift","timezone":"America/New_York","timestamps":[{"from":"2025-06-24T09:00:00-04:00","to":"2025-06-24T17:00:00-04:00"}],"currency":"USD","earnings":[{"name":"Sandbox Test Earning","category":"hourly","amount":15000,"rate":1000,"hours":15.0}]}`

const ddaSpec = `{"data":{"id":"07814454-9163-40b5-9aaa-8a738fa7080b","account_id":"c0a343a6-4e33-49cf-9bfc-46f770709452","created_at":"2021-01-06T00:00:00.000000+00:00","updated_at":"2021-01-12T00:00:00.000000+00:00","allocations":[{"account_name":"My Checking Account","account_type":"checking","allocation_type":"amount","amount":50000,"bank_name":"Chase","currency":"USD","masked_account_number":"53","percentage":null,"priority":1,"routing_number":"540622601"},{"account_name":"Neobank","account_type":"checking","allocation_type":"remainder","amount":null,"bank_name":null,"currency":"USD","masked_account_number":"83","percentage":null,"priority":3,"routing_number":"434957982"}]},"meta":{"refreshed_at":"2025-06-24T22:04:34.948037+00:00"}}`

const webhookSpec = `{"url": "https://example.com/webhook_endpoint", "id": "ae0047bf-cd48-4f41-9fa2-2e578ca82969",
  "created_at": "2020-11-06T15:59:13.530178+00:00", "last_updated": "2020-11-06T16:00:00.530178+00:00",
  "enabled_events": ["income.added", "employment.added"], "status": "active", "version": "2023-04-18"}`

const platformSample = `{"id":"5965580e-380f-4b86-8a8a-7278c77f73cb","name":"Workday","type":"payroll","fractional_amount_supported":false,"last_updated":"2025-06-01 12:00:00+00:00","percentage_supported":true,"min_percentage":1,"max_percentage":100,"supported_jobs":["identity","paystubs","company_census"],"amount_supported":true,"min_amount":null,"max_amount":null,"logo_url":null,"brand_new_field":{"x":1}}`

const eventAccountAdded = `{"event_id": "ec61a8b1-af27-4904-87e8-e5e2dbe25197", "event": "account.added", "payload": {"created_at": "2025-06-24T22:04:33.547314+00:00", "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": true, "monitoring_status": "active", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877", "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "platform_name": "Workday"}}`

const eventIdentityAdded = `{"event_id": "b331e9ed-a273-48fa-8f5f-ec476870f8f4", "event": "identity.added", "payload": {"id": "5fd6446d-1739-4686-a454-f60a6ad65864", "name": "identity", "timestamp": "2025-06-24T22:04:34.383896+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "params": {}, "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877"}}`

const eventPaystubsAdded = `{"event_id": "3cfe63ad-c0fd-4b87-8dcb-3ab178cbc9c4", "event": "paystubs.added", "payload": {"added": [{"id": "c80ed2d6-a0fe-4b63-8c92-92414cea9b37", "document_type": null, "year": null, "pay_date": null}], "deleted": [], "id": "ff3a851d-ccf6-442d-b144-e55545280e2a", "name": "paystubs", "timestamp": "2025-06-24T22:04:35.048975+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "params": {"count": 1, "from_pay_date": "2025-06-24", "to_pay_date": "2025-06-24", "sync_status": "in_progress"}, "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877"}}`

const eventDDSwitch = `{"event": "direct_deposit_switch.added", "event_id": "0b5f4b8e-2f0c-4e0e-9d1d-1f2a3b4c5d6e", "payload": {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08",
 "account_id": "449e7a5c-69d3-4b8a-aaaf-5c9b713ebc65", "end_user_id": "my_user_12345",
 "link_token_id": "4787acbc-11cf-4db3-998c-5ea7c4feebcd", "name": "direct_deposit_switch",
 "timestamp": "2021-01-12T02:36:01.287148+00:00", "outcome": "success", "error_code": null, "error_type": null,
 "params": {"action": "partial_switch", "allocation": {"type": "amount", "value": 50,
   "target": {"account_name": "My Checking Account", "account_type": "checking"}}}}}`

const eventDDAllocations = `{"event": "direct_deposit_allocations.added", "event_id": "5a141122-4235-4fa1-bd76-0628573880b0",
 "payload": {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "account_id": "449e7a5c-69d3-4b8a-aaaf-5c9b713ebc65",
  "end_user_id": "my_user_12345", "link_token_id": "4787acbc-11cf-4db3-998c-5ea7c4feebcd",
  "name": "direct_deposit_allocations", "timestamp": "2021-01-12T02:36:01.287148+00:00", "outcome": "success"}}`

const errorRoutingNumber = `{"error": {"type": "INVALID_REQUEST_PARAMETERS", "code": "INVALID_ROUTING_NUMBER", "message": "Validation error.",
  "status_code": 400, "fields": [{"message": "Provided value doesn't match valid format.", "name": "routing_number"}]}}`
