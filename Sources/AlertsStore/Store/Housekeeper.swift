import Alerts
import Foundation
import GRDB

/// Deletes what the store no longer needs, in small steps (docs/STORAGE.md).
///
/// A pass goes through the tables one task at a time; each step is one
/// transaction that looks at no more than `Policy.chunkRows` rows and deletes
/// only among those, so no step holds the writer long, and the pipeline (which
/// calls `tick` between its batches) and the other writers (case actions, the
/// change feed) get the lock between steps. After the deletes, the freed pages
/// are given back to the file system in steps (`PRAGMA incremental_vacuum`,
/// on a store created with `auto_vacuum = INCREMENTAL`; an older store reuses
/// them) and the WAL is checkpointed.
///
/// What goes, with the cutoffs fixed when the pass starts:
/// - inbox rows processed and received before `inbox`;
/// - event keys whose event time is more than `keyRetention` behind the newest
///   event time logged (W): a key is deleted when its (whole-second) time is at
///   most W − keyRetention − 1, and the pipeline refuses as `too_old` any event
///   older than its own W − keyRetention (W never decreases), so an event that
///   is processed always finds the key of an earlier copy;
/// - event batches whose newest event is more than `batchRetention` behind W:
///   a restart reads the last max(group window, case window) + lateness of
///   them, and an hour more is kept (the newest batch always stays);
/// - change-log rows older than `changes`, or beyond the newest `changesMaxRows`;
/// - dead letters made before `deadLetters`;
/// - cases resolved, closed or dismissed before `closed` (with their item links
///   and transitions); slips closed before `closed` that belong to no kept case
///   (with their item links); closed risk items last seen before `closed` that
///   no kept slip or case links; silences ended before `closed`; patrol slots
///   that closed and patrol records recorded before `closed`.
/// Nothing open, and nothing a kept case or slip links to, is deleted. The
/// audit log is kept.
///
/// Not `Sendable`: the pipeline thread owns it.
public final class Housekeeper: Housekeeping {
    /// The cutoffs and the pace of the passes (the list above).
    public struct Policy: Sendable, Equatable {
        /// Event keys and event batches: how far behind the newest event time (seconds).
        public var keyRetention: TimeInterval = 72 * 3600
        /// Event batches: how far behind the newest event time (seconds).
        public var batchRetention: TimeInterval = 3 * 3600
        /// Processed inbox rows: how long after they were received (seconds).
        public var inbox: TimeInterval = 7 * 86_400
        /// Dead letters: how long after they were made (seconds).
        public var deadLetters: TimeInterval = 90 * 86_400
        /// Closed cases, slips, items, silences and patrol records: how long after they closed (seconds).
        public var closed: TimeInterval = 400 * 86_400
        /// Change-log rows: how long they are kept for change-feed clients that reconnect (seconds).
        public var changes: TimeInterval = 2 * 86_400
        /// Change-log rows kept at most, newest first, whatever their age.
        public var changesMaxRows: Int64 = 1_000_000
        /// Time between the start of one pass and the next.
        public var interval: TimeInterval = 3600
        /// Rows looked at per step (one transaction).
        public var chunkRows = 2000
        /// The least time between two steps (monotonic time).
        public var pause: Duration = .milliseconds(20)
        /// Pages given back per vacuum step.
        public var vacuumPages = 2048

        /// The defaults of `HubConfig.Retention`, for tests.
        public init() {}

        /// The policy `config` sets; the key retention is at least the dedup window
        /// plus the lateness bound plus an hour, whatever `retention.event_keys_hours` says.
        public init(config: HubConfig, rules: RuleSet) {
            keyRetention = Self.keyRetention(hours: config.retention.eventKeysHours, rules: rules)
            batchRetention = Self.batchRetention(rules: rules)
            inbox = TimeInterval(config.store.inboxRetentionDays) * 86_400
            deadLetters = TimeInterval(config.retention.deadLettersDays) * 86_400
            closed = TimeInterval(config.retention.closedDays) * 86_400
            interval = TimeInterval(config.retention.intervalMinutes) * 60
            chunkRows = config.retention.chunkRows
        }

        /// What `PipelineProcessor.reload` reads of the event batches, and an hour more.
        public static func batchRetention(rules: RuleSet) -> TimeInterval {
            max(rules.groupWindow, rules.cases.window) + rules.lateness + 3600
        }

        /// `retention.event_keys_hours`, but at least the dedup window plus the lateness bound plus an hour.
        public static func keyRetention(hours: Int, rules: RuleSet) -> TimeInterval {
            max(TimeInterval(hours) * 3600, rules.dedupWindow + rules.lateness + 3600)
        }
    }

