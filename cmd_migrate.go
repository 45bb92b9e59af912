package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"linkdesk/db"
)

// migrateSettings are the settings of `linkdesk migrate-db`: the same
// variables as serve's, read the other way round (from the SQLite file, to
// the PostgreSQL URL).
var migrateSettings = append([]setting{
	{"LINKDESK_DB", "from", "linkdesk.db", "the SQLite database file to copy (the one linkdesk serve used)"},
	{"LINKDESK_DATABASE_URL", "to", "", "PostgreSQL URL to copy into (postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full); best an empty database"},
}, keySpecOf("LINKDESK_AUDIT_KEY").settings()...)

// cmdMigrateDB runs `linkdesk migrate-db`: it copies a SQLite database
// into PostgreSQL and verifies the copy (db.CopyDatabase).
func cmdMigrateDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m, err := parseSettings("migrate-db", `Usage: linkdesk migrate-db --from linkdesk.db --to postgres://...

Copies everything in a SQLite database into a PostgreSQL database: staff, the audit trail, webhook
events and their projections, jobs, settings (the generated keys too), every table. Stop Linkdesk
first and keep it stopped until the copy is done and verified: the row count of every table equal on
both sides, every reference among the webhook tables naming a row, and the audit chain whole on
PostgreSQL with the source's last hash (checked with LINKDESK_AUDIT_KEY, as serve uses it, or the key
kept in the database in emulator mode). A copy cut short can be run again: rows already copied are
overwritten with the source's, none twice. Then start Linkdesk with LINKDESK_DATABASE_URL set; keep
LINKDESK_ENCRYPTION_KEY as it was.`, migrateSettings, args, getenv, stdout)
	if err != nil {
		return err
	}
	from, to := m["LINKDESK_DB"], m["LINKDESK_DATABASE_URL"]
	switch {
	case from == "":
		return errors.New("migrate-db: --from (LINKDESK_DB) must not be empty")
	case to == "":
		return errors.New("migrate-db: --to (LINKDESK_DATABASE_URL) is required")
	case !db.IsPostgresURL(to):
		return errors.New("migrate-db: --to (LINKDESK_DATABASE_URL): want a postgres:// or postgresql:// URL")
	case db.IsPostgresURL(from):
		return errors.New("migrate-db: --from (LINKDESK_DB): want the SQLite file")
	}
	list, err := loadKey(m, keySpecOf("LINKDESK_AUDIT_KEY"))
	if err != nil {
		return err
	}
	opt := db.CopyOptions{}
	if keys := auditKeysOf(list); len(keys) > 0 {
		opt.AuditKey, opt.OldAuditKeys = keys[0], keys[1:]
	}
	fmt.Fprintf(stdout, "Copying %s into PostgreSQL…\n", from)
	last := time.Now()
	opt.Progress = func(table string, done, total int64) {
		if done == total || time.Since(last) > 5*time.Second {
			fmt.Fprintf(stdout, "  %-32s %d of %d rows\n", table, done, total)
			last = time.Now()
		}
	}
	rep, err := db.CopyDatabase(ctx, from, to, opt)
	if err != nil {
		return fmt.Errorf("migrate-db: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\trows on both sides\t")
	var sum int64
	for _, t := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%d\t\n", t.Table, t.Rows)
		sum += t.Rows
	}
	tw.Flush()
	fmt.Fprintf(stdout, "Copied and verified %d rows in %d tables in %s; the audit chain of %d rows is whole and ends as the source's.\n",
		sum, len(rep.Tables), rep.Took.Round(time.Millisecond), rep.AuditRows)
	fmt.Fprintln(stdout, "Start Linkdesk with LINKDESK_DATABASE_URL set to the same URL (and LINKDESK_ENCRYPTION_KEY as before, if set).")
	return nil
}
