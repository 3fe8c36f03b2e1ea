import Alerts
import Foundation
import GRDB

/// The store's schema, as versioned migrations. Never edit a shipped
/// migration: add a new one. Table and column names are strings here, not
/// app types, so later refactors cannot change history.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-core") { db in
            try db.execute(sql: """
                -- How far the pipeline has consumed the inbox (its own file): moved
                -- in the same transaction as the outcomes of the batch.
                CREATE TABLE pipeline_cursor (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    inbox_seq INTEGER NOT NULL
                );
                INSERT INTO pipeline_cursor(id, inbox_seq) VALUES (1, 0);

                CREATE TABLE dead_letters (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    inbox_key TEXT NOT NULL UNIQUE,
                    reason TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    topic TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    size INTEGER NOT NULL,
                    received_at REAL NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE INDEX dead_letters_reason ON dead_letters(reason);

                CREATE TABLE events (
                    key TEXT PRIMARY KEY,
                    risk_item_id TEXT NOT NULL,
                    zone TEXT NOT NULL,
                    category TEXT NOT NULL,
                    time REAL NOT NULL,
                    counted INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX events_time ON events(time);

                CREATE TABLE zones (
                    code TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    level TEXT NOT NULL,
                    parent TEXT,
                    unit TEXT,
                    worker TEXT,
                    geometry TEXT
                );

                CREATE TABLE cameras (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    lat REAL, lon REAL, crs TEXT,
                    zone TEXT,
                    status TEXT NOT NULL DEFAULT 'unknown',
                    status_at REAL
                );

                CREATE TABLE devices (
                    id TEXT PRIMARY KEY,
                    worker TEXT NOT NULL,
                    unit TEXT NOT NULL,
                    zone TEXT
                );

                CREATE TABLE risk_items (
                    seq INTEGER NOT NULL UNIQUE,
                    id TEXT PRIMARY KEY,
                    source TEXT NOT NULL,
                    source_kind TEXT NOT NULL,
                    category TEXT NOT NULL,
                    severity INTEGER NOT NULL,
                    zone TEXT NOT NULL,
                    unit TEXT,
                    worker TEXT,
                    first_seen REAL NOT NULL,
                    last_seen REAL NOT NULL,
                    occurrences INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    suppressed_by TEXT,
                    lifecycle TEXT,
                    lat REAL, lon REAL,
                    drill INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX risk_items_open ON risk_items(state, last_seen);
                CREATE INDEX risk_items_zone ON risk_items(zone, category);

                CREATE TABLE slips (
                    seq INTEGER NOT NULL,
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    zone TEXT NOT NULL,
                    category TEXT NOT NULL,
                    severity INTEGER NOT NULL,
                    unit TEXT,
                    worker TEXT,
                    issued_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    anchor REAL NOT NULL,
                    state TEXT NOT NULL,
                    case_id TEXT,
                    text TEXT NOT NULL,
                    occurrences INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX slips_kind_seq ON slips(kind, seq);
                CREATE TABLE slip_items (
                    slip_id TEXT NOT NULL REFERENCES slips(id),
                    risk_item_id TEXT NOT NULL REFERENCES risk_items(id),
                    PRIMARY KEY (slip_id, risk_item_id)
                ) WITHOUT ROWID;

                CREATE TABLE cases (
                    seq INTEGER NOT NULL UNIQUE,
                    id TEXT PRIMARY KEY,
                    zone TEXT NOT NULL,
                    category TEXT NOT NULL,
                    severity INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    unit TEXT,
                    worker TEXT,
                    opened_at REAL NOT NULL,
                    due_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    explanation TEXT NOT NULL
                );
                CREATE TABLE case_items (
                    case_id TEXT NOT NULL REFERENCES cases(id),
                    risk_item_id TEXT NOT NULL REFERENCES risk_items(id),
                    PRIMARY KEY (case_id, risk_item_id)
                ) WITHOUT ROWID;

                -- Append-only: triggers refuse UPDATE and DELETE.
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    action TEXT NOT NULL,
                    detail TEXT NOT NULL
                );
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

                -- Outcomes waiting to be published (at least once, after commit).
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    topic TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    created_at REAL NOT NULL
                );
                """)
        }
        m.registerMigration("v2-silences") { db in
            try db.execute(sql: """
                CREATE TABLE silences (
                    id TEXT PRIMARY KEY,
                    zone TEXT,
                    category TEXT,
                    source TEXT,
                    drill INTEGER,
                    starts_at REAL NOT NULL,
                    ends_at REAL NOT NULL,
                    created_by TEXT NOT NULL,
                    comment TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE INDEX silences_end ON silences(ends_at);
                """)
        }
        m.registerMigration("v3-cases") { db in
            try db.execute(sql: """
                -- Which rule opened the case, its evidence, routing (一网分流, 一案一专班)
                -- and resolution (outcome, amount settled, parties' satisfaction).
                ALTER TABLE cases ADD COLUMN rule TEXT NOT NULL DEFAULT 'severity';
                ALTER TABLE cases ADD COLUMN lead_unit TEXT;
                ALTER TABLE cases ADD COLUMN co_units TEXT NOT NULL DEFAULT '';      -- '|'-separated
                ALTER TABLE cases ADD COLUMN assignee TEXT;
                ALTER TABLE cases ADD COLUMN last_action_at REAL;
                ALTER TABLE cases ADD COLUMN evidence_at REAL;                       -- newest evidence (event time)
                ALTER TABLE cases ADD COLUMN sources TEXT NOT NULL DEFAULT '';       -- '|'-separated
                ALTER TABLE cases ADD COLUMN categories TEXT NOT NULL DEFAULT '';    -- '|'-separated
                ALTER TABLE cases ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN outcome TEXT;
                ALTER TABLE cases ADD COLUMN amount_cny REAL;
                ALTER TABLE cases ADD COLUMN satisfaction TEXT;
                ALTER TABLE cases ADD COLUMN resolved_at REAL;
                ALTER TABLE cases ADD COLUMN closed_at REAL;
                CREATE INDEX cases_state ON cases(state, due_at);
                CREATE INDEX cases_zone ON cases(zone, opened_at);

                -- Every transition of a case: who, when, from, to, note. Append-only.
                CREATE TABLE case_transitions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    case_id TEXT NOT NULL REFERENCES cases(id),
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    from_state TEXT NOT NULL,
                    to_state TEXT NOT NULL,
                    note TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX case_transitions_case ON case_transitions(case_id, at);
                CREATE TRIGGER case_transitions_no_update BEFORE UPDATE ON case_transitions
                    BEGIN SELECT RAISE(ABORT, 'case_transitions is append-only'); END;
                CREATE TRIGGER case_transitions_no_delete BEFORE DELETE ON case_transitions
                    BEGIN SELECT RAISE(ABORT, 'case_transitions is append-only'); END;

                -- Reminder letters and supervision orders are issued once per trigger
                -- (e.g. 'case:AJ-00000001:due-reminder'): the trigger makes them idempotent.
                ALTER TABLE slips ADD COLUMN trigger TEXT;
                CREATE UNIQUE INDEX slips_trigger ON slips(trigger) WHERE trigger IS NOT NULL;
                """)
        }
        m.registerMigration("v4-http-changes") { db in
            try db.execute(sql: """
                -- The change log the live stream (GET /api/v1/stream) tails: one row per
                -- insert or update of a risk item, slip or case and per case transition,
                -- written by triggers, so every writer (pipeline, lifecycle, scheduler,
                -- another process) is seen without calling anything. `seq` grows in
                -- commit order (SQLite has one writer at a time) and is never reused.
                CREATE TABLE changes (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,       -- risk_item | slip | case | transition
                    subject TEXT NOT NULL,    -- the object's id (a transition: its row id)
                    op TEXT NOT NULL,         -- new | updated
                    at REAL NOT NULL          -- processing time, unix seconds
                );
                CREATE INDEX changes_at ON changes(at);
                CREATE TRIGGER changes_risk_item_new AFTER INSERT ON risk_items BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'new', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_risk_item_updated AFTER UPDATE ON risk_items BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'updated', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_slip_new AFTER INSERT ON slips BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.id, 'new', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_slip_updated AFTER UPDATE ON slips BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.id, 'updated', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_case_new AFTER INSERT ON cases BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('case', NEW.id, 'new', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_case_updated AFTER UPDATE ON cases BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('case', NEW.id, 'updated', (julianday('now') - 2440587.5) * 86400.0); END;
                CREATE TRIGGER changes_transition_new AFTER INSERT ON case_transitions BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('transition', NEW.id, 'new', (julianday('now') - 2440587.5) * 86400.0); END;
                """)
        }
        m.registerMigration("v4-patrol", migrate: PatrolSchema.migrate)
        m.registerMigration("v5-event-log") { db in
            try db.execute(sql: """
                -- Split the per-event record in two, for the pipeline's speed:
                -- `events` keeps only the idempotency keys (one INSERT OR IGNORE per
                -- event both checks and records a key), and `event_log` is an
                -- append-only rowid table of what each accepted event did, read
                -- back by time to restore the windows after a restart.
                CREATE TABLE event_log (
                    id INTEGER PRIMARY KEY,
                    time REAL NOT NULL,
                    risk_item_id TEXT NOT NULL,
                    zone TEXT NOT NULL,
                    category TEXT NOT NULL,
                    counted INTEGER NOT NULL
                );
                INSERT INTO event_log(time, risk_item_id, zone, category, counted)
                    SELECT time, risk_item_id, zone, category, counted FROM events ORDER BY time;
                CREATE INDEX event_log_time ON event_log(time);
                -- Rebuilt rather than ALTER TABLE … DROP COLUMN, which needs SQLite 3.35.
                CREATE TABLE event_keys (key TEXT PRIMARY KEY) WITHOUT ROWID;
                INSERT INTO event_keys(key) SELECT key FROM events;
                DROP TABLE events;
                ALTER TABLE event_keys RENAME TO events;
                """)
        }
        registerCaseActions(&m)
        m.registerMigration("v6-quiet-changes") { db in
            let now = "(julianday('now') - 2440587.5) * 86400.0"
            try db.execute(sql: """
                -- The change log records what a dispatcher would call a change: an
                -- update of a risk item, slip or case fires only when something it
                -- shows changes (state, severity, mute, case link, evidence), not
                -- when a counter or a last-seen time moves; a risk item joining a
                -- slip or a case is a change of that slip or case. (An update per
                -- occurrence made most of the pipeline's writes and flooded the feed.)
                DROP TRIGGER changes_risk_item_updated;
                DROP TRIGGER changes_slip_updated;
                DROP TRIGGER changes_case_updated;
                CREATE TRIGGER changes_risk_item_updated AFTER UPDATE ON risk_items
                    WHEN OLD.state IS NOT NEW.state OR OLD.severity IS NOT NEW.severity OR OLD.suppressed_by IS NOT NEW.suppressed_by BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'updated', \(now)); END;
                CREATE TRIGGER changes_slip_updated AFTER UPDATE ON slips
                    WHEN OLD.state IS NOT NEW.state OR OLD.severity IS NOT NEW.severity OR OLD.case_id IS NOT NEW.case_id BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.id, 'updated', \(now)); END;
                CREATE TRIGGER changes_slip_item_new AFTER INSERT ON slip_items BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.slip_id, 'updated', \(now)); END;
                CREATE TRIGGER changes_case_updated AFTER UPDATE ON cases
                    WHEN OLD.state IS NOT NEW.state OR OLD.severity IS NOT NEW.severity OR OLD.category IS NOT NEW.category
                        OR OLD.assignee IS NOT NEW.assignee OR OLD.unit IS NOT NEW.unit OR OLD.due_at IS NOT NEW.due_at
                        OR OLD.explanation IS NOT NEW.explanation OR OLD.outcome IS NOT NEW.outcome BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('case', NEW.id, 'updated', \(now)); END;
                """)
        }
        m.registerMigration("v7-case-evidence-span") { db in
            // The earliest evidence of a case (event time): with `evidence_at`, the span
            // its correlation window is measured from, restored after a restart.
            try db.execute(sql: "ALTER TABLE cases ADD COLUMN evidence_from REAL")
        }
        m.registerMigration("v7-patrol-gaps") { db in
            // Gap detection on event time looks up a device's check-ins just
            // before and after each new one (`SQLiteBatch.patrolNeighbours`).
            try db.execute(sql: "CREATE INDEX patrol_records_device_time ON patrol_records(device, kind, time)")
        }
        m.registerMigration("v8-event-batches") { db in
            // What each event did, one row per pipeline batch with the entries
            // packed (EventLog.swift): a row per event and its time index were
            // more than a tenth of the pipeline's time, for data read only at start.
            try db.execute(sql: """
                CREATE TABLE event_batches (
                    id INTEGER PRIMARY KEY,
                    last_time REAL NOT NULL,   -- the newest event time in the batch
                    count INTEGER NOT NULL,
                    events BLOB NOT NULL
                );
                CREATE INDEX event_batches_last_time ON event_batches(last_time);
                """)
            try EventLog.migrateRows(db: db)
            try db.execute(sql: "DROP TABLE event_log")
        }
        m.registerMigration("v9-risk-items-state") { db in
            // The open-items index held last_seen, which moves on every occurrence:
            // each write of a risk item moved its index entry. Readers filter on the
            // state only (open items are few), so the index keeps the state alone.
            try db.execute(sql: "DROP INDEX risk_items_open; CREATE INDEX risk_items_state ON risk_items(state)")
        }
        m.registerMigration("v10-pipeline-quarantine") { db in
            try db.execute(sql: """
                -- The batch the pipeline is working on, written before it starts and
                -- cleared with its outcomes: found at start, it names the messages
                -- in progress when the process stopped (PipelineQuarantine.swift).
                CREATE TABLE pipeline_inflight (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    last_seq INTEGER NOT NULL,      -- the batch is (cursor, last_seq]
                    isolate_through INTEGER NOT NULL, -- one message at a time through this seq (0: not isolating)
                    stops INTEGER NOT NULL,         -- unclean stops seen while this batch was in progress
                    started_at REAL NOT NULL
                );
                -- An oversized payload's dead letter keeps only its head: this is the whole payload's hash.
                ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;
                """)
        }
        m.registerMigration("v11-unmapped-inputs") { db in
            try db.execute(sql: """
                -- Foreign inputs that decoded to nothing because no rule maps them (an ONVIF
                -- topic, a Frigate label, an onvif2mqtt event), counted per (format, name):
                -- what `patrolhub adapters unmapped` lists. At most UnmappedInputs.maxNames
                -- names per format; later ones are counted in the format's row named ''.
                CREATE TABLE unmapped_inputs (
                    format TEXT NOT NULL,
                    name TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    first_seen REAL NOT NULL,   -- receive times
                    last_seen REAL NOT NULL,
                    device TEXT NOT NULL,       -- the device or camera name that sent it last
                    PRIMARY KEY (format, name)
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v12-visible-outcomes") { db in
            let now = "(julianday('now') - 2440587.5) * 86400.0"
            try db.execute(sql: """
                -- What a risk item's events were like: late (older than the lateness bound,
                -- so it opened no slip or case, and why), placed by another rule than its
                -- reported location (why, and the distance from its camera), and timed by
                -- the hub's receive time (an unset device clock).
                ALTER TABLE risk_items ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE risk_items ADD COLUMN late_reason TEXT;
                ALTER TABLE risk_items ADD COLUMN location_mismatch TEXT;
                ALTER TABLE risk_items ADD COLUMN location_distance_m REAL;
                ALTER TABLE risk_items ADD COLUMN time_source TEXT NOT NULL DEFAULT 'device';
                -- Warning slips end: when (processing time) and why.
                ALTER TABLE slips ADD COLUMN closed_at REAL;
                ALTER TABLE slips ADD COLUMN close_reason TEXT;
                -- Running totals the pipeline adds to in its transactions (e.g. late_events).
                CREATE TABLE counters (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- The change feed also shows an item becoming (or ceasing to be) late or misplaced.
                DROP TRIGGER changes_risk_item_updated;
                CREATE TRIGGER changes_risk_item_updated AFTER UPDATE ON risk_items
                    WHEN OLD.state IS NOT NEW.state OR OLD.severity IS NOT NEW.severity OR OLD.suppressed_by IS NOT NEW.suppressed_by
                        OR OLD.late IS NOT NEW.late OR OLD.location_mismatch IS NOT NEW.location_mismatch
                        OR OLD.time_source IS NOT NEW.time_source BEGIN
                    INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'updated', \(now)); END;
                """)
        }
        m.registerMigration("v13-retention") { db in
            // Each event key gets the event time it was first seen at (whole unix seconds),
            // so the housekeeper can delete keys the duplicate check no longer needs
            // (Housekeeper.swift). Keys from before have none: they take the newest event
            // time logged so far as their default, a constant in the schema (no rewrite
            // of the table), so they go once the retention has passed that time.
            let newest = Int((try Double.fetchOne(db, sql: "SELECT MAX(last_time) FROM event_batches") ?? 0).rounded(.up))
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN time INTEGER NOT NULL DEFAULT \(newest);
                -- Whether a closed risk item is still linked to a slip or case that is kept,
                -- and whether a slip belongs to a case.
                CREATE INDEX slip_items_item ON slip_items(risk_item_id);
                CREATE INDEX case_items_item ON case_items(risk_item_id);
                CREATE INDEX slips_case ON slips(case_id) WHERE case_id IS NOT NULL;
                -- How far back the housekeeper may delete what is otherwise append-only
                -- (set in the transaction that deletes before it): 'cases' for a finished
                -- case's transitions, 'patrol_records' for patrol records.
                CREATE TABLE retention_horizons (
                    name TEXT PRIMARY KEY,
                    before REAL NOT NULL
                ) WITHOUT ROWID;
                -- A case's transitions are append-only unless the case was resolved, closed or
                -- dismissed before the 'cases' horizon: then they go with it.
                DROP TRIGGER case_transitions_no_delete;
                CREATE TRIGGER case_transitions_no_delete BEFORE DELETE ON case_transitions
                    WHEN NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = OLD.case_id
                        AND c.state IN ('resolved', 'closed', 'false_alarm')
                        AND COALESCE(c.closed_at, c.resolved_at, c.updated_at) < COALESCE((SELECT before FROM retention_horizons WHERE name = 'cases'), -1e308))
                    BEGIN SELECT RAISE(ABORT, 'case_transitions is append-only'); END;
                DROP TRIGGER patrol_records_no_delete;
                CREATE TRIGGER patrol_records_no_delete BEFORE DELETE ON patrol_records
                    WHEN OLD.recorded_at >= COALESCE((SELECT before FROM retention_horizons WHERE name = 'patrol_records'), -1e308)
                    BEGIN SELECT RAISE(ABORT, 'patrol_records is append-only'); END;
                """)
        }
        m.registerMigration("v14-lists-as-json") { db in
            // A case's co-units, sources and categories were '|'-joined text (a source
            // holding a '|' read back as two): each becomes a JSON array of strings
            // (`StoredList`). None of these columns fires the change log's triggers.
            let rows = try Row.fetchAll(db, sql: "SELECT id, co_units, sources, categories FROM cases")
            let update = try db.makeStatement(sql: "UPDATE cases SET co_units = ?, sources = ?, categories = ? WHERE id = ?")
            for row in rows {
                func list(_ column: String) -> String {
                    StoredList.encode(((row[column] as String?) ?? "").split(separator: "|").map(String.init))
                }
                try update.execute(arguments: [list("co_units"), list("sources"), list("categories"), row["id"] as String])
            }
        }
        DisputeStore.deadLetterMigrations(&m)
        m.registerMigration("v22-engine-restore") { db in
            // The engine's watermark and next sweep with the cursor (`BatchCursor`), so a restart
            // continues the running engine: the watermark is the newest time of a detection that was
            // not late (statuses, ends and check-ins do not move it), 0 for none. NULL (a store
            // written before) restores the watermark from the event log and sweeps at the next event.
            try db.execute(sql: "ALTER TABLE pipeline_cursor ADD COLUMN watermark REAL")
            try db.execute(sql: "ALTER TABLE pipeline_cursor ADD COLUMN next_sweep REAL")
            // The newest item of a source and category (an open item's earlier episode, at a restore).
            try db.execute(sql: "CREATE INDEX risk_items_source ON risk_items(source, category, drill, seq)")
            // A drill's camera statuses, apart from the real ones (a drill's offline mutes drill analytics only).
            try db.execute(sql: "ALTER TABLE cameras ADD COLUMN drill_status TEXT")
            try db.execute(sql: "ALTER TABLE cameras ADD COLUMN drill_status_at REAL")
        }
        m.registerMigration("v23-slip-count-start") { db in
            // A closed warning slip's count start (`Slip.countAfter`): a restart counts the window's
            // next slip from it, as the running engine did. NULL for slips closed before.
            try db.execute(sql: "ALTER TABLE slips ADD COLUMN count_after REAL")
        }
        return m
    }

    /// The inbox lives in a file of its own, written only by the MQTT thread,
    /// so the pipeline's transactions never hold back a PUBACK. It is an
    /// append-only log: `key` (the message's idempotency key) has no UNIQUE
    /// index, because random inserts into one dirtied a page of the index per
    /// message and made every group commit write ~4 KiB of WAL per message
    /// (BENCHMARKS.md). Duplicates are absorbed downstream, in the pipeline's
    /// transaction: by the event key (`events`) and the dead-letter key.
    static var inboxMigrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-inbox") { db in
            try db.execute(sql: """
                CREATE TABLE inbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    key BLOB NOT NULL,
                    topic TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    received_at REAL NOT NULL
                );
                """)
        }
        m.registerMigration("v2-inbox-oversized") { db in
            // A payload over the limit is stored as its first 4 KiB: `size` and
            // `sha256` (hex) are the whole payload's; both NULL for a payload stored whole.
            try db.execute(sql: "ALTER TABLE inbox ADD COLUMN size INTEGER; ALTER TABLE inbox ADD COLUMN sha256 TEXT")
        }
        m.registerMigration("v3-inbox-id") { db in
            // The inbox's identity, made once with the file (or by this migration for an older
            // file) and never changed: a store several hubs share (PostgreSQL) keeps each hub's
            // cursor and in-progress mark under its inbox's id, since each inbox numbers its
            // rows from 1.
            try db.execute(sql: """
                CREATE TABLE inbox_identity (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    inbox_id TEXT NOT NULL
                );
                INSERT INTO inbox_identity(id, inbox_id) VALUES (1, ?);
                """, arguments: [UUID().uuidString.lowercased()])
        }
        m.registerMigration("v4-inbox-subscriptions") { db in
            // The MQTT filters the ingest session subscribed, when they last were, and when the
            // configuration dropped them (`rememberSubscriptions`): a dropped filter is unsubscribed on connect.
            try db.execute(sql: """
                CREATE TABLE subscriptions (
                    filter TEXT PRIMARY KEY,
                    subscribed_at REAL NOT NULL,
                    dropped_at REAL
                ) WITHOUT ROWID;
                """)
        }
        return m
    }
}
