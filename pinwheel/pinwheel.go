// Package pinwheel is the Pinwheel payroll-connectivity API as a library: the
// wire types of its JSON bodies and webhook events, a typed HTTP client with
// retries and cursor iterators, the API error envelope, and the v2 webhook
// signature scheme (Sign and Verify).
//
// It follows docs/pinwheel.md (the API facts with their public sources)
// field for field and imports nothing but the standard library, so both Linkdesk and the sandbox emulator
// (pinwheel/sandbox) can share one definition of the wire format.
//
// Decoding is lenient on purpose, because Pinwheel may add response fields
// and enum values without a new API version: unknown fields are ignored,
// enums are plain strings, and timestamps accept both Pinwheel spellings.
// Fields that Pinwheel sends as an explicit JSON null are pointers, so they
// survive a round trip; optional fields never seen as null are plain values
// with omitempty.
package pinwheel

import "strings"

// Mode selects a Pinwheel environment. API secrets belong to exactly one mode.
type Mode string

// The Pinwheel environments, plus Linkdesk's offline emulator.
const (
	// ModeSandbox uses mock payroll data and sandbox test credentials.
	ModeSandbox Mode = "sandbox"
	// ModeDevelopment uses real credentials and real payroll changes, for pre-launch testing.
	ModeDevelopment Mode = "development"
	// ModeProduction is live; every call is billable.
	ModeProduction Mode = "production"
	// ModeEmulator talks to pinwheel/sandbox, whose base URL is only known at run time.
	ModeEmulator Mode = "emulator"
)

// BaseURL returns the API base (ending in /v1) of a real mode, and "" for
// ModeEmulator or an unknown mode, whose base the caller must supply.
func BaseURL(m Mode) string {
	switch m {
	case ModeSandbox:
		return "https://sandbox.getpinwheel.com/v1"
	case ModeDevelopment:
		return "https://development.getpinwheel.com/v1"
	case ModeProduction:
		return "https://api.getpinwheel.com/v1"
	}
	return ""
}

// linkScriptURL is the Link web SDK loaded in real modes.
//
// Of the CDN file names seen in public sources (docs/pinwheel.md#link-sdk:
// v1, v2, v3.0, v3.1.0, v4) we pin pinwheel-v3.1.0.js. Which file is which
// SDK release is not documented publicly (docs/pinwheel.md#undocumented): we chose
// v3.1.0 because it is the only name carrying a full patch version, so its
// behaviour should not shift under us, and a 3.x build meets the Link SDK
// 2.0/3.0 that On Demand Updates, Deposit Switch and the 2023-11-22 API
// version need; v4 was seen in a single unverified project. This is the one
// line to change if Pinwheel says otherwise.
const linkScriptURL = "https://cdn.getpinwheel.com/pinwheel-v3.1.0.js"

// LinkScriptURL returns the URL of the Link modal script (the one that defines
// the global Pinwheel.open). For ModeEmulator it is served by the emulator at
// emulatorBase + "/link.js", where emulatorBase is like
// "http://127.0.0.1:8080/sandbox" (no /v1).
func LinkScriptURL(m Mode, emulatorBase string) string {
	if m == ModeEmulator {
		return strings.TrimRight(emulatorBase, "/") + "/link.js"
	}
	return linkScriptURL
}

// API versions, sent in the Pinwheel-Version header.
const (
	// Version20231122 is the version DSACMS's recorded sandbox traffic uses;
	// its Link token takes required_jobs.
	Version20231122 = "2023-11-22"
	// Version20250708 is the newest version; its Link token takes features
	// and a mandatory solution instead of required_jobs.
	Version20250708 = "2025-07-08"
	// DefaultVersion is what Linkdesk sends unless configured otherwise: the
	// version whose wire format was observed byte for byte.
	DefaultVersion = Version20231122
)

// KnownVersions is the Pinwheel-Version header enum of the 2025-07-08
// OpenAPI document, in its order (newest first).
var KnownVersions = []string{
	"2025-07-08", "2023-11-22", "2023-07-18", "2023-04-18", "2022-09-09", "2022-06-22", "2022-03-02",
}

// WebhookVersions is the version enum accepted when registering a webhook;
// it decides the payload format of deliveries.
var WebhookVersions = []string{
	"2022-09-09", "2023-04-18", "2023-07-18", "2023-11-22", "2025-07-08",
}
