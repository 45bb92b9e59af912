-- PostgreSQL twin of migrations/007_launch_mint_guard.sql: the same tables, columns and indexes (what they mean is said there).
ALTER TABLE link_tokens ADD COLUMN mint_lease_until TEXT COLLATE "C";
ALTER TABLE link_tokens ADD COLUMN mint_not_before TEXT COLLATE "C";
ALTER TABLE link_tokens ADD COLUMN mint_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE link_tokens ADD COLUMN closed_at TEXT COLLATE "C";
ALTER TABLE link_tokens ADD COLUMN closed_reason TEXT COLLATE "C";
UPDATE link_tokens SET mint_attempts = (SELECT COUNT(*) FROM link_token_mints m WHERE m.link_ref = link_tokens.id);
