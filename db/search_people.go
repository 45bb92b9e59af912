package db

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"unicode/utf8"
)

// People search: the part of Search that reads the search index
// (search_index.go).

// PeopleQuery is a search box text read as a search for people: an email
// address, a phone number, or the words of a name (folded as the index
// folds them). At most one of the three is set.
type PeopleQuery struct {
	Email string
	Phone string
	Words []string
}

// maxQueryWords bounds the words of a name query: each is one more probe
// per candidate.
const maxQueryWords = 6

// ParsePeopleQuery reads q: with an @ it is an email address (or its
// beginning); made of digits and the usual phone punctuation, with at
// least 4 digits, a phone number; otherwise the words of a name.
func ParsePeopleQuery(q string) PeopleQuery {
	q = strings.TrimSpace(q)
	if q == "" || !utf8.ValidString(q) {
		return PeopleQuery{}
	}
	if strings.Contains(q, "@") && !strings.ContainsAny(q, " \t") {
		return PeopleQuery{Email: strings.ToLower(q)}
	}
	if strings.Trim(q, "0123456789+-(). ") == "" {
		if d := phoneDigits(q); len(d) >= 4 {
			return PeopleQuery{Phone: d}
		}
	}
	words := foldWords(q)
	seen := map[string]bool{}
	var out []string
	for _, w := range words {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	if len(out) > maxQueryWords {
		out = out[:maxQueryWords]
	}
	return PeopleQuery{Words: out}
}

// prefixEnd is the upper bound of a prefix range: U+10FFFF is the largest
// code point, so its UTF-8 bytes sort after any continuation of prefix (in
// SQLite's binary order and PostgreSQL's "C" collation alike).
func prefixEnd(prefix string) string { return prefix + string(utf8.MaxRune) }

// peopleScan bounds how many index rows of the driving word one search
// reads: a very common beginning ("a") finds the first people, not all.
const peopleScan = 1000

// searchPeople finds people by name, email or phone through the search
// index: the rarest word (counted up to peopleScan) drives a range of the
// term index, the other words are probes of the person index. Each person
// appears once, exact word matches first, at most MaxSearchHits.
func searchPeople(ctx context.Context, tx *sql.Tx, q string) ([]SearchHit, error) {
	pq := ParsePeopleQuery(q)
	var terms []string
	field := ""
	switch {
	case pq.Email != "":
		terms, field = []string{pq.Email}, SearchEmail
	case pq.Phone != "":
		terms, field = []string{pq.Phone}, SearchPhone
	case len(pq.Words) > 0:
		terms = pq.Words
	default:
		return nil, nil
	}
	// The driving term: the one with the fewest index entries.
	drive := 0
	if len(terms) > 1 {
		best := int64(-1)
		for i, t := range terms {
			var n int64
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM search_terms WHERE term >= ? AND term < ? LIMIT ?) x`,
				t, prefixEnd(t), peopleScan+1).Scan(&n)
			if err != nil {
				return nil, err
			}
			if best < 0 || n < best {
				best, drive = n, i
			}
		}
	}
	where := []string{"1=1"}
	args := []any{terms[drive], prefixEnd(terms[drive]), peopleScan}
	for i, t := range terms {
		if i == drive {
			continue
		}
		where = append(where, `EXISTS (SELECT 1 FROM search_terms o WHERE o.person = d.person AND o.term >= ? AND o.term < ?)`)
		args = append(args, t, prefixEnd(t))
	}
	inner := `SELECT term, person, field, source, shown FROM search_terms WHERE term >= ? AND term < ? ORDER BY term LIMIT ?`
	if field != "" {
		inner = `SELECT term, person, field, source, shown FROM search_terms WHERE term >= ? AND term < ? AND field = '` + field + `' ORDER BY term LIMIT ?`
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.term, d.person, d.field, d.source, d.shown FROM (`+inner+`) d WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, err
	}
	type match struct {
		hit   SearchHit
		exact bool
	}
	var order []string
	found := map[string]*match{}
	for rows.Next() {
		var term, person, fld, source, shown string
		if err := rows.Scan(&term, &person, &fld, &source, &shown); err != nil {
			rows.Close()
			return nil, err
		}
		src := searchSourceCustomer
		if strings.HasPrefix(source, "identity:") {
			src = "identity"
		}
		exact := term == terms[drive]
		m, ok := found[person]
		if !ok {
			if len(order) == MaxSearchHits {
				if !exact {
					break // the range is in term order: no exact match is left
				}
				continue
			}
			m = &match{hit: SearchHit{Kind: HitEndUser, ID: person}}
			found[person] = m
			order = append(order, person)
		}
		// Prefer, for what the page shows: an exact word over a prefix,
		// then a name over other fields, then the customer record.
		better := !ok || exact && !m.exact ||
			exact == m.exact && (fld == SearchName && m.hit.Field != SearchName ||
				fld == m.hit.Field && src == searchSourceCustomer && m.hit.Source != searchSourceCustomer)
		if better {
			m.hit.Field, m.hit.Match, m.hit.Source, m.exact = fld, shown, src, exact
			if fld == SearchName {
				m.hit.Name = shown
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, nil
	}
	// Names for people found by email or phone, and whether webhooks know
	// them, with their number of accounts.
	params := make([]any, len(order))
	for i, p := range order {
		params[i] = p
	}
	rows, err = tx.QueryContext(ctx, `SELECT end_user_id, account_count FROM end_users WHERE end_user_id IN (`+sqlParams(len(order))+`)`, params...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		found[id].hit.EndUser, found[id].hit.Accounts = true, n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range order {
		m := found[p]
		if m.hit.Name != "" {
			continue
		}
		var name string
		err := tx.QueryRowContext(ctx, `SELECT shown FROM search_terms WHERE person = ? AND field = 'name' ORDER BY source = 'customer' DESC LIMIT 1`, p).Scan(&name)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		m.hit.Name = name
	}
	// Exact word matches first, then by name: a stable order to scan.
	slices.SortStableFunc(order, func(a, b string) int {
		ma, mb := found[a], found[b]
		if ma.exact != mb.exact {
			if ma.exact {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(strings.ToLower(ma.hit.Name), strings.ToLower(mb.hit.Name)), strings.Compare(a, b))
	})
	out := make([]SearchHit, 0, len(order))
	for _, p := range order {
		out = append(out, found[p].hit)
	}
	return out, nil
}
