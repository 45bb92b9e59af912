package db

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// Export of the audit trail (/audit/export.csv and .jsonl): the filtered
// rows, newest first, each with every field its hash covers, its sequence
// number, hash and previous hash, so that anyone holding the audit key can
// check each row offline. The first record is the chain head at the
// moment of export (the export's own audit row) with who exported what;
// the last record counts the rows and seals header and rows with an HMAC,
// so that a row removed from the file is caught too. VerifyAuditExport is
// the offline check (`linkdesk audit verify --export`).

// ActionAuditExported is the audit action of an audit trail export.
const ActionAuditExported = "audit.exported"

// AuditExportFormat names the format of the export's records.
const AuditExportFormat = "linkdesk-audit-export/1"

// Record kinds of an audit export.
const (
	RecordHead = "chain_head"
	RecordRow  = "row"
	RecordEnd  = "end"
)

// AuditExportHeader is the export's first record.
type AuditExportHeader struct {
	Record     string         `json:"record"`
	Format     string         `json:"format"`
	Head       ChainHead      `json:"chain_head"`
	ExportedAt time.Time      `json:"exported_at"`
	ExportedBy string         `json:"exported_by"`
	Filter     map[string]any `json:"filter"`
	// KeyedFrom is the first keyed row: rows before it carry the unkeyed
	// SHA-256 of the trail's first version.
	KeyedFrom int64  `json:"keyed_from"`
	KeyID     string `json:"key_id"`
}

// AuditExportEnd is the export's last record.
type AuditExportEnd struct {
	Record string `json:"record"`
	Rows   int64  `json:"rows"`
	// MAC is HMAC-SHA-256 under the audit key of the header record and
	// every row's sequence and hash (see exportSeal).
	MAC string `json:"mac"`
}

