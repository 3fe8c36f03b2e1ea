import Alerts
import GRDB

/// The patrol tables (migration `v4-patrol`). Strings, not app types, so the
/// migration never changes once shipped.
enum PatrolSchema {
    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            -- One row per decided slot (checked in, flagged or missed): its current verdict.
            -- A slot is one checkpoint of one route at one due time; id is its correlation id.
            CREATE TABLE patrol_slots (
                id TEXT PRIMARY KEY,
                route TEXT NOT NULL,
                checkpoint TEXT NOT NULL,
                device TEXT NOT NULL,
                worker TEXT NOT NULL,
                unit TEXT,
                zone TEXT NOT NULL,
                day TEXT NOT NULL,                 -- local day (configured timezone) of the round
                due_at REAL NOT NULL,
                grace_ends_at REAL NOT NULL,
                closes_at REAL NOT NULL,
                status TEXT NOT NULL,              -- on_time | late | missed | outside_radius
                checkin_at REAL,                   -- the check-in that set the status
                distance_m REAL,
                missed_at REAL,                    -- when the scheduler declared it missed (kept after a late check-in)
                risk_item_id TEXT,                 -- the missed_checkpoint risk item
                slip_id TEXT,                      -- the reminder letter
                updated_at REAL NOT NULL
            );
            CREATE INDEX patrol_slots_due ON patrol_slots(due_at);
            CREATE INDEX patrol_slots_worker ON patrol_slots(worker, due_at);

            -- Every check-in and every verdict, append-only, keyed to the slot's correlation id.
            CREATE TABLE patrol_records (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                slot_id TEXT,                      -- NULL for an unscheduled check-in
                kind TEXT NOT NULL,                -- checkin | missed
                status TEXT NOT NULL,              -- on_time | late | outside_radius | unscheduled | missed
                device TEXT NOT NULL,
                worker TEXT,
                route TEXT,
                checkpoint TEXT NOT NULL,
                zone TEXT,
                event_key TEXT,
                time REAL NOT NULL,                -- check-in time (event time), or the slot's grace end
                method TEXT,
                lat REAL, lon REAL, crs TEXT,
                distance_m REAL,
                recorded_at REAL NOT NULL,         -- processing time
                detail TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX patrol_records_slot ON patrol_records(slot_id);
            CREATE INDEX patrol_records_time ON patrol_records(time);
            CREATE TRIGGER patrol_records_no_update BEFORE UPDATE ON patrol_records
                BEGIN SELECT RAISE(ABORT, 'patrol_records is append-only'); END;
            CREATE TRIGGER patrol_records_no_delete BEFORE DELETE ON patrol_records
                BEGIN SELECT RAISE(ABORT, 'patrol_records is append-only'); END;

            -- How far the missed-checkpoint scheduler has evaluated (survives restarts).
            CREATE TABLE patrol_scheduler (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                evaluated_until REAL NOT NULL
            );
            """)
    }
}
