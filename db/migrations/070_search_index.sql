-- Search by name, email and phone (the header search box; db/search_index.go).
-- A normalised-token table rather than SQLite's FTS5 (which modernc.org/sqlite
-- does ship): it is plain SQL that PostgreSQL also accepts, and every query is
-- a range of an ordinary index.
--
-- One row per (term, person, field, source): term is a folded word of a name
-- (lowercase, accents removed: "García" -> "garcia"), a whole email address
-- in lowercase, or the digits of a phone number (in full, and its last ten
-- digits when longer). person is the end_user_id the value belongs to;
-- source says where it came from ('customer' for the customer record,
-- 'identity:' || account_id for an identity Pinwheel returned); shown is the
-- value as stored there, masked by the views before anyone sees it.
--
-- A prefix search is a range on the (term, ...) index (term >= 'gar' AND
-- term < 'gar' || U+10FFFF), never LIKE and never a scan; the other words of
-- a query are probes of the (person, term) index.
CREATE TABLE search_terms (
    id     INTEGER PRIMARY KEY,
    term   TEXT NOT NULL,
    person TEXT NOT NULL,
    field  TEXT NOT NULL CHECK (field IN ('name', 'email', 'phone')),
    source TEXT NOT NULL,
    shown  TEXT NOT NULL
);
CREATE UNIQUE INDEX search_terms_term ON search_terms (term, person, field, source);
CREATE INDEX search_terms_person ON search_terms (person, term);

-- A customer record or identity snapshot that is deleted (erasure) takes
-- its terms with it.
CREATE TRIGGER search_terms_customer_delete AFTER DELETE ON customers BEGIN
    DELETE FROM search_terms WHERE person = OLD.end_user_id AND source = 'customer';
END;
CREATE TRIGGER search_terms_identity_delete AFTER DELETE ON data_snapshots WHEN OLD.kind = 'identity' BEGIN
    DELETE FROM search_terms WHERE source = 'identity:' || (SELECT account_id FROM accounts WHERE id = OLD.account_ref)
        AND person IN (SELECT u.end_user_id FROM accounts a JOIN end_users u ON u.id = a.end_user_ref WHERE a.id = OLD.account_ref);
END;

-- A database that already holds customer records or identities gets them
-- indexed by a job (worker.SearchReindex), in batches that resume after a
-- restart.
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
SELECT 'search.reindex', '{}', 'all', 'queued', strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'), 0,
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now')
WHERE EXISTS (SELECT 1 FROM customers) OR EXISTS (SELECT 1 FROM data_snapshots WHERE kind = 'identity');
