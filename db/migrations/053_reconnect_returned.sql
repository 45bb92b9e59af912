-- Reconnect members count as returned whatever order Linkdesk learns of
-- their return in (replaces the trigger of 052_reconnect.sql).
--
-- 052 counted a member only when the time of the status fact that turned
-- its account active was not before the member's link (linked_at <=
-- monitoring_status_at). That compared two clocks at two precisions: a
-- monitoring update's time is Pinwheel's X-Timestamp (whole seconds, see
-- db.Delivery.OccurredAt), linked_at is Linkdesk's clock to the
-- microsecond. A user who came back within the second their link was made
-- (or with Pinwheel's clock a little behind ours) turned the account active
-- with a time "before" the link and was not counted; and the account fetch
-- queued by that update, whose time is Linkdesk's, only restamped a status
-- that was already active, so the trigger never fired again. Had the fetch
-- of the earlier user_action_required update come first (rank 3: the
-- webhook then moves nothing), the same return was counted: the outcome
-- depended on the order of webhooks and fetches.
--
-- A member's link is made while its account is not active (members that
-- are active by then are skipped, and an account active all along never
-- changes to active), so a change of the account to active after the link
-- exists is a return after the link, whatever the fact's own time says; a
-- fact older than the current status never changes the row at all
-- (newerStatus). returned_at is the fact's time, but never before the link
-- was made, nor before the link was first opened when it was opened before
-- the return was learnt (ReconnectTrackingOf counts a return "through the
-- link" when a token was minted by then).
DROP TRIGGER accounts_reconnect_returned;
CREATE TRIGGER accounts_reconnect_returned AFTER UPDATE OF monitoring_status ON accounts
WHEN NEW.monitoring_status = 'active' AND OLD.monitoring_status IS NOT 'active' BEGIN
    UPDATE reconnect_batches SET returned = returned + 1 WHERE id IN (
        SELECT batch_id FROM reconnect_members WHERE account_ref = NEW.id AND returned_at IS NULL AND link_ref IS NOT NULL);
    UPDATE reconnect_members SET returned_at = MAX(linked_at,
            COALESCE(NEW.monitoring_status_at, NEW.last_event_at, linked_at),
            COALESCE((SELECT MIN(k.minted_at) FROM link_token_mints k WHERE k.link_ref = reconnect_members.link_ref), linked_at))
        WHERE account_ref = NEW.id AND returned_at IS NULL AND link_ref IS NOT NULL;
END;
