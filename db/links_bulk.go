package db

import (
	"context"
	"database/sql"
	"fmt"
)

// MaxLinksPerCall bounds CreateLinks: one transaction holds the single
// writer for as long as it runs, so a caller with more links (a campaign, a
// reconnect batch) stores them in chunks of at most this many.
const MaxLinksPerCall = 500

// CreateLinks stores many validated mint-on-open links (built with
// odu.Minter.PrepareOnOpen) in one transaction, each with its audit row as
// CreateLink writes it, and returns their row ids in order. Nothing reaches
// Pinwheel: each link mints its token when its end user opens it. It is the
// bulk form of CreateLink for campaigns and reconnect batches; a batch that
// must record its own rows beside the links uses insertLink in its own
// transaction instead (see AddReconnectLinks).
func (s *Store) CreateLinks(ctx context.Context, a Actor, links []NewLink) ([]int64, error) {
	if len(links) > MaxLinksPerCall {
		return nil, fmt.Errorf("db: create links: %d links in one call, at most %d", len(links), MaxLinksPerCall)
	}
	refs := make([]int64, 0, len(links))
	now := s.now().UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.purgeTokens(ctx, tx, now); err != nil {
			return err
		}
		for _, in := range links {
			if in.Mode != ModeMintOnOpen {
				return fmt.Errorf("link %s: only mint-on-open links are created in bulk", in.TokenID)
			}
			ref, err := s.insertLink(ctx, tx, a, in, nil, now)
			if err != nil {
				return fmt.Errorf("link for %s: %w", in.AccountID, err)
			}
			refs = append(refs, ref)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: create links: %w", err)
	}
	return refs, nil
}
