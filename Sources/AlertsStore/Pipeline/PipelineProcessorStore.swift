import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// The durable "in progress" mark (`pipeline_inflight`): written before a
/// batch, cleared with its outcomes, read after a restart by the crash
/// quarantine (`PipelineProcessor.recover()`).
public struct InProgressMark: Sendable, Hashable {
    /// The seq of the batch's last inbox row.
    public var lastSeq: Int64
    /// Rows through this seq are processed one per transaction (0: none).
    public var isolateThrough: Int64
    /// Unclean stops already seen in this batch.
    public var stops: Int
    /// A mark for a batch ending at `lastSeq`, with the isolation bound and unclean stops it carries.
    public init(lastSeq: Int64, isolateThrough: Int64, stops: Int) {
        self.lastSeq = lastSeq
        self.isolateThrough = isolateThrough
        self.stops = stops
    }
}

/// What `PipelineProcessor` needs of the store besides a batch's reads and
/// its one write (`PipelineStore`): the engine's state at start (or after a
/// rolled-back batch), silences, the cursor, and the crash quarantine's mark
/// and dead letters. Each call is its own transaction (or a read). The inbox
/// is not here: it stays the hub's own SQLite file (`DisputeStore`'s inbox).
/// `DisputeStore` (SQLite) and `PostgresStore` implement it.
///
/// Called once per batch at most (never per event): a processor generic over
/// it pays no dynamic dispatch in its loops.
public protocol PipelineProcessorStore: PipelineStore {
    /// The pipeline's position: the last inbox `seq` whose outcomes are committed (0 on a new store).
    func cursor() throws -> Int64
    /// The silences that end after `after` (all when nil), by start then id.
    func silences(endingAfter after: Date?) throws -> [Silence]
    /// The engine's memory as the store holds it (`RiskEngine.restore`), for `rules`' windows, and the
    /// change log's newest seq read with it (slips a case action closes after it are seen by the next batch).
    func engineSnapshot(rules: RuleSet) throws -> (snapshot: RiskEngine.Snapshot, changesSeen: Int64)
    /// The inbox keys (32 hex digits) of the messages dead-lettered as `crashed`.
    func crashedMessageKeys() throws -> [String]
    /// The in-progress mark, nil when none is set.
    func inProgressMark() throws -> InProgressMark?
    /// Writes (or replaces) the in-progress mark before a batch, stamped `at`.
    func markInProgress(_ mark: InProgressMark, at: Date) throws
    /// Removes the in-progress mark.
    func clearInProgressMark() throws
    /// In one transaction: `record` becomes a dead letter for `error` (kept if its key has one
    /// already), the cursor moves to it (never back), and the mark moves on to it (with its stop
    /// count reset) while `isolateThrough` is past it, else is removed.
    func setAside(_ record: InboxRecord, as error: HubError, isolateThrough: Int64, now: Date) throws
    /// How many dead letters of `reason` were written at or after `since`.
    func deadLetterCount(_ reason: DeadLetterReason, since: Date) throws -> Int
    /// When `error` is the store refusing what a batch's messages produced (a constraint, a
    /// value too big or of the wrong type: it comes back with the same input), what the store
    /// said; nil for the environment's errors (a full disk, a lock, I/O, a lost connection),
    /// after which the batch is retried as it is.
    func refusal(of error: any Error) -> String?
}

