import Alerts
import AlertsStore
import Foundation
import PostgresNIO

/// What `BatchProcessor` needs of PostgreSQL around its batches: the engine's
/// state at start (or after a rolled-back batch), silences, the cursor, and
/// the crash quarantine's mark and dead letters, statement for statement what
/// `DisputeStore` does on SQLite (`PipelineProcessorStore.swift`). Every call
/// blocks the calling thread (see `PostgresStore`).
extension PostgresStore: PipelineProcessorStore {
    /// The pipeline's position in its hub's inbox (`inboxID`'s row; 0 before its first commit).
    public func cursor() throws -> Int64 {
        let inbox = try requireInboxID()
        return try turn.withLock {
            try query("SELECT inbox_seq FROM pipeline_cursor WHERE inbox_id = \(inbox)").rows.first?.decode(Int64.self) ?? 0
        }
    }

    /// The silences that end after `after` (all when nil), by start then id (ids compared by bytes, as SQLite).
    public func silences(endingAfter after: Date? = nil) throws -> [Silence] {
        let since = after?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude
        return try turn.withLock {
            try query("""
                SELECT id, zone, category, source, drill, starts_at, ends_at, created_by, comment, created_at
                FROM silences WHERE ends_at > \(since) ORDER BY starts_at, id COLLATE "C"
                """).rows.map { row in
                let (id, zone, category, source, drill, starts, ends, by, comment, created) =
                    try row.decode((String, String?, String?, String?, Bool?, Double, Double, String, String, Double).self)
                return Silence(id: id, zone: zone, category: category.flatMap(Category.init(rawValue:)), source: source, drill: drill,
                               startsAt: Date(timeIntervalSince1970: starts), endsAt: Date(timeIntervalSince1970: ends), createdBy: by,
                               comment: comment, createdAt: Date(timeIntervalSince1970: created))
            }
        }
    }

