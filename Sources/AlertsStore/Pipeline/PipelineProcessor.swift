import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// What one pass over the inbox did.
public struct BatchResult: Sendable, Equatable {
    public var messages = 0
    public var events = 0
    public var duplicates = 0
    public var deadLetters = 0
    public var itemsChanged = 0
    public var slipsChanged = 0
    public var casesChanged = 0
    /// What the batch took from the inbox, by input kind, with receive times (the hub's metrics).
    public var inputs = BatchInputs()
    public init() {}
}

/// Where a pipeline thread's CPU time went, by stage (for `bench pipeline`).
public struct StageProfile: Sendable, Equatable {
    public var read = 0.0, decode = 0.0, dedup = 0.0, rules = 0.0, eventRows = 0.0, itemRows = 0.0, slipRows = 0.0, outcomes = 0.0, commit = 0.0
    public init() {}
    public var total: Double { read + decode + dedup + rules + eventRows + itemRows + slipRows + outcomes + commit }

    /// The calling thread's CPU time in seconds.
    @inline(__always) public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Consumes the durable inbox in batches: decode → dead letters, event-key
/// dedup, the risk engine, and the outcomes — all written in one
/// transaction with the "processed" marks, so a crash anywhere either keeps
/// the whole batch or none of it, and a restart resumes where it stopped.
///
/// Not `Sendable`: one pipeline task owns it.
public final class PipelineProcessor {
    public let store: DisputeStore
    public var decode: DecodeStage
    public private(set) var engine: RiskEngine
    public let outputPrefix: String
    /// Patrol supervision (check-ins → slots; the missed-checkpoint scheduler); nil without a patrol plan.
    public let patrol: PatrolStage?
    let clock: @Sendable () -> Date

    /// What was last written about each slip and case in this process: its
    /// linked items (append-only lists), severity and case. A change that only
    /// moves counters or times updates the row but is not linked, audited or
    /// published again; a new item, a severity or a case link is. After a
    /// restart the first change of each is published once more (at least once).
    /// (A case's category changes only with its severity, so a case needs no more.)
    struct Published: Equatable { var items: Int; var severity: Severity; var caseID: String? = nil; var closed = false }
    var published: [String: Published] = [:]
    /// How long event keys are kept behind the newest event time (`retention.event_keys_hours`;
    /// nil: for ever). An event older than the newest event time minus this could be a
    /// duplicate whose key is gone: it is dead-lettered as `too_old` (Housekeeper.swift).
    public var keyRetention: TimeInterval?
    /// `published` is pruned to the open slips and cases when it grows past this
    /// (twice what was left at the last pruning): bounded by open state, not by events.
    var publishedLimit = PipelineProcessor.minPublishedLimit
    static let minPublishedLimit = 4096
    /// Slips and cases in `published` (for `bench memory`).
    public var publishedCount: Int { published.count }
    /// When set, CPU time per stage is added up here (costs a clock read per stage and event).
    public var profile: StageProfile?
    /// The change log's newest seq after this process's last batch: slips changed after
    /// it were changed by someone else (a case action closing its case's warning slips).
    var changesSeen: Int64 = 0

    // Crash quarantine (see `recover()`).
    /// What the previous process recorded about its stop; set before the first batch.
    public var trapRecorder: TrapRecorder?
    var recovered = false
    /// Inbox rows through this seq are processed one per transaction (0: batches as usual).
    public private(set) var isolateThrough: Int64 = 0
    /// Unclean stops already seen in the batch after the current cursor (until a batch commits).
    var carriedStops = 0
    /// The keys of messages that crashed the pipeline: a copy is dead-lettered without being decoded.
    var crashedKeys: Set<MessageKey> = []
    struct MessageKey: Hashable { var high: UInt64, low: UInt64 }

    public init(store: DisputeStore, decode: DecodeStage, engine: RiskEngine, outputPrefix: String, patrol: PatrolStage? = nil,
                clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.store = store
        self.decode = decode
        self.engine = engine
        self.outputPrefix = outputPrefix
        self.patrol = patrol
        self.clock = clock
        try reload()
    }

