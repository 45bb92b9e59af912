package browsertest

import _ "embed"

// AxeSource is axe-core 4.14.1 (axe.min.js from npm, pinned in
// package.json; MPL-2.0, see axe/LICENSE): the browser tests inject it
// into the pages they check. It lives here, in test support, so that it is
// never served to users.
//
//go:embed axe/axe.min.js
var AxeSource string
