package sandbox

import (
	"net/http"

	"linkdesk/pinwheel"
)

// API error codes (the "code" of the error envelope, docs/pinwheel.md#errors).
//
// Pinwheel documents exactly four error types and one code,
// INVALID_ROUTING_NUMBER. Every other case is not documented publicly
// (docs/pinwheel.md#undocumented): we chose one code per case, each starting
// with EMULATOR_ so that nobody mistakes it for Pinwheel's, because a client
// that branched on an invented code would break against the real sandbox.
// docs/sandbox.md lists them all (a test keeps the list and the doc in step).
const (
	// codeInvalidRouting is documented: a bad routing number.
	codeInvalidRouting = "INVALID_ROUTING_NUMBER"

	codeUnauthorized     = "EMULATOR_INVALID_API_SECRET"
	codeInvalidVersion   = "EMULATOR_INVALID_PINWHEEL_VERSION"
	codeValidation       = "EMULATOR_VALIDATION_ERROR"
	codeInvalidAccountNo = "EMULATOR_INVALID_ACCOUNT_NUMBER"
	codeInvalidJSON      = "EMULATOR_INVALID_JSON_BODY"
	codeInvalidCursor    = "EMULATOR_INVALID_CURSOR"
	codeWebhookLimit     = "EMULATOR_WEBHOOK_LIMIT_REACHED"
	codeNotFound         = "EMULATOR_RECORD_NOT_FOUND"
	codeRouteNotFound    = "EMULATOR_ROUTE_NOT_FOUND"
	codeMethodNotAllowed = "EMULATOR_METHOD_NOT_ALLOWED"
	codeRateLimited      = "EMULATOR_RATE_LIMITED"
	codeUnknown          = "EMULATOR_UNKNOWN_ERROR"
)

// DocumentedCodes are the API error codes a public source names
// (docs/pinwheel.md#errors).
var DocumentedCodes = []string{codeInvalidRouting}

// EmulatorOnlyCodes are the API error codes the emulator invents, one per
// case no public source settles. Linkdesk's own code must never branch on
// them (a test checks).
var EmulatorOnlyCodes = []string{codeUnauthorized, codeInvalidVersion, codeValidation, codeInvalidAccountNo,
	codeInvalidJSON, codeInvalidCursor, codeWebhookLimit, codeNotFound, codeRouteNotFound, codeMethodNotAllowed,
	codeRateLimited, codeUnknown}

// errorTypes are the four documented error types; the emulator uses no other.
var errorTypes = []string{pinwheel.TypeInvalidRequest, pinwheel.TypeNotFound, pinwheel.TypeUnauthorized, pinwheel.TypeUnknown}

// Link error codes (the "code" of Link's error event, docs/pinwheel.md#link-errors
// and #job-errors). Documented ones are used where a source names the case;
// the others are not documented publicly (docs/pinwheel.md#undocumented): we
// chose one code per case starting with "emulator", for the same reason as
// the API codes.
const (
	linkCodeUsedToken         = "usedLinkToken"             // documented
	linkCodeBadSignature      = "invalidLinkTokenSignature" // documented
	linkCodeInvalidCredential = "invalidCredentials"        // documented
	linkCodeChallenge         = "challengeAnswerIncorrect"  // documented (job errors)
	linkCodeAccountNotActive  = "accountNotActive"          // documented (job errors)
	linkCodeSystemError       = "systemError"               // documented

	linkCodeExpiredToken       = "emulatorExpiredLinkToken"
	linkCodeUnknownToken       = "emulatorUnknownLinkToken"
	linkCodeInvalidAllocation  = "emulatorInvalidAllocation"
	linkCodeUnsupported        = "emulatorUnsupportedPlatform"
	linkCodeUnknownSelection   = "emulatorUnknownSelection"
	linkCodeSessionNotFound    = "emulatorSessionNotFound"
	linkCodeInvalidStep        = "emulatorInvalidStep"
	linkCodeSessionClosed      = "emulatorSessionClosed"
	linkCodeInvalidRequestBody = "emulatorInvalidRequest"
)

// EmulatorOnlyLinkCodes are the Link error codes the emulator invents.
var EmulatorOnlyLinkCodes = []string{linkCodeExpiredToken, linkCodeUnknownToken, linkCodeInvalidAllocation,
	linkCodeUnsupported, linkCodeUnknownSelection, linkCodeSessionNotFound, linkCodeInvalidStep,
	linkCodeSessionClosed, linkCodeInvalidRequestBody}

// apiError builds an error of the given documented type.
func apiError(status int, typ, code, msg string, fields ...pinwheel.FieldError) *pinwheel.Error {
	return &pinwheel.Error{Type: typ, Code: code, Message: msg, StatusCode: status, Fields: fields}
}

func invalid(code, msg string, fields ...pinwheel.FieldError) *pinwheel.Error {
	return apiError(http.StatusBadRequest, pinwheel.TypeInvalidRequest, code, msg, fields...)
}

func notFound(msg string) *pinwheel.Error {
	return apiError(http.StatusNotFound, pinwheel.TypeNotFound, codeNotFound, msg)
}

func unknownError() *pinwheel.Error {
	return apiError(http.StatusInternalServerError, pinwheel.TypeUnknown, codeUnknown, "An unknown error occurred.")
}
