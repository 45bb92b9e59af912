package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// SeedAuditTrail appends n generated audit rows for scale tests (`linkdesk
// seed --audit-rows`): a realistic mix of sign-ins, Reveals with reasons,
// exports, token, customer and staff actions by 20 staff members, times
// spread evenly from start to end, hashed and chained exactly as
// appendAudit does, in transactions of 10,000 rows. The targets are the
// database's accounts (or invented ids when it has none).
func (s *Store) SeedAuditTrail(ctx context.Context, n int, start, end time.Time, seed uint64) error {
	keys := s.chain.keys
	if keys == nil || keys.Current == "" {
		return ErrNoAuditKey
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	staff := make([]Actor, 20)
	for i := range staff {
		email := fmt.Sprintf("seed-staff-%02d@example.com", i)
		st, err := s.StaffByEmail(ctx, email)
		if err != nil {
			role := []string{RoleOperator, RoleOperator, RoleAuditor, RoleAdmin}[i%4]
			if st, err = s.CreateStaff(ctx, SystemActor, StaffCreate{Email: email, Name: fmt.Sprintf("Seed Staff %02d", i), Role: role, Password: RandomHex(12)}); err != nil {
				return err
			}
		}
		staff[i] = Actor{StaffID: st.ID, Email: st.Email, IP: fmt.Sprintf("10.0.%d.%d", i/8, i), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) seed"}
	}
	var accounts []string
	rows, err := s.r.QueryContext(ctx, `SELECT account_id FROM accounts ORDER BY id LIMIT 20000`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return err
		}
		accounts = append(accounts, a)
	}
	rows.Close()
	if len(accounts) == 0 {
		for i := range 5000 {
			accounts = append(accounts, fmt.Sprintf("seed-account-%05d", i))
		}
	}
	type kind struct {
		weight int
		make   func(a Actor) (action, tt, tid string, detail map[string]any)
	}
	account := func() string { return accounts[rng.IntN(len(accounts))] }
	kinds := []kind{
		{40, func(a Actor) (string, string, string, map[string]any) {
			return ActionSignIn, "staff", fmt.Sprint(a.StaffID), nil
		}},
		{15, func(a Actor) (string, string, string, map[string]any) {
			return ActionSignOut, "staff", fmt.Sprint(a.StaffID), nil
		}},
		{5, func(a Actor) (string, string, string, map[string]any) {
			return ActionSignInFailed, "staff", fmt.Sprint(a.StaffID), map[string]any{"email": a.Email}
		}},
		{10, func(a Actor) (string, string, string, map[string]any) {
			d := map[string]any{"fields": []string{PIISSNLastFour}}
			if rng.IntN(3) > 0 {
				d["reason"] = fmt.Sprintf("ticket %d", 1000+rng.IntN(90000))
			}
			return ActionPIIRevealed, "account", account(), d
		}},
		{10, func(a Actor) (string, string, string, map[string]any) {
			return ActionLinkTokenCreated, "link_token", "tok_" + RandomHex(8), map[string]any{"account_id": account(), "jobs": []string{"direct_deposit_switch"}, "reason": "raise deposit"}
		}},
		{10, func(a Actor) (string, string, string, map[string]any) {
			return ActionCustomerUpdated, "customer", fmt.Sprintf("seed-end-user-%05d", rng.IntN(5000)), map[string]any{"changed": []string{"email"}}
		}},
		{3, func(a Actor) (string, string, string, map[string]any) {
			return ActionEventsExported, "events", "", map[string]any{"format": "csv", "filter": map[string]any{"account": account()}}
		}},
		{3, func(a Actor) (string, string, string, map[string]any) {
			return ActionEvidenceExported, "account", account(), map[string]any{"accounts": []string{}}
		}},
		{2, func(a Actor) (string, string, string, map[string]any) {
			return ActionAuditExported, "audit", "", map[string]any{"format": "csv", "filter": map[string]any{}}
		}},
		{2, func(a Actor) (string, string, string, map[string]any) {
			return ActionStaffUpdated, "staff", fmt.Sprint(staff[rng.IntN(len(staff))].StaffID), map[string]any{"role": []string{RoleOperator, RoleAuditor}}
		}},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	pick := func() kind {
		w := rng.IntN(total)
		for _, k := range kinds {
			if w -= k.weight; w < 0 {
				return k
			}
		}
		return kinds[0]
	}
	step := end.Sub(start) / time.Duration(max(n, 1))
	h := newHasher(keys)
	const batch = 10000
	var head ChainHead
	for done := 0; done < n; {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			// Appends take turns across instances, as appendAudit's do.
			if err := s.d.lock(ctx, tx, "audit"); err != nil {
				return err
			}
			prev := genesisHash
			var last int64
			if err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&last, &prev); err != nil && err != sql.ErrNoRows {
				return err
			}
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (id, at, actor_id, actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := 0; i < batch && done < n; i++ {
				a := staff[rng.IntN(len(staff))]
				action, tt, tid, detail := pick().make(a)
				if detail == nil {
					detail = map[string]any{}
				}
				d, _ := json.Marshal(detail)
				e := AuditEntry{ID: last + 1, At: start.Add(time.Duration(done) * step).UTC(), ActorID: a.StaffID, ActorEmail: a.Email, Action: action,
					TargetType: tt, TargetID: tid, IP: a.IP, UserAgent: a.UserAgent, Detail: string(d), PrevHash: prev}
				r := e.chainRow()
				e.Hash = string(h.sum(&r, SchemeHMAC, keys.Current))
				if _, err := stmt.ExecContext(ctx, e.ID, FormatTime(e.At), e.ActorID, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP,
					e.UserAgent, e.Detail, e.PrevHash, e.Hash); err != nil {
					return err
				}
				last, prev = e.ID, e.Hash
				head = ChainHead{Seq: e.ID, Hash: e.Hash, At: e.At}
				done++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("db: seed audit trail: %w", err)
		}
	}
	if head.Seq > 0 {
		s.publishHead(head)
	}
	return s.AnchorError()
}
