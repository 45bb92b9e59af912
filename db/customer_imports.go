package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Customer CSV imports happen in two steps: CreateCustomerImport parses and
// validates an upload and keeps it in customer_imports; an admin reads the
// per-row report and ConfirmCustomerImport writes the good rows. The pending
// upload lives in the database, not in process memory, so the two requests
// may reach different processes or straddle a restart.

// Limits of a customer CSV upload.
const (
	MaxImportBytes = 5 << 20 // 5 MiB
	MaxImportRows  = 50_000
	// ImportTTL is how long an upload waits for its confirmation.
	ImportTTL = time.Hour
)

// Errors of ConfirmCustomerImport.
var (
	// ErrImportConfirmed means the upload was imported already.
	ErrImportConfirmed = errors.New("db: customer import already confirmed")
	// ErrNothingToImport means the upload has no good rows.
	ErrNothingToImport = errors.New("db: customer import has no good rows")
)

// ImportRow is a valid data row of an upload, normalized.
type ImportRow struct {
	Line     int           `json:"line"`
	Customer CustomerInput `json:"customer"`
}

// ImportProblem is a data row that cannot be imported, with every reason.
// It carries the end_user_id (when present) but no other value of the row.
type ImportProblem struct {
	Line      int      `json:"line"`
	EndUserID string   `json:"end_user_id"`
	Messages  []string `json:"messages"`
}

// ImportResult counts what a confirmed import did.
type ImportResult struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Verdicts is how many identity verdicts were recomputed.
	Verdicts int `json:"verdicts"`
}

// CustomerImport is a pending (or confirmed) upload.
type CustomerImport struct {
	ID        string
	Filename  string
	CreatedBy int64
	CreatedAt time.Time
	ExpiresAt time.Time
	GoodCount int
	BadCount  int
	// Rows are the good rows; emptied once confirmed.
	Rows []ImportRow
	Bad  []ImportProblem
	// Notes are remarks about the file as a whole (ignored columns).
	Notes       []string
	ConfirmedAt time.Time // zero while pending
	Result      ImportResult
}

// Confirmed reports whether the import was carried out.
func (ci CustomerImport) Confirmed() bool { return !ci.ConfirmedAt.IsZero() }

// headerKey normalizes a header cell: "End User ID" → "end_user_id".
func headerKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// csvProblem turns a csv.ParseError into a message of ours.
func csvProblem(err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return "The file could not be read as CSV."
	}
	why := "it is not valid CSV"
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		why = `a " appears inside a field that is not quoted`
	case errors.Is(pe.Err, csv.ErrQuote):
		why = "a quoted field is not closed"
	}
	return fmt.Sprintf("Line %d cannot be read: %s. Fix it and upload again.", pe.StartLine, why)
}

// ParseCustomerCSV reads a customer CSV and validates every row: a header
// row naming end_user_id, full_name, date_of_birth, ssn_last4 and
// optionally email, in any order and any case; then one customer per line.
// A UTF-8 byte order mark and CRLF line ends are accepted. Problems with the
// file as a whole (too big, no header, a broken quote) come back as
// FieldErrors{"file": …}; problems with a row become an ImportProblem with
// its line number. An end_user_id repeated in the file is refused on its
// later lines.
func ParseCustomerCSV(r io.Reader, today time.Time) (rows []ImportRow, bad []ImportProblem, notes []string, err error) {
	fileErr := func(msg string) ([]ImportRow, []ImportProblem, []string, error) {
		return nil, nil, nil, FieldErrors{"file": msg}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("db: read customer csv: %w", err)
	}
	switch {
	case len(data) > MaxImportBytes:
		return fileErr("The file is larger than 5 MiB. Split it into smaller files.")
	case !utf8.Valid(data):
		return fileErr("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload again.")
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return fileErr("The file is empty.")
	}

	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fileErr(csvProblem(err))
	}
	col := map[string]int{}
	var ignored []string
	for i, h := range header {
		k := headerKey(h)
		known := false
		for _, f := range CustomerFields {
			known = known || k == f
		}
		if !known {
			if k != "" {
				ignored = append(ignored, strings.TrimSpace(h))
			}
			continue
		}
		if _, dup := col[k]; dup {
			return fileErr(fmt.Sprintf("The header names the column %s twice.", k))
		}
		col[k] = i
	}
	var missing []string
	for _, f := range CustomerFields[:4] {
		if _, ok := col[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fileErr(fmt.Sprintf("The header row lacks %s. The first line must name the columns: %s (email is optional).",
			strings.Join(missing, ", "), strings.Join(CustomerFields, ",")))
	}
	if len(ignored) > 0 {
		notes = append(notes, "Ignored columns: "+strings.Join(ignored, ", ")+".")
	}

	firstLine := map[string]int{}
	n := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fileErr(csvProblem(err))
		}
		line, _ := cr.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		n++
		if n > MaxImportRows {
			return fileErr(fmt.Sprintf("The file has more than %d rows. Split it into smaller files.", MaxImportRows))
		}
		if len(rec) != len(header) {
			bad = append(bad, ImportProblem{Line: line, EndUserID: cell(rec, col, "end_user_id"), Messages: []string{
				fmt.Sprintf("It has %d values but the header has %d: check for a missing or extra comma.", len(rec), len(header)),
			}})
			continue
		}
		in := CustomerInput{
			EndUserID: cell(rec, col, "end_user_id"), FullName: cell(rec, col, "full_name"),
			DateOfBirth: cell(rec, col, "date_of_birth"), SSNLast4: cell(rec, col, "ssn_last4"), Email: cell(rec, col, "email"),
		}.normalize()
		var msgs []string
		if fe := ValidateCustomer(in, today); fe != nil {
			for _, f := range CustomerFields {
				if m, ok := fe[f]; ok {
					msgs = append(msgs, f+": "+m)
				}
			}
		}
		if first, dup := firstLine[in.EndUserID]; dup && in.EndUserID != "" {
			msgs = append(msgs, fmt.Sprintf("end_user_id: also on line %d; each end user may appear once per file.", first))
		}
		if len(msgs) > 0 {
			bad = append(bad, ImportProblem{Line: line, EndUserID: truncate(in.EndUserID, 255), Messages: msgs})
			continue
		}
		firstLine[in.EndUserID] = line
		rows = append(rows, ImportRow{Line: line, Customer: in})
	}
	if n == 0 {
		return fileErr("The file has a header row but no customers.")
	}
	return rows, bad, notes, nil
}