    /// Rows deleted, per table.
    public struct Counts: Sendable, Equatable, CustomStringConvertible {
        /// Rows deleted, by table name.
        public var rows: [String: Int] = [:]

        /// Nothing deleted.
        public init() {}
        /// Free pages given back to the file system.
        public var vacuumedPages = 0
        /// Rows deleted over all tables.
        public var total: Int { rows.values.reduce(0, +) }
        /// `table n` per table with deletions, for the log.
        public var description: String {
            rows.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
    }

    /// One step's work, for tests: rows looked at and deleted.
    public struct Step: Sendable, Equatable {
        /// The task of the step (a table, the vacuum or the checkpoint).
        public var task: String
        /// Rows looked at.
        public var examined: Int
        /// Rows deleted.
        public var deleted: Int
    }

    /// The store it cleans.
    public let store: DisputeStore
    /// What it deletes and how fast.
    public let policy: Policy
    /// Where the pipeline stands in the inbox when its cursor is kept in another store
    /// (PostgreSQL); nil: the store's own `pipeline_cursor`.
    private let inboxCursor: (() throws -> Int64)?
    /// Its tasks, in order: all of them, or the inbox's alone beside another store.
    private let tasks: [Task]

    enum Task: String, CaseIterable {
        case inbox, changes, eventKeys = "event_keys", eventBatches = "event_batches", deadLetters = "dead_letters"
        case cases, slips, riskItems = "risk_items", silences, patrolSlots = "patrol_slots", patrolRecords = "patrol_records"
        case vacuum, checkpoint
    }

    struct Pass {
        var task = 0
        var cursor: DatabaseValue = .null
        var now: Date
        var newestEventTime: Double
        var inboxDone: Int64
        var counts = Counts()
    }

    private var pass: Pass?
    private lazy var pace = HousekeepingPace(policy: policy)
    /// Every step of the current pass (tests read it).
    public private(set) var steps: [Step] = []
    /// Whether `steps` is filled (tests set it).
    public var recordsSteps = false

    /// A housekeeper that starts its first pass at the first `tick`.
    public init(store: DisputeStore, policy: Policy) {
        self.store = store
        self.policy = policy
        inboxCursor = nil
        tasks = Task.allCases
        // A WAL grown by a long transaction or a held reader is cut back to 64 MiB once checkpointed.
        try? store.writer.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_size_limit = 67108864") }
        try? store.inboxWriter.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_size_limit = 67108864") }
    }

    /// A housekeeper of an inbox whose pipeline keeps its cursor elsewhere (the
    /// PostgreSQL store, `DisputeStore.inboxOnly`): it prunes the inbox's
    /// processed rows (through `cursor()`, read at each pass) once older than
    /// `policy.inbox`, and nothing else (the store's own tables are not here).
    public init(inbox: DisputeStore, policy: Policy, cursor: @escaping () throws -> Int64) {
        store = inbox
        self.policy = policy
        inboxCursor = cursor
        tasks = [.inbox]
        try? inbox.inboxWriter.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_size_limit = 67108864") }
    }

    /// Called between pipeline batches with the hub's clock: starts a pass when
    /// one is due, and does at most one step (not within `policy.pause` of the
    /// last). Returns the pass's counts when a pass ends.
    public func tick(now: Date) throws -> Counts? {
        if pass == nil {
            guard pace.passDue(now: now) else { return nil }
            try start(now: now)
        }
        guard pace.takeStep() else { return nil }
        return try step()
    }

    /// Wall seconds until `tick` has work again, for a caller that sleeps
    /// between ticks: the pause left before a running pass's next step, or
    /// the time to the next pass on a clock reading `now` and running at
    /// `speed` (0 when due).
    public func wallSecondsUntilDue(now: Date, speed: Double) -> TimeInterval {
        pace.wallSecondsUntilDue(passRunning: pass != nil, now: now, speed: speed)
    }

    /// A whole pass at once, step after step (tests, `patrolhub store prune`).
    public func runPass(now: Date) throws -> Counts {
        try start(now: now)
        while true {
            if let counts = try step() { return counts }
        }
    }

    private func start(now: Date) throws {
        if let inboxCursor {
            pass = Pass(now: now, newestEventTime: 0, inboxDone: try inboxCursor())
            steps = []
            pace.passStarted(now: now)
            return
        }
        let (newest, done) = try store.writer.read { db in
            (try EventLog.maxTime(db: db), try Int64.fetchOne(db, sql: "SELECT inbox_seq FROM pipeline_cursor WHERE id = 1") ?? 0)
        }
        pass = Pass(now: now, newestEventTime: newest, inboxDone: done)
        steps = []
        pace.passStarted(now: now)
    }

