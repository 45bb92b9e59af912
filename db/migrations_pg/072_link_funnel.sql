-- PostgreSQL twin of migrations/072_link_funnel.sql: the same columns, table, counts and index (what they mean is
-- said there); SQLite's triggers are functions here.
ALTER TABLE link_tokens ADD COLUMN page_opened_at TEXT COLLATE "C";
ALTER TABLE link_tokens ADD COLUMN link_opened_at TEXT COLLATE "C";
ALTER TABLE link_tokens ADD COLUMN succeeded_at TEXT COLLATE "C";

UPDATE link_tokens SET
    page_opened_at = (SELECT MIN(at) FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'page_opened'),
    link_opened_at = (SELECT MIN(at) FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'open'),
    succeeded_at = (SELECT MIN(x.at) FROM (
        SELECT e.at AS at FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'success'
        UNION ALL
        SELECT e.received_at FROM link_token_mints m JOIN link_tokens_seen p ON p.link_token_id = m.link_token_id
            JOIN events e ON e.link_token_ref = p.id WHERE m.link_ref = link_tokens.id AND e.outcome = 'success') x);

CREATE TABLE link_funnel_days (
    day   TEXT COLLATE "C" NOT NULL,
    stage TEXT COLLATE "C" NOT NULL,
    n     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, stage)
);
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'created', COUNT(*) FROM link_tokens GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'page_opened', COUNT(*) FROM link_tokens WHERE page_opened_at IS NOT NULL GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'link_opened', COUNT(*) FROM link_tokens WHERE link_opened_at IS NOT NULL GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'succeeded', COUNT(*) FROM link_tokens WHERE succeeded_at IS NOT NULL GROUP BY 1;

-- One function counts a step for the link's day; TG_ARGV[0] names the step.
CREATE FUNCTION link_funnel_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO link_funnel_days (day, stage, n) VALUES (substr(NEW.created_at, 1, 10), TG_ARGV[0], 1)
        ON CONFLICT (day, stage) DO UPDATE SET n = link_funnel_days.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER link_funnel_created AFTER INSERT ON link_tokens FOR EACH ROW EXECUTE FUNCTION link_funnel_count('created');
CREATE TRIGGER link_funnel_page_opened AFTER UPDATE OF page_opened_at ON link_tokens FOR EACH ROW
    WHEN (OLD.page_opened_at IS NULL AND NEW.page_opened_at IS NOT NULL) EXECUTE FUNCTION link_funnel_count('page_opened');
CREATE TRIGGER link_funnel_link_opened AFTER UPDATE OF link_opened_at ON link_tokens FOR EACH ROW
    WHEN (OLD.link_opened_at IS NULL AND NEW.link_opened_at IS NOT NULL) EXECUTE FUNCTION link_funnel_count('link_opened');
CREATE TRIGGER link_funnel_succeeded AFTER UPDATE OF succeeded_at ON link_tokens FOR EACH ROW
    WHEN (OLD.succeeded_at IS NULL AND NEW.succeeded_at IS NOT NULL) EXECUTE FUNCTION link_funnel_count('succeeded');

-- The steps, as launch pages report them.
CREATE FUNCTION link_steps_launch_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE link_tokens SET page_opened_at = NEW.at WHERE id = NEW.link_ref AND page_opened_at IS NULL AND NEW.name = 'page_opened';
    UPDATE link_tokens SET link_opened_at = NEW.at WHERE id = NEW.link_ref AND link_opened_at IS NULL AND NEW.name = 'open';
    UPDATE link_tokens SET succeeded_at = NEW.at WHERE id = NEW.link_ref AND succeeded_at IS NULL AND NEW.name = 'success';
    RETURN NULL;
END $$;
CREATE TRIGGER link_steps_launch_event AFTER INSERT ON launch_events FOR EACH ROW
    WHEN (NEW.name IN ('page_opened', 'open', 'success')) EXECUTE FUNCTION link_steps_launch_event();
-- A successful job for one of Linkdesk's tokens.
CREATE FUNCTION link_steps_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE link_tokens SET succeeded_at = NEW.received_at
    WHERE succeeded_at IS NULL AND id = (SELECT m.link_ref FROM link_tokens_seen p JOIN link_token_mints m ON m.link_token_id = p.link_token_id
        WHERE p.id = NEW.link_token_ref);
    RETURN NULL;
END $$;
CREATE TRIGGER link_steps_webhook AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.outcome = 'success' AND NEW.link_token_ref IS NOT NULL) EXECUTE FUNCTION link_steps_webhook();

CREATE INDEX link_tokens_unfinished_expiry ON link_tokens (link_expires_at)
    WHERE revoked_at IS NULL AND succeeded_at IS NULL AND closed_at IS NULL;