func cell(rec []string, col map[string]int, name string) string {
	i, ok := col[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func blankRecord(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// CreateCustomerImport parses and validates an uploaded CSV and keeps it,
// pending, for ImportTTL. Nothing is imported yet. Expired uploads are
// cleared on the way.
func (s *Store) CreateCustomerImport(ctx context.Context, a Actor, filename string, r io.Reader) (CustomerImport, error) {
	now := s.now().UTC()
	rows, bad, notes, err := ParseCustomerCSV(r, now)
	if err != nil {
		return CustomerImport{}, err
	}
	ci := CustomerImport{
		ID: RandomHex(16), Filename: truncate(strings.TrimSpace(filename), 255), CreatedBy: a.StaffID,
		CreatedAt: now, ExpiresAt: now.Add(ImportTTL), GoodCount: len(rows), BadCount: len(bad),
		Rows: rows, Bad: bad, Notes: notes,
	}
	if ci.Rows == nil {
		ci.Rows = []ImportRow{}
	}
	if ci.Bad == nil {
		ci.Bad = []ImportProblem{}
	}
	if ci.Notes == nil {
		ci.Notes = []string{}
	}
	rowsJSON, err := json.Marshal(ci.Rows)
	if err != nil {
		return CustomerImport{}, err
	}
	badJSON, err := json.Marshal(ci.Bad)
	if err != nil {
		return CustomerImport{}, err
	}
	notesJSON, err := json.Marshal(ci.Notes)
	if err != nil {
		return CustomerImport{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := purgeImports(ctx, tx, now); err != nil {
			return err
		}
		var by any
		if a.StaffID != 0 {
			by = a.StaffID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO customer_imports
			(id, filename, created_by, created_at, expires_at, good_count, bad_count, rows, bad_rows, notes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ci.ID, ci.Filename, by, FormatTime(ci.CreatedAt), FormatTime(ci.ExpiresAt), ci.GoodCount, ci.BadCount,
			s.keys.seal(purposeImportRows, string(rowsJSON)), string(badJSON), string(notesJSON))
		return err
	})
	if err != nil {
		return CustomerImport{}, fmt.Errorf("db: create customer import: %w", err)
	}
	return ci, nil
}

const customerImportColumns = `id, filename, COALESCE(created_by, 0), created_at, expires_at, good_count, bad_count, rows, bad_rows, notes, COALESCE(confirmed_at, ''), COALESCE(result, '{}')`

// purposeImportRows seals the good rows of a pending upload: full dates of
// birth and SSN last fours, encrypted at rest like the customer records
// they become.
const purposeImportRows = "customer_imports.rows"

func (s *Store) scanCustomerImport(sc interface{ Scan(...any) error }) (CustomerImport, error) {
	var ci CustomerImport
	var created, expires, rows, bad, notes, confirmed, result string
	err := sc.Scan(&ci.ID, &ci.Filename, &ci.CreatedBy, &created, &expires, &ci.GoodCount, &ci.BadCount, &rows, &bad, &notes, &confirmed, &result)
	if err != nil {
		return CustomerImport{}, err
	}
	if rows, err = s.keys.openLegacy(purposeImportRows, rows); err != nil {
		return CustomerImport{}, fmt.Errorf("customer import %s: %w", ci.ID, err)
	}
	ci.CreatedAt, ci.ExpiresAt, ci.ConfirmedAt = ParseTime(created), ParseTime(expires), ParseTime(confirmed)
	for _, j := range []struct {
		text string
		dst  any
	}{{rows, &ci.Rows}, {bad, &ci.Bad}, {notes, &ci.Notes}, {result, &ci.Result}} {
		if err := json.Unmarshal([]byte(j.text), j.dst); err != nil {
			return CustomerImport{}, fmt.Errorf("decode customer import %s: %w", ci.ID, err)
		}
	}
	return ci, nil
}

// purgeImports deletes the uploads past their expiry: a pending upload
// holds full dates of birth and SSN last fours, kept no longer than it can
// be confirmed.
func purgeImports(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM customer_imports WHERE expires_at <= ?`, FormatTime(now))
	return err
}

// purgeExpiredCustomerImports deletes expired uploads now. It asks the read
// pool first, so that it takes the writer only when there is something to
// delete; every read and write of uploads calls it.
func (s *Store) purgeExpiredCustomerImports(ctx context.Context) error {
	now := s.now().UTC()
	var expired bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM customer_imports WHERE expires_at <= ?)`, FormatTime(now)).Scan(&expired); err != nil {
		return fmt.Errorf("db: purge customer imports: %w", err)
	}
	if !expired {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return purgeImports(ctx, tx, now) }); err != nil {
		return fmt.Errorf("db: purge customer imports: %w", err)
	}
	return nil
}

// CustomerImportByID returns an upload that has not expired, or
// ErrNotFound. Expired uploads are deleted on the way.
func (s *Store) CustomerImportByID(ctx context.Context, id string) (CustomerImport, error) {
	if err := s.purgeExpiredCustomerImports(ctx); err != nil {
		return CustomerImport{}, err
	}
	ci, err := s.scanCustomerImport(s.r.QueryRowContext(ctx, `SELECT `+customerImportColumns+` FROM customer_imports WHERE id = ? AND expires_at > ?`,
		id, FormatTime(s.now())))
	if err != nil {
		return CustomerImport{}, fmt.Errorf("db: customer import: %w", notFound(err))
	}
	return ci, nil
}

// ConfirmCustomerImport upserts the good rows of a pending upload by
// end_user_id, recomputes the identity verdicts of the customers it
// changed, and writes one audit row with the counts, all in one
// transaction: either every good row lands or none does. The upload's good
// rows (full dates of birth and SSN last fours) are dropped in the same
// transaction; its counts and report of bad rows (line numbers, end user
// IDs and our messages, no values) stay until it expires. Expired uploads
// are deleted on the way.
func (s *Store) ConfirmCustomerImport(ctx context.Context, a Actor, id string) (CustomerImport, error) {
	var ci CustomerImport
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now().UTC()
		if err := purgeImports(ctx, tx, now); err != nil {
			return err
		}
		var err error
		ci, err = s.scanCustomerImport(tx.QueryRowContext(ctx, `SELECT `+customerImportColumns+` FROM customer_imports WHERE id = ? AND expires_at > ?`,
			id, FormatTime(now)))
		switch {
		case err != nil:
			return notFound(err)
		case ci.Confirmed():
			return ErrImportConfirmed
		case len(ci.Rows) == 0:
			return ErrNothingToImport
		}
		ct, err := s.prepareCustomerTx(ctx, tx)
		if err != nil {
			return err
		}
		defer ct.close()
		var res ImportResult
		for _, row := range ci.Rows {
			c, changed, created, err := ct.upsert(ctx, row.Customer)
			if err != nil {
				return fmt.Errorf("line %d: %w", row.Line, err)
			}
			switch {
			case created:
				res.Created++
			case len(changed) > 0:
				res.Updated++
			default:
				res.Unchanged++
				continue
			}
			n, err := ct.recomputeVerdicts(ctx, c)
			if err != nil {
				return err
			}
			res.Verdicts += n
		}
		result, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customer_imports SET confirmed_at = ?, result = ?, rows = '[]' WHERE id = ?`,
			FormatTime(now), string(result), id); err != nil {
			return err
		}
		ci.ConfirmedAt, ci.Result, ci.Rows = now, res, []ImportRow{}
		return s.appendAudit(ctx, tx, a, ActionCustomersImported, "customer_import", id, map[string]any{
			"filename": ci.Filename, "rows": ci.GoodCount, "bad_rows": ci.BadCount,
			"created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged, "verdicts_recomputed": res.Verdicts,
		})
	})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrImportConfirmed), errors.Is(err, ErrNothingToImport):
		return CustomerImport{}, err
	case err != nil:
		return CustomerImport{}, fmt.Errorf("db: confirm customer import %s: %w", id, err)
	}
	return ci, nil
}
