package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"

	"github.com/labstack/echo/v4"
)

// Download formats.
const (
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// exportFlushRows is how many rows are written between flushes.
const exportFlushRows = 2000

// export is the streaming skeleton of every download (the events log
// today; the audit trail and campaign members next): it names the file,
// writes CSV records or JSON Lines through a 64 KiB buffer, and pushes them
// to the client every exportFlushRows rows, so memory stays flat whatever
// the size. The caller reads its rows in chunks (db's Export… methods) and
// hands each to record or line.
type export struct {
	res  *echo.Response
	bw   *bufio.Writer
	csv  *csv.Writer   // CSV downloads
	json *json.Encoder // JSON Lines downloads
	rows int
}

// startExport sets the headers of a download of what ("events") in format,
// named linkdesk-<what>-<time>.<format>; header is the CSV header row.
func (h *Handler) startExport(c echo.Context, what, format string, header []string) (*export, error) {
	res := c.Response()
	x := &export{res: res, bw: bufio.NewWriterSize(res, 64<<10)}
	switch format {
	case formatCSV:
		res.Header().Set("Content-Type", "text/csv; charset=utf-8")
		x.csv = csv.NewWriter(x.bw)
		if err := x.csv.Write(header); err != nil {
			return nil, err
		}
	default:
		res.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
		x.json = json.NewEncoder(x.bw)
		x.json.SetEscapeHTML(false)
	}
	res.Header().Set("Content-Disposition", `attachment; filename="linkdesk-`+what+`-`+h.store.Now().Format("20060102T150405Z")+`.`+format+`"`)
	return x, nil
}

// record writes one CSV row.
func (x *export) record(rec []string) error {
	if err := x.csv.Write(rec); err != nil {
		return err
	}
	return x.wrote()
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

// finish ends the download: on success it flushes the rest; on an error
// before anything reached the client, it drops the download's headers, so
// that the error handler answers with a page, not a file.
func (x *export) finish(err error) error {
	if err == nil {
		return x.flush()
	}
	if !x.res.Committed {
		x.res.Header().Del("Content-Disposition")
		x.res.Header().Del("Content-Type")
	}
	return err
}