    /// Rebuilds the engine's windows from the store, in one repeatable-read transaction
    /// (one snapshot of the database, as SQLite's read). Slips and cases are read one
    /// by one (`fetchSlip`, `fetchCase`): a few round trips per window's object, at start only.
    public func engineSnapshot(rules: RuleSet) throws -> (snapshot: RiskEngine.Snapshot, changesSeen: Int64) {
        try snapshot { b -> (RiskEngine.Snapshot, Int64) in
            var s = RiskEngine.Snapshot()
            // The engine's watermark as this inbox's last batch committed it (see the SQLite store).
            let inbox = try requireInboxID()
            let cursorRow = try b.run("SELECT watermark, next_sweep FROM pipeline_cursor WHERE inbox_id = \(inbox)").rows.first?.decode((Double?, Double?).self)
            let stored = cursorRow?.0
            s.nextSweep = cursorRow?.1.map(Date.init(timeIntervalSince1970:))
            let maxTime = try stored.flatMap { $0 > 0 ? $0 : nil } ?? b.newestEventTime()
            // Every open item (the engine's first sweep closes the stale ones, as on SQLite).
            // (A missed checkpoint's item is the patrol stage's, never the engine's.)
            s.openItems = try b.run("""
                SELECT \(unescaped: Self.itemColumns) FROM risk_items WHERE state = 'open' AND category <> 'missed_checkpoint' ORDER BY seq
                """).rows.map(Self.item)
            // Made after an open item for its source and category: only earlier episodes are (see the SQLite store).
            s.earlierEpisodes = try b.run("""
                SELECT \(unescaped: Self.itemColumns) FROM risk_items WHERE state = 'closed' AND seq IN (
                    SELECT (SELECT MAX(x.seq) FROM risk_items x WHERE x.source = o.source AND x.category = o.category AND x.drill = o.drill AND x.seq > o.seq)
                    FROM risk_items o WHERE o.state = 'open' AND o.category <> 'missed_checkpoint')
                """).rows.map(Self.item)
            let window = rules.cases.window
            let since = maxTime - max(rules.groupWindow, window) - rules.lateness
            var logged: [EventLogEntry] = []
            for row in try b.run("SELECT events FROM event_batches WHERE last_time >= \(since) ORDER BY id").rows {
                let blob = try row.decode(ByteBuffer.self)
                logged += try EventLog.decode(Array(blob.readableBytesView)).filter { $0.counted && $0.time >= since }
            }
            s.recentOccurrences = logged.filter { $0.time >= maxTime - rules.groupWindow - rules.lateness }.map {
                (Date(timeIntervalSince1970: $0.time), $0.itemID, $0.zone, Category(rawValue: $0.category) ?? .other)
            }
            let anchorSince = maxTime - rules.repeatInterval - rules.groupWindow
            let countSince = maxTime - rules.groupWindow - rules.lateness
            // Recent slips, every open one, and every closed one whose count start a window can still see (see the SQLite store).
            for row in try b.run("""
                SELECT id, anchor FROM slips WHERE kind = 'warning'
                    AND (anchor >= \(anchorSince) OR state = 'open' OR (state = 'closed' AND count_after >= \(countSince)))
                ORDER BY seq
                """).rows {
                let (id, anchor) = try row.decode((String, Double).self)
                if let slip = try b.fetchSlip(id: id) { s.recentSlips.append((slip, Date(timeIntervalSince1970: anchor))) }
            }
            // Which of those items are drills (a drill's occurrences and slips are windows of their own), and which have closed.
            var windowItems = Set(s.recentOccurrences.map(\.itemID))
            for (slip, _) in s.recentSlips { windowItems.formUnion(slip.riskItemIDs) }
            let windowIDs = windowItems.sorted()
            for chunk in stride(from: 0, to: windowIDs.count, by: 1000) {
                let part = Array(windowIDs[chunk..<min(chunk + 1000, windowIDs.count)])
                for row in try b.run("SELECT id, drill, state = 'closed', last_seen FROM risk_items WHERE id = ANY(\(part))").rows {
                    let (id, drill, closed, lastSeen) = try row.decode((String, Bool, Bool, Double).self)
                    if drill { s.drillItemIDs.insert(id) }
                    if closed { s.closedItemLastSeen[id] = Date(timeIntervalSince1970: lastSeen) }
                }
            }
            for row in try b.run("SELECT id, status, status_at FROM cameras WHERE status != 'unknown'").rows {
                let (id, status, at) = try row.decode((String, String, Double?).self)
                if let st = CameraStatus(rawValue: status) { s.cameraStatus[id] = st }
                if let at { s.cameraStatusTimes[id] = Date(timeIntervalSince1970: at) }
            }
            for row in try b.run("SELECT id, drill_status, drill_status_at FROM cameras WHERE drill_status IS NOT NULL").rows {
                let (id, status, at) = try row.decode((String, String, Double?).self)
                if let st = CameraStatus(rawValue: status) { s.drillCameraStatus[id] = st }
                if let at { s.drillCameraStatusTimes[id] = Date(timeIntervalSince1970: at) }
            }
            s.lastItemSeq = try b.run("SELECT MAX(seq) FROM risk_items").rows.first?.decode(Int?.self) ?? 0
            s.lastSlipSeq = try b.run("SELECT MAX(seq) FROM slips WHERE kind = 'warning'").rows.first?.decode(Int?.self) ?? 0
            s.watermark = maxTime > 0 && stored != 0 ? Date(timeIntervalSince1970: maxTime) : nil
            // Correlation: cases whose window may still take evidence, and the recent unmuted evidence.
            let caseSince = maxTime - 3 * window - rules.lateness
            for row in try b.run("SELECT id, evidence_from, evidence_at FROM cases WHERE evidence_at >= \(caseSince) ORDER BY seq").rows {
                let (id, from, at) = try row.decode((String, Double?, Double).self)
                guard let c = try b.fetchCase(id: id) else { continue }
                let through = Date(timeIntervalSince1970: at)
                s.recentCases.append((c, from.map(Date.init(timeIntervalSince1970:)) ?? through, through))
            }
            // Each item's newest counted event in the window, in the zone of that event.
            var newest: [String: EventLogEntry] = [:]
            for e in logged where e.time >= maxTime - window - rules.lateness && !e.itemID.isEmpty {
                if let seen = newest[e.itemID], seen.time >= e.time { continue }
                newest[e.itemID] = e
            }
            let ids = newest.keys.sorted()
            for chunk in stride(from: 0, to: ids.count, by: 1000) {
                let part = Array(ids[chunk..<min(chunk + 1000, ids.count)])
                for row in try b.run("""
                    SELECT id, source, source_kind, category, severity, drill FROM risk_items WHERE id = ANY(\(part)) ORDER BY id COLLATE "C"
                    """).rows {
                    let (id, source, kind, category, severity, drill) = try row.decode((String, String, String, String, Int, Bool).self)
                    let e = newest[id]!
                    s.recentEvidence.append((e.zone, CaseStage.Evidence(
                        itemID: id, source: source, sourceKind: SourceKind(rawValue: kind) ?? .camera,
                        category: Category(rawValue: category) ?? .other, severity: Severity(rawValue: severity) ?? .info,
                        time: Date(timeIntervalSince1970: e.time), drill: drill)))
                }
            }
            s.lastCaseSeq = try b.run("SELECT MAX(seq) FROM cases").rows.first?.decode(Int?.self) ?? 0
            return (s, try b.run("SELECT MAX(seq) FROM changes").rows.first?.decode(Int64?.self) ?? 0)
        }
    }

