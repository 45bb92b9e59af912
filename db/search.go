package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Search: the header box. A person types a name (any word order, any case,
// with or without accents, whole words or their beginnings), an email
// address or a phone number, pastes an ID (end_user_id, account_id,
// event_id, a Pinwheel link_token_id or Linkdesk's token id) or types a
// platform name. Every ID column has a unique index, so an exact lookup is
// one probe per kind; when nothing matches exactly, an ID of 6 or more
// characters is tried as a prefix (an index range, never LIKE). Names,
// emails and phone numbers are read from the search index
// (search_index.go): a range of its term index for the rarest word, and
// probes of its person index for the others.

// Search hit kinds.
const (
	HitEndUser   = "end_user"
	HitAccount   = "account"
	HitEvent     = "event"
	HitLinkToken = "link_token" // Pinwheel's link_token_id, seen in events or minted here
	HitToken     = "token"      // Linkdesk's launch link (token_id)
	HitPlatform  = "platform"
)

// SearchHit is one match.
type SearchHit struct {
	Kind string
	// ID is the matched identifier (platform_id for platforms, the
	// end_user_id of a person).
	ID string
	// Label describes the match in a few words (platform name, event name,
	// account's platform).
	Label string
	// Accounts is the number of accounts of an end user or on a platform;
	// for a Pinwheel link token, the number of events that name it.
	Accounts int64
	// TokenID is Linkdesk's token of a minted link_token_id ("" otherwise).
	TokenID string

	// People found through the search index (Kind HitEndUser):
	// Name is their name as a customer record or identity gives it, Field
	// what matched (SearchName, SearchEmail, SearchPhone; "" for an ID) and
	// Match the value that matched, as stored: pages mask it. EndUser says
	// whether Pinwheel's webhooks know them (else only a customer record
	// does).
	Name    string
	Field   string
	Match   string
	EndUser bool
	// Source is where the name or value came from: "customer" or
	// "identity".
	Source string
}

// MaxSearchHits bounds each kind's matches on the results page.
const MaxSearchHits = 20

const maxHits = MaxSearchHits

// minPrefix is the shortest query tried as an ID prefix.
const minPrefix = 6

// Search returns the matches of q: exact ID matches first; if there are
// none, ID prefix matches and people by name, email or phone; platform
// names always (case-insensitive substring of the few platform names
// seen).
func (s *Store) Search(ctx context.Context, q string) ([]SearchHit, error) {
	q = strings.TrimSpace(q)
	if q == "" || len(q) > 255 || !utf8.ValidString(q) {
		return nil, nil
	}
	var hits []SearchHit
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		if hits, err = searchIDs(ctx, tx, "= ?", []any{q}); err != nil {
			return err
		}
		if len(hits) == 0 && len(q) >= minPrefix {
			if hits, err = searchIDs(ctx, tx, ">= ? AND %s < ?", []any{q, q + string(utf8.MaxRune)}); err != nil {
				return err
			}
		}
		if len(hits) == 0 {
			people, err := searchPeople(ctx, tx, q)
			if err != nil {
				return err
			}
			hits = append(hits, people...)
		}
		ps, err := searchPlatforms(ctx, tx, q)
		hits = append(hits, ps...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: search: %w", err)
	}
	return hits, nil
}

// searchIDs runs one condition (cond, with %s standing for the column when
// it names it twice) against every ID column.
func searchIDs(ctx context.Context, tx *sql.Tx, cond string, args []any) ([]SearchHit, error) {
	on := func(col string) string {
		if strings.Contains(cond, "%s") {
			return col + " " + fmt.Sprintf(cond, col)
		}
		return col + " " + cond
	}
	queries := []struct {
		kind, sql string
	}{
		{HitEndUser, `SELECT end_user_id, '', '', account_count FROM end_users WHERE ` + on("end_user_id")},
		// A person known only from a customer record (no webhook yet).
		{HitEndUser, `SELECT end_user_id, 'customer', '', 0 FROM customers WHERE ` + on("end_user_id")},
		{HitAccount, `SELECT account_id, COALESCE(platform_name, ''), '', 0 FROM accounts WHERE ` + on("account_id")},
		{HitEvent, `SELECT event_id, event, '', 0 FROM events WHERE ` + on("event_id")},
		{HitLinkToken, `SELECT link_token_id, 'seen in events', '', event_count FROM link_tokens_seen WHERE ` + on("link_token_id")},
		{HitLinkToken, `SELECT m.link_token_id, 'minted by Linkdesk', t.token_id, 0 FROM link_token_mints m JOIN link_tokens t ON t.id = m.link_ref WHERE ` + on("m.link_token_id")},
		{HitToken, `SELECT token_id, account_id, token_id, 0 FROM link_tokens WHERE ` + on("token_id")},
	}
	var out []SearchHit
	seen := map[string]int{}
	for _, qq := range queries {
		rows, err := tx.QueryContext(ctx, qq.sql+` LIMIT ?`, append(args, maxHits)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			h := SearchHit{Kind: qq.kind, EndUser: qq.kind == HitEndUser}
			if err := rows.Scan(&h.ID, &h.Label, &h.TokenID, &h.Accounts); err != nil {
				rows.Close()
				return nil, err
			}
			if h.Kind == HitEndUser && h.Label == "customer" {
				h.Label, h.Source, h.EndUser = "", "customer", false
			}
			// A token seen in events and minted here is one match; so is an
			// end user with a customer record.
			key := h.Kind + "\x00" + h.ID
			if i, dup := seen[key]; dup {
				if h.TokenID != "" {
					out[i].TokenID, out[i].Label = h.TokenID, "seen in events, minted by Linkdesk"
				}
				continue
			}
			seen[key] = len(out)
			out = append(out, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// searchPlatforms matches platform names (a few hundred at most, kept in
// account_facet_counts) case-insensitively.
func searchPlatforms(ctx context.Context, tx *sql.Tx, q string) ([]SearchHit, error) {
	rows, err := tx.QueryContext(ctx, `SELECT value, label, n FROM account_facet_counts
WHERE facet = 'platform' AND value <> '' AND n > 0 AND (instr(lower(label), lower(?)) > 0 OR value = ?)
ORDER BY lower(label) = lower(?) DESC, n DESC LIMIT ?`, q, q, q, maxHits)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SearchHit
	for rows.Next() {
		h := SearchHit{Kind: HitPlatform}
		if err := rows.Scan(&h.ID, &h.Label, &h.Accounts); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
