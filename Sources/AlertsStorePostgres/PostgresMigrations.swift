/// The PostgreSQL store's schema, as versioned migrations recorded in
/// `schema_migrations`. Never edit a shipped migration: add a new one.
///
/// `v1-pipeline` is the SQLite store's schema as its migrations leave it
/// (Sources/AlertsStore/Store/Migrations.swift, through `v21`), for the tables
/// the pipeline's batch commit writes and its reads read, plus the tables they
/// refer to: same table and column names, same unique keys, same change-log
/// triggers. Types are PostgreSQL's: times stay unix seconds
/// (`DOUBLE PRECISION`, as SQLite's `REAL`), flags are `BOOLEAN`, blobs
/// `BYTEA`, integers `BIGINT`, row ids identity columns. Event keys use the
/// `"C"` collation: compared by their bytes, as SQLite's BINARY (`EventKey`).
///
/// Each migration runs in its own transaction under an advisory lock, so
/// several hubs starting against one database migrate it once.
enum PostgresMigrations {
    /// The advisory lock key migrations hold (an arbitrary constant of this store).
    static let lockKey: Int64 = 0x5041_5452_4F4C_0001

    /// The migrations, oldest first: a version and its statements (one statement each).
    static let all: [(version: String, statements: [String])] = [
        ("v1-pipeline", v1Pipeline),
        ("v2-inbox-keyed", v2InboxKeyed),
        ("v3-engine-restore", v3EngineRestore),
        ("v4-shared-inbox", v4SharedInbox),
        ("v5-slip-count-start", v5SlipCountStart),
    ]

    /// A closed warning slip's count start (`Slip.countAfter`, SQLite's `v23`): a restart counts the
    /// window's next slip from it, as the running engine did. NULL for slips closed before.
    static let v5SlipCountStart: [String] = [
        "ALTER TABLE slips ADD COLUMN count_after DOUBLE PRECISION",
    ]

