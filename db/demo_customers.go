package db

import (
	"context"
	"fmt"
	"strings"
)

// Demo customer records: the demo world of a first `go run .` gets customer
// records for its end users, some matching the identity Pinwheel returned
// and some not, so the identity check and the mismatch override of an On
// Demand Update can be tried at once. The demo generator calls
// SeedDemoCustomers once its identity fetches are stored.

// Demo customer variants, assigned in turn to the end users.
const (
	// DemoExact copies the identity: a match.
	DemoExact = iota
	// DemoCosmetic adds accents and a middle initial and changes the case:
	// still a match (the matcher folds accents and ignores middle names).
	DemoCosmetic
	// DemoTypo misspells the last name: a partial match.
	DemoTypo
	// DemoOtherPerson is somebody else's record: a mismatch.
	DemoOtherPerson
	demoVariants
)

// DemoCustomerFor derives the customer record of a demo end user from the
// identity Pinwheel returned for one of its accounts.
func DemoCustomerFor(endUserID string, id IdentityData, variant int) CustomerInput {
	in := CustomerInput{EndUserID: endUserID, FullName: id.FullName, DateOfBirth: id.DateOfBirth, SSNLast4: id.LastFourSSN}
	if in.DateOfBirth == "" {
		in.DateOfBirth = "1985-06-15"
	}
	if in.SSNLast4 == "" {
		in.SSNLast4 = "0000"
	}
	parts := strings.Fields(id.FullName)
	switch variant % demoVariants {
	case DemoCosmetic:
		if len(parts) >= 2 {
			first := accentOf(parts[0])
			in.FullName = strings.ToUpper(first) + " J. " + strings.Join(parts[1:], " ")
		}
	case DemoTypo:
		if len(parts) >= 2 {
			last := []rune(parts[len(parts)-1])
			if len(last) >= 4 {
				last[1], last[2] = last[2], last[1]
			} else {
				last = append(last, 'e')
			}
			parts[len(parts)-1] = string(last)
			in.FullName = strings.Join(parts, " ")
		}
	case DemoOtherPerson:
		in.FullName = "Jordan Blake"
		if strings.EqualFold(id.FullName, in.FullName) {
			in.FullName = "Morgan Ellis"
		}
		in.DateOfBirth = "1971-03-09"
		if id.DateOfBirth == in.DateOfBirth {
			in.DateOfBirth = "1972-04-10"
		}
		in.SSNLast4 = fmt.Sprintf("%04d", (atoiOr(in.SSNLast4, 0)+5000)%10000)
	}
	return in
}

// accentOf gives the first vowel of a name an acute accent ("Maria" →
// "Mária"), the way a customer database might spell it.
func accentOf(name string) string {
	acute := map[rune]rune{'a': 'á', 'e': 'é', 'i': 'í', 'o': 'ó', 'u': 'ú'}
	r := []rune(name)
	for i, c := range r {
		if a, ok := acute[c]; ok {
			r[i] = a
			return string(r)
		}
	}
	return name
}

func atoiOr(s string, def int) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// SeedDemoCustomers writes a customer record for every end user that has a
// stored identity snapshot and no record yet, cycling through the demo
// variants in end-user order, and records the identity verdict of each of
// their accounts with an identity snapshot. It returns how many records it
// wrote. Run again, it leaves existing records alone.
func (s *Store) SeedDemoCustomers(ctx context.Context, a Actor) (int, error) {
	type row struct {
		endUser, account, ref string
		id                    IdentityData
	}
	rows, err := s.r.QueryContext(ctx, `SELECT u.end_user_id, a.account_id, d.id, d.body
		FROM data_snapshots d
		JOIN accounts a ON a.id = d.account_ref
		JOIN end_users u ON u.id = a.end_user_ref
		WHERE d.kind = ? AND d.id = (SELECT MAX(id) FROM data_snapshots WHERE account_ref = d.account_ref AND kind = ?)
		AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.end_user_id = u.end_user_id)
		ORDER BY u.id, a.id`, FetchIdentity, FetchIdentity)
	if err != nil {
		return 0, fmt.Errorf("db: seed demo customers: %w", err)
	}
	var list []row
	for rows.Next() {
		var r row
		var ref int64
		var body string
		if err := rows.Scan(&r.endUser, &r.account, &ref, &body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("db: seed demo customers: %w", err)
		}
		idn, ok := identityOf([]byte(body))
		if !ok || idn.FullName == "" {
			continue
		}
		r.ref, r.id = fmt.Sprint(ref), idn
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("db: seed demo customers: %w", err)
	}

	n, seen := 0, map[string]bool{}
	for _, r := range list {
		if !seen[r.endUser] {
			seen[r.endUser] = true
			if _, _, err := s.SaveCustomer(ctx, a, DemoCustomerFor(r.endUser, r.id, n)); err != nil {
				return n, err
			}
			n++
		}
		if _, err := s.RecordIdentityVerdict(ctx, r.account, r.endUser, r.id, r.ref); err != nil {
			return n, err
		}
	}
	return n, nil
}