    /// The columns `item(_:)` reads, in its order.
    static let itemColumns = """
        id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen, occurrences, state, suppressed_by,
        lifecycle, lat, lon, drill, late, late_reason, location_mismatch, location_distance_m, time_source
        """

    /// A risk item from a row of `itemColumns` (an unknown kind, category, severity, state or time source reads as the default, as SQLite's `RiskItemRow`).
    static func item(_ row: PostgresRow) throws -> RiskItem {
        let r = row.makeRandomAccess()
        let lat = try r["lat"].decode(Double?.self), lon = try r["lon"].decode(Double?.self)
        return RiskItem(
            id: try r["id"].decode(String.self), source: try r["source"].decode(String.self),
            sourceKind: SourceKind(rawValue: try r["source_kind"].decode(String.self)) ?? .camera,
            category: Category(rawValue: try r["category"].decode(String.self)) ?? .other,
            severity: Severity(rawValue: try r["severity"].decode(Int.self)) ?? .info,
            zone: try r["zone"].decode(String.self), unit: try r["unit"].decode(String?.self), worker: try r["worker"].decode(String?.self),
            firstSeen: Date(timeIntervalSince1970: try r["first_seen"].decode(Double.self)),
            lastSeen: Date(timeIntervalSince1970: try r["last_seen"].decode(Double.self)),
            occurrences: try r["occurrences"].decode(Int.self), state: RiskItem.State(rawValue: try r["state"].decode(String.self)) ?? .open,
            suppressedBy: try r["suppressed_by"].decode(String?.self), lifecycle: try r["lifecycle"].decode(String?.self),
            location: lat.flatMap { la in lon.map { GeoPoint(lat: la, lon: $0) } }, drill: try r["drill"].decode(Bool.self),
            late: try r["late"].decode(Bool.self), lateReason: try r["late_reason"].decode(String?.self),
            locationMismatch: try r["location_mismatch"].decode(String?.self),
            locationDistance: try r["location_distance_m"].decode(Double?.self),
            timeSource: TimeSource(rawValue: try r["time_source"].decode(String.self)) ?? .device)
    }

    /// The inbox keys of the `crashed` dead letters.
    public func crashedMessageKeys() throws -> [String] {
        try turn.withLock {
            try query("SELECT inbox_key FROM dead_letters WHERE reason = 'crashed'").rows.map { try $0.decode(String.self) }
        }
    }

    /// The in-progress mark of `inboxID` (`pipeline_inflight`), nil when none is set.
    public func inProgressMark() throws -> InProgressMark? {
        let inbox = try requireInboxID()
        return try turn.withLock {
            try query("SELECT last_seq, isolate_through, stops FROM pipeline_inflight WHERE inbox_id = \(inbox)").rows.first.map { row in
                let (last, through, stops) = try row.decode((Int64, Int64, Int).self)
                return InProgressMark(lastSeq: last, isolateThrough: through, stops: stops)
            }
        }
    }

    /// Writes (or replaces) the in-progress mark of `inboxID`.
    public func markInProgress(_ mark: InProgressMark, at: Date) throws {
        let inbox = try requireInboxID()
        if let (epoch, holder) = lead.withLock({ $0 }) {
            // A group's leader: written only while its epoch is the store's (a hub that lost the lead must
            // not replace the new leader's mark), with the hub's name (`inProgressMarkHolder`). FOR SHARE:
            // a `takeLead` waits for this write to commit, so the new leader's recovery reads it.
            let written = try turn.withLock {
                try query("""
                    INSERT INTO pipeline_inflight(inbox_id, last_seq, isolate_through, stops, started_at, holder)
                    SELECT \(inbox), \(mark.lastSeq), \(mark.isolateThrough), \(mark.stops), \(at.timeIntervalSince1970), \(holder)
                    WHERE (SELECT epoch FROM pipeline_leader WHERE id = 1 FOR SHARE) = \(epoch)
                    ON CONFLICT (inbox_id) DO UPDATE SET last_seq = excluded.last_seq, isolate_through = excluded.isolate_through,
                        stops = excluded.stops, started_at = excluded.started_at, holder = excluded.holder
                    """).metadata.rows ?? 0
            }
            guard written > 0 else { throw leadLost() }
            return
        }
        try turn.withLock {
            try query("""
                INSERT INTO pipeline_inflight(inbox_id, last_seq, isolate_through, stops, started_at)
                VALUES (\(inbox), \(mark.lastSeq), \(mark.isolateThrough), \(mark.stops), \(at.timeIntervalSince1970))
                ON CONFLICT (inbox_id) DO UPDATE SET last_seq = excluded.last_seq, isolate_through = excluded.isolate_through,
                    stops = excluded.stops, started_at = excluded.started_at
                """)
        }
    }

