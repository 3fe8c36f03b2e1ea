import Alerts
import Foundation
import GRDB

/// Patrol supervision in the store: check-ins matched to slots, with gap
/// detection on event time (called by the pipeline, inside its transaction),
/// and the wall-clock missed-checkpoint scheduler (`tick`). Both write only
/// through the `Database` they are handed, so each joins the caller's
/// transaction and commits or rolls back with it.
///
/// The verdict of a slot only ever improves: nothing → outside_radius →
/// missed → late → on_time, where a flagged (outside-radius) check-in never
/// undoes a miss, and a covered check-in after a miss (a late one, or one a
/// device buffered while offline) closes the missed_checkpoint risk item and
/// its reminder letter (republished, closed, under the same id).
public struct PatrolStage: Sendable {
    /// The plan check-ins are matched against.
    public let plan: PatrolPlan
    /// `{prefix}` of `{prefix}/out/slips`.
    public let outputPrefix: String
    /// Severity of `missed_checkpoint` items (rules.yaml may override the default, 3).
    public let severity: Severity

    /// A stage for `plan`; `rules` may set the severity of missed checkpoints.
    public init(plan: PatrolPlan, outputPrefix: String, rules: RuleSet = RuleSet()) {
        self.plan = plan
        self.outputPrefix = outputPrefix
        self.severity = rules.severity(of: .missedCheckpoint)
    }

    /// What one check-in did.
    public struct CheckinResult: Sendable, Hashable {
        /// The slot the check-in matched; nil for an unscheduled check-in.
        public var slotID: String?
        /// How the check-in itself counted.
        public var status: PatrolStatus
        /// The slot's verdict after it (nil for an unscheduled check-in).
        public var slotStatus: PatrolStatus?
        /// How far from the checkpoint the check-in was, when it carried a location.
        public var distanceMetres: Double?
        /// The missed_checkpoint item closed by this check-in, if any.
        public var closedItemID: String?
        /// The reminder letter closed by this check-in, if any.
        public var closedSlipID: String?
        /// Slots this check-in's gap detection declared missed (ids, by due time).
        public var missed: [String] = []
        /// The reminder letters issued for them.
        public var letters: [String] = []
    }

    // MARK: - Check-ins