// AuditExportRow is one row of a JSON Lines export.
type AuditExportRow struct {
	Record     string `json:"record"`
	Sequence   int64  `json:"sequence"`
	At         string `json:"at"`
	ActorID    int64  `json:"actor_id"`
	ActorEmail string `json:"actor_email"`
	ActorName  string `json:"actor_name,omitempty"`
	Action     string `json:"action"`
	Group      string `json:"group"`
	Sentence   string `json:"sentence"`
	TargetType string `json:"target_type"`
	TargetID   string `json:"target_id"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	// Detail is the stored JSON text, exactly (its hash covers it).
	Detail   string `json:"detail"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// ExportRow is a trail row as an export writes it.
func (e AuditEntry) ExportRow() AuditExportRow {
	return AuditExportRow{Record: RecordRow, Sequence: e.ID, At: FormatTime(e.At), ActorID: e.ActorID, ActorEmail: e.ActorEmail,
		ActorName: e.ActorName, Action: e.Action, Group: AuditActionOf(e.Action).Group, Sentence: e.SentenceText(),
		TargetType: e.TargetType, TargetID: e.TargetID, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

// AuditCSVHeader are the columns of the CSV export. The chain head and the
// end are records too: their record column says so, and their other
// columns carry their fields (see AuditExportHeader.CSV).
var AuditCSVHeader = []string{"record", "sequence", "at", "actor_id", "actor_email", "actor_name", "action", "group", "sentence",
	"target_type", "target_id", "ip", "user_agent", "detail", "prev_hash", "hash"}

// CSV is the row as a CSV record.
func (r *AuditExportRow) CSV() []string { return r.AppendCSV(nil) }

// AppendCSV appends the row's CSV record to rec[:0] (an export reuses one
// slice for every row).
func (r *AuditExportRow) AppendCSV(rec []string) []string {
	return append(rec[:0], RecordRow, strconv.FormatInt(r.Sequence, 10), r.At, strconv.FormatInt(r.ActorID, 10), r.ActorEmail, r.ActorName,
		r.Action, r.Group, r.Sentence, r.TargetType, r.TargetID, r.IP, r.UserAgent, r.Detail, r.PrevHash, r.Hash)
}

// CSV is the header as a CSV record: the head's sequence, time and hash in
// their columns, the rest as JSON in detail.
func (h AuditExportHeader) CSV() []string {
	rec := make([]string, len(AuditCSVHeader))
	rec[0], rec[1], rec[2], rec[15] = RecordHead, strconv.FormatInt(h.Head.Seq, 10), FormatTime(h.Head.At), h.Head.Hash
	rec[4], rec[13] = h.ExportedBy, string(h.sealed())
	return rec
}

// CSV is the end as a CSV record: the row count in sequence, the MAC in
// hash.
func (e AuditExportEnd) CSV() []string {
	rec := make([]string, len(AuditCSVHeader))
	rec[0], rec[1], rec[15] = RecordEnd, strconv.FormatInt(e.Rows, 10), e.MAC
	return rec
}

// sealed is the header's canonical JSON, the start of what the MAC covers.
func (h AuditExportHeader) sealed() []byte {
	h.Record = RecordHead
	h.ExportedAt = h.ExportedAt.UTC()
	h.Head.At = h.Head.At.UTC()
	b, _ := json.Marshal(h)
	return b
}

// exportSeal computes an export's MAC: HMAC-SHA-256 of "linkdesk audit
// export\n", the header's canonical JSON, then per row "<sequence>
// <hash>\n", then the row count.
type exportSeal struct {
	mac  hash.Hash
	rows int64
	buf  []byte
}

func newExportSeal(key []byte, h AuditExportHeader) *exportSeal {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("linkdesk audit export\n"))
	m.Write(h.sealed())
	m.Write([]byte("\n"))
	return &exportSeal{mac: m}
}

func (s *exportSeal) add(seq int64, hash string) {
	s.buf = strconv.AppendInt(s.buf[:0], seq, 10)
	s.buf = append(s.buf, ' ')
	s.buf = append(s.buf, hash...)
	s.buf = append(s.buf, '\n')
	s.mac.Write(s.buf)
	s.rows++
}

func (s *exportSeal) end() AuditExportEnd {
	fmt.Fprintf(s.mac, "%d", s.rows)
	return AuditExportEnd{Record: RecordEnd, Rows: s.rows, MAC: hex.EncodeToString(s.mac.Sum(nil))}
}

// AuditExport is an export under way: its header, and the function that
// gives its end after the rows.
type AuditExport struct {
	Header AuditExportHeader
	seal   *exportSeal
}

// End is the export's last record.
func (x *AuditExport) End() AuditExportEnd { return x.seal.end() }

// auditExportChunk is how many rows one read of an export returns.
const auditExportChunk = 2000

// ExportAudit records the export in the trail (its filter and format),
// then calls start with the header (the chain head is that audit row) and
// row for every row matching f, newest first, in keyset chunks with flat
// memory: a filter of one index range reads its rows straight from it,
// others merge their ranges' ids first (as a page does). Each chunk is its
// own read, so no snapshot is held for the whole export (rows never
// change). f.Before and f.Limit are ignored. The returned export gives the
// end record.
func (s *Store) ExportAudit(ctx context.Context, a Actor, f AuditFilter, filter map[string]any, format string,
	start func(AuditExportHeader) error, row func(*AuditExportRow) error) (*AuditExport, error) {
	keys := s.chain.keys
	if keys == nil || keys.Current == "" {
		return nil, ErrNoAuditKey
	}
	x := &AuditExport{Header: AuditExportHeader{Record: RecordHead, Format: AuditExportFormat, ExportedBy: a.Email, Filter: filter,
		KeyID: keys.Current, KeyedFrom: 1}}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.appendAudit(ctx, tx, a, ActionAuditExported, "audit", "", map[string]any{"format": format, "filter": filter}); err != nil {
			return err
		}
		var err error
		if x.Header.Head, err = chainHead(ctx, tx); err != nil {
			return err
		}
		x.Header.KeyedFrom, err = keyedFrom(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: export audit: %w", err)
	}
	x.Header.ExportedAt = x.Header.Head.At
	x.seal = newExportSeal(keys.key(keys.Current), x.Header)
	if err := start(x.Header); err != nil {
		return x, err
	}
	conn, err := s.exportConn(ctx)
	if err != nil {
		return x, fmt.Errorf("db: export audit: %w", err)
	}
	defer s.releaseExportConn(conn)
	names, err := staffNames(ctx, conn)
	if err != nil {
		return x, fmt.Errorf("db: export audit: %w", err)
	}
	p := f.plan()
	if !p.empty {
		if err := p.bound(ctx, conn, f); err != nil {
			return x, fmt.Errorf("db: export audit: %w", err)
		}
	}
	if p.empty {
		return x, nil
	}
	w := &exportRowWriter{names: names, seal: x.seal, row: row}
	before := x.Header.Head.Seq + 1
	for {
		var n int
		if len(p.streams) == 1 {
			where, args := p.streamSQL(p.streams[0], before)
			n, err = w.rows(ctx, conn, `SELECT `+rawAuditColumns+` FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, append(args, auditExportChunk))
		} else {
			var ids []int64
			if ids, err = p.ids(ctx, conn, before, auditExportChunk); err == nil && len(ids) > 0 {
				args := make([]any, len(ids))
				for i, id := range ids {
					args[i] = id
				}
				_, err = w.rows(ctx, conn, `SELECT `+rawAuditColumns+` FROM audit_log WHERE id IN (`+sqlParams(len(ids))+`) ORDER BY id DESC`, args)
			}
			n = len(ids)
		}
		if err != nil {
			return x, err
		}
		if n < auditExportChunk {
			return x, nil
		}
		before = w.last
	}
}

// rawAuditColumns are the stored columns of a row, as exportRowWriter
// scans them.
const rawAuditColumns = `id, at, COALESCE(actor_id, 0), actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash`

// exportRowWriter turns stored rows into export rows: the times as stored
// (no parsing), the staff names from a map read once, the sentence.
type exportRowWriter struct {
	names map[int64]string
	seal  *exportSeal
	row   func(*AuditExportRow) error
	r     AuditExportRow
	last  int64
}

// rows streams one query's rows to the row function.
func (w *exportRowWriter) rows(ctx context.Context, q queryer, query string, args []any) (int, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("db: export audit: %w", err)
	}
	defer rows.Close()
	n := 0
	r := &w.r
	for rows.Next() {
		*r = AuditExportRow{Record: RecordRow}
		if err := rows.Scan(&r.Sequence, &r.At, &r.ActorID, &r.ActorEmail, &r.Action, &r.TargetType, &r.TargetID, &r.IP, &r.UserAgent,
			&r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return n, fmt.Errorf("db: export audit: %w", err)
		}
		r.ActorName = w.names[r.ActorID]
		e := AuditEntry{Action: r.Action, ActorEmail: r.ActorEmail, ActorName: r.ActorName, TargetType: r.TargetType, TargetID: r.TargetID}
		if r.TargetType == "staff" {
			if id, err := strconv.ParseInt(r.TargetID, 10, 64); err == nil {
				e.TargetName = w.names[id]
			}
		}
		r.Group, r.Sentence = AuditActionOf(r.Action).Group, e.SentenceText()
		w.seal.add(r.Sequence, r.Hash)
		if err := w.row(r); err != nil {
			return n, err
		}
		w.last = r.Sequence
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("db: export audit: %w", err)
	}
	return n, nil
}

// staffNames maps staff ids to names (a small table, read once per export).
func staffNames(ctx context.Context, q queryer) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name FROM staff`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		m[id] = name
	}
	return m, rows.Err()
}

// ExportVerification is what VerifyAuditExport found.
type ExportVerification struct {
	Header AuditExportHeader
	Rows   int64
	// Seqs are the sequences of the rows, in file order (for a comparison
	// with a database).
	Seqs   []int64
	Hashes map[int64]string
}

// ExportError says where an export fails: a record (by its sequence, or 0
// for the head or end) and why.
type ExportError struct {
	Line   int
	Seq    int64
	Reason string
}

func (e *ExportError) Error() string {
	switch {
	case e.Line == 0 && e.Seq > 0:
		return fmt.Sprintf("export row %d: %s", e.Seq, e.Reason)
	case e.Line == 0:
		return "export: " + e.Reason
	case e.Seq > 0:
		return fmt.Sprintf("export line %d (row %d): %s", e.Line, e.Seq, e.Reason)
	}
	return fmt.Sprintf("export line %d: %s", e.Line, e.Reason)
}

// VerifyAuditExport checks an audit export (CSV or JSON Lines, told apart
// by its first byte) with keys: every row's hash under the key (or the
// unkeyed hash before KeyedFrom), the links between consecutive rows, the
// row count and the MAC of the end record. It returns an *ExportError at
// the first failure.
func VerifyAuditExport(r io.Reader, keys *AuditKeys) (ExportVerification, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if err != nil {
		return ExportVerification{}, &ExportError{1, 0, "the file is empty"}
	}
	var next func() (line int, rec any, err error)
	if first[0] == '{' {
		next = jsonlRecords(br)
	} else {
		next = csvRecords(br)
	}
	var v ExportVerification
	v.Hashes = map[int64]string{}
	h := newHasher(keys)
	var seal []*exportSeal
	var prev *AuditExportRow
	sawEnd := false
	for {
		line, rec, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return v, err
		}
		switch rec := rec.(type) {
		case AuditExportHeader:
			if line != 1 && !(line == 2 && first[0] != '{') {
				return v, &ExportError{line, 0, "a chain head record after the first line"}
			}
			v.Header = rec
			if keys != nil {
				for _, key := range keys.byID {
					seal = append(seal, newExportSeal(key, rec))
				}
			}
		case AuditExportRow:
			if v.Header.Format == "" {
				return v, &ExportError{line, rec.Sequence, "rows before the chain head record: this is not a Linkdesk audit export"}
			}
			if sawEnd {
				return v, &ExportError{line, rec.Sequence, "a row after the end record"}
			}
			if reason := checkExportRow(h, keys, &rec, v.Header.KeyedFrom); reason != "" {
				return v, &ExportError{line, rec.Sequence, reason}
			}
			if rec.Sequence > v.Header.Head.Seq {
				return v, &ExportError{line, rec.Sequence, fmt.Sprintf("a row newer than the chain head of the export (row %d)", v.Header.Head.Seq)}
			}
			if rec.Sequence == v.Header.Head.Seq && rec.Hash != v.Header.Head.Hash {
				return v, &ExportError{line, rec.Sequence, "the chain head record names another hash for this row"}
			}
			if prev != nil {
				switch {
				case rec.Sequence >= prev.Sequence:
					return v, &ExportError{line, rec.Sequence, "rows are not newest first"}
				case rec.Sequence == prev.Sequence-1 && prev.PrevHash != rec.Hash:
					return v, &ExportError{line, prev.Sequence, fmt.Sprintf("its prev_hash does not match the hash of row %d", rec.Sequence)}
				}
			}
			for _, s := range seal {
				s.add(rec.Sequence, rec.Hash)
			}
			v.Rows++
			v.Seqs = append(v.Seqs, rec.Sequence)
			v.Hashes[rec.Sequence] = rec.Hash
			p := rec
			prev = &p
		case AuditExportEnd:
			if v.Header.Format == "" {
				return v, &ExportError{line, 0, "an end record before the chain head record"}
			}
			if rec.Rows != v.Rows {
				return v, &ExportError{line, 0, fmt.Sprintf("the end record counts %d rows, the file holds %d: rows were removed or added", rec.Rows, v.Rows)}
			}
			ok := false
			for _, s := range seal {
				if hmac.Equal([]byte(s.end().MAC), []byte(rec.MAC)) {
					ok = true
				}
			}
			if !ok {
				return v, &ExportError{line, 0, "the end record's MAC does not match: the header or the rows were changed (or the key is not the trail's)"}
			}
			sawEnd = true
		}
	}
	switch {
	case v.Header.Format == "":
		return v, &ExportError{1, 0, "no chain head record: this is not a Linkdesk audit export"}
	case !sawEnd:
		return v, &ExportError{0, 0, "no end record: the file was cut short"}
	}
	return v, nil
}

// VerifyAuditRow checks one exported row's own hash with keys (rows before
// keyedFrom carry the unkeyed hash); "" means it holds, else why not.
func VerifyAuditRow(keys *AuditKeys, r AuditExportRow, keyedFrom int64) string {
	return checkExportRow(newHasher(keys), keys, &r, keyedFrom)
}

// keyedFrom is the first keyed row of the trail (1 when it was keyed from
// the start).
func keyedFrom(ctx context.Context, q queryer) (int64, error) {
	var keyed sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MIN(id) FROM audit_log WHERE action = ?`, ActionChainKeyed).Scan(&keyed); err != nil {
		return 0, err
	}
	if keyed.Valid {
		return keyed.Int64, nil
	}
	return 1, nil
}

// checkExportRow checks one exported row's own hash; "" means it holds.
func checkExportRow(h *hasher, keys *AuditKeys, r *AuditExportRow, keyedFrom int64) string {
	cr := chainRow{ID: r.Sequence, At: []byte(r.At), ActorID: r.ActorID, ActorEmail: []byte(r.ActorEmail), Action: []byte(r.Action),
		TargetType: []byte(r.TargetType), TargetID: []byte(r.TargetID), IP: []byte(r.IP), UserAgent: []byte(r.UserAgent),
		Detail: []byte(r.Detail), PrevHash: []byte(r.PrevHash), Hash: []byte(r.Hash)}
	if r.Sequence < keyedFrom {
		if bytes.Equal(h.sum(&cr, SchemeSHA256, ""), cr.Hash) {
			return ""
		}
		return "its content does not match its hash: the row was changed"
	}
	if keys == nil || len(keys.byID) == 0 {
		return "the rows are keyed, and this check has no audit key (set LINKDESK_AUDIT_KEY)"
	}
	for id := range keys.byID {
		if bytes.Equal(h.sum(&cr, SchemeHMAC, id), cr.Hash) {
			return ""
		}
	}
	if bytes.Equal(h.sum(&cr, SchemeSHA256, ""), cr.Hash) {
		return "it was hashed without the key (re-hashed by someone who does not hold it)"
	}
	return "its content does not match its hash: the row was changed"
}

// jsonlRecords reads the records of a JSON Lines export.
func jsonlRecords(br *bufio.Reader) func() (int, any, error) {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	return func() (int, any, error) {
		for sc.Scan() {
			n++
			b := sc.Bytes()
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			var kind struct {
				Record string `json:"record"`
			}
			if err := json.Unmarshal(b, &kind); err != nil {
				return n, nil, &ExportError{n, 0, "not a JSON object"}
			}
			var rec any
			var err error
			switch kind.Record {
			case RecordHead:
				var h AuditExportHeader
				err = json.Unmarshal(b, &h)
				rec = h
			case RecordRow:
				var r AuditExportRow
				err = json.Unmarshal(b, &r)
				rec = r
			case RecordEnd:
				var e AuditExportEnd
				err = json.Unmarshal(b, &e)
				rec = e
			default:
				return n, nil, &ExportError{n, 0, fmt.Sprintf("unknown record %q", kind.Record)}
			}
			if err != nil {
				return n, nil, &ExportError{n, 0, "a " + kind.Record + " record that does not parse"}
			}
			return n, rec, nil
		}
		if err := sc.Err(); err != nil {
			return n, nil, err
		}
		return n, nil, io.EOF
	}
}

// csvRecords reads the records of a CSV export. A cell a spreadsheet-safe
// writer prefixed with ' (a value starting with = + - @) is read back
// without it.
func csvRecords(br *bufio.Reader) func() (int, any, error) {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = len(AuditCSVHeader)
	cr.ReuseRecord = true
	n := 0
	return func() (int, any, error) {
		rec, err := cr.Read()
		n++
		if err == io.EOF {
			return n, nil, io.EOF
		}
		if err != nil {
			return n, nil, &ExportError{n, 0, "not a record of the audit export's CSV columns"}
		}
		for i, c := range rec {
			if len(c) >= 2 && c[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(c[1])) {
				rec[i] = c[1:]
			}
		}
		if n == 1 {
			if strings.Join(rec, ",") != strings.Join(AuditCSVHeader, ",") {
				return n, nil, &ExportError{n, 0, "the CSV header is not the audit export's"}
			}
			n++
			rec, err = cr.Read()
			if err == io.EOF {
				return n, nil, io.EOF
			}
			if err != nil {
				return n, nil, &ExportError{n, 0, "not a record of the audit export's CSV columns"}
			}
		}
		seq, _ := strconv.ParseInt(rec[1], 10, 64)
		switch rec[0] {
		case RecordHead:
			var h AuditExportHeader
			if err := json.Unmarshal([]byte(rec[13]), &h); err != nil {
				return n, nil, &ExportError{n, 0, "the chain head record's detail does not parse"}
			}
			if h.Head.Seq != seq || h.Head.Hash != rec[15] {
				return n, nil, &ExportError{n, 0, "the chain head record's columns disagree with its detail"}
			}
			return n, h, nil
		case RecordRow:
			actor, err := strconv.ParseInt(rec[3], 10, 64)
			if err != nil || seq <= 0 {
				return n, nil, &ExportError{n, 0, "a row whose sequence or actor_id is not a number"}
			}
			return n, AuditExportRow{Record: RecordRow, Sequence: seq, At: rec[2], ActorID: actor, ActorEmail: rec[4], ActorName: rec[5],
				Action: rec[6], Group: rec[7], Sentence: rec[8], TargetType: rec[9], TargetID: rec[10], IP: rec[11], UserAgent: rec[12],
				Detail: rec[13], PrevHash: rec[14], Hash: rec[15]}, nil
		case RecordEnd:
			return n, AuditExportEnd{Record: RecordEnd, Rows: seq, MAC: rec[15]}, nil
		}
		return n, nil, &ExportError{n, 0, fmt.Sprintf("unknown record %q", rec[0])}
	}
}

// CompareExport checks an export against the trail: every exported row
// exists with the same hash, and the trail still holds the export's chain
// head (else rows were removed or rewritten since). It returns an
// *ExportError for the first difference.
func (s *Store) CompareExport(ctx context.Context, v ExportVerification) error {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = ?`, v.Header.Head.Seq).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &ExportError{0, v.Header.Head.Seq, "the database no longer holds the export's chain head: its newest rows were removed"}
	case err != nil:
		return fmt.Errorf("db: compare export: %w", err)
	case hash != v.Header.Head.Hash:
		return &ExportError{0, v.Header.Head.Seq, "the database holds another hash for the export's chain head: the row was rewritten"}
	}
	for _, seq := range v.Seqs {
		err := s.r.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = ?`, seq).Scan(&hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return &ExportError{0, seq, "the database no longer holds this row"}
		case err != nil:
			return fmt.Errorf("db: compare export: %w", err)
		case hash != v.Hashes[seq]:
			return &ExportError{0, seq, "the database holds another hash for this row"}
		}
	}
	return nil
}