extension DisputeStore: PipelineProcessorStore {
    /// Rebuilds the engine's windows from the store file (one read).
    public func engineSnapshot(rules: RuleSet) throws -> (snapshot: RiskEngine.Snapshot, changesSeen: Int64) {
        // The change log's position is read with the snapshot: a slip a case action closes after it is seen by the next batch.
        try writer.read { db -> (RiskEngine.Snapshot, Int64) in
            var s = RiskEngine.Snapshot()
            // The engine's watermark as the last batch committed it (0: none yet); a store written
            // before it was kept falls back to the newest logged event. Horizons are measured from it.
            let cursorRow = try Row.fetchOne(db, sql: "SELECT watermark, next_sweep FROM pipeline_cursor WHERE id = 1")
            let stored: Double? = cursorRow?[0]
            s.nextSweep = (cursorRow?[1] as Double?).map(Date.init(timeIntervalSince1970:))
            let maxTime = try stored.flatMap { $0 > 0 ? $0 : nil } ?? EventLog.maxTime(db: db)
            // Every open item: the engine's first sweep closes those quiet for longer than its item
            // horizon that no end holds open, and those an end holds quiet for longer than the held
            // horizon (as a running engine does), so none stays open for ever.
            // (A missed checkpoint's item is the patrol stage's, never the engine's.)
            s.openItems = try RiskItemRow.items(db, sql: "SELECT * FROM risk_items WHERE state = 'open' AND category <> 'missed_checkpoint'")
            // Made after an open item for its source and category: only earlier episodes are (a later one replaces it).
            s.earlierEpisodes = try RiskItemRow.items(db, sql: """
                SELECT e.* FROM risk_items o JOIN risk_items e ON e.seq = (
                    SELECT MAX(x.seq) FROM risk_items x WHERE x.source = o.source AND x.category = o.category AND x.drill = o.drill AND x.seq > o.seq)
                WHERE o.state = 'open' AND o.category <> 'missed_checkpoint' AND e.state = 'closed'
                """)
            // What a window ending at an event that is not late can still see (as the running engine keeps).
            let window = rules.cases.window
            let logged = try EventLog.counted(since: maxTime - max(rules.groupWindow, window) - rules.lateness, db: db)
            s.recentOccurrences = logged.filter { $0.time >= maxTime - rules.groupWindow - rules.lateness }.map {
                (Date(timeIntervalSince1970: $0.time), $0.itemID, $0.zone, Category(rawValue: $0.category) ?? .other)
            }
            // Recent slips, and every open one: an item an end or a camera's health holds keeps its slip open past the repeat
            // interval. And every closed one whose count start a window can still see, however old its anchor.
            let slipRows = try SlipRow.fetchAll(db, sql: """
                SELECT * FROM slips WHERE kind = 'warning' AND (anchor >= ? OR state = 'open' OR (state = 'closed' AND count_after >= ?))
                """, arguments: [maxTime - rules.repeatInterval - rules.groupWindow, maxTime - rules.groupWindow - rules.lateness])
            for (slip, row) in zip(try DisputeStore.slips(slipRows, db: db), slipRows) {
                s.recentSlips.append((slip, Date(timeIntervalSince1970: row.anchor)))
            }
            // Which of those items are drills (a drill's occurrences and slips are windows of their own), and which have closed.
            var windowItems = Set(s.recentOccurrences.map(\.itemID))
            for (slip, _) in s.recentSlips { windowItems.formUnion(slip.riskItemIDs) }
            let windowIDs = windowItems.sorted()
            for chunk in stride(from: 0, to: windowIDs.count, by: 500) {
                let part = Array(windowIDs[chunk..<min(chunk + 500, windowIDs.count)])
                let sql = "SELECT id, drill, state = 'closed', last_seen FROM risk_items WHERE id IN (\(databaseQuestionMarks(count: part.count)))"
                for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(part)) {
                    if row[1] as Bool { s.drillItemIDs.insert(row[0]) }
                    if row[2] as Bool { s.closedItemLastSeen[row[0]] = Date(timeIntervalSince1970: row[3]) }
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, status, status_at FROM cameras WHERE status != 'unknown'") {
                if let st = CameraStatus(rawValue: row[1]) { s.cameraStatus[row[0]] = st }
                if let at: Double = row[2] { s.cameraStatusTimes[row[0]] = Date(timeIntervalSince1970: at) }
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, drill_status, drill_status_at FROM cameras WHERE drill_status IS NOT NULL") {
                if let st = CameraStatus(rawValue: row[1]) { s.drillCameraStatus[row[0]] = st }
                if let at: Double = row[2] { s.drillCameraStatusTimes[row[0]] = Date(timeIntervalSince1970: at) }
            }
            s.lastItemSeq = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM risk_items") ?? 0
            s.lastSlipSeq = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = 'warning'") ?? 0
            s.watermark = maxTime > 0 && stored != 0 ? Date(timeIntervalSince1970: maxTime) : nil
            // Correlation: cases whose window may still take evidence, and the recent unmuted evidence.
            let caseRows = try CaseRow.fetchAll(db, sql: "SELECT * FROM cases WHERE evidence_at >= ?", arguments: [maxTime - 3 * window - rules.lateness])
            for (c, row) in zip(try DisputeStore.cases(caseRows, db: db), caseRows) {
                guard let evidenceAt = row.evidenceAt else { continue } // the query's condition holds it non-NULL
                let through = Date(timeIntervalSince1970: evidenceAt)
                let from = row.evidenceFrom.map(Date.init(timeIntervalSince1970:)) ?? through
                s.recentCases.append((c, from, through))
            }
            // Each item's newest counted event in the window, in the zone of that event.
            var newest: [String: EventLogEntry] = [:]
            for e in logged where e.time >= maxTime - window - rules.lateness && !e.itemID.isEmpty {
                if let seen = newest[e.itemID], seen.time >= e.time { continue }
                newest[e.itemID] = e
            }
            let ids = newest.keys.sorted()
            for chunk in stride(from: 0, to: ids.count, by: 500) {
                let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
                let rows = try Row.fetchAll(db, sql: "SELECT id, source, source_kind, category, severity, drill FROM risk_items WHERE id IN (\(databaseQuestionMarks(count: part.count))) ORDER BY id",
                                            arguments: StatementArguments(part))
                for row in rows {
                    let e = newest[row[0]]!
                    s.recentEvidence.append((e.zone, CaseStage.Evidence(
                        itemID: row[0], source: row[1], sourceKind: SourceKind(rawValue: row[2]) ?? .camera,
                        category: Category(rawValue: row[3]) ?? .other, severity: Severity(rawValue: row[4]) ?? .info,
                        time: Date(timeIntervalSince1970: e.time), drill: row[5])))
                }
            }
            s.lastCaseSeq = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM cases") ?? 0
            return (s, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0)
        }
    }

