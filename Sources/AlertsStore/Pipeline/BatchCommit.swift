import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// Where the pipeline stands in the inbox after a batch: the cursor the
/// batch's commit moves, and the crash-quarantine state it commits with it.
public struct BatchCursor: Sendable, Hashable {
    /// The seq of the batch's last inbox row (processed through it).
    public var inboxSeq: Int64
    /// Rows through this seq are processed one per transaction (0: none): while it is
    /// past `inboxSeq`, the in-progress mark stays (with its stop count reset) for them.
    public var isolateThrough: Int64 = 0
    /// The engine's watermark after the batch (`RiskEngine.watermark`; nil before its first
    /// detection), kept with the cursor so a restart measures lateness from where it stood.
    public var watermark: Date?
    /// The engine's next sweep after the batch (`RiskEngine.nextSweep`), kept for the same reason.
    public var nextSweep: Date?
    /// A cursor. The engine's watermark and next sweep are always given: a commit writes them
    /// over the stored ones, so a default would silently reset what a restart restores.
    public init(inboxSeq: Int64, isolateThrough: Int64 = 0, watermark: Date?, nextSweep: Date?) {
        self.inboxSeq = inboxSeq
        self.isolateThrough = isolateThrough
        self.watermark = watermark
        self.nextSweep = nextSweep
    }

    /// The watermark as the `pipeline_cursor.watermark` column holds it: 0 for none
    /// (NULL is a store written before the column, whose restore falls back to the event log).
    public var storedWatermark: Double { watermark?.timeIntervalSince1970 ?? 0 }
}

/// What a commit reports back.
public struct CommitReceipt: Sendable, Hashable {
    /// The change log's newest seq as the commit left it: slips changed after it were changed by
    /// someone else (`BatchStage.run`'s `closedElsewhere` of the next batch).
    public var changesSeen: Int64
    /// A receipt (public for the second store, AlertsStorePostgres).
    public init(changesSeen: Int64) { self.changesSeen = changesSeen }
}

/// The pipeline's view of a store, one batch at a time: what a batch reads
/// before `BatchStage` runs, and its one write. A second store (PostgreSQL)
/// implements this; `DisputeStore` is the SQLite one.
public protocol PipelineStore {
    /// One batch's transaction.
    associatedtype Batch: PipelineBatchTransaction
    /// Runs `body` in one write transaction: everything it commits commits together, or nothing.
    /// `outputPrefix` is the `{prefix}` of the topics slips and cases are published on.
    func batch<T>(outputPrefix: String, _ body: (Batch) throws -> T) throws -> T
}

/// The reads and the write of one batch, inside its transaction.
public protocol PipelineBatchTransaction {
    /// The newest event time the event log holds (unix seconds; 0 when empty).
    func newestEventTime() throws -> Double
    /// Warning slips someone else closed after the change log's seq `seq` (a case action).
    func slipsClosed(after seq: Int64) throws -> Set<String>
    /// Which of `keys` the store holds already (the duplicate check).
    func knownKeys(_ keys: [String]) throws -> Set<EventKey>
    /// The event times of each device's check-ins the store holds just before and after each
    /// given time (strictly, any status): what `PatrolStage.slotsConcerned(by:neighbours:)` and
    /// the batch's `PatrolLedger` need.
    func patrolNeighbours(_ checkins: [PatrolCheckinAt]) throws -> [PatrolCheckinAt: PatrolNeighbours]
    /// The patrol state of the slots `ids`: their verdicts (decided slots only), which of them
    /// have a reminder letter (by its trigger, `PatrolStage.letterTrigger(slotID:)`), and the
    /// highest reminder letter seq. The ledger's neighbours are left empty.
    func patrolLedger(slots ids: [String]) throws -> PatrolLedger
    /// How far the missed-checkpoint scheduler has evaluated (nil on a new store).
    func patrolEvaluatedUntil() throws -> Date?
    /// Writes everything `outcome` holds and moves the cursor: the batch's one write.
    /// Patrol effects are applied first, in order; cases are published as stored (a
    /// person may have moved one on since the engine saw it).
    func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date) throws -> CommitReceipt
    /// `commit(_:cursor:now:)`, calling `mark` (when given) after each part of the write with the
    /// stage its time goes to (`bench pipeline`'s profile). Stores that do not profile ignore it.
    func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date,
                mark: ((WritableKeyPath<StageProfile, Double>) -> Void)?) throws -> CommitReceipt
    /// Writes a scheduler tick's misses and moves its evaluated instant: the tick's one write.
    func commit(_ tick: PatrolTickOutcome, now: Date) throws
}

