-- Live updates across instances (issue 18, docs/ARCHITECTURE.md "How live
-- updates travel"): a change to a row that a live page or a progress
-- stream shows sends NOTIFY on the Store's channel ('linkdesk:' and the
-- schema), payload 'live'. PostgreSQL delivers it at commit, only if the
-- transaction commits, and sends identical notifications of one
-- transaction once, so a statement that touches many rows still costs
-- every listening instance one wake. Each instance LISTENs on one
-- connection of its own (db/notify.go) and wakes its streams, which read
-- the database again.
--
-- Row triggers with WHEN clauses, not statement triggers: a statement that
-- changes nothing (the job runner's claim when the queue is empty, a
-- lease that renews, an update that writes the same values) notifies
-- nobody, and the WHEN test costs no function call.
--
-- The webhook tables (events, accounts, end users and their counters) have
-- none: ingestion is the hot path, and its committer sends one NOTIFY per
-- group-commit transaction itself (db/ingest.go, topic 'events'); a job's
-- effect on an account commits with its jobs row, which has one here.
-- PostgreSQL only: SQLite's live streams keep their one-second re-read
-- (one process; ARCHITECTURE explains).
CREATE OR REPLACE FUNCTION linkdesk_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('linkdesk:' || TG_TABLE_SCHEMA, 'live');
    RETURN NULL;
END
$$;

-- The job queue: the dashboard's counters and every progress that a job
-- moves (state changes only: a lease renewal is not news).
CREATE TRIGGER jobs_live_insert AFTER INSERT OR DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER jobs_live_update AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION linkdesk_live_notify();

-- Staff actions (timelines' staff entries, the tokens list).
CREATE TRIGGER audit_log_live AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();

-- Links: created, revoked, closed, opened, minted, and what the launch page
-- reports (timelines' link entries, token pages, toasts, the funnel).
CREATE TRIGGER launch_events_live AFTER INSERT ON launch_events FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER link_tokens_live_insert AFTER INSERT OR DELETE ON link_tokens FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER link_tokens_live_update AFTER UPDATE ON link_tokens FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER link_token_mints_live_insert AFTER INSERT OR DELETE ON link_token_mints FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER link_token_mints_live_update AFTER UPDATE ON link_token_mints FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();

-- What jobs fetch and staff decide (account and income panels).
CREATE TRIGGER data_snapshots_live AFTER INSERT OR DELETE ON data_snapshots FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER identity_verdicts_live_insert AFTER INSERT OR DELETE ON identity_verdicts FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER identity_verdicts_live_update AFTER UPDATE ON identity_verdicts FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER pay_sync_live_insert AFTER INSERT OR DELETE ON pay_sync FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER pay_sync_live_update AFTER UPDATE ON pay_sync FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER underwriting_decisions_live_insert AFTER INSERT OR DELETE ON underwriting_decisions FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER underwriting_decisions_live_update AFTER UPDATE ON underwriting_decisions FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();

-- Progress streams: a campaign's launch, a reconnect batch, a destination's
-- delivery log.
CREATE TRIGGER campaigns_live_update AFTER UPDATE ON campaigns FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER reconnect_batches_live_update AFTER UPDATE ON reconnect_batches FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER alert_deliveries_live_insert AFTER INSERT OR DELETE ON alert_deliveries FOR EACH ROW EXECUTE FUNCTION linkdesk_live_notify();
CREATE TRIGGER alert_deliveries_live_update AFTER UPDATE ON alert_deliveries FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION linkdesk_live_notify();
