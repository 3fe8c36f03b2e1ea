import Alerts
import AlertsStore
import Foundation
import PostgresNIO

/// A batch's transaction on the PostgreSQL store: the pipeline's reads and its
/// one write, statement for statement what `SQLiteBatch` does, in PostgreSQL.
///
/// Writes that can meet a row another hub (or a redelivered batch) wrote
/// first are idempotent on the same unique keys as SQLite: event keys, dead
/// letters (by inbox key), slot verdicts, item and case links are
/// `INSERT … ON CONFLICT DO NOTHING`; risk items and slips are upserts on their id.
/// Every call blocks the calling thread (see `PostgresStore`).
public struct PostgresBatch: PipelineBatchTransaction {
    let store: PostgresStore
    /// `{prefix}` of `{prefix}/out/slips` and `{prefix}/out/cases`.
    let outputPrefix: String

    @discardableResult
    func run(_ q: PostgresQuery) throws -> PostgresQueryResult { try store.query(q) }

    /// Rows changed by `q` (UPDATE, INSERT … ON CONFLICT DO NOTHING).
    func changes(_ q: PostgresQuery) throws -> Int { try run(q).metadata.rows ?? 0 }

    // MARK: - Reads

    /// The newest event time the event log holds (unix seconds; 0 when empty).
    public func newestEventTime() throws -> Double {
        try run("SELECT MAX(last_time) FROM event_batches").rows.first?.decode(Double?.self) ?? 0
    }

    /// Warning slips someone else closed after the change log's seq `seq` (a case action).
    public func slipsClosed(after seq: Int64) throws -> Set<String> {
        Set(try run("""
            SELECT DISTINCT s.id FROM changes c JOIN slips s ON s.id = c.subject
            WHERE c.seq > \(seq) AND c.kind = 'slip' AND s.kind = 'warning' AND s.state = 'closed'
            """).rows.map { try $0.decode(String.self) })
    }

    /// Which of `keys` the store holds already (the duplicate check): one statement per 1000 keys.
    public func knownKeys(_ keys: [String]) throws -> Set<EventKey> {
        var known: Set<EventKey> = []
        for start in stride(from: 0, to: keys.count, by: 1000) {
            let part = Array(keys[start..<min(start + 1000, keys.count)])
            for row in try run("SELECT key FROM events WHERE key = ANY(\(part))").rows {
                known.insert(EventKey(try row.decode(String.self)))
            }
        }
        return known
    }

    /// The stored check-ins just before and after each of `checkins`, per device.
    public func patrolNeighbours(_ checkins: [PatrolCheckinAt]) throws -> [PatrolCheckinAt: PatrolNeighbours] {
        var out: [PatrolCheckinAt: PatrolNeighbours] = [:]
        for c in checkins where out[c] == nil {
            let t = c.time.timeIntervalSince1970
            let row = try run("""
                SELECT (SELECT MAX(time) FROM patrol_records WHERE device = \(c.device) AND kind = 'checkin' AND time < \(t)),
                       (SELECT MIN(time) FROM patrol_records WHERE device = \(c.device) AND kind = 'checkin' AND time > \(t))
                """).rows.first
            let (before, after) = try row?.decode((Double?, Double?).self) ?? (nil, nil)
            out[c] = PatrolNeighbours(previous: before.map(Date.init(timeIntervalSince1970:)), next: after.map(Date.init(timeIntervalSince1970:)))
        }
        return out
    }

