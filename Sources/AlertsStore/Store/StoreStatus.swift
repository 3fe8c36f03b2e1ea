import Alerts
import Foundation
import GRDB

/// What the store holds, for `patrolhub status` and `/metrics`.
public struct StoreStatus: Sendable, Equatable {
    /// Messages in the inbox (processed ones until retention deletes them).
    public var inboxReceived = 0
    /// Inbox messages the pipeline has processed.
    public var inboxProcessed = 0
    /// Inbox messages waiting for the pipeline: the hub's backlog.
    public var inboxPending = 0
    /// Dead letters in the store by reason, replayed or not (`status`; `/metrics` counts them as they happen).
    public var deadLetters: [String: Int] = [:]
    /// Dead letters in the store not replayed yet: what an installer still has to look at.
    public var deadLettersPending = 0
    /// Dead letters replayed since the store was created, pruned ones included.
    public var deadLettersReplayed = 0
    /// Risk items in the store, by status.
    public var riskItems: [String: Int] = [:]
    /// Risk items muted by inhibition or a silence.
    public var riskItemsSuppressed = 0
    /// Slips by kind, then state.
    public var slips: [String: [String: Int]] = [:]
    /// Cases by state.
    public var cases: [String: Int] = [:]
    /// Foreign inputs no rule maps, most frequent first (`patrolhub adapters unmapped`).
    public var unmapped: [UnmappedInputCount] = []
    /// Events older than the lateness bound when they arrived (kept, marked `late`, opening no slip or case).
    public var lateEvents = 0
    /// The newest event time the pipeline has seen (its watermark), nil before the first event.
    public var newestEventTime: Date?
    /// Rows the housekeeper has deleted so far, per table (docs/STORAGE.md).
    public var pruned: [String: Int] = [:]

    /// An empty status; `DisputeStore.status()` fills it.
    public init() {}

    /// Messages counted as unmapped, per format.
    public var unmappedByFormat: [String: Int] {
        unmapped.reduce(into: [:]) { $0[$1.format, default: 0] += $1.count }
    }

    /// Dead letters over all reasons.
    public var deadLettersTotal: Int { deadLetters.values.reduce(0, +) }
    /// Risk items over all states.
    public var riskItemsTotal: Int { riskItems.values.reduce(0, +) }
    /// Slips over all kinds and states.
    public var slipsTotal: Int { slips.values.flatMap(\.values).reduce(0, +) }
    /// Cases over all states.
    public var casesTotal: Int { cases.values.reduce(0, +) }

    /// The one JSON object of `status --json` (keys `inbox`, `dead_letters`,
    /// `risk_items`, `slips`, `cases`).
    public var json: JSONValue {
        func counts(_ d: [String: Int]) -> JSONValue { .object(JSONObject(d.mapValues { JSONValue.number(Double($0)) })) }
        return .object([
            "inbox": .object(["received": .number(Double(inboxReceived)), "processed": .number(Double(inboxProcessed)), "pending": .number(Double(inboxPending))]),
            "dead_letters": .object(["total": .number(Double(deadLettersTotal)), "by_reason": counts(deadLetters),
                                     "pending": .number(Double(deadLettersPending)), "replayed": .number(Double(deadLettersReplayed))]),
            "risk_items": .object(["total": .number(Double(riskItemsTotal)), "by_state": counts(riskItems), "suppressed": .number(Double(riskItemsSuppressed))]),
            "slips": .object(["total": .number(Double(slipsTotal)), "by_kind": .object(JSONObject(slips.mapValues { counts($0) }))]),
            "cases": .object(["total": .number(Double(casesTotal)), "by_state": counts(cases)]),
            "unmapped": .object([
                "total": .number(Double(unmapped.reduce(0) { $0 + $1.count })), "by_format": counts(unmappedByFormat),
                "inputs": .array(unmapped.prefix(Self.unmappedShown).map(\.json)),
            ]),
            "events": .object(["late": .number(Double(lateEvents)), "newest_time": newestEventTime.map { .string($0.rfc3339) } ?? .null]),
            "pruned": counts(pruned),
        ])
    }

    /// Unmapped inputs listed by `status` (the most frequent); `adapters unmapped` lists all.
    public static let unmappedShown = 20

    /// A human summary, one section per table, times in RFC 3339 UTC.
    public var text: String { text(time: \.rfc3339) }

