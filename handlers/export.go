package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Downloads: the one skeleton every file Linkdesk hands out goes through
// (the events log today; the audit trail, campaign members and evidence
// packs next; the raw JSON of a stored document). What it guarantees, so
// that no download has to remember it:
//
//   - it starts only from Linkdesk's own pages (fetch metadata: a
//     cross-site or same-site request is refused before anything is read
//     or audited), so another site cannot make a signed-in browser run an
//     export and write audit rows;
//   - it is never cached: Cache-Control no-store (RequireStaff sets it on
//     every staff response; downloads set it again for routes outside it);
//   - a CSV cell that a spreadsheet would run as a formula (one starting
//     with = + - @, a tab or a carriage return, unless it is a plain
//     number) is written with a leading apostrophe;
//   - a long export holds a place among at most exportsPerPerson of its
//     person and exportsAtOnce of the process (429 beyond), reads the
//     database in chunks that release their connection before writing
//     (db.exportChunks), and every piece it writes has to reach the client
//     within the write timeout, or the connection is cut: a client that
//     stops reading costs one chunk of memory for at most that long.

// Download formats.
const (
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// exportFlushRows is how many rows are written between flushes.
const exportFlushRows = 2000

// Limits of concurrent exports. They bound memory (a stalled export holds
// one chunk, db.exportChunkBytes at most) and keep one person from
// occupying the export pool; they are per process, like the connections
// they protect.
const (
	exportsPerPerson = 2
	exportsAtOnce    = 16
)

// exportLimiter counts the exports running in this process, per staff
// member and in all.
type exportLimiter struct {
	mu     sync.Mutex
	total  int
	byUser map[int64]int
}

func newExportLimiter() *exportLimiter { return &exportLimiter{byUser: map[int64]int{}} }

// acquire takes a place for staff member id; release gives it back.
func (l *exportLimiter) acquire(id int64) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= exportsAtOnce || l.byUser[id] >= exportsPerPerson {
		return nil, false
	}
	l.total++
	l.byUser[id]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byUser[id]--; l.byUser[id] <= 0 {
				delete(l.byUser, id)
			}
		})
	}, true
}

// fromOwnPages reports whether the browser says the request comes from a
// Linkdesk page or from the person themselves (a typed URL, a bookmark):
// Sec-Fetch-Site same-origin or none. Requests without fetch metadata
// (command-line clients, which carry no ambient cookies to abuse) pass, as
// http.CrossOriginProtection lets them.
func fromOwnPages(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// startDownload checks that a download may start and sets its headers:
// filename (as saved) and contentType. Call it before reading or auditing
// anything.
func (h *Handler) startDownload(c echo.Context, filename, contentType string) error {
	if !fromOwnPages(c.Request()) {
		return echo.NewHTTPError(http.StatusForbidden, "Downloads start from Linkdesk's own pages: open the page and use its download link.")
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	return nil
}

// export is the streaming skeleton of every long download: it names the
// file, writes CSV records or JSON Lines through a 64 KiB buffer, and
// pushes them to the client every exportFlushRows rows, so memory stays
// flat whatever the size. The caller reads its rows through a db Export…
// method (chunked, see db.exportChunks) and hands each to record or line,
// then calls finish.
type export struct {
	res     *echo.Response
	bw      *bufio.Writer
	csv     *csv.Writer   // CSV downloads
	json    *json.Encoder // JSON Lines downloads
	rows    int
	cells   []string // record's copy of a row
	release func()
}

// startExport starts a download of what ("events") in format, named
// linkdesk-<what>-<time>.<format>; header is the CSV header row. It
// answers 403 to a request from another site and 429 when the person
// already runs exportsPerPerson downloads (or the process exportsAtOnce).
func (h *Handler) startExport(c echo.Context, what, format string, header []string) (*export, error) {
	ctype := "application/x-ndjson; charset=utf-8"
	if format == formatCSV {
		ctype = "text/csv; charset=utf-8"
	}
	name := "linkdesk-" + what + "-" + h.store.Now().Format("20060102T150405Z") + "." + format
	if err := h.startDownload(c, name, ctype); err != nil {
		return nil, err
	}
	var who int64
	if st := staff(c); st != nil {
		who = st.ID
	}
	release, ok := h.exports.acquire(who)
	if !ok {
		c.Response().Header().Del("Content-Disposition")
		return nil, &echo.HTTPError{Code: http.StatusTooManyRequests, Internal: RetryAfter(30),
			Message: "You already have " + strconv.Itoa(exportsPerPerson) + " downloads running (or the server is busy with others). Wait for one to finish."}
	}
	res := c.Response()
	dw := &deadlineWriter{w: res, rc: http.NewResponseController(res), timeout: h.cfg.WriteTimeout}
	x := &export{res: res, bw: bufio.NewWriterSize(dw, 64<<10), release: release}
	switch format {
	case formatCSV:
		x.csv = csv.NewWriter(x.bw)
		if err := x.record(header); err != nil {
			release()
			return nil, err
		}
	default:
		x.json = json.NewEncoder(x.bw)
		x.json.SetEscapeHTML(false)
	}
	return x, nil
}

// record writes one CSV row, each cell safe to open in a spreadsheet.
func (x *export) record(rec []string) error {
	x.cells = x.cells[:0]
	for _, cell := range rec {
		x.cells = append(x.cells, csvCell(cell))
	}
	if err := x.csv.Write(x.cells); err != nil {
		return err
	}
	return x.wrote()
}

// csvCell keeps a spreadsheet from running a cell as a formula: a cell
// starting with = + - @, a tab or a carriage return gets a leading
// apostrophe (OWASP's advice), unless it is a plain number such as -12.5.
func csvCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(s, 64); err == nil && s[0] != '\t' && s[0] != '\r' {
			return s
		}
		return "'" + s
	}
	return s
}

// line writes one JSON Lines row.
func (x *export) line(v any) error {
	if err := x.json.Encode(v); err != nil {
		return err
	}
	return x.wrote()
}

func (x *export) wrote() error {
	if x.rows++; x.rows%exportFlushRows == 0 {
		return x.flush()
	}
	return nil
}

// flush pushes what is buffered to the client.
func (x *export) flush() error {
	if x.csv != nil {
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			return err
		}
	}
	if err := x.bw.Flush(); err != nil {
		return err
	}
	x.res.Flush()
	return nil
}

// finish ends the download and gives its place back: on success it
// flushes the rest; on an error before anything reached the client, it
// drops the download's headers, so that the error handler answers with a
// page, not a file.
func (x *export) finish(err error) error {
	defer x.release()
	if err == nil {
		return x.flush()
	}
	if !x.res.Committed {
		x.res.Header().Del("Content-Disposition")
		x.res.Header().Del("Content-Type")
	}
	return err
}

// deadlineWriter gives each write to the client its own deadline: a
// stream (an export, a live timeline) may run as long as its client keeps
// reading, but a client that stops reading is cut after timeout.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	extendWriteDeadline(d.rc, d.timeout)
	return d.w.Write(p)
}

// extendWriteDeadline moves the connection's write deadline to timeout
// from now. Writers that cannot have one (a test's recorder) are left as
// they are.
func extendWriteDeadline(rc *http.ResponseController, timeout time.Duration) {
	rc.SetWriteDeadline(time.Now().Add(timeout))
}
