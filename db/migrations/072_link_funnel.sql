-- The dashboard's story of On Demand Update links: of the links created on
-- a day, how many had their page opened, opened Link, and succeeded. Each
-- link remembers when it first reached each step (set once, by the
-- triggers below, in the transaction that stores the launch event or the
-- webhook), and link_funnel_days counts them by the link's day of creation
-- (UTC), so the dashboard reads 30 rows at most, never the events.
-- Triggers are SQLite's; PostgreSQL writes them as functions.
--
-- Success is the first sign of it: Link's own "success" event, or a job
-- outcome webhook that succeeded for one of the link's Pinwheel tokens.
ALTER TABLE link_tokens ADD COLUMN page_opened_at TEXT;
ALTER TABLE link_tokens ADD COLUMN link_opened_at TEXT;
ALTER TABLE link_tokens ADD COLUMN succeeded_at TEXT;

UPDATE link_tokens SET
    page_opened_at = (SELECT MIN(at) FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'page_opened'),
    link_opened_at = (SELECT MIN(at) FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'open'),
    succeeded_at = (SELECT MIN(x.at) FROM (
        SELECT e.at AS at FROM launch_events e WHERE e.link_ref = link_tokens.id AND e.name = 'success'
        UNION ALL
        SELECT e.received_at FROM link_token_mints m JOIN link_tokens_seen p ON p.link_token_id = m.link_token_id
            JOIN events e ON e.link_token_ref = p.id WHERE m.link_ref = link_tokens.id AND e.outcome = 'success') x);

-- stage: created (every link: minted at once or to mint when opened),
-- page_opened, link_opened, succeeded.
CREATE TABLE link_funnel_days (
    day   TEXT NOT NULL,
    stage TEXT NOT NULL,
    n     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, stage)
);
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'created', COUNT(*) FROM link_tokens GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'page_opened', COUNT(*) FROM link_tokens WHERE page_opened_at IS NOT NULL GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'link_opened', COUNT(*) FROM link_tokens WHERE link_opened_at IS NOT NULL GROUP BY 1;
INSERT INTO link_funnel_days (day, stage, n) SELECT substr(created_at, 1, 10), 'succeeded', COUNT(*) FROM link_tokens WHERE succeeded_at IS NOT NULL GROUP BY 1;

CREATE TRIGGER link_funnel_created AFTER INSERT ON link_tokens BEGIN
    INSERT INTO link_funnel_days (day, stage, n) VALUES (substr(NEW.created_at, 1, 10), 'created', 1)
        ON CONFLICT (day, stage) DO UPDATE SET n = link_funnel_days.n + 1;
END;
CREATE TRIGGER link_funnel_page_opened AFTER UPDATE OF page_opened_at ON link_tokens
WHEN OLD.page_opened_at IS NULL AND NEW.page_opened_at IS NOT NULL BEGIN
    INSERT INTO link_funnel_days (day, stage, n) VALUES (substr(NEW.created_at, 1, 10), 'page_opened', 1)
        ON CONFLICT (day, stage) DO UPDATE SET n = link_funnel_days.n + 1;
END;
CREATE TRIGGER link_funnel_link_opened AFTER UPDATE OF link_opened_at ON link_tokens
WHEN OLD.link_opened_at IS NULL AND NEW.link_opened_at IS NOT NULL BEGIN
    INSERT INTO link_funnel_days (day, stage, n) VALUES (substr(NEW.created_at, 1, 10), 'link_opened', 1)
        ON CONFLICT (day, stage) DO UPDATE SET n = link_funnel_days.n + 1;
END;
CREATE TRIGGER link_funnel_succeeded AFTER UPDATE OF succeeded_at ON link_tokens
WHEN OLD.succeeded_at IS NULL AND NEW.succeeded_at IS NOT NULL BEGIN
    INSERT INTO link_funnel_days (day, stage, n) VALUES (substr(NEW.created_at, 1, 10), 'succeeded', 1)
        ON CONFLICT (day, stage) DO UPDATE SET n = link_funnel_days.n + 1;
END;

-- The steps, as launch pages report them.
CREATE TRIGGER link_steps_launch_event AFTER INSERT ON launch_events
WHEN NEW.name IN ('page_opened', 'open', 'success') BEGIN
    UPDATE link_tokens SET page_opened_at = NEW.at WHERE id = NEW.link_ref AND page_opened_at IS NULL AND NEW.name = 'page_opened';
    UPDATE link_tokens SET link_opened_at = NEW.at WHERE id = NEW.link_ref AND link_opened_at IS NULL AND NEW.name = 'open';
    UPDATE link_tokens SET succeeded_at = NEW.at WHERE id = NEW.link_ref AND succeeded_at IS NULL AND NEW.name = 'success';
END;
-- A successful job for one of Linkdesk's tokens (two probes by unique
-- keys; nothing for tokens Linkdesk did not mint).
CREATE TRIGGER link_steps_webhook AFTER INSERT ON events
WHEN NEW.outcome = 'success' AND NEW.link_token_ref IS NOT NULL BEGIN
    UPDATE link_tokens SET succeeded_at = NEW.received_at
    WHERE succeeded_at IS NULL AND id = (SELECT m.link_ref FROM link_tokens_seen p JOIN link_token_mints m ON m.link_token_id = p.link_token_id
        WHERE p.id = NEW.link_token_ref);
END;

-- Links that may expire unused: the dashboard counts those due within a
-- day, a range of this partial index.
CREATE INDEX link_tokens_unfinished_expiry ON link_tokens (link_expires_at)
    WHERE revoked_at IS NULL AND succeeded_at IS NULL AND closed_at IS NULL;
