-- Mint-on-open guard (see ClaimMint in db/tokens.go): a launch link mints
-- at most one Pinwheel token at a time and at most MaxMintsPerLink in all,
-- decided in the database so that several Linkdesk processes on one
-- database agree.
--
-- mint_lease_until: while in the future, one request holds the right to
-- mint this link's next token (NULL when nobody does; a lease left by a
-- crashed process simply runs out). mint_not_before: after a failed mint,
-- no new attempt before this time. mint_attempts counts every claimed
-- attempt (every call to Pinwheel, failed or not).
--
-- closed_at, closed_reason: Linkdesk itself closed the link, once, for
-- good: 'deposit_account_archived' (its deposit account was archived, so it
-- cannot mint again) or 'mint_budget' (it minted MaxMintsPerLink tokens).
ALTER TABLE link_tokens ADD COLUMN mint_lease_until TEXT;
ALTER TABLE link_tokens ADD COLUMN mint_not_before TEXT;
ALTER TABLE link_tokens ADD COLUMN mint_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE link_tokens ADD COLUMN closed_at TEXT;
ALTER TABLE link_tokens ADD COLUMN closed_reason TEXT;
UPDATE link_tokens SET mint_attempts = (SELECT COUNT(*) FROM link_token_mints m WHERE m.link_ref = link_tokens.id);