    /// One step of the current pass; the pass's counts when it ended.
    private func step() throws -> Counts? {
        guard var p = pass else { return nil }
        let task = tasks[p.task]
        let (examined, deleted, next) = try run(task, &p)
        p.counts.rows[task.rawValue, default: 0] += task == .vacuum ? 0 : deleted
        if task == .vacuum { p.counts.vacuumedPages += deleted }
        if recordsSteps { steps.append(Step(task: task.rawValue, examined: examined, deleted: deleted)) }
        if let next {
            p.cursor = next
        } else {
            p.task += 1
            p.cursor = .null
        }
        if p.task == tasks.count {
            pass = nil
            return p.counts
        }
        pass = p
        return nil
    }

    /// Runs one step of `task`: rows looked at, rows deleted (pages, for the
    /// vacuum), and where the task goes on (nil: it is done).
    private func run(_ task: Task, _ p: inout Pass) throws -> (Int, Int, DatabaseValue?) {
        let n = policy.chunkRows
        let now = p.now.timeIntervalSince1970
        let closedBefore = now - policy.closed
        switch task {
        case .inbox:
            let r = try prefix(store.inboxWriter, table: "inbox", eligible: "seq <= ? AND received_at < ?",
                               arguments: [p.inboxDone, now - policy.inbox], cursor: p.cursor, counter: nil)
            // The pruned-rows counter is the store's (beside another store, that store keeps none).
            if r.1 > 0, inboxCursor == nil { try store.writer.write { try Self.count(.inbox, r.1, $0) } }
            return r
        case .changes:
            let maxSeq = try store.writer.read { try Int64.fetchOne($0, sql: "SELECT MAX(seq) FROM changes") } ?? 0
            return try prefix(store.writer, table: "changes", eligible: "at < ? OR seq <= ?",
                              arguments: [now - policy.changes, maxSeq - policy.changesMaxRows], cursor: p.cursor, counter: task)
        case .eventKeys:
            // Walked by key (keys carry no time order); a key goes at W − retention − 1 (see above).
            let cutoff = EventKeys.keyTime(p.newestEventTime - policy.keyRetention) - 1
            return try store.writer.write { db in
                let rows = p.cursor.isNull
                    ? try Row.fetchAll(db, sql: "SELECT key, time <= ? FROM events ORDER BY key LIMIT ?", arguments: [cutoff, n])
                    : try Row.fetchAll(db, sql: "SELECT key, time <= ? FROM events WHERE key > ? ORDER BY key LIMIT ?", arguments: [cutoff, p.cursor, n])
                let delete = try db.cachedStatement(sql: "DELETE FROM events WHERE key = ?")
                var deleted = 0
                for row in rows where row[1] as Bool {
                    try delete.execute(arguments: [row[0] as DatabaseValue])
                    deleted += db.changesCount
                }
                try Self.count(task, deleted, db)
                return (rows.count, deleted, rows.count < n ? nil : rows.last![0] as DatabaseValue)
            }
        case .eventBatches:
            return try prefix(store.writer, table: "event_batches", eligible: "last_time < ?",
                              arguments: [p.newestEventTime - policy.batchRetention], cursor: p.cursor, counter: task)
        case .deadLetters:
            return try prefix(store.writer, table: "dead_letters", eligible: "created_at < ?",
                              arguments: [now - policy.deadLetters], cursor: p.cursor, counter: task)
        case .cases:
            if p.cursor.isNull { try setHorizon("cases", closedBefore) }
            return try walk(table: "cases", eligible: """
                state IN ('resolved', 'closed', 'false_alarm') AND COALESCE(closed_at, resolved_at, updated_at) < ?
                """, arguments: [closedBefore], cursor: p.cursor, task: task, dependents: [
                    "DELETE FROM case_items WHERE case_id = ?",
                    // Before the case (they refer to it); the trigger lets them go past the horizon.
                    "DELETE FROM case_transitions WHERE case_id = ?",
                    "DELETE FROM cases WHERE id = ?",
                ])
        case .slips:
            return try walk(table: "slips", eligible: """
                COALESCE(closed_at, updated_at) < ?
                AND (case_id IS NULL OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = slips.case_id))
                AND (state = 'closed' OR case_id IS NOT NULL)
                """, arguments: [closedBefore], cursor: p.cursor, task: task, dependents: [
                    "DELETE FROM slip_items WHERE slip_id = ?",
                    "DELETE FROM slips WHERE id = ?",
                ])
        case .riskItems:
            return try walk(table: "risk_items", eligible: """
                state != 'open' AND last_seen < ?
                AND NOT EXISTS (SELECT 1 FROM slip_items s WHERE s.risk_item_id = risk_items.id)
                AND NOT EXISTS (SELECT 1 FROM case_items c WHERE c.risk_item_id = risk_items.id)
                """, arguments: [closedBefore], cursor: p.cursor, task: task, dependents: ["DELETE FROM risk_items WHERE id = ?"])
        case .silences:
            return try walk(table: "silences", eligible: "ends_at < ?", arguments: [closedBefore], cursor: p.cursor, task: task,
                            dependents: ["DELETE FROM silences WHERE id = ?"])
        case .patrolSlots:
            return try walk(table: "patrol_slots", eligible: "closes_at < ?", arguments: [closedBefore], cursor: p.cursor, task: task,
                            dependents: ["DELETE FROM patrol_slots WHERE id = ?"])
        case .patrolRecords:
            if p.cursor.isNull { try setHorizon("patrol_records", closedBefore) }
            return try prefix(store.writer, table: "patrol_records", eligible: "recorded_at < ?",
                              arguments: [closedBefore], cursor: p.cursor, counter: task)
        case .vacuum:
            // The store, then the inbox; each step gives back at most `vacuumPages` pages.
            let writers: [any DatabaseWriter] = [store.writer, store.inboxWriter]
            var which = p.cursor.isNull ? 0 : Int(Int64.fromDatabaseValue(p.cursor) ?? 0)
            while which < writers.count {
                let freed = try writers[which].writeWithoutTransaction { db -> Int in
                    guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") == 2 else { return 0 }
                    let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                    guard free > 0 else { return 0 }
                    try db.execute(sql: "PRAGMA incremental_vacuum(\(policy.vacuumPages))")
                    return free - (try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0)
                }
                if freed > 0 { return (0, freed, Int64(which).databaseValue) }
                which += 1
            }
            return (0, 0, nil)
        case .checkpoint:
            // The checkpoint thread's connection may be checkpointing this file right now: then
            // SQLite answers BUSY at once, and this step is left to it.
            do {
                try store.writer.writeWithoutTransaction { _ = try $0.checkpoint(.passive) }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            }
            try store.checkpointInbox()
            return (0, 0, nil)
        }
    }

