import Alerts
import Foundation
import GRDB

/// What one scheduler tick did.
public struct PatrolTickResult: Sendable, Equatable {
    /// Slots whose grace ended in the evaluated span.
    public var evaluated = 0
    /// Of those, the ones without a check-in: declared missed now.
    public var missed: [String] = []
    /// Reminder letters issued (one per missed slot).
    public var letters: [String] = []
    /// The span evaluated, `(from, through]`; nil on the very first tick without `effective_from`.
    public var from: Date?
    /// The end of the evaluated span (inclusive).
    public var through: Date?
    /// A tick that did nothing.
    public init() {}
}

extension PatrolStage {
    /// The missed-checkpoint scheduler: decides every slot whose grace ended
    /// after the last evaluated instant and up to `now`, then moves that
    /// instant (`patrol_scheduler.evaluated_until`) to `now` — all in the
    /// caller's transaction. A slot with no verdict yet is missed: a
    /// `missed_checkpoint` risk item, a reminder letter (提醒函, `TX-…`, issued
    /// once: its trigger is `patrol:{slot id}:missed`) to the worker's unit on
    /// `{prefix}/out/slips`, and a `missed` record.
    ///
    /// Pure in time: `now` is the only clock. After a restart the first tick
    /// covers the whole downtime, once; a second tick at the same `now` does nothing.
    /// On a new store the first tick starts evaluating from `effective_from`
    /// (if the plan sets it) or else from `now`.
    ///
    /// - Parameter newItemID: hands out risk item ids (the engine's counter).
    public func tick(now: Date, db: Database, newItemID: () -> String) throws -> PatrolTickResult {
        var result = PatrolTickResult()
        guard let from = try Double.fetchOne(db, sql: "SELECT evaluated_until FROM patrol_scheduler WHERE id = 1").map(Date.init(timeIntervalSince1970:)) else {
            let start = plan.effectiveFrom.map { min($0, now) } ?? now
            try db.execute(sql: "INSERT INTO patrol_scheduler(id, evaluated_until) VALUES (1, ?)", arguments: [start.timeIntervalSince1970])
            return plan.effectiveFrom == nil ? result : try tick(now: now, db: db, newItemID: newItemID)
        }
        guard now > from else { return result }
        result.from = from
        result.through = now
        let decided = try db.cachedStatement(sql: "SELECT 1 FROM patrol_slots WHERE id = ?")
        for slot in plan.slots(graceEndingAfter: from, through: now) {
            result.evaluated += 1
            if try Row.fetchOne(decided, arguments: [slot.id]) != nil { continue }
            let letter = try declareMissed(slot, now: now, db: db, newItemID: newItemID)
            result.missed.append(slot.id)
            if let letter { result.letters.append(letter) }
        }
        try db.execute(sql: "UPDATE patrol_scheduler SET evaluated_until = ? WHERE id = 1", arguments: [now.timeIntervalSince1970])
        return result
    }

    /// Writes the miss: risk item, reminder letter, slot verdict, record, audit, outbox.
    func declareMissed(_ slot: PatrolSlot, now: Date, db: Database, newItemID: () -> String) throws -> String? {
        let cp = plan.checkpoints[slot.checkpoint]!
        let route = plan.route(id: slot.route)
        let trigger = "patrol:\(slot.id):missed"
        if try Row.fetchOne(db, sql: "SELECT 1 FROM slips WHERE trigger = ?", arguments: [trigger]) != nil { return nil }

        let item = RiskItem(id: newItemID(), source: slot.device, sourceKind: .device, category: .missedCheckpoint, severity: severity,
                            zone: slot.zone, unit: slot.unit, worker: slot.worker, firstSeen: slot.graceEnds, lastSeen: slot.graceEnds,
                            lifecycle: slot.id, location: cp.location.wgs84)
        try db.execute(sql: """
            INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, unit, worker, first_seen, last_seen,
                                   occurrences, state, suppressed_by, lifecycle, lat, lon, drill)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [Int(item.id.dropFirst(3)) ?? 0, item.id, item.source, item.sourceKind.rawValue, item.category.rawValue,
                             item.severity.rawValue, item.zone, item.unit, item.worker, item.firstSeen.timeIntervalSince1970,
                             item.lastSeen.timeIntervalSince1970, item.occurrences, item.state.rawValue, nil, item.lifecycle,
                             item.location?.lat, item.location?.lon, false])

        let seq = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = 'reminder'") ?? 0) + 1
        let slipID = RiskEngine.slipID(.reminder, seq)
        let text = letterText(slipID: slipID, slot: slot, checkpoint: cp, route: route)
        try db.execute(sql: """
            INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text, occurrences, trigger)
            VALUES (?, ?, 'reminder', ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, 1, ?)
            """, arguments: [seq, slipID, slot.zone, Category.missedCheckpoint.rawValue, severity.rawValue, slot.unit, slot.worker,
                             now.timeIntervalSince1970, now.timeIntervalSince1970, slot.due.timeIntervalSince1970, text, trigger])
        try db.execute(sql: "INSERT INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)", arguments: [slipID, item.id])

        try db.execute(sql: """
            INSERT INTO patrol_slots(id, route, checkpoint, device, worker, unit, zone, day, due_at, grace_ends_at, closes_at,
                                     status, missed_at, risk_item_id, slip_id, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'missed', ?, ?, ?, ?)
            """, arguments: [slot.id, slot.route, slot.checkpoint, slot.device, slot.worker, slot.unit, slot.zone, slot.day,
                             slot.due.timeIntervalSince1970, slot.graceEnds.timeIntervalSince1970, slot.closes.timeIntervalSince1970,
                             now.timeIntervalSince1970, item.id, slipID, now.timeIntervalSince1970])
        try appendRecord(db, slotID: slot.id, kind: "missed", status: .missed, device: slot.device, worker: slot.worker, route: slot.route,
                         checkpoint: slot.checkpoint, zone: slot.zone, eventKey: nil, time: slot.graceEnds, method: nil, location: nil,
                         distance: nil, now: now, detail: "no check-in by \(plan.localText(slot.graceEnds)); \(item.id), \(slipID)")
        try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'slip.issued', ?)",
                       arguments: [now.timeIntervalSince1970, slipID, text])
        try publish(slipID: slipID, now: now, db: db)
        return slipID
    }

    /// The reminder letter's text: who, which checkpoint, which slot, the grace, what to do.
    func letterText(slipID: String, slot: PatrolSlot, checkpoint cp: PatrolPlan.Checkpoint, route: PatrolPlan.Route?) -> String {
        let grace = Int(slot.graceEnds.timeIntervalSince(slot.due) / 60)
        let routeText = route.map { "路线 \($0.id) \($0.name)" } ?? "路线 \(slot.route)"
        return "提醒函 \(slipID)：网格员 \(slot.worker)（设备 \(slot.device)，\(routeText)）未按时巡查检查点 \(cp.id)（\(cp.name)，网格 \(slot.zone)）。"
            + "应到时间 \(plan.localText(slot.due))，宽限 \(grace) 分钟（至 \(plan.clockText(slot.graceEnds))）仍未签到，记为漏巡。"
            + "请 \(slot.unit ?? "所在单位") 督促核实；\(plan.clockText(slot.closes)) 前补签的记为迟到并自动销号。"
    }
}
