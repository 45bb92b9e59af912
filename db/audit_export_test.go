package db_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"linkdesk/db"
)

// exportTo writes an audit export of f as the handlers do (CSV or JSON
// Lines) and returns it.
func exportTo(t *testing.T, s *db.Store, a db.Actor, f db.AuditFilter, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	write := func(rec []string, v any) error {
		if format == "csv" {
			return cw.Write(rec)
		}
		return enc.Encode(v)
	}
	if format == "csv" {
		must(t, cw.Write(db.AuditCSVHeader))
	}
	x, err := s.ExportAudit(context.Background(), a, f, map[string]any{"q": "test"}, format,
		func(h db.AuditExportHeader) error { return write(h.CSV(), h) },
		func(r *db.AuditExportRow) error { return write(r.CSV(), r) })
	must(t, err)
	end := x.End()
	must(t, write(end.CSV(), end))
	cw.Flush()
	return buf.Bytes()
}

func TestAuditExport_RoundTripAndTampering(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	keys := f.s.AuditKeys()
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			all := exportTo(t, f.s, f.ann, db.AuditFilter{}, format)
			v, err := db.VerifyAuditExport(bytes.NewReader(all), keys)
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, all)
			}
			head, _ := f.s.ChainHead(ctx)
			if v.Header.Head != head || v.Rows != head.Seq || v.Header.ExportedBy != "ann@example.com" {
				t.Fatalf("header %+v rows %d; want head %+v", v.Header, v.Rows, head)
			}
			if err := f.s.CompareExport(ctx, v); err != nil {
				t.Fatalf("compare: %v", err)
			}
			// A filtered export verifies too (its rows are not consecutive).
			some := exportTo(t, f.s, f.ann, db.AuditFilter{Action: db.ActionPIIRevealed}, format)
			if v, err := db.VerifyAuditExport(bytes.NewReader(some), keys); err != nil || v.Rows != 3 {
				t.Fatalf("filtered export: %d rows, %v", v.Rows, err)
			}

			lines := strings.SplitAfter(string(all), "\n")
			body := 1 // JSONL: line 0 is the head
			if format == "csv" {
				body = 2
			}
			for _, tc := range []struct {
				name   string
				edit   func(lines []string) []string
				reason string
			}{
				{"a row removed", func(l []string) []string { return append(append([]string{}, l[:body+1]...), l[body+2:]...) }, "rows were removed"},
				{"a row changed", func(l []string) []string {
					l = append([]string{}, l...)
					l[body+1] = strings.Replace(l[body+1], "10.0.0.9", "10.6.6.6", 1)
					return l
				}, "does not match its hash"},
				{"the newest row removed", func(l []string) []string { return append(append([]string{}, l[:body]...), l[body+1:]...) }, "rows were removed"},
				{"cut short", func(l []string) []string { return l[:len(l)-2] }, "no end record"},
				{"the MAC changed", func(l []string) []string {
					l = append([]string{}, l...)
					last := len(l) - 1
					for l[last] == "" {
						last--
					}
					l[last] = strings.Replace(l[last], `"mac":"`, `"mac":"00`, 1)
					if format == "csv" {
						i := strings.LastIndex(l[last], ",")
						l[last] = l[last][:i+1] + strings.Repeat("0", 64) + "\n"
					}
					return l
				}, "MAC does not match"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := db.VerifyAuditExport(strings.NewReader(strings.Join(tc.edit(lines), "")), keys)
					var xe *db.ExportError
					if !errors.As(err, &xe) || !strings.Contains(xe.Reason, tc.reason) {
						t.Fatalf("got %v, want …%s…", err, tc.reason)
					}
				})
			}
			// Without the key nothing keyed verifies.
			if _, err := db.VerifyAuditExport(bytes.NewReader(all), nil); err == nil {
				t.Error("verified without a key")
			}
		})
	}
}