    /// A group of hubs on one store (`broker.shared_group`, `PostgresSharedInbox`): the arrivals every
    /// hub forwards its own inbox into (`shared_arrivals`), and the shared inbox the leader numbers
    /// them into by receive time (`shared_inbox`, its counter `shared_inbox_seq`); how far each hub
    /// has forwarded (`shared_inbox_forward`, by its inbox's id); and the
    /// pipeline's leader epoch (`pipeline_leader`): the leader's every batch checks it, so a hub
    /// that lost the lead cannot commit after the next leader took it (`PostgresStore.takeLead`).
    static let v4SharedInbox: [String] = [
        """
        CREATE TABLE shared_inbox (
            seq BIGINT PRIMARY KEY,
            origin TEXT NOT NULL,
            origin_seq BIGINT NOT NULL,
            key_high BIGINT NOT NULL,
            key_low BIGINT NOT NULL,
            topic TEXT NOT NULL,
            payload BYTEA NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            size BIGINT,
            sha256 TEXT,
            UNIQUE (origin, origin_seq)
        )
        """,
        """
        CREATE TABLE shared_arrivals (
            origin TEXT NOT NULL,
            origin_seq BIGINT NOT NULL,
            key_high BIGINT NOT NULL,
            key_low BIGINT NOT NULL,
            topic TEXT NOT NULL,
            payload BYTEA NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            size BIGINT,
            sha256 TEXT,
            PRIMARY KEY (origin, origin_seq)
        )
        """,
        "CREATE INDEX shared_arrivals_received ON shared_arrivals(received_at)",
        "CREATE TABLE shared_inbox_seq (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL)",
        "INSERT INTO shared_inbox_seq(id, last) VALUES (1, 0)",
        """
        CREATE TABLE shared_inbox_forward (
            origin TEXT PRIMARY KEY,
            forwarded_through BIGINT NOT NULL,
            forwarded_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE TABLE pipeline_leader (id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, holder TEXT, since DOUBLE PRECISION)",
        // Which hub wrote the in-progress mark: only that hub's own record of how it stopped tells about it.
        "ALTER TABLE pipeline_inflight ADD COLUMN holder TEXT",
        "INSERT INTO pipeline_leader(id, epoch) VALUES (1, 0)",
    ]

    /// What a restart needs to continue the running engine exactly (as SQLite's `v22-engine-restore`):
    /// the engine's watermark and next sweep with each inbox's cursor (a watermark of 0 is none;
    /// NULL is a cursor written before them), an index to find an open item's earlier episode,
    /// and a drill's camera statuses apart from the real ones.
    static let v3EngineRestore: [String] = [
        "ALTER TABLE pipeline_cursor ADD COLUMN watermark DOUBLE PRECISION",
        "ALTER TABLE pipeline_cursor ADD COLUMN next_sweep DOUBLE PRECISION",
        "CREATE INDEX risk_items_source ON risk_items(source, category, drill, seq)",
        "ALTER TABLE cameras ADD COLUMN drill_status TEXT",
        "ALTER TABLE cameras ADD COLUMN drill_status_at DOUBLE PRECISION",
    ]

    /// The cursor and the in-progress mark, one row per inbox: several hubs share the store,
    /// each with its own inbox numbered from 1, so each keeps its own position, under its
    /// inbox's id (`DisputeStore.inboxID`, a UUID). v1's single row (id = 1) is kept under the
    /// empty id `''`, "not yet keyed", when it holds a position (a cursor past 0 or a mark);
    /// the first store opened for an inbox that has no row yet adopts it (`PostgresStore.adoptUnkeyedPosition`).
    /// A store never used (cursor 0, no mark) has no row left: a new inbox starts at 0.
    static let v2InboxKeyed: [String] = [
        "ALTER TABLE pipeline_cursor ADD COLUMN inbox_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pipeline_cursor DROP COLUMN id",
        "ALTER TABLE pipeline_cursor ALTER COLUMN inbox_id DROP DEFAULT",
        "ALTER TABLE pipeline_cursor ADD PRIMARY KEY (inbox_id)",
        "ALTER TABLE pipeline_inflight ADD COLUMN inbox_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pipeline_inflight DROP COLUMN id",
        "ALTER TABLE pipeline_inflight ALTER COLUMN inbox_id DROP DEFAULT",
        "ALTER TABLE pipeline_inflight ADD PRIMARY KEY (inbox_id)",
        "DELETE FROM pipeline_cursor WHERE inbox_seq = 0 AND NOT EXISTS (SELECT 1 FROM pipeline_inflight)",
    ]

    /// The change log's clock: processing time in unix seconds, as SQLite's triggers write it.
    private static let now = "extract(epoch from clock_timestamp())::double precision"

    static let v1Pipeline: [String] = [
        """
        CREATE TABLE pipeline_cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            inbox_seq BIGINT NOT NULL
        )
        """,
        "INSERT INTO pipeline_cursor(id, inbox_seq) VALUES (1, 0)",
        """
        CREATE TABLE pipeline_inflight (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_seq BIGINT NOT NULL,
            isolate_through BIGINT NOT NULL,
            stops BIGINT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE dead_letters (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            inbox_key TEXT NOT NULL UNIQUE,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload BYTEA NOT NULL,
            size BIGINT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            payload_sha256 TEXT,
            source TEXT,
            replayed_at DOUBLE PRECISION,
            replayed_by TEXT,
            replay_key TEXT
        )
        """,
        "CREATE INDEX dead_letters_reason ON dead_letters(reason)",
        "CREATE INDEX dead_letters_source ON dead_letters(source)",
        "CREATE INDEX dead_letters_unlabelled ON dead_letters(id) WHERE source IS NULL",
        // Dead letters pending and replayed, kept by triggers (SQLite's v21).
        "INSERT INTO counters(name, value) VALUES ('dead_letters.pending', 0), ('dead_letters.replayed', 0)",
        """
        CREATE FUNCTION dead_letters_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' AND NEW.replayed_at IS NULL THEN
                UPDATE counters SET value = value + 1 WHERE name = 'dead_letters.pending';
            ELSIF TG_OP = 'UPDATE' AND OLD.replayed_at IS NULL AND NEW.replayed_at IS NOT NULL THEN
                UPDATE counters SET value = value - 1 WHERE name = 'dead_letters.pending';
                UPDATE counters SET value = value + 1 WHERE name = 'dead_letters.replayed';
            ELSIF TG_OP = 'DELETE' AND OLD.replayed_at IS NULL THEN
                UPDATE counters SET value = value - 1 WHERE name = 'dead_letters.pending';
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER dead_letters_count AFTER INSERT OR UPDATE OF replayed_at OR DELETE ON dead_letters FOR EACH ROW EXECUTE FUNCTION dead_letters_count()",
        // The idempotency keys of accepted events, with the event time (whole seconds) each was first seen at.
        """
        CREATE TABLE events (
            key TEXT COLLATE "C" PRIMARY KEY,
            time BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE event_batches (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            last_time DOUBLE PRECISION NOT NULL,
            count BIGINT NOT NULL,
            events BYTEA NOT NULL
        )
        """,
        "CREATE INDEX event_batches_last_time ON event_batches(last_time)",
        """
        CREATE TABLE zones (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            level TEXT NOT NULL,
            parent TEXT,
            unit TEXT,
            worker TEXT,
            geometry TEXT
        )
        """,
        """
        CREATE TABLE cameras (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            lat DOUBLE PRECISION, lon DOUBLE PRECISION, crs TEXT,
            zone TEXT,
            status TEXT NOT NULL DEFAULT 'unknown',
            status_at DOUBLE PRECISION
        )
        """,
        """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            worker TEXT NOT NULL,
            unit TEXT NOT NULL,
            zone TEXT
        )
        """,
        """
        CREATE TABLE risk_items (
            seq BIGINT NOT NULL UNIQUE,
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            source_kind TEXT NOT NULL,
            category TEXT NOT NULL,
            severity BIGINT NOT NULL,
            zone TEXT NOT NULL,
            unit TEXT,
            worker TEXT,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            occurrences BIGINT NOT NULL,
            state TEXT NOT NULL,
            suppressed_by TEXT,
            lifecycle TEXT,
            lat DOUBLE PRECISION, lon DOUBLE PRECISION,
            drill BOOLEAN NOT NULL DEFAULT FALSE,
            late BOOLEAN NOT NULL DEFAULT FALSE,
            late_reason TEXT,
            location_mismatch TEXT,
            location_distance_m DOUBLE PRECISION,
            time_source TEXT NOT NULL DEFAULT 'device'
        )
        """,
        "CREATE INDEX risk_items_state ON risk_items(state)",
        "CREATE INDEX risk_items_zone ON risk_items(zone, category)",
        """
        CREATE TABLE slips (
            seq BIGINT NOT NULL,
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            zone TEXT NOT NULL,
            category TEXT NOT NULL,
            severity BIGINT NOT NULL,
            unit TEXT,
            worker TEXT,
            issued_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            anchor DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            case_id TEXT,
            text TEXT NOT NULL,
            occurrences BIGINT NOT NULL,
            trigger TEXT,
            closed_at DOUBLE PRECISION,
            close_reason TEXT
        )
        """,
        "CREATE UNIQUE INDEX slips_kind_seq ON slips(kind, seq)",
        "CREATE UNIQUE INDEX slips_trigger ON slips(trigger) WHERE trigger IS NOT NULL",
        "CREATE INDEX slips_case ON slips(case_id) WHERE case_id IS NOT NULL",
        """
        CREATE TABLE slip_items (
            slip_id TEXT NOT NULL REFERENCES slips(id),
            risk_item_id TEXT NOT NULL REFERENCES risk_items(id),
            PRIMARY KEY (slip_id, risk_item_id)
        )
        """,
        "CREATE INDEX slip_items_item ON slip_items(risk_item_id)",
        """
        CREATE TABLE cases (
            seq BIGINT NOT NULL UNIQUE,
            id TEXT PRIMARY KEY,
            zone TEXT NOT NULL,
            category TEXT NOT NULL,
            severity BIGINT NOT NULL,
            state TEXT NOT NULL,
            unit TEXT,
            worker TEXT,
            opened_at DOUBLE PRECISION NOT NULL,
            due_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            explanation TEXT NOT NULL,
            rule TEXT NOT NULL DEFAULT 'severity',
            lead_unit TEXT,
            co_units TEXT NOT NULL DEFAULT '[]',
            assignee TEXT,
            last_action_at DOUBLE PRECISION,
            evidence_at DOUBLE PRECISION,
            evidence_from DOUBLE PRECISION,
            sources TEXT NOT NULL DEFAULT '[]',
            categories TEXT NOT NULL DEFAULT '[]',
            drill BOOLEAN NOT NULL DEFAULT FALSE,
            outcome TEXT,
            amount_cny DOUBLE PRECISION,
            satisfaction TEXT,
            resolved_at DOUBLE PRECISION,
            closed_at DOUBLE PRECISION
        )
        """,
        "CREATE INDEX cases_state ON cases(state, due_at)",
        "CREATE INDEX cases_zone ON cases(zone, opened_at)",
        """
        CREATE TABLE case_items (
            case_id TEXT NOT NULL REFERENCES cases(id),
            risk_item_id TEXT NOT NULL REFERENCES risk_items(id),
            PRIMARY KEY (case_id, risk_item_id)
        )
        """,
        "CREATE INDEX case_items_item ON case_items(risk_item_id)",
        """
        CREATE TABLE case_transitions (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            at DOUBLE PRECISION NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX case_transitions_case ON case_transitions(case_id, at)",
        """
        CREATE TABLE audit_log (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            actor TEXT NOT NULL,
            subject TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE outbox (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            topic TEXT NOT NULL,
            payload BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE silences (
            id TEXT PRIMARY KEY,
            zone TEXT,
            category TEXT,
            source TEXT,
            drill BOOLEAN,
            starts_at DOUBLE PRECISION NOT NULL,
            ends_at DOUBLE PRECISION NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX silences_end ON silences(ends_at)",
        """
        CREATE TABLE patrol_slots (
            id TEXT PRIMARY KEY,
            route TEXT NOT NULL,
            checkpoint TEXT NOT NULL,
            device TEXT NOT NULL,
            worker TEXT NOT NULL,
            unit TEXT,
            zone TEXT NOT NULL,
            day TEXT NOT NULL,
            due_at DOUBLE PRECISION NOT NULL,
            grace_ends_at DOUBLE PRECISION NOT NULL,
            closes_at DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            checkin_at DOUBLE PRECISION,
            distance_m DOUBLE PRECISION,
            missed_at DOUBLE PRECISION,
            risk_item_id TEXT,
            slip_id TEXT,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX patrol_slots_due ON patrol_slots(due_at)",
        "CREATE INDEX patrol_slots_worker ON patrol_slots(worker, due_at)",
        """
        CREATE TABLE patrol_records (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            slot_id TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            device TEXT NOT NULL,
            worker TEXT,
            route TEXT,
            checkpoint TEXT NOT NULL,
            zone TEXT,
            event_key TEXT,
            time DOUBLE PRECISION NOT NULL,
            method TEXT,
            lat DOUBLE PRECISION, lon DOUBLE PRECISION, crs TEXT,
            distance_m DOUBLE PRECISION,
            recorded_at DOUBLE PRECISION NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX patrol_records_slot ON patrol_records(slot_id)",
        "CREATE INDEX patrol_records_time ON patrol_records(time)",
        "CREATE INDEX patrol_records_device_time ON patrol_records(device, kind, time)",
        """
        CREATE TABLE patrol_scheduler (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            evaluated_until DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE unmapped_inputs (
            format TEXT NOT NULL,
            name TEXT NOT NULL,
            count BIGINT NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            device TEXT NOT NULL,
            PRIMARY KEY (format, name)
        )
        """,
        """
        CREATE TABLE retention_horizons (
            name TEXT PRIMARY KEY,
            before DOUBLE PRECISION NOT NULL
        )
        """,
        // Append-only tables: updates refused; deletes refused except where the housekeeper's
        // horizon allows them (SQLite's v13 triggers).
        """
        CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'case_transitions' AND EXISTS (
                SELECT 1 FROM cases c WHERE c.id = OLD.case_id AND c.state IN ('resolved', 'closed', 'false_alarm')
                    AND COALESCE(c.closed_at, c.resolved_at, c.updated_at)
                        < COALESCE((SELECT before FROM retention_horizons WHERE name = 'cases'), '-Infinity'::double precision)) THEN
                RETURN OLD;
            END IF;
            IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'patrol_records'
                AND OLD.recorded_at < COALESCE((SELECT before FROM retention_horizons WHERE name = 'patrol_records'), '-Infinity'::double precision) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END $$
        """,
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION append_only()",
        "CREATE TRIGGER case_transitions_append_only BEFORE UPDATE OR DELETE ON case_transitions FOR EACH ROW EXECUTE FUNCTION append_only()",
        "CREATE TRIGGER patrol_records_append_only BEFORE UPDATE OR DELETE ON patrol_records FOR EACH ROW EXECUTE FUNCTION append_only()",
        // The change log (SQLite's v4, v6 and v12 triggers): a row per new risk item, slip, case
        // and transition, and per update that changes what a dispatcher sees.
        """
        CREATE TABLE changes (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            op TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX changes_at ON changes(at)",
        """
        CREATE FUNCTION changes_risk_item() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'new', \(now));
            ELSIF OLD.state IS DISTINCT FROM NEW.state OR OLD.severity IS DISTINCT FROM NEW.severity
                OR OLD.suppressed_by IS DISTINCT FROM NEW.suppressed_by OR OLD.late IS DISTINCT FROM NEW.late
                OR OLD.location_mismatch IS DISTINCT FROM NEW.location_mismatch OR OLD.time_source IS DISTINCT FROM NEW.time_source THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('risk_item', NEW.id, 'updated', \(now));
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER changes_risk_item AFTER INSERT OR UPDATE ON risk_items FOR EACH ROW EXECUTE FUNCTION changes_risk_item()",
        """
        CREATE FUNCTION changes_slip() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.id, 'new', \(now));
            ELSIF OLD.state IS DISTINCT FROM NEW.state OR OLD.severity IS DISTINCT FROM NEW.severity OR OLD.case_id IS DISTINCT FROM NEW.case_id THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.id, 'updated', \(now));
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER changes_slip AFTER INSERT OR UPDATE ON slips FOR EACH ROW EXECUTE FUNCTION changes_slip()",
        """
        CREATE FUNCTION changes_slip_item() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO changes(kind, subject, op, at) VALUES ('slip', NEW.slip_id, 'updated', \(now));
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER changes_slip_item AFTER INSERT ON slip_items FOR EACH ROW EXECUTE FUNCTION changes_slip_item()",
        """
        CREATE FUNCTION changes_case() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('case', NEW.id, 'new', \(now));
            ELSIF OLD.state IS DISTINCT FROM NEW.state OR OLD.severity IS DISTINCT FROM NEW.severity OR OLD.category IS DISTINCT FROM NEW.category
                OR OLD.assignee IS DISTINCT FROM NEW.assignee OR OLD.unit IS DISTINCT FROM NEW.unit OR OLD.due_at IS DISTINCT FROM NEW.due_at
                OR OLD.explanation IS DISTINCT FROM NEW.explanation OR OLD.outcome IS DISTINCT FROM NEW.outcome THEN
                INSERT INTO changes(kind, subject, op, at) VALUES ('case', NEW.id, 'updated', \(now));
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER changes_case AFTER INSERT OR UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION changes_case()",
        """
        CREATE FUNCTION changes_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO changes(kind, subject, op, at) VALUES ('transition', NEW.id::text, 'new', \(now));
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER changes_transition AFTER INSERT ON case_transitions FOR EACH ROW EXECUTE FUNCTION changes_transition()",
    ]
}