    /// The inbox keys of the `crashed` dead letters.
    public func crashedMessageKeys() throws -> [String] {
        try writer.read { db in try String.fetchAll(db, sql: "SELECT inbox_key FROM dead_letters WHERE reason = 'crashed'") }
    }

    /// The in-progress mark (`pipeline_inflight`), nil when none is set.
    public func inProgressMark() throws -> InProgressMark? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT last_seq, isolate_through, stops FROM pipeline_inflight WHERE id = 1")
                .map { InProgressMark(lastSeq: $0[0], isolateThrough: $0[1], stops: $0[2]) }
        }
    }

    /// Writes (or replaces) the in-progress mark.
    public func markInProgress(_ mark: InProgressMark, at: Date) throws {
        try writer.write { db in
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO pipeline_inflight(id, last_seq, isolate_through, stops, started_at) VALUES (1, ?, ?, ?, ?)
                """).execute(arguments: [mark.lastSeq, mark.isolateThrough, mark.stops, at.timeIntervalSince1970])
        }
    }

    /// Removes the in-progress mark.
    public func clearInProgressMark() throws {
        try writer.write { db in try db.execute(sql: "DELETE FROM pipeline_inflight") }
    }

    /// A dead letter for one message processed alone, with the cursor moved past it, in one transaction.
    public func setAside(_ record: InboxRecord, as error: HubError, isolateThrough through: Int64, now: Date) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.key, error.deadLetterReason.rawValue, error.detail, record.topic, Data(record.payload),
                                 record.oversized?.size ?? record.payload.count, record.receivedAt.timeIntervalSince1970,
                                 now.timeIntervalSince1970, record.oversized?.sha256])
            try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = ? WHERE id = 1 AND inbox_seq < ?", arguments: [record.seq, record.seq])
            if through > record.seq {
                try db.execute(sql: "UPDATE pipeline_inflight SET last_seq = ?, stops = 0 WHERE id = 1", arguments: [record.seq])
            } else {
                try db.execute(sql: "DELETE FROM pipeline_inflight")
            }
        }
    }

    /// How many dead letters of `reason` were written at or after `since`.
    public func deadLetterCount(_ reason: DeadLetterReason, since: Date) throws -> Int {
        try writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters WHERE reason = ? AND created_at >= ?",
                             arguments: [reason.rawValue, since.timeIntervalSince1970]) ?? 0
        }
    }

    /// SQLite's refusals of input: a constraint, a value too big, of the wrong type or out of range.
    public func refusal(of error: any Error) -> String? {
        guard let error = error as? DatabaseError, Self.refusesInput(error) else { return nil }
        return error.message ?? "SQLite error \(error.resultCode.rawValue)"
    }

    /// Errors by which the store refuses what a batch's messages produce (a
    /// constraint, a value too big or of the wrong type): they come back with
    /// the same input. A full disk, a lock or an I/O error are the
    /// environment's: the batch is retried as it is, never set aside.
    static func refusesInput(_ error: DatabaseError) -> Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_TOOBIG, .SQLITE_MISMATCH, .SQLITE_RANGE].contains(error.resultCode.primaryResultCode)
    }

    /// The seqs of the inbox rows after `after` through `through`, oldest first, at most `limit`.
    public func inboxSeqs(after: Int64, through: Int64, limit: Int) throws -> [Int64] {
        try inboxWriter.read { db in
            try Int64.fetchAll(db, sql: "SELECT seq FROM inbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", arguments: [after, through, limit])
        }
    }
}