    /// A human summary, one section per table, each time written by `time`
    /// (the CLI passes the configured zone's form, with its offset).
    public func text(time: (Date) -> String) -> String {
        func list(_ d: [String: Int]) -> String {
            d.isEmpty ? "none" : d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        return """
            inbox         received \(inboxReceived), processed \(inboxProcessed), pending \(inboxPending)
            dead letters  \(deadLettersTotal) (\(list(deadLetters))); pending \(deadLettersPending), replayed \(deadLettersReplayed) (patrolhub dead-letters)
            risk items    \(riskItemsTotal) (\(list(riskItems)); suppressed \(riskItemsSuppressed))
            slips         \(slipsTotal) (\(slips.isEmpty ? "none" : slips.sorted { $0.key < $1.key }.map { "\($0.key): \(list($0.value))" }.joined(separator: "; ")))
            cases         \(casesTotal) (\(list(cases)))
            unmapped      \(unmapped.reduce(0) { $0 + $1.count }) messages (\(list(unmappedByFormat)))\(unmapped.isEmpty ? "" : "; most frequent: " + unmapped.prefix(3).map { "\($0.format) \($0.displayName) \($0.count)" }.joined(separator: ", ") + " (patrolhub adapters unmapped)")
            events        late \(lateEvents), newest event time \(newestEventTime.map(time) ?? "none")
            pruned        \(list(pruned))
            """
    }
}

extension DisputeStore {
    /// Counts what the store and its inbox hold, read once (`status`, `/metrics`).
    public func status() throws -> StoreStatus {
        let done = try cursor()
        let (received, pending) = try inboxWriter.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") ?? 0, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox WHERE seq > ?", arguments: [done]) ?? 0)
        }
        return try writer.read { db in
            var s = StoreStatus()
            s.inboxReceived = received
            s.inboxPending = pending
            s.inboxProcessed = received - pending
            for row in try Row.fetchAll(db, sql: "SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason") { s.deadLetters[row[0]] = row[1] }
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM risk_items GROUP BY state") { s.riskItems[row[0]] = row[1] }
            s.riskItemsSuppressed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE suppressed_by IS NOT NULL") ?? 0
            try Self.readSmallFigures(db, into: &s)
            return s
        }
    }

    /// The figures `status` and `/metrics` read alike, each cheap however large
    /// the store grows: slips and cases (a few per day), the bounded unmapped-input
    /// table, and the store's counters (late events, dead letters pending and
    /// replayed, rows pruned), and the event log's watermark.
    static func readSmallFigures(_ db: Database, into s: inout StoreStatus) throws {
        for row in try Row.fetchAll(db, sql: "SELECT kind, state, COUNT(*) FROM slips GROUP BY kind, state") {
            s.slips[row[0], default: [:]][row[1]] = row[2]
        }
        for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM cases GROUP BY state") { s.cases[row[0]] = row[1] }
        s.unmapped = try UnmappedInputs.fetch(db: db)
        func counter(_ name: String) throws -> Int { try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = ?", arguments: [name]) ?? 0 }
        s.lateEvents = try counter("late_events")
        s.deadLettersPending = try counter(DeadLetterCounters.pending)
        s.deadLettersReplayed = try counter(DeadLetterCounters.replayed)
        let newest = try EventLog.maxTime(db: db)
        s.newestEventTime = newest > 0 ? Date(timeIntervalSince1970: newest) : nil
        s.pruned = try Housekeeper.prunedTotals(db: db)
    }

    /// Slips of one kind (or all), newest first.
    public func slips(kind: Slip.Kind? = nil, limit: Int = 100) throws -> [Slip] {
        try writer.read { db in
            let rows = try SlipRow.fetchAll(db, sql: "SELECT * FROM slips \(kind == nil ? "" : "WHERE kind = ?") ORDER BY issued_at DESC, id DESC LIMIT ?",
                                            arguments: kind.map { [$0.rawValue, limit] } ?? [limit])
            return try DisputeStore.slips(rows, db: db)
        }
    }

    /// Risk items, newest first.
    public func riskItems(limit: Int = 1000) throws -> [RiskItem] {
        try writer.read { db in
            try RiskItemRow.items(db, sql: "SELECT * FROM risk_items ORDER BY seq DESC LIMIT ?", arguments: [limit])
        }
    }

    /// Dead letters with their reason and detail, newest first.
    public func deadLetters(limit: Int = 1000) throws -> [(reason: String, detail: String, topic: String, size: Int)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT reason, detail, topic, size FROM dead_letters ORDER BY id DESC LIMIT ?", arguments: [limit]).map { ($0[0], $0[1], $0[2], $0[3]) }
        }
    }
}

extension DisputeStore {
    /// The newest event time the pipeline of the store at `path` has seen, read
    /// without migrating or writing anything (the hub may be running on it);
    /// nil when there is no store there, or it has seen no event.
    public static func newestEventTime(path: String) throws -> Date? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try readOnly(path).read { db in
            guard try db.tableExists("event_batches") else { return nil }
            let newest = try EventLog.maxTime(db: db)
            return newest > 0 ? Date(timeIntervalSince1970: newest) : nil
        }
    }

    /// How far the pipeline of the SQLite store at `path` got (its cursor, an inbox `seq`), read
    /// on a read-only connection: nothing is migrated or written (SQLite may make a WAL store's
    /// `-wal` and `-shm` files beside it, as any reader does); nil when there is no store there (no
    /// file, an empty one, or one without the cursor's table) or its pipeline processed nothing.
    /// A hub switched to `store.kind: postgres` reads it to tell whether this store still holds
    /// a district's history that only `store migrate` carries over.
    public static func processedThrough(path: String) throws -> Int64? {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        guard size > 0 else { return nil }
        let queue = try readOnly(path)
        defer { try? queue.close() }
        return try queue.read { db in
            guard try db.tableExists("pipeline_cursor") else { return nil }
            let seq = try Int64.fetchOne(db, sql: "SELECT inbox_seq FROM pipeline_cursor WHERE id = 1") ?? 0
            return seq > 0 ? seq : nil
        }
    }

    /// A read-only connection to the store file at `path`, for a look at a store another
    /// process may hold open (nothing migrated or written; another's lock is waited for 5 s).
    private static func readOnly(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        return try DatabaseQueue(path: path, configuration: config)
    }
}
