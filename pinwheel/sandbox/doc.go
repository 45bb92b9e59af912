// Package sandbox is an offline emulator of Pinwheel's sandbox: the /v1 REST
// API, the Link modal (link.js, its iframe pages and the small JSON API they
// talk to) and the webhook sender, with durable state of its own in a SQLite
// file.
//
// It speaks the real wire format over real HTTP so that Linkdesk, its tests,
// its demo-data generator and a load tool can run without network access or
// Pinwheel credentials. It imports package pinwheel for wire types only and
// never touches Linkdesk's own tables. Behaviour no public source describes
// (docs/pinwheel.md#undocumented) is marked "not documented publicly" next to
// the code that chooses it; docs/sandbox.md lists those choices and the
// differences from the real sandbox.
package sandbox
