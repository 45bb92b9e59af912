package db

import (
	"context"
	"strings"
)

// countRows counts the rows of from (a table and its alias, "events e")
// that match every term of where, reading at most limit+1 of them through
// the index range the terms select: a list's count line costs at most
// limit rows however large the table. more reports that there are more
// than limit; n is then limit.
func countRows(ctx context.Context, q queryer, from string, where []string, args []any, limit int) (n int64, more bool, err error) {
	cond := "1=1"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	args = append(args[:len(args):len(args)], limit+1)
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` WHERE `+cond+` LIMIT ?) c`, args...).Scan(&n); err != nil {
		return 0, false, err
	}
	if n > int64(limit) {
		return int64(limit), true, nil
	}
	return n, false, nil
}
