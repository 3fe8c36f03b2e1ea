import Alerts
import AlertsStore
import Foundation
import PostgresNIO

/// Deletes what the PostgreSQL store no longer needs, in small steps: the
/// tasks, cutoffs and order of the SQLite store's `Housekeeper`
/// (docs/STORAGE.md), statement for statement, on the store's own keys
/// (identity columns where SQLite walks its `rowid`). What goes: change-log
/// rows past `changes` or beyond the newest `changesMaxRows`; event keys
/// `keyRetention` behind the newest event time; event batches
/// `batchRetention` behind it; dead letters past `deadLetters`; cases ended,
/// slips closed, risk items closed (none a kept case or slip links), silences
/// ended, patrol slots closed and patrol records made before `closed`.
/// Nothing open is deleted; the audit log is kept. PostgreSQL's autovacuum
/// reuses the space (no vacuum or checkpoint step here). The inbox file beside
/// the store has its own `Housekeeper(inbox:policy:cursor:)`.
///
/// Each step is one batch transaction on the pipeline's store (`PostgresStore.batch`):
/// in a group only the leader, whose pipeline calls `tick` between its batches, prunes,
/// and a step of a hub that lost the lead is refused like its batches.
///
/// Not `Sendable`: the pipeline thread owns it.
public final class PostgresHousekeeper: Housekeeping {
    /// The store it cleans.
    public let store: PostgresStore
    /// What it deletes and how fast (the SQLite store's policy).
    public let policy: Housekeeper.Policy

    enum Task: String, CaseIterable {
        case changes, eventKeys = "event_keys", eventBatches = "event_batches", deadLetters = "dead_letters"
        case cases, slips, riskItems = "risk_items", silences, patrolSlots = "patrol_slots", patrolRecords = "patrol_records"
    }

    /// Where a task goes on: after this key (a number or a text key), or from the start.
    enum Cursor: Equatable {
        case start, number(Int64), text(String)
    }

    struct Pass {
        var task = 0
        var cursor = Cursor.start
        var now: Date
        var newestEventTime: Double
        var counts = Housekeeper.Counts()
    }

    private var pass: Pass?
    private lazy var pace = HousekeepingPace(policy: policy)

    /// A housekeeper that starts its first pass at the first `tick`.
    public init(store: PostgresStore, policy: Housekeeper.Policy) {
        self.store = store
        self.policy = policy
    }

    /// Starts a pass when one is due, and does at most one step (not within `policy.pause` of
    /// the last). Returns the pass's counts when a pass ends.
    public func tick(now: Date) throws -> Housekeeper.Counts? {
        if pass == nil {
            guard pace.passDue(now: now) else { return nil }
            try start(now: now)
        }
        guard pace.takeStep() else { return nil }
        return try step()
    }

    /// Wall seconds until `tick` has work again (see `Housekeeper.wallSecondsUntilDue`).
    public func wallSecondsUntilDue(now: Date, speed: Double) -> TimeInterval {
        pace.wallSecondsUntilDue(passRunning: pass != nil, now: now, speed: speed)
    }

    /// A whole pass at once, step after step (tests).
    public func runPass(now: Date) throws -> Housekeeper.Counts {
        try start(now: now)
        while true {
            if let counts = try step() { return counts }
        }
    }

    private func start(now: Date) throws {
        let newest = try store.snapshot { try $0.newestEventTime() }
        pass = Pass(now: now, newestEventTime: newest)
        pace.passStarted(now: now)
    }

    private func step() throws -> Housekeeper.Counts? {
        guard var p = pass else { return nil }
        let task = Task.allCases[p.task]
        let (deleted, next) = try store.batch(outputPrefix: "") { b in
            let r = try run(task, p, b)
            if r.deleted > 0 {
                try b.run("""
                    INSERT INTO counters(name, value) VALUES (\("pruned.\(task.rawValue)"), \(r.deleted))
                    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value
                    """)
            }
            return r
        }
        p.counts.rows[task.rawValue, default: 0] += deleted
        if let next {
            p.cursor = next
        } else {
            p.task += 1
            p.cursor = .start
        }
        if p.task == Task.allCases.count {
            pass = nil
            return p.counts
        }
        pass = p
        return nil
    }

