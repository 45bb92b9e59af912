package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"linkdesk/pinwheel"
)

// The search index (migration 070): the words of people's names, their
// email addresses and phone numbers, folded so that a search is case- and
// accent-insensitive, each pointing at the end user it belongs to. It is
// written in the same transaction as what it indexes: a customer record
// saved or imported (customers.go), an identity snapshot stored after a
// fetch (fetches.go). Search (search.go) reads it.

// Fields of the search index: what a term was taken from.
const (
	SearchName  = "name"
	SearchEmail = "email"
	SearchPhone = "phone"
)

// searchSourceCustomer is the source of terms from a customer record; an
// identity's terms have the source "identity:" + its account_id.
const searchSourceCustomer = "customer"

func identitySource(accountID string) string { return "identity:" + accountID }

// JobSearchReindex is the job that indexes what a database held before the
// index existed (migration 070 enqueues it; worker.SearchReindex runs it).
const JobSearchReindex = "search.reindex"

// searchTerm is one row of the index for a person and source.
type searchTerm struct {
	term, field, shown string
}

// foldWords folds text into lowercase words without accents: NFD drops
// combining marks (é becomes e), letters NFD leaves alone get their usual
// ASCII spelling (ß becomes ss), apostrophes join ("O'Brien" is "obrien"),
// and any other character that is not a letter or digit separates
// ("García-López" is "garcia", "lopez"). Names, the identity check and the
// search index all fold this way.
func foldWords(s string) []string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == '\'' || r == '’' || r == 'ʼ' || r == '`' || r == '´':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f, ok := foldSpecial[unicode.ToLower(r)]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}

// phoneDigits keeps the digits of a phone number ("+1 (555) 010-1234" is
// "15550101234").
func phoneDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// phoneTerms are the terms of one phone number: all its digits and, when
// there are more than ten (a country code), its last ten, so that a number
// typed with or without the country code is found.
func phoneTerms(p string) []string {
	d := phoneDigits(p)
	if len(d) < 4 {
		return nil
	}
	if len(d) > 10 {
		return []string{d, d[len(d)-10:]}
	}
	return []string{d}
}

// nameTerms are the terms of a name: each folded word.
func nameTerms(name string) []searchTerm {
	var out []searchTerm
	for _, w := range foldWords(name) {
		out = append(out, searchTerm{term: w, field: SearchName, shown: name})
	}
	return out
}

// emailTerm is the term of an email address.
func emailTerm(email string) []searchTerm {
	e := normalizeEmail(email)
	if e == "" || len(e) > 254 {
		return nil
	}
	return []searchTerm{{term: e, field: SearchEmail, shown: strings.TrimSpace(email)}}
}

// customerTerms are the terms of a customer record: its name and email.
func customerTerms(c Customer) []searchTerm {
	return append(nameTerms(c.FullName), emailTerm(c.Email)...)
}

// identityTerms are the terms of an identity Pinwheel returned: the name,
// every email and every phone number.
func identityTerms(id *pinwheel.Identity) []searchTerm {
	if id == nil {
		return nil
	}
	out := nameTerms(id.FullName)
	for _, e := range id.Emails {
		out = append(out, emailTerm(e)...)
	}
	for _, p := range id.PhoneNumbers {
		for _, t := range phoneTerms(p.Value) {
			out = append(out, searchTerm{term: t, field: SearchPhone, shown: p.Value})
		}
	}
	return out
}

// searchIndexer writes index rows inside one transaction, with its
// statements prepared once (an import of 50,000 customer records writes
// about 200,000 rows).
type searchIndexer struct {
	del, ins *sql.Stmt
}

