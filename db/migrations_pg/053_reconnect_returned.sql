-- PostgreSQL twin of migrations/053_reconnect_returned.sql (why is said there): the trigger function counts a
-- change to active after the link, whatever the fact's own time; the trigger itself (052) is unchanged.
CREATE OR REPLACE FUNCTION accounts_reconnect_returned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reconnect_batches SET returned = returned + 1 WHERE id IN (
        SELECT batch_id FROM reconnect_members WHERE account_ref = NEW.id AND returned_at IS NULL AND link_ref IS NOT NULL);
    UPDATE reconnect_members m SET returned_at = GREATEST(m.linked_at, COALESCE(NEW.monitoring_status_at, NEW.last_event_at),
            (SELECT MIN(k.minted_at) FROM link_token_mints k WHERE k.link_ref = m.link_ref))
        WHERE m.account_ref = NEW.id AND m.returned_at IS NULL AND m.link_ref IS NOT NULL;
    RETURN NULL;
END $$;
