-- An end user's accounts carry the two columns the end-user list filters
-- on: walking end users by activity, the probe of each one's accounts
-- ("has an account of this status / on this platform") and the statuses
-- shown on each row read this index alone (db/browse.go, endUserSQL). The
-- trailing columns keep every existing use of the (end_user_ref, id) order.
DROP INDEX accounts_end_user;
CREATE INDEX accounts_end_user ON accounts (end_user_ref, id, monitoring_status, platform_id);
