import Alerts
import Foundation
import GRDB

/// Patrol supervision in the store: what `PatrolStage` needs to know, loaded
/// as a `PatrolLedger`, and the writes of its `PatrolEffect`s, in the order
/// given, inside the batch's (or the tick's) one transaction.
extension SQLiteBatch {
    /// The stored check-ins just before and after each of `checkins`, per device.
    public func patrolNeighbours(_ checkins: [PatrolCheckinAt]) throws -> [PatrolCheckinAt: PatrolNeighbours] {
        let before = try db.cachedStatement(sql: "SELECT MAX(time) FROM patrol_records WHERE device = ? AND kind = 'checkin' AND time < ?")
        let after = try db.cachedStatement(sql: "SELECT MIN(time) FROM patrol_records WHERE device = ? AND kind = 'checkin' AND time > ?")
        var out: [PatrolCheckinAt: PatrolNeighbours] = [:]
        for c in checkins where out[c] == nil {
            let t = c.time.timeIntervalSince1970
            out[c] = PatrolNeighbours(previous: try Double.fetchOne(before, arguments: [c.device, t]).map(Date.init(timeIntervalSince1970:)),
                                      next: try Double.fetchOne(after, arguments: [c.device, t]).map(Date.init(timeIntervalSince1970:)))
        }
        return out
    }

    /// The stored state of the slots `ids`: verdicts, letters issued and the last letter seq.
    public func patrolLedger(slots ids: [String]) throws -> PatrolLedger {
        var ledger = PatrolLedger(lastLetterSeq: try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = 'reminder'") ?? 0)
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
            for row in try PatrolSlotRow.fetchAll(db, keys: part) { ledger.slots[row.id] = row.state }
            let triggers = part.map(PatrolStage.letterTrigger(slotID:))
            let issued = Set(try String.fetchAll(db, sql: "SELECT trigger FROM slips WHERE trigger IN (\(databaseQuestionMarks(count: triggers.count)))",
                                                 arguments: StatementArguments(triggers)))
            for id in part where issued.contains(PatrolStage.letterTrigger(slotID: id)) { ledger.lettersIssued.insert(id) }
        }
        return ledger
    }

    /// How far the patrol scheduler has evaluated slots; nil before its first tick.
    public func patrolEvaluatedUntil() throws -> Date? {
        try Double.fetchOne(db, sql: "SELECT evaluated_until FROM patrol_scheduler WHERE id = 1").map(Date.init(timeIntervalSince1970:))
    }

    /// Writes a scheduler tick's effects and moves its evaluated-until mark.
    public func commit(_ tick: PatrolTickOutcome, now: Date) throws {
        try write(patrol: tick.effects, now: now)
        if let until = tick.evaluatedUntil {
            try db.execute(sql: """
                INSERT INTO patrol_scheduler(id, evaluated_until) VALUES (1, ?)
                ON CONFLICT(id) DO UPDATE SET evaluated_until = excluded.evaluated_until
                """, arguments: [until.timeIntervalSince1970])
        }
    }

    /// Applies patrol effects in order.
    func write(patrol effects: [PatrolEffect], now: Date) throws {
        let t = now.timeIntervalSince1970
        for effect in effects {
            switch effect {
            case .record(let record):
                try PatrolRecordRow(record, recordedAt: now).insert(db)
            case .slotCheckedIn(let slot, let status, let at, let distance):
                try PatrolSlotRow(slot, status: status, checkinAt: at, distanceMetres: distance, updatedAt: now).insert(db)
            case .slotImproved(let id, let status, let at, let distance):
                try db.execute(sql: "UPDATE patrol_slots SET status = ?, checkin_at = ?, distance_m = ?, updated_at = ? WHERE id = ?",
                               arguments: [status.rawValue, at.timeIntervalSince1970, distance, t, id])
            case .itemClosed(let id, let at):
                try db.execute(sql: "UPDATE risk_items SET state = 'closed', last_seen = MAX(last_seen, ?) WHERE id = ? AND state = 'open'",
                               arguments: [at.timeIntervalSince1970, id])
            case .letterClosed(let id, let detail):
                try db.execute(sql: "UPDATE slips SET state = 'closed', updated_at = ?, closed_at = ? WHERE id = ?", arguments: [t, t, id])
                try audit(id, "slip.closed", detail, at: t)
                try publishSlip(id: id, now: now)
            case .missed(let miss):
                try write(miss, now: now)
            }
        }
    }

    /// A miss: risk item, reminder letter and its link, the slot's verdict, the record, audit, outbox.
    private func write(_ miss: PatrolMiss, now: Date) throws {
        let t = now.timeIntervalSince1970
        let item = miss.item, letter = miss.letter, slot = miss.slot
        try db.execute(sql: """
            INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                                   occurrences, state, suppressed_by, lifecycle, lat, lon, drill)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [Int(item.id.dropFirst(3)) ?? 0, item.id, item.source, item.sourceKind.rawValue, item.category.rawValue,
                             item.severity.rawValue, item.zone, item.unit, item.worker, item.firstSeen.timeIntervalSince1970,
                             item.lastSeen.timeIntervalSince1970, item.occurrences, item.state.rawValue, item.suppressedBy, item.lifecycle,
                             item.location?.lat, item.location?.lon, item.drill])
        try SlipRow(letter, seq: miss.letterSeq, anchor: slot.due, trigger: miss.trigger).insert(db)
        for id in letter.riskItemIDs {
            try db.execute(sql: "INSERT INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)", arguments: [letter.id, id])
        }
        try PatrolSlotRow(slot, status: .missed, missedAt: now, riskItemID: item.id, slipID: letter.id, updatedAt: now).insert(db)
        try PatrolRecordRow(miss.record, recordedAt: now).insert(db)
        try audit(letter.id, "slip.issued", letter.text, at: t)
        try publishSlip(id: letter.id, now: now)
    }

    private func audit(_ subject: String, _ action: String, _ detail: String, at t: Double) throws {
        try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, ?, ?)",
                       arguments: [t, subject, action, detail])
    }

    /// Queues the slip's JSON as stored on `{prefix}/out/slips`.
    private func publishSlip(id: String, now: Date) throws {
        guard let slip = try SlipRow.slip(id: id, db: db) else { return }
        try DisputeStore.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, now: now, db: db)
    }
}