    /// One step of `task` in the batch `b`: rows deleted, and where the task goes on (nil: done).
    private func run(_ task: Task, _ p: Pass, _ b: PostgresBatch) throws -> (deleted: Int, next: Cursor?) {
        let now = p.now.timeIntervalSince1970
        let closedBefore = now - policy.closed
        switch task {
        case .changes:
            let maxSeq = try b.run("SELECT MAX(seq) FROM changes").rows.first?.decode(Int64?.self) ?? 0
            return try prefix(b, table: "changes", key: "seq", eligible: "at < $1 OR seq <= $2",
                              [.double(now - policy.changes), .int(maxSeq - policy.changesMaxRows)], p.cursor)
        case .eventKeys:
            // Walked by key (keys carry no time order); a key goes at W − retention − 1 (see `Housekeeper`).
            let cutoff = Int64(PostgresBatch.keyTime(p.newestEventTime - policy.keyRetention)) - 1
            return try walk(b, table: "events", key: "key", eligible: "time <= $1", [.int(cutoff)], p.cursor, dependents: ["DELETE FROM events WHERE key = $1"])
        case .eventBatches:
            return try prefix(b, table: "event_batches", key: "id", eligible: "last_time < $1",
                              [.double(p.newestEventTime - policy.batchRetention)], p.cursor)
        case .deadLetters:
            return try prefix(b, table: "dead_letters", key: "id", eligible: "created_at < $1", [.double(now - policy.deadLetters)], p.cursor)
        case .cases:
            if p.cursor == .start { try setHorizon(b, "cases", closedBefore) }
            return try walk(b, table: "cases", key: "seq", eligible: """
                state IN ('resolved', 'closed', 'false_alarm') AND COALESCE(closed_at, resolved_at, updated_at) < $1
                """, [.double(closedBefore)], p.cursor, dependents: [
                    "DELETE FROM case_items WHERE case_id = $1",
                    // Before the case (they refer to it); the trigger lets them go past the horizon.
                    "DELETE FROM case_transitions WHERE case_id = $1",
                    "DELETE FROM cases WHERE id = $1",
                ])
        case .slips:
            return try walk(b, table: "slips", key: "rid", eligible: """
                COALESCE(closed_at, updated_at) < $1
                AND (case_id IS NULL OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = slips.case_id))
                AND (state = 'closed' OR case_id IS NOT NULL)
                """, [.double(closedBefore)], p.cursor, dependents: [
                    "DELETE FROM slip_items WHERE slip_id = $1",
                    "DELETE FROM slips WHERE id = $1",
                ])
        case .riskItems:
            return try walk(b, table: "risk_items", key: "seq", eligible: """
                state != 'open' AND last_seen < $1
                AND NOT EXISTS (SELECT 1 FROM slip_items s WHERE s.risk_item_id = risk_items.id)
                AND NOT EXISTS (SELECT 1 FROM case_items c WHERE c.risk_item_id = risk_items.id)
                """, [.double(closedBefore)], p.cursor, dependents: ["DELETE FROM risk_items WHERE id = $1"])
        case .silences:
            return try walk(b, table: "silences", key: "id", eligible: "ends_at < $1", [.double(closedBefore)], p.cursor,
                            dependents: ["DELETE FROM silences WHERE id = $1"])
        case .patrolSlots:
            return try walk(b, table: "patrol_slots", key: "id", eligible: "closes_at < $1", [.double(closedBefore)], p.cursor,
                            dependents: ["DELETE FROM patrol_slots WHERE id = $1"])
        case .patrolRecords:
            if p.cursor == .start { try setHorizon(b, "patrol_records", closedBefore) }
            return try prefix(b, table: "patrol_records", key: "id", eligible: "recorded_at < $1", [.double(closedBefore)], p.cursor)
        }
    }

    /// The `counters` row holding the highest change-log seq ever pruned: the log's newest seq once
    /// pruning has emptied it (`PostgresDispatchStore.changeLogBounds`).
    static let changesPrunedThrough = "changes.pruned_through"

    /// Raises `changes.pruned_through` to `seq` (nothing when nil).
    static func notePrunedChanges(through seq: Int64?, _ b: PostgresBatch) throws {
        guard let seq else { return }
        try b.run("""
            INSERT INTO counters(name, value) VALUES (\(changesPrunedThrough), \(seq))
            ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, excluded.value)
            """)
    }