func newSearchIndexer(ctx context.Context, tx *sql.Tx) (*searchIndexer, error) {
	del, err := tx.PrepareContext(ctx, `DELETE FROM search_terms WHERE person = ? AND source = ?`)
	if err != nil {
		return nil, err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO search_terms (term, person, field, source, shown) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (term, person, field, source) DO NOTHING`)
	if err != nil {
		del.Close()
		return nil, err
	}
	return &searchIndexer{del: del, ins: ins}, nil
}

func (x *searchIndexer) close() {
	if x != nil {
		x.del.Close()
		x.ins.Close()
	}
}

// replace makes terms the whole of what source says about person.
func (x *searchIndexer) replace(ctx context.Context, person, source string, terms []searchTerm) error {
	if person == "" {
		return nil
	}
	if _, err := x.del.ExecContext(ctx, person, source); err != nil {
		return err
	}
	for _, t := range terms {
		if t.term == "" || len(t.term) > 255 {
			continue
		}
		if _, err := x.ins.ExecContext(ctx, t.term, person, t.field, source, t.shown); err != nil {
			return err
		}
	}
	return nil
}

// indexIdentity indexes the identity snapshot body of an account (its
// latest: the one just stored) under the account's end user.
func indexIdentity(ctx context.Context, tx *sql.Tx, accountRef int64, body []byte) error {
	d, err := DecodeSnapshot(FetchIdentity, body)
	if err != nil {
		return nil // a body that does not decode has nothing to index
	}
	var accountID, endUserID string
	err = tx.QueryRowContext(ctx, `SELECT a.account_id, COALESCE(u.end_user_id, '') FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.id = ?`,
		accountRef).Scan(&accountID, &endUserID)
	if err != nil || endUserID == "" {
		return notFoundOK(err)
	}
	x, err := newSearchIndexer(ctx, tx)
	if err != nil {
		return err
	}
	defer x.close()
	return x.replace(ctx, endUserID, identitySource(accountID), identityTerms(d.Identity))
}

func notFoundOK(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// reindexBatch is how many customer records or identity snapshots one
// transaction of ReindexSearch indexes.
const reindexBatch = 500

// settingReindex records how far ReindexSearch got: "c" and the last
// end_user_id of customers done, then "i" and the last snapshot id, then
// "done".
const settingReindex = "search_reindex"

// ReindexSearch indexes one batch of what the database held before the
// search index existed (or what a rebuild asks for): customer records in
// end_user_id order, then the latest identity snapshot of each account.
// Each batch commits with its progress, so that a restart resumes where it
// stopped; it reports whether everything is indexed. Writes made meanwhile
// index themselves, and indexing a record twice is harmless.
func (s *Store) ReindexSearch(ctx context.Context) (done bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var at string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingReindex).Scan(&at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			at = "c"
		case err != nil:
			return err
		}
		x, err := newSearchIndexer(ctx, tx)
		if err != nil {
			return err
		}
		defer x.close()
		next := "done"
		switch {
		case at == "done":
			done = true
			return nil
		case strings.HasPrefix(at, "c"):
			last, n, err := reindexCustomers(ctx, tx, x, at[1:])
			if err != nil {
				return err
			}
			next = "i0"
			if n == reindexBatch {
				next = "c" + last
			}
		case strings.HasPrefix(at, "i"):
			last, n, err := reindexIdentities(ctx, tx, x, at[1:])
			if err != nil {
				return err
			}
			if n == reindexBatch {
				next = "i" + last
			}
		default:
			return fmt.Errorf("progress %q not understood", at)
		}
		done = next == "done"
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingReindex, next, FormatTime(s.now()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("db: reindex search: %w", err)
	}
	return done, nil
}

// RestartSearchReindex makes the next ReindexSearch start over and queues
// the job that runs it.
func (s *Store) RestartSearchReindex(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, settingReindex); err != nil {
			return err
		}
		_, err := s.enqueueJob(ctx, tx, NewJob{Kind: JobSearchReindex, Payload: struct{}{}, DedupeKey: "all"})
		return err
	})
}

func reindexCustomers(ctx context.Context, tx *sql.Tx, x *searchIndexer, after string) (string, int, error) {
	// Only what the index holds (names and emails are stored in clear).
	rows, err := tx.QueryContext(ctx, `SELECT end_user_id, full_name, email FROM customers WHERE end_user_id > ? ORDER BY end_user_id LIMIT ?`, after, reindexBatch)
	if err != nil {
		return "", 0, err
	}
	var list []Customer
	for rows.Next() {
		var c Customer
		if err := rows.Scan(&c.EndUserID, &c.FullName, &c.Email); err != nil {
			rows.Close()
			return "", 0, err
		}
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	for _, c := range list {
		if err := x.replace(ctx, c.EndUserID, searchSourceCustomer, customerTerms(c)); err != nil {
			return "", 0, err
		}
	}
	if len(list) == 0 {
		return after, 0, nil
	}
	return list[len(list)-1].EndUserID, len(list), nil
}

func reindexIdentities(ctx context.Context, tx *sql.Tx, x *searchIndexer, after string) (string, int, error) {
	var from int64
	fmt.Sscan(after, &from)
	// The latest identity snapshot of each account, in snapshot id order.
	rows, err := tx.QueryContext(ctx, `SELECT d.id, a.account_id, COALESCE(u.end_user_id, ''), d.body FROM data_snapshots d
JOIN accounts a ON a.id = d.account_ref LEFT JOIN end_users u ON u.id = a.end_user_ref
WHERE d.id > ? AND d.kind = 'identity'
  AND d.id = (SELECT MAX(l.id) FROM data_snapshots l WHERE l.account_ref = d.account_ref AND l.kind = 'identity')
ORDER BY d.id LIMIT ?`, from, reindexBatch)
	if err != nil {
		return "", 0, err
	}
	type snap struct {
		id              int64
		account, person string
		body            string
	}
	var list []snap
	for rows.Next() {
		var sn snap
		if err := rows.Scan(&sn.id, &sn.account, &sn.person, &sn.body); err != nil {
			rows.Close()
			return "", 0, err
		}
		list = append(list, sn)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	for _, sn := range list {
		d, err := DecodeSnapshot(FetchIdentity, []byte(sn.body))
		if err != nil {
			continue
		}
		if err := x.replace(ctx, sn.person, identitySource(sn.account), identityTerms(d.Identity)); err != nil {
			return "", 0, err
		}
	}
	if len(list) == 0 {
		return after, 0, nil
	}
	return fmt.Sprint(list[len(list)-1].id), len(list), nil
}