    /// Records one check-in event (kind `.checkin`; other kinds return nil),
    /// after **gap detection on event time**: a check-in proves the device's
    /// clock reached its event time, so every slot of the device's routes whose
    /// grace ended in `[previous check-in, this check-in)` (event times of the
    /// device's check-ins known to the store, any status) and that is still
    /// undecided is missed now — the same miss as `tick`'s (item, letter issued
    /// once by its trigger, record, audit, outbox), so whichever comes first
    /// decides and the other does nothing. The device's first check-in detects
    /// nothing before it. Then the check-in is applied (so a late check-in's own
    /// slot is first missed, then made up `late`, as under the wall-clock
    /// scheduler). A check-in that arrives out of order (a later one is already
    /// known) also decides `[this check-in, the next one)`, after it is
    /// applied; a gap between two check-ins already known was decided when the
    /// later of them arrived, so this only adds misses before the former first
    /// check-in. Whatever the order of arrival, every gap between two known
    /// check-ins ends decided, with the same slot statuses.
    ///
    /// - Parameter newItemID: hands out risk item ids (the engine's counter).
    /// - Throws: `DecodeError` `unknown_checkpoint` or `no_route` before
    ///   writing anything, so the pipeline dead-letters the message and
    ///   nothing else changes.
    @discardableResult
    public func record(_ event: NormalizedEvent, now: Date, db: Database, newItemID: () -> String) throws -> CheckinResult? {
        guard case .checkin(let checkpoint, let method) = event.kind else { return nil }
        let match = plan.match(device: event.source, checkpoint: checkpoint, at: event.time)
        var gaps: [(slot: String, letter: String?)] = []
        var next: Date?
        /// Decides the gap before the check-in; called once it is known to be no dead letter.
        func detectGapBefore() throws {
            let around = try neighbours(device: event.source, time: event.time, db: db)
            next = around.next
            if let previous = around.previous {
                gaps += try declareGaps(device: event.source, from: previous, before: event.time, now: now, db: db, newItemID: newItemID)
            }
        }
        var result: CheckinResult
        switch match {
        case .unknownCheckpoint:
            throw DecodeError(.unknownCheckpoint, "checkpoint '\(checkpoint.prefix(64))' is not in the patrol plan (\((plan.file as NSString).lastPathComponent)); check-in \(event.key) from device \(event.source)")
        case .noRoute:
            throw DecodeError(.noRoute, "device \(event.source) walks no route in the patrol plan (\((plan.file as NSString).lastPathComponent)), so its check-in at \(checkpoint.prefix(64)) matches no slot")
        case .unscheduled(let cp, let routeID):
            try detectGapBefore()
            let route = routeID.flatMap(plan.route(id:)) ?? plan.routes(forDevice: event.source).first
            let distance = event.location.map { $0.distance(to: cp.location) }
            try appendRecord(db, slotID: nil, kind: "checkin", status: .unscheduled, device: event.source, worker: route?.worker, route: routeID,
                             checkpoint: cp.id, zone: cp.zone, eventKey: event.key, time: event.time, method: method, location: event.location,
                             distance: distance, now: now, detail: "no slot of \(event.source)'s routes is open at this checkpoint then")
            result = CheckinResult(slotID: nil, status: .unscheduled, slotStatus: nil, distanceMetres: distance)
        case .slot(let slot, let timeliness):
            try detectGapBefore()
            let cp = plan.checkpoints[slot.checkpoint]!
            let distance = event.location.map { $0.distance(to: cp.location) }
            let outside = distance.map { $0 > cp.radiusMetres } ?? false
            let status: PatrolStatus = outside ? .outsideRadius : timeliness
            let detail = outside
                ? "\(Int(distance!.rounded())) m from the checkpoint (radius \(Int(cp.radiusMetres)) m)"
                : (distance.map { "\(Int($0.rounded())) m from the checkpoint" } ?? "no location (\(method ?? "no method"))")
            try appendRecord(db, slotID: slot.id, kind: "checkin", status: status, device: event.source, worker: slot.worker, route: slot.route,
                             checkpoint: slot.checkpoint, zone: slot.zone, eventKey: event.key, time: event.time, method: method,
                             location: event.location, distance: distance, now: now, detail: detail)
            result = try applyCheckin(slot: slot, status: status, time: event.time, distance: distance, now: now, db: db)
        }
        if let next {
            gaps += try declareGaps(device: event.source, from: event.time, before: next, now: now, db: db, newItemID: newItemID)
        }
        result.missed = gaps.map(\.slot)
        result.letters = gaps.compactMap(\.letter)
        return result
    }

    /// Event times of the device's check-ins known to the store just before
    /// and just after `time` (strictly): the ends of the gaps a check-in at `time` closes.
    func neighbours(device: String, time: Date, db: Database) throws -> (previous: Date?, next: Date?) {
        let t = time.timeIntervalSince1970
        let previous = try Double.fetchOne(db.cachedStatement(sql: "SELECT MAX(time) FROM patrol_records WHERE device = ? AND kind = 'checkin' AND time < ?"),
                                           arguments: [device, t])
        let next = try Double.fetchOne(db.cachedStatement(sql: "SELECT MIN(time) FROM patrol_records WHERE device = ? AND kind = 'checkin' AND time > ?"),
                                       arguments: [device, t])
        return (previous.map(Date.init(timeIntervalSince1970:)), next.map(Date.init(timeIntervalSince1970:)))
    }

    /// Declares missed every undecided slot of the device's routes whose grace ends in `[from, before)`.
    func declareGaps(device: String, from: Date, before: Date, now: Date, db: Database, newItemID: () -> String) throws -> [(slot: String, letter: String?)] {
        var out: [(slot: String, letter: String?)] = []
        let decided = try db.cachedStatement(sql: "SELECT 1 FROM patrol_slots WHERE id = ?")
        for slot in plan.slots(ofDevice: device, graceEndingFrom: from, before: before) {
            if try Row.fetchOne(decided, arguments: [slot.id]) != nil { continue }
            out.append((slot.id, try declareMissed(slot, now: now, db: db, newItemID: newItemID)))
        }
        return out
    }