extension PipelineBatchTransaction {
    /// The commit, without a profile.
    public func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date,
                       mark: ((WritableKeyPath<StageProfile, Double>) -> Void)?) throws -> CommitReceipt {
        try commit(outcome, cursor: cursor, now: now)
    }
}

extension DisputeStore: PipelineStore {
    /// One batch's transaction on the store file's writer.
    public func batch<T>(outputPrefix: String, _ body: (SQLiteBatch) throws -> T) throws -> T {
        try writer.write { db in try body(SQLiteBatch(db: db, outputPrefix: outputPrefix)) }
    }

    /// Commits one batch's outcome in a transaction of its own.
    @discardableResult
    public func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date, outputPrefix: String) throws -> CommitReceipt {
        try batch(outputPrefix: outputPrefix) { try $0.commit(outcome, cursor: cursor, now: now) }
    }
}

/// A batch's transaction on the SQLite store. The statements that run once
/// per event or item are prepared once and bound through the C API (`RawStatement`).
public struct SQLiteBatch: PipelineBatchTransaction {
    let db: Database
    /// `{prefix}` of `{prefix}/out/slips` and `{prefix}/out/cases`.
    let outputPrefix: String
    /// When set, called after each part of the commit with the stage its time goes to (`bench pipeline`).
    var mark: ((WritableKeyPath<StageProfile, Double>) -> Void)? = nil

    /// The newest event time the event log holds (unix seconds; 0 when empty).
    public func newestEventTime() throws -> Double {
        try EventLog.maxTime(db: db)
    }