    /// The stored state of the slots `ids`: verdicts, letters issued and the last letter seq.
    public func patrolLedger(slots ids: [String]) throws -> PatrolLedger {
        let last = try run("SELECT MAX(seq) FROM slips WHERE kind = 'reminder'").rows.first?.decode(Int?.self) ?? 0
        var ledger = PatrolLedger(lastLetterSeq: last)
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let part = Array(ids[start..<min(start + 1000, ids.count)])
            for row in try run("SELECT id, status, risk_item_id, slip_id FROM patrol_slots WHERE id = ANY(\(part))").rows {
                let (id, status, item, slip) = try row.decode((String, String, String?, String?).self)
                // An unknown status reads as missed: never undone by a flagged check-in (as SQLite's `PatrolSlotRow.state`).
                ledger.slots[id] = PatrolSlotState(status: PatrolStatus(rawValue: status) ?? .missed, riskItemID: item, slipID: slip)
            }
            let triggers = part.map(PatrolStage.letterTrigger(slotID:))
            let issued = Set(try run("SELECT trigger FROM slips WHERE trigger = ANY(\(triggers))").rows.map { try $0.decode(String.self) })
            for id in part where issued.contains(PatrolStage.letterTrigger(slotID: id)) { ledger.lettersIssued.insert(id) }
        }
        return ledger
    }

    /// How far the patrol scheduler has evaluated slots; nil before its first tick.
    public func patrolEvaluatedUntil() throws -> Date? {
        try run("SELECT evaluated_until FROM patrol_scheduler WHERE id = 1").rows.first
            .map { Date(timeIntervalSince1970: try $0.decode(Double.self)) }
    }

    // MARK: - The batch's write

    /// Writes a batch's outcome and its cursor, in the batch's transaction, in `SQLiteBatch.commit`'s order.
    public func commit(_ outcome: BatchOutcome, cursor: BatchCursor, now: Date) throws -> CommitReceipt {
        let t = now.timeIntervalSince1970
        try write(patrol: outcome.patrol, now: now)
        try insert(keys: outcome.eventKeys)
        for s in outcome.cameraStatuses {
            let at = s.at.timeIntervalSince1970
            if s.drill {
                try run("""
                    UPDATE cameras SET drill_status = \(s.status.rawValue), drill_status_at = \(at)
                    WHERE id = \(s.camera) AND (drill_status_at IS NULL OR drill_status_at <= \(at))
                    """)
            } else {
                try run("UPDATE cameras SET status = \(s.status.rawValue), status_at = \(at) WHERE id = \(s.camera) AND (status_at IS NULL OR status_at <= \(at))")
            }
        }
        for d in outcome.deadLetters {
            let r = d.record
            try run("""
                INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256)
                VALUES (\(r.key), \(d.error.deadLetterReason.rawValue), \(d.error.detail), \(r.topic), \(ByteBuffer(bytes: r.payload)),
                        \(r.oversized?.size ?? r.payload.count), \(r.receivedAt.timeIntervalSince1970), \(t), \(r.oversized?.sha256))
                ON CONFLICT (inbox_key) DO NOTHING
                """)
        }
        try record(unmapped: outcome.unmapped)
        // The cursor and mark of the store's inbox (each hub sharing the store has its own rows).
        let inbox = try store.requireInboxID()
        try run("""
            INSERT INTO pipeline_cursor(inbox_id, inbox_seq, watermark, next_sweep)
            VALUES (\(inbox), \(cursor.inboxSeq), \(cursor.storedWatermark), \(cursor.nextSweep?.timeIntervalSince1970))
            ON CONFLICT (inbox_id) DO UPDATE SET inbox_seq = excluded.inbox_seq, watermark = excluded.watermark, next_sweep = excluded.next_sweep
            """)
        // The batch is done: its mark goes with it (while isolating, it stays for the suspects after it).
        if cursor.isolateThrough > cursor.inboxSeq {
            try run("UPDATE pipeline_inflight SET stops = 0 WHERE inbox_id = \(inbox)")
        } else {
            try run("DELETE FROM pipeline_inflight WHERE inbox_id = \(inbox)")
        }
        var log = EventLogEncoder(capacity: outcome.eventLog.count)
        for e in outcome.eventLog {
            log.append(time: e.time, itemID: e.itemID, zone: e.zone, category: e.category.rawValue, counted: e.counted)
        }
        if !log.isEmpty {
            try run("INSERT INTO event_batches(last_time, count, events) VALUES (\(log.lastTime), \(log.count), \(ByteBuffer(bytes: log.bytes)))")
        }
        if outcome.lateEvents > 0 {
            try run("""
                INSERT INTO counters(name, value) VALUES ('late_events', \(outcome.lateEvents))
                ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value
                """)
        }
        try write(items: outcome.items.values.sorted { $0.id < $1.id })
        try write(slips: outcome.slips)
        // Slips a case action closed: their count start, beside their closing (kept once set).
        for (id, at) in outcome.slipCountStarts.sorted(by: { $0.key < $1.key }) {
            try run("UPDATE slips SET count_after = COALESCE(count_after, \(at.timeIntervalSince1970)) WHERE id = \(id)")
        }
        for slip in outcome.issuedSlips {
            try audit(slip.id, "slip.issued", slip.text, at: t)
        }
        for change in outcome.slips where change.publish {
            try enqueue(topic: "\(outputPrefix)/out/slips", change.slip.json, at: t)
        }
        for change in outcome.cases {
            let c = change.value
            let newItems = try change.newItems ?? {
                let linked = Set(try run("SELECT risk_item_id FROM case_items WHERE case_id = \(c.id)").rows.map { try $0.decode(String.self) })
                return c.riskItemIDs.filter { !linked.contains($0) }
            }()
            try write(case: c, evidenceFrom: change.evidenceFrom, evidenceAt: change.evidenceAt, isNew: change.isNew, newItems: newItems, now: now)
            let rerouted = try change.reroute.map { try apply($0, isNew: change.isNew, now: now) } ?? false
            guard change.publish || rerouted else { continue }
            if !change.isNew, !newItems.isEmpty {
                try audit(c.id, "case.evidence", "evidence: " + newItems.joined(separator: ", "), at: t)
            }
            // Published as stored: a case a person has moved on keeps its state.
            if let stored = try fetchCase(id: c.id) {
                try enqueue(topic: "\(outputPrefix)/out/cases", stored.json, at: t)
            }
        }
        return CommitReceipt(changesSeen: try run("SELECT MAX(seq) FROM changes").rows.first?.decode(Int64?.self) ?? 0)
    }

    /// Writes a scheduler tick's effects and moves its evaluated-until mark (never backwards
    /// when two hubs tick: the later instant wins).
    public func commit(_ tick: PatrolTickOutcome, now: Date) throws {
        try write(patrol: tick.effects, now: now)
        if let until = tick.evaluatedUntil {
            try run("""
                INSERT INTO patrol_scheduler(id, evaluated_until) VALUES (1, \(until.timeIntervalSince1970))
                ON CONFLICT (id) DO UPDATE SET evaluated_until = excluded.evaluated_until
                """)
        }
    }

    /// Records event keys with their event times, 1000 a statement; a key held already stays as it is.
    private func insert(keys: [BatchOutcome.AcceptedKey]) throws {
        for start in stride(from: 0, to: keys.count, by: 1000) {
            let part = keys[start..<min(start + 1000, keys.count)]
            let texts = part.map(\.key)
            let times = part.map { Self.keyTime($0.time) }
            try run("""
                INSERT INTO events(key, time) SELECT * FROM unnest(\(texts)::text[], \(times)::bigint[])
                ON CONFLICT (key) DO NOTHING
                """)
        }
    }

    /// A key's stored time: its event time rounded down to whole seconds (as SQLite's `EventKeys.keyTime`).
    static func keyTime(_ time: Double) -> Int {
        guard time.isFinite else { return 0 }
        return Int(max(min(time, 1e15), -1e15).rounded(.down))
    }

    /// Risk items as they are after the batch, 500 a statement: updated when stored, inserted
    /// otherwise, as SQLite's store does (the change log's triggers fire the same way: an insert
    /// logs `new`, a conflict's update `updated`). The rows travel as one JSON array
    /// (`jsonb_to_recordset`), which carries NULLs as they are; numbers are written in their
    /// shortest round-trip form, so each time reads back exactly.
    private func write(items: [RiskItem]) throws {
        for start in stride(from: 0, to: items.count, by: 500) {
            let rows = JSONValue.array(items[start..<min(start + 500, items.count)].map { i in
                func text(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
                func number(_ d: Double?) -> JSONValue { d.map(JSONValue.number) ?? .null }
                return .object([
                    "seq": .number(Double(Int(i.id.dropFirst(3)) ?? 0)), "id": .string(i.id), "source": .string(i.source),
                    "source_kind": .string(i.sourceKind.rawValue), "category": .string(i.category.rawValue),
                    "severity": .number(Double(i.severity.rawValue)), "zone": .string(i.zone), "unit": text(i.unit), "worker": text(i.worker),
                    "first_seen": .number(i.firstSeen.timeIntervalSince1970), "last_seen": .number(i.lastSeen.timeIntervalSince1970),
                    "occurrences": .number(Double(i.occurrences)), "state": .string(i.state.rawValue), "suppressed_by": text(i.suppressedBy),
                    "lifecycle": text(i.lifecycle), "lat": number(i.location?.lat), "lon": number(i.location?.lon), "drill": .bool(i.drill),
                    "late": .bool(i.late), "late_reason": text(i.lateReason), "location_mismatch": text(i.locationMismatch),
                    "location_distance_m": number(i.locationDistance), "time_source": .string(i.timeSource.rawValue),
                ])
            }).serialized
            try run("""
                INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                                       occurrences, state, suppressed_by, lifecycle, lat, lon, drill,
                                       late, late_reason, location_mismatch, location_distance_m, time_source)
                SELECT seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                       occurrences, state, suppressed_by, lifecycle, lat, lon, drill,
                       late, late_reason, location_mismatch, location_distance_m, time_source
                FROM jsonb_to_recordset(\(rows)::jsonb) AS r(
                    seq BIGINT, id TEXT, source TEXT, source_kind TEXT, category TEXT, severity BIGINT, zone TEXT, unit TEXT, worker TEXT,
                    first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION, occurrences BIGINT, state TEXT, suppressed_by TEXT,
                    lifecycle TEXT, lat DOUBLE PRECISION, lon DOUBLE PRECISION, drill BOOLEAN, late BOOLEAN, late_reason TEXT,
                    location_mismatch TEXT, location_distance_m DOUBLE PRECISION, time_source TEXT)
                ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, first_seen = excluded.first_seen,
                    last_seen = excluded.last_seen, occurrences = excluded.occurrences, state = excluded.state,
                    suppressed_by = excluded.suppressed_by, lifecycle = excluded.lifecycle, late = excluded.late,
                    late_reason = excluded.late_reason, location_mismatch = excluded.location_mismatch,
                    location_distance_m = excluded.location_distance_m, time_source = excluded.time_source
                """)
        }
    }

    /// Upserts the slips and links their new items.
    private func write(slips: [BatchOutcome.SlipChange]) throws {
        for change in slips {
            let s = change.slip
            let updated = try changes("""
                UPDATE slips SET severity = \(s.severity.rawValue), updated_at = \(s.updatedAt.timeIntervalSince1970), case_id = \(s.caseID),
                    occurrences = \(s.occurrences),
                    state = CASE WHEN state = 'closed' THEN state ELSE \(s.state.rawValue) END,
                    closed_at = COALESCE(closed_at, \(s.closedAt?.timeIntervalSince1970)), close_reason = COALESCE(close_reason, \(s.closeReason)),
                    count_after = COALESCE(count_after, \(s.countAfter?.timeIntervalSince1970))
                WHERE id = \(s.id)
                """)
            if updated == 0 {
                try run("""
                    INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text,
                                      occurrences, closed_at, close_reason, count_after)
                    VALUES (\(Int(s.id.split(separator: "-").last ?? "") ?? 0), \(s.id), \(s.kind.rawValue), \(s.zone), \(s.category.rawValue),
                            \(s.severity.rawValue), \(s.unit), \(s.worker), \(s.issuedAt.timeIntervalSince1970), \(s.updatedAt.timeIntervalSince1970),
                            \(change.anchor.timeIntervalSince1970), \(s.state.rawValue), \(s.caseID), \(s.text), \(s.occurrences),
                            \(s.closedAt?.timeIntervalSince1970), \(s.closeReason), \(s.countAfter?.timeIntervalSince1970))
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
            for id in change.newItems {
                try run("INSERT INTO slip_items(slip_id, risk_item_id) VALUES (\(s.id), \(id)) ON CONFLICT DO NOTHING")
            }
        }
    }

    /// A new case is inserted whole (an upsert, as `DisputeStore.write(case:)`); new evidence
    /// changes only what evidence decides, never what people decide (state, assignee, resolution).
    private func write(case c: Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool, newItems: [String], now: Date) throws {
        if isNew {
            try upsert(case: c, evidenceAt: evidenceAt)
            try run("UPDATE cases SET evidence_from = \(evidenceFrom.timeIntervalSince1970) WHERE id = \(c.id)")
            try audit(c.id, "case.opened", c.explanation, at: now.timeIntervalSince1970)
            return
        }
        let from = evidenceFrom.timeIntervalSince1970
        try run("""
            UPDATE cases SET category = \(c.category.rawValue), severity = \(c.severity.rawValue), due_at = LEAST(due_at, \(c.dueAt.timeIntervalSince1970)),
                updated_at = \(now.timeIntervalSince1970), evidence_at = GREATEST(COALESCE(evidence_at, 0), \(evidenceAt.timeIntervalSince1970)),
                evidence_from = LEAST(COALESCE(evidence_from, \(from)), \(from)),
                explanation = \(c.explanation), sources = \(Self.list(c.sources)), categories = \(Self.list(c.categories.map(\.rawValue))),
                drill = \(c.drill)
            WHERE id = \(c.id)
            """)
        for id in newItems {
            try run("INSERT INTO case_items(case_id, risk_item_id) VALUES (\(c.id), \(id)) ON CONFLICT DO NOTHING")
        }
    }

    /// Inserts or updates a case whole and links its risk items (never unlinks), as `DisputeStore.write(case:evidenceAt:db:)`.
    func upsert(case c: Case, evidenceAt: Date?) throws {
        try run("""
            INSERT INTO cases(seq, id, rule, zone, category, severity, state, unit, worker, lead_unit, co_units, assignee,
                              opened_at, due_at, updated_at, last_action_at, evidence_at, explanation, sources, categories, drill,
                              outcome, amount_cny, satisfaction, resolved_at, closed_at)
            VALUES (\(Int(c.id.split(separator: "-").last ?? "") ?? 0), \(c.id), \(c.rule.rawValue), \(c.zone), \(c.category.rawValue),
                    \(c.severity.rawValue), \(c.state.rawValue), \(c.unit), \(c.worker), \(c.leadUnit), \(Self.list(c.coUnits)), \(c.assignee),
                    \(c.openedAt.timeIntervalSince1970), \(c.dueAt.timeIntervalSince1970), \(c.updatedAt.timeIntervalSince1970),
                    \(c.lastActionAt.timeIntervalSince1970), \(evidenceAt?.timeIntervalSince1970), \(c.explanation), \(Self.list(c.sources)),
                    \(Self.list(c.categories.map(\.rawValue))), \(c.drill),
                    \(c.outcome), \(c.amountCNY), \(c.satisfaction), \(c.resolvedAt?.timeIntervalSince1970), \(c.closedAt?.timeIntervalSince1970))
            ON CONFLICT (id) DO UPDATE SET
                severity = excluded.severity, state = excluded.state, unit = excluded.unit, worker = excluded.worker,
                lead_unit = excluded.lead_unit, co_units = excluded.co_units, assignee = excluded.assignee,
                due_at = excluded.due_at, updated_at = excluded.updated_at, last_action_at = excluded.last_action_at,
                evidence_at = GREATEST(excluded.evidence_at, cases.evidence_at),
                explanation = excluded.explanation, sources = excluded.sources, categories = excluded.categories,
                outcome = excluded.outcome, amount_cny = excluded.amount_cny, satisfaction = excluded.satisfaction,
                resolved_at = excluded.resolved_at, closed_at = excluded.closed_at
            """)
        for id in c.riskItemIDs {
            try run("INSERT INTO case_items(case_id, risk_item_id) VALUES (\(c.id), \(id)) ON CONFLICT DO NOTHING")
        }
    }

    /// Moves a case to the district's unit unless it has ended (as `SQLiteBatch.apply(_:isNew:now:)`):
    /// the unit, a `reroute` transition by `patrolhub` and its audit row. Returns whether it did.
    private func apply(_ r: CaseReroute, isNew: Bool, now: Date) throws -> Bool {
        // FOR UPDATE: another hub's batch moving the same case waits for this one.
        guard let row = try run("SELECT state, unit FROM cases WHERE id = \(r.caseID) FOR UPDATE").rows.first else { return false }
        let (stateText, unit) = try row.decode((String, String?).self)
        guard let state = Case.State(rawValue: stateText), state.isOpen else { return false }
        // A case opened in this batch was inserted with its new unit already; otherwise the stored unit decides.
        guard isNew || unit != r.toUnit else { return false }
        let t = now.timeIntervalSince1970
        try run("UPDATE cases SET unit = \(r.toUnit), updated_at = \(t) WHERE id = \(r.caseID)")
        let detail: JSONValue = .object(["from_unit": r.fromUnit.map(JSONValue.string) ?? .null, "to_unit": .string(r.toUnit), "evidence": .string(r.evidence)])
        try run("""
            INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state, note, detail)
            VALUES (\(r.caseID), \(t), 'patrolhub', \(CaseActionKind.reroute.rawValue), \(state.rawValue), \(state.rawValue), \(r.note), \(detail.serialized))
            """)
        try audit(r.caseID, "case.reroute", "\(state.rawValue) → \(state.rawValue) \(detail.serialized): \(r.note)", at: t)
        return true
    }

    /// Adds a batch's unmapped sightings, at most `UnmappedInputs.maxNames` names per format
    /// (later ones counted in the format's row named ''), as SQLite's `UnmappedInputs.record`.
    private func record(unmapped seen: [UnmappedInput: BatchOutcome.UnmappedSightings]) throws {
        guard !seen.isEmpty else { return }
        struct Seen { var count = 0; var first = Double.infinity; var last = -Double.infinity; var device = "" }
        var byName: [String: [String: Seen]] = [:]
        for (input, s) in seen {
            var row = byName[input.format, default: [:]][input.name] ?? Seen()
            row.count += s.count
            row.first = min(row.first, s.first)
            if s.last >= row.last { row.last = s.last; row.device = input.device }
            byName[input.format, default: [:]][input.name] = row
        }
        for (format, names) in byName.sorted(by: { $0.key < $1.key }) {
            var distinct: Int?
            for (name, s) in names.sorted(by: { $0.key < $1.key }) {
                let updated = try changes("""
                    UPDATE unmapped_inputs SET count = count + \(s.count), first_seen = LEAST(first_seen, \(s.first)),
                        last_seen = GREATEST(last_seen, \(s.last)), device = CASE WHEN \(s.last) >= last_seen THEN \(s.device) ELSE device END
                    WHERE format = \(format) AND name = \(name)
                    """)
                if updated > 0 { continue }
                if distinct == nil {
                    distinct = try run("SELECT COUNT(*) FROM unmapped_inputs WHERE format = \(format) AND name != ''").rows.first?.decode(Int.self) ?? 0
                }
                let kept = distinct! < UnmappedInputs.maxNames && !name.isEmpty
                if kept { distinct! += 1 }
                try run("""
                    INSERT INTO unmapped_inputs(format, name, count, first_seen, last_seen, device)
                    VALUES (\(format), \(kept ? name : ""), \(s.count), \(s.first), \(s.last), \(s.device))
                    ON CONFLICT (format, name) DO UPDATE SET count = unmapped_inputs.count + excluded.count,
                        first_seen = LEAST(unmapped_inputs.first_seen, excluded.first_seen),
                        last_seen = GREATEST(unmapped_inputs.last_seen, excluded.last_seen),
                        device = CASE WHEN excluded.last_seen >= unmapped_inputs.last_seen THEN excluded.device ELSE unmapped_inputs.device END
                    """)
            }
        }
    }

    // MARK: - Shared pieces

    func audit(_ subject: String, _ action: String, _ detail: String, at t: Double) throws {
        try run("INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (\(t), 'patrolhub', \(subject), \(action), \(detail))")
    }

    /// Queues a JSON object for the publisher (sent after the transaction commits).
    func enqueue(topic: String, _ json: JSONValue, at t: Double) throws {
        try run("INSERT INTO outbox(topic, payload, created_at) VALUES (\(topic), \(ByteBuffer(string: json.serialized)), \(t))")
    }

    /// A list column's text: a JSON array of strings (SQLite's `StoredList.encode`).
    static func list(_ values: [String]) -> String {
        JSONValue.array(values.map(JSONValue.string)).serialized
    }

    /// The strings of a list column (a JSON array; `'|'`-joined text read as such too).
    static func decodeList(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        if text.utf8.first == UInt8(ascii: "["), case .array(let values)? = try? JSONParser.parse(text) {
            return values.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        return text.split(separator: "|").map(String.init)
    }

    /// The columns `decodeCase` reads.
    static let caseColumns = """
        id, rule, zone, category, severity, state, unit, worker, lead_unit, co_units, assignee,
        opened_at, due_at, updated_at, last_action_at, explanation, sources, categories, drill,
        outcome, amount_cny, satisfaction, resolved_at, closed_at
        """

    /// One case as stored, with its linked risk items, or nil.
    func fetchCase(id: String) throws -> Case? {
        guard let row = try run("SELECT \(unescaped: Self.caseColumns) FROM cases WHERE id = \(id)").rows.first else { return nil }
        return try Self.decodeCase(row, items: try linkedItems(table: "case_items", owner: "case_id", ids: [id])[id] ?? [])
    }

    /// A case from a row of `caseColumns` and its linked risk items (an unknown rule, category,
    /// severity or state reads as the default, as SQLite's `CaseRow`).
    static func decodeCase(_ row: PostgresRow, items: [String]) throws -> Case {
        let r = row.makeRandomAccess()
        func date(_ column: String) throws -> Date? { try r[column].decode(Double?.self).map(Date.init(timeIntervalSince1970:)) }
        let opened = Date(timeIntervalSince1970: try r["opened_at"].decode(Double.self))
        return Case(
            id: try r["id"].decode(String.self), rule: Case.Rule(rawValue: try r["rule"].decode(String.self)) ?? .severity,
            zone: try r["zone"].decode(String.self), category: Category(rawValue: try r["category"].decode(String.self)) ?? .other,
            severity: Severity(rawValue: try r["severity"].decode(Int.self)) ?? .info,
            state: Case.State(rawValue: try r["state"].decode(String.self)) ?? .new,
            unit: try r["unit"].decode(String?.self), worker: try r["worker"].decode(String?.self),
            leadUnit: try r["lead_unit"].decode(String?.self), coUnits: Self.decodeList(try r["co_units"].decode(String.self)),
            assignee: try r["assignee"].decode(String?.self),
            openedAt: opened, dueAt: Date(timeIntervalSince1970: try r["due_at"].decode(Double.self)),
            updatedAt: try date("updated_at") ?? opened, lastActionAt: try date("last_action_at") ?? opened,
            explanation: try r["explanation"].decode(String.self), riskItemIDs: items,
            sources: Self.decodeList(try r["sources"].decode(String.self)),
            categories: Self.decodeList(try r["categories"].decode(String.self)).compactMap(Category.init(rawValue:)),
            drill: try r["drill"].decode(Bool.self),
            outcome: try r["outcome"].decode(String?.self), amountCNY: try r["amount_cny"].decode(Double?.self),
            satisfaction: try r["satisfaction"].decode(String?.self), resolvedAt: try date("resolved_at"), closedAt: try date("closed_at"))
    }

    /// The columns `decodeSlip` reads.
    static let slipColumns = """
        id, kind, zone, category, severity, unit, worker, issued_at, updated_at, state, case_id, text, occurrences, closed_at, close_reason,
        count_after
        """

    /// One slip as stored, with its linked risk items, or nil.
    func fetchSlip(id: String) throws -> Slip? {
        guard let row = try run("SELECT \(unescaped: Self.slipColumns) FROM slips WHERE id = \(id)").rows.first else { return nil }
        return try Self.decodeSlip(row, items: try linkedItems(table: "slip_items", owner: "slip_id", ids: [id])[id] ?? [])
    }

    /// A slip from a row of `slipColumns` and its linked risk items.
    static func decodeSlip(_ row: PostgresRow, items: [String]) throws -> Slip {
        let r = row.makeRandomAccess()
        return Slip(
            id: try r["id"].decode(String.self), kind: Slip.Kind(rawValue: try r["kind"].decode(String.self)) ?? .warning,
            zone: try r["zone"].decode(String.self), category: Category(rawValue: try r["category"].decode(String.self)) ?? .other,
            severity: Severity(rawValue: try r["severity"].decode(Int.self)) ?? .info,
            unit: try r["unit"].decode(String?.self), worker: try r["worker"].decode(String?.self),
            issuedAt: Date(timeIntervalSince1970: try r["issued_at"].decode(Double.self)),
            updatedAt: Date(timeIntervalSince1970: try r["updated_at"].decode(Double.self)),
            state: Slip.State(rawValue: try r["state"].decode(String.self)) ?? .open, caseID: try r["case_id"].decode(String?.self),
            text: try r["text"].decode(String.self), riskItemIDs: items, occurrences: try r["occurrences"].decode(Int.self),
            closedAt: try r["closed_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            closeReason: try r["close_reason"].decode(String?.self),
            countAfter: try r["count_after"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)))
    }

    /// The risk item ids linked to each of `ids` in a link table (`case_items`, `slip_items`), each
    /// list sorted by bytes (as SQLite's `linkedItems`); one query per 1000 ids.
    func linkedItems(table: StaticString, owner: StaticString, ids: [String]) throws -> [String: [String]] {
        var links: [String: [String]] = [:]
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let part = Array(ids[start..<min(start + 1000, ids.count)])
            for row in try run(PostgresQuery(unsafeSQL: """
                SELECT \(owner), risk_item_id FROM \(table) WHERE \(owner) = ANY($1) ORDER BY \(owner), risk_item_id COLLATE "C"
                """, binds: Self.bindings(part))).rows {
                let (id, item) = try row.decode((String, String).self)
                links[id, default: []].append(item)
            }
        }
        return links
    }

    /// Bindings holding one value.
    static func bindings<T: PostgresNonThrowingEncodable>(_ value: T) -> PostgresBindings {
        var b = PostgresBindings()
        b.append(value)
        return b
    }
}