    /// Updates the slot's verdict; closes a miss when the check-in covers the slot.
    func applyCheckin(slot: PatrolSlot, status: PatrolStatus, time: Date, distance: Double?, now: Date, db: Database) throws -> CheckinResult {
        var result = CheckinResult(slotID: slot.id, status: status, slotStatus: status, distanceMetres: distance)
        let row = try Row.fetchOne(db, sql: "SELECT status, risk_item_id, slip_id FROM patrol_slots WHERE id = ?", arguments: [slot.id])
        guard let row else {
            try db.execute(sql: """
                INSERT INTO patrol_slots(id, route, checkpoint, device, worker, unit, zone, day, due_at, grace_ends_at, closes_at,
                                         status, checkin_at, distance_m, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [slot.id, slot.route, slot.checkpoint, slot.device, slot.worker, slot.unit, slot.zone, slot.day,
                                 slot.due.timeIntervalSince1970, slot.graceEnds.timeIntervalSince1970, slot.closes.timeIntervalSince1970,
                                 status.rawValue, time.timeIntervalSince1970, distance, now.timeIntervalSince1970])
            return result
        }
        let current = PatrolStatus(rawValue: row["status"]) ?? .missed
        guard Self.rank(status) > Self.rank(current), status.isCovered || current != .missed else {
            result.slotStatus = current
            return result
        }
        try db.execute(sql: "UPDATE patrol_slots SET status = ?, checkin_at = ?, distance_m = ?, updated_at = ? WHERE id = ?",
                       arguments: [status.rawValue, time.timeIntervalSince1970, distance, now.timeIntervalSince1970, slot.id])
        if current == .missed {
            if let itemID: String = row["risk_item_id"] {
                try db.execute(sql: "UPDATE risk_items SET state = 'closed', last_seen = MAX(last_seen, ?) WHERE id = ? AND state = 'open'",
                               arguments: [time.timeIntervalSince1970, itemID])
                result.closedItemID = itemID
            }
            if let slipID: String = row["slip_id"] {
                try db.execute(sql: "UPDATE slips SET state = 'closed', updated_at = ?, closed_at = ? WHERE id = ?", arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, slipID])
                try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'slip.closed', ?)",
                               arguments: [now.timeIntervalSince1970, slipID, "\(slot.id): checked in \(status.rawValue) at \(plan.localText(time))"])
                try publish(slipID: slipID, now: now, db: db)
                result.closedSlipID = slipID
            }
        }
        return result
    }

    /// Verdict order: a slot's status only moves up.
    static func rank(_ s: PatrolStatus) -> Int {
        switch s {
        case .unscheduled: return 0
        case .outsideRadius: return 1
        case .missed: return 2
        case .late: return 3
        case .onTime: return 4
        }
    }

    // MARK: - Shared writes

    func appendRecord(_ db: Database, slotID: String?, kind: String, status: PatrolStatus, device: String, worker: String?, route: String?,
                      checkpoint: String, zone: String?, eventKey: String?, time: Date, method: String?, location: GeoPoint?,
                      distance: Double?, now: Date, detail: String) throws {
        try db.cachedStatement(sql: """
            INSERT INTO patrol_records(slot_id, kind, status, device, worker, route, checkpoint, zone, event_key, time, method,
                                       lat, lon, crs, distance_m, recorded_at, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [slotID, kind, status.rawValue, device, worker, route, checkpoint, zone, eventKey,
                                     time.timeIntervalSince1970, method, location?.lat, location?.lon, location?.crs.rawValue,
                                     distance, now.timeIntervalSince1970, detail])
    }

    /// Queues the slip's current JSON on `{prefix}/out/slips`.
    func publish(slipID: String, now: Date, db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM slips WHERE id = ?", arguments: [slipID]) else { return }
        let ids = try String.fetchAll(db, sql: "SELECT risk_item_id FROM slip_items WHERE slip_id = ? ORDER BY risk_item_id", arguments: [slipID])
        let slip = Slip(row: row, itemIDs: ids)
        try db.execute(sql: "INSERT INTO outbox(topic, payload, created_at) VALUES (?, ?, ?)",
                       arguments: ["\(outputPrefix)/out/slips", Data(slip.json.serialized.utf8), now.timeIntervalSince1970])
    }
}