    /// Removes the in-progress mark of `inboxID` (a group's leader: only while its epoch is the store's).
    public func clearInProgressMark() throws {
        let inbox = try requireInboxID()
        if let epoch = lead.withLock({ $0?.epoch }) {
            try turn.withLock {
                try query("DELETE FROM pipeline_inflight WHERE inbox_id = \(inbox) AND (SELECT epoch FROM pipeline_leader WHERE id = 1 FOR SHARE) = \(epoch)")
            }
            return
        }
        _ = try turn.withLock { try query("DELETE FROM pipeline_inflight WHERE inbox_id = \(inbox)") }
    }

    /// The hub whose pipeline wrote the in-progress mark of `inboxID` (its `client_id`, a group's
    /// `takeLead` holder); nil without a mark or for a mark a lone hub wrote.
    public func inProgressMarkHolder() throws -> String? {
        let inbox = try requireInboxID()
        return try turn.withLock {
            try query("SELECT holder FROM pipeline_inflight WHERE inbox_id = \(inbox)").rows.first?.decode(String?.self) ?? nil
        }
    }

    /// A dead letter for one message processed alone, with the cursor moved past it, in one transaction.
    public func setAside(_ record: InboxRecord, as error: HubError, isolateThrough through: Int64, now: Date) throws {
        let inbox = try requireInboxID()
        try batch(outputPrefix: "") { b in
            try b.run("""
                INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
                VALUES (\(record.key), \(error.deadLetterReason.rawValue), \(error.detail), \(record.topic), \(ByteBuffer(bytes: record.payload)),
                        \(record.oversized?.size ?? record.payload.count), \(record.receivedAt.timeIntervalSince1970), \(now.timeIntervalSince1970),
                        \(record.oversized?.sha256))
                ON CONFLICT (inbox_key) DO NOTHING
                """)
            try b.run("""
                INSERT INTO pipeline_cursor(inbox_id, inbox_seq) VALUES (\(inbox), \(record.seq))
                ON CONFLICT (inbox_id) DO UPDATE SET inbox_seq = excluded.inbox_seq WHERE pipeline_cursor.inbox_seq < excluded.inbox_seq
                """)
            if through > record.seq {
                try b.run("UPDATE pipeline_inflight SET last_seq = \(record.seq), stops = 0 WHERE inbox_id = \(inbox)")
            } else {
                try b.run("DELETE FROM pipeline_inflight WHERE inbox_id = \(inbox)")
            }
        }
    }

    /// How many dead letters of `reason` were written at or after `since`.
    public func deadLetterCount(_ reason: DeadLetterReason, since: Date) throws -> Int {
        try turn.withLock {
            try query("SELECT COUNT(*) FROM dead_letters WHERE reason = \(reason.rawValue) AND created_at >= \(since.timeIntervalSince1970)")
                .rows.first?.decode(Int.self) ?? 0
        }
    }

    /// PostgreSQL's refusals of input, by SQLSTATE class (`storeError` keeps it in the error's
    /// `context.values[sqlStateKey]`): 22 (data exception: a value out of range, text with a
    /// NUL byte, …), 23 (integrity constraint violation) and 54 (program limit exceeded: a value
    /// too big), as SQLite's CONSTRAINT, MISMATCH, RANGE and TOOBIG. A lost connection, a lock
    /// timeout or a serialization failure are the environment's, not the input's (in `serve` the
    /// hub stops and its restart processes the batch again). So is a unique violation (23505) on
    /// a number sequence (`sequenceConstraints`): another hub took the same item, slip or case
    /// number first, and the batch processed again, after the engine reloads the numbers from
    /// the store, takes the next free one.
    public func refusal(of error: any Error) -> String? {
        guard let e = error as? HubError, e.code == .postgresStore, let state = e.context.values[Self.sqlStateKey] else { return nil }
        if state == "23505", let constraint = e.context.values[Self.constraintKey], Self.sequenceConstraints.contains(constraint) { return nil }
        return ["22", "23", "54"].contains(String(state.prefix(2))) ? e.message : nil
    }

    /// The unique keys of the hub-wide number sequences: `risk_items.seq`, `slips(kind, seq)`, `cases.seq`
    /// (PostgreSQL's names for `v1-pipeline`'s constraints).
    static let sequenceConstraints: Set<String> = ["risk_items_seq_key", "slips_kind_seq", "cases_seq_key"]
}