    /// Rebuilds the engine's windows from the store (at start).
    public func reload() throws {
        let rules = engine.rules
        // The change log's position is read with the snapshot: a slip a case action closes after it is seen by the next batch.
        let (snapshot, seen) = try store.writer.read { db -> (RiskEngine.Snapshot, Int64) in
            var s = RiskEngine.Snapshot()
            let maxTime = try EventLog.maxTime(db: db)
            // Every open item: the engine's first sweep closes those quiet for longer than its item
            // horizon that no end holds open (as a running engine does), so none stays open for ever.
            s.openItems = try Row.fetchAll(db, sql: "SELECT * FROM risk_items WHERE state = 'open'").map(RiskItem.init(row:))
            // What a window ending at an event that is not late can still see (as the running engine keeps).
            let window = rules.cases.window
            let logged = try EventLog.counted(since: maxTime - max(rules.groupWindow, window) - rules.lateness, db: db)
            s.recentOccurrences = logged.filter { $0.time >= maxTime - rules.groupWindow - rules.lateness }.map {
                (Date(timeIntervalSince1970: $0.time), $0.itemID, $0.zone, Category(rawValue: $0.category) ?? .other)
            }
            let slipRows = try Row.fetchAll(db, sql: "SELECT * FROM slips WHERE kind = 'warning' AND anchor >= ?", arguments: [maxTime - rules.repeatInterval - rules.groupWindow])
            for row in slipRows {
                let ids = try String.fetchAll(db, sql: "SELECT risk_item_id FROM slip_items WHERE slip_id = ? ORDER BY risk_item_id", arguments: [row["id"] as String])
                s.recentSlips.append((Slip(row: row, itemIDs: ids), Date(timeIntervalSince1970: row["anchor"])))
            }
            // Which of those items are drills: a drill's occurrences and slips are windows of their own.
            var windowItems = Set(s.recentOccurrences.map(\.itemID))
            for (slip, _) in s.recentSlips { windowItems.formUnion(slip.riskItemIDs) }
            let windowIDs = windowItems.sorted()
            for chunk in stride(from: 0, to: windowIDs.count, by: 500) {
                let part = Array(windowIDs[chunk..<min(chunk + 500, windowIDs.count)])
                s.drillItemIDs.formUnion(try String.fetchAll(db, sql: "SELECT id FROM risk_items WHERE drill = 1 AND id IN (\(databaseQuestionMarks(count: part.count)))",
                                                             arguments: StatementArguments(part)))
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, status FROM cameras WHERE status != 'unknown'") {
                if let st = CameraStatus(rawValue: row[1]) { s.cameraStatus[row[0]] = st }
            }
            s.lastItemSeq = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM risk_items") ?? 0
            s.lastSlipSeq = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = 'warning'") ?? 0
            s.watermark = maxTime > 0 ? Date(timeIntervalSince1970: maxTime) : nil
            // Correlation: cases whose window may still take evidence, and the recent unmuted evidence.
            for row in try Row.fetchAll(db, sql: "SELECT * FROM cases WHERE evidence_at >= ?", arguments: [maxTime - 3 * window - rules.lateness]) {
                let through = Date(timeIntervalSince1970: row["evidence_at"])
                let from = (row["evidence_from"] as Double?).map(Date.init(timeIntervalSince1970:)) ?? through
                s.recentCases.append((try Case(row: row, db: db), from, through))
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
        changesSeen = seen
        engine.restore(snapshot)
    }

    /// Processes up to `limit` pending inbox rows; returns what it did.
    @discardableResult
    public func processPending(limit: Int) throws -> BatchResult {
        if !recovered { try recover() }
        let t = profile != nil ? StageProfile.now() : 0
        var records = try store.pending(limit: isolateThrough > 0 ? 1 : limit)
        if isolateThrough > 0, let first = records.first, first.seq > isolateThrough {
            isolateThrough = 0 // the suspects are done: batches again
            records = try store.pending(limit: limit)
        }
        if profile != nil { profile!.read += StageProfile.now() - t }
        guard !records.isEmpty else { return BatchResult() }
        var result = try process(records)
        result.inputs = BatchInputs(records, router: decode.router)
        return result
    }

    // MARK: - Crash quarantine

    /// What `recover()` found and did.
    public struct Recovery: Sendable, Equatable {
        /// How the previous process stopped (from the trap recorder).
        public var previousStop: PipelineStop = .unknown
        /// The inbox seqs that were in progress when it stopped uncleanly (nil after a clean stop).
        public var inProgress: ClosedRange<Int64>?
        /// Unclean stops seen in that batch so far.
        public var stops = 0
        /// The inbox seq and key of the message dead-lettered as `crashed`, if the batch was that one message.
        public var crashedSeq: Int64?
        public var crashedKey: String?
        /// Rows through this seq are processed one at a time (0: none).
        public var isolateThrough: Int64 = 0
        /// The message that stopped the hub was kept: too many were set aside in the last hour.
        public var limitReached = false
    }

    /// Finds the batch the previous process was working on when it stopped,
    /// from the durable mark written before each batch and cleared with its
    /// outcomes, and decides what to do with it:
    ///
    /// - after a trap in that batch (or a second unclean stop in it), its
    ///   messages are processed one per transaction, each under its own mark;
    /// - when the batch in progress was one message, and the process trapped
    ///   on it (or stopped in it twice), that message is the culprit: it becomes
    ///   a `crashed` dead letter with its bytes, and the pipeline goes on;
    /// - after one unclean stop without a trap (`kill -9`, power loss) the
    ///   batch is simply retried; that stop is remembered in the next mark.
    ///
    /// Runs once, before the first batch (`processPending` calls it).
    @discardableResult
    public func recover() throws -> Recovery {
        recovered = true
        var report = Recovery()
        report.previousStop = trapRecorder?.previousStop ?? .unknown
        let keys = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT inbox_key FROM dead_letters WHERE reason = 'crashed'") }
        for hex in keys where hex.utf8.count == 32 {
            if let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16) {
                crashedKeys.insert(MessageKey(high: high, low: low))
            }
        }
        let cursor = try store.cursor()
        guard let mark = try store.writer.read({ db in
            try Row.fetchOne(db, sql: "SELECT last_seq, isolate_through, stops FROM pipeline_inflight WHERE id = 1")
        }) else { return report }
        let lastSeq: Int64 = mark[0], through: Int64 = mark[1], stops: Int = mark[2]
        guard lastSeq > cursor else {
            // No batch was in progress (an isolated message had committed): isolation goes on.
            isolateThrough = through > cursor ? through : 0
            report.isolateThrough = isolateThrough
            return report
        }
        let seqs = try store.inboxWriter.read { db in
            try Int64.fetchAll(db, sql: "SELECT seq FROM inbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 2", arguments: [cursor, lastSeq])
        }
        guard let first = seqs.first else { // pruned or gone: nothing left to suspect
            try store.writer.write { db in try db.execute(sql: "DELETE FROM pipeline_inflight") }
            return report
        }
        report.inProgress = first...lastSeq
        var trapped = false
        switch report.previousStop {
        case .trap: trapped = true; report.stops = stops + 1
        case .unknown: report.stops = stops + 1
        case .error: report.stops = stops // it said why it stopped: not a crash
        }
        let suspect = trapped || report.stops >= 2
        if suspect, seqs.count == 1, try recentSetAside(.crashed) >= Self.maxSetAsidePerHour {
            // Message after message "crashes": the fault is the hub's, not the input's. Keep the
            // message (the hub stops on it again, and an operator looks) rather than empty the inbox.
            report.limitReached = true
            isolateThrough = max(lastSeq, through)
        } else if suspect, seqs.count == 1 {
            if let key = try deadLetterCrashed(seq: first, trapped: trapped, stops: report.stops, isolateThrough: through) {
                report.crashedSeq = first
                report.crashedKey = key
            }
            isolateThrough = through > first ? through : 0
        } else if suspect {
            isolateThrough = max(lastSeq, through)
        } else {
            carriedStops = report.stops
            isolateThrough = through > cursor ? through : 0
        }
        report.isolateThrough = isolateThrough
        return report
    }

    /// The message that stopped the process becomes a `crashed` dead letter, and the cursor moves past it.
    private func deadLetterCrashed(seq: Int64, trapped: Bool, stops: Int, isolateThrough through: Int64) throws -> String? {
        guard let record = try store.inboxRecord(seq: seq) else { return nil }
        let how = trapped
            ? "the hub trapped while processing this message alone (after a trap in its batch)"
            : "the hub stopped \(stops) times while processing this message alone"
        try setAside(record, DecodeError(.crashed, "\(how); it is set aside and not processed again (nor are copies of the same bytes)"),
                     isolateThrough: through)
        crashedKeys.insert(MessageKey(high: record.keyHigh, low: record.keyLow))
        return record.key
    }

    /// A dead letter for one message processed alone, with the cursor moved past it, in one transaction.
    private func setAside(_ record: InboxRecord, _ error: DecodeError, isolateThrough through: Int64) throws {
        let now = clock()
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.key, error.reason.rawValue, error.detail, record.topic, Data(record.payload),
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

    /// Errors by which the store refuses what a batch's messages produce (a
    /// constraint, a value too big or of the wrong type): they come back with
    /// the same input. A full disk, a lock or an I/O error are the
    /// environment's: the batch is retried as it is, never set aside.
    static func refusesInput(_ error: DatabaseError) -> Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_TOOBIG, .SQLITE_MISMATCH, .SQLITE_RANGE].contains(error.resultCode.primaryResultCode)
    }