    /// Warning slips someone else closed after the change log's seq `seq` (a case action).
    public func slipsClosed(after seq: Int64) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: """
            SELECT DISTINCT s.id FROM changes c JOIN slips s ON s.id = c.subject
            WHERE c.seq > ? AND c.kind = 'slip' AND s.kind = 'warning' AND s.state = 'closed'
            """), arguments: [seq]))
    }

    /// Which of `keys` the store holds already (the duplicate check).
    public func knownKeys(_ keys: [String]) throws -> Set<EventKey> {
        try EventKeys.known(keys, db: db)
    }

    /// The commit with `mark` called after each part of it (`bench pipeline`).
    public func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date,
                       mark: ((WritableKeyPath<StageProfile, Double>) -> Void)?) throws -> CommitReceipt {
        var profiled = self
        profiled.mark = mark
        return try profiled.commit(outcome, cursor: cursor, now: now)
    }

    /// Writes a batch's outcome and its cursor in one transaction, returning what was committed.
    public func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date) throws -> CommitReceipt {
        try write(patrol: outcome.patrol, now: now)
        try EventKeys.insert(outcome.eventKeys, db: db)
        let status = try db.cachedStatement(sql: "UPDATE cameras SET status = ?, status_at = ? WHERE id = ? AND (status_at IS NULL OR status_at <= ?)")
        let drillStatus = try db.cachedStatement(sql: """
            UPDATE cameras SET drill_status = ?, drill_status_at = ? WHERE id = ? AND (drill_status_at IS NULL OR drill_status_at <= ?)
            """)
        for s in outcome.cameraStatuses {
            try (s.drill ? drillStatus : status).execute(arguments: [s.status.rawValue, s.at.timeIntervalSince1970, s.camera, s.at.timeIntervalSince1970])
        }
        let dead = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for d in outcome.deadLetters {
            let record = d.record
            try dead.execute(arguments: [record.key, d.error.deadLetterReason.rawValue, d.error.detail, record.topic, Data(record.payload),
                                         record.oversized?.size ?? record.payload.count, record.receivedAt.timeIntervalSince1970,
                                         now.timeIntervalSince1970, record.oversized?.sha256])
        }
        try UnmappedInputs.record(outcome.unmapped.mapValues { ($0.count, $0.first, $0.last) }, db: db)
        try db.cachedStatement(sql: "UPDATE pipeline_cursor SET inbox_seq = ?, watermark = ?, next_sweep = ? WHERE id = 1")
            .execute(arguments: [cursor.inboxSeq, cursor.storedWatermark, cursor.nextSweep?.timeIntervalSince1970])
        // The batch is done: its mark goes with it (while isolating, it stays for the suspects after it).
        if cursor.isolateThrough > cursor.inboxSeq {
            try db.cachedStatement(sql: "UPDATE pipeline_inflight SET stops = 0 WHERE id = 1").execute()
        } else {
            try db.cachedStatement(sql: "DELETE FROM pipeline_inflight").execute()
        }
        var log = EventLogEncoder(capacity: outcome.eventLog.count)
        for e in outcome.eventLog {
            log.append(time: e.time, itemID: e.itemID, zone: e.zone, category: e.category.rawValue, counted: e.counted)
        }
        try log.write(db: db)
        if outcome.lateEvents > 0 {
            try db.cachedStatement(sql: "INSERT INTO counters(name, value) VALUES ('late_events', ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value")
                .execute(arguments: [outcome.lateEvents])
        }
        mark?(\.eventRows)
        try write(items: outcome.items.values)
        mark?(\.itemRows)
        try write(slips: outcome.slips)
        if !outcome.slipCountStarts.isEmpty {
            // Slips a case action closed: their count start, beside their closing (kept once set).
            let start = try db.cachedStatement(sql: "UPDATE slips SET count_after = COALESCE(count_after, ?) WHERE id = ?")
            for (id, at) in outcome.slipCountStarts.sorted(by: { $0.key < $1.key }) { try start.execute(arguments: [at.timeIntervalSince1970, id]) }
        }
        mark?(\.slipRows)
        let audit = try db.cachedStatement(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, ?, ?)")
        for slip in outcome.issuedSlips {
            try audit.execute(arguments: [now.timeIntervalSince1970, slip.id, "slip.issued", slip.text])
        }
        let out = try db.cachedStatement(sql: "INSERT INTO outbox(topic, payload, created_at) VALUES (?, ?, ?)")
        for change in outcome.slips where change.publish {
            try out.execute(arguments: ["\(outputPrefix)/out/slips", Data(change.slip.json.serialized.utf8), now.timeIntervalSince1970])
        }
        for change in outcome.cases {
            let c = change.value
            let newItems = try change.newItems
                ?? { let linked = Set(try String.fetchAll(db, sql: "SELECT risk_item_id FROM case_items WHERE case_id = ?", arguments: [c.id]))
                     return c.riskItemIDs.filter { !linked.contains($0) } }()
            try write(case: c, evidenceFrom: change.evidenceFrom, evidenceAt: change.evidenceAt, isNew: change.isNew, newItems: newItems, now: now)
            let rerouted = try change.reroute.map { try apply($0, isNew: change.isNew, now: now) } ?? false
            guard change.publish || rerouted else { continue }
            if !change.isNew, !newItems.isEmpty {
                try audit.execute(arguments: [now.timeIntervalSince1970, c.id, "case.evidence", "evidence: " + newItems.joined(separator: ", ")])
            }
            // Published as stored: a case a person has moved on keeps its state.
            if let stored = try DisputeStore.fetchCase(id: c.id, db: db) {
                try out.execute(arguments: ["\(outputPrefix)/out/cases", Data(stored.json.serialized.utf8), now.timeIntervalSince1970])
            }
        }
        return CommitReceipt(changesSeen: try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM changes")) ?? 0)
    }

    /// A new case is inserted whole; new evidence changes only what evidence
    /// decides (items, sources, categories, severity, deadline, explanation),
    /// never what people decide (state, assignee, resolution).
    private func write(case c: Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool, newItems: [String], now: Date) throws {
        if isNew {
            try DisputeStore.write(case: c, evidenceAt: evidenceAt, db: db)
            try db.execute(sql: "UPDATE cases SET evidence_from = ? WHERE id = ?", arguments: [evidenceFrom.timeIntervalSince1970, c.id])
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'case.opened', ?)",
                           arguments: [now.timeIntervalSince1970, c.id, c.explanation])
            return
        }
        let update = try db.cachedStatement(sql: """
            UPDATE cases SET category = ?, severity = ?, due_at = MIN(due_at, ?), updated_at = ?, evidence_at = MAX(COALESCE(evidence_at, 0), ?),
                evidence_from = MIN(COALESCE(evidence_from, ?), ?),
                explanation = ?, sources = ?, categories = ?, drill = ?
            WHERE id = ?
            """)
        try update.execute(arguments: [c.category.rawValue, c.severity.rawValue, c.dueAt.timeIntervalSince1970, now.timeIntervalSince1970,
                                       evidenceAt.timeIntervalSince1970, evidenceFrom.timeIntervalSince1970, evidenceFrom.timeIntervalSince1970, c.explanation,
                                       StoredList.encode(c.sources), StoredList.encode(c.categories.map(\.rawValue)), c.drill, c.id])
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO case_items(case_id, risk_item_id) VALUES (?, ?)")
        for id in newItems { try link.execute(arguments: [c.id, id]) }
    }

    /// Moves a case to the district's unit (`CaseStage.reroute`) unless it has
    /// ended (resolved, closed, false alarm): the unit, a `reroute` transition
    /// by `patrolhub` (state unchanged) and its `audit_log` row, in the batch's
    /// transaction. Returns whether it did (the case is then published again).
    private func apply(_ r: CaseReroute, isNew: Bool, now: Date) throws -> Bool {
        guard let row = try Row.fetchOne(db, sql: "SELECT state, unit FROM cases WHERE id = ?", arguments: [r.caseID]),
              let state = Case.State(rawValue: row["state"]), state.isOpen else { return false }
        // A case opened in this batch was inserted with its new unit already; otherwise the stored unit decides.
        guard isNew || (row["unit"] as String?) != r.toUnit else { return false }
        try db.execute(sql: "UPDATE cases SET unit = ?, updated_at = ? WHERE id = ?", arguments: [r.toUnit, now.timeIntervalSince1970, r.caseID])
        let detail: JSONValue = .object(["from_unit": r.fromUnit.map(JSONValue.string) ?? .null, "to_unit": .string(r.toUnit), "evidence": .string(r.evidence)])
        let t = CaseTransition(caseID: r.caseID, at: now, actor: "patrolhub", action: .reroute, from: state, to: state, note: r.note, detail: detail)
        try DisputeStore.append(t, db: db)
        try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'case.reroute', ?)",
                       arguments: [now.timeIntervalSince1970, r.caseID, "\(state.rawValue) → \(state.rawValue) \(detail.serialized): \(r.note)"])
        return true
    }

    private func write(items: some Collection<RiskItem>) throws {
        // Most items written in a batch exist already: update first, insert when nothing was there
        // (cheaper than INSERT … ON CONFLICT, which tries the insert and its constraints first).
        let update = try RawStatement(db, """
            UPDATE risk_items SET severity = ?2, first_seen = ?3, last_seen = ?4, occurrences = ?5, state = ?6, suppressed_by = ?7,
                lifecycle = ?8, late = ?9, late_reason = ?10, location_mismatch = ?11, location_distance_m = ?12, time_source = ?13
            WHERE id = ?1
            """)
        let insert = try RawStatement(db, """
            INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                                   occurrences, state, suppressed_by, lifecycle, lat, lon, drill,
                                   late, late_reason, location_mismatch, location_distance_m, time_source)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for i in items {
            update.reset()
            update.bind(1, i.id)
            update.bind(2, i.severity.rawValue)
            update.bind(3, i.firstSeen.timeIntervalSince1970)
            update.bind(4, i.lastSeen.timeIntervalSince1970)
            update.bind(5, i.occurrences)
            update.bind(6, i.state.rawValue)
            update.bind(7, i.suppressedBy)
            update.bind(8, i.lifecycle)
            Self.bindTimeAndPlace(update, from: 9, i)
            try update.step(db)
            if sqlite3_changes(db.sqliteConnection) > 0 { continue }
            insert.reset()
            insert.bind(1, Int(i.id.dropFirst(3)) ?? 0)
            insert.bind(2, i.id)
            insert.bind(3, i.source)
            insert.bind(4, i.sourceKind.rawValue)
            insert.bind(5, i.category.rawValue)
            insert.bind(6, i.severity.rawValue)
            insert.bind(7, i.zone)
            insert.bind(8, i.unit)
            insert.bind(9, i.worker)
            insert.bind(10, i.firstSeen.timeIntervalSince1970)
            insert.bind(11, i.lastSeen.timeIntervalSince1970)
            insert.bind(12, i.occurrences)
            insert.bind(13, i.state.rawValue)
            insert.bind(14, i.suppressedBy)
            insert.bind(15, i.lifecycle)
            insert.bind(16, i.location?.lat)
            insert.bind(17, i.location?.lon)
            insert.bind(18, i.drill)
            Self.bindTimeAndPlace(insert, from: 19, i)
            try insert.step(db)
        }
    }

    /// Binds the item's lateness and placement columns, in the order both item statements
    /// list them (`late`, `late_reason`, `location_mismatch`, `location_distance_m`,
    /// `time_source`), from parameter `first` on.
    @inline(__always)
    private static func bindTimeAndPlace(_ statement: RawStatement, from first: Int32, _ i: RiskItem) {
        statement.bind(first, i.late)
        statement.bind(first + 1, i.lateReason)
        statement.bind(first + 2, i.locationMismatch)
        statement.bind(first + 3, i.locationDistance)
        statement.bind(first + 4, i.timeSource.rawValue)
    }

    /// Upserts the slips and links their new items.
    private func write(slips: [BatchOutcome.SlipChange]) throws {
        let update = try RawStatement(db, """
            UPDATE slips SET severity = ?2, updated_at = ?3, case_id = ?5, occurrences = ?6,
                -- A slip once closed stays closed, whoever closed it.
                state = CASE WHEN state = 'closed' THEN state ELSE ?4 END,
                closed_at = COALESCE(closed_at, ?7), close_reason = COALESCE(close_reason, ?8), count_after = COALESCE(count_after, ?9)
            WHERE id = ?1
            """)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text, occurrences,
                              closed_at, close_reason, count_after)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)")
        for change in slips {
            let s = change.slip
            update.reset()
            update.bind(1, s.id)
            update.bind(2, s.severity.rawValue)
            update.bind(3, s.updatedAt.timeIntervalSince1970)
            update.bind(4, s.state.rawValue)
            update.bind(5, s.caseID)
            update.bind(6, s.occurrences)
            update.bind(7, s.closedAt?.timeIntervalSince1970)
            update.bind(8, s.closeReason)
            update.bind(9, s.countAfter?.timeIntervalSince1970)
            try update.step(db)
            if sqlite3_changes(db.sqliteConnection) == 0 {
                try insert.execute(arguments: [
                    Int(s.id.split(separator: "-").last ?? "") ?? 0, s.id, s.kind.rawValue, s.zone, s.category.rawValue,
                    s.severity.rawValue, s.unit, s.worker, s.issuedAt.timeIntervalSince1970, s.updatedAt.timeIntervalSince1970,
                    change.anchor.timeIntervalSince1970, s.state.rawValue, s.caseID, s.text, s.occurrences,
                    s.closedAt?.timeIntervalSince1970, s.closeReason, s.countAfter?.timeIntervalSince1970,
                ])
            }
            for id in change.newItems { try link.execute(arguments: [s.id, id]) }
        }
    }
}