    /// Lets the append-only triggers of `name` allow deletes before `before` (never moved back).
    private func setHorizon(_ name: String, _ before: Double) throws {
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO retention_horizons(name, before) VALUES (?, ?)
                ON CONFLICT(name) DO UPDATE SET before = MAX(before, excluded.before)
                """, arguments: [name, before])
        }
    }

    /// Deletes from the start of a table (in rowid order) whose rows age in that
    /// order: the task ends at the first row that is not `eligible`.
    private func prefix(_ writer: any DatabaseWriter, table: String, eligible: String, arguments: StatementArguments,
                        cursor: DatabaseValue, counter: Task?) throws -> (Int, Int, DatabaseValue?) {
        let n = policy.chunkRows
        return try writer.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT rowid, (\(eligible)) FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                        arguments: arguments + [cursor.isNull ? Int64.min.databaseValue : cursor, n])
            let stop = rows.firstIndex { !($0[1] as Bool) }
            let old = rows[..<(stop ?? rows.count)]
            var deleted = 0
            if let last = old.last {
                try db.execute(sql: "DELETE FROM \(table) WHERE rowid > ? AND rowid <= ?",
                               arguments: [cursor.isNull ? Int64.min.databaseValue : cursor, last[0] as Int64])
                deleted = db.changesCount
            }
            if let counter { try Self.count(counter, deleted, db) }
            let done = stop != nil || rows.count < n
            return (rows.count, deleted, done ? nil : (old.last![0] as Int64).databaseValue)
        }
    }

    /// Walks a whole table in rowid order, `chunkRows` rows a step, deleting the
    /// `eligible` ones with `dependents` (statements taking the row's `id`).
    private func walk(table: String, eligible: String, arguments: StatementArguments, cursor: DatabaseValue, task: Task,
                      dependents: [String]) throws -> (Int, Int, DatabaseValue?) {
        let n = policy.chunkRows
        return try store.writer.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT rowid, id, (\(eligible)) FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                        arguments: arguments + [cursor.isNull ? Int64.min.databaseValue : cursor, n])
            let statements = try dependents.map { try db.cachedStatement(sql: $0) }
            var deleted = 0
            for row in rows where row[2] as Bool {
                let id: DatabaseValue = row[1]
                for s in statements { try s.execute(arguments: [id]) }
                deleted += 1
            }
            try Self.count(task, deleted, db)
            return (rows.count, deleted, rows.count < n ? nil : (rows.last![0] as Int64).databaseValue)
        }
    }

    /// Adds to the running total of rows pruned from a table (`pruned.<table>` in `counters`).
    private static func count(_ task: Task, _ n: Int, _ db: Database) throws {
        guard n > 0 else { return }
        try db.execute(sql: "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                       arguments: ["pruned.\(task.rawValue)", n])
    }

    /// Rows pruned so far, per table (from `counters`).
    public static func prunedTotals(db: Database) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, value FROM counters WHERE name LIKE 'pruned.%'") {
            out[String((row[0] as String).dropFirst("pruned.".count))] = row[1]
        }
        return out
    }
}

/// What the pipeline's thread calls between its batches to prune a store
/// (`Housekeeper` on SQLite, `PostgresHousekeeper` on PostgreSQL).
public protocol Housekeeping: AnyObject {
    /// Starts a pass when one is due and does at most one step; the pass's counts when it ends.
    func tick(now: Date) throws -> Housekeeper.Counts?
    /// Wall seconds until `tick` has work again, on a clock reading `now` and running at `speed`.
    func wallSecondsUntilDue(now: Date, speed: Double) -> TimeInterval
}

/// Two housekeepers ticked in turn (a hub on PostgreSQL: its inbox file's and the store's).
public final class HousekeepingPair: Housekeeping {
    let first: any Housekeeping
    let second: any Housekeeping

    /// `first` and `second`, each ticked at every `tick`.
    public init(_ first: any Housekeeping, _ second: any Housekeeping) {
        self.first = first
        self.second = second
    }

    /// Ticks both; the counts of the passes that ended, added together.
    public func tick(now: Date) throws -> Housekeeper.Counts? {
        let a = try first.tick(now: now), b = try second.tick(now: now)
        guard a != nil || b != nil else { return nil }
        var counts = a ?? Housekeeper.Counts()
        for (table, n) in b?.rows ?? [:] { counts.rows[table, default: 0] += n }
        counts.vacuumedPages += b?.vacuumedPages ?? 0
        return counts
    }

    /// The sooner of the two.
    public func wallSecondsUntilDue(now: Date, speed: Double) -> TimeInterval {
        min(first.wallSecondsUntilDue(now: now, speed: speed), second.wallSecondsUntilDue(now: now, speed: speed))
    }
}

/// When a housekeeper's passes start and its steps run (`Housekeeper`, `PostgresHousekeeper`): a
/// pass every `policy.interval` of the hub's clock, its steps at least `policy.pause` apart
/// (monotonic time), so the pipeline's next batch never waits for more than one step.
public struct HousekeepingPace {
    let policy: Housekeeper.Policy
    var nextPassAt: Date?
    var lastStep: ContinuousClock.Instant?

    /// The pace of `policy`; the first pass is due at once.
    public init(policy: Housekeeper.Policy) {
        self.policy = policy
    }

    /// Whether a pass may start at `now` (none is running).
    public func passDue(now: Date) -> Bool {
        nextPassAt.map { now >= $0 } ?? true
    }

    /// A pass started at `now`: the next one is due `policy.interval` later.
    public mutating func passStarted(now: Date) {
        nextPassAt = now.addingTimeInterval(policy.interval)
    }

    /// Whether a step may run now (not within `policy.pause` of the last); counts it when it may.
    public mutating func takeStep() -> Bool {
        if let last = lastStep, ContinuousClock.now - last < policy.pause { return false }
        lastStep = ContinuousClock.now
        return true
    }

    /// Wall seconds until a housekeeper has work again: the pause left before a running pass's
    /// next step, or the time to the next pass on a clock reading `now` and running at `speed`
    /// (0 when due).
    public func wallSecondsUntilDue(passRunning: Bool, now: Date, speed: Double) -> TimeInterval {
        if passRunning {
            guard let last = lastStep else { return 0 }
            let left = policy.pause - (ContinuousClock.now - last)
            return max(0, Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18)
        }
        guard let next = nextPassAt else { return 0 }
        return max(0, next.timeIntervalSince(now) / max(speed, .leastNonzeroMagnitude))
    }
}
