package db

import (
	"strings"
	"testing"
)

// TestPGRewrite: what the rewrite changes, and what it leaves alone.
func TestPGRewrite(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', "?x", ? -- a ? in a comment
/* and ? here */ FROM t WHERE x = ?`, `SELECT '?', "?x", $1 -- a ? in a comment
/* and ? here */ FROM t WHERE x = $2`},
		{`SELECT 'it''s ?' || ?`, `SELECT 'it''s ?' || $1`},
		{`SELECT ?2, ?1`, `SELECT $2, $1`},
		{`WHERE name LIKE ? AND x NOT LIKE 'a%'`, `WHERE name ILIKE $1 AND x NOT ILIKE 'a%'`},
		{`WHERE id GLOB ? AND k GLOB 'ab*'`, `WHERE id ~ linkdesk_glob($1) AND k ~ linkdesk_glob('ab*')`},
		{`WHERE 1=1 AND +a.platform_id = ? AND (+a.x = 1 OR a.y + a.z > 2)`, `WHERE 1=1 AND a.platform_id = $1 AND (a.x = 1 OR a.y + a.z > 2)`},
		{`SELECT a + b, c+d, +1 FROM t`, `SELECT a + b, c+d, +1 FROM t`},
		{`SELECT ifnull(a, 0), max(a, b), MAX(a), min(x, (y), z), count(*) FROM t`, `SELECT coalesce(a, 0), GREATEST(a, b), MAX(a), LEAST(x, (y), z), count(*) FROM t`},
		{`SELECT json_object('a', x), CAST(v AS REAL)`, `SELECT json_build_object('a', x), CAST(v AS DOUBLE PRECISION)`},
		{`DO $$ BEGIN PERFORM 1 WHERE x LIKE '?'; END $$; SELECT ?`, `DO $$ BEGIN PERFORM 1 WHERE x LIKE '?'; END $$; SELECT $1`},
		{`SELECT $tag$ ? $tag$, $1`, `SELECT $tag$ ? $tag$, $1`},
		{`SELECT group_concat(DISTINCT s), instr(a, b), json_extract(body, '$.a.b')`, `SELECT group_concat(DISTINCT s), instr(a, b), json_extract(body, '$.a.b')`},
	} {
		got, err := pgRewrite(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("rewrite of\n  %s\nis\n  %s\nwant\n  %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{
		`PRAGMA cache_size = 1`,
		`INSERT OR IGNORE INTO t (a) VALUES (?)`,
		`REPLACE INTO t (a) VALUES (?)`,
		`SELECT strftime('%s', at) FROM t`,
		`SELECT datetime('now')`,
		`SELECT iif(a, 1, 2)`,
		`WHERE a GLOB b || '*'`,
	} {
		if got, err := pgRewrite(bad); err == nil {
			t.Errorf("%q rewrote to %q; want an error saying it is SQLite's", bad, got)
		} else if !strings.Contains(err.Error(), "db: ") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}
