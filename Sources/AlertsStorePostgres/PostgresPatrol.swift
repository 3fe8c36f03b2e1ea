import Alerts
import Foundation
import PostgresNIO

/// Patrol supervision's writes on PostgreSQL, in the order given, inside the
/// batch's (or the tick's) transaction: what SQLite's `SQLiteBatch.write(patrol:now:)`
/// does. A slot's first verdict and a miss's slot row are `ON CONFLICT DO NOTHING`
/// (the slot's id is its key): a second hub deciding the same slot leaves the first verdict.
extension PostgresBatch {
    /// Applies patrol effects in order.
    func write(patrol effects: [PatrolEffect], now: Date) throws {
        let t = now.timeIntervalSince1970
        for effect in effects {
            switch effect {
            case .record(let record):
                try insert(record, recordedAt: t)
            case .slotCheckedIn(let slot, let status, let at, let distance):
                try insert(slot: slot, status: status, checkinAt: at.timeIntervalSince1970, distance: distance, updatedAt: t)
            case .slotImproved(let id, let status, let at, let distance):
                try run("""
                    UPDATE patrol_slots SET status = \(status.rawValue), checkin_at = \(at.timeIntervalSince1970), distance_m = \(distance),
                        updated_at = \(t) WHERE id = \(id)
                    """)
            case .itemClosed(let id, let at):
                try run("""
                    UPDATE risk_items SET state = 'closed', last_seen = GREATEST(last_seen, \(at.timeIntervalSince1970))
                    WHERE id = \(id) AND state = 'open'
                    """)
            case .letterClosed(let id, let detail):
                try run("UPDATE slips SET state = 'closed', updated_at = \(t), closed_at = \(t) WHERE id = \(id)")
                try audit(id, "slip.closed", detail, at: t)
                try publishSlip(id: id, at: t)
            case .missed(let miss):
                try write(miss, now: t)
            }
        }
    }

    /// A miss: risk item, reminder letter and its link, the slot's verdict, the record, audit, outbox.
    private func write(_ miss: PatrolMiss, now t: Double) throws {
        let i = miss.item, letter = miss.letter
        try run("""
            INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                                   occurrences, state, suppressed_by, lifecycle, lat, lon, drill)
            VALUES (\(Int(i.id.dropFirst(3)) ?? 0), \(i.id), \(i.source), \(i.sourceKind.rawValue), \(i.category.rawValue),
                    \(i.severity.rawValue), \(i.zone), \(i.unit), \(i.worker), \(i.firstSeen.timeIntervalSince1970),
                    \(i.lastSeen.timeIntervalSince1970), \(i.occurrences), \(i.state.rawValue), \(i.suppressedBy), \(i.lifecycle),
                    \(i.location?.lat), \(i.location?.lon), \(i.drill))
            """)
        try run("""
            INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text,
                              occurrences, trigger, closed_at, close_reason)
            VALUES (\(miss.letterSeq), \(letter.id), \(letter.kind.rawValue), \(letter.zone), \(letter.category.rawValue),
                    \(letter.severity.rawValue), \(letter.unit), \(letter.worker), \(letter.issuedAt.timeIntervalSince1970),
                    \(letter.updatedAt.timeIntervalSince1970), \(miss.slot.due.timeIntervalSince1970), \(letter.state.rawValue),
                    \(letter.caseID), \(letter.text), \(letter.occurrences), \(miss.trigger), \(letter.closedAt?.timeIntervalSince1970),
                    \(letter.closeReason))
            """)
        for id in letter.riskItemIDs {
            try run("INSERT INTO slip_items(slip_id, risk_item_id) VALUES (\(letter.id), \(id))")
        }
        try insert(slot: miss.slot, status: .missed, missedAt: t, riskItemID: i.id, slipID: letter.id, updatedAt: t)
        try insert(miss.record, recordedAt: t)
        try audit(letter.id, "slip.issued", letter.text, at: t)
        try publishSlip(id: letter.id, at: t)
    }

    /// A slot's first verdict (a verdict stored already stays).
    private func insert(slot: PatrolSlot, status: PatrolStatus, checkinAt: Double? = nil, distance: Double? = nil, missedAt: Double? = nil,
                        riskItemID: String? = nil, slipID: String? = nil, updatedAt: Double) throws {
        try run("""
            INSERT INTO patrol_slots(id, route, checkpoint, device, worker, unit, zone, day, due_at, grace_ends_at, closes_at, status,
                                     checkin_at, distance_m, missed_at, risk_item_id, slip_id, updated_at)
            VALUES (\(slot.id), \(slot.route), \(slot.checkpoint), \(slot.device), \(slot.worker), \(slot.unit), \(slot.zone), \(slot.day),
                    \(slot.due.timeIntervalSince1970), \(slot.graceEnds.timeIntervalSince1970), \(slot.closes.timeIntervalSince1970),
                    \(status.rawValue), \(checkinAt), \(distance), \(missedAt), \(riskItemID), \(slipID), \(updatedAt))
            ON CONFLICT (id) DO NOTHING
            """)
    }

    /// A row of the append-only patrol log.
    private func insert(_ r: PatrolRecord, recordedAt t: Double) throws {
        try run("""
            INSERT INTO patrol_records(slot_id, kind, status, device, worker, route, checkpoint, zone, event_key, time, method,
                                       lat, lon, crs, distance_m, recorded_at, detail)
            VALUES (\(r.slotID), \(r.kind.rawValue), \(r.status.rawValue), \(r.device), \(r.worker), \(r.route), \(r.checkpoint), \(r.zone),
                    \(r.eventKey), \(r.time.timeIntervalSince1970), \(r.method), \(r.location?.lat), \(r.location?.lon),
                    \(r.location?.crs.rawValue), \(r.distanceMetres), \(t), \(r.detail))
            """)
    }

    /// Queues the slip's JSON as stored on `{prefix}/out/slips`.
    private func publishSlip(id: String, at t: Double) throws {
        guard let slip = try fetchSlip(id: id) else { return }
        try enqueue(topic: "\(outputPrefix)/out/slips", slip.json, at: t)
    }
}