    /// At most this many messages are set aside as `crashed`, and as many as
    /// `unprocessable`, per hour: more means the hub fails on everything (a bug,
    /// not bad input), and it stops instead of emptying the inbox into dead letters.
    public static let maxSetAsidePerHour = 20

    /// How many dead letters of this reason were written in the last hour.
    private func recentSetAside(_ reason: DecodeError.Reason) throws -> Int {
        let since = clock().addingTimeInterval(-3600).timeIntervalSince1970
        return try store.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters WHERE reason = ? AND created_at >= ?", arguments: [reason.rawValue, since]) ?? 0
        }
    }

    func process(_ records: [InboxRecord]) throws -> BatchResult {
        // The durable "in progress" mark: what a restart after a crash in this batch suspects.
        let lastSeq = records.last!.seq
        let stops = carriedStops
        let through = isolateThrough
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO pipeline_inflight(id, last_seq, isolate_through, stops, started_at) VALUES (1, ?, ?, ?, ?)
                """, arguments: [lastSeq, through, stops, clock().timeIntervalSince1970])
        }
        var result: BatchResult
        do {
            result = try TrapRecorder.inBatch { try processMarked(records) }
        } catch let error as DatabaseError where Self.refusesInput(error) {
            // The store refused this batch's outcomes because of what a message made of them:
            // the batch is processed one message at a time, and the message refused alone is set aside.
            guard records.count == 1 else {
                isolateThrough = max(isolateThrough, lastSeq)
                return BatchResult()
            }
            guard try recentSetAside(.unprocessable) < Self.maxSetAsidePerHour else { throw error }
            try setAside(records[0], DecodeError(.unprocessable, "the store refused what this message produced (\(error.message ?? "SQLite error \(error.resultCode.rawValue)")); set aside"),
                         isolateThrough: isolateThrough)
            result = BatchResult()
            result.messages = 1
            result.deadLetters = 1
        }
        carriedStops = 0
        if isolateThrough > 0, lastSeq >= isolateThrough { isolateThrough = 0 }
        return result
    }

    private func processMarked(_ records: [InboxRecord]) throws -> BatchResult {
        let now = clock()
        // Silences change from the CLI and the API: read them for every batch
        // (a small table; those that ended more than a day before now are skipped).
        engine.silences = try store.silences(endingAfter: now.addingTimeInterval(-86_400))
        let before = (engine, published, changesSeen)
        if published.count > publishedLimit {
            // Only the slips and cases the engine holds open can change again through it: the
            // rest are forgotten (a later change of one is published once more, at worst).
            let held = engine.heldIDs
            published = published.filter { held.contains($0.key) }
            publishedLimit = max(Self.minPublishedLimit, 2 * published.count)
        }
        do {
            var t = 0.0
            let result = try store.writer.write { db in
                let r = try self.apply(records, now: now, db: db)
                if profile != nil { t = StageProfile.now() }
                return r
            }
            if profile != nil { profile!.commit += StageProfile.now() - t }
            return result
        } catch {
            (engine, published, changesSeen) = before // the transaction rolled back: so do the windows
            throw error
        }
    }

    /// Runs the missed-checkpoint scheduler up to `now` (default: the clock) in
    /// one transaction; missed_checkpoint items take ids from the engine's counter.
    @discardableResult
    public func tickPatrol(now: Date? = nil) throws -> PatrolTickResult {
        guard let patrol else { return PatrolTickResult() }
        let before = engine
        do {
            return try store.writer.write { db in try patrol.tick(now: now ?? self.clock(), db: db) { self.engine.allocateItemID() } }
        } catch {
            engine = before
            throw error
        }
    }

    private func apply(_ records: [InboxRecord], now: Date, db: Database) throws -> BatchResult {
        var result = BatchResult()
        var items: [String: RiskItem] = [:]
        var slips: [String: (slip: Slip, anchor: Date)] = [:]
        var newSlips: [Slip] = []
        var cases: [String: (value: Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool)] = [:]
        var reroutes: [String: CaseReroute] = [:]
        var log = EventLogEncoder(capacity: records.count)
        let dead = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let status = try db.cachedStatement(sql: "UPDATE cameras SET status = ?, status_at = ? WHERE id = ? AND (status_at IS NULL OR status_at <= ?)")
        let profiling = profile != nil
        var p = profile ?? StageProfile()
        var t = profiling ? StageProfile.now() : 0
        /// Adds the time since the last mark to a stage (only when profiling).
        func mark(_ stage: WritableKeyPath<StageProfile, Double>) {
            guard profiling else { return }
            let n = StageProfile.now()
            p[keyPath: stage] += n - t
            t = n
        }
        defer { if profiling { mark(\.outcomes); profile = p } }
        // Local copies: calling into the stored structs copied them (with their retains) for every message.
        let decode = self.decode
        let patrol = self.patrol
        let checkins = patrol != nil
        try forgetSlipsClosedElsewhere(db: db)
        let lateBefore = engine.lateEvents

        // 1. Decode the whole batch, so that its event keys go to the store together.
        var decoded: [(index: Int, events: [NormalizedEvent], firstKey: Int)] = []
        decoded.reserveCapacity(records.count)
        var failures: [(index: Int, error: DecodeError)] = []
        var keys: [String] = []
        keys.reserveCapacity(records.count)
        var keyTimes: [Double] = []
        keyTimes.reserveCapacity(records.count)
        let tooOldBefore = try keyRetention.map { try EventLog.maxTime(db: db) - $0 }
        // Foreign inputs no rule maps: counted in this transaction (UnmappedInputs).
        var unmappedSeen: [UnmappedInput: (count: Int, first: Double, last: Double)] = [:]
        let maxPayloadBytes = decode.maxPayloadBytes
        let crashedKeys = self.crashedKeys
        for (index, record) in records.enumerated() {
            if let o = record.oversized {
                failures.append((index, DecodeError(.oversized, "payload is \(o.size) bytes, the limit is \(maxPayloadBytes) (limits.max_payload_bytes); only its first \(record.payload.count) bytes are kept, SHA-256 \(o.sha256)")))
                continue
            }
            if !crashedKeys.isEmpty, crashedKeys.contains(MessageKey(high: record.keyHigh, low: record.keyLow)) {
                failures.append((index, DecodeError(.crashed, "the same bytes as a message that crashed the hub (dead letter \(record.key)); not processed again")))
                continue
            }
            do {
                var unmapped: UnmappedInput?
                let events = try decode.decode(topic: record.topic, payload: record.payload, now: now, receivedAt: record.receivedAt, unmapped: &unmapped)
                if let unmapped {
                    let t = record.receivedAt.timeIntervalSince1970
                    let seen = unmappedSeen[unmapped]
                    unmappedSeen[unmapped] = ((seen?.count ?? 0) + 1, min(seen?.first ?? t, t), max(seen?.last ?? t, t))
                }
                if let tooOldBefore, let old = events.first(where: { $0.time.timeIntervalSince1970 < tooOldBefore }) {
                    failures.append((index, DecodeError(.tooOld, "event time \(old.time.rfc3339) is more than retention.event_keys_hours (\(Int(keyRetention ?? 0) / 3600)) behind the newest event time: its duplicate check is gone, so it is not processed")))
                    continue
                }
                decoded.append((index, events, keys.count))
                for event in events {
                    keys.append(event.key)
                    keyTimes.append(event.time.timeIntervalSince1970)
                }
            } catch {
                failures.append((index, error))
            }
        }
        result.messages = records.count
        mark(\.decode)
        // 2. Record the keys: an event whose key the store held, or an earlier event of
        // this batch had, is a duplicate.
        let fresh = try EventKeys.record(keys, times: keyTimes, db: db)
        var forgotten: Set<String> = [] // keys recorded above and removed again: their messages were refused
        mark(\.dedup)
        // 3. The events, in order.
        var effects: [EngineEffect] = []
        for (index, events, firstKey) in decoded {
            var done = 0 // the events of this message handled so far
            do {
                for (k, event) in events.enumerated() {
                    done = k
                    var new = fresh[firstKey + k]
                    if !new, !forgotten.isEmpty, forgotten.contains(event.key) {
                        // A key removed again below is recorded again (the store decides: string
                        // equality is Unicode's, the key's uniqueness is its bytes').
                        new = try EventKeys.recordOne(event.key, time: event.time.timeIntervalSince1970, db: db)
                        if new { forgotten.remove(event.key) }
                    }
                    guard new else {
                        result.duplicates += 1
                        continue
                    }
                    do {
                        if checkins, case .checkin = event.kind {
                            try patrol?.record(event, now: now, db: db) { self.engine.allocateItemID() } // throws DecodeError before writing
                        }
                    } catch {
                        // A dead letter, not an accepted event: forget its key again.
                        try db.execute(sql: "DELETE FROM events WHERE key = ?", arguments: [event.key])
                        forgotten.insert(event.key)
                        throw error
                    }
                    result.events += 1
                    effects.removeAll(keepingCapacity: true)
                    engine.handle(event, now: now, into: &effects)
                    mark(\.rules)
                    for effect in effects {
                        switch effect {
                        case .item(let item):
                            items[item.id] = item
                        case .slip(let slip, let anchor, let isNew):
                            if isNew { newSlips.append(slip) }
                            slips[slip.id] = (slip, anchor)
                        case .cameraStatus(let camera, let st, let at):
                            try status.execute(arguments: [st.rawValue, at.timeIntervalSince1970, camera, at.timeIntervalSince1970])
                        case .accepted(_, let itemID, let zone, let category, let time, let counted):
                            log.append(time: time.timeIntervalSince1970, itemID: itemID, zone: zone, category: category.rawValue, counted: counted)
                        case .caseChanged(let value, let evidenceFrom, let evidenceAt, let isNew):
                            let previous = cases[value.id]
                            cases[value.id] = (value, min(evidenceFrom, previous?.evidenceFrom ?? evidenceFrom),
                                               max(evidenceAt, previous?.evidenceAt ?? evidenceAt), isNew || previous?.isNew == true)
                        case .caseRerouted(var r):
                            if let earlier = reroutes[r.caseID] { r.fromUnit = earlier.fromUnit }
                            reroutes[r.caseID] = r
                        }
                    }
                    mark(\.eventRows)
                }
            } catch let error as DecodeError {
                failures.append((index, error))
                // The message is a dead letter: the keys recorded for its events after the refused
                // one (never handled) are removed too, so that a later copy is not taken for a duplicate.
                for k in events.indices where k > done && fresh[firstKey + k] {
                    try db.execute(sql: "DELETE FROM events WHERE key = ?", arguments: [events[k].key])
                    forgotten.insert(events[k].key)
                }
            }
        }
        // Dead letters in inbox order, whichever stage refused them.
        for (index, error) in failures.sorted(by: { $0.index < $1.index }) {
            let record = records[index]
            result.deadLetters += 1
            try dead.execute(arguments: [record.key, error.reason.rawValue, error.detail, record.topic, Data(record.payload),
                                         record.oversized?.size ?? record.payload.count, record.receivedAt.timeIntervalSince1970,
                                         now.timeIntervalSince1970, record.oversized?.sha256])
        }
        try UnmappedInputs.record(unmappedSeen, db: db)
        try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = ? WHERE id = 1", arguments: [records.last!.seq])
        // The batch is done: its mark goes with it (while isolating, it stays for the suspects after it).
        if isolateThrough > records.last!.seq {
            try db.execute(sql: "UPDATE pipeline_inflight SET stops = 0 WHERE id = 1")
        } else {
            try db.execute(sql: "DELETE FROM pipeline_inflight")
        }
        try log.write(db: db)
        if engine.lateEvents > lateBefore {
            try db.execute(sql: "INSERT INTO counters(name, value) VALUES ('late_events', ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                           arguments: [engine.lateEvents - lateBefore])
        }
        mark(\.eventRows)
        try write(items: items.values, db: db)
        mark(\.itemRows)
        let publishSlips = try write(slips: slips.values, db: db)
        mark(\.slipRows)
        let audit = try db.cachedStatement(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, ?, ?)")
        for slip in newSlips {
            try audit.execute(arguments: [now.timeIntervalSince1970, slip.id, "slip.issued", slip.text])
        }
        let out = try db.cachedStatement(sql: "INSERT INTO outbox(topic, payload, created_at) VALUES (?, ?, ?)")
        for slip in publishSlips.sorted(by: { $0.id < $1.id }) {
            try out.execute(arguments: ["\(outputPrefix)/out/slips", Data(slip.json.serialized.utf8), now.timeIntervalSince1970])
        }
        for (id, change) in cases.sorted(by: { $0.key < $1.key }) {
            let c = change.value
            let now_ = Published(items: c.riskItemIDs.count, severity: c.severity)
            let previous = published[id]
            // The items not linked yet: known from what this process wrote, else (after a restart) read.
            let newItems: [String]
            if let previous {
                newItems = Array(c.riskItemIDs.dropFirst(previous.items))
            } else if change.isNew {
                newItems = c.riskItemIDs
            } else {
                let linked = Set(try String.fetchAll(db, sql: "SELECT risk_item_id FROM case_items WHERE case_id = ?", arguments: [id]))
                newItems = c.riskItemIDs.filter { !linked.contains($0) }
            }
            try write(case: c, evidenceFrom: change.evidenceFrom, evidenceAt: change.evidenceAt, isNew: change.isNew, newItems: newItems[...],
                      now: now, db: db)
            let rerouted = try reroutes[id].map { try apply($0, isNew: change.isNew, now: now, db: db) } ?? false
            guard previous != now_ || rerouted else { continue }
            published[id] = now_
            if !change.isNew, !newItems.isEmpty {
                try audit.execute(arguments: [now.timeIntervalSince1970, id, "case.evidence", "evidence: " + newItems.joined(separator: ", ")])
            }
            // Published as stored: a case a person has moved on keeps its state.
            if let stored = try DisputeStore.fetchCase(id: id, db: db) {
                try out.execute(arguments: ["\(outputPrefix)/out/cases", Data(stored.json.serialized.utf8), now.timeIntervalSince1970])
            }
        }
        result.itemsChanged = items.count
        result.slipsChanged = slips.count
        result.casesChanged = cases.count
        changesSeen = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? changesSeen
        return result
    }

    /// Warning slips closed since the last batch by someone else (a case action
    /// closing their case: `DisputeStore.act`) leave the engine, so no item joins them again.
    private func forgetSlipsClosedElsewhere(db: Database) throws {
        let ids = try String.fetchAll(db, sql: """
            SELECT DISTINCT s.id FROM changes c JOIN slips s ON s.id = c.subject
            WHERE c.seq > ? AND c.kind = 'slip' AND s.kind = 'warning' AND s.state = 'closed'
            """, arguments: [changesSeen])
        guard !ids.isEmpty else { return }
        engine.forgetClosedSlips(Set(ids))
        for id in ids {
            if var p = published[id] { p.closed = true; published[id] = p }
        }
    }

    /// A new case is inserted whole; new evidence changes only what evidence
    /// decides (items, sources, categories, severity, deadline, explanation),
    /// never what people decide (state, assignee, resolution).
    private func write(case c: Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool, newItems: ArraySlice<String>, now: Date, db: Database) throws {
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
                             evidenceAt.timeIntervalSince1970, evidenceFrom.timeIntervalSince1970, evidenceFrom.timeIntervalSince1970, c.explanation, c.sources.joined(separator: "|"),
                             c.categories.map(\.rawValue).joined(separator: "|"), c.drill, c.id])
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO case_items(case_id, risk_item_id) VALUES (?, ?)")
        for id in newItems { try link.execute(arguments: [c.id, id]) }
    }

    /// Moves a case to the district's unit (`CaseStage.reroute`) unless it has
    /// ended (resolved, closed, false alarm): the unit, a `reroute` transition
    /// by `patrolhub` (state unchanged) and its `audit_log` row, in the batch's
    /// transaction. Returns whether it did (the case is then published again).
    private func apply(_ r: CaseReroute, isNew: Bool, now: Date, db: Database) throws -> Bool {
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

    private func write(items: some Collection<RiskItem>, db: Database) throws {
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
            update.bind(9, i.late)
            update.bind(10, i.lateReason)
            update.bind(11, i.locationMismatch)
            update.bind(12, i.locationDistance)
            update.bind(13, i.timeSource.rawValue)
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
            insert.bind(19, i.late)
            insert.bind(20, i.lateReason)
            insert.bind(21, i.locationMismatch)
            insert.bind(22, i.locationDistance)
            insert.bind(23, i.timeSource.rawValue)
            try insert.step(db)
        }
    }

    /// Upserts the slips; returns those whose linked items, severity or case changed (to publish).
    private func write(slips: some Collection<(slip: Slip, anchor: Date)>, db: Database) throws -> [Slip] {
        var changed: [Slip] = []
        let update = try RawStatement(db, """
            UPDATE slips SET severity = ?2, updated_at = ?3, case_id = ?5, occurrences = ?6,
                -- A slip once closed stays closed, whoever closed it.
                state = CASE WHEN state = 'closed' THEN state ELSE ?4 END,
                closed_at = COALESCE(closed_at, ?7), close_reason = COALESCE(close_reason, ?8)
            WHERE id = ?1
            """)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text, occurrences,
                              closed_at, close_reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)")
        for (s, anchor) in slips {
            update.reset()
            update.bind(1, s.id)
            update.bind(2, s.severity.rawValue)
            update.bind(3, s.updatedAt.timeIntervalSince1970)
            update.bind(4, s.state.rawValue)
            update.bind(5, s.caseID)
            update.bind(6, s.occurrences)
            update.bind(7, s.closedAt?.timeIntervalSince1970)
            update.bind(8, s.closeReason)
            try update.step(db)
            if sqlite3_changes(db.sqliteConnection) == 0 {
                try insert.execute(arguments: [
                    Int(s.id.split(separator: "-").last ?? "") ?? 0, s.id, s.kind.rawValue, s.zone, s.category.rawValue,
                    s.severity.rawValue, s.unit, s.worker, s.issuedAt.timeIntervalSince1970, s.updatedAt.timeIntervalSince1970,
                    anchor.timeIntervalSince1970, s.state.rawValue, s.caseID, s.text, s.occurrences,
                    s.closedAt?.timeIntervalSince1970, s.closeReason,
                ])
            }
            let now = Published(items: s.riskItemIDs.count, severity: s.severity, caseID: s.caseID, closed: s.state == .closed)
            let previous = published[s.id]
            guard previous != now else { continue }
            for id in s.riskItemIDs.dropFirst(previous?.items ?? 0) { try link.execute(arguments: [s.id, id]) }
            published[s.id] = now
            changed.append(s)
        }
        return changed
    }
}
