package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"linkdesk/pinwheel"
)

// Jobs (docs/pinwheel.md#jobs): every job a Link session runs is stored when
// its event is generated, and GET /v1/jobs lists them. A user_pending job
// that later fails keeps its id and is updated.

// saveJob stores (or, for the same job id, updates) a job row.
func saveJob(ctx context.Context, tx *sql.Tx, j *jobRun) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, name, account_id, link_token_id, platform_id, outcome,
		error_type, error_code, at, at_us, params_old, params_new) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET outcome = excluded.outcome, error_type = excluded.error_type,
		error_code = excluded.error_code, at = excluded.at, at_us = excluded.at_us`,
		j.ID, j.Name, j.AccountID, j.LinkTokenID, j.PlatformID, j.Outcome, nullStr(j.ErrorType), nullStr(j.ErrorCode),
		dbTime(j.Time), j.Time.UnixMicro(), string(apiJSON(j.params(pinwheel.Version20231122))),
		string(apiJSON(j.params(pinwheel.Version20250708))))
	if err != nil {
		return fmt.Errorf("sandbox: save job: %w", err)
	}
	return nil
}

// listJobs handles GET /v1/jobs: newest first, filtered by link_token_id,
// account_id, job_types (repeated), outcome and the timestamp range.
func (e *Emulator) listJobs(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	q := r.URL.Query()
	where, args := []string{"1 = 1"}, []any{}
	for _, f := range []string{"link_token_id", "account_id"} {
		if v := q.Get(f); v != "" {
			if !isUUID(v) {
				e.writeError(w, invalid(codeValidation, "Validation error.",
					pinwheel.FieldError{Name: f, Message: "Value is not a valid uuid."}))
				return
			}
			where, args = append(where, f+" = ?"), append(args, strings.ToLower(v))
		}
	}
	if types := q["job_types"]; len(types) > 0 {
		for _, t := range types {
			if !slices.Contains(featuresEnum, t) {
				e.writeError(w, invalid(codeValidation, "Validation error.",
					pinwheel.FieldError{Name: "job_types", Message: enumMsg(featuresEnum)}))
				return
			}
		}
		where = append(where, "name IN (?"+strings.Repeat(", ?", len(types)-1)+")")
		for _, t := range types {
			args = append(args, t)
		}
	}
	if o := q.Get("outcome"); o != "" {
		outcomes := []string{pinwheel.OutcomeSuccess, pinwheel.OutcomePending, pinwheel.OutcomeError}
		if !slices.Contains(outcomes, o) {
			e.writeError(w, invalid(codeValidation, "Validation error.",
				pinwheel.FieldError{Name: "outcome", Message: enumMsg(outcomes)}))
			return
		}
		where, args = append(where, "outcome = ?"), append(args, o)
	}
	for _, b := range []struct{ name, op string }{{"from_timestamp", ">="}, {"to_timestamp", "<="}} {
		if v := q.Get(b.name); v != "" {
			t, err := pinwheel.ParseTime(v)
			if err != nil || t.IsZero() {
				e.writeError(w, invalid(codeValidation, "Validation error.",
					pinwheel.FieldError{Name: b.name, Message: "Value is not a valid ISO 8601 timestamp."}))
				return
			}
			where, args = append(where, "at_us "+b.op+" ?"), append(args, t.UnixMicro())
		}
	}
	if c.Seq > 0 {
		where, args = append(where, "seq < ?"), append(args, c.Seq)
	}
	params := "params_old"
	if newer(version(r)) {
		params = "params_new"
	}
	rows, err := e.store.db.QueryContext(r.Context(), `SELECT seq, id, name, account_id, link_token_id, platform_id, outcome,
		error_type, error_code, at, `+params+` FROM jobs WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`,
		append(args, limit+1)...)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	defer rows.Close()
	var items []obj
	var lastSeq int64
	var next *string
	for rows.Next() {
		var seq int64
		var id, name, account, token, platform, outcome, at, p string
		var errType, errCode sql.NullString
		if err := rows.Scan(&seq, &id, &name, &account, &token, &platform, &outcome, &errType, &errCode, &at, &p); err != nil {
			e.fail(w, r, err)
			return
		}
		if len(items) == limit {
			next = e.encodeCursor(cursor{Seq: lastSeq})
			break
		}
		lastSeq = seq
		pl, _ := findPlatform(platform)
		items = append(items, obj{
			{"id", id},
			{"name", name},
			{"timestamp", parseDBTime(at)},
			{"outcome", outcome},
			{"error_code", nullStr(errCode.String)},
			{"error_type", nullStr(errType.String)},
			{"link_token_id", token},
			{"params", rawJSON(p)},
			{"account_id", account},
			{"platform_id", platform},
			{"platform_name", pl.Name},
		})
	}
	if err := rows.Err(); err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, nil), items))
}