    /// A parameter of an `eligible` condition.
    enum Value {
        case double(Double), int(Int64)
    }

    /// `values`, then the cursor's key (unless the walk starts), then `limit`, as bindings; and the
    /// WHERE condition on the key (`key > $n`) or nothing.
    private func bindings(_ values: [Value], cursor: Cursor, key: String, limit: Int?) -> (PostgresBindings, String) {
        var binds = PostgresBindings()
        for v in values {
            switch v {
            case .double(let d): binds.append(d)
            case .int(let i): binds.append(i)
            }
        }
        var condition = ""
        switch cursor {
        case .start: break
        case .number(let n):
            binds.append(n)
            condition = "\(key) > $\(binds.count)"
        case .text(let t):
            binds.append(t)
            condition = "\(key) > $\(binds.count)"
        }
        if let limit { binds.append(limit) }
        return (binds, condition)
    }

    /// Deletes from the start of a table in key order (its rows age in that order): the task
    /// ends at the first row that is not `eligible`.
    private func prefix(_ b: PostgresBatch, table: String, key: String, eligible: String, _ values: [Value],
                        _ cursor: Cursor) throws -> (deleted: Int, next: Cursor?) {
        let n = policy.chunkRows
        let (binds, after) = bindings(values, cursor: cursor, key: key, limit: n)
        let rows = try b.run(PostgresQuery(unsafeSQL: """
            SELECT \(key), (\(eligible)) FROM \(table) \(after.isEmpty ? "" : "WHERE " + after) ORDER BY \(key) LIMIT $\(binds.count)
            """, binds: binds)).rows.map { try $0.decode((Int64, Bool).self) }
        let stop = rows.firstIndex { !$0.1 }
        let old = rows[..<(stop ?? rows.count)]
        var deleted = 0
        if let last = old.last {
            var range = PostgresBindings()
            range.append(last.0)
            var sql = "DELETE FROM \(table) WHERE \(key) <= $1"
            if case .number(let from) = cursor {
                range.append(from)
                sql += " AND \(key) > $2"
            }
            deleted = try b.changes(PostgresQuery(unsafeSQL: sql, binds: range))
            if table == "changes" { try Self.notePrunedChanges(through: last.0, b) }
        }
        let done = stop != nil || rows.count < n
        return (deleted, done ? nil : .number(old.last!.0))
    }

    /// Walks a whole table in key order, `chunkRows` rows a step, deleting the `eligible` ones
    /// with `dependents` (statements taking the row's `id`, or the events' `key`, as `$1`).
    private func walk(_ b: PostgresBatch, table: String, key: String, eligible: String, _ values: [Value], _ cursor: Cursor,
                      dependents: [String]) throws -> (deleted: Int, next: Cursor?) {
        let n = policy.chunkRows
        // Text keys (event keys, silence and slot ids) in the column's own collation: a walk needs one
        // order, not SQLite's, and that one the primary key's index serves.
        let text = key != "seq" && key != "rid"
        let (binds, after) = bindings(values, cursor: cursor, key: key, limit: n)
        let id = table == "events" ? "key" : "id"
        let rows = try b.run(PostgresQuery(unsafeSQL: """
            SELECT \(text ? "0::bigint" : key), \(id), (\(eligible)) FROM \(table) \(after.isEmpty ? "" : "WHERE " + after)
            ORDER BY \(key) LIMIT $\(binds.count)
            """, binds: binds)).rows.map { try $0.decode((Int64, String, Bool).self) }
        var deleted = 0
        for row in rows where row.2 {
            for statement in dependents {
                var one = PostgresBindings()
                one.append(row.1)
                try b.run(PostgresQuery(unsafeSQL: statement, binds: one))
            }
            deleted += 1
        }
        guard rows.count == n, let last = rows.last else { return (deleted, nil) }
        return (deleted, text ? .text(last.1) : .number(last.0))
    }

    /// Lets the append-only triggers of `name` allow deletes before `before` (never moved back).
    private func setHorizon(_ b: PostgresBatch, _ name: String, _ before: Double) throws {
        try b.run("""
            INSERT INTO retention_horizons(name, before) VALUES (\(name), \(before))
            ON CONFLICT (name) DO UPDATE SET before = GREATEST(retention_horizons.before, excluded.before)
            """)
    }
}
