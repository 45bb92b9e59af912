-- The accounts of a status or a platform name their end users in the
-- filter's own index: an end-user list filtered by status or platform that
-- starts from the few matching accounts, and its count, read the index
-- alone instead of one table page per account (db/browse.go, endUserSQL).
-- The trailing column keeps every existing use of the (filter, id) order.
DROP INDEX accounts_status;
CREATE INDEX accounts_status ON accounts (monitoring_status, id, end_user_ref);
DROP INDEX accounts_platform;
CREATE INDEX accounts_platform ON accounts (platform_id, id, end_user_ref);
